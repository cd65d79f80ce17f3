package clientauth

import (
	"crypto"
	"net/http"
	"testing"
)

// BenchmarkProof measures proof generation, which runs on every request's
// RoundTrip: for a resource request (with ath and nonce) and a token
// request (neither), per algorithm. "sign only" is the signature alone, the
// floor the rest adds to.
func BenchmarkProof(b *testing.B) {
	for _, k := range []testAlg{{"ES256", testECKey(b)}, {"EdDSA", testEdKey(b)}, {"RS256", testRSAKey(b)}} {
		d, err := NewDPoP(k.key)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(k.name+"/resource", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := d.Proof("GET", testAPI, testToken, testNonce, testNow); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(k.name+"/token", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := d.Proof("POST", "https://idp.example.com/realms/acme/protocol/openid-connect/token", "", "", testNow); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(k.name+"/sign only", func(b *testing.B) {
			in := []byte(d.header + "eyJqdGkiOiJ4In0")
			buf := make([]byte, 0, 512)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := d.signer.appendSignature(buf[:0], in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkAssertion(b *testing.B) {
	ed := testEdKey(b)
	cases := map[string]Authenticator{
		"private_key_jwt EdDSA": PrivateKeyJWT{Key: ed, KeyID: "k1", Audience: testAudience},
		"private_key_jwt ES256": PrivateKeyJWT{Key: testECKey(b), KeyID: "k1", Audience: testAudience},
		"client_secret_jwt":     ClientSecretJWT{Secret: testSecret, Audience: testAudience},
	}
	for name, a := range cases {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := a.Params(testClient, testNow); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkVerifyProof(b *testing.B) {
	d, _ := NewDPoP(testECKey(b))
	p, _ := d.Proof("GET", testAPI, testToken, testNonce, testNow)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := VerifyProof(p, "GET", testAPI, testToken, d.Thumbprint(), testNonce, testNow, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkNonceSignals(b *testing.B) {
	h := http.Header{}
	h.Set("DPoP-Nonce", testNonce)
	h.Add("WWW-Authenticate", `Bearer realm="api", error="invalid_token"`)
	h.Add("WWW-Authenticate", `DPoP algs="ES256 EdDSA", error="use_dpop_nonce", error_description="Resource server requires nonce in DPoP proof"`)
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := NonceFrom(h); !ok || !UseDPoPNonce(h) {
			b.Fatal("missed")
		}
	}
}

var _ crypto.Signer = signerOnly{}

// Proof's own cost is the returned string: everything else reuses pooled
// buffers (EdDSA signs without allocating; ES256 and RS256 allocate inside
// the standard library's signer).
func TestProofAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	d, _ := NewDPoP(testEdKey(t))
	if n := testing.AllocsPerRun(200, func() {
		if _, err := d.Proof("GET", testAPI, testToken, testNonce, testNow); err != nil {
			t.Fatal(err)
		}
	}); n > 1 {
		t.Errorf("%v allocs per proof, want 1", n)
	}
}

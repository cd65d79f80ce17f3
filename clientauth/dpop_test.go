package clientauth

import (
	"crypto"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	testAPI   = "https://api.example.com/v1/items?page=2#top"
	testHTU   = "https://api.example.com/v1/items"
	testToken = "eyJhbGciOiJFUzI1NiJ9.access-token.sig"
	testNonce = "eyJ7S_zG.eyJH0-Z.HX4w-7v"
)

func TestProofRoundTrip(t *testing.T) {
	for _, k := range testKeys(t) {
		d, err := NewDPoP(k.key)
		if err != nil {
			t.Fatal(err)
		}
		if d.Algorithm() != k.name {
			t.Errorf("Algorithm = %s, want %s", d.Algorithm(), k.name)
		}
		want, _ := Thumbprint(k.key)
		if d.Thumbprint() != want {
			t.Errorf("%s: Thumbprint %s, want %s", k.name, d.Thumbprint(), want)
		}
		for _, tc := range []struct{ at, nonce string }{{"", ""}, {testToken, ""}, {"", testNonce}, {testToken, testNonce}} {
			proof, err := d.Proof("POST", testAPI, tc.at, tc.nonce, testNow)
			if err != nil {
				t.Fatal(err)
			}
			header, claims, sig := decodeJWS(t, proof)
			jwk, _ := header["jwk"].(map[string]any)
			if header["typ"] != "dpop+jwt" || header["alg"] != k.name || len(header) != 3 || jwk == nil {
				t.Errorf("%s: header %v", k.name, header)
			}
			for _, priv := range privateMembers {
				if _, ok := jwk[priv]; ok {
					t.Errorf("%s: jwk holds %q", k.name, priv)
				}
			}
			if k.name == "ES256" && len(sig) != 64 {
				t.Errorf("ES256 signature of %d bytes", len(sig))
			}
			n := 4
			if claims["htm"] != "POST" || claims["htu"] != testHTU || claims["iat"] != json.Number("1740830400") {
				t.Errorf("%s: claims %v", k.name, claims)
			}
			if tc.at != "" {
				n++
				sum := sha256.Sum256([]byte(tc.at))
				if claims["ath"] != b64.EncodeToString(sum[:]) {
					t.Errorf("%s: ath %v", k.name, claims["ath"])
				}
			}
			if tc.nonce != "" {
				n++
				if claims["nonce"] != tc.nonce {
					t.Errorf("%s: nonce %v", k.name, claims["nonce"])
				}
			}
			if len(claims) != n {
				t.Errorf("%s: claims %v", k.name, claims)
			}
			jkt, err := VerifyProof(proof, "POST", testAPI, tc.at, d.Thumbprint(), tc.nonce, testNow.Add(59*time.Second), nil)
			if err != nil || jkt != d.Thumbprint() {
				t.Errorf("%s %+v: %q, %v", k.name, tc, jkt, err)
			}
		}
	}
}

func TestGenerateDPoP(t *testing.T) {
	a, err := GenerateDPoP()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := GenerateDPoP()
	if a.Algorithm() != "ES256" || a.Thumbprint() == b.Thumbprint() || len(a.Thumbprint()) != 43 {
		t.Errorf("%s %s %s", a.Algorithm(), a.Thumbprint(), b.Thumbprint())
	}
	proof, err := a.Proof("", "https://x.example", "", "", testNow)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := VerifyProof(proof, "GET", "https://x.example/", "", a.Thumbprint(), "", testNow, nil); err != nil {
		t.Error(err)
	}
}

func TestProofRefuses(t *testing.T) {
	d, _ := GenerateDPoP()
	for _, tc := range []struct {
		name, method, url, nonce string
		want                     error
	}{
		{"method with space", "GE T", testAPI, "", ErrInvalidMethod},
		{"method with quote", `GET"`, testAPI, "", ErrInvalidMethod},
		{"relative URL", "GET", "/v1/items", "", ErrInvalidURL},
		{"ftp", "GET", "ftp://x.example/", "", ErrInvalidURL},
		{"nonce with quote", "GET", testAPI, `a"b`, ErrInvalidNonce},
		{"nonce too long", "GET", testAPI, strings.Repeat("n", MaxNonceLen+1), ErrInvalidNonce},
	} {
		if p, err := d.Proof(tc.method, tc.url, "", tc.nonce, testNow); !errors.Is(err, tc.want) || p != "" {
			t.Errorf("%s: %q, %v; want %v", tc.name, p, err, tc.want)
		}
	}
}

// 10 000 proofs, made concurrently from one DPoP, have 10 000 jtis; each
// verifies once and is refused as a replay afterwards.
func TestProofJTIUnique(t *testing.T) {
	d, _ := GenerateDPoP()
	const workers, each = 8, 1250
	proofs := make([]string, workers*each)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				p, err := d.Proof("GET", testAPI, testToken, testNonce, testNow)
				if err != nil {
					t.Error(err)
					return
				}
				proofs[w*each+i] = p
			}
		}()
	}
	wg.Wait()
	jtis := make(map[string]bool, len(proofs))
	for _, p := range proofs {
		_, claims, _ := decodeJWS(t, p)
		jti, _ := claims["jti"].(string)
		if b, err := b64Strict.DecodeString(jti); err != nil || len(b) != 16 {
			t.Fatalf("jti %q", jti)
		}
		if jtis[jti] {
			t.Fatalf("jti %s twice", jti)
		}
		jtis[jti] = true
	}
	seen := newSeenSet()
	for _, p := range proofs[:100] {
		if _, err := VerifyProof(p, "GET", testAPI, testToken, d.Thumbprint(), testNonce, testNow, seen.seen); err != nil {
			t.Fatal(err)
		}
		if _, err := VerifyProof(p, "GET", testAPI, testToken, d.Thumbprint(), testNonce, testNow, seen.seen); !errors.Is(err, ErrReplay) {
			t.Fatalf("replay: %v", err)
		}
	}
}

func TestVerifyProofRejects(t *testing.T) {
	ed := testEdKey(t)
	d, _ := NewDPoP(ed)
	other, _ := GenerateDPoP()
	proof, err := d.Proof("POST", testAPI, testToken, testNonce, testNow)
	if err != nil {
		t.Fatal(err)
	}
	edJWK, _ := PublicJWK(ed)
	seed := b64.EncodeToString(ed.Seed())
	hdr := `{"typ":"dpop+jwt","alg":"EdDSA","jwk":` + string(edJWK) + `}`
	sum := sha256.Sum256([]byte(testToken))
	ath := b64.EncodeToString(sum[:])
	claims := func(extra string) string {
		return `{"jti":"j1","htm":"POST","htu":"` + testHTU + `","iat":1740830400,"ath":"` + ath + `","nonce":"` + testNonce + `"` + extra + `}`
	}
	signed := func(h, c string) string { return resign(t, h, c, algEdDSA, ed) }
	type check struct {
		method, url, at, jkt, nonce string
		now                         time.Time
	}
	std := check{"POST", testAPI, testToken, d.Thumbprint(), testNonce, testNow}
	with := func(f func(c *check)) check { c := std; f(&c); return c }
	for _, tc := range []struct {
		name  string
		proof string
		c     check
		want  error
	}{
		{"wrong method", proof, with(func(c *check) { c.method = "GET" }), ErrMethodMismatch},
		{"lower-case method", proof, with(func(c *check) { c.method = "post" }), ErrMethodMismatch},
		{"wrong path", proof, with(func(c *check) { c.url = "https://api.example.com/v1/other" }), ErrURLMismatch},
		{"wrong host", proof, with(func(c *check) { c.url = "https://evil.example.com/v1/items" }), ErrURLMismatch},
		{"wrong scheme", proof, with(func(c *check) { c.url = "http://api.example.com/v1/items" }), ErrURLMismatch},
		{"wrong port", proof, with(func(c *check) { c.url = "https://api.example.com:8443/v1/items" }), ErrURLMismatch},
		{"htu with query", signed(hdr, strings.Replace(claims(""), testHTU, testHTU+"?a=1", 1)), std, ErrURLMismatch},
		{"htu garbage", signed(hdr, strings.Replace(claims(""), testHTU, "nope", 1)), std, ErrURLMismatch},
		{"too old", proof, with(func(c *check) { c.now = testNow.Add(61 * time.Second) }), ErrIssuedAt},
		{"from the future", proof, with(func(c *check) { c.now = testNow.Add(-61 * time.Second) }), ErrIssuedAt},
		{"wrong access token", proof, with(func(c *check) { c.at = testToken + "x" }), ErrAccessTokenHash},
		{"ath without access token", proof, with(func(c *check) { c.at = "" }), ErrAccessTokenHash},
		{"no ath", signed(hdr, strings.Replace(claims(""), `"ath":"`+ath+`",`, "", 1)), std, ErrAccessTokenHash},
		{"other key than bound", proof, with(func(c *check) { c.jkt = other.Thumbprint() }), ErrKeyMismatch},
		{"wrong nonce", proof, with(func(c *check) { c.nonce = "fresh-nonce" }), ErrNonce},
		{"no nonce", signed(hdr, strings.Replace(claims(""), `,"nonce":"`+testNonce+`"`, "", 1)), std, ErrNonce},
		{"tampered claims", reencode(t, proof, 1, func(m map[string]any) { m["htu"] = "https://evil.example/" }), std, ErrSignature},
		{"jwk swapped", reencode(t, proof, 0, func(m map[string]any) {
			var j map[string]any
			b, _ := PublicJWK(testEdKey(t))
			_ = json.Unmarshal(b, &j)
			m["jwk"] = j
		}), with(func(c *check) { c.jkt = "" }), ErrSignature},
		{"private key in jwk", signed(strings.Replace(hdr, `"kty":"OKP"`, `"kty":"OKP","d":"`+seed+`"`, 1), claims("")), std, ErrPrivateKeyInJWK},
		{"no jwk", signed(`{"typ":"dpop+jwt","alg":"EdDSA"}`, claims("")), std, ErrMalformed},
		{"jwk not an object", signed(`{"typ":"dpop+jwt","alg":"EdDSA","jwk":"x"}`, claims("")), std, ErrMalformed},
		{"alg none", b64.EncodeToString([]byte(`{"typ":"dpop+jwt","alg":"none","jwk":`+string(edJWK)+`}`)) + "." + b64.EncodeToString([]byte(claims(""))) + ".", std, ErrAlgorithm},
		{"alg HS256", resign(t, `{"typ":"dpop+jwt","alg":"HS256","jwk":`+string(edJWK)+`}`, claims(""), algHS256, testSecret), std, ErrAlgorithm},
		{"alg does not fit jwk", signed(strings.Replace(hdr, "EdDSA", "ES256", 1), claims("")), std, ErrAlgorithm},
		{"typ JWT", signed(strings.Replace(hdr, "dpop+jwt", "JWT", 1), claims("")), std, ErrType},
		{"no typ", signed(`{"alg":"EdDSA","jwk":`+string(edJWK)+`}`, claims("")), std, ErrType},
		{"crit", signed(strings.Replace(hdr, `"alg"`, `"crit":["exp"],"alg"`, 1), claims("")), std, ErrMalformed},
		{"no jti", signed(hdr, strings.Replace(claims(""), `"jti":"j1",`, "", 1)), std, ErrMalformed},
		{"empty jti", signed(hdr, strings.Replace(claims(""), `"jti":"j1"`, `"jti":""`, 1)), std, ErrMalformed},
		{"no iat", signed(hdr, strings.Replace(claims(""), `"iat":1740830400,`, "", 1)), std, ErrMalformed},
		{"string iat", signed(hdr, strings.Replace(claims(""), `1740830400`, `"1740830400"`, 1)), std, ErrMalformed},
		{"not a JWS", "not.a.jws.at.all", std, ErrMalformed},
		{"assertion as proof", func() string {
			a, _ := PrivateKeyJWT{Key: ed, Audience: testAudience}.Assertion(testClient, testNow)
			return a
		}(), std, ErrType},
	} {
		jkt, err := VerifyProof(tc.proof, tc.c.method, tc.c.url, tc.c.at, tc.c.jkt, tc.c.nonce, tc.c.now, nil)
		if !errors.Is(err, tc.want) || !errors.Is(err, ErrInvalidProof) || jkt != "" {
			t.Errorf("%s: %q, %v; want %v", tc.name, jkt, err, tc.want)
		}
		if err != nil && !strings.HasPrefix(err.Error(), "clientauth: invalid DPoP proof: ") {
			t.Errorf("%s: %q", tc.name, err)
		}
	}

	// Accepted: an equivalent URL, no binding yet (empty jkt), no nonce
	// required, the hand-made reference proof.
	for _, tc := range []struct {
		name  string
		proof string
		c     check
	}{
		{"equivalent URL", proof, with(func(c *check) { c.url = "HTTPS://API.example.com:443/v1/./items" })},
		{"unbound", proof, with(func(c *check) { c.jkt = "" })},
		{"nonce not required", proof, with(func(c *check) { c.nonce = "" })},
		{"hand-made", signed(hdr, claims("")), std},
	} {
		if _, err := VerifyProof(tc.proof, tc.c.method, tc.c.url, tc.c.at, tc.c.jkt, tc.c.nonce, tc.c.now, nil); err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
	if _, err := VerifyProof(proof, "POST", "/relative", testToken, "", "", testNow, nil); !errors.Is(err, ErrInvalidURL) {
		t.Errorf("bad expected URL: %v", err)
	}
}

// The verifiers read untrusted tokens: they must never panic, and what they
// accept must verify under the key they report.
func FuzzVerifyProof(f *testing.F) {
	d, _ := NewDPoP(testEdKey(f))
	e, _ := GenerateDPoP()
	for _, dp := range []*DPoP{d, e} {
		p, _ := dp.Proof("GET", testAPI, testToken, testNonce, testNow)
		f.Add(p)
	}
	f.Add("e30.e30.")
	f.Fuzz(func(t *testing.T, proof string) {
		jkt, err := VerifyProof(proof, "GET", testAPI, testToken, "", testNonce, testNow, nil)
		if err == nil && jkt == "" {
			t.Fatal("accepted without a thumbprint")
		}
		if err != nil && !errors.Is(err, ErrInvalidProof) {
			t.Fatalf("untyped error %v", err)
		}
	})
}

func FuzzVerifyAssertion(f *testing.F) {
	ed := testEdKey(f)
	a, _ := PrivateKeyJWT{Key: ed, Audience: testAudience}.Assertion(testClient, testNow)
	h, _ := ClientSecretJWT{Secret: testSecret, Audience: testAudience}.Assertion(testClient, testNow)
	f.Add(a)
	f.Add(h)
	keys := []crypto.PublicKey{ed.Public(), testSecret}
	f.Fuzz(func(t *testing.T, tok string) {
		if err := VerifyAssertion(tok, keys, testAudience, testClient, testNow, nil); err != nil && !errors.Is(err, ErrInvalidAssertion) {
			t.Fatalf("untyped error %v", err)
		}
	})
}

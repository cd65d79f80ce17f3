package clientauth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/json"
	"math/big"
	"strings"
	"testing"
)

// RFC 7638 §3.1: the example RSA key and its thumbprint.
const (
	rfc7638N   = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
	rfc7638JKT = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
)

func TestThumbprintRFC7638(t *testing.T) {
	n, err := b64Strict.DecodeString(rfc7638N)
	if err != nil {
		t.Fatal(err)
	}
	pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: 65537}
	got, err := Thumbprint(pub)
	if err != nil || got != rfc7638JKT {
		t.Fatalf("Thumbprint = %q, %v; want %q", got, err, rfc7638JKT)
	}
	jwk, _ := PublicJWK(pub)
	if want := `{"e":"AQAB","kty":"RSA","n":"` + rfc7638N + `"}`; string(jwk) != want {
		t.Errorf("PublicJWK = %s\nwant %s", jwk, want)
	}
	// The same key as the RFC writes it, with extra members: parsing keeps
	// only the required ones.
	_, jkt, err := parsePublicJWK([]byte(`{"kty": "RSA", "n": "` + rfc7638N + `", "e": "AQAB", "alg": "RS256", "kid": "2011-04-29"}`))
	if err != nil || jkt != rfc7638JKT {
		t.Errorf("parsePublicJWK: %q, %v", jkt, err)
	}
}

// RFC 8037 Appendix A.3: the Ed25519 key's thumbprint.
func TestThumbprintRFC8037(t *testing.T) {
	x, _ := b64Strict.DecodeString("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")
	got, err := Thumbprint(ed25519.PublicKey(x))
	if want := "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"; err != nil || got != want {
		t.Errorf("Thumbprint = %q, %v; want %q", got, err, want)
	}
}

func TestPublicJWKRoundTrip(t *testing.T) {
	for _, k := range testKeys(t) {
		jwk, err := PublicJWK(k.key) // a signer is accepted for its public key
		if err != nil {
			t.Fatal(err)
		}
		if strings.ContainsAny(string(jwk), " \n") || strings.Contains(string(jwk), `"d"`) {
			t.Errorf("%s: %s", k.name, jwk)
		}
		var m map[string]string
		if err := json.Unmarshal(jwk, &m); err != nil {
			t.Fatal(err)
		}
		if m["kty"] == "EC" {
			for _, c := range []string{"x", "y"} {
				if b, _ := b64Strict.DecodeString(m[c]); len(b) != 32 {
					t.Errorf("%s: %s of %d bytes, want 32", k.name, c, len(b))
				}
			}
		}
		pub, jkt, err := parsePublicJWK(jwk)
		if err != nil {
			t.Fatalf("%s: %v", k.name, err)
		}
		want, _ := Thumbprint(k.key.Public())
		if jkt != want {
			t.Errorf("%s: thumbprint %s after parsing, %s before", k.name, jkt, want)
		}
		if eq, ok := pub.(interface{ Equal(x crypto.PublicKey) bool }); !ok || !eq.Equal(k.key.Public()) {
			t.Errorf("%s: parsed key differs", k.name)
		}
	}
}

// EC coordinates are always 32 bytes, even when one is a small number.
func TestPublicJWKFixedCoordinates(t *testing.T) {
	for i := 0; i < 2000; i++ {
		k := testECKey(t)
		pt, _ := k.PublicKey.ECDH()
		b := pt.Bytes()
		if b[1] != 0 && b[33] != 0 {
			continue
		}
		jwk, err := PublicJWK(&k.PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]string
		_ = json.Unmarshal(jwk, &m)
		x, _ := b64Strict.DecodeString(m["x"])
		y, _ := b64Strict.DecodeString(m["y"])
		if len(x) != 32 || len(y) != 32 {
			t.Fatalf("x %d, y %d bytes", len(x), len(y))
		}
		return
	}
	t.Skip("no key with a leading zero byte in 2000 tries (odds about 1 in 10^7)")
}

func TestParsePublicJWKRefuses(t *testing.T) {
	ec, _ := PublicJWK(testECKey(t).Public())
	var m map[string]string
	_ = json.Unmarshal(ec, &m)
	x, y := m["x"], m["y"]
	ed := b64.EncodeToString(testEdKey(t).Public().(ed25519.PublicKey))
	offCurve := b64.EncodeToString(append(make([]byte, 31), 1))
	for _, tc := range []struct {
		name, jwk string
		want      error
	}{
		{"EC with d", `{"kty":"EC","crv":"P-256","x":"` + x + `","y":"` + y + `","d":"AAAA"}`, errPrivateJWK},
		{"OKP with d", `{"kty":"OKP","crv":"Ed25519","x":"` + ed + `","d":"AAAA"}`, errPrivateJWK},
		{"RSA with p", `{"kty":"RSA","n":"` + rfc7638N + `","e":"AQAB","p":"AQAB"}`, errPrivateJWK},
		{"oct", `{"kty":"oct","k":"c2VjcmV0"}`, errPrivateJWK},
		{"oct without k", `{"kty":"oct"}`, errBadJWK},
		{"no kty", `{"crv":"P-256","x":"` + x + `","y":"` + y + `"}`, errBadJWK},
		{"P-384", `{"kty":"EC","crv":"P-384","x":"` + x + `","y":"` + y + `"}`, errBadJWK},
		{"off curve", `{"kty":"EC","crv":"P-256","x":"` + offCurve + `","y":"` + offCurve + `"}`, errBadJWK},
		{"short x", `{"kty":"EC","crv":"P-256","x":"` + x[:40] + `","y":"` + y + `"}`, errBadJWK},
		{"padded", `{"kty":"OKP","crv":"Ed25519","x":"` + ed + `="}`, errBadJWK},
		{"X25519", `{"kty":"OKP","crv":"X25519","x":"` + ed + `"}`, errBadJWK},
		{"RSA 1024", `{"kty":"RSA","n":"` + rfc7638N[:171] + `","e":"AQAB"}`, errBadJWK},
		{"RSA e with leading zero", `{"kty":"RSA","n":"` + rfc7638N + `","e":"AAEAAQ"}`, errBadJWK},
		{"RSA even e", `{"kty":"RSA","n":"` + rfc7638N + `","e":"AQAA"}`, errBadJWK},
		{"number x", `{"kty":"OKP","crv":"Ed25519","x":12}`, errBadJWK},
		{"array", `[]`, errBadJWK},
		{"garbage", `{`, errBadJWK},
	} {
		if _, _, err := parsePublicJWK([]byte(tc.jwk)); err != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestThumbprintRefuses(t *testing.T) {
	for _, k := range []any{nil, "x", &ecdsa.PublicKey{}, weakRSA(t)} {
		if _, err := Thumbprint(k); err == nil {
			t.Errorf("Thumbprint(%T) succeeded", k)
		}
	}
}

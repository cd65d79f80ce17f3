package clientauth

import (
	"crypto"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

const (
	testClient   = "client-1"
	testAudience = "https://idp.example.com/realms/acme/protocol/openid-connect/token"
)

var testSecret = []byte("0123456789abcdef0123456789abcdef-client-secret")

// Every algorithm round-trips: the assertion has the right header and
// claims and verifies with the public key (or the secret).
func TestAssertionRoundTrip(t *testing.T) {
	type tcase struct {
		name string
		auth interface {
			Assertion(string, time.Time) (string, error)
		}
		alg    string
		kid    string
		verify crypto.PublicKey
	}
	var cases []tcase
	for _, k := range testKeys(t) {
		cases = append(cases, tcase{k.name, PrivateKeyJWT{Key: k.key, KeyID: "k-" + k.name, Audience: testAudience}, k.name, "k-" + k.name, k.key.Public()})
	}
	cases = append(cases, tcase{"HS256", ClientSecretJWT{Secret: testSecret, Audience: testAudience}, "HS256", "", testSecret})
	for _, tc := range cases {
		tok, err := tc.auth.Assertion(testClient, testNow)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		header, claims, _ := decodeJWS(t, tok)
		if header["alg"] != tc.alg || header["typ"] != "JWT" || len(header) != 2+min(len(tc.kid), 1) || (tc.kid != "" && header["kid"] != tc.kid) {
			t.Errorf("%s: header %v", tc.name, header)
		}
		jti, _ := claims["jti"].(string)
		if b, err := b64Strict.DecodeString(jti); err != nil || len(b) != 16 {
			t.Errorf("%s: jti %q", tc.name, jti)
		}
		if claims["iss"] != testClient || claims["sub"] != testClient || claims["aud"] != testAudience ||
			claims["iat"] != json.Number("1740830400") || claims["exp"] != json.Number("1740830460") || len(claims) != 6 {
			t.Errorf("%s: claims %v", tc.name, claims)
		}
		seen := newSeenSet()
		if err := VerifyAssertion(tok, []crypto.PublicKey{tc.verify}, testAudience, testClient, testNow.Add(30*time.Second), seen.seen); err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
		if err := VerifyAssertion(tok, []crypto.PublicKey{tc.verify}, testAudience, testClient, testNow, seen.seen); !errors.Is(err, ErrReplay) {
			t.Errorf("%s: replay: %v", tc.name, err)
		}
	}
}

func TestAssertionParams(t *testing.T) {
	for _, a := range []Authenticator{
		PrivateKeyJWT{Key: testEdKey(t), Audience: testAudience, Lifetime: 5 * time.Minute},
		ClientSecretJWT{Secret: testSecret, Audience: testAudience, Lifetime: 5 * time.Minute},
	} {
		v, err := a.Params(testClient, testNow)
		if err != nil {
			t.Fatal(err)
		}
		if len(v) != 2 || v.Get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" {
			t.Errorf("%s: %v", a.Method(), v)
		}
		_, claims, _ := decodeJWS(t, v.Get("client_assertion"))
		if claims["exp"] != json.Number("1740830700") {
			t.Errorf("%s: exp %v with a 5 min lifetime", a.Method(), claims["exp"])
		}
	}
	if m := (PrivateKeyJWT{}).Method(); m != "private_key_jwt" {
		t.Error(m)
	}
	if m := (ClientSecretJWT{}).Method(); m != "client_secret_jwt" {
		t.Error(m)
	}
}

// Client IDs and audiences are JSON-escaped; kid too.
func TestAssertionEscapes(t *testing.T) {
	id, aud, kid := "a\"b\\c\n\x00é", "https://x.example/t?\"q", "k\"1"
	tok, err := PrivateKeyJWT{Key: testEdKey(t), KeyID: kid, Audience: aud}.Assertion(id, testNow)
	if err != nil {
		t.Fatal(err)
	}
	header, claims, _ := decodeJWS(t, tok)
	if header["kid"] != kid || claims["iss"] != id || claims["sub"] != id || claims["aud"] != aud {
		t.Errorf("%v %v", header, claims)
	}
}

func TestAssertionRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		a    interface {
			Assertion(string, time.Time) (string, error)
		}
		id   string
		want error
	}{
		{"no key", PrivateKeyJWT{Audience: testAudience}, testClient, ErrIncompleteConfig},
		{"no audience", PrivateKeyJWT{Key: testEdKey(t)}, testClient, ErrIncompleteConfig},
		{"no client", PrivateKeyJWT{Key: testEdKey(t), Audience: testAudience}, "", ErrIncompleteConfig},
		{"weak RSA", PrivateKeyJWT{Key: weakRSA(t), Audience: testAudience}, testClient, ErrWeakKey},
		{"P-384", PrivateKeyJWT{Key: mustP384(t), Audience: testAudience}, testClient, ErrUnsupportedKey},
		{"no secret", ClientSecretJWT{Audience: testAudience}, testClient, ErrIncompleteConfig},
		{"short secret", ClientSecretJWT{Secret: testSecret[:31], Audience: testAudience}, testClient, ErrWeakKey},
		{"secret, no audience", ClientSecretJWT{Secret: testSecret}, testClient, ErrIncompleteConfig},
	} {
		tok, err := tc.a.Assertion(tc.id, testNow)
		if !errors.Is(err, tc.want) || tok != "" {
			t.Errorf("%s: %q, %v; want %v", tc.name, tok, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), string(testSecret[:31])) {
			t.Errorf("%s: secret in %q", tc.name, err)
		}
	}
}

func TestVerifyAssertionRejects(t *testing.T) {
	ec, ed, other := testECKey(t), testEdKey(t), testEdKey(t)
	good := func(a interface {
		Assertion(string, time.Time) (string, error)
	}) string {
		tok, err := a.Assertion(testClient, testNow)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	edTok := good(PrivateKeyJWT{Key: ed, Audience: testAudience})
	ecTok := good(PrivateKeyJWT{Key: ec, Audience: testAudience})
	hsTok := good(ClientSecretJWT{Secret: testSecret, Audience: testAudience})
	longTok := good(PrivateKeyJWT{Key: ed, Audience: testAudience, Lifetime: 2 * time.Hour})
	edKeys := []crypto.PublicKey{ed.Public()}
	hdr := `{"alg":"EdDSA","typ":"JWT"}`
	claims := func(extra string) string {
		return `{"iss":"` + testClient + `","sub":"` + testClient + `","aud":"` + testAudience + `","jti":"j1","iat":1740830400,"exp":1740830460` + extra + `}`
	}
	for _, tc := range []struct {
		name string
		tok  string
		keys []crypto.PublicKey
		aud  string
		id   string
		now  time.Time
		want error
	}{
		{"wrong audience", edTok, edKeys, "https://other.example/token", testClient, testNow, ErrAudience},
		{"empty audience", edTok, edKeys, "", testClient, testNow, ErrAudience},
		{"wrong client", edTok, edKeys, testAudience, "client-2", testNow, ErrClientID},
		{"expired", edTok, edKeys, testAudience, testClient, testNow.Add(2*time.Minute + time.Second), ErrExpired},
		{"from the future", edTok, edKeys, testAudience, testClient, testNow.Add(-61 * time.Second), ErrIssuedAt},
		{"lifetime over an hour", longTok, edKeys, testAudience, testClient, testNow, ErrExpired},
		{"wrong key", edTok, []crypto.PublicKey{other.Public()}, testAudience, testClient, testNow, ErrSignature},
		{"no keys", edTok, nil, testAudience, testClient, testNow, ErrAlgorithm},
		{"key of another type", edTok, []crypto.PublicKey{ec.Public()}, testAudience, testClient, testNow, ErrAlgorithm},
		{"wrong secret", hsTok, []crypto.PublicKey{append([]byte("x"), testSecret...)}, testAudience, testClient, testNow, ErrSignature},
		{"HS256 against a public key", hsTok, []crypto.PublicKey{ec.Public()}, testAudience, testClient, testNow, ErrAlgorithm},
		{"tampered claims", reencode(t, ecTok, 1, func(m map[string]any) { m["sub"] = "admin" }), []crypto.PublicKey{ec.Public()}, testAudience, testClient, testNow, ErrSignature},
		{"alg none", strings.Join([]string{b64.EncodeToString([]byte(`{"alg":"none"}`)), strings.Split(edTok, ".")[1], ""}, "."), edKeys, testAudience, testClient, testNow, ErrAlgorithm},
		{"alg swapped to HS256", reencode(t, edTok, 0, func(m map[string]any) { m["alg"] = "HS256" }), edKeys, testAudience, testClient, testNow, ErrAlgorithm},
		{"DPoP proof as assertion", resign(t, `{"alg":"EdDSA","typ":"dpop+jwt"}`, claims(""), algEdDSA, ed), edKeys, testAudience, testClient, testNow, ErrType},
		{"crit", resign(t, `{"alg":"EdDSA","crit":["b64"],"b64":false}`, claims(""), algEdDSA, ed), edKeys, testAudience, testClient, testNow, ErrMalformed},
		{"no jti", resign(t, hdr, strings.Replace(claims(""), `"jti":"j1",`, "", 1), algEdDSA, ed), edKeys, testAudience, testClient, testNow, ErrMalformed},
		{"no exp", resign(t, hdr, strings.Replace(claims(""), `,"exp":1740830460`, "", 1), algEdDSA, ed), edKeys, testAudience, testClient, testNow, ErrMalformed},
		{"string iat", resign(t, hdr, strings.Replace(claims(""), `1740830400`, `"1740830400"`, 1), algEdDSA, ed), edKeys, testAudience, testClient, testNow, ErrMalformed},
		{"huge exp", resign(t, hdr, strings.Replace(claims(""), `1740830460`, `1e300`, 1), algEdDSA, ed), edKeys, testAudience, testClient, testNow, ErrMalformed},
		{"exp before iat", resign(t, hdr, strings.Replace(claims(""), `1740830460`, `1740830399`, 1), algEdDSA, ed), edKeys, testAudience, testClient, testNow, ErrExpired},
		{"nbf in the future", resign(t, hdr, claims(`,"nbf":1740830500`), algEdDSA, ed), edKeys, testAudience, testClient, testNow, ErrExpired},
		{"aud array without us", resign(t, hdr, strings.Replace(claims(""), `"aud":"`+testAudience+`"`, `"aud":["a","b"]`, 1), algEdDSA, ed), edKeys, testAudience, testClient, testNow, ErrAudience},
		{"aud number", resign(t, hdr, strings.Replace(claims(""), `"aud":"`+testAudience+`"`, `"aud":1`, 1), algEdDSA, ed), edKeys, testAudience, testClient, testNow, ErrAudience},
		{"claims not JSON", resign(t, hdr, `nope`, algEdDSA, ed), edKeys, testAudience, testClient, testNow, ErrMalformed},
		{"two parts", "a.b", edKeys, testAudience, testClient, testNow, ErrMalformed},
		{"four parts", edTok + ".x", edKeys, testAudience, testClient, testNow, ErrMalformed},
		{"padded", edTok + "=", edKeys, testAudience, testClient, testNow, ErrMalformed},
		{"bad base64", "!!." + edTok[3:], edKeys, testAudience, testClient, testNow, ErrMalformed},
		{"empty", "", edKeys, testAudience, testClient, testNow, ErrMalformed},
		{"too long", edTok + strings.Repeat("A", maxJWSLen), edKeys, testAudience, testClient, testNow, ErrMalformed},
	} {
		err := VerifyAssertion(tc.tok, tc.keys, tc.aud, tc.id, tc.now, nil)
		if !errors.Is(err, tc.want) || !errors.Is(err, ErrInvalidAssertion) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
		var ve *VerifyError
		if !errors.As(err, &ve) || !strings.HasPrefix(err.Error(), "clientauth: invalid client assertion: ") {
			t.Errorf("%s: %T %q", tc.name, err, err)
		}
	}

	// Accepted: an aud array holding us, an nbf that has come, a float
	// NumericDate, several keys, a signer for a key.
	for _, tc := range []struct {
		name string
		tok  string
		keys []crypto.PublicKey
	}{
		{"aud array", resign(t, hdr, strings.Replace(claims(""), `"aud":"`+testAudience+`"`, `"aud":["x","`+testAudience+`"]`, 1), algEdDSA, ed), edKeys},
		{"nbf", resign(t, hdr, claims(`,"nbf":1740830400`), algEdDSA, ed), edKeys},
		{"no typ", resign(t, `{"alg":"EdDSA"}`, strings.Replace(claims(""), `1740830460`, `1740830460.5`, 1), algEdDSA, ed), edKeys},
		{"many keys", edTok, []crypto.PublicKey{testSecret, ec.Public(), other.Public(), ed.Public()}},
		{"signer as key", edTok, []crypto.PublicKey{ed}},
	} {
		if err := VerifyAssertion(tc.tok, tc.keys, testAudience, testClient, testNow, nil); err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}

// Forgeries never reach the replay cache.
func TestVerifyAssertionSeenOnlyWhenValid(t *testing.T) {
	ed := testEdKey(t)
	tok, _ := PrivateKeyJWT{Key: ed, Audience: testAudience}.Assertion(testClient, testNow)
	calls := 0
	seen := func(string) bool { calls++; return false }
	_ = VerifyAssertion(tok, []crypto.PublicKey{testEdKey(t).Public()}, testAudience, testClient, testNow, seen)
	_ = VerifyAssertion(tok, []crypto.PublicKey{ed.Public()}, "x", testClient, testNow, seen)
	if calls != 0 {
		t.Errorf("seen called %d times for rejected tokens", calls)
	}
	if err := VerifyAssertion(tok, []crypto.PublicKey{ed.Public()}, testAudience, testClient, testNow, seen); err != nil || calls != 1 {
		t.Errorf("%v, %d calls", err, calls)
	}
}

func TestAssertionJTIUnique(t *testing.T) {
	seen := map[string]bool{}
	a := ClientSecretJWT{Secret: testSecret, Audience: testAudience}
	for range 1000 {
		tok, err := a.Assertion(testClient, testNow)
		if err != nil {
			t.Fatal(err)
		}
		_, claims, _ := decodeJWS(t, tok)
		jti := claims["jti"].(string)
		if seen[jti] {
			t.Fatalf("jti %s twice", jti)
		}
		seen[jti] = true
	}
}

package clientauth

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/base64"
	"encoding/gob"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"log/slog"
	"math/big"
	"strings"
	"testing"
)

// keyForms returns renderings of a key's private part that must never
// appear: decimal, hex and base64 forms of its scalars or bytes.
func keyForms(t *testing.T, key any) []string {
	t.Helper()
	bytesForms := func(b []byte) []string {
		dec := strings.Trim(fmt.Sprint(b[:8]), "[]") // how fmt prints a []byte: "12 250 7 …"
		return []string{hex.EncodeToString(b[:12]), strings.ToUpper(hex.EncodeToString(b[:12])),
			base64.StdEncoding.EncodeToString(b[:12]), base64.RawURLEncoding.EncodeToString(b[:12]), dec, string(b)}
	}
	switch k := key.(type) {
	case ed25519.PrivateKey:
		return bytesForms(k.Seed())
	case *ecdsa.PrivateKey:
		e, err := k.ECDH()
		if err != nil {
			t.Fatal(err)
		}
		d := new(big.Int).SetBytes(e.Bytes())
		return append(bytesForms(e.Bytes()), d.String()[:20], d.Text(16)[:20])
	case *rsa.PrivateKey:
		return []string{k.D.String()[:20], k.D.Text(16)[:20], k.Primes[0].String()[:20]}
	case []byte:
		return bytesForms(k)
	}
	t.Fatalf("no forms for %T", key)
	return nil
}

// renderings returns every way v may be rendered by accident.
func renderings(t *testing.T, v any) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T %[1]v"} {
		out[verb] = fmt.Sprintf(verb, v)
		out["nested "+verb] = fmt.Sprintf(verb, struct{ A any }{v})
		out["slice "+verb] = fmt.Sprintf(verb, []any{v})
	}
	out["Sprint"] = fmt.Sprint(v)
	out["Sprintln"] = fmt.Sprintln(v)
	for name, h := range map[string]func(*bytes.Buffer) slog.Handler{
		"slog text": func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) },
		"slog json": func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) },
	} {
		var b bytes.Buffer
		slog.New(h(&b)).Info("msg", "auth", v, slog.Group("g", "auth", v))
		out[name] = b.String()
	}
	j, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("json: %v", err)
	}
	out["json"] = string(j)
	j, _ = json.Marshal(map[string]any{"a": []any{v}})
	out["json nested"] = string(j)
	if x, err := xml.Marshal(struct{ A any }{v}); err == nil {
		out["xml"] = string(x)
	}
	if err := gob.NewEncoder(new(bytes.Buffer)).Encode(v); err == nil {
		t.Errorf("gob encoded %T", v)
	}
	return out
}

func TestNoKeyMaterialInRenderings(t *testing.T) {
	ed, ec, rk := testEdKey(t), testECKey(t), testRSAKey(t)
	dEd, _ := NewDPoP(ed)
	dEC, _ := NewDPoP(ec)
	ta := testTLSClientAuth(t, ec)
	for _, tc := range []struct {
		name string
		v    any
		key  any
	}{
		{"PrivateKeyJWT Ed25519", PrivateKeyJWT{Key: ed, KeyID: "k1", Audience: testAudience}, ed},
		{"PrivateKeyJWT ECDSA", PrivateKeyJWT{Key: ec, Audience: testAudience}, ec},
		{"PrivateKeyJWT RSA", PrivateKeyJWT{Key: rk, Audience: testAudience}, rk},
		{"*PrivateKeyJWT", &PrivateKeyJWT{Key: ed, Audience: testAudience}, ed},
		{"ClientSecretJWT", ClientSecretJWT{Secret: testSecret, Audience: testAudience}, testSecret},
		{"*ClientSecretJWT", &ClientSecretJWT{Secret: testSecret, Audience: testAudience}, testSecret},
		{"*DPoP Ed25519", dEd, ed},
		{"DPoP Ed25519", *dEd, ed},
		{"*DPoP ECDSA", dEC, ec},
		{"DPoP ECDSA", *dEC, ec},
		{"*TLSClientAuth", ta, ec},
		{"TLSClientAuth", *ta, ec},
		{"Credentials-like struct holding the Authenticator", struct{ Auth Authenticator }{ta}, ec},
	} {
		forms := keyForms(t, tc.key)
		for how, s := range renderings(t, tc.v) {
			for _, f := range forms {
				if f != "" && strings.Contains(s, f) {
					t.Errorf("%s: %s rendering holds key material %q:\n%s", tc.name, how, f, s)
				}
			}
			if !strings.Contains(s, redacted) && !strings.Contains(how, "%T") {
				t.Errorf("%s: %s rendering lacks %s: %s", tc.name, how, redacted, s)
			}
		}
	}
}

func TestRenderingsAreUseful(t *testing.T) {
	d, _ := NewDPoP(testEdKey(t))
	for _, tc := range []struct {
		v    any
		want []string
	}{
		{PrivateKeyJWT{Key: testEdKey(t), KeyID: "k1", Audience: testAudience}, []string{`KeyID:"k1"`, testAudience, "Lifetime:0s"}},
		{ClientSecretJWT{Secret: testSecret, Audience: testAudience}, []string{testAudience, "Secret:[REDACTED]"}},
		{d, []string{"alg:EdDSA", "jkt:" + d.Thumbprint()}},
	} {
		s := fmt.Sprintf("%+v", tc.v)
		for _, w := range tc.want {
			if !strings.Contains(s, w) {
				t.Errorf("%s lacks %q", s, w)
			}
		}
	}
	j, _ := json.Marshal(d)
	if want := `{"alg":"EdDSA","jkt":"` + d.Thumbprint() + `","key":"[REDACTED]"}`; string(j) != want {
		t.Errorf("json %s", j)
	}
	j, _ = json.Marshal(PrivateKeyJWT{KeyID: `k"1`, Audience: "a"})
	var m map[string]string
	if err := json.Unmarshal(j, &m); err != nil || m["kid"] != `k"1` || m["key"] != redacted {
		t.Errorf("json %s: %v", j, err)
	}
}

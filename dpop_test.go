package tenantauth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"math/big"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tenantauth/tenantauth/clientauth"
)

func TestCanonicalTokenTypeDPoP(t *testing.T) {
	for _, in := range []string{"DPoP", "dpop", " DPOP "} {
		if got := CanonicalTokenType(in); got != "DPoP" {
			t.Errorf("CanonicalTokenType(%q) = %q", in, got)
		}
	}
	tok := &Token{AccessToken: "abc", TokenType: "dpop"}
	if got := tok.Authorization(); got != "DPoP abc" || !tok.IsDPoP() {
		t.Errorf("Authorization() = %q, IsDPoP %v", got, tok.IsDPoP())
	}
}

// TestCredentialsDPoPRedacted: a tenant's DPoP key never shows in the
// renderings of its Credentials.
func TestCredentialsDPoPRedacted(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	dp, err := clientauth.NewDPoP(key)
	if err != nil {
		t.Fatal(err)
	}
	c := Credentials{ClientID: "c", DPoP: dp}
	j, _ := json.Marshal(c)
	d := key.D.Text(16)
	for _, s := range []string{fmt.Sprintf("%v", c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c), string(j)} {
		if !strings.Contains(s, dp.Thumbprint()) || strings.Contains(s, d) || strings.Contains(s, new(big.Int).Set(key.D).String()) {
			t.Errorf("rendering %s: want the thumbprint and no key", s)
		}
	}
}

// TestManagerDPoPKey: the Manager hands out the tenant's key with a
// DPoP-bound token only, from the same entry, without allocating on a hit.
func TestManagerDPoPKey(t *testing.T) {
	dp, err := clientauth.GenerateDPoP()
	if err != nil {
		t.Fatal(err)
	}
	for _, typ := range []string{"Bearer", "dpop"} {
		p := providerFunc(func(context.Context, TokenRequest) (*Token, error) {
			now := time.Now()
			return &Token{AccessToken: "t", TokenType: typ, Expiry: now.Add(time.Hour), IssuedAt: now}, nil
		})
		m, err := New(Config{Tenants: Tenants{"acme": {Provider: p, Credentials: Credentials{ClientID: "c", ClientSecret: "s", DPoP: dp},
			APIHosts: []string{"api.example.com"}}}})
		if err != nil {
			t.Fatal(err)
		}
		u, _ := url.Parse("https://api.example.com/x")
		tok, key, err := m.TokenForURLDPoP(context.Background(), "acme", u)
		if err != nil {
			t.Fatal(err)
		}
		want := dp
		if typ == "Bearer" {
			want = nil
		}
		if key != want || (tok.TokenType == "DPoP") != (want != nil) {
			t.Errorf("%s: key %v, token type %q", typ, key, tok.TokenType)
		}
		if _, k2, err := m.TokenForHostDPoP(context.Background(), "acme", "api.example.com"); err != nil || k2 != want {
			t.Errorf("%s: TokenForHostDPoP key %v, err %v", typ, k2, err)
		}
		if _, _, err := m.TokenForURLDPoP(context.Background(), "acme", &url.URL{Scheme: "https", Host: "evil.example"}); err == nil {
			t.Errorf("%s: other host allowed", typ)
		}
		if n := testing.AllocsPerRun(100, func() { _, _, _ = m.TokenForURLDPoP(context.Background(), "acme", u) }); n != 0 {
			t.Errorf("%s: hit allocates %v", typ, n)
		}
		_ = m.Close()
	}
}

type providerFunc func(context.Context, TokenRequest) (*Token, error)

func (f providerFunc) Endpoint() string { return "https://token.test/token" }
func (f providerFunc) Exchange(ctx context.Context, r TokenRequest) (*Token, error) {
	return f(ctx, r)
}

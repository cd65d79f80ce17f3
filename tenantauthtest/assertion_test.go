package tenantauthtest_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tenantauth/tenantauth"
	"github.com/tenantauth/tenantauth/clientauth"
	"github.com/tenantauth/tenantauth/providers/tokenclient"
	"github.com/tenantauth/tenantauth/tenantauthtest"
)

// TestSignedClientAssertions: private_key_jwt (ES256, EdDSA) and
// client_secret_jwt end to end through a Manager and the token client
// against the standard stand-in, and the stand-in's rejections: another
// key, another audience, an expired assertion, a replayed jti, a secret
// sent instead.
func TestSignedClientAssertions(t *testing.T) {
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	const secret = "a-client-secret-of-at-least-32-bytes!"

	for _, tt := range []struct {
		name   string
		method string
		auth   func(s *tenantauthtest.Server) clientauth.Authenticator
	}{
		{"private_key_jwt ES256", "private_key_jwt", func(s *tenantauthtest.Server) clientauth.Authenticator {
			return clientauth.PrivateKeyJWT{Key: ec, KeyID: "k1", Audience: s.TokenURL()}
		}},
		{"private_key_jwt EdDSA, issuer as audience", "private_key_jwt", func(s *tenantauthtest.Server) clientauth.Authenticator {
			return clientauth.PrivateKeyJWT{Key: ed, Audience: s.Issuer()}
		}},
		{"client_secret_jwt", "client_secret_jwt", func(s *tenantauthtest.Server) clientauth.Authenticator {
			return clientauth.ClientSecretJWT{Secret: []byte(secret), Audience: s.TokenURL()}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := tenantauthtest.NewStandard(tenantauthtest.Config{
				AuthMethod: tt.method,
				Clients:    map[string]string{"client": secret},
				ClientKeys: map[string][]crypto.PublicKey{"client": {ec.Public(), ed.Public()}},
			})
			defer s.Close()
			p, err := tokenclient.New(tokenclient.Config{TokenURL: s.TokenURL(), HTTPClient: s.Client()})
			if err != nil {
				t.Fatal(err)
			}
			creds := tenantauth.Credentials{ClientID: "client", Auth: tt.auth(s)}
			m, err := tenantauth.New(tenantauth.Config{Tenants: tenantauth.Tenants{
				"acme": {Provider: p, Credentials: creds, APIHosts: []string{tenantauth.AnyHost}}}})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			tok, err := m.Token(context.Background(), "acme")
			if err != nil {
				t.Fatalf("Token: %v", err)
			}
			if tok.AccessToken == "" {
				t.Fatal("no token")
			}
			// No key or secret in anything printable.
			for _, f := range []string{"%v", "%+v", "%#v"} {
				out := fmt.Sprintf(f, creds)
				if strings.Contains(out, secret) || strings.Contains(out, ec.D.String()) || strings.Contains(out, fmt.Sprint([]byte(ed))) || !strings.Contains(out, "[REDACTED]") {
					t.Fatalf("%s of Credentials shows key material: %s", f, out)
				}
			}
		})
	}

	t.Run("rejections", func(t *testing.T) {
		s := tenantauthtest.NewStandard(tenantauthtest.Config{AuthMethod: "private_key_jwt",
			ClientKeys: map[string][]crypto.PublicKey{"client": {ec.Public()}}})
		defer s.Close()
		post := func(form url.Values) int {
			t.Helper()
			resp, err := s.Client().PostForm(s.TokenURL(), form)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp.StatusCode
		}
		form := func(a clientauth.Authenticator, now time.Time) url.Values {
			t.Helper()
			v, err := a.Params("client", now)
			if err != nil {
				t.Fatal(err)
			}
			v.Set("grant_type", "client_credentials")
			v.Set("client_id", "client")
			return v
		}
		good := clientauth.PrivateKeyJWT{Key: ec, Audience: s.TokenURL()}
		ok := form(good, time.Now())
		if c := post(ok); c != http.StatusOK {
			t.Fatalf("a good assertion: %d", c)
		}
		if c := post(ok); c != http.StatusUnauthorized {
			t.Fatalf("the same assertion again (replayed jti): %d, want 401", c)
		}
		for name, v := range map[string]url.Values{
			"another key":      form(clientauth.PrivateKeyJWT{Key: other, Audience: s.TokenURL()}, time.Now()),
			"another audience": form(clientauth.PrivateKeyJWT{Key: ec, Audience: "https://elsewhere.example/token"}, time.Now()),
			"expired":          form(good, time.Now().Add(-time.Hour)),
			"a secret instead": {"grant_type": {"client_credentials"}, "client_id": {"client"}, "client_secret": {"x"}},
		} {
			if c := post(v); c != http.StatusUnauthorized {
				t.Errorf("%s: %d, want 401", name, c)
			}
		}
	})

	t.Run("refused through the Manager", func(t *testing.T) {
		s := tenantauthtest.NewStandard(tenantauthtest.Config{AuthMethod: "private_key_jwt",
			ClientKeys: map[string][]crypto.PublicKey{"client": {ec.Public()}}})
		defer s.Close()
		p, _ := tokenclient.New(tokenclient.Config{TokenURL: s.TokenURL(), HTTPClient: s.Client()})
		m, _ := tenantauth.New(tenantauth.Config{Tenants: tenantauth.Tenants{"acme": {Provider: p,
			Credentials: tenantauth.Credentials{ClientID: "client", Auth: clientauth.PrivateKeyJWT{Key: other, Audience: s.TokenURL()}},
			APIHosts:    []string{tenantauth.AnyHost}}}})
		defer m.Close()
		if _, err := m.Token(context.Background(), "acme"); !errors.Is(err, tenantauth.ErrInvalidCredentials) {
			t.Fatalf("a key the server does not know: %v, want ErrInvalidCredentials", err)
		}
	})
}

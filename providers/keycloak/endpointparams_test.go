package keycloak

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/tenantauth/tenantauth"
)

// TestExchangeEndpointParams: Credentials.EndpointParams go into the form
// (every value of a repeated parameter, full grant and refresh alike); one
// that names a parameter the Provider sets is refused without I/O.
func TestExchangeEndpointParams(t *testing.T) {
	params := url.Values{"audience": {"https://api.example.com"}, "resource": {"r1", "r2"}}
	withParams := func(c tenantauth.Credentials, p url.Values) tenantauth.Credentials {
		c.EndpointParams = p
		return c
	}
	tests := []struct {
		name     string
		auth     ClientAuth
		req      tenantauth.TokenRequest
		wantBody string
	}{
		{"client credentials", ClientAuthBody, tenantauth.TokenRequest{Credentials: withParams(machineCreds, params)},
			"audience=https%3A%2F%2Fapi.example.com&client_id=fp-m2m&client_secret=cs-Zq8%21x%26y%3D1&grant_type=client_credentials&resource=r1&resource=r2"},
		{"basic refresh", ClientAuthBasic, tenantauth.TokenRequest{Grant: tenantauth.GrantRefreshToken, Credentials: withParams(passwordCreds, params), RefreshToken: refreshToken},
			"audience=https%3A%2F%2Fapi.example.com&grant_type=refresh_token&refresh_token=rt-9c1e77d0&resource=r1&resource=r2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newStandIn(t, 200, keycloakExample)
			p, err := New(Config{BaseURL: srv.URL, Realm: "fluencypass", ClientAuth: tt.auth})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := p.Exchange(context.Background(), tt.req); err != nil {
				t.Fatal(err)
			}
			if got := srv.request().body; got != tt.wantBody {
				t.Errorf("body = %q, want %q", got, tt.wantBody)
			}
		})
	}

	srv := newStandIn(t, 200, keycloakExample)
	p, _ := New(Config{BaseURL: srv.URL, Realm: "fluencypass"})
	for _, name := range []string{"client_secret", "grant_type", "scope", "username"} {
		req := tenantauth.TokenRequest{Credentials: withParams(passwordCreds, url.Values{name: {clientSecret}})}
		_, err := p.Exchange(context.Background(), req)
		if !errors.Is(err, ErrIncompleteCredentials) || !strings.HasPrefix(err.Error(), "keycloak: ") || !strings.Contains(err.Error(), `"`+name+`"`) {
			t.Errorf("EndpointParams %q: err = %v, want ErrIncompleteCredentials naming it", name, err)
		}
		checkNoSecret(t, err)
	}
	if n := srv.hits.Load(); n != 0 {
		t.Errorf("%d requests sent, want none", n)
	}
}

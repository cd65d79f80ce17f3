package passport

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/tenantauth/tenantauth"
)

// TestExchangeEndpointParams: Credentials.EndpointParams follow the
// documented members of the JSON body, sorted by name, a repeated one as an
// array; one that names a member the Provider sets is refused without I/O.
func TestExchangeEndpointParams(t *testing.T) {
	withParams := func(c tenantauth.Credentials, p url.Values) tenantauth.Credentials {
		c.EndpointParams = p
		return c
	}
	params := url.Values{"tenant": {"acme"}, "resource": {"https://a.example/", "https://b.example/"}}
	tests := []struct {
		name string
		req  tenantauth.TokenRequest
		want string
	}{
		{"password", tenantauth.TokenRequest{Credentials: withParams(tenantauth.Credentials{
			ClientID: "3", ClientSecret: "ONe7Ns48Y30tB", Username: "teste@teste.com", Password: "1234"}, params)},
			`{"grant_type":"password","client_id":"3","client_secret":"ONe7Ns48Y30tB","username":"teste@teste.com","password":"1234",` +
				`"resource":["https://a.example/","https://b.example/"],"tenant":"acme"}`},
		{"refresh", tenantauth.TokenRequest{Grant: tenantauth.GrantRefreshToken, RefreshToken: refreshToken,
			Credentials: withParams(creds, url.Values{"tenant": {"acme"}})},
			`{"grant_type":"refresh_token","refresh_token":"` + refreshToken + `","client_id":"3","client_secret":"cs-ONe7Ns48Y30tB-x","tenant":"acme"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newStandIn(t, 200, hubsoftResponse, "Content-Type", "application/json")
			p, err := HubSoft(srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := p.Exchange(context.Background(), tt.req); err != nil {
				t.Fatal(err)
			}
			got := srv.request()
			if got.body != tt.want || got.contentType != "application/json" {
				t.Errorf("body = %s (%s), want %s", got.body, got.contentType, tt.want)
			}
			if !json.Valid([]byte(got.body)) {
				t.Error("body is not valid JSON")
			}
		})
	}

	srv := newStandIn(t, 200, hubsoftResponse)
	p, _ := HubSoft(srv.URL)
	for _, name := range []string{"client_id", "password", "refresh_token", "client_assertion"} {
		req := tenantauth.TokenRequest{Credentials: withParams(creds, url.Values{name: {password}})}
		_, err := p.Exchange(context.Background(), req)
		if !errors.Is(err, ErrIncompleteCredentials) || !strings.HasPrefix(err.Error(), "passport: ") || !strings.Contains(err.Error(), `"`+name+`"`) {
			t.Errorf("EndpointParams %q: err = %v, want ErrIncompleteCredentials naming it", name, err)
		}
		checkNoSecret(t, err)
	}
	// JSON cannot carry a value that is not UTF-8.
	_, err := p.Exchange(context.Background(), tenantauth.TokenRequest{Credentials: withParams(creds, url.Values{"tenant": {"ac\xffme"}})})
	if err == nil || !strings.HasPrefix(err.Error(), "passport: ") {
		t.Errorf("EndpointParams not UTF-8: err = %v", err)
	}
	if n := srv.hits.Load(); n != 0 {
		t.Errorf("%d requests sent, want none", n)
	}
}

package tokenclient

import (
	"errors"
	"strings"
	"testing"

	"github.com/tenantauth/tenantauth"
)

func TestCheckRequest(t *testing.T) {
	full := tenantauth.Credentials{ClientID: "id", ClientSecret: "cs", Username: "u@example.com", Password: "pw"}
	machine := tenantauth.Credentials{ClientID: "id", ClientSecret: "cs"}
	tests := []struct {
		name    string
		req     tenantauth.TokenRequest
		grant   tenantauth.Grant
		wantErr error
		missing string
	}{
		{"password explicit", tenantauth.TokenRequest{Grant: tenantauth.GrantPassword, Credentials: full}, tenantauth.GrantPassword, nil, ""},
		{"password from credentials", tenantauth.TokenRequest{Credentials: full}, tenantauth.GrantPassword, nil, ""},
		{"client credentials from credentials", tenantauth.TokenRequest{Credentials: machine}, tenantauth.GrantClientCredentials, nil, ""},
		{"refresh", tenantauth.TokenRequest{Grant: tenantauth.GrantRefreshToken, Credentials: full, RefreshToken: "rt"}, tenantauth.GrantRefreshToken, nil, ""},
		{"public client password", tenantauth.TokenRequest{Credentials: tenantauth.Credentials{ClientID: "id", Username: "u", Password: "p"}}, tenantauth.GrantPassword, nil, ""},
		{"password without username", tenantauth.TokenRequest{Grant: tenantauth.GrantPassword, Credentials: machine}, "", ErrIncompleteCredentials, "Username"},
		{"password without password", tenantauth.TokenRequest{Credentials: tenantauth.Credentials{ClientID: "id", Username: "u"}}, "", ErrIncompleteCredentials, "Password"},
		{"no client id", tenantauth.TokenRequest{Credentials: tenantauth.Credentials{ClientSecret: "cs"}}, "", ErrIncompleteCredentials, "ClientID"},
		{"client credentials without secret", tenantauth.TokenRequest{Credentials: tenantauth.Credentials{ClientID: "id"}}, "", ErrIncompleteCredentials, "ClientSecret"},
		{"refresh without token", tenantauth.TokenRequest{Grant: tenantauth.GrantRefreshToken, Credentials: full}, "", ErrIncompleteCredentials, "RefreshToken"},
		{"unknown grant", tenantauth.TokenRequest{Grant: "urn:ietf:params:oauth:grant-type:device_code", Credentials: full}, "", ErrUnsupportedGrant, "device_code"},
		{"authorization code", tenantauth.TokenRequest{Grant: "authorization_code", Credentials: full}, "", ErrUnsupportedGrant, "authorization_code"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, err := CheckRequest("prov", tt.req)
			if tt.wantErr == nil {
				if err != nil || g != tt.grant {
					t.Fatalf("CheckRequest = %q, %v; want %q", g, err, tt.grant)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("CheckRequest = %q, %v; want %v", g, err, tt.wantErr)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "prov: ") || !strings.Contains(msg, tt.missing) {
				t.Errorf("message %q: want prefix prov: and %q", msg, tt.missing)
			}
			if strings.Contains(msg, "cs") || strings.Contains(msg, "pw") {
				t.Errorf("message %q contains a secret", msg)
			}
		})
	}
}

func TestRequestSecrets(t *testing.T) {
	got := RequestSecrets(tenantauth.TokenRequest{
		Credentials:  tenantauth.Credentials{ClientSecret: "cs", Password: ""},
		RefreshToken: "rt",
	})
	var revealed []string
	for _, s := range got {
		revealed = append(revealed, s.Reveal())
	}
	if strings.Join(revealed, ",") != "cs,rt" {
		t.Errorf("RequestSecrets = %q, want [cs rt]", revealed)
	}
}

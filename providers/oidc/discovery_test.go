package oidc

import (
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/tenantauth/tenantauth/providers/tokenclient"
)

func TestParseDiscovery(t *testing.T) {
	long := strings.Repeat("x", 10_000)
	tests := []struct {
		name    string
		doc     string
		want    metadata
		wantErr string
	}{
		{"minimal", `{"issuer":"https://a","token_endpoint":"https://a/t"}`,
			metadata{issuer: "https://a", tokenEndpoint: "https://a/t"}, ""},
		{"methods", `{"issuer":"https://a","token_endpoint":"https://a/t","token_endpoint_auth_methods_supported":["private_key_jwt","client_secret_post"]}`,
			metadata{issuer: "https://a", tokenEndpoint: "https://a/t", authMethods: []string{"private_key_jwt", "client_secret_post"}}, ""},
		{"null methods", `{"issuer":"https://a","token_endpoint":"https://a/t","token_endpoint_auth_methods_supported":null}`,
			metadata{issuer: "https://a", tokenEndpoint: "https://a/t"}, ""},
		{"empty methods", `{"issuer":"https://a","token_endpoint":"https://a/t","token_endpoint_auth_methods_supported":[]}`,
			metadata{issuer: "https://a", tokenEndpoint: "https://a/t"}, ""},
		{"whitespace and other members", " \n{\"jwks_uri\":{\"x\":[1,2]},\"issuer\":\"https://a\",\"token_endpoint\":\"https://a/t\"}\n",
			metadata{issuer: "https://a", tokenEndpoint: "https://a/t"}, ""},
		{"duplicate member: last wins", `{"issuer":"https://evil","issuer":"https://a","token_endpoint":"https://a/t"}`,
			metadata{issuer: "https://a", tokenEndpoint: "https://a/t"}, ""},
		{"member names are case-sensitive", `{"ISSUER":"https://a","issuer":"https://b","token_endpoint":"https://a/t"}`,
			metadata{issuer: "https://b", tokenEndpoint: "https://a/t"}, ""},

		{"empty", ``, metadata{}, "not a JSON object"},
		{"null", `null`, metadata{}, "not a JSON object"},
		{"array", `[{"issuer":"https://a"}]`, metadata{}, "not a JSON object"},
		{"html", `<html><body>Sign in</body></html>`, metadata{}, "not a JSON object"},
		{"truncated", `{"issuer":"https://a","token_endpoint":"https://a`, metadata{}, "not valid JSON"},
		{"trailing garbage", `{"issuer":"https://a","token_endpoint":"https://a/t"} x`, metadata{}, "not valid JSON"},
		{"no issuer", `{"token_endpoint":"https://a/t"}`, metadata{}, "no issuer"},
		{"null issuer", `{"issuer":null,"token_endpoint":"https://a/t"}`, metadata{}, "no issuer"},
		{"no token endpoint", `{"issuer":"https://a"}`, metadata{}, "no token_endpoint"},
		{"issuer not a string", `{"issuer":1,"token_endpoint":"https://a/t"}`, metadata{}, "issuer is not a string"},
		{"token endpoint not a string", `{"issuer":"https://a","token_endpoint":["https://a/t"]}`, metadata{}, "token_endpoint is not a string"},
		{"methods not strings", `{"issuer":"https://a","token_endpoint":"https://a/t","token_endpoint_auth_methods_supported":[1]}`,
			metadata{}, "token_endpoint_auth_methods_supported is not an array of strings"},
		{"methods a string", `{"issuer":"https://a","token_endpoint":"https://a/t","token_endpoint_auth_methods_supported":"client_secret_post"}`,
			metadata{}, "token_endpoint_auth_methods_supported is not an array of strings"},
		{"long values not quoted", `{"issuer":"` + long + `","token_endpoint":` + `{"` + long + `":1}}`, metadata{}, "token_endpoint is not a string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseDiscovery([]byte(tt.doc))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				if len(err.Error()) > 200 {
					t.Errorf("error text of %d bytes", len(err.Error()))
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			if got.issuer != tt.want.issuer || got.tokenEndpoint != tt.want.tokenEndpoint || !slices.Equal(got.authMethods, tt.want.authMethods) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestChooseAuthMethod(t *testing.T) {
	tests := []struct {
		supported []string
		want      tokenclient.AuthMethod
		authOnly  bool
	}{
		{nil, tokenclient.ClientSecretBasic, false},
		{[]string{"client_secret_post", "client_secret_basic"}, tokenclient.ClientSecretBasic, false},                    // Entra ID's order
		{[]string{"client_secret_basic", "client_secret_post", "private_key_jwt"}, tokenclient.ClientSecretBasic, false}, // Auth0
		{[]string{"private_key_jwt", "client_secret_post"}, tokenclient.ClientSecretPost, false},
		{[]string{"none"}, tokenclient.None, false},
		{[]string{"none", "client_secret_post"}, tokenclient.ClientSecretPost, false},
		{[]string{"CLIENT_SECRET_BASIC", "client_secret_post"}, tokenclient.ClientSecretPost, false}, // registered names are exact
		{[]string{"private_key_jwt", "tls_client_auth"}, tokenclient.ClientSecretPost, true},
		{[]string{"self_signed_tls_client_auth"}, tokenclient.ClientSecretPost, true},
		{[]string{"client_secret_jwt"}, tokenclient.ClientSecretPost, true},
		{[]string{"PRIVATE_KEY_JWT", "bogus"}, "", false},
	}
	for _, tt := range tests {
		got, authOnly, err := chooseAuthMethod(tt.supported)
		if tt.want == "" {
			if err == nil {
				t.Errorf("chooseAuthMethod(%q) = %q, want an error", tt.supported, got)
			}
			continue
		}
		if err != nil || got != tt.want || authOnly != tt.authOnly {
			t.Errorf("chooseAuthMethod(%q) = %q, %v, %v; want %q, %v", tt.supported, got, authOnly, err, tt.want, tt.authOnly)
		}
	}
}

func TestDiscoveryURLs(t *testing.T) {
	tests := []struct{ issuer, oidc, oauth string }{
		{"https://idp.example.com", "https://idp.example.com/.well-known/openid-configuration",
			"https://idp.example.com/.well-known/oauth-authorization-server"},
		{"https://idp.example.com/", "https://idp.example.com/.well-known/openid-configuration",
			"https://idp.example.com/.well-known/oauth-authorization-server"},
		{"https://idp.example.com:8443/tenant/1", "https://idp.example.com:8443/tenant/1/.well-known/openid-configuration",
			"https://idp.example.com:8443/.well-known/oauth-authorization-server/tenant/1"},
		{"https://login.microsoftonline.com/0b1c/v2.0/", "https://login.microsoftonline.com/0b1c/v2.0/.well-known/openid-configuration",
			"https://login.microsoftonline.com/.well-known/oauth-authorization-server/0b1c/v2.0"},
		{"https://idp.example.com/a%2Fb", "https://idp.example.com/a%2Fb/.well-known/openid-configuration",
			"https://idp.example.com/.well-known/oauth-authorization-server/a%2Fb"},
	}
	for _, tt := range tests {
		u, err := url.Parse(tt.issuer)
		if err != nil {
			t.Fatal(err)
		}
		oidc, oauth := discoveryURLs(strings.TrimSuffix(tt.issuer, "/"), u)
		if oidc != tt.oidc || oauth != tt.oauth {
			t.Errorf("discoveryURLs(%q) = %q, %q; want %q, %q", tt.issuer, oidc, oauth, tt.oidc, tt.oauth)
		}
	}
}

func TestSameIssuer(t *testing.T) {
	tests := []struct {
		doc, configured string
		want            bool
	}{
		{"https://a.example.com", "https://a.example.com", true},
		{"https://a.example.com/", "https://a.example.com", true},
		{"https://a.example.com", "https://a.example.com/", true},
		{"https://a.example.com//", "https://a.example.com", false},
		{"https://A.example.com", "https://a.example.com", false}, // exact, as the specifications say
		{"https://a.example.com:443", "https://a.example.com", false},
		{"https://sts.windows.net/t/", "https://login.microsoftonline.com/t/v2.0", false},
	}
	for _, tt := range tests {
		if got := sameIssuer(tt.doc, tt.configured); got != tt.want {
			t.Errorf("sameIssuer(%q, %q) = %v", tt.doc, tt.configured, got)
		}
	}
}

func TestQuoteBounds(t *testing.T) {
	for _, s := range []string{"", "short", strings.Repeat("é", 500), strings.Repeat("a", 199) + "é", "line\nforged\x00"} {
		q := quote(s)
		if len(q) > maxQuote+2+len("…") {
			t.Errorf("quote of %d bytes is %d bytes", len(s), len(q))
		}
		if !utf8.ValidString(q) || strings.ContainsAny(q, "\n\x00") {
			t.Errorf("quote(%q) = %q", s, q)
		}
	}
	if got := clip(strings.Repeat("a", 199)+"é", 200); got != strings.Repeat("a", 199)+"…" {
		t.Errorf("clip cut a rune: %q", got)
	}
}

func TestBackoffDelay(t *testing.T) {
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second,
		32 * time.Second, 64 * time.Second, 128 * time.Second, 256 * time.Second, 5 * time.Minute, 5 * time.Minute}
	for i, w := range want {
		if got := backoffDelay(i + 1); got != w {
			t.Errorf("backoffDelay(%d) = %v, want %v", i+1, got, w)
		}
	}
	if got := backoffDelay(1 << 30); got != maxBackoff {
		t.Errorf("backoffDelay(huge) = %v", got)
	}
	for range 1000 {
		if d := halfJitter(time.Second); d < time.Second/2 || d > time.Second {
			t.Fatalf("halfJitter(1s) = %v", d)
		}
	}
}

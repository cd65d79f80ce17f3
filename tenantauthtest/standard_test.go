package tenantauthtest_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tenantauth/tenantauth/tenantauthtest"
)

func TestStandardLayout(t *testing.T) {
	for _, tls := range []bool{false, true} {
		srv := tenantauthtest.NewStandard(tenantauthtest.Config{TLS: tls})
		scheme := map[bool]string{false: "http://127.0.0.1:", true: "https://127.0.0.1:"}[tls]
		if !strings.HasPrefix(srv.URL, scheme) || srv.TokenURL() != srv.URL+"/oauth2/token" || srv.Issuer() != srv.URL {
			t.Errorf("tls=%v: URL %q, TokenURL %q, Issuer %q; want %s…, URL+/oauth2/token, URL", tls, srv.URL, srv.TokenURL(), srv.Issuer(), scheme)
		}
		if r := stdPassword(t, srv); r.status != http.StatusOK {
			t.Errorf("tls=%v: token status %d: %s", tls, r.status, r.body)
		}
		srv.Close()
	}
	for _, start := range []func(tenantauthtest.Config) *tenantauthtest.Server{tenantauthtest.NewKeycloak, tenantauthtest.NewPassport} {
		srv := start(tenantauthtest.Config{})
		if got := srv.Issuer(); got != "" {
			t.Errorf("Keycloak or Passport stand-in: Issuer() = %q, want \"\"", got)
		}
		srv.Close()
	}
}

func TestNewStandardPanicsOnUnknownAuthMethod(t *testing.T) {
	defer func() {
		r := recover()
		if s, _ := r.(string); !strings.Contains(s, `"tls_client_auth"`) {
			t.Errorf("recovered %v; want a panic naming the method", r)
		}
	}()
	srv := tenantauthtest.NewStandard(tenantauthtest.Config{AuthMethod: "tls_client_auth"})
	srv.Close()
	t.Error("NewStandard accepted an unknown AuthMethod")
}

func TestStandardGrants(t *testing.T) {
	odd := map[string]string{"my client:1": "s&e:c r+t%ç"}
	tests := []struct {
		name        string
		cfg         tenantauthtest.Config
		body        string
		auth        string
		wantRefresh bool
		wantScope   string
		wantType    string
		wantClient  string
		wantUser    string
	}{
		{
			name: "client_credentials with client_secret_basic",
			cfg:  tenantauthtest.Config{RefreshTokens: true},
			body: form("grant_type", "client_credentials"), auth: basicAuth("client", "secret"),
			wantType: "Bearer", wantClient: "client",
		},
		{
			name: "password without refresh tokens",
			body: form("grant_type", "password", "username", "user@example.com", "password", "password"), auth: basicAuth("client", "secret"),
			wantType: "Bearer", wantClient: "client", wantUser: "user@example.com",
		},
		{
			name: "password with refresh tokens",
			cfg:  tenantauthtest.Config{RefreshTokens: true},
			body: form("grant_type", "password", "username", "user@example.com", "password", "password"), auth: basicAuth("client", "secret"),
			wantRefresh: true, wantType: "Bearer", wantClient: "client", wantUser: "user@example.com",
		},
		{
			name: "requested scope is echoed",
			body: form("grant_type", "client_credentials", "scope", "read:items write:items"), auth: basicAuth("client", "secret"),
			wantScope: "read:items write:items", wantType: "Bearer", wantClient: "client",
		},
		{
			name: "Basic parts are form-decoded (RFC 6749 §2.3.1)",
			cfg:  tenantauthtest.Config{Clients: odd},
			body: form("grant_type", "client_credentials"), auth: basicAuth("my client:1", odd["my client:1"]),
			wantType: "Bearer", wantClient: "my client:1",
		},
		{
			name:     "Basic scheme in lower case",
			body:     form("grant_type", "client_credentials"),
			auth:     "basic " + base64.StdEncoding.EncodeToString([]byte("client:secret")),
			wantType: "Bearer", wantClient: "client",
		},
		{
			name: "client_id in the body as well, the same",
			body: form("grant_type", "client_credentials", "client_id", "client"), auth: basicAuth("client", "secret"),
			wantType: "Bearer", wantClient: "client",
		},
		{
			name:     "client_secret_post",
			cfg:      tenantauthtest.Config{AuthMethod: "client_secret_post", Clients: odd},
			body:     form("grant_type", "client_credentials", "client_id", "my client:1", "client_secret", odd["my client:1"]),
			wantType: "Bearer", wantClient: "my client:1",
		},
		{
			name: "lower-case token type",
			cfg:  tenantauthtest.Config{TokenType: "bearer"},
			body: form("grant_type", "client_credentials"), auth: basicAuth("client", "secret"),
			wantType: "bearer", wantClient: "client",
		},
		{
			name: "required parameter sent",
			cfg:  tenantauthtest.Config{RequireParams: map[string]string{"audience": "https://api.example"}},
			body: form("grant_type", "client_credentials", "audience", "https://api.example"), auth: basicAuth("client", "secret"),
			wantType: "Bearer", wantClient: "client",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := tenantauthtest.NewStandard(tt.cfg)
			defer srv.Close()
			r := do(t, srv.Client(), request{url: srv.TokenURL(), contentType: formType + "; charset=UTF-8", body: tt.body, auth: tt.auth})
			if r.status != http.StatusOK {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			if got := r.header.Get("Content-Type"); got != "application/json" {
				t.Errorf("Content-Type = %q", got)
			}
			if r.header.Get("Cache-Control") != "no-store" || r.header.Get("Pragma") != "no-cache" {
				t.Errorf("cache headers = %q, %q", r.header.Get("Cache-Control"), r.header.Get("Pragma"))
			}
			want := []string{"access_token", "expires_in", "token_type"}
			if tt.wantRefresh {
				want = append(want, "refresh_token")
			}
			if tt.wantScope != "" {
				want = append(want, "scope")
			}
			if got := keys(r.json); !slices.Equal(got, sorted(want)) {
				t.Errorf("members %v, want %v (RFC 6749 §5.1, nothing else)", got, sorted(want))
			}
			if r.num("expires_in") != 3600 || r.str("token_type") != tt.wantType || r.str("scope") != tt.wantScope {
				t.Errorf("expires_in %d, token_type %q, scope %q; want 3600, %q, %q",
					r.num("expires_in"), r.str("token_type"), r.str("scope"), tt.wantType, tt.wantScope)
			}
			a := api(t, srv, r.str("access_token"))
			if a.status != http.StatusOK || a.str("client_id") != tt.wantClient || a.str("username") != tt.wantUser {
				t.Errorf("API: status %d, client %q, user %q; want 200, %q, %q", a.status, a.str("client_id"), a.str("username"), tt.wantClient, tt.wantUser)
			}
			if st := srv.Stats(); st.ByClient[tt.wantClient] != 1 {
				t.Errorf("ByClient = %v, want %q once", st.ByClient, tt.wantClient)
			}
		})
	}
}

// wantOAuthError checks an RFC 6749 §5.2 answer: status, code, the
// no-store header, a JSON body with error and error_description only, and
// no secret in the description.
func wantOAuthError(t *testing.T, what string, r reply, status int, code string, secrets ...string) {
	t.Helper()
	if r.status != status || r.str("error") != code {
		t.Errorf("%s: %d %s; want %d %s", what, r.status, r.body, status, code)
		return
	}
	if got := keys(r.json); !slices.Equal(got, []string{"error", "error_description"}) {
		t.Errorf("%s: members %v, want error and error_description", what, got)
	}
	if r.header.Get("Content-Type") != "application/json" || r.header.Get("Cache-Control") != "no-store" {
		t.Errorf("%s: Content-Type %q, Cache-Control %q", what, r.header.Get("Content-Type"), r.header.Get("Cache-Control"))
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(r.body, s) {
			t.Errorf("%s: the answer %s contains %q", what, r.body, s)
		}
	}
}

func TestStandardAuthMethods(t *testing.T) {
	const secret = "s3cr3t+value"
	clients := map[string]string{"client": secret}
	cc := form("grant_type", "client_credentials")
	post := form("grant_type", "client_credentials", "client_id", "client", "client_secret", secret)
	tests := []struct {
		name      string
		method    string // Config.AuthMethod
		body      string
		auth      string
		status    int
		code      string
		challenge bool // WWW-Authenticate: Basic
	}{
		{"basic: accepted", "", cc, basicAuth("client", secret), 200, "", false},
		{"basic: explicit method accepted", "client_secret_basic", cc, basicAuth("client", secret), 200, "", false},
		{"basic: client_secret_post refused", "", post, "", 401, "invalid_client", false},
		{"basic: both methods refused", "", post, basicAuth("client", secret), 401, "invalid_client", true},
		{"basic: no client authentication", "", form("grant_type", "client_credentials", "client_id", "client"), "", 401, "invalid_client", false},
		{"basic: wrong secret", "", cc, basicAuth("client", "wrong"), 401, "invalid_client", true},
		{"basic: unknown client", "", cc, basicAuth("nobody", secret), 401, "invalid_client", true},
		{"basic: secret not form-encoded", "", cc, "Basic " + base64.StdEncoding.EncodeToString([]byte("client:"+secret)), 401, "invalid_client", true},
		{"basic: not base64", "", cc, "Basic !!!", 401, "invalid_client", true},
		{"basic: another scheme", "", cc, "Bearer abc", 401, "invalid_client", true},
		{"basic: body client_id differs", "", form("grant_type", "client_credentials", "client_id", "other"), basicAuth("client", secret), 401, "invalid_client", true},
		{"post: accepted", "client_secret_post", post, "", 200, "", false},
		{"post: client_secret_basic refused", "client_secret_post", cc, basicAuth("client", secret), 401, "invalid_client", true},
		{"post: both methods refused", "client_secret_post", post, basicAuth("client", secret), 401, "invalid_client", true},
		{"post: no secret", "client_secret_post", form("grant_type", "client_credentials", "client_id", "client"), "", 401, "invalid_client", false},
		{"post: wrong secret", "client_secret_post", form("grant_type", "client_credentials", "client_id", "client", "client_secret", "wrong"), "", 401, "invalid_client", false},
	}
	for _, tt := range tests {
		srv := tenantauthtest.NewStandard(tenantauthtest.Config{AuthMethod: tt.method, Clients: clients})
		r := do(t, srv.Client(), request{url: srv.TokenURL(), contentType: formType, body: tt.body, auth: tt.auth})
		srv.Close()
		if tt.status == http.StatusOK {
			if r.status != http.StatusOK {
				t.Errorf("%s: %d %s, want 200", tt.name, r.status, r.body)
			}
			continue
		}
		wantOAuthError(t, tt.name, r, tt.status, tt.code, secret, "wrong")
		if got := r.header.Get("WWW-Authenticate"); (got != "") != tt.challenge || (got != "" && !strings.HasPrefix(got, "Basic ")) {
			t.Errorf("%s: WWW-Authenticate %q, want a Basic challenge: %v", tt.name, got, tt.challenge)
		}
	}
}

func TestStandardRequireParams(t *testing.T) {
	const aud = "https://api.example"
	cfg := tenantauthtest.Config{RefreshTokens: true, RequireParams: map[string]string{"audience": aud, "resource": "urn:r"}}
	srv := tenantauthtest.NewStandard(cfg)
	defer srv.Close()
	ok := []string{"audience", aud, "resource", "urn:r"}
	cc := func(kv ...string) reply {
		t.Helper()
		return stdPost(t, srv, "client", "secret", append([]string{"grant_type", "client_credentials"}, kv...)...)
	}
	tests := []struct {
		name     string
		r        reply
		mentions string
	}{
		{"both missing: the first by name", cc(), `"audience"`},
		{"one missing", cc("audience", aud), `"resource"`},
		{"another value", cc("audience", "https://evil.example/x", "resource", "urn:r"), `"audience"`},
		{"an empty value", cc("audience", "", "resource", "urn:r"), `"audience"`},
	}
	for _, tt := range tests {
		wantOAuthError(t, tt.name, tt.r, http.StatusBadRequest, "invalid_request", "evil.example", aud)
		if d := tt.r.str("error_description"); !strings.Contains(d, tt.mentions) {
			t.Errorf("%s: error_description %q does not name %s", tt.name, d, tt.mentions)
		}
	}
	if r := cc(ok...); r.status != http.StatusOK {
		t.Fatalf("with the parameters: %d %s", r.status, r.body)
	}
	pw := stdPost(t, srv, "client", "secret", append([]string{"grant_type", "password", "username", "user@example.com", "password", "password"}, ok...)...)
	if pw.status != http.StatusOK {
		t.Fatalf("password grant with the parameters: %d %s", pw.status, pw.body)
	}
	// Refreshes need them too.
	r := stdPost(t, srv, "client", "secret", "grant_type", "refresh_token", "refresh_token", pw.str("refresh_token"))
	wantOAuthError(t, "refresh without the parameters", r, http.StatusBadRequest, "invalid_request", pw.str("refresh_token"))
	r = stdPost(t, srv, "client", "secret", append([]string{"grant_type", "refresh_token", "refresh_token", pw.str("refresh_token")}, ok...)...)
	if r.status != http.StatusOK {
		t.Errorf("refresh with the parameters: %d %s", r.status, r.body)
	}
	// Client authentication comes first.
	r = stdPost(t, srv, "client", "wrong", "grant_type", "client_credentials")
	wantOAuthError(t, "wrong secret, no parameters", r, http.StatusUnauthorized, "invalid_client")

	// Keycloak and Passport ignore the knob, as the real servers ignore
	// parameters they do not know.
	for _, start := range []func(tenantauthtest.Config) *tenantauthtest.Server{tenantauthtest.NewKeycloak, tenantauthtest.NewPassport} {
		other := start(cfg)
		r := do(t, other.Client(), request{url: other.TokenURL(), contentType: formType,
			body: form("grant_type", "client_credentials", "client_id", "client", "client_secret", "secret")})
		if r.status != http.StatusOK {
			t.Errorf("%s: RequireParams applied: %d %s", other.TokenURL(), r.status, r.body)
		}
		other.Close()
	}
}

func TestStandardErrors(t *testing.T) {
	const secret, password = "Sekr1t-value", "Pa55-value"
	srv := tenantauthtest.NewStandard(tenantauthtest.Config{
		Clients: map[string]string{"client": secret},
		Users:   map[string]string{"user@example.com": password},
	})
	defer srv.Close()
	basic := basicAuth("client", secret)
	tests := []struct {
		name        string
		rq          request
		status      int
		code        string
		mentions    string
		allowHeader string
	}{
		{"GET", request{method: http.MethodGet, url: srv.TokenURL(), auth: basic}, 405, "invalid_request", "POST", "POST"},
		{"JSON body", request{url: srv.TokenURL(), contentType: "application/json", body: `{"grant_type":"client_credentials"}`, auth: basic},
			400, "invalid_request", "x-www-form-urlencoded", ""},
		{"repeated parameter", request{url: srv.TokenURL(), contentType: formType, body: "grant_type=client_credentials&scope=a&scope=b", auth: basic},
			400, "invalid_request", "more than once", ""},
		{"no grant_type", request{url: srv.TokenURL(), contentType: formType, body: form("scope", "a"), auth: basic},
			400, "invalid_request", `"grant_type"`, ""},
		{"unknown grant_type", request{url: srv.TokenURL(), contentType: formType, body: form("grant_type", "authorization_code"), auth: basic},
			400, "unsupported_grant_type", "", ""},
		{"no username", request{url: srv.TokenURL(), contentType: formType, body: form("grant_type", "password", "password", password), auth: basic},
			400, "invalid_request", `"username"`, ""},
		{"no password", request{url: srv.TokenURL(), contentType: formType, body: form("grant_type", "password", "username", "user@example.com"), auth: basic},
			400, "invalid_request", `"password"`, ""},
		{"wrong password", request{url: srv.TokenURL(), contentType: formType,
			body: form("grant_type", "password", "username", "user@example.com", "password", "wrong"), auth: basic}, 400, "invalid_grant", "", ""},
		{"unknown user", request{url: srv.TokenURL(), contentType: formType,
			body: form("grant_type", "password", "username", "nobody@example.com", "password", password), auth: basic}, 400, "invalid_grant", "", ""},
		{"no refresh_token", request{url: srv.TokenURL(), contentType: formType, body: form("grant_type", "refresh_token"), auth: basic},
			400, "invalid_request", `"refresh_token"`, ""},
		{"unknown refresh_token", request{url: srv.TokenURL(), contentType: formType, body: form("grant_type", "refresh_token", "refresh_token", "forged"), auth: basic},
			400, "invalid_grant", "", ""},
	}
	for _, tt := range tests {
		r := do(t, srv.Client(), tt.rq)
		wantOAuthError(t, tt.name, r, tt.status, tt.code, password, secret, "wrong")
		if d := r.str("error_description"); !strings.Contains(d, tt.mentions) {
			t.Errorf("%s: error_description %q, want it to mention %s", tt.name, d, tt.mentions)
		}
		if got := r.header.Get("Allow"); got != tt.allowHeader {
			t.Errorf("%s: Allow %q, want %q", tt.name, got, tt.allowHeader)
		}
	}
	// Refused before the dialect reads it, as by every stand-in.
	r := do(t, srv.Client(), request{url: srv.TokenURL(), contentType: formType, body: strings.Repeat("x", 1<<20+1), auth: basic})
	if r.status != http.StatusRequestEntityTooLarge || r.str("error") != "invalid_request" {
		t.Errorf("oversized body: %d %s; want 413 invalid_request", r.status, r.body)
	}
	if st := srv.Stats(); st.TokenRequests != len(tests)+1 || st.TokenErrors != len(tests)+1 {
		t.Errorf("stats: %d requests, %d errors; want %d of each", st.TokenRequests, st.TokenErrors, len(tests)+1)
	}
}

func TestStandardPasswordGrantDisabled(t *testing.T) {
	srv := tenantauthtest.NewStandard(tenantauthtest.Config{DisablePasswordGrant: true})
	defer srv.Close()
	wantOAuthError(t, "password grant", stdPassword(t, srv), http.StatusBadRequest, "unauthorized_client")
	if r := stdPost(t, srv, "client", "secret", "grant_type", "client_credentials"); r.status != http.StatusOK {
		t.Errorf("client_credentials: %d %s", r.status, r.body)
	}
}

func stdRefresh(t *testing.T, srv *tenantauthtest.Server, client, secret, rt string, kv ...string) reply {
	t.Helper()
	return stdPost(t, srv, client, secret, append([]string{"grant_type", "refresh_token", "refresh_token", rt}, kv...)...)
}

func TestStandardRefreshWithoutRotation(t *testing.T) {
	srv := tenantauthtest.NewStandard(tenantauthtest.Config{RefreshTokens: true})
	defer srv.Close()
	first := stdPost(t, srv, "client", "secret", "grant_type", "password", "username", "user@example.com", "password", "password", "scope", "read write")
	rt := first.str("refresh_token")
	for i := range 2 {
		r := stdRefresh(t, srv, "client", "secret", rt)
		// No new refresh token: the client keeps its own, as with Auth0.
		if r.status != http.StatusOK || r.has("refresh_token") || r.str("scope") != "read write" {
			t.Fatalf("refresh %d: %d %s; want 200, no refresh_token, scope \"read write\"", i, r.status, r.body)
		}
		if a := api(t, srv, r.str("access_token")); a.status != http.StatusOK || a.str("username") != "user@example.com" {
			t.Errorf("refresh %d: API %d %s", i, a.status, a.body)
		}
	}
	if a := api(t, srv, first.str("access_token")); a.status != http.StatusOK {
		t.Errorf("the first access token stopped working: %d", a.status)
	}
	if r := stdRefresh(t, srv, "client", "secret", rt, "scope", "read"); r.status != http.StatusOK || r.str("scope") != "read" {
		t.Errorf("narrowed scope: %d %s; want 200 with scope \"read\"", r.status, r.body)
	}
	wantOAuthError(t, "widened scope", stdRefresh(t, srv, "client", "secret", rt, "scope", "read admin"), http.StatusBadRequest, "invalid_scope", rt)
	if st := srv.Stats(); st.RefreshReuse != 0 {
		t.Errorf("RefreshReuse = %d, want 0 without rotation", st.RefreshReuse)
	}
}

func TestStandardRefreshRotation(t *testing.T) {
	srv := tenantauthtest.NewStandard(tenantauthtest.Config{RefreshTokens: true, RotateRefreshTokens: true})
	defer srv.Close()
	rt1 := stdPassword(t, srv).str("refresh_token")
	r := stdRefresh(t, srv, "client", "secret", rt1)
	rt2 := r.str("refresh_token")
	if r.status != http.StatusOK || rt2 == "" || rt2 == rt1 {
		t.Fatalf("refresh: %d %s; want a new refresh token", r.status, r.body)
	}
	// Reuse of the rotated-out token ends the family: rt2 dies too.
	wantOAuthError(t, "reuse", stdRefresh(t, srv, "client", "secret", rt1), http.StatusBadRequest, "invalid_grant", rt1)
	wantOAuthError(t, "the family's newest token after a reuse", stdRefresh(t, srv, "client", "secret", rt2), http.StatusBadRequest, "invalid_grant", rt2)
	if st := srv.Stats(); st.RefreshReuse != 1 {
		t.Errorf("RefreshReuse = %d, want 1", st.RefreshReuse)
	}
	// Another login starts another family.
	rt3 := stdPassword(t, srv).str("refresh_token")
	if r := stdRefresh(t, srv, "client", "secret", rt3); r.status != http.StatusOK {
		t.Errorf("a new family: %d %s", r.status, r.body)
	}
}

func TestStandardRefreshRefusals(t *testing.T) {
	clock := newFakeClock()
	srv := tenantauthtest.NewStandard(tenantauthtest.Config{
		RefreshTokens: true, Clock: clock,
		Clients: map[string]string{"client": "secret", "other": "secret2"},
	})
	defer srv.Close()
	rt := stdPassword(t, srv).str("refresh_token")
	wantOAuthError(t, "another client's token", stdRefresh(t, srv, "other", "secret2", rt), http.StatusBadRequest, "invalid_grant", rt)

	// 30 days by default.
	clock.Advance(30*24*time.Hour - time.Second)
	if r := stdRefresh(t, srv, "client", "secret", rt); r.status != http.StatusOK {
		t.Errorf("just before expiry: %d %s", r.status, r.body)
	}
	clock.Advance(time.Second)
	wantOAuthError(t, "expired", stdRefresh(t, srv, "client", "secret", rt), http.StatusBadRequest, "invalid_grant", rt)

	rt = stdPassword(t, srv).str("refresh_token")
	srv.RevokeAll()
	wantOAuthError(t, "after RevokeAll", stdRefresh(t, srv, "client", "secret", rt), http.StatusBadRequest, "invalid_grant", rt)
}

// discoveryDoc is what the standard server announces.
type discoveryDoc struct {
	Issuer        string   `json:"issuer"`
	TokenEndpoint string   `json:"token_endpoint"`
	AuthMethods   []string `json:"token_endpoint_auth_methods_supported"`
	GrantTypes    []string `json:"grant_types_supported"`
	ResponseTypes []string `json:"response_types_supported"`
	AuthzEndpoint *string  `json:"authorization_endpoint"`
	JWKSURI       *string  `json:"jwks_uri"`
}

func getDiscovery(t *testing.T, srv *tenantauthtest.Server, path string) (reply, discoveryDoc) {
	t.Helper()
	r := do(t, srv.Client(), request{method: http.MethodGet, url: srv.URL + path})
	var doc discoveryDoc
	if r.status == http.StatusOK {
		if err := json.Unmarshal([]byte(r.body), &doc); err != nil {
			t.Fatalf("GET %s: %v in %s", path, err, r.body)
		}
	}
	return r, doc
}

// The discovery documents' paths.
const (
	oidcPath    = "/.well-known/openid-configuration"
	rfc8414Path = "/.well-known/oauth-authorization-server"
)

func TestStandardDiscovery(t *testing.T) {
	tests := []struct {
		name        string
		cfg         tenantauthtest.Config
		wantMethod  string
		wantIssuer  func(*tenantauthtest.Server) string
		oidcMissing bool
	}{
		{"defaults", tenantauthtest.Config{}, "client_secret_basic", (*tenantauthtest.Server).Issuer, false},
		{"TLS", tenantauthtest.Config{TLS: true}, "client_secret_basic", (*tenantauthtest.Server).Issuer, false},
		{"client_secret_post", tenantauthtest.Config{AuthMethod: "client_secret_post"}, "client_secret_post", (*tenantauthtest.Server).Issuer, false},
		{"issuer override", tenantauthtest.Config{DiscoveryIssuer: "https://issuer.example/"}, "client_secret_basic",
			func(*tenantauthtest.Server) string { return "https://issuer.example/" }, false},
		{"OIDC discovery disabled", tenantauthtest.Config{DisableOIDCDiscovery: true}, "client_secret_basic", (*tenantauthtest.Server).Issuer, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := tenantauthtest.NewStandard(tt.cfg)
			defer srv.Close()
			if srv.Issuer() != srv.URL {
				t.Errorf("Issuer() = %q, want the URL %q, whatever the document says", srv.Issuer(), srv.URL)
			}
			oidc, _ := getDiscovery(t, srv, oidcPath)
			meta, metaDoc := getDiscovery(t, srv, rfc8414Path)
			switch {
			case tt.oidcMissing && oidc.status != http.StatusNotFound:
				t.Errorf("GET %s: %d, want 404", oidcPath, oidc.status)
			case !tt.oidcMissing && (oidc.status != http.StatusOK || oidc.body != meta.body):
				t.Errorf("GET %s: %d %s; want 200 and the RFC 8414 document %s", oidcPath, oidc.status, oidc.body, meta.body)
			}
			if meta.status != http.StatusOK || meta.header.Get("Content-Type") != "application/json" {
				t.Fatalf("GET %s: %d, Content-Type %q", rfc8414Path, meta.status, meta.header.Get("Content-Type"))
			}
			want := discoveryDoc{
				Issuer:        tt.wantIssuer(srv),
				TokenEndpoint: srv.TokenURL(),
				AuthMethods:   []string{tt.wantMethod},
				GrantTypes:    []string{"client_credentials", "password", "refresh_token"},
				ResponseTypes: []string{"token"},
			}
			if metaDoc.Issuer != want.Issuer || metaDoc.TokenEndpoint != want.TokenEndpoint ||
				!slices.Equal(metaDoc.AuthMethods, want.AuthMethods) || !slices.Equal(metaDoc.GrantTypes, want.GrantTypes) ||
				!slices.Equal(metaDoc.ResponseTypes, want.ResponseTypes) || metaDoc.AuthzEndpoint != nil || metaDoc.JWKSURI != nil {
				t.Errorf("document %s; want %+v", meta.body, want)
			}
			if st := srv.Stats(); st.Discovery != 2 || st.TokenRequests != 0 {
				t.Errorf("stats: %d discovery requests, %d token requests; want 2, 0", st.Discovery, st.TokenRequests)
			}
		})
	}
}

func TestStandardDiscoveryMethods(t *testing.T) {
	srv := tenantauthtest.NewStandard(tenantauthtest.Config{})
	defer srv.Close()
	for _, p := range []string{oidcPath, rfc8414Path} {
		if r := do(t, srv.Client(), request{method: http.MethodHead, url: srv.URL + p}); r.status != http.StatusOK || r.body != "" {
			t.Errorf("HEAD %s: %d %q; want 200 without a body", p, r.status, r.body)
		}
		r := do(t, srv.Client(), request{url: srv.URL + p, contentType: formType})
		if r.status != http.StatusMethodNotAllowed || r.header.Get("Allow") != "GET, HEAD" {
			t.Errorf("POST %s: %d, Allow %q; want 405, \"GET, HEAD\"", p, r.status, r.header.Get("Allow"))
		}
	}
	for _, p := range []string{"/.well-known/openid-configuration/x", "/oauth2/.well-known/openid-configuration", "/.well-known/"} {
		if r := do(t, srv.Client(), request{method: http.MethodGet, url: srv.URL + p}); r.status != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", p, r.status)
		}
	}
	if st := srv.Stats(); st.Discovery != 4 {
		t.Errorf("Discovery = %d, want 4 (the documents' paths only)", st.Discovery)
	}
}

// Discovery is no token request: latency, capacity and injected failures
// leave it alone, and it uses none of them up.
func TestStandardDiscoveryIsNoTokenRequest(t *testing.T) {
	srv := tenantauthtest.NewStandard(tenantauthtest.Config{Latency: time.Hour, Capacity: tenantauthtest.Capacity{Max: 1}})
	defer srv.Close()
	d := dialects[slices.IndexFunc(dialects, func(d dialectCase) bool { return d.name == "standard" })]
	h := hold(srv.Client(), d, srv)
	inService(t, srv, 1)
	srv.FailNext(1, tenantauthtest.Failure{Status: http.StatusInternalServerError})
	if r, _ := getDiscovery(t, srv, oidcPath); r.status != http.StatusOK {
		t.Errorf("discovery with the token endpoint full: %d", r.status)
	}
	h.stop(t)
	inService(t, srv, 0)
	srv.SetLatency(0)
	if r := d.token(t, srv); r.status != http.StatusInternalServerError {
		t.Errorf("first token request: %d, want the injected 500", r.status)
	}
	if st := srv.Stats(); st.Discovery != 1 || st.TokenRequests != 2 {
		t.Errorf("stats: %d discovery, %d token requests; want 1, 2", st.Discovery, st.TokenRequests)
	}
	srv.ResetStats()
	if st := srv.Stats(); st.Discovery != 0 {
		t.Errorf("after ResetStats: Discovery = %d", st.Discovery)
	}
}

func TestNoDiscoveryForKeycloakAndPassport(t *testing.T) {
	for _, start := range []func(tenantauthtest.Config) *tenantauthtest.Server{tenantauthtest.NewKeycloak, tenantauthtest.NewPassport} {
		srv := start(tenantauthtest.Config{})
		for _, p := range []string{oidcPath, rfc8414Path} {
			if r := do(t, srv.Client(), request{method: http.MethodGet, url: srv.URL + p}); r.status != http.StatusNotFound {
				t.Errorf("%s: GET %s: %d, want 404", srv.TokenURL(), p, r.status)
			}
		}
		if st := srv.Stats(); st.Discovery != 0 {
			t.Errorf("%s: Discovery = %d, want 0", srv.TokenURL(), st.Discovery)
		}
		srv.Close()
	}
}

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return sorted(out)
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

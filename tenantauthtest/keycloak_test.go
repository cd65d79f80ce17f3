package tenantauthtest_test

import (
	"encoding/base64"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tenantauth/tenantauth/tenantauthtest"
)

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestKeycloakTokenURL(t *testing.T) {
	tests := []struct {
		realm, want string
	}{
		{"", "/realms/fluencypass/protocol/openid-connect/token"},
		{"acme", "/realms/acme/protocol/openid-connect/token"},
		{"a b", "/realms/a%20b/protocol/openid-connect/token"},
	}
	for _, tt := range tests {
		srv := tenantauthtest.NewKeycloak(tenantauthtest.Config{Realm: tt.realm})
		if got := srv.TokenURL(); got != srv.URL+tt.want {
			t.Errorf("realm %q: TokenURL = %q, want %q", tt.realm, got, srv.URL+tt.want)
		}
		if !strings.HasPrefix(srv.URL, "http://127.0.0.1:") {
			t.Errorf("URL = %q, want http://127.0.0.1:…", srv.URL)
		}
		if r := kcPassword(t, srv); r.status != http.StatusOK {
			t.Errorf("realm %q: token status %d: %s", tt.realm, r.status, r.body)
		}
		srv.Close()
	}
}

func TestKeycloakGrants(t *testing.T) {
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("client:secret"))
	tests := []struct {
		name        string
		cfg         tenantauthtest.Config
		body        string
		auth        string
		wantRefresh bool
		wantSession bool
		wantScope   string
		wantType    string
		wantUser    string
	}{
		{
			name:        "password without refresh tokens (Fluencypass)",
			body:        form("grant_type", "password", "username", "user@example.com", "password", "password", "client_id", "client", "client_secret", "secret"),
			wantSession: true, wantScope: "profile email", wantType: "Bearer", wantUser: "user@example.com",
		},
		{
			name:        "password with refresh tokens",
			cfg:         tenantauthtest.Config{RefreshTokens: true},
			body:        form("grant_type", "password", "username", "user@example.com", "password", "password", "client_id", "client", "client_secret", "secret"),
			wantRefresh: true, wantSession: true, wantScope: "profile email", wantType: "Bearer", wantUser: "user@example.com",
		},
		{
			name:      "client_credentials never gets a refresh token",
			cfg:       tenantauthtest.Config{RefreshTokens: true},
			body:      form("grant_type", "client_credentials", "client_id", "client", "client_secret", "secret"),
			wantScope: "profile email", wantType: "Bearer",
		},
		{
			name:      "client_secret_basic",
			body:      form("grant_type", "client_credentials"),
			auth:      basic,
			wantScope: "profile email", wantType: "Bearer",
		},
		{
			name:      "form credentials win over Basic",
			body:      form("grant_type", "client_credentials", "client_id", "client", "client_secret", "secret"),
			auth:      "Basic " + base64.StdEncoding.EncodeToString([]byte("nobody:wrong")),
			wantScope: "profile email", wantType: "Bearer",
		},
		{
			name:      "requested scope comes first",
			body:      form("grant_type", "client_credentials", "client_id", "client", "client_secret", "secret", "scope", "openid email"),
			wantScope: "openid email profile", wantType: "Bearer",
		},
		{
			name:        "lower-case token type",
			cfg:         tenantauthtest.Config{TokenType: "bearer"},
			body:        form("grant_type", "password", "username", "user@example.com", "password", "password", "client_id", "client", "client_secret", "secret"),
			wantSession: true, wantScope: "profile email", wantType: "bearer", wantUser: "user@example.com",
		},
		{
			name: "custom clients and users",
			cfg: tenantauthtest.Config{
				Clients: map[string]string{"fluency-app": "s1"},
				Users:   map[string]string{"aluno@escola.com.br": "senha"},
			},
			body:        form("grant_type", "password", "username", "aluno@escola.com.br", "password", "senha", "client_id", "fluency-app", "client_secret", "s1"),
			wantSession: true, wantScope: "profile email", wantType: "Bearer", wantUser: "aluno@escola.com.br",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := tenantauthtest.NewKeycloak(tt.cfg)
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
			if got := r.str("access_token"); len(got) < 43 {
				t.Errorf("access_token %q too short", got)
			}
			if got := r.num("expires_in"); got != 3600 {
				t.Errorf("expires_in = %d, want 3600", got)
			}
			if got := r.str("token_type"); got != tt.wantType {
				t.Errorf("token_type = %q, want %q", got, tt.wantType)
			}
			if got := r.num("not-before-policy"); got != 0 {
				t.Errorf("not-before-policy = %d, want 0", got)
			}
			if got := r.str("scope"); got != tt.wantScope {
				t.Errorf("scope = %q, want %q", got, tt.wantScope)
			}
			if tt.wantRefresh {
				if r.str("refresh_token") == "" || r.num("refresh_expires_in") != 1800 {
					t.Errorf("refresh_token %q, refresh_expires_in %d; want a token and 1800", r.str("refresh_token"), r.num("refresh_expires_in"))
				}
			} else if r.has("refresh_token") || r.num("refresh_expires_in") != 0 {
				t.Errorf("refresh_token present %v, refresh_expires_in %d; want none and 0", r.has("refresh_token"), r.num("refresh_expires_in"))
			}
			if got := r.str("session_state"); tt.wantSession != uuidRE.MatchString(got) || tt.wantSession != r.has("session_state") {
				t.Errorf("session_state = %q, want present: %v", got, tt.wantSession)
			}
			a := api(t, srv, r.str("access_token"))
			if a.status != http.StatusOK || a.str("username") != tt.wantUser {
				t.Errorf("API: status %d, username %q, want 200 %q", a.status, a.str("username"), tt.wantUser)
			}
		})
	}
}

func TestKeycloakErrors(t *testing.T) {
	badBasic := "Basic " + base64.StdEncoding.EncodeToString([]byte("client:wrong"))
	password := []string{"grant_type", "password", "client_id", "client", "client_secret", "secret", "username", "user@example.com"}
	tests := []struct {
		name   string
		cfg    tenantauthtest.Config
		method string
		ctype  string // zero: form
		body   string
		auth   string
		status int
		code   string
		desc   string
		header string // "Name: value" expected
		noBody bool
	}{
		{name: "wrong password", body: form(append(password, "password", "nope")...),
			status: 401, code: "invalid_grant", desc: "Invalid user credentials"},
		{name: "unknown user", body: form("grant_type", "password", "client_id", "client", "client_secret", "secret", "username", "who@example.com", "password", "password"),
			status: 401, code: "invalid_grant", desc: "Invalid user credentials"},
		{name: "missing password", body: form(password...),
			status: 401, code: "invalid_grant", desc: "Invalid user credentials"},
		{name: "missing username", body: form("grant_type", "password", "client_id", "client", "client_secret", "secret", "password", "password"),
			status: 401, code: "invalid_request", desc: "Missing parameter: username"},
		{name: "wrong client secret", body: form("grant_type", "client_credentials", "client_id", "client", "client_secret", "nope"),
			status: 401, code: "unauthorized_client", desc: "Invalid client or Invalid client credentials"},
		{name: "missing client secret", body: form("grant_type", "client_credentials", "client_id", "client"),
			status: 401, code: "unauthorized_client", desc: "Invalid client or Invalid client credentials"},
		{name: "wrong Basic secret", body: form("grant_type", "client_credentials"), auth: badBasic,
			status: 401, code: "unauthorized_client", desc: "Invalid client or Invalid client credentials"},
		{name: "unknown client", body: form("grant_type", "client_credentials", "client_id", "other", "client_secret", "secret"),
			status: 401, code: "invalid_client", desc: "Invalid client or Invalid client credentials"},
		{name: "missing client_id", body: form("grant_type", "client_credentials", "client_secret", "secret"),
			status: 400, code: "invalid_client", desc: "Missing client_id parameter"},
		{name: "non-Basic Authorization without client_id", body: form("grant_type", "client_credentials"), auth: "Bearer abc",
			status: 401, header: `Www-Authenticate: Basic realm="fluencypass"`, noBody: true},
		{name: "unsupported grant", body: form("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer", "client_id", "client", "client_secret", "secret"),
			status: 400, code: "unsupported_grant_type", desc: "Unsupported grant_type"},
		{name: "missing grant_type", body: form("client_id", "client", "client_secret", "secret"),
			status: 400, code: "invalid_request", desc: "Missing form parameter: grant_type"},
		{name: "JSON body", ctype: "application/json", body: `{"grant_type":"client_credentials","client_id":"client","client_secret":"secret"}`,
			status: 400, code: "invalid_request", desc: "Missing form parameter: grant_type"},
		{name: "GET", method: http.MethodGet,
			status: 405, code: "HTTP 405 Method Not Allowed", desc: "For more on this error consult the server log at the debug level.", header: "Allow: POST, OPTIONS"},
		{name: "duplicated parameter", body: form("grant_type", "client_credentials", "client_id", "client", "client_secret", "secret", "scope", "a", "scope", "b"),
			status: 400, code: "invalid_request", desc: "duplicated parameter"},
		{name: "missing refresh token", body: form("grant_type", "refresh_token", "client_id", "client", "client_secret", "secret"),
			status: 400, code: "invalid_request", desc: "No refresh token"},
		{name: "bad refresh token", body: form("grant_type", "refresh_token", "client_id", "client", "client_secret", "secret", "refresh_token", "forged"),
			status: 400, code: "invalid_grant", desc: "Invalid refresh token"},
		{name: "password grant disabled", cfg: tenantauthtest.Config{DisablePasswordGrant: true}, body: form(append(password, "password", "password")...),
			status: 400, code: "unauthorized_client", desc: "Client not allowed for direct access grants"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := tenantauthtest.NewKeycloak(tt.cfg)
			defer srv.Close()
			ctype := tt.ctype
			if ctype == "" && tt.method == "" {
				ctype = formType
			}
			r := do(t, srv.Client(), request{method: tt.method, url: srv.TokenURL(), contentType: ctype, body: tt.body, auth: tt.auth})
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
			if tt.noBody {
				if r.body != "" {
					t.Errorf("body %q, want empty", r.body)
				}
			} else {
				if r.str("error") != tt.code || r.str("error_description") != tt.desc || len(r.json) != 2 {
					t.Errorf("body %s, want exactly error %q, error_description %q", r.body, tt.code, tt.desc)
				}
				if got := r.header.Get("Content-Type"); got != "application/json" {
					t.Errorf("Content-Type = %q", got)
				}
			}
			if tt.header != "" {
				name, value, _ := strings.Cut(tt.header, ": ")
				if got := r.header.Get(name); got != value {
					t.Errorf("%s = %q, want %q", name, got, value)
				}
			}
			st := srv.Stats()
			if st.TokenRequests != 1 || st.TokenErrors != 1 {
				t.Errorf("stats: %d requests, %d errors; want 1, 1", st.TokenRequests, st.TokenErrors)
			}
		})
	}
}

func TestKeycloakOptions(t *testing.T) {
	srv := tenantauthtest.NewKeycloak(tenantauthtest.Config{})
	defer srv.Close()
	r := do(t, srv.Client(), request{method: http.MethodOptions, url: srv.TokenURL()})
	if r.status != http.StatusOK || r.header.Get("Allow") != "POST, OPTIONS" {
		t.Errorf("OPTIONS: status %d, Allow %q", r.status, r.header.Get("Allow"))
	}
	if st := srv.Stats(); st.TokenErrors != 0 {
		t.Errorf("TokenErrors = %d, want 0", st.TokenErrors)
	}
}

// kcRefresh refreshes with the default client (or another one).
func kcRefresh(t testing.TB, srv *tenantauthtest.Server, rt string, client ...string) reply {
	t.Helper()
	id, secret := "client", "secret"
	if len(client) == 2 {
		id, secret = client[0], client[1]
	}
	return kcPost(t, srv, "grant_type", "refresh_token", "client_id", id, "client_secret", secret, "refresh_token", rt)
}

func TestKeycloakRefreshWithoutRotation(t *testing.T) {
	srv := tenantauthtest.NewKeycloak(tenantauthtest.Config{RefreshTokens: true})
	defer srv.Close()
	first := kcPassword(t, srv)
	rt := first.str("refresh_token")

	second := kcRefresh(t, srv, rt)
	if second.status != http.StatusOK || second.str("refresh_token") == "" || second.str("refresh_token") == rt {
		t.Fatalf("refresh: status %d, body %s; want 200 and a new refresh token", second.status, second.body)
	}
	if second.str("session_state") != first.str("session_state") {
		t.Errorf("session_state changed on refresh: %q → %q", first.str("session_state"), second.str("session_state"))
	}
	// Without rotation the old refresh token keeps working.
	if third := kcRefresh(t, srv, rt); third.status != http.StatusOK {
		t.Errorf("reuse without rotation: status %d: %s", third.status, third.body)
	}
	// Keycloak does not revoke the access token a refresh replaces.
	if a := api(t, srv, first.str("access_token")); a.status != http.StatusOK {
		t.Errorf("old access token after refresh: status %d, want 200", a.status)
	}
	if st := srv.Stats(); st.RefreshReuse != 0 || st.ByGrant["refresh_token"] != 2 {
		t.Errorf("stats %+v", st)
	}
}

func TestKeycloakRefreshRotation(t *testing.T) {
	srv := tenantauthtest.NewKeycloak(tenantauthtest.Config{RefreshTokens: true, RotateRefreshTokens: true})
	defer srv.Close()
	rt := kcPassword(t, srv).str("refresh_token")

	second := kcRefresh(t, srv, rt)
	if second.status != http.StatusOK {
		t.Fatalf("first use: status %d: %s", second.status, second.body)
	}
	steps := []struct {
		name string
		rt   string
		desc string
	}{
		{"reuse of the rotated token", rt, "Maximum allowed refresh token reuse exceeded"},
		{"the token the first use returned died with the session", second.str("refresh_token"), "Session not active"},
		{"a further reuse", rt, "Session not active"},
	}
	for _, s := range steps {
		r := kcRefresh(t, srv, s.rt)
		if r.status != http.StatusBadRequest || r.str("error") != "invalid_grant" || r.str("error_description") != s.desc {
			t.Errorf("%s: status %d, body %s; want 400 invalid_grant %q", s.name, r.status, r.body, s.desc)
		}
	}
	if got := srv.Stats().RefreshReuse; got != 2 {
		t.Errorf("RefreshReuse = %d, want 2", got)
	}
}

// Two refreshes of one single-use token at once: exactly one wins. This is
// the race the Manager's one-refresh-per-tenant rule exists for.
func TestKeycloakConcurrentRefreshBreaksChain(t *testing.T) {
	srv := tenantauthtest.NewKeycloak(tenantauthtest.Config{RefreshTokens: true, RotateRefreshTokens: true})
	defer srv.Close()
	rt := kcPassword(t, srv).str("refresh_token")

	const n = 10
	statuses := make(chan int, n)
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := doErr(srv.Client(), request{url: srv.TokenURL(), contentType: formType,
				body: form("grant_type", "refresh_token", "client_id", "client", "client_secret", "secret", "refresh_token", rt)})
			if err != nil {
				t.Error(err)
				return
			}
			statuses <- r.status
		}()
	}
	wg.Wait()
	close(statuses)
	ok := 0
	for s := range statuses {
		if s == http.StatusOK {
			ok++
		}
	}
	if ok != 1 {
		t.Errorf("%d refreshes succeeded, want exactly 1", ok)
	}
	if got := srv.Stats().RefreshReuse; got != n-1 {
		t.Errorf("RefreshReuse = %d, want %d", got, n-1)
	}
}

func TestKeycloakRefreshRefusals(t *testing.T) {
	clock := newFakeClock()
	tests := []struct {
		name   string
		before func(srv *tenantauthtest.Server)
		client []string
		desc   string
	}{
		{name: "other client", client: []string{"other", "s2"},
			desc: "Invalid refresh token. Token client and authorized client don't match"},
		{name: "expired", before: func(*tenantauthtest.Server) { clock.Advance(30 * time.Minute) },
			desc: "Token is not active"},
		{name: "after RevokeAll", before: func(srv *tenantauthtest.Server) { srv.RevokeAll() },
			desc: "Session not active"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := tenantauthtest.NewKeycloak(tenantauthtest.Config{
				RefreshTokens: true, Clock: clock,
				Clients: map[string]string{"client": "secret", "other": "s2"},
			})
			defer srv.Close()
			rt := kcPassword(t, srv).str("refresh_token")
			if tt.before != nil {
				tt.before(srv)
			}
			r := kcRefresh(t, srv, rt, tt.client...)
			if r.status != http.StatusBadRequest || r.str("error") != "invalid_grant" || r.str("error_description") != tt.desc {
				t.Errorf("status %d, body %s; want 400 invalid_grant %q", r.status, r.body, tt.desc)
			}
		})
	}
}

func TestKeycloakRefreshLifetime(t *testing.T) {
	clock := newFakeClock()
	srv := tenantauthtest.NewKeycloak(tenantauthtest.Config{RefreshTokens: true, RefreshTokenLifetime: 10 * time.Minute, Clock: clock})
	defer srv.Close()
	r := kcPassword(t, srv)
	if got := r.num("refresh_expires_in"); got != 600 {
		t.Fatalf("refresh_expires_in = %d, want 600", got)
	}
	clock.Advance(10*time.Minute - time.Second)
	r = kcRefresh(t, srv, r.str("refresh_token"))
	if r.status != http.StatusOK {
		t.Fatalf("refresh before expiry: status %d: %s", r.status, r.body)
	}
	clock.Advance(10 * time.Minute)
	if r = kcRefresh(t, srv, r.str("refresh_token")); r.str("error_description") != "Token is not active" {
		t.Errorf("refresh after expiry: %s", r.body)
	}
}

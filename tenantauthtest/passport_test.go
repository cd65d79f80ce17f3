package tenantauthtest_test

import (
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tenantauth/tenantauth/tenantauthtest"
)

func TestPassportGrants(t *testing.T) {
	hubsoft := tenantauthtest.Config{
		Clients: map[string]string{"3": "hub-secret"},
		Users:   map[string]string{"teste@teste.com": "1234"},
	}
	tests := []struct {
		name        string
		cfg         tenantauthtest.Config
		ctype       string
		body        string
		auth        string
		wantRefresh bool
		wantType    string
		wantClient  string
		wantUser    string
	}{
		{
			name:     "HubSoft JSON, client_id as string",
			cfg:      hubsoft,
			ctype:    "application/json",
			body:     `{"grant_type":"password","client_id":"3","client_secret":"hub-secret","username":"teste@teste.com","password":"1234"}`,
			wantType: "Bearer", wantClient: "3", wantUser: "teste@teste.com",
		},
		{
			name:     "client_id as JSON number",
			cfg:      hubsoft,
			ctype:    "application/json",
			body:     `{"grant_type":"password","client_id":3,"client_secret":"hub-secret","username":"teste@teste.com","password":"1234"}`,
			wantType: "Bearer", wantClient: "3", wantUser: "teste@teste.com",
		},
		{
			name:     "form body, as league accepts",
			cfg:      hubsoft,
			ctype:    formType,
			body:     form("grant_type", "password", "client_id", "3", "client_secret", "hub-secret", "username", "teste@teste.com", "password", "1234"),
			wantType: "Bearer", wantClient: "3", wantUser: "teste@teste.com",
		},
		{
			name:     "client in HTTP Basic",
			cfg:      hubsoft,
			ctype:    "application/json; charset=utf-8",
			body:     `{"grant_type":"password","username":"teste@teste.com","password":"1234"}`,
			auth:     "Basic " + base64.StdEncoding.EncodeToString([]byte("3:hub-secret")),
			wantType: "Bearer", wantClient: "3", wantUser: "teste@teste.com",
		},
		{
			name:        "refresh token on the password grant",
			cfg:         tenantauthtest.Config{RefreshTokens: true},
			ctype:       "application/json",
			body:        ppPasswordBody,
			wantRefresh: true, wantType: "Bearer", wantClient: "client", wantUser: "user@example.com",
		},
		{
			name:     "client_credentials",
			cfg:      tenantauthtest.Config{RefreshTokens: true},
			ctype:    "application/json",
			body:     `{"grant_type":"client_credentials","client_id":"client","client_secret":"secret"}`,
			wantType: "Bearer", wantClient: "client",
		},
		{
			name:     "lower-case token type",
			cfg:      tenantauthtest.Config{TokenType: "bearer"},
			ctype:    "application/json",
			body:     ppPasswordBody,
			wantType: "bearer", wantClient: "client", wantUser: "user@example.com",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := tenantauthtest.NewPassport(tt.cfg)
			defer srv.Close()
			r := do(t, srv.Client(), request{url: srv.TokenURL(), contentType: tt.ctype, body: tt.body, auth: tt.auth})
			if r.status != http.StatusOK {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			if got := r.header.Get("Content-Type"); got != "application/json; charset=UTF-8" {
				t.Errorf("Content-Type = %q", got)
			}
			if r.header.Get("Cache-Control") != "no-store" || r.header.Get("Pragma") != "no-cache" {
				t.Errorf("cache headers = %q, %q", r.header.Get("Cache-Control"), r.header.Get("Pragma"))
			}
			// league's field order.
			if want := `{"token_type":"` + tt.wantType + `","expires_in":3600,"access_token":"`; !strings.HasPrefix(r.body, want) {
				t.Errorf("body %s, want prefix %s", r.body, want)
			}
			if tt.wantRefresh != (r.str("refresh_token") != "") || len(r.json) != 3+map[bool]int{true: 1}[tt.wantRefresh] {
				t.Errorf("body %s, want refresh token: %v", r.body, tt.wantRefresh)
			}
			a := api(t, srv, r.str("access_token"))
			if a.status != http.StatusOK || a.str("client_id") != tt.wantClient || a.str("username") != tt.wantUser {
				t.Errorf("API: status %d, %s; want client %q, user %q", a.status, a.body, tt.wantClient, tt.wantUser)
			}
		})
	}
}

func TestPassportErrors(t *testing.T) {
	const (
		invalidRequest = "The request is missing a required parameter, includes an invalid parameter value, " +
			"includes a parameter more than once, or is otherwise malformed."
		unsupported = "The authorization grant type is not supported by the authorization server."
	)
	hint := func(p string) string { return "Check the `" + p + "` parameter" }
	tests := []struct {
		name   string
		cfg    tenantauthtest.Config
		method string
		ctype  string // zero: JSON
		body   string
		auth   string
		status int
		code   string
		desc   string // also the message
		hint   string // "-": no hint key
		header string // "Name: value" expected; "Name: " absent
	}{
		{name: "wrong password",
			body:   `{"grant_type":"password","client_id":"client","client_secret":"secret","username":"user@example.com","password":"nope"}`,
			status: 400, code: "invalid_grant", desc: "The user credentials were incorrect.", hint: "-"},
		{name: "unknown user",
			body:   `{"grant_type":"password","client_id":"client","client_secret":"secret","username":"who@example.com","password":"password"}`,
			status: 400, code: "invalid_grant", desc: "The user credentials were incorrect.", hint: "-"},
		{name: "wrong client secret",
			body:   `{"grant_type":"password","client_id":"client","client_secret":"nope","username":"user@example.com","password":"password"}`,
			status: 401, code: "invalid_client", desc: "Client authentication failed", hint: "-", header: "Www-Authenticate: "},
		{name: "missing client secret",
			body:   `{"grant_type":"client_credentials","client_id":"client"}`,
			status: 401, code: "invalid_client", desc: "Client authentication failed", hint: "-"},
		{name: "unknown numeric client",
			body:   `{"grant_type":"client_credentials","client_id":4,"client_secret":"secret"}`,
			status: 401, code: "invalid_client", desc: "Client authentication failed", hint: "-"},
		{name: "wrong Basic secret", body: `{"grant_type":"client_credentials"}`,
			auth:   "Basic " + base64.StdEncoding.EncodeToString([]byte("client:nope")),
			status: 401, code: "invalid_client", desc: "Client authentication failed", hint: "-", header: `Www-Authenticate: Basic realm="OAuth"`},
		{name: "missing client_id", body: `{"grant_type":"client_credentials","client_secret":"secret"}`,
			status: 400, code: "invalid_request", desc: invalidRequest, hint: hint("client_id")},
		{name: "client_id as object", body: `{"grant_type":"client_credentials","client_id":{"id":1},"client_secret":"secret"}`,
			status: 400, code: "invalid_request", desc: invalidRequest, hint: hint("client_id")},
		{name: "client_id null", body: `{"grant_type":"client_credentials","client_id":null,"client_secret":"secret"}`,
			status: 400, code: "invalid_request", desc: invalidRequest, hint: hint("client_id")},
		{name: "missing username", body: `{"grant_type":"password","client_id":"client","client_secret":"secret","password":"password"}`,
			status: 400, code: "invalid_request", desc: invalidRequest, hint: hint("username")},
		{name: "missing password", body: `{"grant_type":"password","client_id":"client","client_secret":"secret","username":"user@example.com"}`,
			status: 400, code: "invalid_request", desc: invalidRequest, hint: hint("password")},
		{name: "unsupported grant", body: `{"grant_type":"authorization_code","client_id":"client","client_secret":"secret"}`,
			status: 400, code: "unsupported_grant_type", desc: unsupported, hint: "Check that all required parameters have been provided"},
		{name: "missing grant_type", body: `{"client_id":"client","client_secret":"secret"}`,
			status: 400, code: "unsupported_grant_type", desc: unsupported, hint: "Check that all required parameters have been provided"},
		{name: "JSON without JSON content type", ctype: "text/plain", body: ppPasswordBody,
			status: 400, code: "unsupported_grant_type", desc: unsupported, hint: "Check that all required parameters have been provided"},
		{name: "malformed JSON", body: `{"grant_type":"password",`,
			status: 400, code: "unsupported_grant_type", desc: unsupported, hint: "Check that all required parameters have been provided"},
		{name: "password grant disabled (Passport 12)", cfg: tenantauthtest.Config{DisablePasswordGrant: true}, body: ppPasswordBody,
			status: 400, code: "unsupported_grant_type", desc: unsupported, hint: "Check that all required parameters have been provided"},
		{name: "missing refresh token", body: `{"grant_type":"refresh_token","client_id":"client","client_secret":"secret"}`,
			status: 400, code: "invalid_request", desc: invalidRequest, hint: hint("refresh_token")},
		{name: "forged refresh token", body: `{"grant_type":"refresh_token","client_id":"client","client_secret":"secret","refresh_token":"def502"}`,
			status: 401, code: "invalid_request", desc: "The refresh token is invalid.", hint: "Cannot decrypt the refresh token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := tenantauthtest.NewPassport(tt.cfg)
			defer srv.Close()
			ctype := tt.ctype
			if ctype == "" {
				ctype = "application/json"
			}
			r := do(t, srv.Client(), request{method: tt.method, url: srv.TokenURL(), contentType: ctype, body: tt.body, auth: tt.auth})
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
			if r.str("error") != tt.code || r.str("error_description") != tt.desc || r.str("message") != tt.desc {
				t.Errorf("body %s, want error %q, error_description and message %q", r.body, tt.code, tt.desc)
			}
			wantKeys := 3
			if tt.hint != "-" {
				wantKeys = 4
				if got := r.str("hint"); got != tt.hint {
					t.Errorf("hint = %q, want %q", got, tt.hint)
				}
			}
			if len(r.json) != wantKeys {
				t.Errorf("body %s has %d keys, want %d", r.body, len(r.json), wantKeys)
			}
			if tt.header != "" {
				name, value, _ := strings.Cut(tt.header, ": ")
				if got := r.header.Get(name); got != value {
					t.Errorf("%s = %q, want %q", name, got, value)
				}
			}
			if st := srv.Stats(); st.TokenRequests != 1 || st.TokenErrors != 1 {
				t.Errorf("stats: %d requests, %d errors; want 1, 1", st.TokenRequests, st.TokenErrors)
			}
		})
	}
}

func TestPassportMethodNotAllowed(t *testing.T) {
	srv := tenantauthtest.NewPassport(tenantauthtest.Config{})
	defer srv.Close()
	r := do(t, srv.Client(), request{method: http.MethodGet, url: srv.TokenURL()})
	want := "The GET method is not supported for route oauth/token. Supported methods: POST."
	if r.status != http.StatusMethodNotAllowed || r.str("message") != want || r.header.Get("Allow") != "POST" {
		t.Errorf("status %d, Allow %q, body %s", r.status, r.header.Get("Allow"), r.body)
	}
}

func ppRefresh(t testing.TB, srv *tenantauthtest.Server, rt, client, secret string) reply {
	t.Helper()
	return ppPost(t, srv, `{"grant_type":"refresh_token","client_id":"`+client+`","client_secret":"`+secret+`","refresh_token":"`+rt+`"}`)
}

// league always rotates: a refresh revokes the old refresh token and the
// old access token, whatever RotateRefreshTokens says.
func TestPassportRefreshRotates(t *testing.T) {
	srv := tenantauthtest.NewPassport(tenantauthtest.Config{RefreshTokens: true})
	defer srv.Close()
	first := ppPost(t, srv, ppPasswordBody)
	rt := first.str("refresh_token")

	second := ppRefresh(t, srv, rt, "client", "secret")
	if second.status != http.StatusOK || second.str("refresh_token") == "" || second.str("refresh_token") == rt {
		t.Fatalf("refresh: status %d, body %s", second.status, second.body)
	}
	if a := api(t, srv, first.str("access_token")); a.status != http.StatusUnauthorized {
		t.Errorf("old access token after refresh: status %d, want 401", a.status)
	}
	if a := api(t, srv, second.str("access_token")); a.status != http.StatusOK || a.str("username") != "user@example.com" {
		t.Errorf("new access token: status %d, %s", a.status, a.body)
	}
	reuse := ppRefresh(t, srv, rt, "client", "secret")
	if reuse.status != http.StatusUnauthorized || reuse.str("error") != "invalid_request" || reuse.str("hint") != "Token has been revoked" {
		t.Errorf("reuse: status %d, body %s", reuse.status, reuse.body)
	}
	// Unlike Keycloak, league does not end the family on reuse.
	if third := ppRefresh(t, srv, second.str("refresh_token"), "client", "secret"); third.status != http.StatusOK {
		t.Errorf("rotated token after a reuse: status %d, %s", third.status, third.body)
	}
	if got := srv.Stats().RefreshReuse; got != 1 {
		t.Errorf("RefreshReuse = %d, want 1", got)
	}
}

func TestPassportRefreshRefusals(t *testing.T) {
	clock := newFakeClock()
	tests := []struct {
		name           string
		before         func(*tenantauthtest.Server)
		client, secret string
		hint           string
	}{
		{name: "other client", client: "other", secret: "s2", hint: "Token is not linked to client"},
		{name: "expired", before: func(*tenantauthtest.Server) { clock.Advance(30 * 24 * time.Hour) },
			client: "client", secret: "secret", hint: "Token has expired"},
		{name: "after RevokeAll", before: func(s *tenantauthtest.Server) { s.RevokeAll() },
			client: "client", secret: "secret", hint: "Token has been revoked"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := tenantauthtest.NewPassport(tenantauthtest.Config{
				RefreshTokens: true, Clock: clock,
				Clients: map[string]string{"client": "secret", "other": "s2"},
			})
			defer srv.Close()
			rt := ppPost(t, srv, ppPasswordBody).str("refresh_token")
			if tt.before != nil {
				tt.before(srv)
			}
			r := ppRefresh(t, srv, rt, tt.client, tt.secret)
			if r.status != http.StatusUnauthorized || r.str("error_description") != "The refresh token is invalid." || r.str("hint") != tt.hint {
				t.Errorf("status %d, body %s; want 401 with hint %q", r.status, r.body, tt.hint)
			}
			if got := srv.Stats().RefreshReuse; got != 0 {
				t.Errorf("RefreshReuse = %d, want 0", got)
			}
		})
	}
}

func TestPassportFormQuirks(t *testing.T) {
	srv := tenantauthtest.NewPassport(tenantauthtest.Config{})
	defer srv.Close()
	tests := []struct {
		name   string
		body   string
		status int
	}{
		// PHP's parse_str: the last of repeated keys wins.
		{"last value wins", form("grant_type", "client_credentials", "client_id", "nobody", "client_id", "client", "client_secret", "secret"), 200},
		// client_id[]=… makes an array, which league refuses.
		{"array parameter", form("grant_type", "client_credentials", "client_id[]", "client", "client_secret", "secret"), 400},
	}
	for _, tt := range tests {
		r := do(t, srv.Client(), request{url: srv.TokenURL(), contentType: formType, body: tt.body})
		if r.status != tt.status {
			t.Errorf("%s: status %d, want %d: %s", tt.name, r.status, tt.status, r.body)
		}
	}
}

package interop

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tenantauth/tenantauth"
	"github.com/tenantauth/tenantauth/providers/oidc"
	"github.com/tenantauth/tenantauth/providers/tokenclient"
)

// The generic providers/oidc provider against the same real servers:
// oidc-provider (keycloak.mjs) by its issuer, so that the token endpoint
// comes from the server's own discovery document, and @jmondi/oauth2-server
// (passport.mjs, which has no discovery document) by its TokenURL.

// The one RFC 8707 resource keycloak.mjs knows (RESOURCE, RESOURCE_SCOPE).
const (
	kcResource      = "https://api.interop.test/"
	kcResourceScope = "api:read"
)

// herd is how many concurrent Token calls share one token request.
const herd = 20

// kcIssuer is keycloak.mjs's issuer: the realm's URL, as Keycloak's.
func kcIssuer(s *server) string { return s.base + "/realms/" + kcRealm }

// A wireCount is the RoundTripper of an oidc Provider's http.Client, over a
// recorder: it counts discovery requests (GET …/.well-known/…), token
// requests (POST) and anything else.
type wireCount struct {
	next                    http.RoundTripper
	discovery, token, other atomic.Int64
}

func (w *wireCount) RoundTrip(req *http.Request) (*http.Response, error) {
	switch {
	case req.Method == http.MethodGet && strings.Contains(req.URL.Path, "/.well-known/"):
		w.discovery.Add(1)
	case req.Method == http.MethodPost:
		w.token.Add(1)
	default:
		w.other.Add(1)
	}
	return w.next.RoundTrip(req)
}

// counts returns discovery, token and other requests so far.
func (w *wireCount) counts() [3]int64 {
	return [3]int64{w.discovery.Load(), w.token.Load(), w.other.Load()}
}

// newOIDC returns an oidc provider for cfg whose requests pass through a
// wireCount and a recorder. AllowInsecureHTTP stays false: plain http is
// accepted because every URL is on loopback.
func newOIDC(t *testing.T, cfg oidc.Config) (*oidc.Provider, *recorder, *wireCount) {
	t.Helper()
	rec := newRecorder(t)
	wc := &wireCount{next: rec}
	cfg.HTTPClient = &http.Client{Transport: wc, Timeout: 15 * time.Second}
	p, err := oidc.New(cfg)
	if err != nil {
		t.Fatalf("oidc.New: %v", err)
	}
	t.Cleanup(p.CloseIdleConnections)
	if n := wc.counts(); n != [3]int64{} {
		t.Fatalf("oidc.New sent requests (discovery, token, other) %v; want none", n)
	}
	return p, rec, wc
}

// discoveredTokenEndpoint fetches the issuer's discovery document without
// the provider and returns its issuer and token_endpoint.
func discoveredTokenEndpoint(t *testing.T, issuer string) (string, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, issuer+"/.well-known/openid-configuration", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := adminClient.Do(req)
	if err != nil {
		t.Fatalf("GET discovery document: %v", err)
	}
	defer resp.Body.Close()
	var doc struct {
		Issuer        string `json:"issuer"`
		TokenEndpoint string `json:"token_endpoint"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&doc); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET discovery document: status %d, %v", resp.StatusCode, err)
	}
	return doc.Issuer, doc.TokenEndpoint
}

// tokenHerd makes herd concurrent Token calls for tenant, released at once,
// and returns the token they all got.
func tokenHerd(t *testing.T, m *tenantauth.Manager, tenant string) *tenantauth.Token {
	t.Helper()
	start := make(chan struct{})
	toks := make([]*tenantauth.Token, herd)
	errs := make([]error, herd)
	var wg sync.WaitGroup
	for i := range herd {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			toks[i], errs[i] = m.Token(t.Context(), tenant)
		}()
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Token call %d of %d: %v", i+1, herd, err)
		}
		if toks[i].AccessToken != toks[0].AccessToken {
			t.Fatalf("Token calls of one herd got different tokens")
		}
	}
	return toks[0]
}

// checkOnlyEndpoint checks that the Manager keys its admission state by the
// provider's Endpoint (the issuer), never by the discovered token URL.
func checkOnlyEndpoint(t *testing.T, m *tenantauth.Manager, want string) {
	t.Helper()
	eps := m.Stats().Endpoints
	if len(eps) == 0 {
		t.Errorf("the Manager tracks no endpoint; want %q", want)
	}
	for _, e := range eps {
		if e.Endpoint != want {
			t.Errorf("the Manager tracks endpoint %q; want only %q", e.Endpoint, want)
		}
	}
}

// TestOIDCDiscovery: oidc.Config{Issuer} against oidc-provider's real
// discovery document, with the method the document leads to
// (client_secret_basic, the first it lists) and with client_secret_post set
// in Config.AuthMethod. A herd of Token calls costs one discovery and one
// token request; the token works at the server's resource.
func TestOIDCDiscovery(t *testing.T) {
	requireServers(t)
	s := kcMain
	issuer := kcIssuer(s)
	docIssuer, docTokenURL := discoveredTokenEndpoint(t, issuer)
	if docIssuer != issuer || docTokenURL != issuer+"/protocol/openid-connect/token" {
		t.Fatalf("keycloak.mjs's document names issuer %q, token_endpoint %q; want %q and Keycloak's token path under it",
			docIssuer, docTokenURL, issuer)
	}

	cases := []struct {
		name   string
		method tokenclient.AuthMethod
		id     string
		secret string
		basic  bool // the secret must travel in a Basic header
	}{
		{"client_secret_basic/discovered", "", kcBasicID, kcBasicSecret, true},
		{"client_secret_post/configured", tokenclient.ClientSecretPost, kcPostID, kcPostSecret, false},
	}
	for _, tc := range cases {
		t.Run("client_credentials/"+tc.name, func(t *testing.T) {
			s.attach(t)
			p, rec, wc := newOIDC(t, oidc.Config{Issuer: issuer, AuthMethod: tc.method})
			if got := p.Endpoint(); got != issuer {
				t.Fatalf("Endpoint() = %q before discovery, want the issuer %q", got, issuer)
			}
			m, fetches := newManager(t, tenantauth.Tenants{"acme": {Provider: p, Credentials: kcClientCreds(tc.id, tc.secret)}}, nil)
			s.reset(t)

			before := time.Now()
			tok := tokenHerd(t, m, "acme")
			if n := wc.counts(); n != [3]int64{1, 1, 0} {
				t.Errorf("%d Token calls sent (discovery, token, other) requests %v; want [1 1 0]", herd, n)
			}
			if st := s.stats(t); st.Tokens["client_credentials"].OK != 1 || st.requests() != 1 {
				t.Errorf("server saw token requests %+v; want 1 successful client_credentials grant", st.Tokens)
			}
			if got := fetches.okFor("acme"); got != 1 {
				t.Errorf("the Manager fetched %d tokens; want 1", got)
			}
			wantForm("client_credentials", tc.basic)(t, rec.take())
			if life := tok.Expiry.Sub(before); life < 290*time.Second || life > 310*time.Second {
				t.Errorf("Expiry - now = %v, want about 300s", life)
			}
			if !tok.RefreshToken.IsZero() {
				t.Error("client_credentials returned a refresh token")
			}
			if status, body := getWithToken(t, s, tok); status != http.StatusOK || body["client_id"] != tc.id {
				t.Fatalf("GET /api/me = %d %v; want 200 with client_id=%q", status, body, tc.id)
			}

			// Discovery happened, and is kept: TokenURL is the document's
			// token_endpoint, without another request.
			if got, err := p.TokenURL(t.Context()); err != nil || got != docTokenURL {
				t.Errorf("TokenURL = %q, %v; want the document's token_endpoint %q", got, err, docTokenURL)
			}
			if got := p.Endpoint(); got != issuer {
				t.Errorf("Endpoint() = %q after discovery, want the issuer %q", got, issuer)
			}
			checkOnlyEndpoint(t, m, issuer)
			if n := wc.counts(); n != [3]int64{1, 1, 0} {
				t.Errorf("after TokenURL: requests (discovery, token, other) %v; want still [1 1 0]", n)
			}
		})
	}

	// The password grant and its refresh, through the discovered endpoint
	// and the discovered method; the server rotates the refresh token.
	t.Run("password/refresh_token", func(t *testing.T) {
		s.attach(t)
		p, rec, wc := newOIDC(t, oidc.Config{Issuer: issuer})
		creds := kcPasswordCreds(kcBasicID, kcBasicSecret)
		m, _ := newManager(t, tenantauth.Tenants{"acme": {Provider: p, Credentials: creds}}, nil)
		s.reset(t)

		tok := tokenHerd(t, m, "acme")
		wantForm("password", true, "username", "password")(t, rec.take())
		if tok.RefreshToken.IsZero() {
			t.Fatal("the password grant returned no refresh token")
		}
		if status, body := getWithToken(t, s, tok); status != http.StatusOK || body["sub"] != kcUserSub {
			t.Fatalf("GET /api/me = %d %v; want 200 with sub=%q", status, body, kcUserSub)
		}

		renewed, err := p.Exchange(t.Context(), tenantauth.TokenRequest{
			Grant: tenantauth.GrantRefreshToken, Credentials: creds, RefreshToken: tok.RefreshToken,
		})
		if err != nil {
			t.Fatalf("refresh: %v", err)
		}
		wantForm("refresh_token", true, "refresh_token")(t, rec.take())
		if renewed.AccessToken == tok.AccessToken || renewed.RefreshToken.IsZero() || renewed.RefreshToken == tok.RefreshToken {
			t.Error("the refresh did not return a new access token and a new (rotated) refresh token")
		}
		if status, body := getWithToken(t, s, renewed); status != http.StatusOK || body["sub"] != kcUserSub {
			t.Fatalf("refreshed token: GET /api/me = %d %v; want 200 with sub=%q", status, body, kcUserSub)
		}
		st := s.stats(t)
		if st.Tokens["password"].OK != 1 || st.Tokens["refresh_token"].OK != 1 || st.requests() != 2 {
			t.Errorf("server saw token requests %+v; want 1 password grant and 1 refresh", st.Tokens)
		}
		if n := wc.counts(); n != [3]int64{1, 2, 0} {
			t.Errorf("requests (discovery, token, other) %v; want [1 2 0]", n)
		}
	})
}

// TestOIDCEndpointParams: Credentials.EndpointParams reach oidc-provider as
// an RFC 8707 resource indicator; the token is for that resource, with the
// resource's scope. A resource the server does not know is its refusal
// (invalid_target), which shows the parameter is really sent.
func TestOIDCEndpointParams(t *testing.T) {
	requireServers(t)
	s := kcMain
	s.attach(t)
	p, rec, _ := newOIDC(t, oidc.Config{Issuer: kcIssuer(s)})
	api := kcClientCreds(kcBasicID, kcBasicSecret)
	api.Scopes = []string{kcResourceScope}
	api.EndpointParams = url.Values{"resource": {kcResource}}
	unknown := kcClientCreds(kcBasicID, kcBasicSecret)
	unknown.EndpointParams = url.Values{"resource": {"https://unknown.interop.test/"}}
	m, _ := newManager(t, tenantauth.Tenants{
		"api":     {Provider: p, Credentials: api},
		"unknown": {Provider: p, Credentials: unknown},
	}, nil)

	tok, err := m.Token(t.Context(), "api")
	if err != nil {
		t.Fatalf("Token: %v", err)
	}
	wantForm("client_credentials", true, "resource", "scope")(t, rec.take())
	if tok.Scope != kcResourceScope {
		t.Errorf("granted scope %q, want %q", tok.Scope, kcResourceScope)
	}
	status, body := getWithToken(t, s, tok)
	if status != http.StatusOK || body["aud"] != kcResource || body["scope"] != kcResourceScope {
		t.Fatalf("GET /api/me = %d %v; want 200 with aud=%q and scope=%q", status, body, kcResource, kcResourceScope)
	}

	_, err = m.Token(t.Context(), "unknown")
	var te *tenantauth.TokenError
	if !errors.As(err, &te) || te.Code != "invalid_target" || te.StatusCode != http.StatusBadRequest {
		t.Fatalf("unknown resource: %v; want a 400 TokenError invalid_target", err)
	}
	if errors.Is(err, tenantauth.ErrInvalidCredentials) {
		t.Errorf("unknown resource: %v matches ErrInvalidCredentials", err)
	}
}

// TestOIDCRefusals: a wrong client secret is refused by the discovered
// token endpoint with either method, and the error is ErrInvalidCredentials
// with the server's code, never a discovery error.
func TestOIDCRefusals(t *testing.T) {
	requireServers(t)
	cases := []struct {
		name     string
		srv      func() *server
		cfg      func(s *server) oidc.Config
		bad      tenantauth.Credentials
		tokenURL func(s *server) string
	}{
		{
			name: "keycloak/issuer/client_secret_basic", srv: func() *server { return kcMain },
			cfg:      func(s *server) oidc.Config { return oidc.Config{Issuer: kcIssuer(s)} },
			bad:      kcClientCreds(kcBasicID, wrongSecret),
			tokenURL: func(s *server) string { return kcIssuer(s) + "/protocol/openid-connect/token" },
		},
		{
			name: "keycloak/issuer/client_secret_post", srv: func() *server { return kcMain },
			cfg: func(s *server) oidc.Config {
				return oidc.Config{Issuer: kcIssuer(s), AuthMethod: tokenclient.ClientSecretPost}
			},
			bad:      kcPasswordCreds(kcPostID, wrongSecret),
			tokenURL: func(s *server) string { return kcIssuer(s) + "/protocol/openid-connect/token" },
		},
		{
			name: "passport/token_url/client_secret_basic", srv: func() *server { return ppMain },
			cfg:      func(s *server) oidc.Config { return oidc.Config{TokenURL: s.base + "/oauth/token"} },
			bad:      tenantauth.Credentials{ClientID: ppClientID, ClientSecret: wrongSecret, Username: ppUser, Password: ppUserPassword},
			tokenURL: func(s *server) string { return s.base + "/oauth/token" },
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.srv()
			s.attach(t)
			p, _, wc := newOIDC(t, tc.cfg(s))
			m, _ := newManager(t, tenantauth.Tenants{"bad": {Provider: p, Credentials: tc.bad}}, nil)
			s.reset(t)

			for i := range 2 {
				_, err := m.Token(t.Context(), "bad")
				if !errors.Is(err, tenantauth.ErrInvalidCredentials) || errors.Is(err, oidc.ErrDiscovery) {
					t.Fatalf("call %d: %v; want ErrInvalidCredentials, not ErrDiscovery", i+1, err)
				}
				var te *tenantauth.TokenError
				if !errors.As(err, &te) || te.Code != "invalid_client" || te.StatusCode != http.StatusUnauthorized || te.Endpoint != tc.tokenURL(s) {
					t.Errorf("call %d: %v; want a 401 TokenError invalid_client from %s", i+1, err, tc.tokenURL(s))
				}
				if strings.Contains(err.Error(), wrongSecret) {
					t.Errorf("error %q contains the secret", err)
				}
			}
			// The second call was answered from memory.
			if n := s.stats(t).requests(); n != 1 || wc.token.Load() != 1 {
				t.Errorf("the server saw %d token requests (provider sent %d); want 1, the refusal remembered", n, wc.token.Load())
			}
		})
	}
}

// TestOIDCWrongIssuer: an issuer that is not the server's fails as a
// discovery error, and no token request is sent. With an extra path there is
// no document (404 at both well-known URLs); at oidc-provider's mount path
// there is one, naming the realm as issuer (ErrIssuerMismatch).
func TestOIDCWrongIssuer(t *testing.T) {
	requireServers(t)
	s := kcMain
	cases := []struct {
		name      string
		suffix    string
		mismatch  bool  // ErrIssuerMismatch
		discovery int64 // discovery requests
	}{
		{"extra_path", "/extra", false, 2},
		{"mount_path", "/protocol/openid-connect", true, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s.attach(t)
			issuer := kcIssuer(s) + tc.suffix
			p, _, wc := newOIDC(t, oidc.Config{Issuer: issuer})
			m, _ := newManager(t, tenantauth.Tenants{"acme": {Provider: p, Credentials: kcClientCreds(kcBasicID, kcBasicSecret)}}, nil)
			s.reset(t)

			check := func(err error) {
				t.Helper()
				if !errors.Is(err, oidc.ErrDiscovery) || errors.Is(err, oidc.ErrIssuerMismatch) != tc.mismatch {
					t.Fatalf("Token: %v; want ErrDiscovery (ErrIssuerMismatch: %v)", err, tc.mismatch)
				}
				if errors.Is(err, tenantauth.ErrInvalidCredentials) {
					t.Errorf("Token: %v matches ErrInvalidCredentials", err)
				}
				var te *tenantauth.TokenError
				if errors.As(err, &te) {
					t.Errorf("Token: %v is a TokenError", err)
				}
			}
			_, err := m.Token(t.Context(), "acme")
			failed := time.Now()
			check(err)
			t.Logf("Token: %v", err)
			if n := wc.counts(); n != [3]int64{tc.discovery, 0, 0} {
				t.Errorf("requests (discovery, token, other) %v; want [%d 0 0]", n, tc.discovery)
			}
			// Within the Provider's backoff after a failed discovery (at
			// least 0.5 s), another call fails the same way without a request.
			_, err = m.Token(t.Context(), "acme")
			check(err)
			if n := wc.counts(); time.Since(failed) < 400*time.Millisecond && n != [3]int64{tc.discovery, 0, 0} {
				t.Errorf("a second call within the backoff: requests (discovery, token, other) %v; want still [%d 0 0]", n, tc.discovery)
			}
			if n := s.stats(t).requests(); n != 0 {
				t.Errorf("the server saw %d token requests; want 0", n)
			}
			if got := p.Endpoint(); got != issuer {
				t.Errorf("Endpoint() = %q, want the configured issuer %q", got, issuer)
			}
			if _, err := p.TokenURL(t.Context()); !errors.Is(err, oidc.ErrDiscovery) {
				t.Errorf("TokenURL: %v; want ErrDiscovery", err)
			}
		})
	}
}

// TestOIDCTokenURL: oidc.Config{TokenURL} against @jmondi/oauth2-server,
// which has no discovery document: nothing is discovered, the default
// client_secret_basic and a configured client_secret_post both work, with
// client_credentials, password and refresh_token.
func TestOIDCTokenURL(t *testing.T) {
	requireServers(t)
	s := ppMain
	tokenURL := s.base + "/oauth/token"

	cases := []struct {
		method tokenclient.AuthMethod
		basic  bool
	}{
		{"", true}, // Config.AuthMethod zero with TokenURL: client_secret_basic
		{tokenclient.ClientSecretPost, false},
	}
	for _, tc := range cases {
		name := string(tc.method)
		if name == "" {
			name = "client_secret_basic/default"
		}
		t.Run(name, func(t *testing.T) {
			s.attach(t)
			p, rec, wc := newOIDC(t, oidc.Config{TokenURL: tokenURL, AuthMethod: tc.method})
			if got, err := p.TokenURL(t.Context()); err != nil || got != tokenURL || p.Endpoint() != tokenURL {
				t.Fatalf("TokenURL = %q, %v, Endpoint() = %q; want %q for both", got, err, p.Endpoint(), tokenURL)
			}
			pw := ppPasswordCreds()
			m, _ := newManager(t, tenantauth.Tenants{
				"cc": {Provider: p, Credentials: ppClientCreds()},
				"pw": {Provider: p, Credentials: pw},
			}, nil)
			s.reset(t)

			cc := tokenHerd(t, m, "cc")
			wantForm("client_credentials", tc.basic)(t, rec.take())
			if n := wc.counts(); n != [3]int64{0, 1, 0} {
				t.Errorf("%d Token calls sent (discovery, token, other) requests %v; want [0 1 0]", herd, n)
			}
			if status, body := getWithToken(t, s, cc); status != http.StatusOK || body["client_id"] != ppClientID {
				t.Fatalf("client_credentials token: GET /api/me = %d %v; want 200 with client_id=%q", status, body, ppClientID)
			}

			tok, err := m.Token(t.Context(), "pw")
			if err != nil {
				t.Fatalf("Token(pw): %v", err)
			}
			wantForm("password", tc.basic, "username", "password")(t, rec.take())
			if tok.RefreshToken.IsZero() {
				t.Fatal("the password grant returned no refresh token")
			}
			if status, body := getWithToken(t, s, tok); status != http.StatusOK || body["user"] != ppUser {
				t.Fatalf("password token: GET /api/me = %d %v; want 200 with user=%q", status, body, ppUser)
			}

			renewed, err := p.Exchange(t.Context(), tenantauth.TokenRequest{
				Grant: tenantauth.GrantRefreshToken, Credentials: pw, RefreshToken: tok.RefreshToken,
			})
			if err != nil {
				t.Fatalf("refresh: %v", err)
			}
			wantForm("refresh_token", tc.basic, "refresh_token")(t, rec.take())
			if status, body := getWithToken(t, s, renewed); status != http.StatusOK || body["user"] != ppUser {
				t.Fatalf("refreshed token: GET /api/me = %d %v; want 200 with user=%q", status, body, ppUser)
			}
			// Passport revokes the old access token on a refresh.
			if status, _ := getWithToken(t, s, tok); status != http.StatusUnauthorized {
				t.Errorf("the access token replaced by the refresh: GET /api/me = %d, want 401", status)
			}

			st := s.stats(t)
			want := map[string]int{"client_credentials": 1, "password": 1, "refresh_token": 1}
			for g, n := range want {
				if st.Tokens[g].OK != n {
					t.Errorf("server issued %d %s tokens; want %d (all: %+v)", st.Tokens[g].OK, g, n, st.Tokens)
				}
			}
			if n := wc.counts(); n != [3]int64{0, 3, 0} || st.requests() != 3 {
				t.Errorf("requests (discovery, token, other) %v, server saw %d; want [0 3 0] and 3", n, st.requests())
			}
		})
	}
}

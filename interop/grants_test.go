package interop

import (
	"errors"
	"math"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tenantauth/tenantauth"
	"github.com/tenantauth/tenantauth/providers/keycloak"
)

// grantCase is one tenant on one real server, for the grant tests.
type grantCase struct {
	name     string
	srv      func() *server
	provider func(t *testing.T, s *server) (tenantauth.Provider, *recorder)
	creds    tenantauth.Credentials
	// wire checks the shape of the token request the provider sent.
	wire func(t *testing.T, ex exchange)
	// who is the identity the protected resource must report.
	whoKey, who string
	refresh     bool // a refresh token is expected
}

func kcProvider(auth keycloak.ClientAuth) func(*testing.T, *server) (tenantauth.Provider, *recorder) {
	return func(t *testing.T, s *server) (tenantauth.Provider, *recorder) { return newKeycloak(t, s, auth) }
}

func ppProvider(t *testing.T, s *server) (tenantauth.Provider, *recorder) { return newPassport(t, s) }

// wantForm checks a keycloak request: a form, the client authenticated as
// configured (secret in the form for post, Basic header for basic).
func wantForm(grant string, basic bool, extra ...string) func(*testing.T, exchange) {
	return func(t *testing.T, ex exchange) {
		t.Helper()
		want := append([]string{"grant_type"}, extra...)
		if !basic {
			want = append(want, "client_id", "client_secret")
		}
		slices.Sort(want)
		if !slices.Equal(ex.Fields, want) || ex.BasicAuth != basic {
			t.Errorf("%s request: form fields %v, Basic auth %v; want fields %v, Basic auth %v",
				grant, ex.Fields, ex.BasicAuth, want, basic)
		}
	}
}

// wantJSON checks a passport request: a JSON body with exactly these
// members, as HubSoft documents it, and no Basic header.
func wantJSON(members ...string) func(*testing.T, exchange) {
	return func(t *testing.T, ex exchange) {
		t.Helper()
		want := slices.Clone(members)
		slices.Sort(want)
		if !slices.Equal(ex.Fields, want) || ex.BasicAuth {
			t.Errorf("request: JSON members %v, Basic auth %v; want %v, no Basic auth", ex.Fields, ex.BasicAuth, want)
		}
	}
}

// Matrix 1 and 2: the password and client_credentials grants through the
// real provider and Manager, and the token works at the real protected
// resource.
func TestGrants(t *testing.T) {
	requireServers(t)
	cases := []grantCase{
		{
			name: "keycloak/password/client_secret_post", srv: func() *server { return kcMain },
			provider: kcProvider(keycloak.ClientAuthBody), creds: kcPasswordCreds(kcPostID, kcPostSecret),
			wire: wantForm("password", false, "username", "password"), whoKey: "sub", who: kcUserSub, refresh: true,
		},
		{
			name: "keycloak/password/client_secret_basic", srv: func() *server { return kcMain },
			provider: kcProvider(keycloak.ClientAuthBasic), creds: kcPasswordCreds(kcBasicID, kcBasicSecret),
			wire: wantForm("password", true, "username", "password"), whoKey: "sub", who: kcUserSub, refresh: true,
		},
		{
			name: "keycloak/client_credentials/client_secret_post", srv: func() *server { return kcMain },
			provider: kcProvider(keycloak.ClientAuthBody), creds: kcClientCreds(kcPostID, kcPostSecret),
			wire: wantForm("client_credentials", false), whoKey: "client_id", who: kcPostID,
		},
		{
			name: "keycloak/client_credentials/client_secret_basic", srv: func() *server { return kcMain },
			provider: kcProvider(keycloak.ClientAuthBasic), creds: kcClientCreds(kcBasicID, kcBasicSecret),
			wire: wantForm("client_credentials", true), whoKey: "client_id", who: kcBasicID,
		},
		{
			name: "passport/password", srv: func() *server { return ppMain },
			provider: ppProvider, creds: ppPasswordCreds(),
			wire:   wantJSON("grant_type", "client_id", "client_secret", "username", "password"),
			whoKey: "user", who: ppUser, refresh: true,
		},
		{
			name: "passport/client_credentials", srv: func() *server { return ppMain },
			provider: ppProvider, creds: ppClientCreds(),
			wire:   wantJSON("grant_type", "client_id", "client_secret"),
			whoKey: "client_id", who: ppClientID,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.srv()
			s.attach(t)
			p, rec := tc.provider(t, s)
			m, _ := newManager(t, tenantauth.Tenants{"acme": {Provider: p, Credentials: tc.creds}}, nil)

			before := time.Now()
			tok, err := m.Token(t.Context(), "acme")
			if err != nil {
				t.Fatalf("Token: %v", err)
			}
			tc.wire(t, rec.take())
			if tok.TokenType != "Bearer" {
				t.Errorf("TokenType = %q, want Bearer", tok.TokenType)
			}
			// Both servers are started with 300 s tokens; passport floors
			// expires_in, so 299 s is also right.
			if life := tok.Expiry.Sub(before); life < 290*time.Second || life > 310*time.Second {
				t.Errorf("Expiry - now = %v, want about 300s", life)
			}
			if got := !tok.RefreshToken.IsZero(); got != tc.refresh {
				t.Errorf("refresh token present = %v, want %v", got, tc.refresh)
			}

			status, body := getWithToken(t, s, tok)
			if status != http.StatusOK || body[tc.whoKey] != tc.who {
				t.Fatalf("GET /api/me = %d %v; want 200 with %s=%q", status, body, tc.whoKey, tc.who)
			}

			// A second Token call is served from the cache: no request.
			n := rec.n.Load()
			tok2, err := m.Token(t.Context(), "acme")
			if err != nil || tok2.AccessToken != tok.AccessToken || rec.n.Load() != n {
				t.Errorf("second Token: err %v, same token %v, new requests %d; want the cached token",
					err, err == nil && tok2.AccessToken == tok.AccessToken, rec.n.Load()-n)
			}
		})
	}
}

// loadCase is one real server with a short token lifetime and two tenants
// on it: one with the password grant (refresh tokens, rotated by the
// server) and one with client_credentials.
type loadCase struct {
	name       string
	srv        func() *server
	pw, cc     func(t *testing.T, s *server) (tenantauth.Provider, tenantauth.Credentials)
	reusedCode string // what the server answers a rotated refresh token
}

// Matrix 3 and 4: short lifetimes crossing expiry under concurrent load.
// Every API call must succeed; token requests stay near one per lifetime;
// the Manager renews with the refresh token, never presents one twice, and
// the real server refuses a rotated one.
func TestExpiryAndRotationUnderLoad(t *testing.T) {
	requireServers(t)
	const (
		workers  = 16
		duration = 7 * time.Second
		maxCalls = 500 // per worker; with the pause, the time limit ends the run first
		pause    = 15 * time.Millisecond
	)
	cases := []loadCase{
		{
			name: "keycloak", srv: func() *server { return kcShort }, reusedCode: "invalid_grant",
			pw: func(t *testing.T, s *server) (tenantauth.Provider, tenantauth.Credentials) {
				p, _ := newKeycloak(t, s, keycloak.ClientAuthBody)
				return p, kcPasswordCreds(kcPostID, kcPostSecret)
			},
			cc: func(t *testing.T, s *server) (tenantauth.Provider, tenantauth.Credentials) {
				p, _ := newKeycloak(t, s, keycloak.ClientAuthBasic)
				return p, kcClientCreds(kcBasicID, kcBasicSecret)
			},
		},
		{
			// league/oauth2-server answers invalid_request ("Token has been
			// revoked") to a rotated refresh token, not invalid_grant.
			name: "passport", srv: func() *server { return ppShort }, reusedCode: "invalid_request",
			pw: func(t *testing.T, s *server) (tenantauth.Provider, tenantauth.Credentials) {
				p, _ := newPassport(t, s)
				return p, ppPasswordCreds()
			},
			cc: func(t *testing.T, s *server) (tenantauth.Provider, tenantauth.Credentials) {
				p, _ := newPassport(t, s)
				return p, ppClientCreds()
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.srv()
			s.attach(t)
			pwProv, pwCreds := tc.pw(t, s)
			ccProv, ccCreds := tc.cc(t, s)
			m, fetches := newManager(t, tenantauth.Tenants{
				"pw": {Provider: pwProv, Credentials: pwCreds},
				"cc": {Provider: ccProv, Credentials: ccCreds},
			}, nil)
			c := apiClient(t, m)
			s.reset(t)

			first, err := m.Token(t.Context(), "pw")
			if err != nil {
				t.Fatalf("Token(pw): %v", err)
			}
			if first.RefreshToken.IsZero() {
				t.Fatal("the password grant returned no refresh token; rotation cannot be tested")
			}
			life := first.Expiry.Sub(first.IssuedAt)
			if first.IssuedAt.IsZero() || life < time.Second || life > 4*time.Second {
				t.Fatalf("token lifetime %v (IssuedAt %v, Expiry %v), want 2-3 s", life, first.IssuedAt, first.Expiry)
			}

			start := time.Now()
			res := runLoad(t.Context(), c, s.base+"/api/orders", []string{"pw", "cc"}, workers, duration, maxCalls, pause)
			elapsed := time.Since(start)
			st := s.stats(t)
			t.Logf("%d API calls in %v over %v tokens; server: tokens %+v, api ok %d, api 401 %d (each retried once), refresh reuse %d; Manager: %v",
				res.calls.Load(), elapsed.Round(time.Millisecond), life, st.Tokens, st.APIOK, st.APIUnauthorized, st.RefreshReuse, fetches)

			if f := res.failures.Load(); f > 0 {
				t.Errorf("%d of %d API calls failed; first: %s", f, res.calls.Load(), res.firstFailure)
			}
			if res.calls.Load() < workers {
				t.Errorf("only %d API calls were made", res.calls.Load())
			}
			// Renewal happens a little before expiry (skew and refresh-ahead
			// take at most 3/4 of the lifetime together), so one token per
			// half lifetime, plus the first and one in flight, is a generous
			// ceiling that a per-request or per-burst fetch would break.
			limit := int(math.Ceil(float64(elapsed)/float64(life/2))) + 2
			pwIssued := st.Tokens["password"].OK + st.Tokens["refresh_token"].OK
			ccIssued := st.Tokens["client_credentials"].OK
			if pwIssued > limit || ccIssued > limit {
				t.Errorf("tokens issued: pw %d, cc %d in %v of %v tokens; want at most %d each", pwIssued, ccIssued, elapsed, life, limit)
			}
			if minimum := int(elapsed/life) + 1; pwIssued < minimum || ccIssued < minimum {
				t.Errorf("tokens issued: pw %d, cc %d in %v of %v tokens; want at least %d each (tokens expire)", pwIssued, ccIssued, elapsed, life, minimum)
			}
			// The Manager must renew the password tenant with its refresh
			// token, not the password: one password grant, then refreshes.
			if st.Tokens["password"].OK != 1 || st.Tokens["refresh_token"].OK == 0 {
				t.Errorf("password grants %d, refresh grants %d; want 1 password grant and the rest refresh grants",
					st.Tokens["password"].OK, st.Tokens["refresh_token"].OK)
			}
			if st.RefreshReuse != 0 || st.Tokens["refresh_token"].Error != 0 {
				t.Errorf("the server saw %d reused refresh tokens and refused %d refreshes; want 0 and 0",
					st.RefreshReuse, st.Tokens["refresh_token"].Error)
			}

			// The real server refuses the first, rotated refresh token.
			_, err = pwProv.Exchange(t.Context(), tenantauth.TokenRequest{
				Grant: tenantauth.GrantRefreshToken, Credentials: pwCreds, RefreshToken: first.RefreshToken,
			})
			var te *tenantauth.TokenError
			if !errors.As(err, &te) || te.Code != tc.reusedCode || te.StatusCode != http.StatusBadRequest {
				t.Errorf("reusing a rotated refresh token: %v; want a 400 TokenError %s", err, tc.reusedCode)
			}
			if got := s.stats(t).RefreshReuse; got != 1 {
				t.Errorf("server counted %d refresh token reuses after one deliberate reuse; want 1 (the counter is broken)", got)
			}
		})
	}
}

// Matrix 5: every token is revoked on the server (Passport after an
// upgrade); the API answers 401; httpauth's Transport recovers with one
// retry, and a burst of concurrent rejected calls costs one new token.
func TestRevocationRecovers(t *testing.T) {
	requireServers(t)
	const burst = 8
	cases := []struct {
		name       string
		srv        func() *server
		provider   func(*testing.T, *server) (tenantauth.Provider, *recorder)
		creds      tenantauth.Credentials
		hasRefresh bool // a refresh token exists, so one refused refresh attempt may precede the full grant
	}{
		{"keycloak/client_credentials", func() *server { return kcMain }, kcProvider(keycloak.ClientAuthBody), kcClientCreds(kcPostID, kcPostSecret), false},
		{"keycloak/password", func() *server { return kcMain }, kcProvider(keycloak.ClientAuthBasic), kcPasswordCreds(kcBasicID, kcBasicSecret), true},
		{"passport/password", func() *server { return ppMain }, ppProvider, ppPasswordCreds(), true},
		{"passport/client_credentials", func() *server { return ppMain }, ppProvider, ppClientCreds(), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.srv()
			s.attach(t)
			p, _ := tc.provider(t, s)
			m, fetches := newManager(t, tenantauth.Tenants{"acme": {Provider: p, Credentials: tc.creds}}, nil)
			c := apiClient(t, m)
			url := s.base + "/api/customers"

			if status, body, err := apiGet(t.Context(), c, "acme", url); err != nil || status != http.StatusOK {
				t.Fatalf("first call: %d %s %v", status, body, err)
			}
			before := fetches.okFor("acme")
			s.revokeAll(t)
			s.reset(t)

			start := make(chan struct{})
			errs := make(chan string, burst)
			for range burst {
				go func() {
					<-start
					status, body, err := apiGet(t.Context(), c, "acme", url)
					switch {
					case err != nil:
						errs <- err.Error()
					case status != http.StatusOK:
						errs <- string(body)
					default:
						errs <- ""
					}
				}()
			}
			close(start)
			for range burst {
				if e := <-errs; e != "" {
					t.Errorf("call after revocation failed: %s", e)
				}
			}

			st := s.stats(t)
			t.Logf("server: tokens %+v, api ok %d, api 401 %d; Manager: %v", st.Tokens, st.APIOK, st.APIUnauthorized, fetches)
			if st.APIUnauthorized == 0 {
				t.Fatal("the API never answered 401: the revocation did not happen and the test proves nothing")
			}
			if st.APIOK != burst {
				t.Errorf("API answered 200 %d times, want %d", st.APIOK, burst)
			}
			maxRequests := 1
			if tc.hasRefresh {
				maxRequests = 2
			}
			if st.issued() != 1 || st.requests() > maxRequests {
				t.Errorf("after revocation the server issued %d tokens in %d requests; want 1 token in at most %d requests",
					st.issued(), st.requests(), maxRequests)
			}
			if got := fetches.okFor("acme") - before; got != 1 {
				t.Errorf("the Manager fetched %d new tokens; want 1", got)
			}
		})
	}
}

// Matrix 6: the servers' real refusals. Wrong password and wrong client
// secret are ErrInvalidCredentials with the server's code; a refusal is
// remembered for the tenant, and however often it happens it does not open
// the endpoint's circuit for another tenant.
func TestRefusals(t *testing.T) {
	requireServers(t)
	const repeats = 8 // more than the breaker's default 5 consecutive failures
	cases := []struct {
		name     string
		srv      func() *server
		provider func(*testing.T, *server) (tenantauth.Provider, *recorder)
		bad      tenantauth.Credentials
		good     tenantauth.Credentials
		code     string
		status   int
		invalid  bool // errors.Is(err, ErrInvalidCredentials)
		secret   string
	}{
		{
			name: "keycloak/wrong_password", srv: func() *server { return kcMain }, provider: kcProvider(keycloak.ClientAuthBody),
			bad:  tenantauth.Credentials{ClientID: kcPostID, ClientSecret: kcPostSecret, Username: kcUser, Password: wrongPassword},
			good: kcPasswordCreds(kcPostID, kcPostSecret), code: "invalid_grant", status: 400, invalid: true, secret: wrongPassword,
		},
		{
			name: "keycloak/wrong_secret/client_secret_post", srv: func() *server { return kcMain }, provider: kcProvider(keycloak.ClientAuthBody),
			bad:  kcPasswordCreds(kcPostID, wrongSecret),
			good: kcClientCreds(kcPostID, kcPostSecret), code: "invalid_client", status: 401, invalid: true, secret: wrongSecret,
		},
		{
			name: "keycloak/wrong_secret/client_secret_basic", srv: func() *server { return kcMain }, provider: kcProvider(keycloak.ClientAuthBasic),
			bad:  kcClientCreds(kcBasicID, wrongSecret),
			good: kcClientCreds(kcBasicID, kcBasicSecret), code: "invalid_client", status: 401, invalid: true, secret: wrongSecret,
		},
		{
			name: "passport/wrong_password", srv: func() *server { return ppMain }, provider: ppProvider,
			bad:  tenantauth.Credentials{ClientID: ppClientID, ClientSecret: ppClientSecret, Username: ppUser, Password: wrongPassword},
			good: ppPasswordCreds(), code: "invalid_grant", status: 400, invalid: true, secret: wrongPassword,
		},
		{
			name: "passport/wrong_secret", srv: func() *server { return ppMain }, provider: ppProvider,
			bad:  tenantauth.Credentials{ClientID: ppClientID, ClientSecret: wrongSecret, Username: ppUser, Password: ppUserPassword},
			good: ppPasswordCreds(), code: "invalid_client", status: 401, invalid: true, secret: wrongSecret,
		},
		{
			// Passport 12 ships with the password grant disabled.
			name: "passport/password_grant_disabled", srv: func() *server { return ppNoPass }, provider: ppProvider,
			bad:  ppPasswordCreds(),
			good: ppClientCreds(), code: "unsupported_grant_type", status: 400, invalid: false,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.srv()
			s.attach(t)
			p, _ := tc.provider(t, s)
			m, _ := newManager(t, tenantauth.Tenants{
				"bad":  {Provider: p, Credentials: tc.bad},
				"good": {Provider: p, Credentials: tc.good},
			}, nil)
			s.reset(t)

			check := func(err error) {
				t.Helper()
				if err == nil {
					t.Fatal("Token succeeded with refused credentials")
				}
				if got := errors.Is(err, tenantauth.ErrInvalidCredentials); got != tc.invalid {
					t.Errorf("errors.Is(%v, ErrInvalidCredentials) = %v, want %v", err, got, tc.invalid)
				}
				if errors.Is(err, tenantauth.ErrCircuitOpen) {
					t.Errorf("error %v matches ErrCircuitOpen", err)
				}
				if tc.secret != "" && strings.Contains(err.Error(), tc.secret) {
					t.Errorf("error %q contains the secret", err)
				}
			}

			_, err := m.Token(t.Context(), "bad")
			check(err)
			var te *tenantauth.TokenError
			if !errors.As(err, &te) {
				t.Fatalf("error %v (%T) is not a *TokenError", err, err)
			}
			if te.Code != tc.code || te.StatusCode != tc.status || te.Endpoint != p.Endpoint() {
				t.Errorf("TokenError{Code %q, StatusCode %d, Endpoint %q}; want {%q, %d, %q}",
					te.Code, te.StatusCode, te.Endpoint, tc.code, tc.status, p.Endpoint())
			}

			if tc.invalid {
				// Remembered: the next call fails without a request.
				_, err = m.Token(t.Context(), "bad")
				check(err)
				if n := s.stats(t).requests(); n != 1 {
					t.Errorf("second call for a refused tenant sent a request (%d requests in all); want it remembered", n)
				}
			}

			// Hammer the endpoint with the refusal; Forget clears the memory
			// so that each call really reaches the server.
			for range repeats {
				m.Forget("bad")
				_, err := m.Token(t.Context(), "bad")
				check(err)
			}
			// Each call reached the server exactly once: refusals are not
			// retried, and the remembered call above sent nothing.
			st := s.stats(t)
			if st.Errors[tc.code] != 1+repeats || st.requests() != 1+repeats {
				t.Fatalf("the server saw %d %s refusals in %d requests; want %d and %d",
					st.Errors[tc.code], tc.code, st.requests(), 1+repeats, 1+repeats)
			}

			tok, err := m.Token(t.Context(), "good")
			if err != nil {
				t.Fatalf("another tenant on the same endpoint after %d refusals: %v", repeats, err)
			}
			if status, body := getWithToken(t, s, tok); status != http.StatusOK {
				t.Errorf("good tenant's token: GET /api/me = %d %v", status, body)
			}
		})
	}
}

// Matrix 3, the other branch: the server refuses the refresh token (every
// token was dropped). Keycloak answers invalid_grant, which is also a
// bad-credentials code, and Passport invalid_request. The Manager must fall
// back to the full grant, not report or remember the tenant's credentials
// as refused.
func TestRefusedRefreshFallsBack(t *testing.T) {
	requireServers(t)
	cases := []struct {
		name     string
		srv      func() *server
		provider func(*testing.T, *server) (tenantauth.Provider, *recorder)
		creds    tenantauth.Credentials
	}{
		{"keycloak", func() *server { return kcShort }, kcProvider(keycloak.ClientAuthBody), kcPasswordCreds(kcPostID, kcPostSecret)},
		{"passport", func() *server { return ppShort }, ppProvider, ppPasswordCreds()},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.srv()
			s.attach(t)
			p, _ := tc.provider(t, s)
			m, fetches := newManager(t, tenantauth.Tenants{"acme": {Provider: p, Credentials: tc.creds}}, nil)

			first, err := m.Token(t.Context(), "acme")
			if err != nil {
				t.Fatalf("Token: %v", err)
			}
			if first.RefreshToken.IsZero() {
				t.Fatal("no refresh token: the test needs one")
			}
			s.revokeAll(t)
			s.reset(t)

			// The token (3 s) is renewed before it expires; wait for that,
			// bounded by twice its lifetime.
			deadline := time.Now().Add(2 * first.Expiry.Sub(first.IssuedAt))
			tok := first
			for tok.AccessToken == first.AccessToken && time.Now().Before(deadline) {
				select {
				case <-t.Context().Done():
					t.Fatal(t.Context().Err())
				case <-time.After(50 * time.Millisecond):
				}
				if tok, err = m.Token(t.Context(), "acme"); err != nil {
					t.Fatalf("Token after the refresh token was dropped: %v", err)
				}
			}
			if tok.AccessToken == first.AccessToken {
				t.Fatalf("the token was not renewed within %v; Manager: %v", 2*first.Expiry.Sub(first.IssuedAt), fetches)
			}
			if status, body := getWithToken(t, s, tok); status != http.StatusOK {
				t.Errorf("renewed token: GET /api/me = %d %v", status, body)
			}
			st := s.stats(t)
			t.Logf("server: tokens %+v errors %v; Manager: %v", st.Tokens, st.Errors, fetches)
			if st.Tokens["refresh_token"].Error != 1 || st.Tokens["password"].OK != 1 {
				t.Errorf("server saw %d refused refreshes and %d password grants; want 1 refused refresh, then 1 password grant",
					st.Tokens["refresh_token"].Error, st.Tokens["password"].OK)
			}
		})
	}
}

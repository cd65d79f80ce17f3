package tenantauthtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tenantauth/tenantauth"
)

// This file is the conformance suite every tenantauth.Provider must pass
// (uber-go/ratelimit's runTest idea, testing/fstest.TestFS's shape): the same
// cases run against keycloak, passport and any provider a user writes, so a
// new provider costs a constructor and one line of test.

// Dialect names which stand-in server a Provider speaks to.
type Dialect int

// The dialects of the stand-in servers. The zero Dialect is none: the suite
// fails at once with it.
const (
	// KeycloakDialect runs the suite against [NewKeycloak] servers, with
	// the default realm "fluencypass": the token endpoint is
	// {URL}/realms/fluencypass/protocol/openid-connect/token.
	KeycloakDialect Dialect = iota + 1
	// PassportDialect runs the suite against [NewPassport] servers: the
	// token endpoint is {URL}/oauth/token.
	PassportDialect
)

// String returns "keycloak" or "passport".
func (d Dialect) String() string {
	if s, ok := dialectSpecs[d]; ok {
		return s.name
	}
	return fmt.Sprintf("Dialect(%d)", int(d))
}

// TestProvider runs the conformance cases against a stand-in server of
// dialect d, building the Provider under test for each server with
// newProvider, which receives the server: its URL, TokenURL and Client (see
// [Suite] for what the servers are configured with). It is
// Suite{Dialect: d}.Run(t, newProvider); use a [Suite] to run over TLS.
//
// A provider package's conformance test is one function:
//
//	func TestConformance(t *testing.T) {
//		tenantauthtest.TestProvider(t, tenantauthtest.PassportDialect,
//			func(s *tenantauthtest.Server) (tenantauth.Provider, error) {
//				return myprovider.New(myprovider.Config{Host: s.URL})
//			})
//	}
func TestProvider(t *testing.T, d Dialect, newProvider func(s *Server) (tenantauth.Provider, error)) {
	t.Helper()
	Suite{Dialect: d}.Run(t, newProvider)
}

// A Suite is the conformance suite with its settings. Only Dialect is
// required; the zero value of every other field is a documented default.
//
// Every case starts its own server with [Config.Clients] set to one client,
// "conformance-client", and [Config.Users] to one user,
// "conformance+tenant@example.com"; their secrets contain spaces and the
// characters &=+%"\ and ç, so that a provider that does not encode its
// request body fails. The suite passes these credentials in every
// TokenRequest: newProvider must not depend on them. Apart from Clients,
// Users, TLS and what a case sets on purpose (TokenLifetime, TokenType,
// RefreshTokens, DisablePasswordGrant), the servers' Config is the zero
// value: realm "fluencypass", tokens valid one hour, no latency, the system
// clock.
type Suite struct {
	// Dialect selects the stand-in server. Required.
	Dialect Dialect

	// TLS serves every stand-in over HTTPS with a self-signed certificate
	// ([Config].TLS). newProvider must then send its requests with the
	// server's [Server.Client], which trusts the certificate. False means
	// plain HTTP on 127.0.0.1.
	TLS bool
}

// Run runs the conformance cases, each as a parallel subtest of t named
// for the case, with its own server and so its own Provider from
// newProvider. Failures say what was got and what was wanted. As parallel
// subtests the cases start when the calling test function returns (see
// [testing.T.Parallel]); wrap the call in t.Run to wait for them.
//
// The Provider under test must meet these, case by case:
//
//   - Endpoint: Endpoint() is the server's TokenURL, every time, and
//     neither newProvider nor Endpoint sends a request.
//   - PasswordGrant, ClientCredentialsGrant: the grant yields a token whose
//     Authorization() the server's API accepts as that client's (and user's),
//     with TokenType "Bearer" and no refresh token when the server sent none.
//   - RefreshTokenGrant: with refresh tokens on, the refresh_token grant
//     yields the new tokens, and reusing the rotated-out refresh token yields
//     a *tenantauth.TokenError with the server's status and code.
//   - Expiry: IssuedAt is the time of the call and Expiry is IssuedAt plus
//     expires_in (within 2 s), sent as a number or a numeric string; both
//     Expiry and RefreshExpiry are zero when the server sent no lifetime.
//   - TokenType: "bearer" or "BEARER" from the server becomes "Bearer".
//   - WrongCredentials: a wrong password, client secret or client ID yields
//     a *tenantauth.TokenError with the dialect's status and code, naming the
//     endpoint, not Temporary, matching tenantauth.ErrInvalidCredentials.
//   - PasswordGrantDisabled: the dialect's refusal as a *tenantauth.TokenError
//     (400 unsupported_grant_type for Passport, 400 unauthorized_client for
//     Keycloak), not a panic; the client_credentials grant still works.
//   - TemporaryFailure: 429 and 5xx answers yield a Temporary
//     *tenantauth.TokenError with RetryAfter from Retry-After (seconds or an
//     HTTP date; zero without one), a dropped connection an error; the
//     next call works.
//   - Redirect: a 302 or 307 yields an error matching tenantauth.ErrRedirect
//     and is not followed.
//   - OversizedResponse: a 4 MiB token response is refused.
//   - Secrets: no secret the request carried (client secret, password,
//     refresh token) and no token returned appears in any error (its
//     Error(), fmt's %v, %+v, %#v, %s, %q, each error it wraps, a
//     *tenantauth.TokenError's fields), in fmt's renderings or the JSON of a
//     returned Token, or in fmt's renderings of the Provider, even when the
//     server echoes the request in an error page or an OAuth error. Every
//     call of every case is checked so.
//   - Context: a context cancelled or past its deadline yields an error
//     matching context.Canceled or context.DeadlineExceeded without a
//     request; cancelling a request in flight ends the call.
//   - Concurrent: 32 goroutines exchange at once, each getting its own token.
//   - UnknownGrant: an unknown grant fails without a request.
//
// Throughout, every Exchange is exactly one token request (retries are the
// Manager's job), returns a token or an error but not both, and a panic in
// newProvider or Exchange is reported as a failure, not a crash. If the
// Provider has a CloseIdleConnections method, as tenantauth's providers do,
// it is called when a case ends.
func (su Suite) Run(t *testing.T, newProvider func(s *Server) (tenantauth.Provider, error)) {
	t.Helper()
	spec, ok := dialectSpecs[su.Dialect]
	if !ok {
		t.Fatalf("tenantauthtest: conformance suite: unknown %v; want KeycloakDialect or PassportDialect", su.Dialect)
	}
	if newProvider == nil {
		t.Fatal("tenantauthtest: conformance suite: newProvider is nil")
	}
	c := &suite{spec: spec, tls: su.TLS, newProvider: newProvider}
	for _, tc := range conformanceCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.run(c, t)
		})
	}
}

// The suite's credentials. Each secret has a distinctive alphanumeric run
// (found even when a leak encodes the rest) and characters that a form or
// JSON body must escape.
const (
	cfClientID      = "conformance-client"
	cfClientSecret  = `cs_7fQ2xVb9Lw &=+%"ç\/`
	cfUsername      = "conformance+tenant@example.com"
	cfPassword      = `pw_K3m8Zr1tQe &=+%"ç\/`
	cfWrongSecret   = `cs_Hn4pL6sdYu &=+%"ç\/`
	cfWrongPassword = `pw_Tq9Wc2YeRo &=+%"ç\/`
	cfUnknownClient = "conformance-unknown-client"
)

// A secret is a value that must never leak, and how failures name it
// without revealing it.
type secret struct{ value, name string }

// staticSecrets are the secrets the suite sends; none may leak.
var staticSecrets = []secret{
	{cfClientSecret, "the client secret"},
	{cfPassword, "the password"},
	{cfWrongSecret, "the wrong client secret sent"},
	{cfWrongPassword, "the wrong password sent"},
}

func passwordCreds() tenantauth.Credentials {
	return tenantauth.Credentials{
		Grant: tenantauth.GrantPassword, ClientID: cfClientID, ClientSecret: cfClientSecret,
		Username: cfUsername, Password: cfPassword,
	}
}

func clientCreds() tenantauth.Credentials {
	return tenantauth.Credentials{
		Grant: tenantauth.GrantClientCredentials, ClientID: cfClientID, ClientSecret: cfClientSecret,
	}
}

func passwordRequest() tenantauth.TokenRequest {
	return tenantauth.TokenRequest{Grant: tenantauth.GrantPassword, Credentials: passwordCreds()}
}

func clientRequest() tenantauth.TokenRequest {
	return tenantauth.TokenRequest{Grant: tenantauth.GrantClientCredentials, Credentials: clientCreds()}
}

// A refusal is a token endpoint's error answer: status and OAuth code.
type refusal struct {
	status int
	code   string
}

func (r refusal) String() string { return fmt.Sprintf("status %d, code %q", r.status, r.code) }

// dialectSpec is what each stand-in answers, as keycloak.go and passport.go
// implement it after the real servers.
type dialectSpec struct {
	name  string
	start func(Config) *Server
	// The refusals of a wrong password, a wrong client secret, an unknown
	// client, the password grant when disabled, and a rotated-out refresh
	// token.
	wrongPassword, wrongSecret, unknownClient, passwordDisabled, refreshReused refusal
}

var dialectSpecs = map[Dialect]*dialectSpec{
	KeycloakDialect: {
		name:             "keycloak",
		start:            NewKeycloak,
		wrongPassword:    refusal{http.StatusUnauthorized, "invalid_grant"},
		wrongSecret:      refusal{http.StatusUnauthorized, "unauthorized_client"},
		unknownClient:    refusal{http.StatusUnauthorized, "invalid_client"},
		passwordDisabled: refusal{http.StatusBadRequest, "unauthorized_client"},
		refreshReused:    refusal{http.StatusBadRequest, "invalid_grant"},
	},
	PassportDialect: {
		name:             "passport",
		start:            NewPassport,
		wrongPassword:    refusal{http.StatusBadRequest, "invalid_grant"},
		wrongSecret:      refusal{http.StatusUnauthorized, "invalid_client"},
		unknownClient:    refusal{http.StatusUnauthorized, "invalid_client"},
		passwordDisabled: refusal{http.StatusBadRequest, "unsupported_grant_type"},
		refreshReused:    refusal{http.StatusUnauthorized, "invalid_request"},
	},
}

// suite is one run's settings.
type suite struct {
	spec        *dialectSpec
	tls         bool
	newProvider func(*Server) (tenantauth.Provider, error)
}

type conformanceCase struct {
	name string
	run  func(c *suite, t *testing.T)
}

// conformanceCases are the subtests, in the order the documentation lists them.
var conformanceCases = []conformanceCase{
	{"Endpoint", caseEndpoint},
	{"PasswordGrant", casePasswordGrant},
	{"ClientCredentialsGrant", caseClientCredentials},
	{"RefreshTokenGrant", caseRefreshToken},
	{"Expiry", caseExpiry},
	{"TokenType", caseTokenType},
	{"WrongCredentials", caseWrongCredentials},
	{"PasswordGrantDisabled", casePasswordGrantDisabled},
	{"TemporaryFailure", caseTemporaryFailure},
	{"Redirect", caseRedirect},
	{"OversizedResponse", caseOversizedResponse},
	{"Secrets", caseSecrets},
	{"Context", caseContext},
	{"Concurrent", caseConcurrent},
	{"UnknownGrant", caseUnknownGrant},
}

// A bound on waits for things that must happen (a request to arrive, a
// cancelled Exchange to return); never a timing assertion.
const waitBound = 30 * time.Second

// tolerance is how far Expiry-IssuedAt may be from the lifetime the server
// sent: the server announces whole seconds.
const tolerance = 2 * time.Second

// env is one case's server, Provider, and the secrets and results it saw.
type env struct {
	t   *testing.T
	c   *suite
	s   *Server
	p   tenantauth.Provider
	ctx context.Context // bounds every call of the case

	mu      sync.Mutex
	secrets []secret  // static secrets and every token issued to the case
	results []outcome // every value Exchange returned
}

// An outcome is what one Exchange returned.
type outcome struct {
	what  string
	tok   *tenantauth.Token
	err   error
	known int // how many secrets it was checked against when recorded
}

// newEnv starts a server for the case with the suite's credentials and TLS
// setting, and builds the Provider under test for it.
func (c *suite) newEnv(t *testing.T, cfg Config) *env {
	t.Helper()
	cfg.TLS = c.tls
	if cfg.Clients == nil {
		cfg.Clients = map[string]string{cfClientID: cfClientSecret}
	}
	if cfg.Users == nil {
		cfg.Users = map[string]string{cfUsername: cfPassword}
	}
	s := c.spec.start(cfg)
	t.Cleanup(s.Close)

	var p tenantauth.Provider
	var err error
	if r := catch(func() { p, err = c.newProvider(s) }); r != nil {
		t.Fatalf("newProvider(server at %s) panicked: %v", s.URL, r)
	}
	switch {
	case err != nil:
		t.Fatalf("newProvider(server at %s): %v", s.URL, err)
	case p == nil:
		t.Fatalf("newProvider(server at %s) returned a nil Provider and no error", s.URL)
	}
	// Cleanups run last-in first-out: recheck, then the Provider's idle
	// connections, then the server.
	t.Cleanup(func() {
		if ci, ok := p.(interface{ CloseIdleConnections() }); ok {
			ci.CloseIdleConnections()
		}
	})
	ctx, cancel := context.WithTimeout(t.Context(), 2*waitBound)
	t.Cleanup(cancel)
	e := &env{t: t, c: c, s: s, p: p, ctx: ctx, secrets: append([]secret(nil), staticSecrets...)}
	t.Cleanup(e.recheck)
	return e
}

// catch runs f and returns what it panicked with, if anything.
func catch(f func()) (panicked any) {
	done := false
	defer func() {
		if !done {
			panicked = recover()
			if panicked == nil {
				// panic(nil) or runtime.Goexit; report the former.
				panicked = "panic with a nil value or runtime.Goexit"
			}
		}
	}()
	f()
	done = true
	return nil
}

// errPanicked stands for the result of an Exchange that panicked.
var errPanicked = errors.New("tenantauthtest: Exchange panicked")

// exchange calls Exchange under ctx, turns a panic into a failure, checks
// the shape of the result and that it reveals no secret known so far.
func (e *env) exchange(ctx context.Context, what string, req tenantauth.TokenRequest) (*tenantauth.Token, error) {
	e.t.Helper()
	var tok *tenantauth.Token
	var err error
	if r := catch(func() { tok, err = e.p.Exchange(ctx, req) }); r != nil {
		e.t.Errorf("%s: Exchange panicked: %v", what, r)
		return nil, errPanicked
	}
	switch {
	case err == nil && tok == nil:
		e.t.Errorf("%s: Exchange returned a nil *Token and a nil error", what)
		err = errors.New("tenantauthtest: nil token and nil error")
	case err != nil && tok != nil:
		e.t.Errorf("%s: Exchange returned a token and an error (%v); want one of them", what, err)
	}
	e.record(what, tok, err)
	return tok, err
}

// addSecret registers a value that must never appear in any output.
func (e *env) addSecret(value, name string) {
	if value == "" {
		return
	}
	e.mu.Lock()
	e.secrets = append(e.secrets, secret{value, name})
	e.mu.Unlock()
}

// record remembers an outcome, registers the tokens it carries as secrets
// and checks its renderings against the secrets known so far.
func (e *env) record(what string, tok *tenantauth.Token, err error) {
	e.t.Helper()
	if tok != nil {
		e.addSecret(tok.AccessToken.Reveal(), "an access token the Provider returned ("+what+")")
		e.addSecret(tok.RefreshToken.Reveal(), "a refresh token the Provider returned ("+what+")")
	}
	e.mu.Lock()
	secrets := append([]secret(nil), e.secrets...)
	e.results = append(e.results, outcome{what, tok, err, len(secrets)})
	e.mu.Unlock()
	e.checkLeak(what, renderOutcome(tok, err), secrets)
}

// recheck checks every outcome again against the secrets of the case it
// was not checked against yet (tokens issued later), and the Provider's own
// rendering against all.
func (e *env) recheck() {
	e.mu.Lock()
	results := append([]outcome(nil), e.results...)
	secrets := append([]secret(nil), e.secrets...)
	e.mu.Unlock()
	for _, o := range results {
		if o.known < len(secrets) {
			e.checkLeak(o.what, renderOutcome(o.tok, o.err), secrets[o.known:])
		}
	}
	e.checkLeak("the Provider", renderValue(e.p), secrets)
}

// checkLeak fails the test if a rendering contains a secret, or the
// distinctive part of one (a leak that escaped or encoded the rest).
// Rendered values are not printed: they would show the secret.
func (e *env) checkLeak(what string, renderings []rendering, secrets []secret) {
	e.t.Helper()
	for _, s := range secrets {
		var where []string
	next:
		for _, r := range renderings {
			for _, n := range needles(s.value) {
				if strings.Contains(r.text, n) {
					where = append(where, r.how)
					continue next
				}
			}
		}
		if len(where) > 0 {
			e.t.Errorf("%s: %s leaked into %s", what, s.name, strings.Join(where, ", "))
		}
	}
}

// needles returns what a leak of s contains: s itself and each run of at
// least 8 ASCII letters and digits in it.
func needles(s string) []string {
	out := []string{s}
	run := 0
	for i := 0; i <= len(s); i++ {
		if i < len(s) && isAlnum(s[i]) {
			run++
			continue
		}
		if run >= 8 && run < len(s) {
			out = append(out, s[i-run:i])
		}
		run = 0
	}
	return out
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// A rendering is one way a value prints.
type rendering struct{ how, text string }

// renderOutcome renders a token and an error every way a program might log
// them: fmt's verbs, JSON, and each error of the chain with its fields.
func renderOutcome(tok *tenantauth.Token, err error) []rendering {
	var out []rendering
	if tok != nil {
		out = append(out, renderValue(tok)...)
		out = append(out, rendering{"%+v of the Token value", fmt.Sprintf("%+v", *tok)})
		if b, jerr := json.Marshal(tok); jerr == nil {
			out = append(out, rendering{"the Token's JSON", string(b)})
		}
	}
	if err != nil {
		out = append(out, rendering{"Error()", err.Error()})
		out = append(out, renderValue(err)...)
		for i, e := range errorTree(err) {
			how := fmt.Sprintf("wrapped error #%d (%T)", i+1, e)
			out = append(out, rendering{how + ".Error()", e.Error()}, rendering{"%#v of " + how, fmt.Sprintf("%#v", e)})
		}
		var te *tenantauth.TokenError
		if errors.As(err, &te) && te != nil {
			// A value, not a pointer: fmt prints the fields themselves.
			out = append(out, rendering{"the TokenError's fields", fmt.Sprintf("%+v", *te)})
		}
	}
	return out
}

func renderValue(v any) []rendering {
	return []rendering{
		{"%v", fmt.Sprintf("%v", v)},
		{"%+v", fmt.Sprintf("%+v", v)},
		{"%#v", fmt.Sprintf("%#v", v)},
		{"%s", fmt.Sprintf("%s", v)},
		{"%q", fmt.Sprintf("%q", v)},
	}
}

// errorTree lists the errors err wraps, depth first, at most 64.
func errorTree(err error) []error {
	var out []error
	var walk func(error)
	walk = func(e error) {
		if e == nil || len(out) >= 64 {
			return
		}
		out = append(out, e)
		switch u := e.(type) {
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		case interface{ Unwrap() []error }:
			for _, w := range u.Unwrap() {
				walk(w)
			}
		}
	}
	walk(err)
	return out[1:]
}

// checkToken checks what every issued token must carry.
func (e *env) checkToken(what string, tok *tenantauth.Token, wantRefresh bool) {
	e.t.Helper()
	if tok == nil {
		return
	}
	if tok.AccessToken.IsZero() {
		e.t.Errorf("%s: AccessToken is empty", what)
	}
	if tok.TokenType != "Bearer" {
		e.t.Errorf("%s: TokenType = %q, want %q", what, tok.TokenType, "Bearer")
	}
	switch got := !tok.RefreshToken.IsZero(); {
	case got && !wantRefresh:
		e.t.Errorf("%s: RefreshToken is set, but the server issued none", what)
	case !got && wantRefresh:
		e.t.Errorf("%s: RefreshToken is empty, but the server issued one", what)
	}
}

// useToken calls the server's API with the token's Authorization() and
// checks that the server accepts it as the token of client and user.
func (e *env) useToken(what string, tok *tenantauth.Token, client, user string) {
	e.t.Helper()
	if tok == nil {
		return
	}
	ctx, cancel := context.WithTimeout(e.ctx, waitBound)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.s.APIURL()+"/conformance", nil)
	if err != nil {
		e.t.Fatalf("%s: building the API request: %v", what, err)
	}
	auth := tok.Authorization()
	req.Header.Set("Authorization", auth)
	resp, err := e.s.Client().Do(req)
	if err != nil {
		e.t.Errorf("%s: GET %s: %v", what, req.URL, err)
		return
	}
	defer resp.Body.Close()
	scheme, _, _ := strings.Cut(auth, " ")
	if resp.StatusCode != http.StatusOK {
		e.t.Errorf("%s: GET %s with Authorization %q + the access token: status %d, want 200 (the server did not accept the token)",
			what, req.URL, scheme+" ", resp.StatusCode)
		return
	}
	var got apiReply
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		e.t.Errorf("%s: decoding the API's answer: %v", what, err)
		return
	}
	if got.ClientID != client || got.Username != user {
		e.t.Errorf("%s: the API saw client %q, user %q; want client %q, user %q", what, got.ClientID, got.Username, client, user)
	}
}

// wantRequests checks how many token requests the server saw, by grant.
func (e *env) wantRequests(what string, total int, byGrant map[string]int) {
	e.t.Helper()
	st := e.s.Stats()
	if st.TokenRequests != total {
		e.t.Errorf("%s: the server saw %d token requests, want %d (one per Exchange)", what, st.TokenRequests, total)
	}
	for g, n := range byGrant {
		if st.ByGrant[g] != n {
			e.t.Errorf("%s: the server saw %d %s requests, want %d (all by grant: %v)", what, st.ByGrant[g], g, n, st.ByGrant)
		}
	}
}

// wantRefusal checks that err is a *tenantauth.TokenError with want's
// status and code, not temporary, naming the server's token endpoint, and
// that it matches ErrInvalidCredentials exactly when the code says so.
func (e *env) wantRefusal(what string, tok *tenantauth.Token, err error, want refusal) *tenantauth.TokenError {
	e.t.Helper()
	if err == nil {
		e.t.Errorf("%s: Exchange succeeded; want a *tenantauth.TokenError with %v", what, want)
		return nil
	}
	if tok != nil || err == errPanicked {
		return nil // reported by exchange
	}
	var te *tenantauth.TokenError
	if !errors.As(err, &te) || te == nil {
		e.t.Errorf("%s: error %q (%T) is not a *tenantauth.TokenError; want one with %v", what, err, err, want)
		return nil
	}
	if te.StatusCode != want.status || te.Code != want.code {
		e.t.Errorf("%s: TokenError has status %d, code %q; want %v", what, te.StatusCode, te.Code, want)
	}
	if te.Temporary() {
		e.t.Errorf("%s: TokenError.Temporary() = true for status %d, want false", what, te.StatusCode)
	}
	if te.Endpoint != e.s.TokenURL() {
		e.t.Errorf("%s: TokenError.Endpoint = %q, want %q", what, te.Endpoint, e.s.TokenURL())
	}
	invalid := want.code == "invalid_grant" || want.code == "invalid_client" || want.code == "unauthorized_client"
	if got := errors.Is(err, tenantauth.ErrInvalidCredentials); got != invalid {
		e.t.Errorf("%s: errors.Is(err, tenantauth.ErrInvalidCredentials) = %v, want %v for code %q", what, got, invalid, want.code)
	}
	return te
}

// tokenBody is a token response of the case's own making, sent through
// Server.FailNext. Its access token is registered as a secret.
func (e *env) tokenBody(extra string) (body string) {
	tok := "at_" + randomToken()
	e.addSecret(tok, "the access_token of a token response")
	return `{"access_token":"` + tok + `","token_type":"Bearer"` + extra + `}`
}

// ---- the cases ----

func caseEndpoint(c *suite, t *testing.T) {
	e := c.newEnv(t, Config{})
	var got, again string
	if r := catch(func() { got, again = e.p.Endpoint(), e.p.Endpoint() }); r != nil {
		t.Fatalf("Endpoint panicked: %v", r)
	}
	if want := e.s.TokenURL(); got != want {
		t.Errorf("Endpoint() = %q, want %q (the server's TokenURL)", got, want)
	}
	if again != got {
		t.Errorf("Endpoint() = %q, then %q; want the same URL every time (one circuit breaker per endpoint)", got, again)
	}
	if n := e.s.Stats().TokenRequests; n != 0 {
		t.Errorf("newProvider and Endpoint sent %d token requests, want 0", n)
	}
}

func casePasswordGrant(c *suite, t *testing.T) {
	e := c.newEnv(t, Config{})
	tok, err := e.exchange(e.ctx, "password grant", passwordRequest())
	if err != nil {
		t.Fatalf("password grant: %v; want a token", err)
	}
	e.checkToken("password grant", tok, false)
	e.useToken("password grant", tok, cfClientID, cfUsername)
	e.wantRequests("password grant", 1, map[string]int{"password": 1})
	if st := e.s.Stats(); st.ByClient[cfClientID] != 1 || st.ByUser[cfUsername] != 1 {
		t.Errorf("password grant: the server saw requests by client %v and by user %v; want %q and %q once",
			st.ByClient, st.ByUser, cfClientID, cfUsername)
	}
}

func caseClientCredentials(c *suite, t *testing.T) {
	e := c.newEnv(t, Config{})
	tok, err := e.exchange(e.ctx, "client_credentials grant", clientRequest())
	if err != nil {
		t.Fatalf("client_credentials grant: %v; want a token", err)
	}
	e.checkToken("client_credentials grant", tok, false)
	e.useToken("client_credentials grant", tok, cfClientID, "")
	e.wantRequests("client_credentials grant", 1, map[string]int{"client_credentials": 1})
}

func caseRefreshToken(c *suite, t *testing.T) {
	const refreshLifetime = 45 * time.Minute
	// Keycloak rotates only when told to; Passport always does.
	e := c.newEnv(t, Config{RefreshTokens: true, RotateRefreshTokens: true, RefreshTokenLifetime: refreshLifetime})
	first, err := e.exchange(e.ctx, "password grant", passwordRequest())
	if err != nil {
		t.Fatalf("password grant: %v; want a token", err)
	}
	e.checkToken("password grant with refresh tokens on", first, true)
	if first.RefreshToken.IsZero() {
		t.FailNow()
	}
	if !first.RefreshExpiry.IsZero() && c.spec.name == "keycloak" {
		// Keycloak announces refresh_expires_in; Passport does not.
		if d := first.RefreshExpiry.Sub(first.IssuedAt); d < refreshLifetime-tolerance || d > refreshLifetime+tolerance {
			t.Errorf("password grant: RefreshExpiry - IssuedAt = %v, want %v (refresh_expires_in) ± %v", d, refreshLifetime, tolerance)
		}
	}

	refresh := func(rt tenantauth.Secret) tenantauth.TokenRequest {
		return tenantauth.TokenRequest{Grant: tenantauth.GrantRefreshToken, Credentials: passwordCreds(), RefreshToken: rt}
	}
	second, err := e.exchange(e.ctx, "refresh_token grant", refresh(first.RefreshToken))
	if err != nil {
		t.Fatalf("refresh_token grant: %v; want a token", err)
	}
	e.checkToken("refresh_token grant", second, true)
	if second.AccessToken == first.AccessToken {
		t.Error("refresh_token grant: AccessToken is the old one; want the new token the server issued")
	}
	if !second.RefreshToken.IsZero() && second.RefreshToken == first.RefreshToken {
		t.Error("refresh_token grant: RefreshToken is the old one; want the rotated one the server issued")
	}
	e.useToken("refresh_token grant", second, cfClientID, cfUsername)

	// The server rotated the first refresh token out: it must be refused,
	// as a TokenError, so that the Manager falls back to the full grant.
	tok, err := e.exchange(e.ctx, "reusing the rotated-out refresh token", refresh(first.RefreshToken))
	e.wantRefusal("reusing the rotated-out refresh token", tok, err, c.spec.refreshReused)
	e.wantRequests("refresh_token grant", 3, map[string]int{"password": 1, "refresh_token": 2})
}

func caseExpiry(c *suite, t *testing.T) {
	e := c.newEnv(t, Config{})
	check := func(what string, lifetime time.Duration) {
		t.Helper()
		before := time.Now()
		tok, err := e.exchange(e.ctx, what, passwordRequest())
		after := time.Now()
		if err != nil {
			t.Errorf("%s: %v; want a token", what, err)
			return
		}
		if tok.IssuedAt.IsZero() {
			t.Errorf("%s: IssuedAt is zero; want the time the token was received", what)
		} else if tok.IssuedAt.Before(before.Add(-tolerance)) || tok.IssuedAt.After(after.Add(tolerance)) {
			t.Errorf("%s: IssuedAt = %v, want between %v and %v (± %v)", what, tok.IssuedAt, before, after, tolerance)
		}
		switch {
		case lifetime == 0 && !tok.Expiry.IsZero():
			t.Errorf("%s: Expiry = %v, want zero (the server sent no expires_in)", what, tok.Expiry)
		case lifetime == 0:
		case tok.Expiry.IsZero():
			t.Errorf("%s: Expiry is zero; want IssuedAt + %v (expires_in)", what, lifetime)
		case !tok.IssuedAt.IsZero():
			if d := tok.Expiry.Sub(tok.IssuedAt); d < lifetime-tolerance || d > lifetime+tolerance {
				t.Errorf("%s: Expiry - IssuedAt = %v, want %v (expires_in) ± %v", what, d, lifetime, tolerance)
			}
		}
		if !tok.RefreshExpiry.IsZero() {
			t.Errorf("%s: RefreshExpiry = %v, want zero (no refresh token was issued)", what, tok.RefreshExpiry)
		}
	}
	// The lifetimes of a short-lived token, Fluencypass (86400) and HubSoft
	// (2592000), and one no provider could guess.
	for _, lifetime := range []time.Duration{3 * time.Second, 90 * time.Minute, 24 * time.Hour, 30 * 24 * time.Hour} {
		e.s.SetTokenLifetime(lifetime)
		check(fmt.Sprintf("expires_in %d", int(lifetime.Seconds())), lifetime)
	}
	// Answers of other servers, sent as they are.
	e.s.FailNext(1, Failure{Status: http.StatusOK, Body: e.tokenBody(`,"expires_in":"5400"`)})
	check(`expires_in "5400" (a string)`, 90*time.Minute)
	e.s.FailNext(1, Failure{Status: http.StatusOK, Body: e.tokenBody(``)})
	check("no expires_in", 0)
	e.wantRequests("expiry", 6, nil)
}

func caseTokenType(c *suite, t *testing.T) {
	for _, typ := range []string{"bearer", "BEARER"} {
		t.Run(typ, func(t *testing.T) {
			e := c.newEnv(t, Config{TokenType: typ})
			what := fmt.Sprintf("token_type %q", typ)
			tok, err := e.exchange(e.ctx, what, passwordRequest())
			if err != nil {
				t.Fatalf("%s: %v; want a token", what, err)
			}
			if tok.TokenType != "Bearer" {
				t.Errorf("%s: TokenType = %q, want the canonical %q", what, tok.TokenType, "Bearer")
			}
			if auth := tok.Authorization(); auth != "Bearer "+tok.AccessToken.Reveal() {
				scheme, _, _ := strings.Cut(auth, " ")
				t.Errorf("%s: Authorization() starts with %q, want \"Bearer \" + the access token", what, scheme)
			}
			e.useToken(what, tok, cfClientID, cfUsername)
		})
	}
}

func caseWrongCredentials(c *suite, t *testing.T) {
	e := c.newEnv(t, Config{})
	wrongPassword := passwordCreds()
	wrongPassword.Password = cfWrongPassword
	wrongSecret := passwordCreds()
	wrongSecret.ClientSecret = cfWrongSecret
	wrongMachineSecret := clientCreds()
	wrongMachineSecret.ClientSecret = cfWrongSecret
	unknownClient := passwordCreds()
	unknownClient.ClientID = cfUnknownClient
	for _, tc := range []struct {
		what  string
		creds tenantauth.Credentials
		want  refusal
	}{
		{"wrong password", wrongPassword, c.spec.wrongPassword},
		{"wrong client secret (password grant)", wrongSecret, c.spec.wrongSecret},
		{"wrong client secret (client_credentials grant)", wrongMachineSecret, c.spec.wrongSecret},
		{"unknown client", unknownClient, c.spec.unknownClient},
	} {
		tok, err := e.exchange(e.ctx, tc.what, tenantauth.TokenRequest{Grant: tc.creds.Grant, Credentials: tc.creds})
		e.wantRefusal(tc.what, tok, err, tc.want)
	}
	e.wantRequests("wrong credentials", 4, nil)
}

func casePasswordGrantDisabled(c *suite, t *testing.T) {
	e := c.newEnv(t, Config{DisablePasswordGrant: true})
	tok, err := e.exchange(e.ctx, "password grant disabled", passwordRequest())
	e.wantRefusal("password grant disabled", tok, err, c.spec.passwordDisabled)
	// The refusal concerns one grant: the client's other grant still works.
	tok, err = e.exchange(e.ctx, "client_credentials with the password grant disabled", clientRequest())
	if err != nil {
		t.Errorf("client_credentials with the password grant disabled: %v; want a token", err)
	}
	e.checkToken("client_credentials with the password grant disabled", tok, false)
	e.wantRequests("password grant disabled", 2, map[string]int{"password": 1, "client_credentials": 1})
}

func caseTemporaryFailure(c *suite, t *testing.T) {
	e := c.newEnv(t, Config{})
	// Far enough ahead that no slow machine reaches it before the request.
	date := time.Now().Add(2 * time.Minute).UTC().Format(http.TimeFormat)
	for _, tc := range []struct {
		what       string
		f          Failure
		minRA      time.Duration // RetryAfter within (minRA, maxRA]; both 0: exactly 0
		maxRA      time.Duration
		tokenError bool // a status answer, so a *TokenError
	}{
		{"503 with Retry-After: 7", Failure{Status: 503, Header: http.Header{"Retry-After": {"7"}}}, 0, 7 * time.Second, true},
		{"500 with Retry-After: an HTTP date 2 minutes ahead", Failure{Status: 500, Header: http.Header{"Retry-After": {date}}}, 0, 2*time.Minute + time.Second, true},
		{"429 with Retry-After: 3", Failure{Status: 429, Body: `{"message":"Too Many Attempts."}`, Header: http.Header{"Retry-After": {"3"}}}, 0, 3 * time.Second, true},
		{"502 with an HTML page, no Retry-After", Failure{Status: 502, Body: "<html><body><h1>502 Bad Gateway</h1></body></html>",
			Header: http.Header{"Content-Type": {"text/html"}}}, 0, 0, true},
		{"connection dropped", Failure{CloseConn: true}, 0, 0, false},
	} {
		e.s.FailNext(1, tc.f)
		before := e.s.Stats().TokenRequests
		tok, err := e.exchange(e.ctx, tc.what, passwordRequest())
		if n := e.s.Stats().TokenRequests - before; n != 1 && tc.tokenError {
			t.Errorf("%s: Exchange sent %d token requests, want 1 (retries are the Manager's job)", tc.what, n)
		}
		if err == nil {
			t.Errorf("%s: Exchange succeeded; want an error", tc.what)
			continue
		}
		if errors.Is(err, tenantauth.ErrInvalidCredentials) {
			t.Errorf("%s: error matches tenantauth.ErrInvalidCredentials; the endpoint failed, not the credentials", tc.what)
		}
		if !tc.tokenError || tok != nil || err == errPanicked {
			continue
		}
		var te *tenantauth.TokenError
		if !errors.As(err, &te) || te == nil {
			t.Errorf("%s: error %q (%T) is not a *tenantauth.TokenError", tc.what, err, err)
			continue
		}
		if te.StatusCode != tc.f.Status {
			t.Errorf("%s: TokenError.StatusCode = %d, want %d", tc.what, te.StatusCode, tc.f.Status)
		}
		if !te.Temporary() {
			t.Errorf("%s: TokenError.Temporary() = false, want true", tc.what)
		}
		if tc.maxRA == 0 && te.RetryAfter != 0 {
			t.Errorf("%s: RetryAfter = %v, want 0 (no Retry-After header)", tc.what, te.RetryAfter)
		}
		if tc.maxRA != 0 && (te.RetryAfter <= tc.minRA || te.RetryAfter > tc.maxRA) {
			t.Errorf("%s: RetryAfter = %v, want > %v and ≤ %v (Retry-After: %s)", tc.what, te.RetryAfter, tc.minRA, tc.maxRA,
				tc.f.Header.Get("Retry-After"))
		}
	}
	// Failures leave nothing behind: the next request works.
	tok, err := e.exchange(e.ctx, "password grant after the failures", passwordRequest())
	if err != nil {
		t.Errorf("password grant after the failures: %v; want a token", err)
	}
	e.useToken("password grant after the failures", tok, cfClientID, cfUsername)
}

func caseRedirect(c *suite, t *testing.T) {
	for _, status := range []int{http.StatusFound, http.StatusTemporaryRedirect} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			e := c.newEnv(t, Config{})
			// Following the redirect would send the request, and with a 307
			// its body (client secret, password), to the API.
			e.s.FailNext(1, Failure{Status: status, Header: http.Header{"Location": {e.s.APIURL() + "/redirected"}}})
			what := fmt.Sprintf("answer %d with a Location", status)
			tok, err := e.exchange(e.ctx, what, passwordRequest())
			switch {
			case err == nil:
				t.Errorf("%s: Exchange succeeded; want an error matching tenantauth.ErrRedirect", what)
			case tok == nil && !errors.Is(err, tenantauth.ErrRedirect):
				t.Errorf("%s: error %q does not match tenantauth.ErrRedirect", what, err)
			}
			if n := e.s.Stats().APIRequests; n != 0 {
				t.Errorf("%s: the redirect was followed (%d requests reached its target); want it refused", what, n)
			}
		})
	}
}

func caseOversizedResponse(c *suite, t *testing.T) {
	e := c.newEnv(t, Config{})
	const size = 4 << 20
	e.s.FailNext(1, Failure{Status: http.StatusOK, Body: e.tokenBody(`,"expires_in":3600,"padding":"` + strings.Repeat("x", size) + `"`)})
	tok, err := e.exchange(e.ctx, "a 4 MiB token response", passwordRequest())
	if err == nil && tok != nil {
		t.Errorf("a 4 MiB token response: Exchange accepted it; want an error (response bodies must be size-limited)")
	}
}

func caseSecrets(c *suite, t *testing.T) {
	// Every Exchange of every case is checked for leaks; here the server
	// echoes the secrets back, as broken servers and proxies do.
	e := c.newEnv(t, Config{RefreshTokens: true})
	first, err := e.exchange(e.ctx, "password grant", passwordRequest())
	if err != nil {
		t.Fatalf("password grant: %v; want a token", err)
	}
	echo := "client_secret=" + cfClientSecret + "&username=" + cfUsername + "&password=" + cfPassword
	jsonEcho, _ := json.Marshal("invalid client_secret " + cfClientSecret + " or password " + cfPassword)
	// A Provider knows the secrets of its request and of the answer, not
	// every token it ever returned: the echo is of the refresh token sent.
	tokens, _ := json.Marshal("refresh token " + first.RefreshToken.Reveal() + " was revoked")
	for _, tc := range []struct {
		what string
		f    Failure
		req  tenantauth.TokenRequest
	}{
		{"an HTML error page echoing the request", Failure{Status: 502, Header: http.Header{"Content-Type": {"text/html"}},
			Body: "<html><body><h1>Bad Gateway</h1><pre>" + echo + "</pre></body></html>"}, passwordRequest()},
		{"a plain-text error echoing the request", Failure{Status: 400, Header: http.Header{"Content-Type": {"text/plain"}},
			Body: "bad request: " + echo}, passwordRequest()},
		{"an OAuth error echoing the secrets", Failure{Status: 400,
			Body: `{"error":"invalid_request","error_description":` + string(jsonEcho) + `,"message":` + string(jsonEcho) + `,"hint":` + string(jsonEcho) + `}`},
			passwordRequest()},
		{"an OAuth error echoing the refresh token", Failure{Status: 401,
			Body: `{"error":"invalid_grant","error_description":` + string(tokens) + `,"message":` + string(tokens) + `}`},
			tenantauth.TokenRequest{Grant: tenantauth.GrantRefreshToken, Credentials: passwordCreds(), RefreshToken: first.RefreshToken}},
	} {
		e.s.FailNext(1, tc.f)
		if _, err := e.exchange(e.ctx, tc.what, tc.req); err == nil {
			t.Errorf("%s: Exchange succeeded; want an error", tc.what)
		}
	}
	// A refresh still works afterwards (nothing was consumed).
	tok, err := e.exchange(e.ctx, "refresh_token grant", tenantauth.TokenRequest{
		Grant: tenantauth.GrantRefreshToken, Credentials: passwordCreds(), RefreshToken: first.RefreshToken})
	if err != nil {
		t.Errorf("refresh_token grant after the failures: %v; want a token", err)
	}
	e.useToken("refresh_token grant after the failures", tok, cfClientID, cfUsername)
	// The Provider's own rendering is checked when the case ends.
}

func caseContext(c *suite, t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	expired, cancel2 := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel2()
	for _, tc := range []struct {
		what     string
		ctx      context.Context
		want     error
		wantName string
	}{
		{"context cancelled before the call", cancelled, context.Canceled, "context.Canceled"},
		{"context past its deadline before the call", expired, context.DeadlineExceeded, "context.DeadlineExceeded"},
	} {
		t.Run(tc.what, func(t *testing.T) {
			e := c.newEnv(t, Config{})
			tok, err := e.exchange(tc.ctx, tc.what, passwordRequest())
			switch {
			case err == nil:
				t.Errorf("%s: Exchange succeeded; want an error matching %s", tc.what, tc.wantName)
			case tok == nil && !errors.Is(err, tc.want):
				t.Errorf("%s: error %q does not match %s (wrap it with %%w)", tc.what, err, tc.wantName)
			}
			if n := e.s.Stats().TokenRequests; n != 0 {
				t.Errorf("%s: the server saw %d token requests, want 0", tc.what, n)
			}
		})
	}
	t.Run("context cancelled in flight", func(t *testing.T) {
		const what = "context cancelled while the server holds the request"
		e := c.newEnv(t, Config{})
		e.s.FailNext(1, Failure{Hang: true})
		ctx, cancel := context.WithCancel(e.ctx)
		defer cancel()
		type result struct {
			tok      *tenantauth.Token
			err      error
			panicked any
		}
		done := make(chan result, 1)
		go func() {
			var r result
			r.panicked = catch(func() { r.tok, r.err = e.p.Exchange(ctx, passwordRequest()) })
			done <- r
		}()
		// Wait for the request to arrive; a bound, not a timing assertion.
		deadline := time.Now().Add(waitBound)
		for e.s.Stats().TokenRequests == 0 && time.Now().Before(deadline) {
			select {
			case r := <-done:
				t.Fatalf("%s: Exchange returned before its request reached the server (error %v, panic %v)", what, r.err, r.panicked)
			case <-time.After(time.Millisecond):
			}
		}
		cancel()
		var r result
		select {
		case r = <-done:
		case <-time.After(waitBound):
			t.Errorf("%s: Exchange had not returned %v after the context was cancelled", what, waitBound)
			e.s.Close() // drops the held request
			r = <-done
		}
		if r.panicked != nil {
			t.Fatalf("%s: Exchange panicked: %v", what, r.panicked)
		}
		e.record(what, r.tok, r.err)
		switch {
		case r.err == nil:
			t.Errorf("%s: Exchange succeeded; want an error matching context.Canceled", what)
		case !errors.Is(r.err, context.Canceled):
			t.Errorf("%s: error %q does not match context.Canceled (wrap it with %%w)", what, r.err)
		}
	})
}

func caseConcurrent(c *suite, t *testing.T) {
	const goroutines = 32
	e := c.newEnv(t, Config{})
	start := make(chan struct{})
	tokens := make(chan *tenantauth.Token, 2*goroutines)
	var wg sync.WaitGroup
	for i := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for _, req := range []tenantauth.TokenRequest{passwordRequest(), clientRequest()} {
				what := fmt.Sprintf("goroutine %d, %s grant", i, req.Grant)
				tok, err := e.exchange(e.ctx, what, req)
				if err != nil {
					e.t.Errorf("%s: %v; want a token", what, err)
					continue
				}
				tokens <- tok
			}
		}()
	}
	close(start)
	wg.Wait()
	close(tokens)
	seen := map[tenantauth.Secret]bool{}
	for tok := range tokens {
		if seen[tok.AccessToken] {
			t.Error("concurrent exchanges: two calls returned the same access token; want each its own")
		}
		seen[tok.AccessToken] = true
		e.checkToken("concurrent exchange", tok, false)
	}
	e.wantRequests("concurrent exchanges", 2*goroutines, map[string]int{"password": goroutines, "client_credentials": goroutines})
}

func caseUnknownGrant(c *suite, t *testing.T) {
	e := c.newEnv(t, Config{})
	// implicit has no token request at all (RFC 6749 §4.2); the other one
	// is no grant anybody defines.
	for _, g := range []tenantauth.Grant{"implicit", "urn:tenantauthtest:unknown-grant"} {
		what := fmt.Sprintf("grant %q", g)
		req := passwordRequest()
		req.Grant = g
		if tok, err := e.exchange(e.ctx, what, req); err == nil {
			t.Errorf("%s: Exchange succeeded (token %v); want an error", what, tok)
		}
	}
	if n := e.s.Stats().TokenRequests; n != 0 {
		t.Errorf("unknown grants: the server saw %d token requests, want 0 (refuse before any I/O)", n)
	}
}

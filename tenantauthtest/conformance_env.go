package tenantauthtest

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tenantauth/tenantauth"
)

// This file holds what every conformance case runs on: the suite's
// credentials, a case's environment (its server and the Provider under test),
// the Exchange wrapper that records and checks every result, and the shared
// assertions.

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
	// cfAudience is the audience StandardDialect servers require. It is no
	// secret, but has characters a form body must escape.
	cfAudience = "https://api.conformance.example/?tenant=a b&x=+%ç"
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
	cfg.AuthMethod = c.authMethod
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

// prepare adds the EndpointParams the dialect's servers require to a
// request that sets none.
func (e *env) prepare(req tenantauth.TokenRequest) tenantauth.TokenRequest {
	if e.c.spec.params != nil && req.Credentials.EndpointParams == nil {
		req.Credentials.EndpointParams = e.c.spec.params()
	}
	return req
}

// exchange calls Exchange under ctx, turns a panic into a failure, checks
// the shape of the result and that it reveals no secret known so far. It
// adds the EndpointParams the server requires (see prepare).
func (e *env) exchange(ctx context.Context, what string, req tenantauth.TokenRequest) (*tenantauth.Token, error) {
	e.t.Helper()
	req = e.prepare(req)
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

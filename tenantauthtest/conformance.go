package tenantauthtest

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"

	"github.com/tenantauth/tenantauth"
)

// This file is the conformance suite every tenantauth.Provider must pass
// (uber-go/ratelimit's runTest idea, testing/fstest.TestFS's shape): the same
// cases run against keycloak, passport, the standard server and any provider
// a user writes, so a new provider costs a constructor and one line of test.
//
// The suite's files, one concern each: this one holds its API (Dialect,
// TestProvider, Suite), the list of cases and what each dialect answers;
// conformance_env.go a case's environment and shared assertions;
// conformance_grants.go the cases that must succeed;
// conformance_failures.go the cases that must fail, and how;
// conformance_leak.go the secret-leak checks and the Secrets case.

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
	// StandardDialect runs the suite against [NewStandard] servers: the token
	// endpoint is {URL}/oauth2/token, announced at
	// {URL}/.well-known/openid-configuration and
	// {URL}/.well-known/oauth-authorization-server; the client authenticates
	// with client_secret_basic unless [Suite].AuthMethod says otherwise; and
	// every token request, refreshes included, must carry the parameter
	// audience ([Config].RequireParams), which the suite passes in
	// Credentials.EndpointParams.
	StandardDialect
)

// String returns "keycloak", "passport" or "standard".
func (d Dialect) String() string {
	if s, ok := dialectSpecs[d]; ok {
		return s.name
	}
	return fmt.Sprintf("Dialect(%d)", int(d))
}

// TestProvider runs the conformance cases against a stand-in server of
// dialect d, building the Provider under test for each server with
// newProvider, which receives the server: its URL, TokenURL, Issuer and
// Client (see [Suite] for what the servers are configured with). It is
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
// Users, TLS, AuthMethod and what a case sets on purpose (TokenLifetime,
// TokenType, RefreshTokens, RotateRefreshTokens, DisablePasswordGrant), the
// servers' Config is the zero value: realm "fluencypass", tokens valid one
// hour, no latency, the system clock.
//
// StandardDialect servers also require an audience parameter
// ([Config].RequireParams) on every token request; the suite passes it in
// every TokenRequest's Credentials.EndpointParams, with characters a form
// body must escape. A provider passes only if it sends EndpointParams with
// every request, full grants and refreshes alike.
type Suite struct {
	// Dialect selects the stand-in server. Required.
	Dialect Dialect

	// TLS serves every stand-in over HTTPS with a self-signed certificate
	// ([Config].TLS). newProvider must then send its requests with the
	// server's [Server.Client], which trusts the certificate. False means
	// plain HTTP on 127.0.0.1.
	TLS bool

	// AuthMethod is [Config].AuthMethod of every standard server ([NewStandard]), to run
	// the suite with each method a provider supports: "client_secret_basic"
	// or "client_secret_post". Zero means "client_secret_basic". Keycloak
	// and Passport accept both methods, so with them the suite fails at once
	// unless it is zero.
	AuthMethod string
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
//     neither newProvider nor Endpoint sends a token request (fetching a
//     discovery document is allowed).
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
//     Keycloak and StandardDialect), not a panic; the client_credentials grant
//     still works.
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
		t.Fatalf("tenantauthtest: conformance suite: unknown %v; want KeycloakDialect, PassportDialect or StandardDialect", su.Dialect)
	}
	switch {
	case su.AuthMethod != "" && su.Dialect != StandardDialect:
		t.Fatalf("tenantauthtest: conformance suite: AuthMethod %q with %v; only StandardDialect servers take one", su.AuthMethod, su.Dialect)
	case su.AuthMethod != "" && su.AuthMethod != authBasic && su.AuthMethod != authPost:
		t.Fatalf("tenantauthtest: conformance suite: AuthMethod %q; want %q or %q", su.AuthMethod, authBasic, authPost)
	}
	if newProvider == nil {
		t.Fatal("tenantauthtest: conformance suite: newProvider is nil")
	}
	c := &suite{spec: spec, tls: su.TLS, authMethod: su.AuthMethod, newProvider: newProvider}
	for _, tc := range conformanceCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.run(c, t)
		})
	}
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
	// params returns the Credentials.EndpointParams the server requires,
	// a new map each time (a Provider may keep it); nil for none.
	params func() url.Values
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
	StandardDialect: {
		name: "standard",
		start: func(cfg Config) *Server {
			cfg.RequireParams = map[string]string{"audience": cfAudience}
			return NewStandard(cfg)
		},
		params:           func() url.Values { return url.Values{"audience": {cfAudience}} },
		wrongPassword:    refusal{http.StatusBadRequest, "invalid_grant"},
		wrongSecret:      refusal{http.StatusUnauthorized, "invalid_client"},
		unknownClient:    refusal{http.StatusUnauthorized, "invalid_client"},
		passwordDisabled: refusal{http.StatusBadRequest, "unauthorized_client"},
		refreshReused:    refusal{http.StatusBadRequest, "invalid_grant"},
	},
}

// suite is one run's settings.
type suite struct {
	spec        *dialectSpec
	tls         bool
	authMethod  string // Standard only
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

// Package tenantauthtest starts stand-in OAuth 2.0 token servers for tests,
// the way net/http/httptest starts stand-in HTTP servers.
//
// [NewKeycloak] speaks Keycloak's token endpoint (the Fluencypass dialect:
// form bodies, client_secret_post or HTTP Basic, the password and
// client_credentials grants, refresh tokens with optional rotation).
// [NewPassport] speaks Laravel Passport's, that is league/oauth2-server's (the
// HubSoft dialect: JSON bodies with client_id as string or number, form
// bodies too, refresh tokens that always rotate). Both answer errors with the
// status codes and bodies the real servers send, so a client tested against
// them handles the real ones.
//
// [NewStandard] speaks plain OAuth 2.0 as RFC 6749 writes it, what Auth0,
// Amazon Cognito and Okta share: form bodies only, one client authentication
// method ([Config].AuthMethod: client_secret_basic by default, or
// client_secret_post; the other is refused), §5.2 error documents, refresh
// tokens with optional rotation and reuse detection, and parameters a
// server may require on every request ([Config].RequireParams, such as
// Auth0's audience). It publishes its metadata where clients discover it:
// {URL}/.well-known/openid-configuration (OpenID Connect Discovery 1.0) and
// {URL}/.well-known/oauth-authorization-server (RFC 8414), with
// [Config].DiscoveryIssuer and [Config].DisableOIDCDiscovery to test a
// client's issuer check and its fallback. [Stats].Discovery counts the
// discovery requests:
//
//	srv := tenantauthtest.NewStandard(tenantauthtest.Config{
//		RequireParams: map[string]string{"audience": "https://api.example"},
//	})
//	defer srv.Close()
//	// point the client under test at srv.Issuer(), with client "client"/"secret"
//
// Each server also serves a protected API under {URL}/api/ that accepts only
// unexpired, unrevoked access tokens it issued itself, and echoes who called
// it. Tests drive the unhappy paths from outside: [Server.Revoke] and
// [Server.RevokeAll] drop tokens (HubSoft drops every token after an
// upgrade), [Server.FailNext] makes the next token requests fail, hang or lose
// their connection, [Server.RejectAPI] makes the API refuse fresh tokens,
// [Server.SetLatency] slows the token endpoint down, and [Server.SetCapacity]
// overloads it. [Server.Stats] counts what happened, including the peak
// number of concurrent token requests, so a test can prove that a client
// fetched a token once for many callers.
//
// # Overload
//
// [Capacity] simulates an overloaded identity provider, as Keycloak with
// http-max-queued-requests or behind a proxy's concurrency limit: at most Max
// token requests in service at once, each taking the Latency, and the rest
// refused at once with 503 (or 429) and, when set, Retry-After. Use it in
// your own tests to check that a client bounds its concurrent token requests
// and backs off, say at a cold start of many tenants on one endpoint:
//
//	srv := tenantauthtest.NewKeycloak(tenantauthtest.Config{
//		Latency:  5 * time.Millisecond, // service time per token request
//		Capacity: tenantauthtest.Capacity{Max: 16, Status: http.StatusServiceUnavailable, RetryAfter: time.Second},
//	})
//	defer srv.Close()
//	// … fetch tokens for many tenants at once through the client under test …
//	st := srv.Stats()
//	t.Logf("%d token requests, %d refused, at most %d in service, %d sent at once",
//		st.TokenRequests, st.CapacityRefusals, st.MaxInService, st.MaxConcurrentTokenRequests)
//
// Stats.MaxInService never exceeds Max (unless Max is lowered while more are
// in service); Stats.MaxConcurrentTokenRequests counts refused requests too,
// so it shows how many the client sent at once. [Server.SetCapacity] changes
// the capacity while requests are in flight.
//
// A minimal test:
//
//	srv := tenantauthtest.NewKeycloak(tenantauthtest.Config{})
//	defer srv.Close()
//	// point the client under test at srv.TokenURL() and srv.APIURL(),
//	// with client "client"/"secret" and user "user@example.com"/"password"
//	if got := srv.Stats().TokenRequests; got != 1 {
//		t.Errorf("token requests = %d, want 1", got)
//	}
//
// Servers listen on 127.0.0.1 only, serve plain HTTP unless [Config].TLS is
// set, and never put a client secret, password or token other than the one
// they issue into a response body or log. Every method of [Server] is safe for
// concurrent use. [Server.Close] ends every request still in progress,
// including hung ones, and leaves no goroutine behind.
//
// Access tokens are opaque random strings, not JWTs: clients must not parse
// them, and the real Passport and Keycloak tokens are not meant to be parsed
// by clients either. The standard server issues no ID tokens and publishes
// no keys.
//
// [TestProvider] is a conformance suite for any [tenantauth.Provider]: it
// runs the same cases (grants, refresh rotation, expiry parsing, refusals,
// Retry-After, redirects, oversized bodies, cancellation, secret redaction)
// against a stand-in server of the provider's dialect ([KeycloakDialect],
// [PassportDialect] or [StandardDialect]). A new provider costs a constructor and
// one line of test:
//
//	func TestConformance(t *testing.T) {
//		tenantauthtest.TestProvider(t, tenantauthtest.PassportDialect,
//			func(s *tenantauthtest.Server) (tenantauth.Provider, error) {
//				return passport.New(passport.Config{BaseURL: s.URL})
//			})
//	}
package tenantauthtest

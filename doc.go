// Package tenantauth manages outbound OAuth 2.0 tokens for services that call
// each customer's own API with that customer's own credentials.
//
// A [Manager] hands out a tenant's access token: from a bounded, expiry-aware
// cache when it is fresh; otherwise from exactly one request to the tenant's
// token endpoint, however many goroutines ask, behind a circuit breaker per
// endpoint. Tokens close to expiry are replaced in the background while they
// keep being served, refresh tokens are used when present, and an API's 401
// invalidates only the rejected token.
//
// The pieces:
//
//   - providers/keycloak and providers/passport speak the token endpoints of
//     Keycloak (Fluencypass) and Laravel Passport (HubSoft); any type that
//     implements [Provider] works too.
//   - cache is the multi-tenant token cache; breaker holds the circuit
//     breakers. The Manager wires them; most programs never touch them.
//   - middleware/httpauth is an [net/http.RoundTripper] that sets each
//     request's Authorization header from the tenant in its context;
//     middleware/fiberauth does the same for Fiber v2 apps.
//   - tenantauthtest starts stand-in token servers for tests.
//
// # Concepts
//
// A tenant is one customer account: a [Tenant] names its token endpoint
// ([Provider]), its [Credentials] and the hosts its token may go to
// (APIHosts — required: an empty list sends the token nowhere, [AnyHost]
// allows every host). A [TenantSource] looks tenants up by ID when a token is
// needed, not on every call, so it may read a database; [Tenants] is a static
// map and [TenantFunc] adapts a function. One tenant ID is one cache entry:
// IDs are compared exactly.
//
// A request carries its tenant in its context ([WithTenant]); the middleware
// read it there ([TenantFromContext]) and ask the Manager for the token of
// that tenant for that destination ([Manager.TokenForURL]): a host outside
// APIHosts, or plain http off loopback, is refused before anything is sent.
//
// What the token endpoint refuses for a tenant (bad credentials, a grant or
// scope it does not allow) is remembered for Config.BadCredentialsTTL, so a
// broken tenant costs one token request per period, not one per call;
// [Manager.Forget] clears it once the tenant is fixed. What fails for every
// tenant of an endpoint (5xx, timeouts, refused connections) counts against
// that endpoint's circuit breaker instead.
//
// Errors say which tenant and which endpoint, keep their cause for
// [errors.Is] and [errors.As], and never contain a secret: a [TokenError]
// prints only the library's own words about the status and OAuth error
// code; the server's text is kept apart ([TokenError.ServerText]).
//
// Secrets — client secrets, passwords, access and refresh tokens — are of type
// [Secret], which prints, logs and marshals as "[REDACTED]".
package tenantauth

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
// Secrets — client secrets, passwords, access and refresh tokens — are of type
// [Secret], which prints, logs and marshals as "[REDACTED]".
package tenantauth

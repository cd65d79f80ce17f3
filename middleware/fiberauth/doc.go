// Package fiberauth connects Fiber v2 apps to a [tenantauth.Manager]: it
// finds the tenant of each incoming request and authenticates the calls a
// handler makes to that tenant's own API with the tenant's token.
//
// One concern per file:
//
//   - fiberauth.go: [New], the middleware. It resolves the tenant, stores it
//     in c.Locals ([TenantID]) and in c.UserContext()
//     ([tenantauth.WithTenant]), and answers requests without a valid tenant
//     through Config.ErrorHandler.
//   - resolve.go, claims.go: ready-made resolvers: [FromHeader], [FromParam],
//     [FromSubdomain], [FromForwardedSubdomain], [FromJWTClaim].
//   - httpclient.go: [HTTPClient], a net/http client built on
//     middleware/httpauth, for handlers that use net/http.
//   - agent.go: [Do], the same for Fiber's own *fiber.Agent.
//   - client.go: [Client], a tenant-aware wrapper of one shared
//     *fasthttp.Client; unlike Agents it pools connections.
//   - proxy.go: [Proxy], a gateway handler built on Fiber's proxy middleware
//     that forwards a request to its tenant's upstream with the tenant's token.
//   - retry.go: the 401 retry rule the outbound helpers share.
//   - errors.go: the errors, and the JSON answers of the default error
//     handlers.
//
// Every outbound path keeps the same rules as middleware/httpauth: a
// tenant's token goes only to a host the tenant's APIHosts allow
// ([tenantauth.Manager.TokenForHost]); a 401 invalidates exactly the token
// that was sent and the request is retried once with a fresh token when its
// body can be replayed and its method is idempotent (or the caller allowed
// otherwise); when the Manager hands back the same token (its invalidation
// cooldown) the 401 is returned as is.
//
// Tenant resolution reads only what a client cannot forge past a trusted
// proxy, and refuses what is ambiguous (a 400 from the default error
// handler):
//
//   - [FromSubdomain] reads the Host header as the client sent it, never
//     X-Forwarded-Host (which Fiber's c.Hostname() believes from anyone
//     unless fiber.Config.EnableTrustedProxyCheck is on). Two Host headers,
//     or an absolute-form request line naming another host than Host, are
//     refused.
//   - [FromForwardedSubdomain] reads X-Forwarded-Host instead only when
//     EnableTrustedProxyCheck is on and the peer is one of
//     fiber.Config.TrustedProxies, and then only a single value.
//   - [FromHeader] refuses a tenant header sent more than once or holding a
//     comma-separated list.
//
// [Proxy] keeps each request inside its tenant's upstream and keeps the
// gateway's own credentials out of it:
//
//   - A path with a "." or ".." segment is refused (400), whatever hides it:
//     parameters ("..;"), percent-encoding at any depth ("%2e", "%252e",
//     "%u002e"), encoded or backslash separators ("%2f", "%5c", '\'); so
//     is a path whose decoding holds a control character.
//   - Hop-by-hop headers (Connection, Keep-Alive, Proxy-Connection, TE,
//     Trailer, Transfer-Encoding, Upgrade, and those named in Connection or
//     Trailer) are dropped in both directions, as are the client's Cookie,
//     Proxy-Authorization and Authorization (the tenant's token replaces
//     it) and the upstream's Set-Cookie and Proxy-Authenticate, unless
//     ProxyConfig.ForwardRequestHeaders or ForwardResponseHeaders names
//     them.
//   - Handlers after Proxy, and its ErrorHandler, see the client's request
//     as it came.
//
// Fiber reuses the memory behind strings read from a *fiber.Ctx once the
// handler returns; the middleware copies the tenant ID before storing it.
package fiberauth

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
//     [FromSubdomain], [FromJWTClaim].
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
// Fiber reuses the memory behind strings read from a *fiber.Ctx once the
// handler returns; the middleware copies the tenant ID before storing it.
package fiberauth

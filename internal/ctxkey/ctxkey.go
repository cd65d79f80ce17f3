// Package ctxkey holds the context key under which tenantauth finds a
// request's tenant. It is shared by the root package and the Fiber
// middleware, which stores the tenant under it in fasthttp's request
// values too, so that Fiber's c.Context() carries the tenant as well as
// c.UserContext() does. No one outside this module can name it.
package ctxkey

// Tenant is the key. A WithTenant context answers Value(Tenant{}) with
// itself.
type Tenant struct{}

package fiberauth

import (
	"context"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/utils"
	"github.com/tenantauth/tenantauth"
	"github.com/tenantauth/tenantauth/internal/ctxkey"
)

// tenantKey is the c.Locals key of the tenant; an unexported type cannot
// collide with another middleware's key. The value stored under it is the
// context.Context that carries the tenant ID: that context is built anyway,
// and storing an interface value that already exists costs no allocation,
// where storing the string would box it again.
type tenantKey struct{}

// New returns the middleware that resolves each request's tenant with
// Config.Tenant and stores it, copied, where the rest of the request finds
// it: [TenantID] reads it from c.Locals, and c.UserContext() carries it for
// [tenantauth.TenantFromContext] (and so for middleware/httpauth, [Do],
// [Client] and [Proxy]).
//
// A request without a valid tenant never reaches the next handler: it is
// answered by Config.ErrorHandler. The middleware does not panic on any
// input.
func New(config ...Config) fiber.Handler {
	cfg := configDefault(config...)

	return func(c *fiber.Ctx) error {
		if cfg.Next != nil && cfg.Next(c) {
			return c.Next()
		}

		id, err := cfg.Tenant(c)
		if err == nil && !validTenantID(id) {
			// Built-in resolvers validate already; a custom one may not.
			if id == "" {
				err = ErrMissingTenant
			} else {
				err = ErrInvalidTenant
			}
		}
		if err != nil {
			return cfg.ErrorHandler(c, err)
		}

		// id may point into the request's buffers, which fasthttp reuses
		// once the handler returns; the stored copy must outlive them.
		id = utils.CopyString(id)

		ctx := c.UserContext()
		if cfg.Manager != nil {
			if _, err := cfg.Manager.Token(ctx, id); err != nil {
				err = tokenUnavailable(err)
				logFailure(cfg.Logger, c, id, err)
				return cfg.ErrorHandler(c, err)
			}
		}
		ctx = tenantauth.WithTenant(ctx, id)
		c.Locals(tenantKey{}, ctx)
		c.SetUserContext(ctx)
		// fasthttp's RequestCtx answers Value from its user values: a
		// handler that passes c.Context() where c.UserContext() was meant
		// (to http.NewRequestWithContext, say) still carries the tenant.
		c.Context().SetUserValue(ctxkey.Tenant{}, ctx)
		return c.Next()
	}
}

// TenantID returns the tenant ID that the middleware stored for this
// request. It reports false when the middleware did not run (or was skipped
// by Config.Next). The string is a copy: it may be kept after the handler
// returns.
func TenantID(c *fiber.Ctx) (string, bool) {
	ctx, ok := c.Locals(tenantKey{}).(context.Context)
	if !ok {
		return "", false
	}
	return tenantauth.TenantFromContext(ctx)
}

// tenantOf finds the tenant of a request for the outbound helpers: the one in
// c.UserContext() (put there by the middleware, or by a handler acting for
// another tenant with tenantauth.WithTenant), else the one the middleware
// stored in c.Locals, which survives a handler replacing the user context.
func tenantOf(c *fiber.Ctx) (string, bool) {
	if id, ok := tenantauth.TenantFromContext(c.UserContext()); ok {
		return id, true
	}
	return TenantID(c)
}

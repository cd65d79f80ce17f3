package benchmarks

import (
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/utils"
	"github.com/valyala/fasthttp"

	"github.com/tenantauth/tenantauth"
	"github.com/tenantauth/tenantauth/benchmarks/internal/contender"
	"github.com/tenantauth/tenantauth/benchmarks/internal/standin"
	"github.com/tenantauth/tenantauth/middleware/fiberauth"
)

// fiberTenants is the tenant count of the Fiber benchmark.
const fiberTenants = 1000

// tenantLocal is the c.Locals key of the hand-written middlewares.
type tenantLocal struct{}

// handWritten is the middleware an x/oauth2 or naive user writes for what
// fiberauth.New(Config{Manager: m}) does: read X-Tenant-ID, copy it (Fiber
// reuses the request's memory), make sure the tenant's token can be had,
// store the tenant in c.Locals and in the user context. It does not check
// the ID's syntax, which fiberauth does.
func handWritten(c contender.Contender) fiber.Handler {
	return func(ctx *fiber.Ctx) error {
		id := ctx.Get(fiberauth.HeaderTenantID)
		if id == "" {
			return ctx.SendStatus(fiber.StatusBadRequest)
		}
		id = utils.CopyString(id)
		uctx := ctx.UserContext()
		if _, err := c.Lookup(uctx, id); err != nil {
			return ctx.SendStatus(fiber.StatusServiceUnavailable)
		}
		ctx.Locals(tenantLocal{}, id)
		ctx.SetUserContext(tenantauth.WithTenant(uctx, id))
		return ctx.Next()
	}
}

// BenchmarkFiber measures the overhead of the tenant middleware in a Fiber
// app, called in-process through app.Handler() (no network): impl=none is
// the app without middleware; tenantauth is fiberauth.New with the Manager
// (resolve, validate and copy the tenant, check its token is cached, store
// it); oauth2 and naive are handWritten on their contender. Every tenant's
// token is cached.
func BenchmarkFiber(b *testing.B) {
	ids := standin.TenantIDs(fiberTenants)
	bench := func(b *testing.B, mw fiber.Handler) {
		app := fiber.New(fiber.Config{DisableStartupMessage: true})
		if mw != nil {
			app.Use(mw)
		}
		app.Get("/v1/ping", func(c *fiber.Ctx) error { return c.SendStatus(fiber.StatusOK) })
		h := app.Handler()
		var off offsets
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			var fctx fasthttp.RequestCtx
			fctx.Request.Header.SetMethod(fiber.MethodGet)
			fctx.Request.SetRequestURI("/v1/ping")
			i := off.take(len(ids))
			for pb.Next() {
				fctx.Request.Header.Set(fiberauth.HeaderTenantID, ids[i])
				h(&fctx)
				if code := fctx.Response.StatusCode(); code != fiber.StatusOK {
					b.Errorf("status %d", code)
					return
				}
				if i++; i == len(ids) {
					i = 0
				}
			}
		})
	}
	b.Run("impl=none", func(b *testing.B) { bench(b, nil) })
	for _, im := range impls {
		b.Run("impl="+im.bench, func(b *testing.B) {
			f := newFixture(b, im.name, fiberTenants, standin.NewNoop(), true)
			defer f.c.Close()
			mw := handWritten(f.c)
			if ta, ok := f.c.(*contender.Tenantauth); ok {
				mw = fiberauth.New(fiberauth.Config{Manager: ta.Manager()})
			}
			bench(b, mw)
		})
	}
}

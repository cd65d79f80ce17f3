package fiberauth

import (
	"context"
	"net"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/tenantauth/tenantauth"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"
)

// BenchmarkMiddleware measures the middleware's per-request cost with a
// cached token: the same route without it, with it, and with it checking
// the tenant's token through the Manager. It drives app.Handler() with
// RequestCtxs built here (app.Test would measure a TCP round trip).
func BenchmarkMiddleware(b *testing.B) {
	m := newManager(b, newFakeProvider(), tenantSpec{id: "acme"})
	app := fiber.New()
	ok := func(c *fiber.Ctx) error { return c.SendStatus(fiber.StatusOK) }
	app.Get("/without", ok)
	app.Get("/with", New(), ok)
	app.Get("/with-manager", New(Config{Manager: m}), ok)
	handler := app.Handler()
	if _, err := m.Token(context.Background(), "acme"); err != nil { // cache it
		b.Fatal(err)
	}

	for _, route := range []string{"/without", "/with", "/with-manager"} {
		b.Run(route[1:], func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				fctx := &fasthttp.RequestCtx{}
				fctx.Request.SetRequestURI(route)
				fctx.Request.Header.Set(HeaderTenantID, "acme")
				for pb.Next() {
					handler(fctx)
					if fctx.Response.StatusCode() != fiber.StatusOK {
						b.Errorf("status %d", fctx.Response.StatusCode())
						return
					}
					// What fasthttp's server does between two requests.
					fctx.ResetUserValues()
					fctx.Response.Reset()
				}
			})
		})
	}
}

// BenchmarkAgentHelper compares outbound calls against an in-memory
// fasthttp API: a plain fiber Agent with a fixed Authorization header and
// the same Agent through Do; then a shared fasthttp.Client and the same
// through a fiberauth Client. Agents open a connection per call (each has
// its own HostClient; ConnectionClose keeps them from piling up), which is
// why Client exists.
func BenchmarkAgentHelper(b *testing.B) {
	ln := fasthttputil.NewInmemoryListener()
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		if len(ctx.Request.Header.Peek("Authorization")) == 0 {
			ctx.SetStatusCode(fasthttp.StatusUnauthorized)
			return
		}
		ctx.SetBodyString("ok")
	}}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	defer func() { _ = srv.Shutdown(); _ = ln.Close(); <-done }()
	dial := func(string) (net.Conn, error) { return ln.Dial() }

	m := newManager(b, newFakeProvider(), tenantSpec{id: "acme", hosts: []string{"api.test"}})
	app := fiber.New()
	tok, err := m.Token(context.Background(), "acme")
	if err != nil {
		b.Fatal(err)
	}
	auth := tok.Authorization()
	const url = "http://api.test/orders"

	// withCtx runs f with a fiber.Ctx that carries tenant acme.
	withCtx := func(pb *testing.PB, f func(c *fiber.Ctx) bool) {
		fctx := &fasthttp.RequestCtx{}
		c := app.AcquireCtx(fctx)
		defer app.ReleaseCtx(c)
		c.SetUserContext(tenantauth.WithTenant(context.Background(), "acme"))
		for pb.Next() {
			if !f(c) {
				return
			}
		}
	}
	agent := func() *fiber.Agent {
		a := fiber.Get(url)
		a.HostClient.Dial = dial
		return a.ConnectionClose()
	}
	check := func(b *testing.B, code int, errs []error) bool {
		if len(errs) > 0 || code != fiber.StatusOK {
			b.Errorf("code %d, errs %v", code, errs)
			return false
		}
		return true
	}

	b.Run("agent", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			withCtx(pb, func(c *fiber.Ctx) bool {
				code, _, errs := agent().Set(fiber.HeaderAuthorization, auth).Bytes()
				return check(b, code, errs)
			})
		})
	})
	b.Run("agent+Do", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			withCtx(pb, func(c *fiber.Ctx) bool {
				code, _, errs := Do(c, m, agent())
				return check(b, code, errs)
			})
		})
	})

	hc := &fasthttp.Client{Dial: dial}
	defer hc.CloseIdleConnections()
	b.Run("fasthttp.Client", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			withCtx(pb, func(c *fiber.Ctx) bool {
				req.SetRequestURI(url)
				req.Header.Set(fiber.HeaderAuthorization, auth)
				err := hc.Do(req, resp)
				if err != nil {
					return check(b, 0, []error{err})
				}
				return check(b, resp.StatusCode(), nil)
			})
		})
	})
	cl := NewClient(ClientConfig{Manager: m, Client: hc})
	b.Run("Client", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			withCtx(pb, func(c *fiber.Ctx) bool {
				req.SetRequestURI(url)
				err := cl.Do(c, req, resp)
				if err != nil {
					return check(b, 0, []error{err})
				}
				return check(b, resp.StatusCode(), nil)
			})
		})
	})
}

package fiberauth

import (
	"errors"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/tenantauth/tenantauth"
	"github.com/valyala/fasthttp"
)

// TestPlainHTTPRefused: Client.Do and Do (Agent) send no token over plain
// http off loopback unless the Client or the tenant allows it.
func TestPlainHTTPRefused(t *testing.T) {
	s := newOutbound(t, ClientConfig{})
	strict, err := tenantauth.New(tenantauth.Config{Tenants: tenantauth.Tenants{
		"strict": {Provider: s.p, Credentials: tenantauth.Credentials{ClientID: "strict"}, APIHosts: []string{"a.test"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer strict.Close()
	lax := NewClient(ClientConfig{Manager: strict, Client: s.r.client(), AllowInsecureHTTP: true})
	defer lax.CloseIdleConnections()
	strictClient := NewClient(ClientConfig{Manager: strict, Client: s.r.client()})
	defer strictClient.CloseIdleConnections()

	var errs []error
	s.app.Get("/client", func(c *fiber.Ctx) error {
		cl := strictClient
		if c.Query("lax") != "" {
			cl = lax
		}
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(req)
		defer fasthttp.ReleaseResponse(resp)
		req.SetRequestURI("http://a.test/x")
		if err := cl.Do(c, req, resp); err != nil {
			errs = []error{err}
			return c.Status(599).SendString(err.Error())
		}
		return c.Send(resp.Body())
	})
	s.app.Get("/agent", func(c *fiber.Ctx) error {
		code, body, e := Do(c, strict, s.agent(fiber.MethodGet, "http://a.test/x"))
		errs = e
		return reply(c, code, body, e)
	})
	for _, path := range []string{"/client", "/agent"} {
		errs = nil
		code, body := get(t, s.app, path, "strict")
		if code != 599 || len(errs) == 0 || !errors.Is(errs[0], tenantauth.ErrInsecureEndpoint) {
			t.Fatalf("%s: got %d %q (%v); want a refusal matching ErrInsecureEndpoint", path, code, body, errs)
		}
	}
	if n := s.r.dialCount("a.test:80"); n != 0 {
		t.Fatalf("a.test dialled %d times; want nothing sent", n)
	}
	if code, body := get(t, s.app, "/client?lax=1", "strict"); code != 200 || body != "auth=Bearer tok-strict-1 host=a.test uri=/x body=" {
		t.Fatalf("with AllowInsecureHTTP: got %d %q", code, body)
	}
}

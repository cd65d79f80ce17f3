package fiberauth

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/tenantauth/tenantauth"
	"github.com/valyala/fasthttp"
)

// TestContextMistakeWorks: a handler that passes c.Context() where
// c.UserContext() was meant still carries the tenant.
func TestContextMistakeWorks(t *testing.T) {
	app := fiber.New()
	app.Use(New())
	app.Get("/", func(c *fiber.Ctx) error {
		id, ok := tenantauth.TenantFromContext(c.Context())
		if !ok {
			return c.SendString("none")
		}
		return c.SendString(id)
	})
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set(HeaderTenantID, "acme")
	if code, body := do(t, app, req); code != 200 || body != "acme" {
		t.Fatalf("got %d %q; want the tenant from c.Context()", code, body)
	}
}

// TestFailureLogged: a 503 whose cause the answer does not say is logged,
// with the tenant and the cause, to slog.Default() when no Logger is set;
// a discarding Logger turns it off.
func TestFailureLogged(t *testing.T) {
	p := newFakeProvider()
	p.fail.Store(true)
	m := newManager(t, p, tenantSpec{id: "acme"})

	var buf bytes.Buffer
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&buf, nil)))
	defer slog.SetDefault(prev)

	for _, tc := range []struct {
		name    string
		logger  *slog.Logger
		wantLog bool
	}{
		{"default logger", nil, true},
		{"logging off", slog.New(slog.DiscardHandler), false},
	} {
		buf.Reset()
		app := fiber.New()
		app.Use(New(Config{Manager: m, Logger: tc.logger}))
		app.Get("/", func(c *fiber.Ctx) error { return c.SendString("ok") })
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.Header.Set(HeaderTenantID, "acme")
		if code, _ := do(t, app, req); code != fiber.StatusServiceUnavailable {
			t.Fatalf("%s: status %d; want 503", tc.name, code)
		}
		got := buf.String()
		if logged := strings.Contains(got, "tenant=acme") && strings.Contains(got, "error="); logged != tc.wantLog {
			t.Fatalf("%s: log %q; want logged=%v with tenant and cause", tc.name, got, tc.wantLog)
		}
	}
}

// TestDefaultUpstreamFromAPIHosts: without ProxyConfig.Upstream, a tenant's
// upstream is its only APIHosts entry over https — one record for both its
// token and its upstream — and a tenant without a single host name is
// refused.
func TestDefaultUpstreamFromAPIHosts(t *testing.T) {
	p := newFakeProvider()
	m := newManager(t, p, tenantSpec{id: "acme", hosts: []string{"api.acme.test:8443"}},
		tenantSpec{id: "beta"}, tenantSpec{id: "gamma", hosts: []string{"*.gamma.test"}})
	up := upstreamFromAPIHosts(m)
	if got, err := up(context.Background(), "acme"); err != nil || got != "https://api.acme.test:8443" {
		t.Fatalf("acme: %q, %v; want https://api.acme.test:8443", got, err)
	}
	for _, id := range []string{"beta", "gamma"} {
		if got, err := up(context.Background(), id); !errors.Is(err, ErrInvalidUpstream) {
			t.Fatalf("%s: %q, %v; want ErrInvalidUpstream", id, got, err)
		}
	}
	if _, err := up(context.Background(), "nobody"); !errors.Is(err, tenantauth.ErrUnknownTenant) {
		t.Fatalf("unknown tenant: %v; want ErrUnknownTenant", err)
	}
}

// TestRejectedTokenDroppedWithoutRetry: a 401 to a request that is not
// retried (POST with IdempotentRetriesOnly) still drops the rejected token,
// so the next request carries a fresh one instead of another 401.
func TestRejectedTokenDroppedWithoutRetry(t *testing.T) {
	s := newOutbound(t, ClientConfig{IdempotentRetriesOnly: true})
	s.a.revoke("Bearer tok-acme-1")
	s.app.Get("/", func(c *fiber.Ctx) error {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(req)
		defer fasthttp.ReleaseResponse(resp)
		req.Header.SetMethod(c.Query("m"))
		req.SetRequestURI("http://a.test/r")
		if err := s.client.Do(c, req, resp); err != nil {
			return err
		}
		return c.SendString(strconv.Itoa(resp.StatusCode()))
	})
	if _, body := get(t, s.app, "/?m=POST", "acme"); body != "401" {
		t.Fatalf("POST: %q; want the 401 returned (not retried)", body)
	}
	if _, body := get(t, s.app, "/?m=GET", "acme"); body != "200" {
		t.Fatalf("next GET: %q; want 200 with a fresh token", body)
	}
	if got := s.a.authsSeen(); strings.Join(got, ",") != "Bearer tok-acme-1,Bearer tok-acme-2" {
		t.Fatalf("API saw %q", got)
	}
}

package fiberauth

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/tenantauth/tenantauth"
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

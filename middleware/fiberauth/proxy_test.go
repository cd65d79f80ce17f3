package fiberauth

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/tenantauth/tenantauth"
)

// gateway is an app proxying /api/* to per-tenant in-memory upstreams:
// acme → http://a.test/v1 (APIHosts a.test), beta → http://b.test (any
// host), and "evil" is configured, wrongly, to send acme's requests to
// b.test.
type gateway struct {
	*outboundSetup
	upstream map[string]string
	// authAfter is the request's Authorization once the proxy returned.
	authAfter string
}

func newGateway(t *testing.T, pc ProxyConfig) *gateway {
	t.Helper()
	g := &gateway{outboundSetup: newOutbound(t, ClientConfig{})}
	g.upstream = map[string]string{"acme": "http://a.test/v1", "beta": "http://b.test/"}
	pc.Manager = g.m
	pc.Client = g.r.client()
	if pc.Upstream == nil {
		pc.Upstream = func(_ context.Context, id string) (string, error) {
			u, ok := g.upstream[id]
			if !ok {
				return "", tenantauth.ErrUnknownTenant
			}
			return u, nil
		}
	}
	t.Cleanup(pc.Client.CloseIdleConnections)
	app := fiber.New()
	app.Use(func(c *fiber.Ctx) error {
		err := c.Next()
		g.authAfter = c.Get(fiber.HeaderAuthorization)
		return err
	})
	app.Use(New(Config{Next: func(c *fiber.Ctx) bool { return c.Path() == "/health" }}))
	app.Get("/health", func(c *fiber.Ctx) error { return c.SendString("ok") })
	app.All("/api/*", Proxy(pc))
	g.app = app
	return g
}

func (g *gateway) send(t *testing.T, method, target, tenant, auth string) (int, string) {
	t.Helper()
	req := httptest.NewRequest(method, target, strings.NewReader("payload"))
	if tenant != "" {
		req.Header.Set(HeaderTenantID, tenant)
	}
	if auth != "" {
		req.Header.Set(fiber.HeaderAuthorization, auth)
	}
	return do(t, g.app, req)
}

func TestProxy(t *testing.T) {
	tests := []struct {
		name, method, target, tenant string
		upstream                     map[string]string // overrides
		wantCode                     int
		wantBody                     string
		wantDialsB                   int
	}{
		{name: "acme with base path", method: "GET", target: "/api/orders?page=2", tenant: "acme", wantCode: 200,
			wantBody: "auth=Bearer tok-acme-1 host=a.test uri=/v1/orders?page=2 body=payload"},
		{name: "beta", method: "POST", target: "/api/x", tenant: "beta", wantCode: 200,
			wantBody: "auth=Bearer tok-beta-1 host=b.test uri=/x body=payload", wantDialsB: 1},
		{name: "prefix only", method: "GET", target: "/api/", tenant: "acme", wantCode: 200,
			wantBody: "auth=Bearer tok-acme-1 host=a.test uri=/v1/ body=payload"},
		{name: "no tenant", method: "GET", target: "/api/x", wantCode: 400, wantBody: `{"error":"missing tenant"}`},
		{name: "unknown tenant", method: "GET", target: "/api/x", tenant: "gamma", wantCode: 403, wantBody: `{"error":"unknown tenant"}`},
		{name: "foreign host", method: "GET", target: "/api/x", tenant: "acme", upstream: map[string]string{"acme": "http://b.test"},
			wantCode: 502, wantBody: `{"error":"upstream not allowed for tenant"}`},
		{name: "foreign host behind user info", method: "GET", target: "/api/x", tenant: "acme", upstream: map[string]string{"acme": "http://a.test@b.test"},
			wantCode: 502, wantBody: `{"error":"upstream not allowed for tenant"}`},
		{name: "relative upstream", method: "GET", target: "/api/x", tenant: "acme", upstream: map[string]string{"acme": "/v1"},
			wantCode: 502, wantBody: `{"error":"invalid upstream"}`},
		{name: "upstream with query", method: "GET", target: "/api/x", tenant: "acme", upstream: map[string]string{"acme": "http://a.test/v1?key=1"},
			wantCode: 502, wantBody: `{"error":"invalid upstream"}`},
		{name: "other scheme", method: "GET", target: "/api/x", tenant: "acme", upstream: map[string]string{"acme": "ftp://a.test"},
			wantCode: 502, wantBody: `{"error":"invalid upstream"}`},
		{name: "encoded dot segment", method: "GET", target: "/api/%2e%2e/admin", tenant: "acme", wantCode: 400, wantBody: `{"error":"invalid path"}`},
		{name: "upstream down", method: "GET", target: "/api/x", tenant: "beta", upstream: map[string]string{"beta": "http://c.test"},
			wantCode: 502, wantBody: `{"error":"bad gateway"}`},
		{name: "next skips", method: "GET", target: "/health", wantCode: 200, wantBody: "ok"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newGateway(t, ProxyConfig{StripPrefix: "/api"})
			for k, v := range tt.upstream {
				g.upstream[k] = v
			}
			code, body := g.send(t, tt.method, tt.target, tt.tenant, "Basic the-clients-own")
			if code != tt.wantCode || body != tt.wantBody {
				t.Fatalf("got %d %q, want %d %q", code, body, tt.wantCode, tt.wantBody)
			}
			if n := g.r.dialCount("b.test:80"); n != tt.wantDialsB {
				t.Fatalf("b.test dialled %d times, want %d", n, tt.wantDialsB)
			}
			if g.authAfter != "Basic the-clients-own" {
				t.Fatalf("Authorization after the proxy = %q, want the client's own", g.authAfter)
			}
			for _, a := range append(g.a.authsSeen(), g.b.authsSeen()...) {
				if strings.Contains(a, "the-clients-own") {
					t.Fatalf("the client's Authorization reached an upstream: %q", a)
				}
			}
		})
	}
}

func TestProxyRecoversFrom401(t *testing.T) {
	tests := []struct {
		name       string
		method     string
		idemOnly   bool
		revokeAll  bool
		wantCode   int
		wantAuths  string
		wantTokens int64
	}{
		{name: "GET", method: "GET", wantCode: 200, wantAuths: "Bearer tok-acme-1,Bearer tok-acme-2", wantTokens: 2},
		{name: "POST not retried when idempotent only", method: "POST", idemOnly: true, wantCode: 401, wantAuths: "Bearer tok-acme-1", wantTokens: 1},
		{name: "POST retried by default", method: "POST", wantCode: 200, wantAuths: "Bearer tok-acme-1,Bearer tok-acme-2", wantTokens: 2},
		{name: "one retry only", method: "GET", revokeAll: true, wantCode: 401, wantAuths: "Bearer tok-acme-1,Bearer tok-acme-2", wantTokens: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newGateway(t, ProxyConfig{StripPrefix: "/api", IdempotentRetriesOnly: tt.idemOnly})
			g.a.revoke("Bearer tok-acme-1")
			if tt.revokeAll {
				g.a.revoke("Bearer tok-acme-2")
			}
			code, body := g.send(t, tt.method, "/api/orders", "acme", "")
			if code != tt.wantCode {
				t.Fatalf("got %d %q, want %d", code, body, tt.wantCode)
			}
			if code == 200 && body != "auth=Bearer tok-acme-2 host=a.test uri=/v1/orders body=payload" {
				t.Fatalf("body %q", body)
			}
			if got := strings.Join(g.a.authsSeen(), ","); got != tt.wantAuths {
				t.Fatalf("upstream saw %q, want %q", got, tt.wantAuths)
			}
			if n := g.p.calls.Load(); n != tt.wantTokens {
				t.Fatalf("token requests = %d, want %d", n, tt.wantTokens)
			}
			if g.authAfter != "" {
				t.Fatalf("tenant token left on the request: %q", g.authAfter)
			}
		})
	}
}

func TestProxyConfigPanics(t *testing.T) {
	up := func(context.Context, string) (string, error) { return "", errors.New("x") }
	for name, pc := range map[string]ProxyConfig{
		"no manager": {Upstream: up},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: Proxy did not panic", name)
				}
			}()
			Proxy(pc)
		}()
	}
}

func TestForwardPath(t *testing.T) {
	tests := []struct {
		original, prefix, want string
		ok                     bool
	}{
		{"/api/orders", "/api", "/orders", true},
		{"/api/orders", "/api/", "/orders", true},
		{"/api", "/api", "/", true},
		{"/api?x=1", "/api", "/?x=1", true},
		{"/apix/orders", "/api", "", false},
		{"/other", "/api", "", false},
		{"/orders", "", "/orders", true},
		{"/api/a/../b", "/api", "", false},
		{"/api/..", "/api", "", false},
		{"/api/./x", "/api", "", false},
		{"/api/%2E%2e/x", "/api", "", false},
		{"/api/.%2e", "/api", "", false},
		{"/api/..%2fx", "/api", "", false},
		{"/api/..\\x", "/api", "", false},
		{"/api/a..b/...", "/api", "/a..b/...", true},
		{"/api/x?next=/../y", "/api", "/x?next=/../y", true}, // the query is not a path
		{"/api/x#/../y", "/api", "/x#/../y", true},
	}
	for _, tt := range tests {
		got, ok := forwardPath(tt.original, tt.prefix)
		if got != tt.want || ok != tt.ok {
			t.Errorf("forwardPath(%q, %q) = %q, %v; want %q, %v", tt.original, tt.prefix, got, ok, tt.want, tt.ok)
		}
	}
}

func TestUpstreamHost(t *testing.T) {
	tests := []struct {
		target, want string
		ok           bool
	}{
		{"http://a.test/x", "a.test", true},
		{"HTTPS://A.Test:8443/x", "a.test:8443", true},
		{"http://user:pw@b.test/x", "b.test", true},
		{"http://[::1]:80/x", "[::1]:80", true},
		{"/x", "", false},
		{"ftp://a.test/x", "", false},
		{"http:///x", "", false},
		{"http://", "", false},
	}
	for _, tt := range tests {
		got, ok := upstreamHost(tt.target)
		if got != tt.want || ok != tt.ok {
			t.Errorf("upstreamHost(%q) = %q, %v; want %q, %v", tt.target, got, ok, tt.want, tt.ok)
		}
	}
}

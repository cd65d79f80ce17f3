package fiberauth

import (
	"bufio"
	"net"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
)

// serveRaw parses raw, a request as it comes off the wire, the way Fiber's
// server does, and serves it with app as if it came from the peer address
// remoteIP. It returns the status and body of the answer.
func serveRaw(t *testing.T, app *fiber.App, remoteIP, raw string) (int, string) {
	t.Helper()
	var req fasthttp.Request
	if err := req.Read(bufio.NewReader(strings.NewReader(raw))); err != nil {
		t.Fatalf("parsing %q: %v", raw, err)
	}
	var fctx fasthttp.RequestCtx
	fctx.Init(&req, &net.TCPAddr{IP: net.ParseIP(remoteIP), Port: 40000}, nil)
	app.Handler()(&fctx)
	return fctx.Response.StatusCode(), string(fctx.Response.Body())
}

// rawGet is a GET / request with the given request target and header lines.
func rawGet(target string, headers ...string) string {
	var b strings.Builder
	b.WriteString("GET " + target + " HTTP/1.1\r\n")
	for _, h := range headers {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("\r\n")
	return b.String()
}

// TestFromSubdomainReadsOnlyTheHostHeader proves that FromSubdomain takes
// the tenant from the Host header the client sent and from nothing else a
// client can add on the way: not X-Forwarded-Host (Fiber's c.Hostname()
// trusts it from anyone unless EnableTrustedProxyCheck is on), not the host
// of an absolute-form request line (which fasthttp prefers to Host) that
// differs from Host, and not the last of two Host headers.
func TestFromSubdomainReadsOnlyTheHostHeader(t *testing.T) {
	const base = "api.example.com"
	tests := []struct {
		name     string
		raw      string
		wantCode int
		wantBody string
	}{
		{name: "host header", raw: rawGet("/", "Host: acme.api.example.com"),
			wantCode: 200, wantBody: "acme|acme"},
		{name: "forwarded host ignored", raw: rawGet("/", "Host: attacker.api.example.com", "X-Forwarded-Host: victim.api.example.com"),
			wantCode: 200, wantBody: "attacker|attacker"},
		{name: "forwarded host alone ignored", raw: rawGet("/", "Host: api.example.com", "X-Forwarded-Host: victim.api.example.com"),
			wantCode: 400, wantBody: `{"error":"missing tenant"}`},
		{name: "absolute form naming another host", raw: rawGet("http://victim.api.example.com/", "Host: attacker.api.example.com"),
			wantCode: 400, wantBody: `{"error":"invalid tenant"}`},
		{name: "absolute form without host header", raw: rawGet("http://victim.api.example.com/"),
			wantCode: 200, wantBody: "victim|victim"}, // the only host the request names
		{name: "absolute form naming the same host", raw: rawGet("HTTP://Acme.API.example.com:80/", "Host: acme.api.example.com"),
			wantCode: 200, wantBody: "acme|acme"},
		{name: "absolute form behind a base-domain host", raw: rawGet("http://victim.api.example.com/", "Host: api.example.com"),
			wantCode: 400, wantBody: `{"error":"invalid tenant"}`},
		{name: "two host headers", raw: rawGet("/", "Host: attacker.api.example.com", "Host: victim.api.example.com"),
			wantCode: 400, wantBody: `{"error":"invalid tenant"}`},
		{name: "user info in host", raw: rawGet("/", "Host: attacker@victim.api.example.com"),
			wantCode: 400, wantBody: `{"error":"invalid tenant"}`},
		{name: "no host", raw: "GET / HTTP/1.0\r\n\r\n",
			wantCode: 400, wantBody: `{"error":"missing tenant"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app := fiber.New()
			app.Get("/", New(Config{Tenant: FromSubdomain(base)}), echoTenant)
			code, body := serveRaw(t, app, "203.0.113.7", tt.raw)
			if code != tt.wantCode || body != tt.wantBody {
				t.Fatalf("got %d %q, want %d %q", code, body, tt.wantCode, tt.wantBody)
			}
		})
	}
}

// TestFromSubdomainIgnoresForwardedHostFromTrustedProxy proves that even
// an app that trusts its proxy does not let FromSubdomain read
// X-Forwarded-Host: only FromForwardedSubdomain opts in.
func TestFromSubdomainIgnoresForwardedHostFromTrustedProxy(t *testing.T) {
	app := fiber.New(fiber.Config{EnableTrustedProxyCheck: true, TrustedProxies: []string{"10.0.0.1"}})
	app.Get("/", New(Config{Tenant: FromSubdomain("api.example.com")}), echoTenant)
	code, body := serveRaw(t, app, "10.0.0.1", rawGet("/", "Host: proxy.api.example.com", "X-Forwarded-Host: acme.api.example.com"))
	if code != 200 || body != "proxy|proxy" {
		t.Fatalf("got %d %q, want 200 %q", code, body, "proxy|proxy")
	}
}

// TestFromForwardedSubdomain proves that X-Forwarded-Host picks the tenant
// only when Fiber's trusted-proxy check is on and the peer passes it, that
// an ambiguous X-Forwarded-Host (sent twice, or a list) is refused, and
// that everything else falls back to FromSubdomain's rules.
func TestFromForwardedSubdomain(t *testing.T) {
	const base = "api.example.com"
	trusting := fiber.Config{EnableTrustedProxyCheck: true, TrustedProxies: []string{"10.0.0.1"}}
	tests := []struct {
		name     string
		app      fiber.Config
		peer     string
		raw      string
		wantCode int
		wantBody string
	}{
		{name: "trusted proxy", app: trusting, peer: "10.0.0.1",
			raw:      rawGet("/", "Host: internal.api.example.com", "X-Forwarded-Host: acme.api.example.com:443"),
			wantCode: 200, wantBody: "acme|acme"},
		{name: "untrusted peer", app: trusting, peer: "203.0.113.7",
			raw:      rawGet("/", "Host: attacker.api.example.com", "X-Forwarded-Host: victim.api.example.com"),
			wantCode: 200, wantBody: "attacker|attacker"},
		{name: "trusted-proxy check off", app: fiber.Config{}, peer: "10.0.0.1",
			raw:      rawGet("/", "Host: attacker.api.example.com", "X-Forwarded-Host: victim.api.example.com"),
			wantCode: 200, wantBody: "attacker|attacker"},
		{name: "trusted proxy without the header", app: trusting, peer: "10.0.0.1",
			raw:      rawGet("/", "Host: acme.api.example.com"),
			wantCode: 200, wantBody: "acme|acme"},
		{name: "trusted proxy, header twice", app: trusting, peer: "10.0.0.1",
			raw:      rawGet("/", "Host: x.api.example.com", "X-Forwarded-Host: victim.api.example.com", "X-Forwarded-Host: acme.api.example.com"),
			wantCode: 400, wantBody: `{"error":"invalid tenant"}`},
		{name: "trusted proxy, header list", app: trusting, peer: "10.0.0.1",
			raw:      rawGet("/", "Host: x.api.example.com", "X-Forwarded-Host: victim.api.example.com, acme.api.example.com"),
			wantCode: 400, wantBody: `{"error":"invalid tenant"}`},
		{name: "trusted proxy, other domain", app: trusting, peer: "10.0.0.1",
			raw:      rawGet("/", "Host: acme.api.example.com", "X-Forwarded-Host: evil.test"),
			wantCode: 400, wantBody: `{"error":"missing tenant"}`},
		{name: "untrusted peer, absolute form", app: trusting, peer: "203.0.113.7",
			raw:      rawGet("http://victim.api.example.com/", "Host: attacker.api.example.com"),
			wantCode: 400, wantBody: `{"error":"invalid tenant"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app := fiber.New(tt.app)
			app.Get("/", New(Config{Tenant: FromForwardedSubdomain(base)}), echoTenant)
			code, body := serveRaw(t, app, tt.peer, tt.raw)
			if code != tt.wantCode || body != tt.wantBody {
				t.Fatalf("got %d %q, want %d %q", code, body, tt.wantCode, tt.wantBody)
			}
		})
	}
}

// TestFromHeaderRefusesDuplicates proves that a tenant header sent more
// than once, in any spelling, or as a comma-separated list (how an
// intermediary may join copies) is refused instead of resolving to one of
// the copies.
func TestFromHeaderRefusesDuplicates(t *testing.T) {
	tests := []struct {
		name     string
		headers  []string
		wantCode int
		wantBody string
	}{
		{name: "once", headers: []string{"X-Tenant-ID: acme"}, wantCode: 200, wantBody: "acme|acme"},
		{name: "twice", headers: []string{"X-Tenant-ID: acme", "X-Tenant-ID: beta"}, wantCode: 400, wantBody: `{"error":"invalid tenant"}`},
		{name: "twice the same", headers: []string{"X-Tenant-ID: acme", "X-Tenant-ID: acme"}, wantCode: 400, wantBody: `{"error":"invalid tenant"}`},
		{name: "twice, other case", headers: []string{"X-Tenant-ID: acme", "x-tenant-id: beta"}, wantCode: 400, wantBody: `{"error":"invalid tenant"}`},
		{name: "second empty", headers: []string{"X-Tenant-ID: acme", "X-Tenant-ID:"}, wantCode: 400, wantBody: `{"error":"invalid tenant"}`},
		{name: "list", headers: []string{"X-Tenant-ID: acme,beta"}, wantCode: 400, wantBody: `{"error":"invalid tenant"}`},
		{name: "empty", headers: []string{"X-Tenant-ID:"}, wantCode: 400, wantBody: `{"error":"missing tenant"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app := fiber.New()
			app.Get("/", New(), echoTenant)
			code, body := serveRaw(t, app, "203.0.113.7", rawGet("/", append([]string{"Host: gw.example.com"}, tt.headers...)...))
			if code != tt.wantCode || body != tt.wantBody {
				t.Fatalf("got %d %q, want %d %q", code, body, tt.wantCode, tt.wantBody)
			}
		})
	}
}

// TestHeaderResolversDoNotAllocate keeps the Resolver promise: the checks
// above (duplicate headers, the request line's host) cost no allocation
// when the tenant resolves. (Fiber's own trusted-proxy check allocates, so
// FromForwardedSubdomain is measured with it off.)
func TestHeaderResolversDoNotAllocate(t *testing.T) {
	app := fiber.New()
	tests := []struct {
		name string
		r    Resolver
		raw  string
	}{
		{"header", FromHeader(HeaderTenantID), rawGet("/", "Host: gw.example.com", "X-Tenant-ID: acme")},
		{"subdomain", FromSubdomain("api.example.com"), rawGet("/", "Host: acme.api.example.com")},
		{"forwarded subdomain", FromForwardedSubdomain("api.example.com"),
			rawGet("/", "Host: acme.api.example.com", "X-Forwarded-Host: evil.api.example.com")},
	}
	for _, tt := range tests {
		var req fasthttp.Request
		if err := req.Read(bufio.NewReader(strings.NewReader(tt.raw))); err != nil {
			t.Fatal(err)
		}
		var fctx fasthttp.RequestCtx
		fctx.Init(&req, &net.TCPAddr{IP: net.IPv4(10, 0, 0, 1), Port: 40000}, nil)
		c := app.AcquireCtx(&fctx)
		if id, err := tt.r(c); id != "acme" || err != nil {
			t.Fatalf("%s: resolved %q, %v", tt.name, id, err)
		}
		if n := testing.AllocsPerRun(100, func() { _, _ = tt.r(c) }); n != 0 {
			t.Errorf("%s: %v allocations per resolution, want 0", tt.name, n)
		}
		app.ReleaseCtx(c)
	}
}

package fiberauth

import (
	"bufio"
	"context"
	"net"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"
)

// headerAPI is an upstream at h.test that records the header lines of
// each request as they came off the wire and answers with a response that
// carries hop-by-hop headers, a cookie and one header it names in
// Connection.
type headerAPI struct {
	*fakeAPI
	mu    sync.Mutex
	heads []string // raw header block of every request
}

func newHeaderAPI(t *testing.T) *headerAPI {
	t.Helper()
	h := &headerAPI{fakeAPI: &fakeAPI{ln: fasthttputil.NewInmemoryListener(), revoked: map[string]bool{}, done: make(chan struct{})}}
	h.srv = &fasthttp.Server{Handler: h.handle, NoDefaultServerHeader: true}
	go func() {
		defer close(h.done)
		_ = h.srv.Serve(h.ln)
	}()
	t.Cleanup(h.close)
	return h
}

func (h *headerAPI) handle(ctx *fasthttp.RequestCtx) {
	h.mu.Lock()
	h.heads = append(h.heads, string(ctx.Request.Header.RawHeaders()))
	h.mu.Unlock()
	r := &ctx.Response.Header
	r.Set("Set-Cookie", "sid=upstream-session; Path=/")
	r.Set("Keep-Alive", "timeout=5")
	r.Set("Proxy-Authenticate", `Basic realm="upstream"`)
	r.Set("Upgrade", "h2c")
	r.Set("Connection", "X-Upstream-Hop")
	r.Set("X-Upstream-Hop", "upstream-hop-secret")
	r.Set("X-Upstream-Normal", "kept")
	ctx.SetBodyString("uri=" + string(ctx.RequestURI()))
}

// received returns the header fields of the last request, by lower-case
// name.
func (h *headerAPI) received(t *testing.T) map[string][]string {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.heads) == 0 {
		t.Fatal("the upstream got no request")
	}
	return headerFields(h.heads[len(h.heads)-1])
}

// headerFields parses a raw header block into fields by lower-case name.
func headerFields(raw string) map[string][]string {
	fields := map[string][]string{}
	for _, line := range strings.Split(raw, "\n") {
		k, v, ok := strings.Cut(strings.TrimRight(line, "\r"), ":")
		if ok {
			k = strings.ToLower(strings.TrimSpace(k))
			fields[k] = append(fields[k], strings.TrimSpace(v))
		}
	}
	return fields
}

// headerGateway is an app proxying /api/* for tenant beta to h.test, with
// a middleware in front that records the request's headers once the proxy
// returned.
type headerGateway struct {
	*outboundSetup
	h     *headerAPI
	after map[string][]string // the request's header fields after the proxy
	host  string              // the request's Host after the proxy
}

func newHeaderGateway(t *testing.T, pc ProxyConfig) *headerGateway {
	t.Helper()
	g := &headerGateway{outboundSetup: newOutbound(t, ClientConfig{}), h: newHeaderAPI(t)}
	g.r.add("h.test:80", g.h.fakeAPI)
	pc.Manager = g.m
	pc.Client = g.r.client()
	pc.StripPrefix = "/api"
	pc.Upstream = func(_ context.Context, id string) (string, error) { return "http://h.test/base", nil }
	t.Cleanup(pc.Client.CloseIdleConnections)
	app := fiber.New()
	app.Use(func(c *fiber.Ctx) error {
		err := c.Next()
		g.after = headerFields(c.Request().Header.String())
		g.host = string(c.Request().Header.Host())
		return err
	})
	app.Use(New())
	app.All("/api/*", Proxy(pc))
	g.app = app
	return g
}

// clientRequest is what a browser-like client sends through the gateway:
// its own credentials for the gateway (Authorization twice, so that setting
// the tenant's token over the first is not enough), hop-by-hop headers, one
// header it names in Connection, and a chunked body with a trailer.
const clientRequest = "POST /api/orders HTTP/1.1\r\n" +
	"Host: gw.example.com\r\n" +
	"X-Tenant-ID: beta\r\n" +
	"Authorization: Basic Z2F0ZXdheS11c2VyOnB3\r\n" +
	"Authorization: Bearer the-clients-own-token\r\n" +
	"Cookie: gateway_session=client-session\r\n" +
	"Proxy-Authorization: Basic cHJveHktY3JlZHM=\r\n" +
	"Connection: X-Client-Hop, keep-alive\r\n" +
	"X-Client-Hop: client-hop-secret\r\n" +
	"Keep-Alive: timeout=5\r\n" +
	"Proxy-Connection: keep-alive\r\n" +
	"TE: trailers\r\n" +
	"Upgrade: websocket\r\n" +
	"Trailer: X-Checksum\r\n" +
	"Transfer-Encoding: chunked\r\n" +
	"X-Request-Normal: kept\r\n" +
	"\r\n" +
	"7\r\npayload\r\n0\r\nX-Checksum: 42\r\n\r\n"

// send serves raw with the gateway and returns the response.
func (g *headerGateway) send(t *testing.T, raw string) *fasthttp.Response {
	t.Helper()
	var req fasthttp.Request
	if err := req.Read(bufio.NewReader(strings.NewReader(raw))); err != nil {
		t.Fatal(err)
	}
	var fctx fasthttp.RequestCtx
	fctx.Init(&req, &net.TCPAddr{IP: net.IPv4(203, 0, 113, 7), Port: 40000}, nil)
	g.app.Handler()(&fctx)
	resp := &fasthttp.Response{}
	fctx.Response.CopyTo(resp)
	if resp.StatusCode() != 200 {
		t.Fatalf("gateway answered %d %q", resp.StatusCode(), resp.Body())
	}
	return resp
}

// responseFields returns resp's header fields by lower-case name.
func responseFields(resp *fasthttp.Response) map[string][]string {
	return headerFields(resp.Header.String())
}

// TestProxyDropsHopByHopAndCredentials proves that, by default, neither
// the client's credentials (Cookie, Proxy-Authorization, its own
// Authorization) nor hop-by-hop headers (the fixed list and whatever the
// client names in Connection) reach the tenant's upstream, and neither the
// upstream's cookies nor its hop-by-hop headers come back to the client.
func TestProxyDropsHopByHopAndCredentials(t *testing.T) {
	g := newHeaderGateway(t, ProxyConfig{})
	resp := g.send(t, clientRequest)

	got := g.h.received(t)
	for _, name := range []string{"cookie", "proxy-authorization", "connection", "x-client-hop", "keep-alive",
		"proxy-connection", "te", "upgrade", "trailer", "transfer-encoding", "x-checksum"} {
		if v, ok := got[name]; ok {
			t.Errorf("upstream received %s: %q", name, v)
		}
	}
	if a := strings.Join(got["authorization"], ","); a != "Bearer tok-beta-1" {
		t.Errorf("upstream received Authorization %q, want the tenant's token only", a)
	}
	if v := strings.Join(got["x-request-normal"], ","); v != "kept" {
		t.Errorf("upstream received X-Request-Normal %q, want it forwarded", v)
	}
	if body := string(resp.Body()); body != "uri=/base/orders" {
		t.Errorf("upstream answered %q", body)
	}

	back := responseFields(resp)
	for _, name := range []string{"set-cookie", "keep-alive", "proxy-authenticate", "upgrade", "x-upstream-hop"} {
		if v, ok := back[name]; ok {
			t.Errorf("client received %s: %q", name, v)
		}
	}
	if v := strings.Join(back["connection"], ","); strings.Contains(strings.ToLower(v), "x-upstream-hop") {
		t.Errorf("client received Connection %q", v)
	}
	if v := strings.Join(back["x-upstream-normal"], ","); v != "kept" {
		t.Errorf("client received X-Upstream-Normal %q, want it passed back", v)
	}
}

// TestProxyForwardsAllowListedHeaders proves that the allow-lists turn the
// drops back on, one named header at a time (case-insensitively), and only
// for the names listed.
func TestProxyForwardsAllowListedHeaders(t *testing.T) {
	g := newHeaderGateway(t, ProxyConfig{
		ForwardRequestHeaders:  []string{"cookie", "X-Client-Hop"},
		ForwardResponseHeaders: []string{"Set-Cookie", "x-upstream-hop"},
	})
	resp := g.send(t, clientRequest)

	got := g.h.received(t)
	if v := strings.Join(got["cookie"], ","); v != "gateway_session=client-session" {
		t.Errorf("upstream received Cookie %q, want the client's", v)
	}
	if v := strings.Join(got["x-client-hop"], ","); v != "client-hop-secret" {
		t.Errorf("upstream received X-Client-Hop %q, want it (allow-listed)", v)
	}
	for _, name := range []string{"proxy-authorization", "connection", "keep-alive", "upgrade", "te"} {
		if v, ok := got[name]; ok {
			t.Errorf("upstream received %s: %q", name, v)
		}
	}
	if a := strings.Join(got["authorization"], ","); a != "Bearer tok-beta-1" {
		t.Errorf("upstream received Authorization %q", a)
	}

	back := responseFields(resp)
	if v := strings.Join(back["set-cookie"], ","); v != "sid=upstream-session; Path=/" {
		t.Errorf("client received Set-Cookie %q, want the upstream's", v)
	}
	if v := strings.Join(back["x-upstream-hop"], ","); v != "upstream-hop-secret" {
		t.Errorf("client received X-Upstream-Hop %q, want it (allow-listed)", v)
	}
	for _, name := range []string{"proxy-authenticate", "keep-alive", "upgrade"} {
		if v, ok := back[name]; ok {
			t.Errorf("client received %s: %q", name, v)
		}
	}
}

// TestProxyRestoresRequestHeaders proves that the headers Proxy drops or
// replaces for the upstream are back as the client sent them once the
// proxy returns, for the handlers and loggers around it.
func TestProxyRestoresRequestHeaders(t *testing.T) {
	g := newHeaderGateway(t, ProxyConfig{})
	g.send(t, clientRequest)
	want := headerFields(clientRequest[:strings.Index(clientRequest, "\r\n\r\n")])
	for _, name := range []string{"authorization", "cookie", "proxy-authorization", "x-client-hop", "keep-alive", "upgrade", "x-request-normal"} {
		if got := strings.Join(g.after[name], ","); got != strings.Join(want[name], ",") {
			t.Errorf("%s after the proxy = %q, want %q", name, got, want[name])
		}
	}
	if g.host != "gw.example.com" {
		t.Errorf("Host after the proxy = %q, want the client's", g.host)
	}
}

func TestProxyConfigRefusesConnectionHeaders(t *testing.T) {
	p := newFakeProvider()
	m := newManager(t, p)
	up := func(context.Context, string) (string, error) { return "http://a.test", nil }
	for _, pc := range []ProxyConfig{
		{ForwardRequestHeaders: []string{"Authorization"}},
		{ForwardRequestHeaders: []string{"Cookie", "transfer-encoding"}},
		{ForwardRequestHeaders: []string{"Connection"}},
		{ForwardRequestHeaders: []string{"Upgrade"}},
		{ForwardResponseHeaders: []string{"TE"}},
		{ForwardResponseHeaders: []string{"Keep-Alive"}},
		{ForwardResponseHeaders: []string{"Trailer"}},
		{ForwardResponseHeaders: []string{"Proxy-Connection"}},
	} {
		pc.Manager, pc.Upstream = m, up
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Proxy(%+v) did not panic", pc)
				}
			}()
			Proxy(pc)
		}()
	}
}

// dotSegmentAttacks are request paths under /api that an upstream (Tomcat,
// Jetty, Spring, IIS, a C server cutting at NUL) may resolve to outside its
// base path.
var dotSegmentAttacks = []string{
	"/api/..;/..;/other",
	"/api/..;jsessionid=x/other",
	"/api/x/.;/y",
	"/api/x/.;a=b",
	"/api/%2e%2e;/other",
	"/api/%2E%2e%3b/other",
	"/api/..%3B/other",
	"/api/.%2E;x/other",
	"/api/%252e%252e/other",
	"/api/%252E%252e%253b/other",
	"/api/%25252e%25252e/other",
	"/api/%%32%65%%32%65/other",
	"/api/%u002e%u002e/other",
	"/api/%U002E%u002E;/other",
	"/api/..%252fother",
	"/api/x%2f..%2f..%2fother",
	"/api/x%252f..%252f..%252fother",
	"/api/x/..%5c..%5cother",
	"/api/x\\..\\..\\other",
	"/api/x%255c..%255cother",
	"/api/..%00/other",
	"/api/..%2500/other",
	"/api/..%09/other",
}

// TestForwardPathRefusesDotSegmentsInAnyEncoding proves that a segment
// whose part before ';' is "." or "..", in any encoding, or that an
// encoded separator would make one, is refused, while paths that merely
// contain dots, semicolons or encoded characters are forwarded untouched.
func TestForwardPathRefusesDotSegmentsInAnyEncoding(t *testing.T) {
	for _, p := range dotSegmentAttacks {
		if got, ok := forwardPath(p, "/api"); ok {
			t.Errorf("forwardPath(%q) = %q, want it refused", p, got)
		}
	}
	for _, p := range []string{
		"/api/a;b=c/x",
		"/api/..a/x",
		"/api/a../x",
		"/api/%2e%2ex/y",
		"/api/x;/..a",
		"/api/100%25/x",
		"/api/a%2fb",
		"/api/%E2%82%AC",
		"/api/%zz/%",
		"/api/x?next=/..;/y",
	} {
		if got, ok := forwardPath(p, "/api"); !ok || got != strings.TrimPrefix(p, "/api") {
			t.Errorf("forwardPath(%q) = %q, %v; want it forwarded as is", p, got, ok)
		}
	}
}

// TestProxyRefusesDotSegments proves the same end to end: the upstream is
// never called for a path that could escape the tenant's base path.
func TestProxyRefusesDotSegments(t *testing.T) {
	g := newGateway(t, ProxyConfig{StripPrefix: "/api"})
	g.upstream["acme"] = "http://a.test/acme/v2"
	for _, p := range dotSegmentAttacks {
		req := httptest.NewRequest("GET", "/", nil)
		req.RequestURI = p // as is: httptest would clean it
		req.URL.Path, req.URL.RawPath = "", ""
		req.Header.Set(HeaderTenantID, "acme")
		code, body := do(t, g.app, req)
		if code != 400 || body != `{"error":"invalid path"}` {
			t.Errorf("%s: got %d %q, want 400", p, code, body)
		}
	}
	if n := g.a.requests.Load(); n != 0 {
		t.Fatalf("the upstream got %d requests", n)
	}
	code, body := g.send(t, "GET", "/api/a;b=c/orders", "acme", "")
	if want := "auth=Bearer tok-acme-1 host=a.test uri=/acme/v2/a;b=c/orders body=payload"; code != 200 || body != want {
		t.Fatalf("got %d %q, want 200 %q", code, body, want)
	}
}

// TestProxyErrorHandlerSeesClientRequest proves that ErrorHandler, called
// when the upstream cannot be reached, sees the client's own request: its
// Authorization, not the tenant's token, and its cookies.
func TestProxyErrorHandlerSeesClientRequest(t *testing.T) {
	var auth, cookie string
	g := newGateway(t, ProxyConfig{StripPrefix: "/api", ErrorHandler: func(c *fiber.Ctx, err error) error {
		auth, cookie = c.Get(fiber.HeaderAuthorization), c.Get(fiber.HeaderCookie)
		return c.SendStatus(fiber.StatusBadGateway)
	}})
	g.upstream["beta"] = "http://c.test" // nothing listens there
	req := httptest.NewRequest("GET", "/api/x", nil)
	req.Header.Set(HeaderTenantID, "beta")
	req.Header.Set(fiber.HeaderAuthorization, "Basic the-clients-own")
	req.Header.Set(fiber.HeaderCookie, "gateway_session=s")
	if code, _ := do(t, g.app, req); code != fiber.StatusBadGateway {
		t.Fatalf("got %d, want 502", code)
	}
	if auth != "Basic the-clients-own" || cookie != "gateway_session=s" {
		t.Fatalf("ErrorHandler saw Authorization %q, Cookie %q; want the client's", auth, cookie)
	}
}

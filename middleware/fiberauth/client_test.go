package fiberauth

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/tenantauth/tenantauth"
	"github.com/valyala/fasthttp"
)

// outboundSetup is an app whose handlers call in-memory APIs at a.test and
// b.test for tenants acme (APIHosts a.test) and beta (any host).
type outboundSetup struct {
	p      *fakeProvider
	m      *tenantauth.Manager
	r      *router
	a, b   *fakeAPI
	client *Client
	app    *fiber.App
}

func newOutbound(t *testing.T, cc ClientConfig) *outboundSetup {
	t.Helper()
	s := &outboundSetup{p: newFakeProvider(), r: newRouter()}
	s.m = newManager(t, s.p, tenantSpec{id: "acme", hosts: []string{"a.test"}}, tenantSpec{id: "beta"})
	s.a, s.b = newFakeAPI(t), newFakeAPI(t)
	s.r.add("a.test:80", s.a)
	s.r.add("b.test:80", s.b)
	cc.Manager = s.m
	cc.Client = s.r.client()
	s.client = NewClient(cc)
	t.Cleanup(s.client.CloseIdleConnections)
	s.app = fiber.New()
	s.app.Use(New())
	return s
}

// agent builds a GET Agent for url that dials through the router.
func (s *outboundSetup) agent(method, url string) *fiber.Agent {
	a := fiber.AcquireAgent()
	a.Request().Header.SetMethod(method)
	a.Request().SetRequestURI(url)
	if err := a.Parse(); err == nil {
		a.HostClient.Dial = s.r.dial
		a.ConnectionClose() // one connection per Agent anyway; don't leave it idle
	}
	return a
}

// reply turns Do's results into a response: "<code> <body>" or the errors.
func reply(c *fiber.Ctx, code int, body []byte, errs []error) error {
	if len(errs) > 0 {
		return c.Status(599).SendString(errors.Join(errs...).Error())
	}
	return c.SendString(fmt.Sprintf("%d %s", code, body))
}

func get(t *testing.T, app *fiber.App, target, tenant string) (int, string) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, target, nil)
	if tenant != "" {
		req.Header.Set(HeaderTenantID, tenant)
	}
	return do(t, app, req)
}

func TestDoAgent(t *testing.T) {
	s := newOutbound(t, ClientConfig{})
	var lastErrs []error
	s.app.Get("/call", func(c *fiber.Ctx) error {
		code, body, errs := Do(c, s.m, s.agent(fiber.MethodGet, c.Query("url")))
		lastErrs = errs
		return reply(c, code, body, errs)
	})

	tests := []struct {
		name, tenant, url string
		wantCode          int
		wantBody          string
		wantErr           error
		wantDialsB        int
	}{
		{name: "acme to its host", tenant: "acme", url: "http://a.test/x", wantCode: 200,
			wantBody: "200 auth=Bearer tok-acme-1 host=a.test uri=/x body="},
		{name: "beta anywhere", tenant: "beta", url: "http://b.test/y?q=1", wantCode: 200,
			wantBody: "200 auth=Bearer tok-beta-1 host=b.test uri=/y?q=1 body=", wantDialsB: 1},
		{name: "acme to a foreign host", tenant: "acme", url: "http://b.test/x", wantCode: 599,
			wantErr: tenantauth.ErrHostNotAllowed, wantDialsB: 1},
		{name: "acme to a.test on another port", tenant: "acme", url: "http://a.test:8080/x", wantCode: 599,
			wantErr: errors.New("dial"), wantDialsB: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lastErrs = nil
			code, body := get(t, s.app, "/call?url="+tt.url, tt.tenant)
			if code != tt.wantCode || (tt.wantBody != "" && body != tt.wantBody) {
				t.Fatalf("got %d %q, want %d %q", code, body, tt.wantCode, tt.wantBody)
			}
			if tt.wantErr != nil && len(lastErrs) == 0 {
				t.Fatalf("no error, want %v", tt.wantErr)
			}
			if errors.Is(tt.wantErr, tenantauth.ErrHostNotAllowed) && !errors.Is(lastErrs[0], tenantauth.ErrHostNotAllowed) {
				t.Fatalf("error %v, want ErrHostNotAllowed", lastErrs[0])
			}
			if n := s.r.dialCount("b.test:80"); n != tt.wantDialsB {
				t.Fatalf("b.test dialled %d times, want %d", n, tt.wantDialsB)
			}
		})
	}
	// a.test:8080 is allowed for acme (APIHosts without port) but has no API:
	// the token was handed to the transport, the dial failed.
	if n := s.r.dialCount("a.test:8080"); n == 0 {
		t.Errorf("a.test:8080 never dialled")
	}
}

func TestDoAgentWithoutTenant(t *testing.T) {
	s := newOutbound(t, ClientConfig{})
	app := fiber.New() // no middleware
	var errs []error
	app.Get("/", func(c *fiber.Ctx) error {
		_, _, errs = Do(c, s.m, s.agent(fiber.MethodGet, "http://a.test/x"))
		return nil
	})
	get(t, app, "/", "acme")
	if len(errs) != 1 || !errors.Is(errs[0], ErrMissingTenant) {
		t.Fatalf("errs = %v, want ErrMissingTenant", errs)
	}
	if s.r.dialCount("a.test:80") != 0 || s.p.calls.Load() != 0 {
		t.Fatal("something was sent without a tenant")
	}

	// A reusable Agent is not released on an error path either.
	app.Get("/reuse", func(c *fiber.Ctx) error {
		a := s.agent(fiber.MethodGet, "http://a.test/kept").Reuse()
		defer fiber.ReleaseAgent(a)
		_, _, errs := Do(c, s.m, a)
		if len(errs) != 1 || string(a.Request().URI().Path()) != "/kept" {
			t.Errorf("reusable Agent: errs %v, path %q after Do; want it untouched", errs, a.Request().URI().Path())
		}
		return nil
	})
	get(t, app, "/reuse", "")

	// A handler may name the tenant itself, through the user context.
	app.Get("/ctx2", func(c *fiber.Ctx) error {
		c.SetUserContext(tenantauth.WithTenant(c.UserContext(), "beta"))
		code, body, errs := Do(c, s.m, s.agent(fiber.MethodGet, "http://a.test/x"))
		return reply(c, code, body, errs)
	})
	if code, body := get(t, app, "/ctx2", ""); code != 200 || !strings.Contains(body, "auth=Bearer tok-beta-1") {
		t.Fatalf("tenant from user context: got %d %q", code, body)
	}
}

func TestDoAgentBadURL(t *testing.T) {
	s := newOutbound(t, ClientConfig{})
	s.app.Get("/", func(c *fiber.Ctx) error {
		code, body, errs := Do(c, s.m, fiber.Get("ftp://a.test/x"))
		if len(errs) == 0 {
			t.Error("no error for an ftp URL")
		}
		a := fiber.AcquireAgent() // no URL at all, never parsed
		_, _, errs2 := Do(c, s.m, a)
		if len(errs2) != 1 || !errors.Is(errs2[0], errNoHost) {
			t.Errorf("Agent without URL: errs %v, want errNoHost", errs2)
		}
		return reply(c, code, body, nil)
	})
	get(t, s.app, "/", "beta") // beta's token may go to any host
	if s.p.calls.Load() != 0 {
		t.Fatal("token fetched for a request that cannot be sent")
	}
}

func TestDoAgentRetriesOnce(t *testing.T) {
	tests := []struct {
		name        string
		method      string
		body        string
		idemOnly    bool
		revokeAll   bool // every token refused, not just the first
		wantStatus  int
		wantAuths   []string
		wantFetches int64
	}{
		{name: "GET recovers", method: "GET", wantStatus: 200,
			wantAuths: []string{"Bearer tok-acme-1", "Bearer tok-acme-2"}, wantFetches: 2},
		{name: "PUT with body recovers", method: "PUT", body: `{"n":1}`, wantStatus: 200,
			wantAuths: []string{"Bearer tok-acme-1", "Bearer tok-acme-2"}, wantFetches: 2},
		{name: "POST not retried when idempotent only", method: "POST", body: "x", idemOnly: true, wantStatus: 401,
			wantAuths: []string{"Bearer tok-acme-1"}, wantFetches: 1},
		{name: "POST retried by default", method: "POST", body: "x", wantStatus: 200,
			wantAuths: []string{"Bearer tok-acme-1", "Bearer tok-acme-2"}, wantFetches: 2},
		{name: "only one retry", method: "GET", revokeAll: true, wantStatus: 401,
			wantAuths: []string{"Bearer tok-acme-1", "Bearer tok-acme-2"}, wantFetches: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newOutbound(t, ClientConfig{IdempotentRetriesOnly: tt.idemOnly})
			s.a.revoke("Bearer tok-acme-1")
			if tt.revokeAll {
				s.a.revoke("Bearer tok-acme-2")
			}
			var agent *fiber.Agent
			s.app.Get("/", func(c *fiber.Ctx) error {
				agent = s.agent(tt.method, "http://a.test/r")
				agent.Reuse() // so the test can inspect it afterwards
				agent.BodyString(tt.body)
				code, body, errs := s.client.DoAgent(c, agent)
				return reply(c, code, body, errs)
			})
			code, body := get(t, s.app, "/", "acme")
			defer fiber.ReleaseAgent(agent)
			if code != 200 || !strings.HasPrefix(body, fmt.Sprint(tt.wantStatus)) {
				t.Fatalf("got %d %q, want upstream status %d", code, body, tt.wantStatus)
			}
			if tt.wantStatus == 200 && !strings.HasSuffix(body, "body="+tt.body) {
				t.Fatalf("retried body lost: %q", body)
			}
			if got := s.a.authsSeen(); strings.Join(got, ",") != strings.Join(tt.wantAuths, ",") {
				t.Fatalf("API saw %q, want %q", got, tt.wantAuths)
			}
			if n := s.p.calls.Load(); n != tt.wantFetches {
				t.Fatalf("token requests = %d, want %d", n, tt.wantFetches)
			}
			if v := agent.Request().Header.Peek(fiber.HeaderAuthorization); len(v) != 0 {
				t.Fatalf("reused Agent still carries Authorization %q", v)
			}
			if agent.HostClient.Transport != nil {
				t.Fatalf("Agent's transport not restored")
			}
		})
	}
}

func TestDoAgentRedirectLeavingHostHasNoToken(t *testing.T) {
	s := newOutbound(t, ClientConfig{})
	s.app.Get("/", func(c *fiber.Ctx) error {
		a := s.agent(fiber.MethodGet, "http://a.test/redirect?to=http://b.test/next")
		a.MaxRedirectsCount(1)
		code, body, errs := Do(c, s.m, a)
		return reply(c, code, body, errs)
	})
	get(t, s.app, "/", "beta") // beta may send to any host; the redirect still gets no token
	// fasthttp's HostClient dials its own address for every hop, so both
	// hops reach a.test's API; the second names b.test and must be bare.
	got := s.a.authsSeen()
	if len(got) != 2 || got[0] != "Bearer tok-beta-1" || got[1] != "" {
		t.Fatalf("API saw %q, want the token on the first hop only", got)
	}
}

func TestClientDo(t *testing.T) {
	s := newOutbound(t, ClientConfig{})
	var lastErr error
	s.app.Get("/call", func(c *fiber.Ctx) error {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(req)
		defer fasthttp.ReleaseResponse(resp)
		req.SetRequestURI(c.Query("url"))
		req.Header.Set(fiber.HeaderAuthorization, "Basic from-the-client")
		lastErr = s.client.Do(c, req, resp)
		if lastErr != nil {
			return c.Status(599).SendString(lastErr.Error())
		}
		return c.SendString(fmt.Sprintf("%d %s", resp.StatusCode(), resp.Body()))
	})
	tests := []struct {
		name, tenant, url string
		wantCode          int
		wantBody          string
		wantErr           error
	}{
		{name: "acme", tenant: "acme", url: "http://a.test/x", wantCode: 200, wantBody: "200 auth=Bearer tok-acme-1 host=a.test uri=/x body="},
		{name: "beta", tenant: "beta", url: "http://b.test/x", wantCode: 200, wantBody: "200 auth=Bearer tok-beta-1 host=b.test uri=/x body="},
		{name: "foreign host", tenant: "acme", url: "http://b.test/x", wantCode: 599, wantErr: tenantauth.ErrHostNotAllowed},
		{name: "no host", tenant: "acme", url: "/relative", wantCode: 599, wantErr: errNoHost},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lastErr = nil
			code, body := get(t, s.app, "/call?url="+tt.url, tt.tenant)
			if code != tt.wantCode || (tt.wantBody != "" && body != tt.wantBody) {
				t.Fatalf("got %d %q, want %d %q", code, body, tt.wantCode, tt.wantBody)
			}
			if tt.wantErr != nil && !errors.Is(lastErr, tt.wantErr) {
				t.Fatalf("error %v, want %v", lastErr, tt.wantErr)
			}
		})
	}
	if n := s.r.dialCount("b.test:80"); n != 1 {
		t.Fatalf("b.test dialled %d times, want 1 (beta only)", n)
	}

	// 401: one invalidation, one retry, success, over the pooled client.
	s.a.revoke("Bearer tok-acme-1")
	code, body := get(t, s.app, "/call?url=http://a.test/again", "acme")
	if code != 200 || body != "200 auth=Bearer tok-acme-2 host=a.test uri=/again body=" {
		t.Fatalf("after revocation: got %d %q", code, body)
	}
	if n := s.a.rejected.Load(); n != 1 {
		t.Fatalf("API rejected %d requests, want 1", n)
	}
	if n := s.p.calls.Load(); n != 3 { // acme, beta, acme again
		t.Fatalf("token requests = %d, want 3", n)
	}

	// Within the Manager's invalidation cooldown a second 401 is returned
	// as is: no token request, no retry with the same token.
	s.a.revoke("Bearer tok-acme-2")
	before := len(s.a.authsSeen())
	code, body = get(t, s.app, "/call?url=http://a.test/cooldown", "acme")
	if code != 200 || !strings.HasPrefix(body, "401 ") {
		t.Fatalf("in cooldown: got %d %q, want the upstream 401", code, body)
	}
	if n := s.p.calls.Load(); n != 3 {
		t.Fatalf("token requests in cooldown = %d, want still 3", n)
	}
	if got := s.a.authsSeen(); len(got) != before+1 {
		t.Fatalf("in cooldown the API got %d requests, want 1: %q", len(got)-before, got[before:])
	}

	// A nil response is allowed; the retry still happens.
	s.b.revoke("Bearer tok-beta-1")
	app := fiber.New()
	app.Use(New())
	app.Get("/", func(c *fiber.Ctx) error {
		req := fasthttp.AcquireRequest()
		defer fasthttp.ReleaseRequest(req)
		req.SetRequestURI("http://b.test/nil")
		return s.client.Do(c, req, nil)
	})
	get(t, app, "/", "beta")
	if got := s.b.authsSeen(); strings.Join(got, ",") != "Bearer tok-beta-1,Bearer tok-beta-1,Bearer tok-beta-2" {
		t.Fatalf("nil response: API saw %q", got)
	}
}

// TestBurstOf401s: many requests of one tenant hit a revoked token at once;
// the token endpoint sees one extra request, every request succeeds.
func TestBurstOf401s(t *testing.T) {
	s := newOutbound(t, ClientConfig{})
	s.app.Get("/", func(c *fiber.Ctx) error {
		code, body, errs := Do(c, s.m, s.agent(fiber.MethodGet, "http://a.test/burst"))
		return reply(c, code, body, errs)
	})
	if code, _ := get(t, s.app, "/", "acme"); code != 200 { // caches tok-acme-1
		t.Fatal(code)
	}
	s.a.revoke("Bearer tok-acme-1")
	const n = 20
	var wg sync.WaitGroup
	errc := make(chan string, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, body := get(t, s.app, "/", "acme")
			if code != 200 || !strings.Contains(body, "200 auth=Bearer tok-acme-2") {
				errc <- fmt.Sprintf("%d %q", code, body)
			}
		}()
	}
	wg.Wait()
	close(errc)
	for e := range errc {
		t.Error(e)
	}
	if got := s.p.calls.Load(); got != 2 {
		t.Fatalf("token requests = %d, want 2", got)
	}
}

// TestConcurrentTenantsNeverCrossTokens runs 50 tenants × 20 requests at
// once through the middleware, alternating the Agent helper and the pooled
// Client, and checks each answer carries its own tenant's token.
func TestConcurrentTenantsNeverCrossTokens(t *testing.T) {
	const tenants, perTenant = 50, 20
	p := newFakeProvider()
	specs := make([]tenantSpec, tenants)
	for i := range specs {
		specs[i] = tenantSpec{id: fmt.Sprintf("t%02d", i), hosts: []string{"a.test"}}
	}
	m := newManager(t, p, specs...)
	r := newRouter()
	api := newFakeAPI(t)
	r.add("a.test:80", api)
	client := NewClient(ClientConfig{Manager: m, Client: r.client()})
	t.Cleanup(client.CloseIdleConnections)

	app := fiber.New()
	app.Use(New(Config{Manager: m}))
	app.Get("/agent", func(c *fiber.Ctx) error {
		a := fiber.Get("http://a.test/agent")
		a.HostClient.Dial = r.dial
		a.ConnectionClose()
		code, body, errs := Do(c, m, a)
		return reply(c, code, body, errs)
	})
	app.Get("/client", func(c *fiber.Ctx) error {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(req)
		defer fasthttp.ReleaseResponse(resp)
		req.SetRequestURI("http://a.test/client")
		if err := client.Do(c, req, resp); err != nil {
			return err
		}
		return reply(c, resp.StatusCode(), resp.Body(), nil)
	})

	var wg sync.WaitGroup
	errc := make(chan string, tenants*perTenant)
	for i := 0; i < tenants; i++ {
		id := specs[i].id
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < perTenant; j++ {
				path := "/agent"
				if j%2 == 1 {
					path = "/client"
				}
				req := httptest.NewRequest(http.MethodGet, path, nil)
				req.Header.Set(HeaderTenantID, id)
				resp, err := app.Test(req, -1)
				if err != nil {
					errc <- err.Error()
					return
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				want := fmt.Sprintf("200 auth=Bearer tok-%s-1 host=a.test uri=%s body=", id, path)
				if err != nil || resp.StatusCode != 200 || string(b) != want {
					errc <- fmt.Sprintf("%s %s: got %d %q, want %q", id, path, resp.StatusCode, b, want)
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	for e := range errc {
		t.Error(e)
	}
	if n := p.calls.Load(); n != tenants {
		t.Errorf("token requests = %d, want %d (one per tenant)", n, tenants)
	}
	if n := api.requests.Load(); n != tenants*perTenant {
		t.Errorf("API got %d requests, want %d", n, tenants*perTenant)
	}
}

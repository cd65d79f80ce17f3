package fiberauth

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/tenantauth/tenantauth"
)

// echoTenant answers "<TenantID>|<tenant of the user context>".
func echoTenant(c *fiber.Ctx) error {
	id, _ := TenantID(c)
	ctxID, _ := tenantauth.TenantFromContext(c.UserContext())
	return c.SendString(id + "|" + ctxID)
}

// do sends req to app and returns the status and body.
func do(t *testing.T, app *fiber.App, req *http.Request) (int, string) {
	t.Helper()
	resp, err := app.Test(req, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// MapClaims is shaped like github.com/golang-jwt/jwt's MapClaims: a named
// map type, which a type switch on map[string]any does not match.
type MapClaims map[string]interface{}

// jwtToken is shaped like golang-jwt's *jwt.Token.
type jwtToken struct {
	Raw    string
	Header map[string]any
	Claims any
	Valid  bool
}

type registeredClaims struct {
	Subject string `json:"sub,omitempty"`
}

type customClaims struct {
	Org    string `json:"org_id"`
	Ignore string `json:"-"`
	*registeredClaims
}

func TestResolvers(t *testing.T) {
	num := json.Number("42")
	tests := []struct {
		name     string
		route    string
		mw       Config
		locals   any // stored under "user" before the middleware runs
		target   string
		host     string
		header   map[string]string
		wantCode int
		wantBody string
	}{
		{name: "default header", header: map[string]string{"X-Tenant-ID": "acme"}, wantCode: 200, wantBody: "acme|acme"},
		{name: "default header missing", wantCode: 400, wantBody: `{"error":"missing tenant"}`},
		{name: "default header too long", header: map[string]string{"X-Tenant-ID": strings.Repeat("a", MaxTenantIDLength+1)}, wantCode: 400, wantBody: `{"error":"invalid tenant"}`},
		{name: "default header max length", header: map[string]string{"X-Tenant-ID": strings.Repeat("a", MaxTenantIDLength)}, wantCode: 200, wantBody: strings.Repeat("a", MaxTenantIDLength) + "|" + strings.Repeat("a", MaxTenantIDLength)},
		{name: "default header with space", header: map[string]string{"X-Tenant-ID": "ac me"}, wantCode: 400, wantBody: `{"error":"invalid tenant"}`},
		{name: "default header with bidi override", header: map[string]string{"X-Tenant-ID": "acme\u202e"}, wantCode: 400, wantBody: `{"error":"invalid tenant"}`},
		{name: "default header unicode", header: map[string]string{"X-Tenant-ID": "açaí"}, wantCode: 200, wantBody: "açaí|açaí"},
		{name: "custom header", mw: Config{Tenant: FromHeader("X-Org")}, header: map[string]string{"X-Org": "beta", "X-Tenant-ID": "acme"}, wantCode: 200, wantBody: "beta|beta"},
		{name: "param", route: "/t/:tenant/orders", mw: Config{Tenant: FromParam("tenant")}, target: "/t/gamma/orders", wantCode: 200, wantBody: "gamma|gamma"},
		{name: "param invalid", route: "/t/:tenant/orders", mw: Config{Tenant: FromParam("tenant")}, target: "/t/" + strings.Repeat("x", 200) + "/orders", wantCode: 400, wantBody: `{"error":"invalid tenant"}`},
		{name: "param not in route", mw: Config{Tenant: FromParam("tenant")}, wantCode: 400, wantBody: `{"error":"missing tenant"}`},
		{name: "subdomain", mw: Config{Tenant: FromSubdomain("api.example.com")}, host: "acme.api.example.com:8443", wantCode: 200, wantBody: "acme|acme"},
		{name: "subdomain upper case", mw: Config{Tenant: FromSubdomain("API.example.com")}, host: "ACME.Api.Example.com", wantCode: 200, wantBody: "acme|acme"},
		{name: "subdomain base itself", mw: Config{Tenant: FromSubdomain("api.example.com")}, host: "api.example.com", wantCode: 400, wantBody: `{"error":"missing tenant"}`},
		{name: "subdomain other domain", mw: Config{Tenant: FromSubdomain("api.example.com")}, host: "acme.evil-api.example.com.attacker.test", wantCode: 400, wantBody: `{"error":"missing tenant"}`},
		{name: "subdomain suffix without dot", mw: Config{Tenant: FromSubdomain("example.com")}, host: "acmeexample.com", wantCode: 400, wantBody: `{"error":"missing tenant"}`},
		{name: "subdomain nested", mw: Config{Tenant: FromSubdomain("api.example.com")}, host: "www.acme.api.example.com", wantCode: 400, wantBody: `{"error":"invalid tenant"}`},
		{name: "subdomain ip", mw: Config{Tenant: FromSubdomain("api.example.com")}, host: "127.0.0.1:3000", wantCode: 400, wantBody: `{"error":"missing tenant"}`},
		{name: "jwt map", mw: Config{Tenant: FromJWTClaim("user", "tid")}, locals: map[string]any{"tid": "acme"}, wantCode: 200, wantBody: "acme|acme"},
		{name: "jwt named map", mw: Config{Tenant: FromJWTClaim("user", "tid")}, locals: MapClaims{"tid": "acme"}, wantCode: 200, wantBody: "acme|acme"},
		{name: "jwt token with map claims", mw: Config{Tenant: FromJWTClaim("user", "https://example.com/tenant")}, locals: &jwtToken{Raw: "x.y.z", Claims: MapClaims{"https://example.com/tenant": "acme"}, Valid: true}, wantCode: 200, wantBody: "acme|acme"},
		{name: "jwt token with struct claims", mw: Config{Tenant: FromJWTClaim("user", "org_id")}, locals: &jwtToken{Claims: &customClaims{Org: "beta"}}, wantCode: 200, wantBody: "beta|beta"},
		{name: "jwt struct embedded field", mw: Config{Tenant: FromJWTClaim("user", "sub")}, locals: customClaims{registeredClaims: &registeredClaims{Subject: "gamma"}}, wantCode: 200, wantBody: "gamma|gamma"},
		{name: "jwt struct nil embedded", mw: Config{Tenant: FromJWTClaim("user", "sub")}, locals: customClaims{Org: "x"}, wantCode: 400, wantBody: `{"error":"missing tenant"}`},
		{name: "jwt struct json minus", mw: Config{Tenant: FromJWTClaim("user", "Ignore")}, locals: customClaims{Ignore: "x"}, wantCode: 400, wantBody: `{"error":"missing tenant"}`},
		{name: "jwt func", mw: Config{Tenant: FromJWTClaim("user", "tid")}, locals: func(claim string) (any, bool) { return "delta", claim == "tid" }, wantCode: 200, wantBody: "delta|delta"},
		{name: "jwt number", mw: Config{Tenant: FromJWTClaim("user", "tid")}, locals: map[string]any{"tid": float64(1234)}, wantCode: 200, wantBody: "1234|1234"},
		{name: "jwt json.Number", mw: Config{Tenant: FromJWTClaim("user", "tid")}, locals: map[string]any{"tid": num}, wantCode: 200, wantBody: "42|42"},
		{name: "jwt fraction", mw: Config{Tenant: FromJWTClaim("user", "tid")}, locals: map[string]any{"tid": 1.5}, wantCode: 400, wantBody: `{"error":"invalid tenant"}`},
		{name: "jwt bool", mw: Config{Tenant: FromJWTClaim("user", "tid")}, locals: map[string]any{"tid": true}, wantCode: 400, wantBody: `{"error":"invalid tenant"}`},
		{name: "jwt missing claim", mw: Config{Tenant: FromJWTClaim("user", "tid")}, locals: map[string]any{"sub": "x"}, wantCode: 400, wantBody: `{"error":"missing tenant"}`},
		{name: "jwt no locals", mw: Config{Tenant: FromJWTClaim("user", "tid")}, wantCode: 400, wantBody: `{"error":"missing tenant"}`},
		{name: "jwt unsupported type", mw: Config{Tenant: FromJWTClaim("user", "tid")}, locals: 42, wantCode: 400, wantBody: `{"error":"missing tenant"}`},
		{name: "custom resolver unvalidated", mw: Config{Tenant: func(*fiber.Ctx) (string, error) { return "bad\x00id", nil }}, wantCode: 400, wantBody: `{"error":"invalid tenant"}`},
		{name: "custom resolver empty", mw: Config{Tenant: func(*fiber.Ctx) (string, error) { return "", nil }}, wantCode: 400, wantBody: `{"error":"missing tenant"}`},
		{name: "custom resolver fiber error", mw: Config{Tenant: func(*fiber.Ctx) (string, error) { return "", fiber.NewError(401, "log in") }}, wantCode: 401, wantBody: `{"error":"log in"}`},
		{name: "custom resolver other error", mw: Config{Tenant: func(*fiber.Ctx) (string, error) { return "", errors.New("boom") }}, wantCode: 400, wantBody: `{"error":"missing tenant"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app := fiber.New()
			if tt.locals != nil {
				app.Use(func(c *fiber.Ctx) error {
					c.Locals("user", tt.locals)
					return c.Next()
				})
			}
			route, target := tt.route, tt.target
			if route == "" {
				route, target = "/", "/"
			}
			app.Get(route, New(tt.mw), echoTenant)
			req := httptest.NewRequest(http.MethodGet, target, nil)
			if tt.host != "" {
				req.Host = tt.host
			}
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			code, body := do(t, app, req)
			if code != tt.wantCode || body != tt.wantBody {
				t.Fatalf("got %d %q, want %d %q", code, body, tt.wantCode, tt.wantBody)
			}
		})
	}
}

func TestCustomErrorHandler(t *testing.T) {
	var got error
	app := fiber.New()
	app.Use(New(Config{ErrorHandler: func(c *fiber.Ctx, err error) error {
		got = err
		return c.Status(fiber.StatusUnauthorized).SendString("who are you")
	}}))
	app.Get("/", echoTenant)
	code, body := do(t, app, httptest.NewRequest(http.MethodGet, "/", nil))
	if code != 401 || body != "who are you" {
		t.Fatalf("got %d %q", code, body)
	}
	if !errors.Is(got, ErrMissingTenant) || !errors.Is(got, tenantauth.ErrNoTenant) {
		t.Fatalf("error handler got %v, want ErrMissingTenant matching tenantauth.ErrNoTenant", got)
	}
}

func TestNextSkips(t *testing.T) {
	app := fiber.New()
	app.Use(New(Config{Next: func(c *fiber.Ctx) bool { return c.Path() == "/health" }}))
	app.Get("/health", echoTenant)
	app.Get("/", echoTenant)
	tests := []struct {
		target, tenant string
		wantCode       int
		wantBody       string
	}{
		{"/health", "", 200, "|"},
		{"/health", "acme", 200, "|"}, // skipped even with a tenant
		{"/", "", 400, `{"error":"missing tenant"}`},
		{"/", "acme", 200, "acme|acme"},
	}
	for _, tt := range tests {
		req := httptest.NewRequest(http.MethodGet, tt.target, nil)
		if tt.tenant != "" {
			req.Header.Set(HeaderTenantID, tt.tenant)
		}
		if code, body := do(t, app, req); code != tt.wantCode || body != tt.wantBody {
			t.Errorf("%s tenant %q: got %d %q, want %d %q", tt.target, tt.tenant, code, body, tt.wantCode, tt.wantBody)
		}
	}
}

func TestManagerCheck(t *testing.T) {
	p := newFakeProvider()
	m := newManager(t, p, tenantSpec{id: "acme"})
	app := fiber.New()
	app.Use(New(Config{Manager: m}))
	app.Get("/", echoTenant)

	send := func(tenant string) (int, string) {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.Header.Set(HeaderTenantID, tenant)
		return do(t, app, req)
	}
	for i := 0; i < 3; i++ {
		if code, body := send("acme"); code != 200 || body != "acme|acme" {
			t.Fatalf("known tenant: got %d %q", code, body)
		}
	}
	if n := p.calls.Load(); n != 1 {
		t.Fatalf("token requests for 3 requests = %d, want 1 (cached)", n)
	}
	if code, body := send("nobody"); code != 403 || body != `{"error":"unknown tenant"}` {
		t.Fatalf("unknown tenant: got %d %q", code, body)
	}

	// A token endpoint that fails: the handler is not reached.
	p2 := newFakeProvider()
	p2.fail.Store(true)
	m2 := newManager(t, p2, tenantSpec{id: "acme"})
	var gotErr error
	app2 := fiber.New()
	app2.Use(New(Config{Manager: m2, ErrorHandler: func(c *fiber.Ctx, err error) error {
		gotErr = err
		return defaultErrorHandler(c, err)
	}}))
	app2.Get("/", func(c *fiber.Ctx) error { t.Error("handler reached"); return nil })
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set(HeaderTenantID, "acme")
	if code, body := do(t, app2, req); code != 503 || body != `{"error":"tenant token unavailable"}` {
		t.Fatalf("failing endpoint: got %d %q", code, body)
	}
	var te *tenantauth.TokenError
	if !errors.Is(gotErr, ErrTokenUnavailable) || !errors.As(gotErr, &te) {
		t.Fatalf("error = %v, want ErrTokenUnavailable wrapping the *TokenError", gotErr)
	}
	if strings.Contains(gotErr.Error(), "secret-acme") {
		t.Fatalf("error leaks the client secret: %v", gotErr)
	}
}

// TestTenantCopied checks that the stored tenant ID does not alias request
// memory that fasthttp reuses for the next request.
func TestTenantCopied(t *testing.T) {
	app := fiber.New()
	var kept []string
	app.Use(New())
	app.Get("/", func(c *fiber.Ctx) error {
		id, _ := TenantID(c)
		kept = append(kept, id)
		return nil
	})
	names := []string{"aaaaaaaa", "bbbbbbbb", "cccccccc", "dddddddd"}
	for _, n := range names {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.Header.Set(HeaderTenantID, n)
		do(t, app, req)
	}
	if strings.Join(kept, ",") != strings.Join(names, ",") {
		t.Fatalf("kept tenant IDs %q, want %q", kept, names)
	}
}

func TestFromSubdomainPanicsOnBadBase(t *testing.T) {
	for _, base := range []string{"", ".", "exa mple.com", "-x.com", "a..b"} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("FromSubdomain(%q) did not panic", base)
				}
			}()
			FromSubdomain(base)
		}()
	}
}

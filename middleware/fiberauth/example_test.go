package fiberauth_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/tenantauth/tenantauth"
	"github.com/tenantauth/tenantauth/middleware/fiberauth"
	"github.com/valyala/fasthttp"
)

// exampleProvider hands out "<client ID>-token-<n>"; a real program uses
// providers/keycloak or providers/passport.
type exampleProvider struct{ n atomic.Int64 }

func (p *exampleProvider) Endpoint() string { return "https://sso.example.com/token" }

func (p *exampleProvider) Exchange(_ context.Context, req tenantauth.TokenRequest) (*tenantauth.Token, error) {
	return &tenantauth.Token{
		AccessToken: tenantauth.Secret(fmt.Sprintf("%s-token-%d", req.Credentials.ClientID, p.n.Add(1))),
		TokenType:   "Bearer",
		Expiry:      time.Now().Add(time.Hour),
	}, nil
}

// exampleManager knows tenants acme and beta; their tokens may go to host.
func exampleManager(host string) *tenantauth.Manager {
	p := &exampleProvider{}
	m, err := tenantauth.New(tenantauth.Config{Tenants: tenantauth.Tenants{
		"acme": {Provider: p, Credentials: tenantauth.Credentials{ClientID: "acme"}, APIHosts: []string{host}},
		"beta": {Provider: p, Credentials: tenantauth.Credentials{ClientID: "beta"}, APIHosts: []string{host}},
	}})
	if err != nil {
		panic(err)
	}
	return m
}

// send makes one request to app and prints the answer.
func send(app *fiber.App, target, tenant string) {
	req := httptest.NewRequest(http.MethodGet, target, nil)
	if tenant != "" {
		req.Header.Set("X-Tenant-ID", tenant)
	}
	resp, err := app.Test(req, -1)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.StatusCode, string(body))
}

func ExampleNew() {
	app := fiber.New()
	app.Use(fiberauth.New()) // tenant from the X-Tenant-ID header
	app.Get("/whoami", func(c *fiber.Ctx) error {
		id, _ := fiberauth.TenantID(c)
		return c.SendString("tenant " + id)
	})

	send(app, "/whoami", "acme")
	send(app, "/whoami", "")
	// Output:
	// 200 tenant acme
	// 400 {"error":"missing tenant"}
}

func ExampleFromSubdomain() {
	app := fiber.New()
	app.Use(fiberauth.New(fiberauth.Config{Tenant: fiberauth.FromSubdomain("api.example.com")}))
	app.Get("/", func(c *fiber.Ctx) error {
		id, _ := fiberauth.TenantID(c)
		return c.SendString(id)
	})
	for _, host := range []string{"acme.api.example.com", "api.example.com"} {
		req := httptest.NewRequest(http.MethodGet, "http://"+host+"/", nil)
		resp, _ := app.Test(req, -1)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Println(host, resp.StatusCode, string(body))
	}
	// Output:
	// acme.api.example.com 200 acme
	// api.example.com 400 {"error":"missing tenant"}
}

func ExampleClient() {
	// The customers' API (one for both tenants here).
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "API saw %q", r.Header.Get("Authorization"))
	}))
	defer api.Close()
	m := exampleManager(strings.TrimPrefix(api.URL, "http://"))
	defer m.Close()

	client := fiberauth.NewClient(fiberauth.ClientConfig{Manager: m}) // share one: it pools connections
	defer client.CloseIdleConnections()

	app := fiber.New()
	app.Use(fiberauth.New())
	app.Get("/orders", func(c *fiber.Ctx) error {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(req)
		defer fasthttp.ReleaseResponse(resp)
		req.SetRequestURI(api.URL + "/orders")
		if err := client.Do(c, req, resp); err != nil {
			return err
		}
		return c.Send(resp.Body())
	})

	send(app, "/orders", "acme")
	send(app, "/orders", "beta")
	send(app, "/orders", "acme") // cached token
	// Output:
	// 200 API saw "Bearer acme-token-1"
	// 200 API saw "Bearer beta-token-2"
	// 200 API saw "Bearer acme-token-1"
}

func ExampleProxy() {
	// acme's API, which revokes acme's first token after one request.
	var calls atomic.Int64
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		if auth == "Bearer acme-token-1" && calls.Add(1) > 1 {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		fmt.Fprintf(w, "%s %s with %q", r.Method, r.URL, auth)
	}))
	defer api.Close()
	m := exampleManager(strings.TrimPrefix(api.URL, "http://"))
	defer m.Close()

	app := fiber.New()
	app.Use(fiberauth.New())
	app.All("/api/*", fiberauth.Proxy(fiberauth.ProxyConfig{
		Manager:     m,
		Upstream:    func(_ context.Context, tenantID string) (string, error) { return api.URL + "/" + tenantID, nil },
		StripPrefix: "/api",
	}))

	send(app, "/api/orders?page=2", "acme")
	send(app, "/api/orders?page=3", "acme") // 401 upstream: new token, one retry
	// Output:
	// 200 GET /acme/orders?page=2 with "Bearer acme-token-1"
	// 200 GET /acme/orders?page=3 with "Bearer acme-token-2"
}

// HTTPClient is a net/http client for handlers: the tenant New stored
// travels in c.UserContext(), and the client's Transport (httpauth's) puts
// that tenant's token on the request.
func ExampleHTTPClient() {
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "API saw %q", r.Header.Get("Authorization"))
	}))
	defer api.Close()
	m := exampleManager(strings.TrimPrefix(api.URL, "http://"))
	defer m.Close()

	client := fiberauth.HTTPClient(m) // build once, share
	client.Timeout = 10 * time.Second
	defer client.CloseIdleConnections()

	app := fiber.New()
	app.Use(fiberauth.New())
	app.Get("/invoices", func(c *fiber.Ctx) error {
		req, err := http.NewRequestWithContext(c.UserContext(), http.MethodGet, api.URL+"/invoices", nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			return err
		}
		return c.Status(resp.StatusCode).Send(body)
	})

	send(app, "/invoices", "acme")
	send(app, "/invoices", "beta")
	send(app, "/invoices", "acme")
	// Output:
	// 200 API saw "Bearer acme-token-1"
	// 200 API saw "Bearer beta-token-2"
	// 200 API saw "Bearer acme-token-1"
}

// Do sends a Fiber client Agent's request with the tenant's token, and
// retries it once with a new token when the API answers 401.
func ExampleDo() {
	// The API refuses acme's first token after its first use (revoked).
	var uses atomic.Int64
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		if auth == "Bearer acme-token-1" && uses.Add(1) > 1 {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		fmt.Fprintf(w, "%s %s with %q", r.Method, r.URL.Path, auth)
	}))
	defer api.Close()
	m := exampleManager(strings.TrimPrefix(api.URL, "http://"))
	defer m.Close()

	app := fiber.New()
	app.Use(fiberauth.New())
	app.Get("/students", func(c *fiber.Ctx) error {
		a := fiber.Get(api.URL + "/v1/students")
		a.Timeout(10 * time.Second)
		code, body, errs := fiberauth.Do(c, m, a) // releases a
		if len(errs) > 0 {
			return errs[0]
		}
		return c.Status(code).Send(body)
	})

	send(app, "/students", "acme")
	send(app, "/students", "acme") // 401: a new token, one retry
	// Output:
	// 200 GET /v1/students with "Bearer acme-token-1"
	// 200 GET /v1/students with "Bearer acme-token-2"
}

// FromParam takes the tenant from a route parameter. Route parameters exist
// only on their route, so the middleware goes on the route (or on a group
// whose prefix has the parameter), not in a bare app.Use.
func ExampleFromParam() {
	app := fiber.New()
	byParam := fiberauth.New(fiberauth.Config{Tenant: fiberauth.FromParam("tenant")})
	app.Get("/t/:tenant/orders", byParam, func(c *fiber.Ctx) error {
		id, _ := fiberauth.TenantID(c)
		return c.SendString("orders of " + id)
	})

	send(app, "/t/acme/orders", "")
	send(app, "/t/beta/orders", "acme") // the header is not looked at
	send(app, "/t/"+strings.Repeat("x", fiberauth.MaxTenantIDLength+1)+"/orders", "")
	// Output:
	// 200 orders of acme
	// 200 orders of beta
	// 400 {"error":"invalid tenant"}
}

// claims is what a JWT middleware that verified the caller's token stores
// in c.Locals; golang-jwt's custom-claims struct has this shape.
type claims struct {
	Subject  string `json:"sub"`
	TenantID string `json:"tid"`
}

// FromJWTClaim takes the tenant from a claim of the caller's JWT, which an
// authentication middleware running before it has verified and stored in
// c.Locals (github.com/gofiber/contrib/jwt stores it under "user").
// fiberauth only reads the claim.
func ExampleFromJWTClaim() {
	app := fiber.New()
	// Stands in for the JWT middleware: it "verifies" two fixed tokens.
	app.Use(func(c *fiber.Ctx) error {
		switch c.Get(fiber.HeaderAuthorization) {
		case "Bearer alice-jwt":
			c.Locals("user", &claims{Subject: "alice", TenantID: "acme"})
		case "Bearer bob-jwt":
			c.Locals("user", &claims{Subject: "bob"}) // no tenant claim
		default:
			return c.SendStatus(fiber.StatusUnauthorized)
		}
		return c.Next()
	})
	app.Use(fiberauth.New(fiberauth.Config{Tenant: fiberauth.FromJWTClaim("user", "tid")}))
	app.Get("/whoami", func(c *fiber.Ctx) error {
		id, _ := fiberauth.TenantID(c)
		return c.SendString(c.Locals("user").(*claims).Subject + " of tenant " + id)
	})

	for _, jwt := range []string{"alice-jwt", "bob-jwt"} {
		req := httptest.NewRequest(http.MethodGet, "/whoami", nil)
		req.Header.Set("Authorization", "Bearer "+jwt)
		resp, err := app.Test(req, -1)
		if err != nil {
			fmt.Println(err)
			return
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Println(resp.StatusCode, string(body))
	}
	// Output:
	// 200 alice of tenant acme
	// 400 {"error":"missing tenant"}
}

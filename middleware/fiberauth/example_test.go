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
		Upstream:    func(tenantID string) (string, error) { return api.URL + "/" + tenantID, nil },
		StripPrefix: "/api",
	}))

	send(app, "/api/orders?page=2", "acme")
	send(app, "/api/orders?page=3", "acme") // 401 upstream: new token, one retry
	// Output:
	// 200 GET /acme/orders?page=2 with "Bearer acme-token-1"
	// 200 GET /acme/orders?page=3 with "Bearer acme-token-2"
}

// Command fiber-gateway is a self-contained demo of middleware/fiberauth: a
// Fiber gateway that proxies /api/* to each customer's own API with that
// customer's own token.
//
// It starts, all on 127.0.0.1: a stand-in Keycloak (Fluencypass-like,
// client_credentials) and a stand-in Laravel Passport (HubSoft-like,
// password grant), each with its protected API, and the gateway. The
// gateway takes the tenant from the X-Tenant-ID header and forwards the
// request to that tenant's API with the tenant's token; the token is only
// ever sent to that tenant's API host. The program then sends itself a few
// requests, among them one after the Passport server dropped every token
// (as HubSoft does on an upgrade), which the gateway recovers from by
// fetching a new token and retrying once. It prints what happened, shuts
// everything down and exits 0 when every step went as expected.
//
//	go run ./examples/fiber-gateway
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/tenantauth/tenantauth"
	"github.com/tenantauth/tenantauth/middleware/fiberauth"
	"github.com/tenantauth/tenantauth/providers/keycloak"
	"github.com/tenantauth/tenantauth/providers/passport"
	"github.com/tenantauth/tenantauth/tenantauthtest"
	"github.com/valyala/fasthttp"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "fiber-gateway:", err)
		os.Exit(1)
	}
}

// The demo's two tenants and their credentials at their stand-in servers.
const (
	fluencyTenant = "fluencypass"
	fluencyClient = "gateway"
	fluencySecret = "kc-client-secret"

	hubsoftTenant   = "hubsoft-acme"
	hubsoftClient   = "3"
	hubsoftSecret   = "pp-client-secret"
	hubsoftUser     = "ops@acme.example"
	hubsoftPassword = "pp-password"
)

// run runs the demo, writing its report to w. It returns an error when a
// step did not go as expected, and when ctx ends first.
func run(ctx context.Context, w io.Writer) (err error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()

	// The customers' side: two token servers, each with its protected API.
	kc := tenantauthtest.NewKeycloak(tenantauthtest.Config{
		Realm:   "fluencypass",
		Clients: map[string]string{fluencyClient: fluencySecret},
	})
	defer kc.Close()
	pp := tenantauthtest.NewPassport(tenantauthtest.Config{
		Clients: map[string]string{hubsoftClient: hubsoftSecret},
		Users:   map[string]string{hubsoftUser: hubsoftPassword},
	})
	defer pp.Close()

	kcProvider, err := keycloak.New(keycloak.Config{BaseURL: kc.URL, Realm: "fluencypass"})
	if err != nil {
		return err
	}
	defer kcProvider.CloseIdleConnections()
	ppProvider, err := passport.New(passport.Config{BaseURL: pp.URL})
	if err != nil {
		return err
	}
	defer ppProvider.CloseIdleConnections()

	kcAPIHost, ppAPIHost := hostOf(kc.APIURL()), hostOf(pp.APIURL())
	tenants := tenantauth.Tenants{
		fluencyTenant: {
			Provider:    kcProvider,
			Credentials: tenantauth.Credentials{Grant: tenantauth.GrantClientCredentials, ClientID: fluencyClient, ClientSecret: fluencySecret},
			APIHosts:    []string{kcAPIHost},
		},
		hubsoftTenant: {
			Provider: ppProvider,
			Credentials: tenantauth.Credentials{ClientID: hubsoftClient, ClientSecret: hubsoftSecret,
				Username: hubsoftUser, Password: hubsoftPassword},
			APIHosts: []string{ppAPIHost},
		},
	}
	upstreams := map[string]string{fluencyTenant: kc.APIURL(), hubsoftTenant: pp.APIURL()}

	m, err := tenantauth.New(tenantauth.Config{Tenants: tenants})
	if err != nil {
		return err
	}
	defer m.Close()

	// The gateway.
	upstreamClient := &fasthttp.Client{
		NoDefaultUserAgentHeader: true,
		DisablePathNormalizing:   true,
		MaxIdleConnDuration:      time.Second, // the demo's connections wind down quickly after it
	}
	defer upstreamClient.CloseIdleConnections()
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	app.Use(fiberauth.New()) // tenant from X-Tenant-ID
	app.All("/api/*", fiberauth.Proxy(fiberauth.ProxyConfig{
		Manager: m,
		Upstream: func(_ context.Context, tenantID string) (string, error) {
			u, ok := upstreams[tenantID]
			if !ok {
				return "", tenantauth.ErrUnknownTenant
			}
			return u, nil
		},
		StripPrefix: "/api",
		Client:      upstreamClient,
		Timeout:     5 * time.Second,
	}))

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	served := make(chan error, 1)
	go func() { served <- app.Listener(ln) }()
	defer func() {
		shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if serr := app.ShutdownWithContext(shutCtx); serr != nil && err == nil {
			err = fmt.Errorf("shutting the gateway down: %w", serr)
		}
		// Shutdown closes only listeners already being served: when run
		// ends before the goroutine above reached Serve, closing ln is what
		// makes Serve return.
		_ = ln.Close()
		if serr := <-served; serr != nil && !errors.Is(serr, net.ErrClosed) && err == nil {
			err = fmt.Errorf("gateway: %w", serr)
		}
	}()
	gateway := "http://" + ln.Addr().String()
	fmt.Fprintln(w, "gateway listening on", ln.Addr())
	fmt.Fprintf(w, "tenant %s: Keycloak token endpoint, API at %s\n", fluencyTenant, kcAPIHost)
	fmt.Fprintf(w, "tenant %s: Passport token endpoint, API at %s\n", hubsoftTenant, ppAPIHost)

	// The gateway's callers.
	callers := &http.Client{Timeout: 10 * time.Second}
	defer callers.CloseIdleConnections()
	steps := []struct {
		say        string
		before     func()
		tenant     string
		path       string
		wantStatus int
	}{
		{say: "Fluencypass lists its students", tenant: fluencyTenant, path: "/api/students", wantStatus: 200},
		{say: "HubSoft lists its customers", tenant: hubsoftTenant, path: "/api/clientes", wantStatus: 200},
		{say: "Fluencypass again: its token comes from the cache", tenant: fluencyTenant, path: "/api/students?page=2", wantStatus: 200},
		{say: "a request without a tenant", path: "/api/students", wantStatus: 400},
		{say: "an unknown tenant", tenant: "nobody", path: "/api/students", wantStatus: 403},
		{
			say:    "HubSoft upgrades and drops every token; the gateway recovers",
			before: func() { fmt.Fprintf(w, "  (Passport revoked %d token(s))\n", pp.RevokeAll()) },
			tenant: hubsoftTenant, path: "/api/clientes", wantStatus: 200,
		},
	}
	for i, s := range steps {
		fmt.Fprintf(w, "%d. %s\n", i+1, s.say)
		if s.before != nil {
			s.before()
		}
		status, body, err := call(ctx, callers, gateway+s.path, s.tenant)
		if err != nil {
			return fmt.Errorf("step %d: %w", i+1, err)
		}
		fmt.Fprintf(w, "   GET %s X-Tenant-ID=%q -> %d %s\n", s.path, s.tenant, status, body)
		if status != s.wantStatus {
			return fmt.Errorf("step %d: status %d, want %d", i+1, status, s.wantStatus)
		}
	}

	// What the customers' servers saw.
	kcs, pps := kc.Stats(), pp.Stats()
	fmt.Fprintf(w, "Keycloak: %d token request(s), %d API request(s), %d refused\n", kcs.TokenRequests, kcs.APIRequests, kcs.APIUnauthorized)
	fmt.Fprintf(w, "Passport: %d token request(s), %d API request(s), %d refused\n", pps.TokenRequests, pps.APIRequests, pps.APIUnauthorized)
	switch {
	case kcs.TokenRequests != 1:
		return fmt.Errorf("the Keycloak stand-in got %d token requests, want 1 (the token is cached)", kcs.TokenRequests)
	case pps.TokenRequests != 2:
		return fmt.Errorf("the Passport stand-in got %d token requests, want 2 (one more after the revocation)", pps.TokenRequests)
	case pps.APIUnauthorized != 1:
		return fmt.Errorf("the Passport API refused %d requests, want 1 (the one retried)", pps.APIUnauthorized)
	case kcs.ByClient[hubsoftClient] != 0 || pps.ByClient[fluencyClient] != 0:
		return errors.New("a tenant's credentials reached the other tenant's server")
	}
	fmt.Fprintln(w, "ok")
	return nil
}

// call sends GET url to the gateway as tenant and returns the status and a
// one-line body.
func call(ctx context.Context, c *http.Client, url, tenant string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	if tenant != "" {
		req.Header.Set(fiberauth.HeaderTenantID, tenant)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if err != nil {
		return 0, "", err
	}
	// The stand-in APIs answer who called; say that in short.
	var who struct {
		ClientID string `json:"client_id"`
		Username string `json:"username"`
		Path     string `json:"path"`
	}
	if resp.StatusCode == http.StatusOK && json.Unmarshal(b, &who) == nil && who.ClientID != "" {
		return resp.StatusCode, fmt.Sprintf("(API %s called by client_id=%q username=%q)", who.Path, who.ClientID, who.Username), nil
	}
	return resp.StatusCode, strings.TrimSpace(string(b)), nil
}

// hostOf returns the host:port of an http URL.
func hostOf(u string) string {
	u = strings.TrimPrefix(u, "http://")
	if i := strings.IndexByte(u, '/'); i >= 0 {
		u = u[:i]
	}
	return u
}

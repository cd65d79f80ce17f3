package fiberauth

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/tenantauth/tenantauth"
	"github.com/tenantauth/tenantauth/clientauth"
	"github.com/tenantauth/tenantauth/internal/dpoptest"
	"github.com/tenantauth/tenantauth/providers/tokenclient"
	"github.com/tenantauth/tenantauth/tenantauthtest"
	"github.com/valyala/fasthttp"
)

// dpopApp starts a standard stand-in with DPoP (a required nonce when not
// empty), a Manager whose tenant "acme" holds a DPoP key, and an app that
// calls the stand-in's API three ways: Client.Do (/client), Do with an
// Agent (/agent) and Proxy (/proxy/…).
func dpopApp(t *testing.T, nonce string) (*tenantauthtest.Server, *fiber.App, *clientauth.DPoP) {
	t.Helper()
	dp, err := clientauth.GenerateDPoP()
	if err != nil {
		t.Fatal(err)
	}
	srv := tenantauthtest.NewStandard(tenantauthtest.Config{DPoP: true, DPoPNonce: nonce})
	t.Cleanup(srv.Close)
	p, err := tokenclient.New(tokenclient.Config{TokenURL: srv.TokenURL(), AuthMethod: tokenclient.ClientSecretBasic, HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.CloseIdleConnections)
	m, err := tenantauth.New(tenantauth.Config{Tenants: tenantauth.Tenants{"acme": {
		Provider: p,
		Credentials: tenantauth.Credentials{ClientID: tenantauthtest.DefaultClientID,
			ClientSecret: tenantauthtest.DefaultClientSecret, DPoP: dp},
		APIHosts: []string{tenantauth.AnyHost},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })

	hc := &fasthttp.Client{}
	t.Cleanup(hc.CloseIdleConnections)
	cl := NewClient(ClientConfig{Manager: m, Client: hc})
	app := fiber.New()
	app.Use(New())
	app.Post("/client", func(c *fiber.Ctx) error {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(req)
		defer fasthttp.ReleaseResponse(resp)
		req.Header.SetMethod(fiber.MethodPost)
		req.SetRequestURI(srv.APIURL() + "/things?q=1")
		req.Header.Set(headerDPoP, "a proof the caller made") // replaced
		req.SetBodyString(string(c.Body()))
		if err := cl.Do(c, req, resp); err != nil {
			return c.Status(599).SendString(err.Error())
		}
		return c.SendString(fmt.Sprintf("%d %s", resp.StatusCode(), resp.Body()))
	})
	app.Post("/agent", func(c *fiber.Ctx) error {
		a := fiber.Post(srv.APIURL() + "/things?q=1").Body(c.Body())
		a.ConnectionClose()
		code, body, errs := Do(c, m, a)
		return reply(c, code, body, errs)
	})
	app.Use("/proxy", Proxy(ProxyConfig{Manager: m, StripPrefix: "/proxy",
		Upstream: func(context.Context, string) (string, error) { return srv.APIURL(), nil }}))
	return srv, app, dp
}

// TestDPoPEndToEnd: a DPoP-bound token through Manager, tokenclient and
// each of fiberauth's outbound paths against the stand-in, which checks
// every proof (htm, htu, ath, fresh jti, the bound key, its nonce): the
// API serves every call; with a required nonce the dance costs one extra
// request at the token endpoint and one at the API per path (the nonce is
// remembered), never a new token; after the server revokes the token, one
// new token is fetched and the call still succeeds.
func TestDPoPEndToEnd(t *testing.T) {
	for _, nonce := range []string{"", "n0nce-42"} {
		for _, path := range []string{"/client", "/agent", "/proxy/things?q=1"} {
			t.Run(fmt.Sprintf("nonce=%q/%s", nonce, path), func(t *testing.T) {
				srv, app, _ := dpopApp(t, nonce)
				extra := 0
				if nonce != "" {
					extra = 1
				}
				call := func(i int) string {
					t.Helper()
					req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(fmt.Sprintf("payload %d", i)))
					req.Header.Set(HeaderTenantID, "acme")
					code, body := do(t, app, req)
					if code != http.StatusOK {
						t.Fatalf("call %d: %d %s", i, code, body)
					}
					return body
				}
				for i := 1; i <= 3; i++ {
					body := call(i)
					if !strings.Contains(body, `"method":"POST"`) {
						t.Fatalf("call %d: reply %s", i, body)
					}
					st := srv.Stats()
					if st.TokenRequests != 1+extra || st.APIRequests != i+extra {
						t.Errorf("call %d: %d token requests, %d API requests; want %d, %d",
							i, st.TokenRequests, st.APIRequests, 1+extra, i+extra)
					}
				}
				before := srv.Stats()
				srv.RevokeAll()
				call(4)
				st := srv.Stats()
				if st.TokenRequests != before.TokenRequests+1 || st.APIRequests != before.APIRequests+2 {
					t.Errorf("after revocation: %d token requests, %d API requests; want %d, %d",
						st.TokenRequests, st.APIRequests, before.TokenRequests+1, before.APIRequests+2)
				}
			})
		}
	}
}

// TestAuthorizeBearerDropsDPoP: a Bearer token goes without any DPoP
// header a caller (or a gateway client) set: a proof is the tenant's, made
// by fiberauth, or none.
func TestAuthorizeBearerDropsDPoP(t *testing.T) {
	var h fasthttp.RequestHeader
	h.Set(headerDPoP, "someone else's proof")
	if err := authorize(&h, &tenantauth.Token{AccessToken: "at", TokenType: "Bearer"}, nil, "", "", ""); err != nil {
		t.Fatal(err)
	}
	if got := string(h.Peek(fiber.HeaderAuthorization)); got != "Bearer at" {
		t.Errorf("Authorization %q", got)
	}
	if len(h.Peek(headerDPoP)) != 0 {
		t.Errorf("DPoP header kept: %q", h.Peek(headerDPoP))
	}
	unauthorize(&h)
	if len(h.Peek(fiber.HeaderAuthorization)) != 0 {
		t.Error("Authorization kept")
	}
}

// TestDPoPNonceOnFreshToken: for each outbound path, the API refuses the
// token, then asks the fresh token's request for a new nonce: the request
// is sent once more with a proof holding it and the call succeeds (two
// token requests, three API requests).
func TestDPoPNonceOnFreshToken(t *testing.T) {
	for _, path := range []string{"/client", "/agent", "/proxy/things"} {
		t.Run(path, func(t *testing.T) {
			dp, err := clientauth.GenerateDPoP()
			if err != nil {
				t.Fatal(err)
			}
			api := &dpoptest.RotatingAPI{JKT: dp.Thumbprint()}
			srv := httptest.NewServer(api)
			defer srv.Close()
			p := &dpoptest.Provider{}
			obs := &recoveries{}
			m, err := tenantauth.New(tenantauth.Config{Retries: -1, Observer: obs, Tenants: tenantauth.Tenants{"acme": {Provider: p,
				Credentials: tenantauth.Credentials{ClientID: "c", ClientSecret: "s", DPoP: dp}, APIHosts: []string{tenantauth.AnyHost}}}})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			hc := &fasthttp.Client{}
			defer hc.CloseIdleConnections()
			cl := NewClient(ClientConfig{Manager: m, Client: hc})
			app := fiber.New()
			app.Use(New())
			app.Get("/client", func(c *fiber.Ctx) error {
				req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
				defer fasthttp.ReleaseRequest(req)
				defer fasthttp.ReleaseResponse(resp)
				req.SetRequestURI(srv.URL + "/things")
				if err := cl.Do(c, req, resp); err != nil {
					return c.Status(599).SendString(err.Error())
				}
				return c.SendStatus(resp.StatusCode())
			})
			app.Get("/agent", func(c *fiber.Ctx) error {
				a := fiber.Get(srv.URL + "/things")
				a.ConnectionClose()
				code, _, errs := Do(c, m, a)
				if len(errs) > 0 {
					return c.Status(599).SendString(errs[0].Error())
				}
				return c.SendStatus(code)
			})
			app.Use("/proxy", Proxy(ProxyConfig{Manager: m, StripPrefix: "/proxy",
				Upstream: func(context.Context, string) (string, error) { return srv.URL, nil }}))
			req := httptest.NewRequest(http.MethodGet, path, nil)
			req.Header.Set(HeaderTenantID, "acme")
			code, body := do(t, app, req)
			if code != http.StatusOK || p.Requests() != 2 || api.Calls() != 3 || api.Served != 1 {
				t.Errorf("status %d %q, %d token requests, %d API calls, %d served; want 200, 2, 3, 1",
					code, body, p.Requests(), api.Calls(), api.Served)
			}
			if got := obs.list(); len(got) != 1 || !got[0].Recovered {
				t.Errorf("recoveries reported %+v; want one, recovered", got)
			}
		})
	}
}

// recoveries records the Recovery events of a Manager.
type recoveries struct {
	tenantauth.NopObserver
	mu  sync.Mutex
	got []tenantauth.Recovery
}

func (r *recoveries) Recovery(ev tenantauth.Recovery) {
	r.mu.Lock()
	r.got = append(r.got, ev)
	r.mu.Unlock()
}

func (r *recoveries) list() []tenantauth.Recovery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]tenantauth.Recovery(nil), r.got...)
}

package fiberauth

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tenantauth/tenantauth"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"
)

// fakeProvider issues tokens "tok-<clientID>-<n>", n counting per client
// from 1, and counts its exchanges.
type fakeProvider struct {
	mu     sync.Mutex
	issued map[string]int
	calls  atomic.Int64
	fail   atomic.Bool
}

func newFakeProvider() *fakeProvider { return &fakeProvider{issued: map[string]int{}} }

func (p *fakeProvider) Endpoint() string { return "https://auth.test/token" }

func (p *fakeProvider) Exchange(ctx context.Context, req tenantauth.TokenRequest) (*tenantauth.Token, error) {
	p.calls.Add(1)
	if p.fail.Load() {
		return nil, &tenantauth.TokenError{Endpoint: p.Endpoint(), StatusCode: 503}
	}
	p.mu.Lock()
	p.issued[req.Credentials.ClientID]++
	n := p.issued[req.Credentials.ClientID]
	p.mu.Unlock()
	return &tenantauth.Token{
		AccessToken: tenantauth.Secret(fmt.Sprintf("tok-%s-%d", req.Credentials.ClientID, n)),
		TokenType:   "bearer",
		Expiry:      time.Now().Add(time.Hour),
	}, nil
}

// tenantSpec is a tenant for newManager: id and the hosts its token may go to.
type tenantSpec struct {
	id    string
	hosts []string
}

// newManager returns a real Manager over p for the tenants, closed when the
// test ends. The tenant's ClientID is its ID, so tokens name their tenant,
// and plain http is allowed (tests of the https rule build their own).
// Its invalidation cooldown is an hour, so that a second Invalidate of a
// tenant within a test is ignored, deterministically.
func newManager(t testing.TB, p tenantauth.Provider, tenants ...tenantSpec) *tenantauth.Manager {
	t.Helper()
	ts := tenantauth.Tenants{}
	for _, s := range tenants {
		ts[s.id] = tenantauth.Tenant{
			ID:          s.id,
			Provider:    p,
			Credentials: tenantauth.Credentials{ClientID: s.id, ClientSecret: "secret-" + tenantauth.Secret(s.id)},
			APIHosts:    hostsOrAny(s.hosts),
			// The test APIs (a.test, b.test) are in-memory, over plain http.
			AllowInsecureHTTP: true,
		}
	}
	m, err := tenantauth.New(tenantauth.Config{Tenants: ts, InvalidateCooldown: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	return m
}

// fakeAPI is an upstream API on an in-memory listener. It accepts any
// "Bearer tok-…" token it has not been told to revoke, answers 401
// otherwise, and echoes what it received: "auth=<Authorization> host=<Host>
// uri=<RequestURI>".
type fakeAPI struct {
	ln       *fasthttputil.InmemoryListener
	srv      *fasthttp.Server
	done     chan struct{}
	mu       sync.Mutex
	revoked  map[string]bool
	seen     []string // Authorization of every request
	requests atomic.Int64
	rejected atomic.Int64
}

func newFakeAPI(t testing.TB) *fakeAPI {
	t.Helper()
	a := &fakeAPI{ln: fasthttputil.NewInmemoryListener(), revoked: map[string]bool{}, done: make(chan struct{})}
	a.srv = &fasthttp.Server{Handler: a.handle, NoDefaultServerHeader: true}
	go func() {
		defer close(a.done)
		_ = a.srv.Serve(a.ln)
	}()
	t.Cleanup(a.close)
	return a
}

func (a *fakeAPI) close() {
	_ = a.srv.Shutdown()
	_ = a.ln.Close()
	<-a.done
}

func (a *fakeAPI) handle(ctx *fasthttp.RequestCtx) {
	a.requests.Add(1)
	auth := string(ctx.Request.Header.Peek("Authorization"))
	a.mu.Lock()
	a.seen = append(a.seen, auth)
	bad := a.revoked[auth] || !strings.HasPrefix(auth, "Bearer tok-")
	a.mu.Unlock()
	if bad {
		a.rejected.Add(1)
		ctx.Response.Header.Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		ctx.Error(`{"error":"invalid_token"}`, fasthttp.StatusUnauthorized)
		return
	}
	if string(ctx.Path()) == "/redirect" {
		ctx.Redirect(string(ctx.QueryArgs().Peek("to")), fasthttp.StatusFound)
		return
	}
	fmt.Fprintf(ctx, "auth=%s host=%s uri=%s body=%s", auth, ctx.Host(), ctx.RequestURI(), ctx.PostBody())
}

// revoke makes the API refuse the Authorization value auth.
func (a *fakeAPI) revoke(auth string) {
	a.mu.Lock()
	a.revoked[auth] = true
	a.mu.Unlock()
}

// authsSeen returns the Authorization values the API received, in order.
func (a *fakeAPI) authsSeen() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.seen...)
}

// router dials in-memory APIs by "host:port" address, so tests can name
// hosts freely without DNS or sockets.
type router struct {
	mu    sync.Mutex
	apis  map[string]*fakeAPI
	dials map[string]int
}

func newRouter() *router { return &router{apis: map[string]*fakeAPI{}, dials: map[string]int{}} }

func (r *router) add(addr string, a *fakeAPI) {
	r.mu.Lock()
	r.apis[addr] = a
	r.mu.Unlock()
}

func (r *router) dial(addr string) (net.Conn, error) {
	r.mu.Lock()
	a := r.apis[addr]
	r.dials[addr]++
	r.mu.Unlock()
	if a == nil {
		return nil, errors.New("router: no API at " + addr)
	}
	return a.ln.Dial()
}

func (r *router) dialCount(addr string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.dials[addr]
}

// client returns a fasthttp.Client that dials through r.
func (r *router) client() *fasthttp.Client {
	return &fasthttp.Client{Dial: r.dial, NoDefaultUserAgentHeader: true, DisablePathNormalizing: true}
}

// hostsOrAny is hosts, or every host when the spec lists none.
func hostsOrAny(hosts []string) []string {
	if len(hosts) == 0 {
		return []string{tenantauth.AnyHost}
	}
	return hosts
}

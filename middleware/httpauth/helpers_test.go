package httpauth

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tenantauth/tenantauth"
)

// TestMain fails the run when a goroutine of net/http, io.Pipe or this
// module is still alive after every test finished: the Transport starts
// none, and every server, client and Manager a test starts must be stopped.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if err := checkNoLeaks(5 * time.Second); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	os.Exit(code)
}

// checkNoLeaks polls the goroutine dump until no suspicious goroutine is
// left or the deadline passes (connections close asynchronously).
func checkNoLeaks(within time.Duration) error {
	if tr, ok := http.DefaultTransport.(*http.Transport); ok {
		tr.CloseIdleConnections()
	}
	deadline := time.Now().Add(within)
	for {
		leaked := suspiciousGoroutines()
		if len(leaked) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("goroutine leak: %d goroutines left:\n\n%s", len(leaked), strings.Join(leaked, "\n\n"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func suspiciousGoroutines() []string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "checkNoLeaks") {
			continue // this goroutine
		}
		for _, s := range []string{"net/http.", "io.(*pipe)", "tenantauth/", "httpauth."} {
			if strings.Contains(g, s) {
				out = append(out, g)
				break
			}
		}
	}
	return out
}

// fakeProvider issues "tok-1", "tok-2", … valid for an hour and counts the
// token requests. Err, when set, is returned instead.
type fakeProvider struct {
	requests atomic.Int64
	err      atomic.Pointer[error]
}

func (p *fakeProvider) Endpoint() string { return "https://token.test/oauth/token" }

func (p *fakeProvider) Exchange(ctx context.Context, _ tenantauth.TokenRequest) (*tenantauth.Token, error) {
	n := p.requests.Add(1)
	if e := p.err.Load(); e != nil {
		return nil, *e
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	now := time.Now()
	return &tenantauth.Token{
		AccessToken: tenantauth.Secret(fmt.Sprintf("tok-%d", n)),
		TokenType:   "bearer",
		Expiry:      now.Add(time.Hour),
		IssuedAt:    now,
	}, nil
}

func (p *fakeProvider) fail(err error) { p.err.Store(&err) }

// newManager returns a Manager for one tenant "acme" served by p, closed
// when the test ends.
func newManager(t testing.TB, p tenantauth.Provider, apiHosts ...string) *tenantauth.Manager {
	t.Helper()
	return newManagerConfig(t, tenantauth.Config{}, p, apiHosts...)
}

func newManagerConfig(t testing.TB, cfg tenantauth.Config, p tenantauth.Provider, apiHosts ...string) *tenantauth.Manager {
	t.Helper()
	if len(apiHosts) == 0 {
		apiHosts = []string{tenantauth.AnyHost}
	}
	cfg.Tenants = tenantauth.Tenants{
		"acme": {Provider: p, Credentials: tenantauth.Credentials{ClientID: "acme", ClientSecret: "s3cret"}, APIHosts: apiHosts},
	}
	cfg.Retries = -1
	m, err := tenantauth.New(cfg)
	if err != nil {
		t.Fatalf("tenantauth.New: %v", err)
	}
	t.Cleanup(func() { _ = m.Close() })
	return m
}

// acmeCtx is a context carrying the tenant "acme".
func acmeCtx() context.Context { return tenantauth.WithTenant(context.Background(), "acme") }

// fakeBase is an in-memory base RoundTripper: it serves each request with
// handler, closes the request body as a transport must, and counts calls
// and response bodies. Its responses' bodies count their Close calls.
type fakeBase struct {
	handler http.Handler
	calls   atomic.Int64
	opened  atomic.Int64 // response bodies handed out
	closed  atomic.Int64 // response bodies closed
	drained atomic.Int64 // bytes read from response bodies
}

func (b *fakeBase) RoundTrip(req *http.Request) (*http.Response, error) {
	b.calls.Add(1)
	// Serve a server-side view of the request, as a real transport would
	// deliver it; the handler may mutate it freely.
	sreq := req.Clone(req.Context())
	if req.Body == nil {
		sreq.Body = http.NoBody
	}
	rec := httptest.NewRecorder()
	b.handler.ServeHTTP(rec, sreq)
	if req.Body != nil {
		_ = req.Body.Close()
	}
	resp := rec.Result()
	resp.Request = req
	b.opened.Add(1)
	resp.Body = &countingBody{Reader: bytes.NewReader(rec.Body.Bytes()), closes: &b.closed, reads: &b.drained}
	return resp, nil
}

// countingBody counts Close calls and bytes read.
type countingBody struct {
	io.Reader
	closes *atomic.Int64
	reads  *atomic.Int64
}

func (c *countingBody) Read(p []byte) (int, error) {
	n, err := c.Reader.Read(p)
	if c.reads != nil {
		c.reads.Add(int64(n))
	}
	return n, err
}

func (c *countingBody) Close() error {
	c.closes.Add(1)
	return nil
}

// newBody returns a request body that counts its Close calls in closes.
func newBody(s string, closes *atomic.Int64) io.ReadCloser {
	return &countingBody{Reader: strings.NewReader(s), closes: closes}
}

// rejecting is a handler that answers 401 "revoked" to the listed
// Authorization values and 200 "ok <authorization>" to any other, recording
// what it saw.
type rejecting struct {
	reject map[string]bool
	seen   chan seenRequest // nil: not recorded
}

type seenRequest struct {
	method, auth string
	body         []byte
}

func (h *rejecting) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	auth := r.Header.Get("Authorization")
	body, _ := io.ReadAll(r.Body)
	if h.seen != nil {
		h.seen <- seenRequest{method: r.Method, auth: auth, body: body}
	}
	if h.reject[auth] {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, "revoked")
		return
	}
	_, _ = io.WriteString(w, "ok "+auth)
}

// drainSeen returns what was recorded so far.
func drainSeen(ch chan seenRequest) []seenRequest {
	var out []seenRequest
	for {
		select {
		case s := <-ch:
			out = append(out, s)
		default:
			return out
		}
	}
}

// roundTrip calls t.RoundTrip and checks the response-or-error contract.
func roundTrip(t *testing.T, tr http.RoundTripper, req *http.Request) (*http.Response, error) {
	t.Helper()
	resp, err := tr.RoundTrip(req)
	if (resp == nil) == (err == nil) {
		t.Fatalf("RoundTrip returned resp=%v and err=%v: want exactly one", resp != nil, err)
	}
	return resp, err
}

func readBody(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading body: %v", err)
	}
	_ = resp.Body.Close()
	return string(b)
}

var errTokenEndpointDown = errors.New("token endpoint down")

package stacktest

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/tenantauth/tenantauth"
	"github.com/tenantauth/tenantauth/admission"
	"github.com/tenantauth/tenantauth/breaker"
	"github.com/tenantauth/tenantauth/middleware/httpauth"
	"github.com/tenantauth/tenantauth/providers/keycloak"
	"github.com/tenantauth/tenantauth/providers/passport"
)

// recorder receives every text the stack produces — error strings and
// their renderings, log records, renderings of public values, panic
// messages — and looks for secrets in each as it arrives. It keeps only
// counts and a few samples of leaks, so that a long soak stays flat.
//
// Every test secret carries a marker (see secretValue), so one scan finds
// any secret of any tenant, also partly printed, hex-dumped or
// base64-encoded.
type recorder struct {
	patterns []leakPattern

	texts, bytes, logRecords atomic.Int64

	mu      sync.Mutex
	nleaks  int
	samples []string
}

type leakPattern struct{ needle, what string }

func newRecorder() *recorder {
	r := &recorder{patterns: []leakPattern{{markAny, "a secret"}}}
	for _, k := range []leakPattern{
		{markClientSecret, "client secret"}, {markPassword, "password"},
		{markAccess, "access token"}, {markRefresh, "refresh token"},
	} {
		m := []byte(k.needle)
		r.patterns = append(r.patterns,
			leakPattern{hex.EncodeToString(m), k.what + " (hex)"},
			leakPattern{strings.ToUpper(hex.EncodeToString(m)), k.what + " (HEX)"})
		// base64 at each of the three alignments the marker can take.
		for off := 0; off < 3; off++ {
			b := m[off:]
			b = b[:len(b)/3*3]
			std := base64.StdEncoding.EncodeToString(b)
			r.patterns = append(r.patterns, leakPattern{std, k.what + " (base64)"})
			if u := base64.URLEncoding.EncodeToString(b); u != std {
				r.patterns = append(r.patterns, leakPattern{u, k.what + " (base64url)"})
			}
		}
	}
	return r
}

// scan checks one text.
func (r *recorder) scan(source, text string) {
	r.texts.Add(1)
	r.bytes.Add(int64(len(text)))
	for _, p := range r.patterns {
		if i := strings.Index(text, p.needle); i >= 0 {
			r.leak(source, p, text, i)
			return
		}
	}
}

func (r *recorder) leak(source string, p leakPattern, text string, i int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.nleaks++
	if len(r.samples) >= 10 {
		return
	}
	lo, hi := max(i-120, 0), min(i+len(p.needle)+40, len(text))
	r.samples = append(r.samples, fmt.Sprintf("%s leaks %s: …%s…", source, p.what, text[lo:hi]))
}

// Write makes the recorder an io.Writer for slog handlers: one record per
// call.
func (r *recorder) Write(p []byte) (int, error) {
	r.logRecords.Add(1)
	r.scan("log record", string(p))
	return len(p), nil
}

// renderVerbs are the verbs every value and error is rendered with.
var renderVerbs = []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d"}

// value scans every rendering of v.
func (r *recorder) value(source string, v any) {
	for _, verb := range renderVerbs {
		r.scan(source+" "+verb, fmt.Sprintf(verb, v))
	}
}

// err scans err's message and renderings, and those of every error it
// wraps.
func (r *recorder) err(source string, err error) {
	if err == nil {
		return
	}
	r.value(source, err)
	seen := 0
	queue := []error{err}
	for len(queue) > 0 && seen < 100 {
		e := queue[0]
		queue = queue[1:]
		seen++
		r.scan(source+" (chain)", e.Error())
		r.scan(source+" (chain %#v)", fmt.Sprintf("%#v", e))
		switch u := e.(type) {
		case interface{ Unwrap() error }:
			if w := u.Unwrap(); w != nil {
				queue = append(queue, w)
			}
		case interface{ Unwrap() []error }:
			for _, w := range u.Unwrap() {
				if w != nil {
					queue = append(queue, w)
				}
			}
		}
	}
}

// panicked scans a recovered panic value; the caller fails the test.
func (r *recorder) panicked(source string, p any) string {
	msg := fmt.Sprint(p)
	r.scan(source+" panic", msg)
	if err, ok := p.(error); ok {
		r.err(source+" panic", err)
	}
	return msg
}

// logger returns a logger writing every record at debug level and above to
// the recorder, through a text and a JSON handler.
func (r *recorder) logger() *slog.Logger {
	opts := &slog.HandlerOptions{Level: slog.LevelDebug, AddSource: true}
	return slog.New(fanout{slog.NewTextHandler(r, opts), slog.NewJSONHandler(r, opts)})
}

// check fails t when a secret was seen, or when nothing was: a recorder
// that scanned nothing proves nothing.
func (r *recorder) check(t testing.TB) {
	t.Helper()
	if r.texts.Load() == 0 || r.logRecords.Load() == 0 {
		t.Errorf("secret scan: recorder saw %d texts and %d log records; the stack was not wired to it",
			r.texts.Load(), r.logRecords.Load())
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.nleaks > 0 {
		t.Errorf("secret scan: %d texts contain a secret; first ones:\n%s", r.nleaks, strings.Join(r.samples, "\n"))
	}
}

func (r *recorder) summary() string {
	return fmt.Sprintf("%d texts (%d bytes, %d log records) scanned", r.texts.Load(), r.bytes.Load(), r.logRecords.Load())
}

// fanout is a slog.Handler that passes each record to several handlers.
type fanout []slog.Handler

func (f fanout) Enabled(ctx context.Context, l slog.Level) bool {
	for _, h := range f {
		if h.Enabled(ctx, l) {
			return true
		}
	}
	return false
}

func (f fanout) Handle(ctx context.Context, rec slog.Record) error {
	var errs []error
	for _, h := range f {
		if h.Enabled(ctx, rec.Level) {
			errs = append(errs, h.Handle(ctx, rec.Clone()))
		}
	}
	return errors.Join(errs...)
}

func (f fanout) WithAttrs(attrs []slog.Attr) slog.Handler {
	g := make(fanout, len(f))
	for i, h := range f {
		g[i] = h.WithAttrs(attrs)
	}
	return g
}

func (f fanout) WithGroup(name string) slog.Handler {
	g := make(fanout, len(f))
	for i, h := range f {
		g[i] = h.WithGroup(name)
	}
	return g
}

// transitions records the breakers' state changes (Config.Breaker.OnStateChange).
type transitions struct {
	mu   sync.Mutex
	list []transition
}

type transition struct {
	endpoint string
	from, to breaker.State
}

func (tr *transitions) record(endpoint string, from, to breaker.State) {
	tr.mu.Lock()
	tr.list = append(tr.list, transition{endpoint, from, to})
	tr.mu.Unlock()
}

// of returns endpoint's transitions.
func (tr *transitions) of(endpoint string) []transition {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	var out []transition
	for _, x := range tr.list {
		if x.endpoint == endpoint {
			out = append(out, x)
		}
	}
	return out
}

// state returns endpoint's current state as its transitions tell it.
func (tr *transitions) state(endpoint string) breaker.State {
	s := breaker.Closed
	for _, x := range tr.of(endpoint) {
		s = x.to
	}
	return s
}

func (tr *transitions) all() []transition {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return append([]transition(nil), tr.list...)
}

// fetchLog records Config.OnFetch events: all of them when keep is set,
// else only counts. Every event and its error go to the recorder.
type fetchLog struct {
	rec  *recorder
	keep bool

	attempts, failures atomic.Int64
	maxAttempt         atomic.Int64

	mu     sync.Mutex
	events map[string][]tenantauth.FetchEvent
}

func newFetchLog(rec *recorder, keep bool) *fetchLog {
	return &fetchLog{rec: rec, keep: keep, events: make(map[string][]tenantauth.FetchEvent)}
}

func (f *fetchLog) record(ev tenantauth.FetchEvent) {
	f.attempts.Add(1)
	if ev.Err != nil {
		f.failures.Add(1)
		f.rec.err("FetchEvent.Err", ev.Err)
	}
	for {
		cur := f.maxAttempt.Load()
		if int64(ev.Attempt) <= cur || f.maxAttempt.CompareAndSwap(cur, int64(ev.Attempt)) {
			break
		}
	}
	if !f.keep {
		return
	}
	f.rec.value("FetchEvent", ev)
	f.mu.Lock()
	f.events[ev.TenantID] = append(f.events[ev.TenantID], ev)
	f.mu.Unlock()
}

func (f *fetchLog) of(tenant string) []tenantauth.FetchEvent {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]tenantauth.FetchEvent(nil), f.events[tenant]...)
}

// dialCounter counts the connections a token client tried to open.
type dialCounter struct{ n atomic.Int64 }

// tokenClient returns an http.Client for a provider with its own transport
// (returned too, to close its idle connections), dialing through d (nil: a
// plain dialer) and counting dials in dc (nil: not counted).
func tokenClient(dc *dialCounter, d *net.Dialer) (*http.Client, *http.Transport) {
	if d == nil {
		d = &net.Dialer{Timeout: 5 * time.Second}
	}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if dc != nil {
				dc.n.Add(1)
			}
			return d.DialContext(ctx, network, addr)
		},
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       30 * time.Second,
		TLSHandshakeTimeout:   5 * time.Second,
		ResponseHeaderTimeout: 10 * time.Second,
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12},
	}
	return &http.Client{Transport: tr}, tr
}

// newProvider returns a provider of dialect d for the server at base.
func newProvider(t testing.TB, d dialect, base string, hc *http.Client) tenantauth.Provider {
	t.Helper()
	var (
		p   tenantauth.Provider
		err error
	)
	switch d {
	case keycloakDialect:
		p, err = keycloak.New(keycloak.Config{BaseURL: base, Realm: testRealm, HTTPClient: hc})
	case passportDialect:
		p, err = passport.New(passport.Config{BaseURL: base, HTTPClient: hc})
	}
	if err != nil {
		t.Fatalf("%v provider for %s: %v", d, base, err)
	}
	return p
}

// A stack is the whole client side: an http.Client whose transport is
// httpauth's, over a Manager with its breakers, over the providers.
type stack struct {
	t       testing.TB
	rec     *recorder
	api     *apiServer
	m       *tenantauth.Manager
	client  *http.Client
	trans   *transitions
	fetches *fetchLog

	apiTransport *http.Transport
	idle         []*http.Transport // token clients' transports
}

// matrixConfig is the Manager configuration of the fault matrix: one retry
// with a tiny backoff, a 2 s fetch deadline, every call reaching the
// endpoint (no remembered refusals), breakers that open after 4 failures
// and stay open for the rest of the row.
func matrixConfig(cfg *tenantauth.Config) {
	cfg.Retries = 1
	cfg.RetryBackoff = time.Millisecond
	cfg.FetchTimeout = 2 * time.Second
	cfg.BadCredentialsTTL = -1
	cfg.Breaker.ConsecutiveFailures = 4
	cfg.Breaker.OpenTimeout = time.Minute
	// The admission limit starts at its floor: there a persistent overload
	// refusal (429, 503) counts against the breaker like any failure, which
	// is what the matrix checks. Above the floor the limiter handles those
	// refusals first (TestColdStartOnBusyIdP).
	cfg.Admission = admission.Config{InitialLimit: 1, MinLimit: 1}
}

// newStack builds a stack for tenants. configure sets the Manager's
// Config (matrixConfig, say); the logger and the hooks are the stack's.
func newStack(t testing.TB, rec *recorder, api *apiServer, tenants tenantauth.TenantSource,
	keepFetches bool, configure ...func(*tenantauth.Config)) *stack {
	t.Helper()
	st := &stack{t: t, rec: rec, api: api, trans: &transitions{}, fetches: newFetchLog(rec, keepFetches)}
	if ts, ok := tenants.(tenantauth.Tenants); ok {
		for id, tn := range ts {
			if tn.APIHosts == nil {
				tn.APIHosts = []string{tenantauth.AnyHost}
				ts[id] = tn
			}
		}
	}
	cfg := tenantauth.Config{Tenants: tenants}
	for _, c := range configure {
		c(&cfg)
	}
	cfg.Logger = rec.logger()
	cfg.Breaker.OnStateChange = st.trans.record
	cfg.OnFetch = st.fetches.record
	m, err := tenantauth.New(cfg)
	if err != nil {
		t.Fatalf("tenantauth.New: %v", err)
	}
	st.m = m
	rec.value("Config", cfg)
	rec.value("Manager", m)
	st.apiTransport = &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256, IdleConnTimeout: 30 * time.Second}
	// The Transport's own renderings are TestSecretHygiene's.
	st.client = &http.Client{Transport: httpauth.NewTransport(m, st.apiTransport)}
	t.Cleanup(st.close)
	return st
}

// closeIdleWith registers a token client's transport for close.
func (st *stack) closeIdleWith(tr *http.Transport) { st.idle = append(st.idle, tr) }

// close closes the Manager and every idle connection of the stack.
func (st *stack) close() {
	if err := st.m.Close(); err != nil {
		st.t.Errorf("Manager.Close: %v", err)
	}
	st.apiTransport.CloseIdleConnections()
	for _, tr := range st.idle {
		tr.CloseIdleConnections()
	}
}

// errHangGuard is the cause of a call that did not return in time: a hang.
var errHangGuard = errors.New("stacktest: call did not return within the hang guard")

// hangGuard bounds every call; no fault of the matrix may take this long.
const hangGuard = 20 * time.Second

// get makes an API call for tenant through the whole stack. It returns the
// status and the error, both recorded; a call that hangs fails the test.
func (st *stack) get(ctx context.Context, tenant string) (int, error) {
	ctx, cancel := context.WithTimeoutCause(ctx, hangGuard, errHangGuard)
	defer cancel()
	req, err := http.NewRequestWithContext(tenantauth.WithTenant(ctx, tenant), http.MethodGet, st.api.url(tenant), nil)
	if err != nil {
		st.t.Fatalf("request: %v", err)
	}
	resp, err := st.client.Do(req)
	if errors.Is(context.Cause(ctx), errHangGuard) {
		st.t.Fatalf("call for tenant %s hung for %v: %v", tenant, hangGuard, err)
	}
	if err != nil {
		st.rec.err("client.Do error", err)
		return 0, err
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	st.rec.scan("API body", string(body))
	return resp.StatusCode, nil
}

// mustGet requires a 200.
func (st *stack) mustGet(tenant, when string) {
	st.t.Helper()
	status, err := st.get(context.Background(), tenant)
	if err != nil || status != http.StatusOK {
		st.t.Errorf("%s: tenant %s: status %d, error %v; want 200", when, tenant, status, err)
	}
}

// token returns the Manager's token for tenant, recorded.
func (st *stack) token(tenant string) (*tenantauth.Token, error) {
	tok, err := st.m.Token(context.Background(), tenant)
	st.rec.err("Manager.Token error", err)
	if tok != nil {
		st.rec.value("Token", tok)
		st.rec.value("*Token", *tok)
	}
	return tok, err
}

// checkGoroutinesWait bounds checkGoroutines' poll.
var checkGoroutinesWait = 10 * time.Second

// checkGoroutines polls, for a bounded time, until no more goroutines run
// than before, and fails with every stack otherwise.
func checkGoroutines(t testing.TB, before int) {
	t.Helper()
	deadline := time.Now().Add(checkGoroutinesWait)
	for {
		n := runtime.NumGoroutine()
		if n <= before {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Errorf("%d goroutines left behind (%d before, %d now):\n%s", n-before, before, n, buf)
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// liveHeap returns the live heap after a collection.
func liveHeap() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// totalAlloc returns the bytes allocated so far.
func totalAlloc() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.TotalAlloc
}

// A matcher is a named test on an error.
type matcher struct {
	name string
	ok   func(error) bool
}

func isErr(name string, target error) matcher {
	return matcher{name, func(err error) bool { return errors.Is(err, target) }}
}

func notErr(name string, target error) matcher {
	return matcher{"not " + name, func(err error) bool { return !errors.Is(err, target) }}
}

func asType[T error](name string, check func(T) bool) matcher {
	return matcher{name, func(err error) bool {
		var v T
		return errors.As(err, &v) && (check == nil || check(v))
	}}
}

// tokenErr matches a *TokenError with the given status and code ("-": any
// code).
func tokenErr(status int, code string) matcher {
	return asType(fmt.Sprintf("*TokenError{%d %s}", status, code), func(te *tenantauth.TokenError) bool {
		return te.StatusCode == status && (code == "-" || te.Code == code)
	})
}

// timeout matches a deadline: the shared fetch's (context.DeadlineExceeded)
// or the http.Client's (a net.Error whose Timeout is true).
var timeout = matcher{"timeout", func(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}}

// callerTypes lists the exported sentinels and types a caller can match an
// error of the stack against. *url.Error and net.Error are left out: every
// error of an http.Client is one, so matching them says nothing.
var callerTypes = []matcher{
	isErr("tenantauth.ErrCircuitOpen", tenantauth.ErrCircuitOpen),
	isErr("tenantauth.ErrRedirect", tenantauth.ErrRedirect),
	isErr("tenantauth.ErrInvalidCredentials", tenantauth.ErrInvalidCredentials),
	isErr("tenantauth.ErrClosed", tenantauth.ErrClosed),
	isErr("tenantauth.ErrInsecureEndpoint", tenantauth.ErrInsecureEndpoint),
	isErr("tenantauth.ErrUnknownTenant", tenantauth.ErrUnknownTenant),
	isErr("tenantauth.ErrNoTenant", tenantauth.ErrNoTenant),
	isErr("tenantauth.ErrHostNotAllowed", tenantauth.ErrHostNotAllowed),
	isErr("tenantauth.ErrMalformedResponse", tenantauth.ErrMalformedResponse),
	isErr("tenantauth.ErrBodyTooLarge", tenantauth.ErrBodyTooLarge),
	isErr("keycloak.ErrUnsupportedGrant", keycloak.ErrUnsupportedGrant),
	isErr("keycloak.ErrIncompleteCredentials", keycloak.ErrIncompleteCredentials),
	isErr("context.DeadlineExceeded", context.DeadlineExceeded),
	isErr("context.Canceled", context.Canceled),
	isErr("io.ErrUnexpectedEOF", io.ErrUnexpectedEOF),
	isErr("io.EOF", io.EOF),
	isErr("syscall.ECONNREFUSED", syscall.ECONNREFUSED),
	asType[*tenantauth.TokenError]("*tenantauth.TokenError", nil),
	asType[*net.DNSError]("*net.DNSError", nil),
	asType[*net.OpError]("*net.OpError", nil),
	asType[*tls.CertificateVerificationError]("*tls.CertificateVerificationError", nil),
}

// callerMatch names the first exported sentinel or type err matches, or
// returns "".
func callerMatch(err error) string {
	for _, m := range callerTypes {
		if m.ok(err) {
			return m.name
		}
	}
	return ""
}

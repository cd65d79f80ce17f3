package stacktest

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/tenantauth/tenantauth"
	"github.com/tenantauth/tenantauth/breaker"
)

// errNoNetwork is what the DNS row's resolver answers instead of sending a
// query.
var errNoNetwork = errors.New("stacktest: no DNS traffic leaves the test")

// What breaks the victim's token endpoint in a row.
type endpointFault int

const (
	// serverFault: the victim's token server answers with the row's
	// responder (only the victim's requests; other clients are served).
	serverFault endpointFault = iota
	// refused: nothing listens on the endpoint's port.
	refused
	// dnsFailure: the endpoint's host is under .invalid; a resolver that
	// fails locally makes sure no query leaves the machine.
	dnsFailure
	// tlsUntrusted: an https endpoint whose certificate the client does not
	// trust.
	tlsUntrusted
)

// A faultRow is one row of the fault matrix.
type faultRow struct {
	name    string
	kind    endpointFault
	respond func(d dialect, env *rowEnv) responder // for serverFault
	config  func(*tenantauth.Config)               // on top of matrixConfig
	// clientTimeout, when set, is the token client's http.Client.Timeout.
	clientTimeout time.Duration

	// What must happen.
	ok       bool                                         // the victim gets a token and its call a 200
	checkTok func(t *testing.T, tok *tenantauth.Token)    // for ok rows
	errs     []matcher                                    // the victim's first error matches all of them
	attempts int                                          // token endpoint attempts in the victim's first call
	opens    bool                                         // the victim's endpoint breaker opens
	extra    func(t *testing.T, env *rowEnv, first error) // anything else
}

// rowEnv is what a row runs against.
type rowEnv struct {
	d         dialect
	reg       *registry
	api       *apiServer
	victimSrv *tokenServer // nil when the endpoint has no server
	target    *tokenServer // a second server, for redirects: must see nothing
	st        *stack
	endpoint  string // the victim's token endpoint (its breaker's key)
	dials     *dialCounter
	dnsDials  atomic.Int64
}

// reached counts what reached the victim's endpoint: HTTP requests when it
// has a server, else connection attempts (DNS queries for dnsFailure).
func (env *rowEnv) reached(kind endpointFault) int64 {
	switch kind {
	case dnsFailure:
		return env.dnsDials.Load()
	case refused, tlsUntrusted:
		return env.dials.n.Load()
	}
	return env.victimSrv.requests.Load()
}

// Matchers the rows share.
var (
	invalidCreds    = isErr("tenantauth.ErrInvalidCredentials", tenantauth.ErrInvalidCredentials)
	notInvalidCreds = notErr("tenantauth.ErrInvalidCredentials", tenantauth.ErrInvalidCredentials)
	redirected      = isErr("tenantauth.ErrRedirect", tenantauth.ErrRedirect)
	malformed       = isErr("tenantauth.ErrMalformedResponse", tenantauth.ErrMalformedResponse)
	tooLarge        = isErr("tenantauth.ErrBodyTooLarge", tenantauth.ErrBodyTooLarge)
)

// retryAfter matches a TokenError whose RetryAfter is in (0, most].
func retryAfter(status int, most time.Duration) matcher {
	return asType("*TokenError with Retry-After", func(te *tenantauth.TokenError) bool {
		return te.StatusCode == status && te.RetryAfter > 0 && te.RetryAfter <= most
	})
}

// honoursRetryAfter checks that the retry arrived no sooner than the
// server asked: at least 900 ms after the first attempt (the rows ask for
// 1 s, or an HTTP date 2 s ahead, which is at least 1 s once truncated to
// whole seconds). A lower bound, so no timing flake.
func honoursRetryAfter(t *testing.T, env *rowEnv, _ error) {
	at := env.victimSrv.arrivalTimes()
	// arrivals[0] is the neighbour's fetch before the fault.
	if len(at) < 3 {
		t.Fatalf("token server saw %d requests, want the neighbour's and two of the victim's", len(at))
	}
	if gap := at[2].Sub(at[1]); gap < 900*time.Millisecond {
		t.Errorf("retry came %v after the first attempt; the server asked for at least 1 s", gap)
	}
}

func retryAfterDate(d time.Duration) http.Header {
	return http.Header{"Retry-After": {time.Now().Add(d).UTC().Format(http.TimeFormat)}}
}

// dialectAnswer answers with a body that depends on the dialect.
func dialectAnswer(status int, keycloakBody, passportBody string) func(dialect, *rowEnv) responder {
	return func(d dialect, _ *rowEnv) responder {
		if d == passportDialect {
			return answer(status, nil, passportBody)
		}
		return answer(status, nil, keycloakBody)
	}
}

func fixed(r responder) func(dialect, *rowEnv) responder {
	return func(dialect, *rowEnv) responder { return r }
}

// Token lifetime checks for the expires_in rows.
func noExpiry(t *testing.T, tok *tenantauth.Token) {
	if !tok.Expiry.IsZero() {
		t.Errorf("Expiry = %v, want zero (no usable expires_in: DefaultLifetime applies)", tok.Expiry)
	}
}

func lifetime(want time.Duration) func(*testing.T, *tenantauth.Token) {
	return func(t *testing.T, tok *tenantauth.Token) {
		if got := tok.Expiry.Sub(tok.IssuedAt); got != want {
			t.Errorf("lifetime = %v, want %v", got, want)
		}
	}
}

const htmlPage = "<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body><h1>Bad Gateway</h1><p>nginx</p></body></html>"

// faultRows is the fault matrix. Every row runs for both dialects.
func faultRows() []faultRow {
	short := func(cfg *tenantauth.Config) { cfg.FetchTimeout = 300 * time.Millisecond }
	// Retry-After rows: room for one honoured wait, and a breaker that
	// opens after that one call's two attempts.
	patient := func(cfg *tenantauth.Config) {
		cfg.FetchTimeout = 5 * time.Second
		cfg.Breaker.ConsecutiveFailures = 2
	}
	return []faultRow{
		// Network.
		{name: "connection refused", kind: refused,
			errs:     []matcher{isErr("syscall.ECONNREFUSED", syscall.ECONNREFUSED), asType[*net.OpError]("*net.OpError", nil)},
			attempts: 2, opens: true},
		{name: "DNS failure", kind: dnsFailure,
			errs: []matcher{asType[*net.DNSError]("*net.DNSError", nil)}, attempts: 2, opens: true,
			extra: func(t *testing.T, env *rowEnv, _ error) {
				if env.dnsDials.Load() == 0 {
					t.Error("the resolver was never asked: the DNS failure came from somewhere else")
				}
			}},
		{name: "TLS untrusted certificate", kind: tlsUntrusted,
			errs: []matcher{asType[*tls.CertificateVerificationError]("*tls.CertificateVerificationError", nil)}, attempts: 2, opens: true,
			extra: func(t *testing.T, env *rowEnv, _ error) {
				if n := env.victimSrv.requests.Load(); n != 0 {
					t.Errorf("the untrusted server received %d requests", n)
				}
			}},
		{name: "hang without response header", respond: fixed(hang), config: short,
			errs: []matcher{timeout}, attempts: 1, opens: true},
		{name: "slow-drip body", respond: fixed(slowDrip), config: short,
			errs: []matcher{timeout}, attempts: 1, opens: true},
		{name: "hang, HTTP client timeout", respond: fixed(hang), clientTimeout: 200 * time.Millisecond,
			errs: []matcher{timeout}, attempts: 2, opens: true},
		{name: "slow-drip body, HTTP client timeout", respond: fixed(slowDrip), clientTimeout: 200 * time.Millisecond,
			errs: []matcher{timeout}, attempts: 2, opens: true},
		{name: "connection closed mid-body", respond: fixed(midBodyClose),
			errs: []matcher{isErr("io.ErrUnexpectedEOF", io.ErrUnexpectedEOF)}, attempts: 2, opens: true},
		{name: "connection closed before answer", respond: fixed(closeConn),
			errs: []matcher{isErr("io.EOF", io.EOF)}, attempts: 2, opens: true},

		// 5xx and 429.
		{name: "500", respond: fixed(answer(500, nil, `{"error":"server_error"}`)),
			errs: []matcher{tokenErr(500, "server_error")}, attempts: 1, opens: true},
		{name: "502 HTML", respond: fixed(answer(502, http.Header{"Content-Type": {"text/html"}}, htmlPage)),
			errs: []matcher{tokenErr(502, "")}, attempts: 2, opens: true},
		{name: "503 empty", respond: fixed(answer(503, nil, "")),
			errs: []matcher{tokenErr(503, "")}, attempts: 2, opens: true},
		{name: "504", respond: fixed(answer(504, nil, "gateway timeout")),
			errs: []matcher{tokenErr(504, "")}, attempts: 2, opens: true},
		{name: "429 Retry-After seconds", config: patient,
			respond: fixed(answer(429, http.Header{"Retry-After": {"1"}}, `{"error":"slow_down"}`)),
			errs:    []matcher{retryAfter(429, time.Second)}, attempts: 2, opens: true, extra: honoursRetryAfter},
		{name: "429 Retry-After HTTP date", config: patient,
			respond: fixed(func(c *call) { c.reply(429, retryAfterDate(2*time.Second), "") }),
			errs:    []matcher{retryAfter(429, 2*time.Second)}, attempts: 2, opens: true, extra: honoursRetryAfter},
		{name: "503 Retry-After seconds", config: patient,
			respond: fixed(answer(503, http.Header{"Retry-After": {"1"}}, "")),
			errs:    []matcher{retryAfter(503, time.Second)}, attempts: 2, opens: true, extra: honoursRetryAfter},
		{name: "503 Retry-After HTTP date", config: patient,
			respond: fixed(func(c *call) { c.reply(503, retryAfterDate(2*time.Second), htmlPage) }),
			errs:    []matcher{retryAfter(503, 2*time.Second)}, attempts: 2, opens: true, extra: honoursRetryAfter},

		// 200 that is not a token.
		{name: "200 empty body", respond: fixed(answer(200, nil, "")),
			errs: []matcher{malformed}, attempts: 1, opens: true},
		{name: "200 HTML", respond: fixed(answer(200, http.Header{"Content-Type": {"text/html"}}, htmlPage)),
			errs: []matcher{malformed}, attempts: 1, opens: true},
		{name: "200 truncated JSON", respond: fixed(rawToken(`{"access_token":"%s","expires_in":36`)),
			errs: []matcher{malformed}, attempts: 1, opens: true},
		{name: "200 JSON array", respond: fixed(rawToken(`[{"access_token":"%s"}]`)),
			errs: []matcher{malformed}, attempts: 1, opens: true},
		{name: "200 10 MiB chunked", respond: fixed(bigBody(false)),
			errs: []matcher{tooLarge}, attempts: 1, opens: true},
		{name: "200 10 MiB with Content-Length", respond: fixed(bigBody(true)),
			errs: []matcher{tooLarge}, attempts: 1, opens: true},
		{name: "200 with error field", respond: fixed(answer(200, nil, `{"error":"invalid_grant","error_description":"Account disabled"}`)),
			errs: []matcher{tokenErr(200, "invalid_grant"), invalidCreds}, attempts: 1},
		{name: "200 missing access_token", respond: fixed(answer(200, nil, `{"token_type":"Bearer","expires_in":3600}`)),
			errs: []matcher{malformed}, attempts: 1, opens: true},
		{name: "200 empty access_token", respond: fixed(tokenJSON(map[string]any{"access_token": ""})),
			errs: []matcher{malformed}, attempts: 1, opens: true},
		{name: "expires_in missing", respond: fixed(tokenJSON(map[string]any{"expires_in": nil})), ok: true, checkTok: noExpiry},
		{name: "expires_in 0", respond: fixed(tokenJSON(map[string]any{"expires_in": 0})), ok: true, checkTok: noExpiry},
		{name: "expires_in negative", respond: fixed(tokenJSON(map[string]any{"expires_in": -3600})), ok: true, checkTok: noExpiry},
		{name: "expires_in huge", respond: fixed(tokenJSON(map[string]any{"expires_in": 1e300})), ok: true,
			checkTok: lifetime(10 * 365 * 24 * time.Hour)},
		{name: "expires_in float", respond: fixed(tokenJSON(map[string]any{"expires_in": 3599.5})), ok: true,
			checkTok: lifetime(3599500 * time.Millisecond)},
		{name: "expires_in string", respond: fixed(tokenJSON(map[string]any{"expires_in": "3600"})), ok: true,
			checkTok: lifetime(time.Hour)},
		{name: "expires_in garbage string", respond: fixed(tokenJSON(map[string]any{"expires_in": "soon"})), ok: true, checkTok: noExpiry},
		{name: "expires_in object", respond: fixed(tokenJSON(map[string]any{"expires_in": map[string]int{"s": 1}})), ok: true, checkTok: noExpiry},
		// Expired on arrival: an error of a kind a caller can match. The
		// Manager finds it after the breaker saw a successful exchange, so
		// the breaker stays closed.
		{name: "expires_in 1 microsecond", respond: fixed(tokenJSON(map[string]any{"expires_in": 1e-6})),
			attempts: 1},
		{name: "token_type mac", respond: fixed(tokenJSON(map[string]any{"token_type": "mac"})),
			errs: []matcher{malformed}, attempts: 1, opens: true},
		{name: "token_type lower-case bearer", respond: fixed(tokenJSON(map[string]any{"token_type": "bearer"})), ok: true,
			checkTok: func(t *testing.T, tok *tenantauth.Token) {
				if tok.TokenType != "Bearer" || !strings.HasPrefix(tok.Authorization(), "Bearer ") {
					t.Errorf("TokenType %q: want the canonical Bearer", tok.TokenType)
				}
			}},
		{name: "duplicate keys", respond: fixed(rawToken(`{"access_token":"%s","token_type":"Bearer","expires_in":60,"access_token":"%s","expires_in":3600}`)),
			ok: true, checkTok: lifetime(time.Hour)}, // the API knows only the last token: its 200 proves the last one won

		// Redirects.
		{name: "302 to another host", respond: redirectRow(302), errs: []matcher{redirected}, attempts: 1, opens: true, extra: targetUntouched},
		{name: "307 to another host", respond: redirectRow(307), errs: []matcher{redirected}, attempts: 1, opens: true, extra: targetUntouched},
		{name: "308 to another host", respond: redirectRow(308), errs: []matcher{redirected}, attempts: 1, opens: true, extra: targetUntouched},

		// OAuth refusals (RFC 6749 §5.2) and bodies that are not.
		{name: "400 invalid_grant", respond: dialectAnswer(400,
			`{"error":"invalid_grant","error_description":"Invalid user credentials"}`,
			`{"error":"invalid_grant","error_description":"The user credentials were incorrect.","message":"The user credentials were incorrect."}`),
			errs: []matcher{tokenErr(400, "invalid_grant"), invalidCreds}, attempts: 1},
		{name: "401 invalid_client", respond: dialectAnswer(401,
			`{"error":"invalid_client","error_description":"Invalid client or Invalid client credentials"}`,
			`{"error":"invalid_client","error_description":"Client authentication failed","message":"Client authentication failed"}`),
			errs: []matcher{tokenErr(401, "invalid_client"), invalidCreds}, attempts: 1},
		{name: "400 unsupported_grant_type", respond: dialectAnswer(400,
			`{"error":"unsupported_grant_type","error_description":"Unsupported grant_type"}`,
			`{"error":"unsupported_grant_type","error_description":"The authorization grant type is not supported by the authorization server.",`+
				`"hint":"Check that all required parameters have been provided","message":"The authorization grant type is not supported by the authorization server."}`),
			errs: []matcher{tokenErr(400, "unsupported_grant_type"), notInvalidCreds}, attempts: 1},
		{name: "400 empty body", respond: fixed(answer(400, nil, "")),
			errs: []matcher{tokenErr(400, ""), notInvalidCreds}, attempts: 1},
		{name: "401 empty body", respond: fixed(answer(401, nil, "")),
			errs: []matcher{tokenErr(401, ""), invalidCreds}, attempts: 1},
		{name: "400 HTML", respond: fixed(answer(400, http.Header{"Content-Type": {"text/html"}}, htmlPage)),
			errs: []matcher{tokenErr(400, ""), notInvalidCreds, asType("TokenError.Body excerpt", func(te *tenantauth.TokenError) bool {
				return strings.Contains(te.Body, "Bad Gateway")
			})}, attempts: 1},
		{name: "401 HTML", respond: fixed(answer(401, http.Header{"Content-Type": {"text/html"}}, htmlPage)),
			errs: []matcher{tokenErr(401, ""), invalidCreds}, attempts: 1},
		{name: "400 echoing the secrets in JSON", respond: fixed(echoSecrets(false)),
			errs: []matcher{tokenErr(400, "invalid_grant"), invalidCreds}, attempts: 1},
		{name: "400 echoing the secrets in HTML", respond: fixed(echoSecrets(true)),
			errs: []matcher{tokenErr(400, "")}, attempts: 1},
	}
}

func redirectRow(code int) func(dialect, *rowEnv) responder {
	return func(_ dialect, env *rowEnv) responder { return redirectTo(code, env.target.URL()) }
}

// targetUntouched checks that a redirect was not followed: the second
// server received nothing, so no credential was resent.
func targetUntouched(t *testing.T, env *rowEnv, _ error) {
	if n := env.target.requests.Load(); n != 0 {
		t.Errorf("redirect target received %d requests: credentials were resent", n)
	}
}

// maxCallAlloc bounds what one failing call may allocate: a 10 MiB answer
// must not be read whole.
const maxCallAlloc = 6 << 20

// maxHeapGrowth bounds the live heap a row may leave behind.
const maxHeapGrowth = 8 << 20

// maxCalls bounds the calls a row makes to open a breaker.
const maxCalls = 8

func TestFaultMatrix(t *testing.T) {
	rec := newRecorder()
	for _, row := range faultRows() {
		for _, d := range dialects {
			t.Run(row.name+"/"+d.String(), func(t *testing.T) {
				goroutines := runtime.NumGoroutine()
				heap := liveHeap()
				runFaultRow(t, rec, d, row)
				checkGoroutines(t, goroutines)
				if grown := int64(liveHeap()) - int64(heap); grown > maxHeapGrowth {
					t.Errorf("live heap grew by %d bytes over the row", grown)
				}
			})
		}
	}
	rec.check(t)
	t.Log(rec.summary())
}

// runFaultRow runs one row for one dialect and closes everything it
// started before returning.
func runFaultRow(t *testing.T, rec *recorder, d dialect, row faultRow) {
	env := &rowEnv{d: d, reg: newRegistry(), dials: &dialCounter{}}
	env.api = newAPIServer(t, env.reg)
	victim := newAccount("victim", tenantauth.GrantPassword)
	neighbour := newAccount("neighbour", tenantauth.GrantPassword)
	bystander := newAccount("bystander", tenantauth.GrantClientCredentials)

	bystanderSrv := newTokenServer(t, tokenServerConfig{dialect: d, reg: env.reg, accounts: []account{bystander}})
	env.target = newTokenServer(t, tokenServerConfig{dialect: d, reg: env.reg, accounts: []account{victim, neighbour}})
	servers := []*tokenServer{bystanderSrv, env.target}

	var (
		base   string
		dialer *net.Dialer
	)
	switch row.kind {
	case serverFault, tlsUntrusted:
		env.victimSrv = newTokenServer(t, tokenServerConfig{dialect: d, reg: env.reg,
			accounts: []account{victim, neighbour}, tls: row.kind == tlsUntrusted})
		servers = append(servers, env.victimSrv)
		base = env.victimSrv.URL()
	case refused:
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		base = "http://" + l.Addr().String()
		l.Close()
	case dnsFailure:
		base = "https://token.invalid"
		dialer = &net.Dialer{Timeout: 5 * time.Second, Resolver: &net.Resolver{
			PreferGo: true,
			Dial: func(context.Context, string, string) (net.Conn, error) {
				env.dnsDials.Add(1)
				return nil, errNoNetwork
			},
		}}
	}
	hc, tr := tokenClient(env.dials, dialer)
	hc.Timeout = row.clientTimeout
	bhc, btr := tokenClient(nil, nil)
	victimProv := newProvider(t, d, base, hc)
	env.endpoint = victimProv.Endpoint()
	hosts := []string{env.api.host()}
	tenants := tenantauth.Tenants{
		"victim":    {Provider: victimProv, Credentials: victim.credentials(), APIHosts: hosts},
		"neighbour": {Provider: victimProv, Credentials: neighbour.credentials(), APIHosts: hosts},
		"bystander": {Provider: newProvider(t, d, bystanderSrv.URL(), bhc), Credentials: bystander.credentials(), APIHosts: hosts},
	}
	rec.value("Tenants", tenants)
	cfgs := []func(*tenantauth.Config){matrixConfig}
	if row.config != nil {
		cfgs = append(cfgs, row.config)
	}
	st := newStack(t, rec, env.api, tenants, true, cfgs...)
	env.st = st
	st.closeIdleWith(tr)
	st.closeIdleWith(btr)
	defer func() {
		st.close()
		for _, s := range servers {
			s.close()
		}
		env.api.srv.Close()
	}()

	// Before the fault, every tenant that can works.
	hasNeighbour := row.kind == serverFault
	st.mustGet("bystander", "before the fault")
	if hasNeighbour {
		st.mustGet("neighbour", "before the fault")
		env.victimSrv.setResponder(onlyFor("victim", row.respond(d, env)))
	}

	// The victim's first call, and what it cost.
	alloc := totalAlloc()
	status, first := st.get(context.Background(), "victim")
	if used := totalAlloc() - alloc; used > maxCallAlloc {
		t.Errorf("the victim's call allocated %d bytes (limit %d)", used, maxCallAlloc)
	}
	attempts := len(st.fetches.of("victim"))

	if row.ok {
		if first != nil || status != http.StatusOK {
			t.Fatalf("victim: status %d, error %v; want 200", status, first)
		}
		tok, err := st.token("victim")
		if err != nil {
			t.Fatalf("Token after a good answer: %v", err)
		}
		if row.checkTok != nil {
			row.checkTok(t, tok)
		}
		if tr := st.trans.of(env.endpoint); len(tr) != 0 {
			t.Errorf("breaker transitions on a healthy answer: %v", tr)
		}
	} else {
		checkFirstError(t, row, first, status, attempts)
		checkBreaker(t, row, env, hasNeighbour)
	}

	// A tenant on another endpoint never notices.
	st.mustGet("bystander", "after the fault")
	st.m.Forget("bystander")
	st.mustGet("bystander", "after the fault, with a fresh token")

	if row.extra != nil {
		row.extra(t, env, first)
	}
	for _, s := range servers {
		if n := s.badRequests.Load(); n != 0 {
			t.Errorf("a %v token server received %d requests a real server would refuse", d, n)
		}
	}
	checkAPIInvariants(t, env.api)
}

// checkFirstError checks the victim's first failing call.
func checkFirstError(t *testing.T, row faultRow, err error, status, attempts int) {
	t.Helper()
	if err == nil {
		t.Fatalf("victim: status %d and no error; want an error", status)
	}
	for _, m := range row.errs {
		if !m.ok(err) {
			t.Errorf("error %q does not match %s", err, m.name)
		}
	}
	if name := callerMatch(err); name == "" {
		t.Errorf("error %q matches no exported sentinel or type a caller could test with errors.Is/As", err)
	}
	if errors.Is(err, tenantauth.ErrCircuitOpen) {
		t.Errorf("first call failed with an open circuit: %v", err)
	}
	if row.attempts != 0 && attempts != row.attempts {
		t.Errorf("first call made %d token endpoint attempts, want %d", attempts, row.attempts)
	}
}

// checkBreaker makes calls until the victim's breaker opens (or enough
// calls showed it stays closed) and checks the other tenants meanwhile.
func checkBreaker(t *testing.T, row faultRow, env *rowEnv, hasNeighbour bool) {
	t.Helper()
	st := env.st
	ctx := context.Background()
	calls := 1
	for ; calls < maxCalls && st.trans.state(env.endpoint) != breaker.Open; calls++ {
		_, err := st.get(ctx, "victim")
		if err == nil {
			t.Fatalf("victim call %d succeeded", calls+1)
		}
		if !row.opens {
			for _, m := range row.errs {
				if !m.ok(err) {
					t.Errorf("call %d: error %q does not match %s", calls+1, err, m.name)
				}
			}
			if calls >= 5 { // more than ConsecutiveFailures calls reached the endpoint
				break
			}
		}
	}
	if !row.opens {
		if tr := st.trans.of(env.endpoint); len(tr) != 0 {
			t.Errorf("breaker changed state after a tenant's refusal: %v", tr)
		}
		if hasNeighbour {
			st.mustGet("neighbour", "after the victim's refusals, cached token")
			st.m.Forget("neighbour")
			st.mustGet("neighbour", "after the victim's refusals, fresh token from the same endpoint")
		}
		return
	}
	if st.trans.state(env.endpoint) != breaker.Open {
		t.Fatalf("breaker still %v after %d failing calls; transitions %v",
			st.trans.state(env.endpoint), calls, st.trans.all())
	}
	// Open: fail fast, without contacting the endpoint.
	before := env.reached(row.kind)
	_, err := st.get(ctx, "victim")
	if !errors.Is(err, tenantauth.ErrCircuitOpen) {
		t.Errorf("with the breaker open the victim got %v, want ErrCircuitOpen", err)
	}
	if after := env.reached(row.kind); after != before {
		t.Errorf("with the breaker open the endpoint was contacted %d times", after-before)
	}
	if hasNeighbour {
		// Same endpoint: a cached token keeps working; a new one cannot
		// be fetched while the endpoint's breaker is open.
		st.mustGet("neighbour", "breaker open, cached token")
		st.m.Forget("neighbour")
		if _, err := st.get(ctx, "neighbour"); !errors.Is(err, tenantauth.ErrCircuitOpen) {
			t.Errorf("neighbour without a cached token got %v, want ErrCircuitOpen", err)
		}
	}
}

// checkAPIInvariants: nothing reached the API without a token or with
// someone else's.
func checkAPIInvariants(t testing.TB, api *apiServer) {
	t.Helper()
	if n := api.noToken.Load(); n != 0 {
		t.Errorf("API received %d requests without a token", n)
	}
	if n := api.wrongTenant.Load(); n != 0 {
		t.Errorf("API received %d requests with another tenant's token", n)
	}
	if n := api.malformed.Load() + api.unknownToken.Load(); n != 0 {
		t.Errorf("API received %d requests with a malformed or unknown Authorization", n)
	}
}

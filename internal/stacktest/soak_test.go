package stacktest

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/http"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tenantauth/tenantauth"
)

var soakDuration = flag.Duration("soak.duration", 15*time.Second,
	"how long TestSoak's steady phase runs; at most 60s")

// maxSoak caps -soak.duration: the soak must stay bounded.
const maxSoak = 60 * time.Second

// soakConfig is one soak's shape.
type soakConfig struct {
	tenants     int
	lifetime    time.Duration // of every token
	tokenFaults float64       // share of token requests that fail
	apiFaults   float64       // share of API requests answered 401
	workers     int
	hot         int // tenants that get half of the traffic
	duration    time.Duration
	window      time.Duration // sampling period
}

// A soakSample is what one window saw.
type soakSample struct {
	goroutines int
	heap       uint64
	requests   int64
}

// soakResult are the soak's figures.
type soakResult struct {
	fill, steady           time.Duration
	requests, ok, final401 int64
	otherStatus            int64
	failed                 map[string]int64
	untyped                []string
	tokenRequests          int64
	issued, faults         int64
	bound                  int64 // sum of the per-tenant bounds
	worstTenant            string
	worstIssued            int
	worstBound             int
	maxInflight            int
	refreshReuse           int
	refreshStale           int
	refreshUnknown         int
	apiForced401           int64
	apiExpired             int64
	wrongTenant            int64
	noToken                int64
	samples                []soakSample
	fetchAttempts          int64
	fetchFailures          int64
	maxAttempt             int64
	stats                  tenantauth.Stats
}

// randomFaults fails a share of the requests with one of the usual
// failures; the others are answered normally.
func randomFaults(rate float64) responder {
	return func(c *call) {
		if rand.Float64() >= rate {
			return
		}
		switch rand.IntN(6) {
		case 0:
			c.reply(http.StatusServiceUnavailable, nil, "")
		case 1:
			c.reply(http.StatusBadGateway, http.Header{"Content-Type": {"text/html"}}, htmlPage)
		case 2:
			c.reply(http.StatusTooManyRequests, nil, `{"error":"slow_down"}`)
		case 3:
			c.reply(http.StatusInternalServerError, nil, `{"error":"server_error"}`)
		case 4:
			closeConn(c)
		default:
			c.reply(http.StatusOK, nil, `{"access_token":"`+secretValue(markAccess)) // truncated
		}
	}
}

func TestSoak(t *testing.T) {
	if testing.Short() {
		t.Skip("soak skipped with -short")
	}
	d := *soakDuration
	if d <= 0 {
		t.Skip("-soak.duration is not positive")
	}
	if d > maxSoak {
		t.Logf("-soak.duration %v capped at %v", d, maxSoak)
		d = maxSoak
	}
	rec := newRecorder()
	goroutines := runtime.NumGoroutine()
	res := runSoak(t, rec, soakConfig{
		tenants:     10_000,
		lifetime:    2 * time.Second,
		tokenFaults: 0.05,
		apiFaults:   0.01,
		workers:     32,
		hot:         200,
		duration:    d,
		window:      time.Second,
	})
	checkGoroutines(t, goroutines)
	rec.check(t)
	t.Log(res.summary())
	t.Log(rec.summary())
}

// runSoak runs a soak and checks its invariants; everything it started is
// closed when it returns.
func runSoak(t *testing.T, rec *recorder, sc soakConfig) *soakResult {
	reg := newRegistry()
	api := newAPIServer(t, reg)
	defer api.srv.Close()

	// Half the tenants on one Keycloak realm (client_credentials and
	// password grants), half on four Passport hosts (password grant with
	// rotating refresh tokens).
	const passportHosts = 4
	var kcAccounts []account
	ppAccounts := make([][]account, passportHosts)
	ids := make([]string, sc.tenants)
	for i := range ids {
		ids[i] = fmt.Sprintf("t%05d", i)
		switch {
		case i%2 == 0 && i%4 == 0:
			kcAccounts = append(kcAccounts, newAccount(ids[i], tenantauth.GrantClientCredentials))
		case i%2 == 0:
			kcAccounts = append(kcAccounts, newAccount(ids[i], tenantauth.GrantPassword))
		default:
			ppAccounts[(i/2)%passportHosts] = append(ppAccounts[(i/2)%passportHosts], newAccount(ids[i], tenantauth.GrantPassword))
		}
	}
	hc, tr := tokenClient(nil, nil)
	tenants := make(tenantauth.Tenants, sc.tenants)
	hosts := []string{api.host()}
	var servers []*tokenServer
	addServer := func(d dialect, accts []account) {
		s := newTokenServer(t, tokenServerConfig{dialect: d, reg: reg, accounts: accts, lifetime: sc.lifetime})
		s.setResponder(randomFaults(sc.tokenFaults))
		servers = append(servers, s)
		p := newProvider(t, d, s.URL(), hc)
		for _, a := range accts {
			tenants[a.tenant] = tenantauth.Tenant{Provider: p, Credentials: a.credentials(), APIHosts: hosts}
		}
	}
	addServer(keycloakDialect, kcAccounts)
	for _, accts := range ppAccounts {
		addServer(passportDialect, accts)
	}
	defer func() {
		for _, s := range servers {
			s.close()
		}
	}()
	api.setReject(func(string) int {
		if rand.Float64() < sc.apiFaults {
			return http.StatusUnauthorized
		}
		return 0
	})

	st := newStack(t, rec, api, tenants, false, func(cfg *tenantauth.Config) {
		// Generous: go test runs other packages' CPU-heavy tests (the
		// replicas herd, key generation) beside this one under -race, and
		// a fetch starved of CPU for 5 s was counted as a failure twice.
		// The soak is about mechanisms firing, not the machine's speed.
		cfg.FetchTimeout = 20 * time.Second
		cfg.RetryBackoff = 10 * time.Millisecond
		// 5% random faults must never trip a breaker: ten failures in a
		// row happen with probability 1e-13.
		cfg.Breaker.ConsecutiveFailures = 10
	})
	st.closeIdleWith(tr)
	defer st.close()

	res := &soakResult{failed: make(map[string]int64)}
	var (
		mu        sync.Mutex // guards res.failed, res.untyped
		requests  atomic.Int64
		ok        atomic.Int64
		final401  atomic.Int64
		other     atomic.Int64
		violation atomic.Bool
	)
	do := func(tenant string) {
		defer func() {
			if p := recover(); p != nil {
				msg := rec.panicked("soak worker", p)
				t.Errorf("soak worker panicked: %s", msg)
				violation.Store(true)
			}
		}()
		requests.Add(1)
		status, err := st.get(context.Background(), tenant)
		switch {
		case err != nil:
			kind := callerMatch(err)
			if kind == "" && malformed.ok(err) {
				kind = "malformed token response (no exported sentinel)"
			}
			mu.Lock()
			if kind == "" {
				kind = "untyped"
				if len(res.untyped) < 5 {
					res.untyped = append(res.untyped, err.Error())
				}
			}
			res.failed[kind]++
			mu.Unlock()
		case status == http.StatusOK:
			ok.Add(1)
		case status == http.StatusUnauthorized:
			final401.Add(1)
		default:
			other.Add(1)
		}
	}
	// checkInvariants is run every window and at the end.
	checkInvariants := func(when string) {
		if n := api.wrongTenant.Load(); n != 0 {
			t.Errorf("%s: %d API requests carried another tenant's token", when, n)
			violation.Store(true)
		}
		if n := api.noToken.Load(); n != 0 {
			t.Errorf("%s: %d API requests were sent without a token", when, n)
			violation.Store(true)
		}
		if n := api.malformed.Load() + api.unknownToken.Load(); n != 0 {
			t.Errorf("%s: %d API requests carried a malformed or unknown token", when, n)
			violation.Store(true)
		}
	}

	// Fill: every tenant once, so that the steady phase starts with a full
	// cache and flat memory is measured from there.
	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < sc.workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !violation.Load() {
				i := next.Add(1) - 1
				if i >= int64(len(ids)) {
					return
				}
				do(ids[i])
			}
		}()
	}
	wg.Wait()
	res.fill = time.Since(start)

	// Steady: half the requests for a small hot set, half for any tenant.
	steadyStart := time.Now()
	deadline := steadyStart.Add(sc.duration)
	for w := 0; w < sc.workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !violation.Load() && time.Now().Before(deadline) {
				if rand.IntN(2) == 0 {
					do(ids[rand.IntN(sc.hot)])
				} else {
					do(ids[rand.IntN(len(ids))])
				}
			}
		}()
	}
	// Sample each window, and keep the test servers' own memory flat.
	tick := time.NewTicker(sc.window)
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
sampling:
	for {
		select {
		case <-done:
			break sampling
		case <-tick.C:
			reg.sweep(time.Now().Add(-sc.lifetime))
			for _, s := range servers {
				s.sweep()
			}
			checkInvariants("during the soak")
			heap := liveHeap()
			res.samples = append(res.samples, soakSample{goroutines: runtime.NumGoroutine(), heap: heap, requests: requests.Load()})
		}
	}
	tick.Stop()
	res.steady = time.Since(steadyStart)
	checkInvariants("after the soak")

	res.requests, res.ok, res.final401, res.otherStatus = requests.Load(), ok.Load(), final401.Load(), other.Load()
	res.apiForced401, res.apiExpired = api.forced.Load(), api.expired.Load()
	res.wrongTenant, res.noToken = api.wrongTenant.Load(), api.noToken.Load()
	elapsed := time.Since(start)
	// Background refreshes may still be running: close the Manager, then
	// the servers (which waits for their handlers), so that the figures
	// are final.
	st.close()
	for _, s := range servers {
		s.close()
	}
	res.fetchAttempts, res.fetchFailures = st.fetches.attempts.Load(), st.fetches.failures.Load()
	res.maxAttempt = st.fetches.maxAttempt.Load()
	res.stats = st.m.Stats()
	checkSoak(t, sc, res, ids, servers, api, elapsed)
	return res
}

// checkSoak checks the figures of a finished soak.
func checkSoak(t *testing.T, sc soakConfig, res *soakResult, ids []string, servers []*tokenServer, api *apiServer, elapsed time.Duration) {
	// Every tenant was used: it asked its token endpoint at least once
	// (its first call may have failed on an injected fault).
	asked := make(map[string]bool, len(ids))
	for _, s := range servers {
		for id, c := range s.snapshot() {
			asked[id] = asked[id] || c.requests > 0
		}
	}
	for _, id := range ids {
		if !asked[id] {
			t.Errorf("tenant %s never asked for a token", id)
			break
		}
	}
	// Token requests within the bound: a tenant is refreshed at most once
	// per refresh period (the refresh-ahead point, 65% of a 2 s lifetime,
	// 1.3 s; 1.25 s leaves room for the coarse clock), plus its first
	// token, plus one per 401 the API gave it, plus one of slack; failed
	// attempts are the injected faults, which the servers count.
	period := sc.lifetime * 5 / 8
	perTenant := int(elapsed/period) + 2
	issued := make(map[string]int, len(ids))
	for _, s := range servers {
		res.tokenRequests += s.requests.Load()
		res.issued += s.issued.Load()
		res.faults += s.faults.Load()
		reuse, stale, unknown := s.refreshRefusals()
		res.refreshReuse += reuse
		res.refreshStale += stale
		res.refreshUnknown += unknown
		for id, c := range s.snapshot() {
			issued[id] += c.issued
			res.maxInflight = max(res.maxInflight, c.maxInflght)
		}
		if n := s.badRequests.Load(); n != 0 {
			t.Errorf("a token server received %d requests a real server would refuse", n)
		}
	}
	for _, id := range ids {
		bound := perTenant + api.counts(id).unauthorized
		res.bound += int64(bound)
		if n := issued[id]; n > bound {
			t.Errorf("tenant %s got %d tokens in %v; bound %d", id, n, elapsed, bound)
		}
		if issued[id]-bound > res.worstIssued-res.worstBound || res.worstTenant == "" {
			res.worstTenant, res.worstIssued, res.worstBound = id, issued[id], bound
		}
	}
	refused := int64(res.refreshReuse + res.refreshStale + res.refreshUnknown)
	if got := res.issued + res.faults + refused; got != res.tokenRequests {
		t.Errorf("token requests %d != tokens issued %d + injected faults %d + refused refresh tokens %d: some requests failed for another reason",
			res.tokenRequests, res.issued, res.faults, refused)
	}
	// Passport rotates refresh tokens: presenting one that a refresh
	// already rotated out, or that a newer grant replaced, means the Manager
	// refreshed from a stale entry (with Keycloak's rotation that would end
	// the session, revoking the token just issued).
	if refused > 0 {
		t.Errorf("refresh tokens refused: %d rotated out earlier, %d replaced by a newer grant, %d unknown; want none",
			res.refreshReuse, res.refreshStale, res.refreshUnknown)
	}
	if res.maxInflight > 1 {
		t.Errorf("a tenant had %d token requests in flight at once; want one at a time", res.maxInflight)
	}
	if res.maxAttempt > 3 {
		t.Errorf("a fetch made %d attempts; Retries is 2", res.maxAttempt)
	}
	// Every failure is typed, and none comes from a mechanism that should
	// not fire under 5% random faults.
	if n := res.failed["untyped"]; n > 0 {
		t.Errorf("%d requests failed with an error no caller can match, e.g. %q", n, res.untyped)
	}
	for _, k := range []string{"tenantauth.ErrCircuitOpen", "tenantauth.ErrClosed", "context.DeadlineExceeded", "context.Canceled"} {
		if n := res.failed[k]; n > 0 {
			t.Errorf("%d requests failed with %s", n, k)
		}
	}
	if res.ok == 0 || float64(res.ok) < 0.9*float64(res.requests) {
		t.Errorf("only %d of %d requests succeeded", res.ok, res.requests)
	}
	// Flat memory and goroutines: the last windows against the first.
	if len(res.samples) < 4 {
		t.Logf("only %d windows: too short to compare trends", len(res.samples))
		return
	}
	first, last := res.samples[:2], res.samples[len(res.samples)-2:]
	avg := func(s []soakSample, f func(soakSample) float64) float64 { return (f(s[0]) + f(s[1])) / 2 }
	heap := func(s soakSample) float64 { return float64(s.heap) }
	gor := func(s soakSample) float64 { return float64(s.goroutines) }
	if h0, h1 := avg(first, heap), avg(last, heap); h1 > h0*1.25+8<<20 {
		t.Errorf("live heap grew from %.1f MiB to %.1f MiB across the soak", h0/(1<<20), h1/(1<<20))
	}
	if g0, g1 := avg(first, gor), avg(last, gor); g1 > g0*1.25+20 {
		t.Errorf("goroutines grew from %.0f to %.0f across the soak", g0, g1)
	}
}

func (r *soakResult) summary() string {
	kinds := make([]string, 0, len(r.failed))
	var failed int64
	for k, n := range r.failed {
		kinds = append(kinds, fmt.Sprintf("%s=%d", k, n))
		failed += n
	}
	sort.Strings(kinds)
	var h0, h1 float64
	var g0, g1 int
	if n := len(r.samples); n > 0 {
		h0, h1 = float64(r.samples[0].heap)/(1<<20), float64(r.samples[n-1].heap)/(1<<20)
		g0, g1 = r.samples[0].goroutines, r.samples[n-1].goroutines
	}
	rate := float64(r.requests) / (r.fill + r.steady).Seconds()
	return fmt.Sprintf("soak: fill %v + steady %v; API requests %d (%.0f/s): ok %d, final 401 %d, other status %d, failed %d [%s]; "+
		"API 401s injected %d, expired-token 401s %d; token requests %d = issued %d + injected faults %d (bound on issued %d; "+
		"worst tenant %s %d/%d); fetch attempts %d (failed %d, max attempt %d); refreshes %d, invalidations %d; "+
		"max in flight per tenant %d; refresh tokens refused: reused %d, replaced %d, unknown %d; heap %.1f→%.1f MiB, goroutines %d→%d over %d windows; "+
		"requests with another tenant's token %d, without a token %d",
		r.fill.Round(time.Millisecond), r.steady.Round(time.Millisecond), r.requests, rate, r.ok, r.final401, r.otherStatus,
		failed, strings.Join(kinds, " "), r.apiForced401, r.apiExpired, r.tokenRequests, r.issued, r.faults, r.bound,
		r.worstTenant, r.worstIssued, r.worstBound, r.fetchAttempts, r.fetchFailures, r.maxAttempt,
		r.stats.Refreshes, r.stats.Invalidations, r.maxInflight, r.refreshReuse, r.refreshStale, r.refreshUnknown, h0, h1, g0, g1, len(r.samples),
		r.wrongTenant, r.noToken)
}

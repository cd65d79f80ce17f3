package load

import (
	"context"
	"errors"
	"net/http"
	"runtime"
	"sync"

	"github.com/tenantauth/tenantauth"
	"github.com/tenantauth/tenantauth/admission"
	"github.com/tenantauth/tenantauth/benchmarks/internal/contender"
	"github.com/tenantauth/tenantauth/benchmarks/internal/hist"
	"github.com/tenantauth/tenantauth/benchmarks/internal/standin"
)

// A coldCall is one caller's request of a cold start.
type coldCall struct {
	start, end int64
	resp       *http.Response
	err        error
}

// runColdStart runs a ColdStart scenario (sc validated and resolved)
// against the contender called name:
//
//  1. the IdP (with its Capacity), the API and a new, empty contender;
//  2. one caller goroutine per tenant, each with its own request, waiting
//     for a common start;
//  3. the callers are released together; each sends its request once
//     through the contender, with the run's deadline (Duration) in its
//     context, and records how it ended. Nobody retries: a failed call is
//     a user's failed request, and its tenant has no token;
//  4. when every caller has returned, the outcomes are counted: failed
//     calls by kind, the IdP's requests and refusals, when the last
//     successful call returned against the ideal (Tenants ÷ Capacity × IdP
//     latency).
func runColdStart(ctx context.Context, sc Scenario, name string, opt Options) (Result, error) {
	clock := standin.NewClock()
	ids := standin.TenantIDs(sc.Tenants)
	r := &runner{sc: sc, clock: clock, idp: standin.NewIdP(sc.idpConfig(), clock), api: standin.NewAPI(clock)}

	runtime.GC()
	heapBase := heapBytes()
	gorBase := runtime.NumGoroutine()
	c, err := contender.New(name, contender.Config{IdP: r.idp, Base: r.api, Tenants: sc.Tenants,
		BreakerOpenTimeout: sc.breakerTimeout()})
	if err != nil {
		return Result{}, err
	}
	r.c = c
	defer c.Close()
	prog := &worker{} // only its progress counter: every caller adds one
	mon := startMonitor(r, []*worker{prog}, opt, name)
	defer mon.stop()

	calls := make([]coldCall, sc.Tenants)
	var reqs []*http.Request // set before the gate opens
	gate := make(chan struct{})
	var wg sync.WaitGroup
	for i := range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-gate
			call := &calls[i]
			call.start = clock.Now()
			call.resp, call.err = r.c.RoundTrip(reqs[i])
			call.end = clock.Now()
			prog.progress.Add(1)
		}()
	}
	mon.measuring(gorBase + sc.Tenants + 1)
	runCtx, cancel := context.WithTimeout(ctx, sc.Duration)
	defer cancel()
	reqs = requestsWith(runCtx, ids)
	start := clock.Now()
	close(gate)
	wg.Wait()
	end := clock.Now()
	peakHeap, peakGor := mon.stop()

	res := Result{
		Scenario:      sc.Name,
		Family:        sc.Family,
		Contender:     name,
		Tenants:       sc.Tenants,
		Workers:       sc.Workers,
		Seconds:       float64(end-start) / 1e9,
		BaseHeap:      heapBase,
		PeakHeap:      peakHeap,
		PeakHeapGain:  max(peakHeap, heapBase) - heapBase,
		Goroutines:    peakGor,
		WrongTenant:   r.api.WrongTenant(),
		IdealSeconds:  sc.IdealColdStart().Seconds(),
		Capacity:      sc.Capacity,
		RefusalStatus: sc.RefusalStatus,
	}
	if res.Capacity > 0 && res.RefusalStatus == 0 {
		res.RefusalStatus = http.StatusServiceUnavailable
	}
	w := &worker{}
	var lastOK int64
	for i := range calls {
		call := &calls[i]
		w.hist.Record(call.end - call.start)
		w.n++
		if call.err != nil {
			w.errs++
			res.countFailure(call.err)
			continue
		}
		if call.resp.StatusCode == http.StatusOK {
			lastOK = max(lastOK, call.end)
		}
		w.classify(call.resp, call.start, call.end)
	}
	res.Requests, res.OK, res.Unauthorized, res.Forbidden, res.OtherStatus = w.n, w.ok, w.unauth, w.forbid, w.other
	res.Errors, res.Waited, res.ExpiredOK = w.errs, w.waited, w.expired
	res.NoToken = sc.Tenants - int(res.OK)
	if lastOK > 0 {
		res.LastTokenSeconds = float64(lastOK-start) / 1e9
	}
	if res.Seconds > 0 {
		res.RPS = float64(res.Requests) / res.Seconds
	}
	st := r.idp.Stats()
	res.TokenRequests, res.TokenFailures, res.Refusals = st.Requests, st.Failures, st.Refusals
	res.PeakTokenRequestsPerTenant = st.PeakPerTenant
	// One token per tenant is the ideal.
	res.IdealTokenRequests, res.TenantsTouched = uint64(sc.Tenants), sc.Tenants
	var h hist.Histogram
	h.Merge(&w.hist)
	res.P50, res.P99, res.P999 = h.Quantile(0.50), h.Quantile(0.99), h.Quantile(0.999)
	res.Max, res.Mean = h.Max(), h.Mean()
	return res, nil
}

// countFailure counts a failed call by kind; see Result.FailedRefused.
func (res *Result) countFailure(err error) {
	var te *tenantauth.TokenError
	switch {
	case errors.Is(err, tenantauth.ErrCircuitOpen):
		res.FailedBreaker++
	case errors.Is(err, admission.ErrOverloaded):
		res.FailedQueue++
	case errors.Is(err, tenantauth.ErrTooManyLookups):
		res.FailedLookups++
	case errors.Is(err, standin.ErrOverloaded),
		errors.As(err, &te) && (te.StatusCode == http.StatusTooManyRequests || te.StatusCode == http.StatusServiceUnavailable):
		res.FailedRefused++
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		res.FailedTimeout++
	}
}

package load

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"runtime"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tenantauth/tenantauth"
	"github.com/tenantauth/tenantauth/benchmarks/internal/contender"
	"github.com/tenantauth/tenantauth/benchmarks/internal/hist"
	"github.com/tenantauth/tenantauth/benchmarks/internal/standin"
	"github.com/tenantauth/tenantauth/benchmarks/internal/zipf"
)

// Options tune a run without changing the scenario.
type Options struct {
	// Progress receives a progress line about twice a second; nil means
	// none. With Terminal set, lines overwrite each other.
	Progress io.Writer
	Terminal bool
	// Seed seeds the workers' tenant choices. Runs with the same seed send
	// every contender the same tenant sequence per worker.
	Seed uint64
}

// warmWorkers is how many goroutines fetch the tokens of a warm start, and
// warmTimeout bounds the warm-up; tenants it did not reach start cold.
const (
	warmWorkers = 256
	warmTimeout = time.Minute
)

// A worker is one load goroutine's private state. Its counters are merged
// after the run; only progress is read while it runs.
type worker struct {
	hist    hist.Histogram
	zipf    *zipf.Sampler
	budget  int // requests this worker may send; 0: unbounded
	n       uint64
	ok      uint64
	unauth  uint64
	forbid  uint64
	other   uint64
	errs    uint64
	waited  uint64
	expired uint64 // 200s the API should not have given (sanity)

	progress atomic.Uint64
	_        [64]byte // keep the next worker's progress off this line
}

// runner is one run of one scenario against one contender.
type runner struct {
	sc    Scenario
	clock *standin.Clock
	idp   *standin.IdP
	api   *standin.API
	c     contender.Contender
	reqs  []*http.Request
	track *tracker

	stop      atomic.Bool
	deadline  int64
	next      atomic.Int64 // herd: next request number
	perTenant int64        // herd: requests per tenant
	revokedAt atomic.Int64 // clock reading of the revocation, 0 before
}

// Run runs scenario sc against the contender called name and returns what
// it measured. The run is bounded by sc.Duration (and sc.Requests) and by
// ctx.
func Run(ctx context.Context, sc Scenario, name string, opt Options) (Result, error) {
	if err := sc.Validate(); err != nil {
		return Result{}, err
	}
	sc = sc.Resolved()
	switch sc.Traffic {
	case Fill:
		return runFill(ctx, sc, name, opt)
	case ColdStart:
		return runColdStart(ctx, sc, name, opt)
	}
	clock := standin.NewClock()
	r := &runner{
		sc:    sc,
		clock: clock,
		idp:   standin.NewIdP(sc.idpConfig(), clock),
		api:   standin.NewAPI(clock),
		reqs:  requests(standin.TenantIDs(sc.Tenants)),
		track: newTracker(sc.Tenants, int64(min(sc.lifetime()/1000, time.Millisecond))),
	}
	workers := make([]*worker, sc.Workers)
	for i := range workers {
		w := &worker{}
		if sc.Traffic == Zipf {
			z, err := zipf.New(rand.New(rand.NewPCG(opt.Seed, uint64(i))), sc.Tenants, sc.ZipfS)
			if err != nil {
				return Result{}, err
			}
			w.zipf = z
			if sc.Requests > 0 {
				w.budget = (sc.Requests + sc.Workers - 1) / sc.Workers
			}
		}
		workers[i] = w
	}
	if sc.Traffic == Herd {
		r.perTenant = int64(sc.Requests / sc.Tenants)
	}

	// Everything the harness needs exists now; what the heap gains from
	// here on is the contender's (and the requests' garbage).
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

	mon := startMonitor(r, workers, opt, name)
	defer mon.stop()

	var warmErrs uint64
	warmStart := clock.Now()
	if sc.Warm {
		warmErrs = r.warm(ctx)
	}
	warmTime := time.Duration(clock.Now() - warmStart)

	// Measured phase.
	start := clock.Now()
	r.deadline = start + int64(sc.Duration)
	mon.measuring(gorBase + sc.Workers + 1)
	stopTimer := time.AfterFunc(sc.Duration, func() { r.stop.Store(true) })
	defer stopTimer.Stop()
	events := r.schedule()
	defer events.cancel()
	ctxDone := context.AfterFunc(ctx, func() { r.stop.Store(true) })
	defer ctxDone()

	var wg sync.WaitGroup
	gate := make(chan struct{})
	for _, w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-gate
			r.loop(w)
		}()
	}
	close(gate)
	wg.Wait()
	end := clock.Now()
	events.cancel()
	peakHeap, peakGor := mon.stop()

	res := Result{
		Scenario:     sc.Name,
		Family:       sc.Family,
		Contender:    name,
		Tenants:      sc.Tenants,
		Workers:      sc.Workers,
		Seconds:      time.Duration(end - start).Seconds(),
		WarmSeconds:  warmTime.Seconds(),
		WarmErrors:   warmErrs,
		BaseHeap:     heapBase,
		PeakHeap:     peakHeap,
		PeakHeapGain: max(peakHeap, heapBase) - heapBase,
		Goroutines:   peakGor,
		WrongTenant:  r.api.WrongTenant(),
	}
	var h hist.Histogram
	for _, w := range workers {
		h.Merge(&w.hist)
		res.Requests += w.n
		res.OK += w.ok
		res.Unauthorized += w.unauth
		res.Forbidden += w.forbid
		res.OtherStatus += w.other
		res.Errors += w.errs
		res.Waited += w.waited
		res.ExpiredOK += w.expired
	}
	if res.Seconds > 0 {
		res.RPS = float64(res.Requests) / res.Seconds
	}
	st := r.idp.Stats()
	res.TokenRequests, res.TokenFailures = st.Requests, st.Failures
	res.PeakTokenRequestsPerTenant = st.PeakPerTenant
	res.IdealTokenRequests, res.TenantsTouched = r.track.ideal(int64(sc.lifetime()))
	res.P50, res.P99, res.P999 = h.Quantile(0.50), h.Quantile(0.99), h.Quantile(0.999)
	res.Max, res.Mean = h.Max(), h.Mean()
	return res, nil
}

// requests builds one GET per tenant ID, to the tenant's API host, with the
// tenant in its context. The contenders must not modify requests, so every
// worker sends the same ones (the race detector checks that in the tests).
func requests(ids []string) []*http.Request { return requestsWith(context.Background(), ids) }

// requestsWith is requests with ctx under the tenant.
func requestsWith(ctx context.Context, ids []string) []*http.Request {
	out := make([]*http.Request, len(ids))
	for i, id := range ids {
		req, err := http.NewRequestWithContext(tenantauth.WithTenant(ctx, id),
			http.MethodGet, "https://"+standin.TenantHost(id)+"/v1/ping", nil)
		if err != nil {
			panic(err) // unreachable: the URL is well formed
		}
		out[i] = req
	}
	return out
}

// warm sends one request per tenant from warmWorkers goroutines and returns
// how many failed.
func (r *runner) warm(ctx context.Context) uint64 {
	ctx, cancel := context.WithTimeout(ctx, warmTimeout)
	defer cancel()
	var next atomic.Int64
	var errs atomic.Uint64
	var wg sync.WaitGroup
	for range min(warmWorkers, r.sc.Tenants) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= len(r.reqs) {
					return
				}
				now := r.clock.Now()
				resp, err := r.c.RoundTrip(r.reqs[i])
				r.track.touch(0, i, now)
				if err != nil {
					errs.Add(1)
					continue
				}
				if resp.StatusCode != http.StatusOK {
					errs.Add(1)
				}
				_ = resp.Body.Close()
			}
		}()
	}
	wg.Wait()
	return errs.Load()
}

// loop is one worker's measured phase.
func (r *runner) loop(w *worker) {
	for n := 0; ; n++ {
		if r.stop.Load() || (w.budget > 0 && n >= w.budget) {
			break
		}
		var i int
		if w.zipf != nil {
			i = w.zipf.Next()
		} else {
			k := r.next.Add(1) - 1
			if k >= int64(r.sc.Requests) {
				break
			}
			i = min(int(k/r.perTenant), r.sc.Tenants-1)
		}
		req := r.reqs[i]

		start := r.clock.Now()
		resp, err := r.c.RoundTrip(req)
		end := r.clock.Now()

		w.hist.Record(end - start)
		w.n++
		epoch := 0
		if rt := r.revokedAt.Load(); rt != 0 && start >= rt {
			epoch = 1
		}
		r.track.touch(epoch, i, start)
		if err != nil {
			w.errs++
		} else {
			w.classify(resp, start, end)
		}
		if n&255 == 255 {
			w.progress.Store(w.n)
			if end >= r.deadline {
				r.stop.Store(true)
			}
		}
	}
	w.progress.Store(w.n)
}

// classify counts a response: its status, and whether its token was issued
// after the request started (the request waited for the token endpoint).
func (w *worker) classify(resp *http.Response, start, end int64) {
	switch resp.StatusCode {
	case http.StatusOK:
		w.ok++
	case http.StatusUnauthorized:
		w.unauth++
	case http.StatusForbidden:
		w.forbid++
	default:
		w.other++
	}
	if resp.Request != nil {
		if v := resp.Request.Header["Authorization"]; len(v) == 1 {
			if ti, ok := standin.ParseAuthorization(v[0]); ok {
				if ti.IssuedAt > start {
					w.waited++
				}
				if resp.StatusCode == http.StatusOK && ti.Expiry <= start {
					w.expired++
				}
			}
		}
	}
	if resp.Body != nil {
		_ = resp.Body.Close()
	}
}

// events are the scenario's timed changes (revocation, outage).
type events struct {
	timers []*time.Timer
}

func (r *runner) schedule() *events {
	ev := &events{}
	if r.sc.RevokeAt > 0 {
		ev.timers = append(ev.timers, time.AfterFunc(r.sc.RevokeAt, func() {
			r.revokedAt.Store(r.api.RevokeAll())
		}))
	}
	if r.sc.OutageUntil > 0 {
		ev.timers = append(ev.timers,
			time.AfterFunc(r.sc.OutageFrom, func() { r.idp.SetDown(true) }),
			time.AfterFunc(r.sc.OutageUntil, func() { r.idp.SetDown(false) }))
	}
	return ev
}

func (ev *events) cancel() {
	for _, t := range ev.timers {
		t.Stop()
	}
}

// heapBytes returns the bytes of heap objects (live and not yet swept), as
// runtime/metrics reports them without stopping the world.
func heapBytes() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}

// monitor samples the heap and goroutines every 10 ms and prints progress.
type monitor struct {
	done     chan struct{}
	finished chan struct{}
	harness  atomic.Int64 // goroutines the harness runs; >0 once measuring
	peakHeap atomic.Uint64
	peakGor  atomic.Int64
	once     sync.Once
}

func startMonitor(r *runner, workers []*worker, opt Options, name string) *monitor {
	m := &monitor{done: make(chan struct{}), finished: make(chan struct{})}
	go func() {
		defer close(m.finished)
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		began := time.Now()
		for tick := 1; ; tick++ {
			select {
			case <-m.done:
				return
			case <-t.C:
			}
			if h := heapBytes(); h > m.peakHeap.Load() {
				m.peakHeap.Store(h)
			}
			if base := m.harness.Load(); base > 0 {
				if g := int64(runtime.NumGoroutine()) - base; g > m.peakGor.Load() {
					m.peakGor.Store(g)
				}
			}
			if opt.Progress != nil && tick%50 == 0 {
				var n uint64
				for _, w := range workers {
					n += w.progress.Load()
				}
				line := fmt.Sprintf("tokenload: %-12s %-10s %5.1fs  %9d requests  %7d token requests",
					r.sc.Name, name, time.Since(began).Seconds(), n, r.idp.Stats().Requests)
				if opt.Terminal {
					fmt.Fprintf(opt.Progress, "\r%s\x1b[K", line)
				} else {
					fmt.Fprintln(opt.Progress, line)
				}
			}
		}
	}()
	return m
}

// measuring starts counting goroutines beyond the harness's own.
func (m *monitor) measuring(harness int) { m.harness.Store(int64(harness)) }

// stop ends the monitor and returns its peaks. It is idempotent.
func (m *monitor) stop() (peakHeap uint64, peakGor int) {
	m.once.Do(func() { close(m.done) })
	<-m.finished
	return m.peakHeap.Load(), int(max(m.peakGor.Load(), 0))
}

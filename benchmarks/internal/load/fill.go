package load

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tenantauth/tenantauth/benchmarks/internal/contender"
	"github.com/tenantauth/tenantauth/benchmarks/internal/hist"
	"github.com/tenantauth/tenantauth/benchmarks/internal/standin"
)

// runFill runs a Fill scenario (sc validated and resolved) against the
// contender called name:
//
//  1. the harness builds everything it needs (tenant IDs, one request per
//     tenant, the IdP's counters) and reads the live heap;
//  2. the fill: Workers goroutines take tenants 0..N-1 in turn and send
//     each one request through a new, empty contender, until every tenant
//     is done or Duration (from the first fill's start) has passed. Its
//     wall and CPU time (getrusage: user + system, GC included) are
//     measured;
//  3. after the first fill, the live heap again: the difference per
//     filled tenant is what the contender keeps per tenant;
//  4. steps 2 again for the other Rounds, each into a new contender;
//  5. Lookups cached lookups (Contender.Lookup) on the last contender,
//     Workers goroutines cycling through every filled tenant from evenly
//     spread offsets, bounded by Duration too: their CPU time per lookup.
func runFill(ctx context.Context, sc Scenario, name string, opt Options) (Result, error) {
	clock := standin.NewClock()
	ids := standin.TenantIDs(sc.Tenants)
	r := &runner{
		sc:    sc,
		clock: clock,
		idp:   standin.NewIdP(sc.idpConfig(), clock),
		api:   standin.NewAPI(clock),
		reqs:  requests(ids),
	}
	workers := make([]*worker, sc.Workers)
	for i := range workers {
		workers[i] = &worker{}
	}
	ctxDone := context.AfterFunc(ctx, func() { r.stop.Store(true) })
	defer ctxDone()
	newContender := func() error {
		c, err := contender.New(name, contender.Config{IdP: r.idp, Base: r.api, Tenants: sc.Tenants,
			BreakerOpenTimeout: sc.breakerTimeout()})
		r.c = c
		return err
	}
	closeContender := func() {
		if r.c != nil {
			_ = r.c.Close()
			r.c = nil
		}
	}
	defer closeContender()

	// Everything the harness keeps exists now, the tenant IDs included
	// (every contender keeps the caller's string, none copies it): what
	// the live heap gains from here on is the contender's.
	heapBase := liveHeap()
	gorBase := runtime.NumGoroutine()
	if err := newContender(); err != nil {
		return Result{}, err
	}
	mon := startMonitor(r, workers, opt, name)
	defer mon.stop()
	mon.measuring(gorBase + sc.Workers + 1)

	res := Result{
		Scenario:  sc.Name,
		Family:    sc.Family,
		Contender: name,
		Tenants:   sc.Tenants,
		Workers:   sc.Workers,
		BaseHeap:  heapBase,
	}
	var (
		wall, cpu time.Duration
		inserted  int // tenants of the complete rounds
		filled    int // tenants of the last round
	)
	r.deadline = clock.Now() + int64(sc.Duration)
	for round := range max(sc.Rounds, 1) {
		if round > 0 {
			closeContender()
			runtime.GC() // start every round from the same heap
			if err := newContender(); err != nil {
				return Result{}, err
			}
		}
		w, c, n := r.fillRound(workers)
		if round == 0 {
			res.FillTenants = n
			if n > 0 {
				perTenant := (float64(liveHeap()) - float64(heapBase)) / float64(n)
				res.TotalBytesPerTenant = perTenant
				res.BytesPerTenant = perTenant - standin.TokenSize
			}
		}
		if n < sc.Tenants && round > 0 {
			break // cut short by the deadline: not a whole fill
		}
		filled = n
		wall, cpu, inserted = wall+w, cpu+c, inserted+n
		res.FillRounds++
		if n < sc.Tenants {
			break
		}
	}
	res.PeakHeap, res.Goroutines = mon.stop()
	res.PeakHeapGain = max(res.PeakHeap, heapBase) - heapBase
	res.WrongTenant = r.api.WrongTenant()
	res.Seconds = wall.Seconds()
	res.FillSeconds = wall.Seconds() / float64(res.FillRounds)
	res.FillCPUSeconds = cpu.Seconds() / float64(res.FillRounds)
	if inserted > 0 {
		res.FillCPUPerTenant = float64(cpu) / float64(inserted)
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
		res.RPS = float64(inserted) / res.Seconds
	}
	// Every request of every round was the first of its tenant in its
	// contender: one token request each is the ideal.
	res.IdealTokenRequests, res.TenantsTouched = res.Requests, res.FillTenants
	res.P50, res.P99, res.P999 = h.Quantile(0.50), h.Quantile(0.99), h.Quantile(0.999)
	res.Max, res.Mean = h.Max(), h.Mean()
	if filled > 0 && ctx.Err() == nil {
		r.lookups(ids[:filled], &res)
	}
	st := r.idp.Stats()
	res.TokenRequests, res.TokenFailures = st.Requests, st.Failures
	res.PeakTokenRequestsPerTenant = st.PeakPerTenant
	runtime.KeepAlive(r)
	runtime.KeepAlive(ids)
	return res, nil
}

// fillRound fills r.c once, from len(workers) goroutines, and returns its
// wall and CPU time and how many tenants it filled.
func (r *runner) fillRound(workers []*worker) (wall, cpu time.Duration, filled int) {
	r.next.Store(0)
	cpu0 := cpuTime()
	start := r.clock.Now()
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.fill(w)
		}()
	}
	wg.Wait()
	end := r.clock.Now()
	cpu = cpuTime() - cpu0
	return time.Duration(end - start), cpu, int(min(r.next.Load(), int64(len(r.reqs))))
}

// fill is one worker's fill: it takes the next tenant until every tenant is
// taken or the deadline has passed, and sends that tenant's request. A
// tenant taken is always sent, so when the workers are done the first
// min(next, N) tenants are exactly the filled ones.
func (r *runner) fill(w *worker) {
	for !r.stop.Load() {
		k := r.next.Add(1) - 1
		if k >= int64(len(r.reqs)) {
			break
		}
		start := r.clock.Now()
		resp, err := r.c.RoundTrip(r.reqs[k])
		end := r.clock.Now()
		w.hist.Record(end - start)
		w.n++
		if err != nil {
			w.errs++
		} else {
			w.classify(resp, start, end)
		}
		if w.n&255 == 0 {
			w.progress.Store(w.n)
			if end >= r.deadline {
				r.stop.Store(true)
			}
		}
	}
	w.progress.Store(w.n)
}

// lookups runs the steady-state lookups after a fill over ids (the filled
// tenants) and records them in res.
func (r *runner) lookups(ids []string, res *Result) {
	n, workers, total := len(ids), r.sc.Workers, r.sc.lookups()
	r.stop.Store(false) // a fill cut short by its deadline set it
	fetched := r.idp.Stats().Requests
	deadline := r.clock.Now() + int64(r.sc.Duration)
	bg := context.Background()
	var done, errs atomic.Uint64
	var wg sync.WaitGroup
	cpu0 := cpuTime()
	start := r.clock.Now()
	for w := range workers {
		quota := total / workers
		if w < total%workers {
			quota++
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			i := int(int64(w) * int64(n) / int64(workers)) // spread the workers over the tenants
			var k int
			var failed uint64
			for ; k < quota; k++ {
				if k&1023 == 1023 && (r.stop.Load() || r.clock.Now() >= deadline) {
					break
				}
				if _, err := r.c.Lookup(bg, ids[i]); err != nil {
					failed++
				}
				if i++; i == n {
					i = 0
				}
			}
			done.Add(uint64(k))
			errs.Add(failed)
		}()
	}
	wg.Wait()
	end := r.clock.Now()
	cpu := cpuTime() - cpu0
	res.Lookups = done.Load()
	res.LookupSeconds = time.Duration(end - start).Seconds()
	res.LookupErrors = errs.Load()
	res.LookupFetches = r.idp.Stats().Requests - fetched
	if res.Lookups > 0 {
		res.LookupCPUNs = float64(cpu) / float64(res.Lookups)
	}
}

// liveHeap returns the bytes of live heap objects after a full collection.
func liveHeap() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC() // a second cycle frees what the first one's finalizers released
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

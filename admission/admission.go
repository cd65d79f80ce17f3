package admission

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ceilingHold is how long the limit stays below the level at which the
// endpoint last refused before probing it again.
const ceilingHold = 10 * time.Second

// Defaults for the zero values of [Config].
const (
	// DefaultInitialLimit is the limit of an endpoint before it has
	// answered anything.
	DefaultInitialLimit = 8
	// DefaultMinLimit is the floor of the limit.
	DefaultMinLimit = 1
	// DefaultMaxLimit is the ceiling of the limit.
	DefaultMaxLimit = 256
	// DefaultQueueSize bounds the waiters per endpoint.
	DefaultQueueSize = 4096
	// DefaultMaxPause caps a Retry-After pause.
	DefaultMaxPause = 30 * time.Second
	// DefaultMaxEndpoints bounds the endpoints tracked at once.
	DefaultMaxEndpoints = 65536
)

// Tuning of the algorithm (see the package documentation).
const (
	// backoff multiplies the limit on an Overload.
	backoff = 0.75
	// latencyTolerance: a Success slower than this many times the baseline
	// does not grow the limit.
	latencyTolerance = 2
	// srttShift and baselineShift are the smoothing of the mean latency
	// (1/8 per sample) and of the baseline's rise (1/256 per sample).
	srttShift     = 3
	baselineShift = 8
)

var (
	// ErrOverloaded means the request was not admitted because its endpoint
	// is saturated: the endpoint's queue is full, the caller was displaced
	// from it by a Foreground request, a Retry-After pause would outlive the
	// context's deadline, or the deadline passed while queued. Errors
	// returned by [Group.Acquire] for these cases match it with errors.Is;
	// the one for a deadline reached while queued also matches
	// context.DeadlineExceeded.
	ErrOverloaded = errors.New("tenantauth: admission: token endpoint overloaded")

	// ErrClosed is returned by [Group.Acquire] once [Group.Close] has been
	// called, including to the callers that were waiting.
	ErrClosed = errors.New("tenantauth: admission: closed")
)

// Config configures a [Group]. Its zero value is usable: every zero field
// means the documented default. [New] refuses negative values (other than a
// negative InitialLimit, which disables admission) and a MinLimit above
// MaxLimit.
type Config struct {
	// InitialLimit is the concurrency limit a new endpoint starts with,
	// before it has learned anything. Zero means 8 (raised to MinLimit or
	// lowered to MaxLimit if they exclude it); a value set explicitly must
	// lie between MinLimit and MaxLimit. A negative value disables admission,
	// like Disabled.
	InitialLimit int

	// MinLimit is the lowest the limit ever falls, however many refusals
	// come back. Zero means 1.
	MinLimit int

	// MaxLimit is the highest the limit ever grows. Zero means 256.
	MaxLimit int

	// QueueSize bounds how many Acquire calls may wait for each endpoint.
	// Beyond it Acquire fails at once with an error matching ErrOverloaded
	// (a Foreground call first takes the place of the newest Background
	// waiter, if any). Zero means 4096. A waiter costs about 150 bytes.
	QueueSize int

	// MaxPause caps the pause a Retry-After imposes on an endpoint, so that
	// a server asking for an hour cannot stop its tenants' token requests
	// for an hour. Zero means 30 s.
	MaxPause time.Duration

	// MaxEndpoints bounds how many endpoints are tracked. Beyond it the least
	// recently used idle endpoint (nothing in flight, nobody waiting) is
	// forgotten; it starts again from InitialLimit on its next use. Busy
	// endpoints are never dropped, so the bound may be exceeded by as many
	// endpoints as have requests in flight or waiting at that moment. Zero
	// means 65 536; an endpoint costs about 250 bytes plus its name (16 MiB
	// for the default bound).
	MaxEndpoints int

	// Disabled turns admission off: Acquire grants every request at once and
	// nothing is tracked.
	Disabled bool
}

// A Priority orders the waiters of an endpoint.
type Priority int8

const (
	// Foreground is for a token request a caller is waiting for. Foreground
	// waiters are granted before any Background waiter. It is the zero
	// value, and any value other than Background counts as Foreground.
	Foreground Priority = iota
	// Background is for a token request nobody waits for yet (a refresh
	// ahead of expiry). It is granted only when no Foreground call waits.
	Background
)

// String returns "foreground" or "background".
func (p Priority) String() string {
	if p == Background {
		return "background"
	}
	return "foreground"
}

// An Outcome is what a token request's answer says about its endpoint's
// capacity; [Permit.Release] takes one.
type Outcome int8

const (
	// Success: the endpoint answered (a token). Its latency is a sample for
	// the latency guard, and the limit may grow.
	Success Outcome = iota
	// Overload: the endpoint refused for lack of capacity (503, 429, a
	// refused or reset connection, a timeout). The limit shrinks, at most
	// once per round trip; a Retry-After also pauses the endpoint.
	Overload
	// Failure: another error of the endpoint (a 500, a malformed answer).
	// The limit does not change: a dead endpoint is the circuit breaker's
	// business.
	Failure
	// Ignore: the outcome says nothing about the endpoint (the caller gave
	// up, a tenant's credentials were refused, the request never left). The
	// slot is given back and nothing else changes.
	Ignore
)

// String returns "success", "overload", "failure" or "ignore".
func (o Outcome) String() string {
	switch o {
	case Success:
		return "success"
	case Overload:
		return "overload"
	case Failure:
		return "failure"
	case Ignore:
		return "ignore"
	}
	return "Outcome(" + strconv.Itoa(int(o)) + ")"
}

// EndpointStats is a snapshot of one endpoint's admission state, for metrics
// and tests. Counters count since the endpoint was first used (or since it
// was last forgotten, see Config.MaxEndpoints).
type EndpointStats struct {
	Endpoint    string    // the endpoint's name as given to Acquire; empty when not tracked
	Limit       int       // current concurrency limit; 0 when the endpoint is not tracked
	InFlight    int       // permits granted and not yet released
	Queued      int       // Acquire calls waiting, both priorities
	Overloads   uint64    // Overload outcomes reported
	Backoffs    uint64    // multiplicative decreases applied (at most one per round trip)
	Pauses      uint64    // times a Retry-After paused the endpoint when it was not paused
	Rejected    uint64    // Acquire calls failed with ErrOverloaded
	PausedUntil time.Time // end of the current pause; zero when not paused
}

// A Group holds the admission state of every endpoint in use: one limit, one
// queue and one pause each. It is safe for concurrent use. All endpoints
// share one mutex, held only for a few hundred nanoseconds at a time: the
// Group sits on the token fetch path, which a cache in front of it keeps
// rare.
type Group struct {
	cfg      Config
	disabled bool
	clock    clock

	mu     sync.Mutex
	closed atomic.Bool // set under mu; read without it on the disabled path
	eps    endpoints   // guarded by mu

	// wg counts pause timers armed or running, so that Close returns only
	// once none can run any more.
	wg sync.WaitGroup
}

// endpoint is one endpoint's state, guarded by Group.mu.
type endpoint struct {
	name     string
	limit    float64 // in [MinLimit, MaxLimit]; its integer part is the slot count
	inFlight int
	fg, bg   waitQueue

	pausedUntil time.Time // zero when not paused
	timer       stopper   // armed while paused with waiters
	timerGen    uint64    // tells a stale timer's call from the current one's

	grants uint64 // permits granted: the sequence number of the latest
	cutSeq uint64 // grants when the limit was last decreased

	srtt     time.Duration // smoothed latency of successes
	baseline time.Duration // minimum latency, rising slowly

	// ceiling is the limit at which the endpoint last refused, and the
	// limit does not grow back to it before ceilingUntil: probing straight
	// back into a refusal would cost another Retry-After pause each time.
	ceiling      float64
	ceilingUntil time.Time

	overloads, backoffs, pauses, rejected uint64

	prev, next *endpoint // least recently used order
}

// slots is the number of permits the endpoint may have in flight.
func (e *endpoint) slots() int { return int(e.limit) }

func (e *endpoint) queued() int { return e.fg.n + e.bg.n }

// pausedAt reports whether the endpoint is paused at now, clearing a pause
// that has ended.
func (e *endpoint) pausedAt(now time.Time) bool {
	if e.pausedUntil.IsZero() {
		return false
	}
	if now.Before(e.pausedUntil) {
		return true
	}
	e.pausedUntil = time.Time{}
	return false
}

// A Permit is one admitted token request. Release it exactly once, as soon
// as the answer is in; further calls do nothing.
type Permit struct {
	g        *Group // nil for the permits of a disabled Group
	e        *endpoint
	start    time.Duration // the clock's elapsed at the grant
	seq      uint64
	inFlight int  // the endpoint's permits in flight when this one was granted, itself included
	released bool // guarded by g.mu
}

// unlimited is the permit of a disabled Group: it holds nothing.
var unlimited = &Permit{}

// New returns a Group configured by cfg, or an error when cfg is invalid.
func New(cfg Config) (*Group, error) {
	return newGroup(cfg, systemClock{})
}

func newGroup(cfg Config, clk clock) (*Group, error) {
	switch {
	case cfg.MinLimit < 0:
		return nil, configError("MinLimit is negative: " + strconv.Itoa(cfg.MinLimit))
	case cfg.MaxLimit < 0:
		return nil, configError("MaxLimit is negative: " + strconv.Itoa(cfg.MaxLimit))
	case cfg.QueueSize < 0:
		return nil, configError("QueueSize is negative: " + strconv.Itoa(cfg.QueueSize))
	case cfg.MaxPause < 0:
		return nil, configError("MaxPause is negative: " + cfg.MaxPause.String())
	case cfg.MaxEndpoints < 0:
		return nil, configError("MaxEndpoints is negative: " + strconv.Itoa(cfg.MaxEndpoints))
	}
	if cfg.MinLimit == 0 {
		cfg.MinLimit = DefaultMinLimit
	}
	if cfg.MaxLimit == 0 {
		cfg.MaxLimit = DefaultMaxLimit
	}
	if cfg.MinLimit > cfg.MaxLimit {
		return nil, configError("MinLimit " + strconv.Itoa(cfg.MinLimit) + " is above MaxLimit " + strconv.Itoa(cfg.MaxLimit))
	}
	switch {
	case cfg.InitialLimit == 0:
		cfg.InitialLimit = min(max(DefaultInitialLimit, cfg.MinLimit), cfg.MaxLimit)
	case cfg.InitialLimit > 0 && (cfg.InitialLimit < cfg.MinLimit || cfg.InitialLimit > cfg.MaxLimit):
		return nil, configError("InitialLimit " + strconv.Itoa(cfg.InitialLimit) + " is outside [MinLimit, MaxLimit] = [" +
			strconv.Itoa(cfg.MinLimit) + ", " + strconv.Itoa(cfg.MaxLimit) + "]")
	}
	if cfg.QueueSize == 0 {
		cfg.QueueSize = DefaultQueueSize
	}
	if cfg.MaxPause == 0 {
		cfg.MaxPause = DefaultMaxPause
	}
	if cfg.MaxEndpoints == 0 {
		cfg.MaxEndpoints = DefaultMaxEndpoints
	}
	g := &Group{cfg: cfg, disabled: cfg.Disabled || cfg.InitialLimit < 0, clock: clk}
	g.eps.init()
	return g, nil
}

func configError(msg string) error {
	return errors.New("tenantauth: admission: invalid config: " + msg)
}

// overloadError is an Acquire refusal; it matches ErrOverloaded.
type overloadError struct {
	endpoint, reason string
	cause            error // context.DeadlineExceeded for a deadline reached while queued
}

func (e *overloadError) Error() string {
	return "tenantauth: admission: token endpoint " + e.endpoint + " overloaded: " + e.reason
}

func (e *overloadError) Is(target error) bool { return target == ErrOverloaded }

func (e *overloadError) Unwrap() error { return e.cause }

// Acquire waits for a slot to send one token request to endpoint, and
// returns its Permit. endpoint is used as given, in errors too: the caller
// must have removed anything secret from it.
//
// A slot is granted at once when the endpoint is not paused, has a free slot
// and nobody of the same or a higher priority waits; otherwise the call
// queues, Foreground before Background, first come first served within a
// priority, and is woken when a released slot is handed to it.
//
// Acquire returns early, without a permit:
//   - with an error matching [ErrOverloaded], at once, when the queue is full,
//     or when the endpoint's pause outlasts ctx's deadline; later, when a Foreground call displaces this
//     Background one from a full queue, when a Retry-After pause that
//     outlasts the deadline begins, or when the deadline is reached while
//     queued (that error also matches context.DeadlineExceeded);
//   - with ctx.Err() when ctx is cancelled (or already done on entry);
//   - with [ErrClosed] when the Group is closed.
//
// A caller that leaves the queue takes nothing with it: its place is freed,
// and a slot granted at the very moment it left is handed on.
func (g *Group) Acquire(ctx context.Context, endpoint string, p Priority) (*Permit, error) {
	return g.acquire(ctx, endpoint, p, nil)
}

// AcquireBackground is Acquire at Background priority until urgent is
// closed, then at Foreground priority: a refresh-ahead fetch that nobody
// waited on yields to callers, until a caller starts waiting on it too.
// A waiter promoted while queued keeps its place among the Background
// waiters' elders: it goes to the back of the Foreground queue. A nil
// urgent is never closed.
func (g *Group) AcquireBackground(ctx context.Context, endpoint string, urgent <-chan struct{}) (*Permit, error) {
	select {
	case <-urgent:
		return g.acquire(ctx, endpoint, Foreground, nil)
	default:
		return g.acquire(ctx, endpoint, Background, urgent)
	}
}

func (g *Group) acquire(ctx context.Context, endpoint string, p Priority, urgent <-chan struct{}) (*Permit, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if g.disabled {
		if g.closed.Load() {
			return nil, ErrClosed
		}
		return unlimited, nil
	}
	if p != Background {
		p = Foreground
	}
	start := g.clock.elapsed()
	g.mu.Lock()
	if g.closed.Load() {
		g.mu.Unlock()
		return nil, ErrClosed
	}
	e := g.endpoint(endpoint)
	ahead := e.fg.n
	if p == Background {
		ahead += e.bg.n
	}
	// The wall clock only matters to a paused endpoint or a wait: a grant
	// at once needs the monotonic start alone.
	var now time.Time
	paused := false
	if !e.pausedUntil.IsZero() {
		now = g.clock.now()
		paused = e.pausedAt(now)
	}
	if ahead == 0 && !paused && e.inFlight < e.slots() {
		e.inFlight++
		e.grants++
		permit := &Permit{g: g, e: e, start: start, seq: e.grants, inFlight: e.inFlight}
		g.mu.Unlock()
		return permit, nil
	}
	if now.IsZero() {
		now = g.clock.now()
	}

	deadline, hasDeadline := ctx.Deadline()
	if hasDeadline {
		if err := e.tooLong(now, time.Until(deadline)); err != nil {
			e.rejected++
			g.mu.Unlock()
			return nil, err
		}
	}
	if e.queued() >= g.cfg.QueueSize {
		if p == Background || e.bg.n == 0 {
			e.rejected++
			n := e.queued()
			g.mu.Unlock()
			return nil, &overloadError{endpoint: endpoint, reason: "queue full (" + strconv.Itoa(n) + " waiting)"}
		}
		w := e.bg.tail
		e.bg.remove(w)
		e.rejected++
		fail(w, &overloadError{endpoint: endpoint, reason: "displaced from a full queue by a foreground request"})
	}
	w := &waiter{prio: p, ready: make(chan struct{})}
	if hasDeadline {
		w.deadline = deadline
	}
	if p == Background {
		e.bg.push(w)
	} else {
		e.fg.push(w)
	}
	g.dispatch(e, now) // arms the pause timer; grants if a slot is free after all
	g.mu.Unlock()

	for waiting := true; waiting; {
		select {
		case <-w.ready:
			waiting = false
		case <-ctx.Done():
			return nil, g.leave(ctx, e, w)
		case <-urgent:
			g.promote(e, w)
			urgent = nil // a nil channel is never ready
		}
	}
	if w.err != nil {
		return nil, w.err
	}
	return &w.p, nil
}

// tooLong returns the error for a caller whose deadline, left from now,
// falls inside the endpoint's Retry-After pause; nil otherwise.
func (e *endpoint) tooLong(now time.Time, left time.Duration) error {
	// Only a pause is certain. The queue's wait could be estimated from the
	// smoothed latency, but a cold start inflates it (its first requests
	// contend for everything), and refusing on an estimate would fail
	// callers who would have been served in time; the deadline bounds them.
	if e.pausedUntil.IsZero() {
		return nil
	}
	if pause := e.pausedUntil.Sub(now); pause > left {
		return &overloadError{endpoint: e.name, reason: "paused by Retry-After for another " + pause.String() +
			", beyond the deadline (" + left.String() + " left)"}
	}
	return nil
}

// promote moves a queued Background waiter to the back of the Foreground
// queue and grants it a slot if one is free.
func (g *Group) promote(e *endpoint, w *waiter) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if w.done || w.prio != Background {
		return
	}
	e.bg.remove(w)
	w.prio = Foreground
	e.fg.push(w)
	g.dispatch(e, g.clock.now())
}

// leave handles a waiter whose context ended: it leaves the queue, or gives
// back the slot granted meanwhile. It returns Acquire's error.
func (g *Group) leave(ctx context.Context, e *endpoint, w *waiter) error {
	err := ctx.Err()
	deadline := errors.Is(err, context.DeadlineExceeded)
	if deadline {
		err = &overloadError{endpoint: e.name, reason: "context deadline reached while queued", cause: err}
	}
	g.mu.Lock()
	if !w.done {
		if w.prio == Background {
			e.bg.remove(w)
		} else {
			e.fg.remove(w)
		}
		w.done = true
		if deadline {
			e.rejected++
		}
		g.mu.Unlock()
		return err
	}
	g.mu.Unlock()
	if w.err != nil {
		return w.err
	}
	// Granted as the context ended: the caller will not use the slot.
	w.p.Release(Ignore, 0, 0)
	return err
}

// endpoint returns name's state, creating it (and forgetting an idle one
// beyond MaxEndpoints) if needed. g.mu must be held.
func (g *Group) endpoint(name string) *endpoint {
	if e, ok := g.eps.m[name]; ok {
		g.eps.moveToFront(e)
		return e
	}
	if len(g.eps.m) >= g.cfg.MaxEndpoints {
		g.evictIdle()
	}
	e := &endpoint{name: name, limit: float64(g.cfg.InitialLimit)}
	g.eps.m[name] = e
	g.eps.pushFront(e)
	return e
}

// evictIdle forgets the least recently used endpoint that has nothing in
// flight and nobody waiting, looking at no more than evictionScan of them.
func (g *Group) evictIdle() {
	e := g.eps.root.prev
	for i := 0; i < evictionScan && e != &g.eps.root; i, e = i+1, e.prev {
		if e.inFlight == 0 && e.queued() == 0 {
			g.stopTimer(e)
			g.eps.unlink(e)
			delete(g.eps.m, e.name)
			return
		}
	}
}

// OthersInFlight reports whether other permits of the endpoint were in
// flight when p was granted: a refused connection then says the endpoint
// is overloaded rather than down. False for a disabled Group's permits.
func (p *Permit) OthersInFlight() bool { return p != nil && p.inFlight > 1 }

// Release gives the permit back and reports the outcome of its request:
// latency is how long the request took (for a Success; zero or negative
// means measured from the grant), retryAfter the delay the endpoint asked
// for (for an Overload; zero when none). The freed slot goes to the next
// waiter, if the limit allows. Calls after the first, and calls on a nil
// Permit, do nothing.
func (p *Permit) Release(outcome Outcome, latency, retryAfter time.Duration) {
	if p == nil || p.g == nil {
		return
	}
	g := p.g
	if latency <= 0 && outcome == Success {
		latency = g.clock.elapsed() - p.start
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if p.released {
		return
	}
	p.released = true
	e := p.e
	// The wall clock only matters to an overload, an endpoint that refused
	// recently (its ceiling) and one with waiters: a success of an
	// endpoint with room reads none.
	var now time.Time
	if outcome != Success || !e.ceilingUntil.IsZero() || e.queued() > 0 || !e.pausedUntil.IsZero() {
		now = g.clock.now()
	}
	switch outcome {
	case Success:
		g.success(e, p.seq, latency, now)
	case Overload:
		g.overload(e, p.seq, retryAfter, now)
	}
	e.inFlight--
	g.dispatch(e, now)
}

// success applies a Success to e. g.mu must be held.
func (g *Group) success(e *endpoint, seq uint64, latency time.Duration, now time.Time) {
	if latency > 0 {
		if e.srtt == 0 {
			e.srtt = latency
		} else {
			e.srtt += (latency - e.srtt) >> srttShift
		}
		if e.baseline == 0 || latency < e.baseline {
			e.baseline = latency
		} else {
			e.baseline += (latency - e.baseline) >> baselineShift
		}
	}
	switch {
	case seq <= e.cutSeq: // sent under the limit before the last decrease
	case latency > latencyTolerance*e.baseline: // the endpoint is queueing
	case 2*e.inFlight < e.slots() && e.queued() == 0: // the limit is not in use
	case e.limit+1/e.limit >= e.ceiling && now.Before(e.ceilingUntil): // just refused there
	default:
		e.limit = min(e.limit+1/e.limit, float64(g.cfg.MaxLimit))
	}
}

// overload applies an Overload to e. g.mu must be held.
func (g *Group) overload(e *endpoint, seq uint64, retryAfter time.Duration, now time.Time) {
	e.overloads++
	if seq > e.cutSeq {
		e.ceiling, e.ceilingUntil = e.limit, now.Add(ceilingHold)
		e.limit = max(min(e.limit-1, e.limit*backoff), float64(g.cfg.MinLimit))
		e.cutSeq = e.grants
		e.backoffs++
	}
	if retryAfter <= 0 {
		return
	}
	pause := min(retryAfter, g.cfg.MaxPause)
	until := now.Add(pause)
	if !until.After(e.pausedUntil) {
		return
	}
	if !e.pausedAt(now) {
		e.pauses++
	}
	e.pausedUntil = until
	// Waiters whose deadline falls inside the pause cannot be served: tell
	// them now rather than at their deadline.
	realNow := time.Now()
	for _, q := range [...]*waitQueue{&e.fg, &e.bg} {
		for w := q.head; w != nil; {
			next := w.next
			if !w.deadline.IsZero() && w.deadline.Sub(realNow) < pause {
				q.remove(w)
				e.rejected++
				fail(w, &overloadError{endpoint: e.name, reason: "paused by Retry-After for " + pause.String() + ", beyond the deadline"})
			}
			w = next
		}
	}
}

// dispatch grants free slots to waiters, Foreground first, or arms the
// timer that ends a pause. g.mu must be held.
func (g *Group) dispatch(e *endpoint, now time.Time) {
	if e.queued() == 0 || g.closed.Load() {
		return
	}
	if e.pausedAt(now) {
		if e.timer == nil {
			g.armTimer(e, e.pausedUntil.Sub(now))
		}
		return
	}
	for e.inFlight < e.slots() {
		q := &e.fg
		if q.head == nil {
			q = &e.bg
		}
		w := q.head
		if w == nil {
			return
		}
		q.remove(w)
		e.inFlight++
		e.grants++
		w.p = Permit{g: g, e: e, start: g.clock.elapsed(), seq: e.grants, inFlight: e.inFlight}
		w.done = true
		close(w.ready)
	}
}

// fail ends a queued waiter's wait with err. w must have left its queue
// and g.mu must be held.
func fail(w *waiter, err error) {
	w.err = err
	w.done = true
	close(w.ready)
}

// armTimer makes the end of e's pause, d from now, wake its waiters.
func (g *Group) armTimer(e *endpoint, d time.Duration) {
	e.timerGen++
	gen := e.timerGen
	g.wg.Add(1)
	e.timer = g.clock.afterFunc(d, func() { g.resume(e, gen) })
}

// resume is the pause timer's call.
func (g *Group) resume(e *endpoint, gen uint64) {
	defer g.wg.Done()
	g.mu.Lock()
	defer g.mu.Unlock()
	if e.timer == nil || e.timerGen != gen {
		return // stopped, or superseded
	}
	e.timer = nil
	g.dispatch(e, g.clock.now()) // grants, or re-arms if the pause was extended
}

// stopTimer disarms e's pause timer. g.mu must be held.
func (g *Group) stopTimer(e *endpoint) {
	if e.timer == nil {
		return
	}
	if e.timer.Stop() {
		g.wg.Done()
	}
	e.timer = nil
}

// Stats returns a snapshot of endpoint's state; the zero EndpointStats
// (Limit 0) when it is not tracked or the Group is disabled. It neither
// creates the endpoint nor counts as a use of it.
func (g *Group) Stats(endpoint string) EndpointStats {
	g.mu.Lock()
	defer g.mu.Unlock()
	e, ok := g.eps.m[endpoint]
	if !ok {
		return EndpointStats{}
	}
	return g.stats(e, g.clock.now())
}

// Endpoints returns a snapshot of every tracked endpoint, sorted by name:
// what a metrics exporter or a status page lists. It does not count as a
// use of any endpoint.
func (g *Group) Endpoints() []EndpointStats {
	g.mu.Lock()
	now := g.clock.now()
	out := make([]EndpointStats, 0, len(g.eps.m))
	for _, e := range g.eps.m {
		out = append(out, g.stats(e, now))
	}
	g.mu.Unlock()
	slices.SortFunc(out, func(a, b EndpointStats) int { return strings.Compare(a.Endpoint, b.Endpoint) })
	return out
}

// stats is e's snapshot; g.mu is held.
func (g *Group) stats(e *endpoint, now time.Time) EndpointStats {
	s := EndpointStats{
		Endpoint: e.name, Limit: e.slots(), InFlight: e.inFlight, Queued: e.queued(),
		Overloads: e.overloads, Backoffs: e.backoffs, Pauses: e.pauses, Rejected: e.rejected,
	}
	if !e.pausedUntil.IsZero() && now.Before(e.pausedUntil) {
		s.PausedUntil = e.pausedUntil
	}
	return s
}

// Len returns how many endpoints are tracked.
func (g *Group) Len() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.eps.m)
}

// Close fails every waiting Acquire with ErrClosed, makes later calls fail
// the same way, and stops the Group's timers; it returns once no timer of
// the Group can run any more. Permits still out may be released as usual.
// Close is idempotent.
func (g *Group) Close() {
	g.mu.Lock()
	if !g.closed.Load() {
		g.closed.Store(true)
		for e := g.eps.root.next; e != &g.eps.root; e = e.next {
			for _, q := range [...]*waitQueue{&e.fg, &e.bg} {
				for q.head != nil {
					w := q.head
					q.remove(w)
					fail(w, ErrClosed)
				}
			}
			g.stopTimer(e)
		}
	}
	g.mu.Unlock()
	g.wg.Wait()
}

// Package breaker keeps one circuit breaker per token endpoint, so an
// endpoint that is down or overloaded is left alone for a while instead of
// receiving every tenant's token request, and callers fail fast meanwhile.
//
// A [Group] creates breakers lazily, keyed by endpoint, and bounds how many it
// keeps (least recently used beyond [Config].MaxEndpoints). Each breaker is a
// github.com/sony/gobreaker/v2 CircuitBreaker; this package adds the
// classification of errors ([Classify]: a tenant's refused credentials and
// cancelled callers count neither way), errors that match both [ErrOpen] and
// gobreaker's own, and state-change notifications that never run under a lock.
//
// The root package wires a Group into the Manager; most programs never use
// this package directly.
package breaker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
	"github.com/sony/gobreaker/v2"
)

// ErrOpen means the circuit is open: the call was not made. Errors returned
// by [Group.Do] for a rejected call match it and also gobreaker.ErrOpenState
// (open) or gobreaker.ErrTooManyRequests (half-open with its probes in
// flight). The root package exports it as tenantauth.ErrCircuitOpen.
var ErrOpen = errors.New("tenantauth: circuit breaker open")

// Defaults for the zero values of [Config].
const (
	DefaultMaxEndpoints        = 65536
	DefaultConsecutiveFailures = 5
	DefaultInterval            = 60 * time.Second
	DefaultOpenTimeout         = 30 * time.Second
	DefaultHalfOpenRequests    = 1
)

// A State is a breaker's state.
type State int8

const (
	// Closed lets calls through and counts their failures.
	Closed State = iota
	// HalfOpen lets a few probe calls through to find out whether the
	// endpoint has recovered; other calls fail fast.
	HalfOpen
	// Open fails every call fast until the open timeout has passed.
	Open
)

// String returns "closed", "half-open" or "open".
func (s State) String() string {
	switch s {
	case Closed:
		return "closed"
	case HalfOpen:
		return "half-open"
	case Open:
		return "open"
	}
	return "State(" + strconv.Itoa(int(s)) + ")"
}

func fromGobreaker(s gobreaker.State) State {
	switch s {
	case gobreaker.StateHalfOpen:
		return HalfOpen
	case gobreaker.StateOpen:
		return Open
	}
	return Closed
}

// Config configures a [Group]. Its zero value is usable: every zero field
// means the documented default. Negative durations or sizes are refused by
// [New].
type Config struct {
	// MaxEndpoints bounds how many breakers are kept; beyond it the least
	// recently used endpoint's breaker is dropped (and its state with it: the
	// endpoint starts closed again on its next call). Zero means 65 536, room
	// for a platform with tens of thousands of customer hosts; a breaker
	// costs about 500 bytes, so the default bound is about 32 MiB.
	MaxEndpoints int

	// ConsecutiveFailures opens the breaker when that many calls in a row
	// have counted as failures (excluded calls do not break the run). Zero
	// means 5.
	ConsecutiveFailures uint32

	// Interval is how often a closed breaker forgets its counts, so that
	// failures spread over a long time do not add up. Zero means 60 s.
	Interval time.Duration

	// OpenTimeout is how long a breaker stays open before it lets probes
	// through (half-open). Zero means 30 s.
	OpenTimeout time.Duration

	// HalfOpenRequests is how many probe calls a half-open breaker lets
	// through at once. It closes after that many consecutive successful
	// probes and opens again at the first failed one; an excluded probe frees
	// its slot and changes nothing. Zero means 1.
	HalfOpenRequests uint32

	// Classify decides how a call's error counts. It is called once per call
	// that ran, outside any lock, with exactly the error fn returned. Any
	// value other than Success or Excluded counts as a failure. Nil means
	// [Classify].
	Classify func(error) Outcome

	// OnStateChange, when set, is called on every transition of a breaker
	// (including the lazy open→half-open one that [Group.State] and
	// [Group.Do] perform once OpenTimeout has passed).
	//
	// It is never called under a lock: gobreaker reports transitions while
	// holding its mutex, so the transition is recorded there and delivered
	// after gobreaker's call returns, by the goroutine whose call observed
	// it. One endpoint's transitions are delivered in order and never
	// concurrently: if another goroutine is already delivering that
	// endpoint's transitions, it delivers the new ones too, after the one in
	// progress. A breaker that was dropped (MaxEndpoints) and recreated is a
	// new breaker, starting closed, whose transitions are delivered apart
	// from the old one's.
	//
	// It must not block and must not panic. It may call back into the
	// Group, including [Group.State] and [Group.Do] for the same endpoint;
	// transitions those calls cause are delivered after the callback returns.
	OnStateChange func(endpoint string, from, to State)
}

// A Group holds one circuit breaker per endpoint. It is safe for concurrent
// use.
type Group struct {
	settings gobreaker.Settings // template; Name and OnStateChange set per breaker
	classify func(error) Outcome
	onChange func(endpoint string, from, to State)

	// mu guards lru. It is held only to find or create a breaker: never
	// while a call runs nor while OnStateChange runs.
	mu  sync.Mutex
	lru *simplelru.LRU[string, *entry]
	// last is the breaker of the latest call that took mu: the next call
	// for the same endpoint finds it without the lock. Cleared when that
	// breaker is dropped.
	last atomic.Pointer[entry]
}

// New returns a Group configured by cfg, or an error when a field is
// negative.
func New(cfg Config) (*Group, error) {
	switch {
	case cfg.MaxEndpoints < 0:
		return nil, configError("MaxEndpoints is negative: " + strconv.Itoa(cfg.MaxEndpoints))
	case cfg.Interval < 0:
		return nil, configError("Interval is negative: " + cfg.Interval.String())
	case cfg.OpenTimeout < 0:
		return nil, configError("OpenTimeout is negative: " + cfg.OpenTimeout.String())
	}
	if cfg.MaxEndpoints == 0 {
		cfg.MaxEndpoints = DefaultMaxEndpoints
	}
	if cfg.ConsecutiveFailures == 0 {
		cfg.ConsecutiveFailures = DefaultConsecutiveFailures
	}
	if cfg.Interval == 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.OpenTimeout == 0 {
		cfg.OpenTimeout = DefaultOpenTimeout
	}
	if cfg.HalfOpenRequests == 0 {
		cfg.HalfOpenRequests = DefaultHalfOpenRequests
	}
	if cfg.Classify == nil {
		cfg.Classify = Classify
	}
	lru, err := simplelru.NewLRU[string, *entry](cfg.MaxEndpoints, nil)
	if err != nil { // unreachable: the size is positive
		return nil, fmt.Errorf("tenantauth: breaker: %w", err)
	}
	trip := cfg.ConsecutiveFailures
	return &Group{
		settings: gobreaker.Settings{
			MaxRequests: cfg.HalfOpenRequests,
			Interval:    cfg.Interval,
			Timeout:     cfg.OpenTimeout,
			ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= trip },
			// Do classifies fn's error itself, once and outside gobreaker's
			// mutex, and hands gobreaker nil, errExcluded or errFailure. A
			// panic reaches gobreaker as some other error: a failure.
			IsExcluded: func(err error) bool { return err == errExcluded },
		},
		classify: cfg.Classify,
		onChange: cfg.OnStateChange,
		lru:      lru,
	}, nil
}

func configError(msg string) error {
	return errors.New("tenantauth: breaker: invalid config: " + msg)
}

var (
	// What Do's wrapper returns to gobreaker instead of fn's error.
	errExcluded = errors.New("tenantauth: breaker: excluded")
	errFailure  = errors.New("tenantauth: breaker: failure")

	errNilFunc = errors.New("tenantauth: breaker: Do called with a nil function")
	// The failure counted for a call that panicked outside gobreaker. The
	// panic value is not kept: it may hold request data.
	errPanicked = errors.New("tenantauth: breaker: the call panicked")
)

// Do runs fn through endpoint's breaker, creating it on first use.
//
// While the breaker is open, or half-open with all its probes in flight, Do
// does not call fn and returns at once an error that matches [ErrOpen] and
// gobreaker.ErrOpenState (open) or gobreaker.ErrTooManyRequests (half-open)
// with errors.Is, and names endpoint in its message. endpoint is used as
// given: the caller must have removed anything secret from it. Otherwise Do
// returns fn's error unchanged, after counting it as [Config].Classify says.
//
// No lock is held while fn runs. If fn panics, the call counts as a failure
// and the panic propagates to Do's caller. If fn exits its goroutine
// (runtime.Goexit, as t.FailNow does) gobreaker never learns the outcome; a
// half-open breaker would then wait forever for that probe, so Do drops it
// and the endpoint starts again closed, reported as a half-open→closed
// transition.
//
// A closed breaker with no failure counted since its last success (nearly
// every call) runs fn without entering gobreaker, whose answer is known
// then, and takes no lock: calls of many tenants through one endpoint do
// not queue on it. Only an outcome that can change the breaker — a
// failure, or a success after failures — is handed to gobreaker, after fn
// returns; the breaker then opens exactly as if fn had run inside it.
func (g *Group) Do(endpoint string, fn func() error) error {
	if fn == nil {
		return errNilFunc
	}
	e := g.breaker(endpoint)
	// The state's epoch is read before the breaker is found clean: a
	// breaker that opens after this read is clean no more, and its new
	// epoch tells doClean's late result from one of the open state.
	epoch := e.epoch.Load()
	if e.isClean() {
		return g.doClean(e, epoch, fn)
	}
	return g.doCounted(e, fn)
}

// doClean runs fn for a breaker that is closed with no failure counted
// since its last success, the state of nearly every call. There gobreaker
// would only count a success, which changes nothing that can open a
// breaker (its trip condition reads ConsecutiveFailures only), so fn runs
// outside gobreaker and its two mutex sections: thousands of tenants'
// fetches through one endpoint then share no lock here. Only a result that
// can change the breaker is handed to gobreaker afterwards: a failure, or
// a success after failures counted meanwhile (it ends their run, as it
// would have inside gobreaker). A call whose breaker changed state while
// it ran is not counted: gobreaker ignores the results of an earlier
// generation too.
func (g *Group) doClean(e *entry, epoch uint32, fn func() error) error {
	var (
		fnErr error
		out   Outcome
		done  bool // fn and Classify returned
	)
	defer func() {
		if done {
			return
		}
		// fn panicked (counted as a failure; the panic goes on) or exited
		// its goroutine (nothing was taken from gobreaker: nothing to give
		// back).
		if p := recover(); p != nil {
			g.count(e, epoch, Failure, errPanicked)
			panic(p)
		}
	}()
	fnErr = fn()
	out = g.classify(fnErr)
	done = true
	switch {
	case out == Excluded:
		// Counts neither way while closed.
	case out == Success && e.isClean():
		// Nothing to count: the common case.
	default:
		g.count(e, epoch, out, fnErr)
	}
	return fnErr
}

// count hands gobreaker the outcome of a call that ran outside it (see
// doClean), if the breaker is still in the state the call started in.
//
// The state is checked again inside Execute: its beforeRequest may itself
// move an open breaker to half-open (calling OnStateChange, which bumps the
// epoch, under gobreaker's mutex), and a result of the closed state must
// not be taken for that state's probe. It is then excluded, which gives
// the probe's slot back. Like gobreaker, a closed breaker's counts are
// cleared every Interval without a state change; a failure that started
// before such a reset and ends after it is counted in the new interval
// (gobreaker would drop it).
func (g *Group) count(e *entry, epoch uint32, out Outcome, fnErr error) {
	if e.epoch.Load() != epoch {
		return
	}
	seen := e.marks.Load()
	marked := false
	_, err := e.cb.Execute(func() (struct{}, error) {
		switch {
		case e.epoch.Load() != epoch:
			return struct{}{}, errExcluded
		case out == Success:
			return struct{}{}, nil
		}
		e.failing(g.settings.Timeout, fnErr)
		marked = true
		return struct{}{}, errFailure
	})
	switch {
	case marked:
		e.counting.Add(-1) // gobreaker has counted it (see failing)
	case out == Success && err == nil:
		e.cleaned(seen)
	}
	if e.queued.Load() {
		g.deliver(e)
	}
}

// doCounted runs fn inside gobreaker: the breaker is open, half-open, or
// counting a run of failures.
func (g *Group) doCounted(e *entry, fn func() error) error {
	seen := e.marks.Load()
	var (
		fnErr    error
		returned bool // Execute returned: fn neither panicked nor exited
	)
	defer func() {
		if !returned {
			e.counting.Add(-1) // gobreaker has counted the panic (see failing)
			g.abandon(e)
		}
		if e.queued.Load() {
			g.deliver(e)
		}
	}()
	_, err := e.cb.Execute(func() (struct{}, error) {
		ok := false
		defer func() {
			if !ok { // gobreaker counts a panic as a failure
				e.markFailure()
			}
		}()
		fnErr = fn()
		out := g.classify(fnErr)
		ok = true
		switch out {
		case Success:
			return struct{}{}, nil
		case Excluded:
			return struct{}{}, errExcluded
		}
		e.failing(g.settings.Timeout, fnErr)
		return struct{}{}, errFailure
	})
	returned = true
	switch err {
	case nil:
		e.cleaned(seen)
	case gobreaker.ErrOpenState:
		if t := e.tripped.Load(); t != nil {
			return t
		}
		return &e.errOpen
	case gobreaker.ErrTooManyRequests:
		return &e.errBusy
	case errFailure:
		e.counting.Add(-1)
	}
	return fnErr
}

// failing marks a failure about to be counted by gobreaker (the caller
// decrements counting once it is) and prepares the fail-fast error that
// says why the breaker opened and when it probes again, should this failure
// open it: it is in place before gobreaker counts the failure, so before
// the breaker opens.
func (e *entry) failing(timeout time.Duration, fnErr error) {
	e.markFailure()
	e.tripped.Store(&openError{endpoint: e.errOpen.endpoint, cause: gobreaker.ErrOpenState,
		last: fnErr, probeAt: time.Now().Add(timeout)})
}

// markFailure marks a failure that gobreaker is about to count; counting
// stays raised until it has.
func (e *entry) markFailure() {
	e.counting.Add(1)
	e.marks.Add(1)
}

// isClean reports whether calls may run outside gobreaker (see marks).
func (e *entry) isClean() bool { return e.clean.Load() == e.marks.Load() }

// cleaned is called after gobreaker counted a success for a call that read
// marks as seen before it ran. The breaker is clean again if no failure was
// being counted, gobreaker reports it closed with no failure in its run,
// and no failure was marked since seen — checked in that order: a failure
// marked before seen and counted after the state was read would still be
// counting. Any failure marked later leaves marks above the clean value.
func (e *entry) cleaned(seen uint64) {
	if e.clean.Load() == seen || e.counting.Load() != 0 {
		return
	}
	if e.cb.State() != gobreaker.StateClosed || e.cb.Counts().ConsecutiveFailures != 0 {
		return
	}
	if e.marks.Load() == seen {
		e.clean.Store(seen)
	}
}

// State returns endpoint's breaker state, Closed for an endpoint without a
// breaker. Like gobreaker, it performs an open→half-open transition that is
// due (and reports it to OnStateChange). It does not create a breaker nor
// count as a use for MaxEndpoints.
func (g *Group) State(endpoint string) State {
	g.mu.Lock()
	e, ok := g.lru.Peek(endpoint)
	g.mu.Unlock()
	if !ok {
		return Closed
	}
	s := fromGobreaker(e.cb.State())
	if e.queued.Load() {
		g.deliver(e)
	}
	return s
}

// Len returns how many endpoints have a breaker; never more than
// MaxEndpoints.
func (g *Group) Len() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.lru.Len()
}

// breaker returns endpoint's breaker, creating it if needed.
func (g *Group) breaker(endpoint string) *entry {
	// The endpoint of the previous call needs no lock: one identity
	// provider usually serves thousands of tenants in a row. Its place in
	// the LRU order is renewed whenever a call for another endpoint came
	// between, so only calls that changed nothing in that order skip it.
	if e := g.last.Load(); e != nil && e.errOpen.endpoint == endpoint {
		return e
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	e, ok := g.lru.Get(endpoint)
	if !ok {
		e = &entry{
			errOpen: openError{endpoint: endpoint, cause: gobreaker.ErrOpenState},
			errBusy: openError{endpoint: endpoint, cause: gobreaker.ErrTooManyRequests},
		}
		st := g.settings
		st.Name = endpoint
		st.OnStateChange = e.changed
		if g.onChange != nil {
			st.OnStateChange = e.record
		}
		e.cb = gobreaker.NewCircuitBreaker[struct{}](st)
		g.lru.Add(endpoint, e)
	}
	g.last.Store(e)
	return e
}

// abandon handles a call whose fn panicked or exited its goroutine. After a
// panic gobreaker has counted a failure; after runtime.Goexit it has counted
// nothing, and a half-open breaker would keep that probe's slot forever. So
// a breaker found half-open is dropped, if it is still the endpoint's.
func (g *Group) abandon(e *entry) {
	if e.cb.State() != gobreaker.StateHalfOpen {
		return
	}
	g.mu.Lock()
	cur, ok := g.lru.Peek(e.errOpen.endpoint)
	dropped := ok && cur == e
	if dropped {
		g.lru.Remove(e.errOpen.endpoint)
		g.last.CompareAndSwap(e, nil)
	}
	g.mu.Unlock()
	if dropped && g.onChange != nil {
		e.record("", gobreaker.StateHalfOpen, gobreaker.StateClosed)
	}
}

// deliver passes e's recorded transitions to OnStateChange, in order, with
// no lock held. Only one goroutine delivers at a time per breaker; one that
// finds another delivering leaves its transitions to it, so a callback that
// calls back into the Group for the same endpoint does not deadlock.
func (g *Group) deliver(e *entry) {
	e.mu.Lock()
	if e.delivering {
		e.mu.Unlock()
		return
	}
	e.delivering = true
	for len(e.queue) > 0 {
		batch := e.queue
		e.queue = nil
		e.queued.Store(false)
		e.mu.Unlock()
		g.notify(e, batch)
		e.mu.Lock()
	}
	e.delivering = false
	e.mu.Unlock()
}

func (g *Group) notify(e *entry, batch []transition) {
	ok := false
	defer func() {
		if !ok { // the callback panicked: let later transitions through
			e.mu.Lock()
			e.delivering = false
			e.mu.Unlock()
		}
	}()
	for _, t := range batch {
		g.onChange(e.errOpen.endpoint, t.from, t.to)
	}
	ok = true
}

// An entry is one endpoint's breaker.
type entry struct {
	cb *gobreaker.CircuitBreaker[struct{}]

	// The errors returned while open or half-open and busy, made once so
	// that failing fast does not allocate. Both carry the endpoint.
	errOpen, errBusy openError
	// tripped is errOpen with the last failure and the time of the next
	// probe, made at each failure (the slow path).
	tripped atomic.Pointer[openError]

	// The breaker is clean, and calls run outside gobreaker (see doClean),
	// while clean equals marks: it is closed and no failure was counted
	// since its last success. marks only grows, by one for each failure
	// before gobreaker counts it (so a counted failure always leaves the
	// breaker not clean), and counting is raised while a failure is being
	// counted. A success sets clean to the marks it read before it ran,
	// under the conditions of cleaned. The breaker leaves the closed state
	// only through a counted failure, so it is never open or half-open
	// while clean.
	marks, clean atomic.Uint64
	counting     atomic.Int32
	// epoch counts the breaker's state changes, so that the result of a
	// call that ran outside gobreaker is dropped when the state changed
	// meanwhile, as gobreaker drops an earlier generation's results.
	epoch atomic.Uint32

	// queued is set while queue is not empty: Do and State check it without
	// taking mu.
	queued     atomic.Bool
	mu         sync.Mutex // guards queue and delivering
	delivering bool
	queue      []transition
}

type transition struct{ from, to State }

// changed is gobreaker's OnStateChange when the Group has none: it counts
// the change (see epoch).
func (e *entry) changed(string, gobreaker.State, gobreaker.State) { e.epoch.Add(1) }

// record is gobreaker's OnStateChange when the Group has one: it runs under
// gobreaker's mutex, so it only counts the change and queues it for
// deliver.
func (e *entry) record(_ string, from, to gobreaker.State) {
	e.epoch.Add(1)
	e.mu.Lock()
	e.queue = append(e.queue, transition{fromGobreaker(from), fromGobreaker(to)})
	e.queued.Store(true)
	e.mu.Unlock()
}

// openError is the error of a call the breaker rejected.
type openError struct {
	endpoint string
	cause    error // gobreaker.ErrOpenState or gobreaker.ErrTooManyRequests
	// For a breaker that opened on a failure: that failure, and when the
	// breaker lets a probe through. The failure is in the message, not in
	// the chain: errors.Is must not mistake a fail-fast for a 5xx.
	last    error
	probeAt time.Time
}

func (e *openError) Error() string {
	switch {
	case e.cause == gobreaker.ErrTooManyRequests:
		return "tenantauth: circuit breaker open for " + e.endpoint + " (half-open, probes in flight)"
	case e.last != nil:
		return "tenantauth: circuit breaker open for " + e.endpoint + ": failing fast until it probes again at " +
			e.probeAt.Format(time.TimeOnly) + " (Breaker.OpenTimeout); last failure: " + failureText(e.last)
	}
	return "tenantauth: circuit breaker open for " + e.endpoint
}

// Is makes errors.Is(err, ErrOpen) true.
func (e *openError) Is(target error) bool { return target == ErrOpen }

// Unwrap returns gobreaker's error, so errors.Is matches it too.
func (e *openError) Unwrap() error { return e.cause }

// failureText describes the failure that opened a breaker. Every tenant of
// the endpoint sees it, so only texts the library controls are shown: a
// network error (addresses and the syscall), the library's token-endpoint
// error (its own words); a user-written Provider's error could name one
// tenant's user, so it is only named by kind.
func failureText(err error) string {
	var ne net.Error
	var lib interface{ RegisteredCode() bool } // *tenantauth.TokenError
	switch {
	case errors.As(err, &lib), errors.As(err, &ne):
		return err.Error()
	case errors.Is(err, context.DeadlineExceeded):
		return "the token request timed out"
	}
	return "an error from the provider (" + fmt.Sprintf("%T", err) + ")"
}

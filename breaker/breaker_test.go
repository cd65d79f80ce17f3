package breaker_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sony/gobreaker/v2"
	"github.com/tenantauth/tenantauth/breaker"
)

const ep = "https://sso.example.com/realms/acme/protocol/openid-connect/token"

var (
	errDown = errors.New("connection refused")
	errBad  = &tenantFault{status: 400, fault: true}
)

func newGroup(t testing.TB, cfg breaker.Config) *breaker.Group {
	t.Helper()
	g, err := breaker.New(cfg)
	if err != nil {
		t.Fatalf("New(%+v): %v", cfg, err)
	}
	return g
}

// waitState polls State until it reports want. The breaker's clock is
// gobreaker's time.Now, so the open→half-open step is awaited, bounded by a
// deadline; the test asserts on the state reached, never on elapsed time.
func waitState(t *testing.T, g *breaker.Group, endpoint string, want breaker.State) {
	t.Helper()
	if got, ok := pollState(g, endpoint, want); !ok {
		t.Fatalf("State(%q) = %v after 10 s, want %v", endpoint, got, want)
	}
}

// pollState is waitState for goroutines other than the test's.
func pollState(g *breaker.Group, endpoint string, want breaker.State) (breaker.State, bool) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := g.State(endpoint)
		if got == want {
			return got, true
		}
		if time.Now().After(deadline) {
			return got, false
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// recorder collects OnStateChange calls.
type recorder struct {
	mu  sync.Mutex
	log []string
}

func (r *recorder) hook(endpoint string, from, to breaker.State) {
	r.mu.Lock()
	r.log = append(r.log, from.String()+">"+to.String())
	r.mu.Unlock()
}

func (r *recorder) get() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.log...)
}

func fail() error    { return errDown }
func succeed() error { return nil }

func TestStateString(t *testing.T) {
	tests := []struct {
		s    breaker.State
		want string
		gb   gobreaker.State
	}{
		{breaker.Closed, "closed", gobreaker.StateClosed},
		{breaker.HalfOpen, "half-open", gobreaker.StateHalfOpen},
		{breaker.Open, "open", gobreaker.StateOpen},
	}
	for _, tt := range tests {
		if got := tt.s.String(); got != tt.want {
			t.Errorf("%d.String() = %q, want %q", int8(tt.s), got, tt.want)
		}
		if got := tt.gb.String(); got != tt.want { // same names as gobreaker's
			t.Errorf("gobreaker %d.String() = %q, want %q", tt.gb, got, tt.want)
		}
	}
	if got := breaker.State(7).String(); got != "State(7)" {
		t.Errorf("State(7).String() = %q", got)
	}
}

func TestNewConfig(t *testing.T) {
	tests := []struct {
		name    string
		cfg     breaker.Config
		wantErr string
	}{
		{"zero", breaker.Config{}, ""},
		{"all set", breaker.Config{MaxEndpoints: 1, ConsecutiveFailures: 1, Interval: time.Second, OpenTimeout: time.Second, HalfOpenRequests: 3}, ""},
		{"negative MaxEndpoints", breaker.Config{MaxEndpoints: -1}, "MaxEndpoints"},
		{"negative Interval", breaker.Config{Interval: -time.Second}, "Interval"},
		{"negative OpenTimeout", breaker.Config{OpenTimeout: -1}, "OpenTimeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, err := breaker.New(tt.cfg)
			if tt.wantErr == "" {
				if err != nil || g == nil {
					t.Fatalf("New = %v, %v; want a Group", g, err)
				}
				return
			}
			if err == nil || g != nil {
				t.Fatalf("New = %v, %v; want an error", g, err)
			}
			if msg := err.Error(); !strings.HasPrefix(msg, "tenantauth: breaker: ") || !strings.Contains(msg, tt.wantErr) {
				t.Errorf("error %q: want prefix %q and %q in it", msg, "tenantauth: breaker: ", tt.wantErr)
			}
		})
	}
}

// Trips after exactly ConsecutiveFailures failures, then fails fast without
// calling fn.
func TestTripsAndFailsFast(t *testing.T) {
	tests := []struct {
		name     string
		failures uint32
		want     int // failures that trip it
	}{
		{"one", 1, 1},
		{"three", 3, 3},
		{"default five", 0, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			g := newGroup(t, breaker.Config{ConsecutiveFailures: tt.failures, OpenTimeout: time.Hour, OnStateChange: rec.hook})
			var calls int
			for i := 1; i <= tt.want; i++ {
				if s := g.State(ep); s != breaker.Closed {
					t.Fatalf("after %d failures: %v, want closed", i-1, s)
				}
				err := g.Do(ep, func() error { calls++; return errDown })
				if err != errDown {
					t.Fatalf("failure %d: Do = %v, want fn's error unchanged", i, err)
				}
			}
			if s := g.State(ep); s != breaker.Open {
				t.Fatalf("after %d failures: %v, want open", tt.want, s)
			}
			for i := 0; i < 100; i++ {
				err := g.Do(ep, func() error { calls++; return nil })
				if !errors.Is(err, breaker.ErrOpen) || !errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests) {
					t.Fatalf("open: Do = %v; want ErrOpen and gobreaker.ErrOpenState", err)
				}
			}
			if calls != tt.want {
				t.Errorf("fn called %d times, want %d (none while open)", calls, tt.want)
			}
			if got, want := rec.get(), []string{"closed>open"}; !equal(got, want) {
				t.Errorf("transitions %v, want %v", got, want)
			}
		})
	}
}

// A success in between resets the run of failures.
func TestSuccessResetsRun(t *testing.T) {
	g := newGroup(t, breaker.Config{ConsecutiveFailures: 3, OpenTimeout: time.Hour})
	for i := 0; i < 50; i++ {
		g.Do(ep, fail)
		g.Do(ep, fail)
		if err := g.Do(ep, succeed); err != nil {
			t.Fatalf("round %d: Do = %v", i, err)
		}
	}
	if s := g.State(ep); s != breaker.Closed {
		t.Fatalf("State = %v, want closed", s)
	}
}

// Interval makes a closed breaker forget its counts. The loop only makes sure
// at least two Intervals have passed; it asserts nothing about time.
func TestIntervalResetsCounts(t *testing.T) {
	const interval = time.Millisecond
	g := newGroup(t, breaker.Config{ConsecutiveFailures: 3, Interval: interval, OpenTimeout: time.Hour})
	for i := 0; i < 5; i++ {
		g.Do(ep, fail)
		g.Do(ep, fail)
		for t0 := time.Now(); time.Since(t0) <= 2*interval; {
			runtime.Gosched()
		}
	}
	if s := g.State(ep); s != breaker.Closed {
		t.Fatalf("State = %v, want closed: counts were not reset", s)
	}
}

// Excluded errors count neither way: they never trip the breaker, nor do
// they break a run of failures.
func TestExcludedNeverTrips(t *testing.T) {
	tests := []struct {
		name string
		err  error
	}{
		{"tenant fault", errBad},
		{"wrapped tenant fault", fmt.Errorf("fetch: %w", errBad)},
		{"canceled", context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newGroup(t, breaker.Config{ConsecutiveFailures: 2, OpenTimeout: time.Hour})
			for i := 0; i < 1000; i++ {
				if err := g.Do(ep, func() error { return tt.err }); err != tt.err {
					t.Fatalf("call %d: Do = %v, want fn's error unchanged", i, err)
				}
			}
			if s := g.State(ep); s != breaker.Closed {
				t.Fatalf("after 1000 excluded errors: %v, want closed", s)
			}
			// Excluded calls between failures do not reset the run.
			g.Do(ep, fail)
			g.Do(ep, func() error { return tt.err })
			g.Do(ep, fail)
			if s := g.State(ep); s != breaker.Open {
				t.Fatalf("failure, excluded, failure: %v, want open", s)
			}
		})
	}
}

func TestOtherEndpointsUnaffected(t *testing.T) {
	g := newGroup(t, breaker.Config{ConsecutiveFailures: 1, OpenTimeout: time.Hour})
	const a, b = "https://a.example.com/oauth/token", "https://b.example.com/oauth/token"
	g.Do(a, fail)
	if s := g.State(a); s != breaker.Open {
		t.Fatalf("State(a) = %v, want open", s)
	}
	called := false
	if err := g.Do(b, func() error { called = true; return nil }); err != nil || !called {
		t.Fatalf("Do(b) = %v, called %v; want nil, true", err, called)
	}
	if s := g.State(b); s != breaker.Closed {
		t.Fatalf("State(b) = %v, want closed", s)
	}
	if err := g.Do(a, succeed); !errors.Is(err, breaker.ErrOpen) {
		t.Fatalf("Do(a) = %v, want ErrOpen", err)
	}
}

func TestFnErrorUnchangedAndClassifiedOnce(t *testing.T) {
	var classified atomic.Int32
	g := newGroup(t, breaker.Config{ConsecutiveFailures: 1000, Classify: func(err error) breaker.Outcome {
		classified.Add(1)
		return breaker.Classify(err)
	}})
	errs := []error{nil, errDown, errBad, context.Canceled, context.DeadlineExceeded, fmt.Errorf("x: %w", errBad)}
	for _, want := range errs {
		if got := g.Do(ep, func() error { return want }); got != want {
			t.Errorf("Do = %v, want %v (the same value)", got, want)
		}
	}
	if n := classified.Load(); n != int32(len(errs)) {
		t.Errorf("Classify called %d times for %d calls, want once per call", n, len(errs))
	}
}

func TestCustomClassify(t *testing.T) {
	tests := []struct {
		name     string
		outcome  breaker.Outcome
		wantOpen bool
	}{
		{"everything excluded", breaker.Excluded, false},
		{"everything success", breaker.Success, false},
		{"everything failure", breaker.Failure, true},
		{"unknown outcome counts as failure", breaker.Outcome(42), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newGroup(t, breaker.Config{ConsecutiveFailures: 3, OpenTimeout: time.Hour,
				Classify: func(error) breaker.Outcome { return tt.outcome }})
			for i := 0; i < 3; i++ {
				g.Do(ep, fail)
			}
			if got := g.State(ep) == breaker.Open; got != tt.wantOpen {
				t.Errorf("open = %v, want %v", got, tt.wantOpen)
			}
		})
	}
}

func TestOpenErrorMessage(t *testing.T) {
	g := newGroup(t, breaker.Config{ConsecutiveFailures: 1, OpenTimeout: time.Hour})
	g.Do(ep, fail)
	err := g.Do(ep, succeed)
	if err == nil {
		t.Fatal("Do = nil, want the open error")
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "tenantauth: circuit breaker open") || !strings.Contains(msg, ep) {
		t.Errorf("message %q: want the ErrOpen prefix and the endpoint", msg)
	}
	wrapped := fmt.Errorf("tenantauth: tenant acme: %w", err)
	if !errors.Is(wrapped, breaker.ErrOpen) || !errors.Is(wrapped, gobreaker.ErrOpenState) {
		t.Errorf("wrapped %v does not match ErrOpen and gobreaker.ErrOpenState", wrapped)
	}
	if errors.Is(errDown, breaker.ErrOpen) {
		t.Error("an unrelated error matches ErrOpen")
	}
}

func TestNilFunc(t *testing.T) {
	g := newGroup(t, breaker.Config{ConsecutiveFailures: 1})
	err := g.Do(ep, nil)
	if err == nil || errors.Is(err, breaker.ErrOpen) {
		t.Fatalf("Do(nil) = %v, want an error other than ErrOpen", err)
	}
	if g.Len() != 0 || g.State(ep) != breaker.Closed {
		t.Errorf("Do(nil) touched the breaker: Len %d, State %v", g.Len(), g.State(ep))
	}
}

// probe runs fn through Do in a goroutine that signals when fn has started;
// fn then waits for release and returns result.
type probe struct {
	started chan struct{}
	release chan error
	done    chan error
}

func startProbe(g *breaker.Group, calls *atomic.Int32) *probe {
	p := &probe{started: make(chan struct{}), release: make(chan error), done: make(chan error, 1)}
	go func() {
		p.done <- g.Do(ep, func() error {
			calls.Add(1)
			close(p.started)
			return <-p.release
		})
	}()
	return p
}

func TestHalfOpen(t *testing.T) {
	tests := []struct {
		name    string
		probes  uint32
		results []error // what the probes return, in this order
		want    []string
	}{
		{"one probe succeeds", 1, []error{nil}, []string{"closed>open", "open>half-open", "half-open>closed"}},
		{"three probes succeed", 3, []error{nil, nil, nil}, []string{"closed>open", "open>half-open", "half-open>closed"}},
		{"one probe fails", 1, []error{errDown}, []string{"closed>open", "open>half-open", "half-open>open"}},
		{"first of three fails", 3, []error{errDown, nil, nil}, []string{"closed>open", "open>half-open", "half-open>open"}},
		{"last of three fails", 3, []error{nil, nil, errDown}, []string{"closed>open", "open>half-open", "half-open>open"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			g := newGroup(t, breaker.Config{ConsecutiveFailures: 1, OpenTimeout: time.Millisecond,
				HalfOpenRequests: tt.probes, OnStateChange: rec.hook})
			g.Do(ep, fail)
			waitState(t, g, ep, breaker.HalfOpen)

			var calls atomic.Int32
			probes := make([]*probe, tt.probes)
			for i := range probes {
				probes[i] = startProbe(g, &calls)
				<-probes[i].started
			}
			// All probe slots are taken: the next call fails fast.
			extra := false
			err := g.Do(ep, func() error { extra = true; return nil })
			if extra || !errors.Is(err, breaker.ErrOpen) || !errors.Is(err, gobreaker.ErrTooManyRequests) || errors.Is(err, gobreaker.ErrOpenState) {
				t.Fatalf("call beyond %d probes: Do = %v, fn called %v; want ErrOpen and ErrTooManyRequests", tt.probes, err, extra)
			}
			if !strings.Contains(err.Error(), ep) {
				t.Errorf("message %q lacks the endpoint", err)
			}
			for i, p := range probes {
				p.release <- tt.results[i]
				if got := <-p.done; got != tt.results[i] {
					t.Errorf("probe %d: Do = %v, want %v", i, got, tt.results[i])
				}
			}
			if n := calls.Load(); n != int32(tt.probes) {
				t.Errorf("%d probes ran, want %d", n, tt.probes)
			}
			got := rec.get()
			if tt.want[2] == "half-open>open" && len(got) > 3 {
				// Reopened with a 1 ms timeout: the probes still returning
				// may already see it half-open again.
				got = got[:3]
			}
			if !equal(got, tt.want) {
				t.Errorf("transitions %v, want %v", rec.get(), tt.want)
			}
			if tt.want[2] == "half-open>closed" {
				if s := g.State(ep); s != breaker.Closed {
					t.Errorf("State = %v, want closed", s)
				}
			}
		})
	}
}

// In half-open, an excluded probe (a tenant's bad credentials) neither
// closes nor reopens the breaker, and frees its slot for the next probe
// (gobreaker v2.4.0 subtracts exclusions from the requests in flight).
func TestHalfOpenExcludedProbe(t *testing.T) {
	rec := &recorder{}
	g := newGroup(t, breaker.Config{ConsecutiveFailures: 1, OpenTimeout: time.Millisecond, OnStateChange: rec.hook})
	g.Do(ep, fail)
	waitState(t, g, ep, breaker.HalfOpen)
	for i := 0; i < 10; i++ {
		called := false
		if err := g.Do(ep, func() error { called = true; return errBad }); err != errBad || !called {
			t.Fatalf("excluded probe %d: Do = %v, called %v; want errBad, true", i, err, called)
		}
		if s := g.State(ep); s != breaker.HalfOpen {
			t.Fatalf("after excluded probe %d: %v, want half-open", i, s)
		}
	}
	if err := g.Do(ep, succeed); err != nil {
		t.Fatalf("probe: Do = %v", err)
	}
	want := []string{"closed>open", "open>half-open", "half-open>closed"}
	if got := rec.get(); !equal(got, want) {
		t.Errorf("transitions %v, want %v", got, want)
	}
}

func TestOnStateChangeSequence(t *testing.T) {
	var (
		mu       sync.Mutex
		log      []string
		g        *breaker.Group
		seenOpen atomic.Bool
	)
	hook := func(endpoint string, from, to breaker.State) {
		if endpoint != ep {
			t.Errorf("hook endpoint %q, want %q", endpoint, ep)
		}
		// Calling back into the Group must not deadlock.
		s := g.State(endpoint)
		_ = g.Len()
		_ = g.Do("https://other.example.com/token", succeed)
		mu.Lock()
		log = append(log, fmt.Sprintf("%v>%v (State %v)", from, to, s))
		mu.Unlock()
		if to == breaker.Open {
			seenOpen.Store(true)
		}
	}
	var err error
	g, err = breaker.New(breaker.Config{ConsecutiveFailures: 2, OpenTimeout: time.Millisecond, OnStateChange: hook})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		g.Do(ep, fail)
		g.Do(ep, fail)
		if got, ok := pollState(g, ep, breaker.HalfOpen); !ok {
			t.Errorf("State = %v, never half-open", got)
			return
		}
		g.Do(ep, succeed)
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("deadlock: OnStateChange calling back into the Group did not return")
	}
	mu.Lock()
	defer mu.Unlock()
	// Inside the closed→open callback, State may already report half-open
	// (1 ms timeout): the transition it performs is then delivered after the
	// callback returns, still in order.
	if len(log) != 3 ||
		!(log[0] == "closed>open (State open)" || log[0] == "closed>open (State half-open)") ||
		log[1] != "open>half-open (State half-open)" ||
		log[2] != "half-open>closed (State closed)" {
		t.Errorf("transitions %q, want closed>open, open>half-open, half-open>closed", log)
	}
	if !seenOpen.Load() {
		t.Error("hook never saw open")
	}
}

// The callback may call Do for its own endpoint: the breaker's mutex is not
// held, so the call fails fast instead of deadlocking.
func TestOnStateChangeReentrantDo(t *testing.T) {
	var (
		g     *breaker.Group
		inner error
	)
	hook := func(endpoint string, from, to breaker.State) {
		if to == breaker.Open {
			inner = g.Do(endpoint, succeed)
		}
	}
	g = newGroup(t, breaker.Config{ConsecutiveFailures: 1, OpenTimeout: time.Hour, OnStateChange: hook})
	done := make(chan struct{})
	go func() { defer close(done); g.Do(ep, fail) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("deadlock")
	}
	if !errors.Is(inner, breaker.ErrOpen) {
		t.Errorf("Do from the callback = %v, want ErrOpen", inner)
	}
}

// A panicking callback does not stop later transitions from being delivered.
func TestOnStateChangePanics(t *testing.T) {
	var calls atomic.Int32
	hook := func(endpoint string, from, to breaker.State) {
		if calls.Add(1) == 1 {
			panic("hook")
		}
	}
	g := newGroup(t, breaker.Config{ConsecutiveFailures: 1, OpenTimeout: time.Millisecond, OnStateChange: hook})
	func() {
		defer func() {
			if r := recover(); r != "hook" {
				t.Errorf("recovered %v, want the hook's panic", r)
			}
		}()
		g.Do(ep, fail)
	}()
	waitState(t, g, ep, breaker.HalfOpen)
	if n := calls.Load(); n != 2 {
		t.Errorf("hook called %d times, want 2 (closed>open, open>half-open)", n)
	}
}

func TestPanicCountsAsFailureAndPropagates(t *testing.T) {
	var classified atomic.Int32
	g := newGroup(t, breaker.Config{ConsecutiveFailures: 1, OpenTimeout: time.Hour,
		// Even a classifier that excludes everything cannot excuse a panic.
		Classify: func(error) breaker.Outcome { classified.Add(1); return breaker.Excluded }})
	func() {
		defer func() {
			if r := recover(); r != "boom" {
				t.Errorf("recovered %v, want boom", r)
			}
		}()
		g.Do(ep, func() error { panic("boom") })
		t.Error("Do returned after fn panicked")
	}()
	if s := g.State(ep); s != breaker.Open {
		t.Errorf("State = %v, want open: a panic counts as a failure", s)
	}
	if n := classified.Load(); n != 0 {
		t.Errorf("Classify called %d times for a panic", n)
	}
}

// runtime.Goexit in fn (t.FailNow does it) leaves gobreaker without an
// outcome. In half-open that would reject every later call; Do drops the
// breaker instead.
func TestGoexit(t *testing.T) {
	goexit := func(g *breaker.Group) {
		done := make(chan struct{})
		go func() {
			defer close(done)
			g.Do(ep, func() error { runtime.Goexit(); return nil })
		}()
		<-done
	}
	t.Run("half-open", func(t *testing.T) {
		rec := &recorder{}
		g := newGroup(t, breaker.Config{ConsecutiveFailures: 1, OpenTimeout: time.Millisecond, OnStateChange: rec.hook})
		g.Do(ep, fail)
		waitState(t, g, ep, breaker.HalfOpen)
		goexit(g)
		called := false
		if err := g.Do(ep, func() error { called = true; return nil }); err != nil || !called {
			t.Fatalf("after Goexit: Do = %v, called %v; want nil, true", err, called)
		}
		want := []string{"closed>open", "open>half-open", "half-open>closed"}
		if got := rec.get(); !equal(got, want) {
			t.Errorf("transitions %v, want %v", got, want)
		}
	})
	t.Run("clean", func(t *testing.T) {
		// Outside gobreaker (no failure yet): nothing was taken from it,
		// nothing is counted.
		g := newGroup(t, breaker.Config{ConsecutiveFailures: 1, OpenTimeout: time.Hour})
		goexit(g)
		called := false
		if err := g.Do(ep, func() error { called = true; return nil }); err != nil || !called {
			t.Fatalf("after Goexit: Do = %v, called %v; want nil, true", err, called)
		}
		if s := g.State(ep); s != breaker.Closed {
			t.Errorf("State = %v, want closed", s)
		}
	})
	t.Run("closed", func(t *testing.T) {
		g := newGroup(t, breaker.Config{ConsecutiveFailures: 2, OpenTimeout: time.Hour})
		g.Do(ep, fail)
		goexit(g) // counts neither way; the breaker and its count are kept
		g.Do(ep, fail)
		if s := g.State(ep); s != breaker.Open {
			t.Errorf("State = %v, want open", s)
		}
	})
}

func TestMaxEndpoints(t *testing.T) {
	for _, max := range []int{1, 8, 100} {
		t.Run(fmt.Sprint(max), func(t *testing.T) {
			g := newGroup(t, breaker.Config{MaxEndpoints: max})
			for i := 0; i < 300; i++ {
				g.Do(fmt.Sprintf("https://host%d.example.com/oauth/token", i), succeed)
				if n := g.Len(); n > max {
					t.Fatalf("Len = %d after %d endpoints, MaxEndpoints %d", n, i+1, max)
				}
			}
			if n := g.Len(); n != max {
				t.Errorf("Len = %d, want %d", n, max)
			}
		})
	}
}

// The least recently used breaker is dropped, and its state with it.
func TestMaxEndpointsEvictsLeastRecentlyUsed(t *testing.T) {
	g := newGroup(t, breaker.Config{MaxEndpoints: 2, ConsecutiveFailures: 1, OpenTimeout: time.Hour})
	g.Do("a", fail) // a open
	g.Do("b", succeed)
	if err := g.Do("a", succeed); !errors.Is(err, breaker.ErrOpen) { // a used again: b is now the oldest
		t.Fatalf("Do(a) = %v, want ErrOpen", err)
	}
	g.Do("c", succeed) // drops b
	if s := g.State("a"); s != breaker.Open {
		t.Fatalf("State(a) = %v, want open (recently used, kept)", s)
	}
	g.Do("d", succeed) // drops a (State does not count as a use)
	if s := g.State("a"); s != breaker.Closed {
		t.Fatalf("State(a) = %v, want closed (dropped)", s)
	}
	if n := g.Len(); n != 2 {
		t.Errorf("Len = %d, want 2", n)
	}
}

func TestUnknownEndpoint(t *testing.T) {
	g := newGroup(t, breaker.Config{})
	if s := g.State("nowhere"); s != breaker.Closed {
		t.Errorf("State = %v, want closed", s)
	}
	if n := g.Len(); n != 0 {
		t.Errorf("Len = %d after State: State must not create a breaker", n)
	}
}

// 64 goroutines, mixed endpoints and outcomes, under -race. Checks that
// every call either ran fn and got its error back or failed fast with
// ErrOpen, that Len stays bounded, and that each endpoint's transitions form
// one chain delivered one at a time.
func TestConcurrent(t *testing.T) {
	for _, tc := range []struct {
		name         string
		maxEndpoints int
		endpoints    int
	}{
		{"no eviction", 64, 16},
		{"eviction", 4, 16},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := runtime.NumGoroutine()
			var (
				mu       sync.Mutex
				chains   = map[string][]breaker.State{}
				inHook   sync.Map // endpoint → *atomic.Int32
				overlaps atomic.Int32
			)
			hook := func(endpoint string, from, to breaker.State) {
				v, _ := inHook.LoadOrStore(endpoint, new(atomic.Int32))
				n := v.(*atomic.Int32)
				if n.Add(1) > 1 && tc.maxEndpoints >= tc.endpoints {
					overlaps.Add(1)
				}
				mu.Lock()
				c := chains[endpoint]
				if len(c) == 0 {
					c = append(c, from)
				}
				chains[endpoint] = append(c, to)
				mu.Unlock()
				n.Add(-1)
			}
			var g *breaker.Group //lint:ignore S1021 hook, built above, refers to g
			g = newGroup(t, breaker.Config{MaxEndpoints: tc.maxEndpoints, ConsecutiveFailures: 3,
				OpenTimeout: time.Millisecond, HalfOpenRequests: 2, OnStateChange: hook})
			const goroutines, perG = 64, 300
			var (
				wg               sync.WaitGroup
				ran, rejected    atomic.Int32
				wrong            atomic.Int32
				maxLen           atomic.Int32
				outcomes         = []error{nil, errDown, errBad, context.Canceled, errDown, nil}
				endpointsByIndex = make([]string, tc.endpoints)
			)
			for i := range endpointsByIndex {
				endpointsByIndex[i] = fmt.Sprintf("https://host%d.example.com/oauth/token", i)
			}
			for w := 0; w < goroutines; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; i < perG; i++ {
						idx := (w*7 + i) % len(endpointsByIndex)
						endpoint := endpointsByIndex[idx]
						want := outcomes[(w+i)%len(outcomes)]
						switch {
						case idx%4 == 0: // down
							want = errDown
						case idx%4 == 1 && i < perG/2: // down, then recovers
							want = errDown
						}
						if i%10 == 0 {
							g.State(endpoint)
						}
						var called bool
						err := g.Do(endpoint, func() error { called = true; ran.Add(1); return want })
						switch {
						case called && err == want:
						case !called && errors.Is(err, breaker.ErrOpen):
							rejected.Add(1)
						default:
							wrong.Add(1)
						}
						if n := int32(g.Len()); n > maxLen.Load() {
							maxLen.Store(n) // racy max, but any value > bound is reported
						}
					}
				}()
			}
			wg.Wait()
			if n := wrong.Load(); n != 0 {
				t.Errorf("%d calls returned neither fn's error nor ErrOpen", n)
			}
			if got := ran.Load() + rejected.Load(); got != goroutines*perG {
				t.Errorf("ran %d + rejected %d != %d calls", ran.Load(), rejected.Load(), goroutines*perG)
			}
			if n := maxLen.Load(); n > int32(tc.maxEndpoints) {
				t.Errorf("Len reached %d, MaxEndpoints %d", n, tc.maxEndpoints)
			}
			if n := overlaps.Load(); n != 0 {
				t.Errorf("OnStateChange ran concurrently for one endpoint %d times", n)
			}
			if tc.maxEndpoints >= tc.endpoints { // no breaker was recreated: one chain each
				mu.Lock()
				trips := 0
				for endpoint, c := range chains {
					if c[0] != breaker.Closed {
						t.Errorf("%s: chain starts at %v", endpoint, c[0])
					}
					for i := 1; i < len(c); i++ {
						if c[i] == c[i-1] {
							t.Errorf("%s: transition %v>%v", endpoint, c[i-1], c[i])
						}
						if c[i] == breaker.Open {
							trips++
						}
					}
				}
				mu.Unlock()
				if trips == 0 || rejected.Load() == 0 {
					t.Errorf("trips %d, rejected %d: the load never opened a breaker", trips, rejected.Load())
				}
				t.Logf("ran %d, rejected %d, trips %d", ran.Load(), rejected.Load(), trips)
			}
			// The package starts no goroutines: none may be left behind.
			deadline := time.Now().Add(5 * time.Second)
			for runtime.NumGoroutine() > before {
				if time.Now().After(deadline) {
					t.Fatalf("goroutines: %d before, %d after", before, runtime.NumGoroutine())
				}
				runtime.Gosched()
			}
		})
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func BenchmarkDo(b *testing.B) {
	g := newGroup(b, breaker.Config{})
	b.ReportAllocs()
	for b.Loop() {
		if err := g.Do(ep, succeed); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDoOpen(b *testing.B) {
	g := newGroup(b, breaker.Config{ConsecutiveFailures: 1, OpenTimeout: time.Hour})
	g.Do(ep, fail)
	b.ReportAllocs()
	for b.Loop() {
		if err := g.Do(ep, succeed); err == nil {
			b.Fatal("breaker not open")
		}
	}
}

func BenchmarkDoParallel(b *testing.B) {
	g := newGroup(b, breaker.Config{})
	endpoints := make([]string, 64)
	for i := range endpoints {
		endpoints[i] = fmt.Sprintf("https://host%d.example.com/oauth/token", i)
	}
	b.ReportAllocs()
	var next atomic.Int32
	b.RunParallel(func(pb *testing.PB) {
		i := int(next.Add(1))
		for pb.Next() {
			i++
			g.Do(endpoints[i%len(endpoints)], succeed)
		}
	})
}

// A closed breaker runs calls outside gobreaker until one fails (see
// doClean); the failures and successes of those calls must count exactly as
// they would inside it. The sequence alternates between the clean path and
// the counted one: a success after failures ends their run, and only an
// unbroken run opens the breaker.
func TestCleanPathCountsLikeGobreaker(t *testing.T) {
	g := newGroup(t, breaker.Config{ConsecutiveFailures: 3, OpenTimeout: time.Hour})
	for round := 0; round < 20; round++ {
		for i := 0; i < 10; i++ {
			if err := g.Do(ep, succeed); err != nil {
				t.Fatalf("round %d: Do(succeed) = %v", round, err)
			}
		}
		g.Do(ep, fail)
		g.Do(ep, fail)
		if err := g.Do(ep, succeed); err != nil { // ends the run of two
			t.Fatalf("round %d: Do(succeed) after two failures = %v", round, err)
		}
		if s := g.State(ep); s != breaker.Closed {
			t.Fatalf("round %d: State = %v, want closed", round, s)
		}
	}
	g.Do(ep, fail)
	g.Do(ep, fail)
	g.Do(ep, fail)
	if s := g.State(ep); s != breaker.Open {
		t.Fatalf("State = %v after three failures in a row, want open", s)
	}
}

// A call that started while the breaker was closed and ends after it
// opened and went half-open belongs to an earlier state: its result must
// neither reopen the half-open breaker (a failure) nor close it (a
// success), as gobreaker ignores an earlier generation's results. Either
// way the probe slot stays free for a call of the half-open state.
//
// In the "unobserved" cases nothing asks for the state before the late
// result arrives: the open→half-open step then happens inside gobreaker as
// the result is handed to it, and must still not take it for the probe.
// The sleep only makes sure the open timeout has passed; nothing is
// asserted about time.
func TestLateResultOfEarlierStateIgnored(t *testing.T) {
	for _, late := range []struct {
		name     string
		fn       func() error
		observed bool
	}{{"failure", fail, true}, {"success", succeed, true}, {"failure unobserved", fail, false}, {"success unobserved", succeed, false}} {
		t.Run(late.name, func(t *testing.T) {
			rec := &recorder{}
			g := newGroup(t, breaker.Config{ConsecutiveFailures: 2, OpenTimeout: time.Millisecond, OnStateChange: rec.hook})
			started, release := make(chan struct{}), make(chan struct{})
			done := make(chan error)
			go func() {
				done <- g.Do(ep, func() error {
					close(started)
					<-release
					return late.fn()
				})
			}()
			<-started
			g.Do(ep, fail)
			g.Do(ep, fail)
			if late.observed {
				waitState(t, g, ep, breaker.HalfOpen)
			} else {
				time.Sleep(5 * time.Millisecond) // > OpenTimeout
			}
			close(release)
			<-done
			if s := g.State(ep); s != breaker.HalfOpen {
				t.Fatalf("State = %v after a late %s, want half-open", s, late.name)
			}
			called := false
			if err := g.Do(ep, func() error { called = true; return nil }); err != nil || !called {
				t.Fatalf("probe: Do = %v, called %v; want nil, true", err, called)
			}
			want := []string{"closed>open", "open>half-open", "half-open>closed"}
			if got := rec.get(); !equal(got, want) {
				t.Errorf("transitions %v, want %v", got, want)
			}
		})
	}
}

// Successes that run concurrently with the failure that opens a breaker
// must not let later calls skip it: goroutines succeed without pause while
// the test fails the endpoint once (ConsecutiveFailures 1); once every
// goroutine has been refused, no call may reach fn while the breaker is
// open. Run under -race.
func TestCleanPathRacesFailures(t *testing.T) {
	for round := 0; round < 50; round++ {
		g := newGroup(t, breaker.Config{ConsecutiveFailures: 1, OpenTimeout: time.Hour})
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 1_000_000; i++ {
					if err := g.Do(ep, succeed); errors.Is(err, breaker.ErrOpen) {
						return
					}
				}
				t.Error("a goroutine was never refused")
			}()
		}
		g.Do(ep, fail)
		wg.Wait()
		var ran atomic.Int32
		for range 1000 {
			g.Do(ep, func() error { ran.Add(1); return nil })
		}
		if n := ran.Load(); n != 0 {
			t.Fatalf("round %d: %d calls ran while the breaker was open (State %v)", round, n, g.State(ep))
		}
	}
}

package admission

import (
	"context"
	"errors"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const ep = "https://sso.example.com/realms/acme/protocol/openid-connect/token"

// round acquires n slots (which must be free) and releases them all with
// outcome.
func round(t *testing.T, g *Group, n int, outcome Outcome, latency time.Duration) {
	t.Helper()
	ps := make([]*Permit, n)
	for i := range ps {
		ps[i] = mustAcquire(t, g, ep)
	}
	for _, p := range ps {
		p.Release(outcome, latency, 0)
	}
}

func TestLimitGrowsOnSuccessUpToMax(t *testing.T) {
	g, _ := newTestGroup(t, Config{InitialLimit: 4, MaxLimit: 12})
	prev := 4
	for i := 0; i < 200; i++ {
		lim := g.Stats(ep).Limit
		if lim == 0 {
			lim = 4
		}
		round(t, g, lim, Success, 100*time.Millisecond)
		got := g.Stats(ep).Limit
		if got < prev || got > 12 {
			t.Fatalf("round %d: limit %d after %d (max 12)", i, got, prev)
		}
		if got > prev+1 {
			t.Fatalf("round %d: limit jumped from %d to %d in one round trip", i, prev, got)
		}
		prev = got
	}
	if prev != 12 {
		t.Fatalf("limit %d after 200 full rounds of successes, want MaxLimit 12", prev)
	}
}

func TestLimitDoesNotGrowWhenNotUsed(t *testing.T) {
	g, _ := newTestGroup(t, Config{})
	for i := 0; i < 1000; i++ {
		round(t, g, 1, Success, 100*time.Millisecond) // one request at a time
	}
	if got := g.Stats(ep).Limit; got != DefaultInitialLimit {
		t.Fatalf("limit %d after 1000 sequential successes, want %d: an unused limit must not grow", got, DefaultInitialLimit)
	}
}

func TestBurstOfOverloadsBacksOffOnce(t *testing.T) {
	g, _ := newTestGroup(t, Config{InitialLimit: 16, MinLimit: 2})
	round(t, g, 16, Overload, 0) // 16 simultaneous 503s
	s := g.Stats(ep)
	if s.Limit != 12 || s.Backoffs != 1 || s.Overloads != 16 {
		t.Fatalf("after a burst of 16 overloads: %+v, want Limit 12 (16*0.75), Backoffs 1, Overloads 16", s)
	}

	// The next round trip (permits granted after the cut) may cut again,
	// once.
	round(t, g, 12, Overload, 0)
	if s := g.Stats(ep); s.Limit != 9 || s.Backoffs != 2 {
		t.Fatalf("after the second burst: %+v, want Limit 9, Backoffs 2", s)
	}

	// Never below MinLimit.
	for i := 0; i < 20; i++ {
		round(t, g, g.Stats(ep).Limit, Overload, 0)
		if got := g.Stats(ep).Limit; got < 2 {
			t.Fatalf("limit %d below MinLimit 2", got)
		}
	}
	if got := g.Stats(ep).Limit; got != 2 {
		t.Fatalf("limit %d after 20 rounds of overloads, want MinLimit 2", got)
	}
	// Small limits still take at least one off per cut.
	g2, _ := newTestGroup(t, Config{InitialLimit: 3})
	p := mustAcquire(t, g2, ep)
	p.Release(Overload, 0, 0)
	if got := g2.Stats(ep).Limit; got != 2 {
		t.Fatalf("3 after an overload: %d, want 2", got)
	}
}

func TestSuccessGrantedBeforeCutDoesNotGrow(t *testing.T) {
	g, _ := newTestGroup(t, Config{InitialLimit: 8})
	ps := make([]*Permit, 8)
	for i := range ps {
		ps[i] = mustAcquire(t, g, ep)
	}
	ps[0].Release(Overload, 0, 0)
	for _, p := range ps[1:] {
		p.Release(Success, 100*time.Millisecond, 0)
	}
	if got := g.Stats(ep).Limit; got != 6 {
		t.Fatalf("limit %d, want 6: successes sent before the cut must not undo it", got)
	}
}

func TestLatencyGuardStopsGrowth(t *testing.T) {
	g, _ := newTestGroup(t, Config{InitialLimit: 4})
	round(t, g, 4, Success, 100*time.Millisecond) // baseline 100 ms
	before := g.Stats(ep).Limit
	for i := 0; i < 20; i++ {
		round(t, g, before, Success, 350*time.Millisecond) // queueing: 3.5x the baseline
	}
	if got := g.Stats(ep).Limit; got != before {
		t.Fatalf("limit grew from %d to %d on successes 3.5x slower than the baseline", before, got)
	}
	for i := 0; i < 5; i++ {
		round(t, g, g.Stats(ep).Limit, Success, 150*time.Millisecond) // within 2x
	}
	if got := g.Stats(ep).Limit; got <= before {
		t.Fatalf("limit %d did not grow on successes within twice the baseline", got)
	}
}

func TestFailureAndIgnoreKeepLimit(t *testing.T) {
	g, _ := newTestGroup(t, Config{InitialLimit: 8})
	for i := 0; i < 10; i++ {
		round(t, g, 8, Failure, 0)
		round(t, g, 8, Ignore, 0)
	}
	if s := g.Stats(ep); s.Limit != 8 || s.Backoffs != 0 || s.InFlight != 0 {
		t.Fatalf("%+v: Failure and Ignore must change nothing but free the slot", s)
	}
}

func TestLimitBelowInFlightBlocksGrants(t *testing.T) {
	g, _ := newTestGroup(t, Config{InitialLimit: 8})
	ps := make([]*Permit, 8)
	for i := range ps {
		ps[i] = mustAcquire(t, g, ep)
	}
	ps[0].Release(Overload, 0, 0) // limit 8 -> 6 with 7 in flight
	out := make(chan result, 1)
	acquireAsync(t, g, context.Background(), ep, "a", Foreground, 1, out)
	ps[1].Release(Ignore, 0, 0) // 6 in flight: still full
	if s := g.Stats(ep); s.Limit != 6 || s.InFlight != 6 || s.Queued != 1 {
		t.Fatalf("%+v: want Limit 6, InFlight 6, Queued 1", s)
	}
	ps[2].Release(Ignore, 0, 0) // 5 in flight: a slot for the waiter
	r := <-out
	if r.err != nil {
		t.Fatal(r.err)
	}
	r.p.Release(Ignore, 0, 0)
	for _, p := range ps[3:] {
		p.Release(Ignore, 0, 0)
	}
	if s := g.Stats(ep); s.InFlight != 0 || s.Queued != 0 {
		t.Fatalf("%+v", s)
	}
}

func TestRetryAfterPausesEndpoint(t *testing.T) {
	g, fc := newTestGroup(t, Config{InitialLimit: 2})
	start := fc.now()
	p := mustAcquire(t, g, ep)
	p.Release(Overload, 0, 5*time.Second)
	s := g.Stats(ep)
	if s.Pauses != 1 || !s.PausedUntil.Equal(start.Add(5*time.Second)) {
		t.Fatalf("%+v: want a pause until start+5s", s)
	}
	// A slot is free, but the endpoint is paused: the caller queues.
	out := make(chan result, 2)
	acquireAsync(t, g, context.Background(), ep, "fg", Foreground, 1, out)
	acquireAsync(t, g, context.Background(), ep, "bg", Background, 2, out)
	if fc.pending() != 1 {
		t.Fatalf("%d timers armed, want 1", fc.pending())
	}
	fc.Advance(4 * time.Second)
	if s := g.Stats(ep); s.InFlight != 0 || s.Queued != 2 {
		t.Fatalf("after 4s of a 5s pause: %+v, want nothing granted", s)
	}
	noResult(t, out, "waiter during the pause")

	fc.Advance(999 * time.Millisecond)
	if s := g.Stats(ep); s.InFlight != 0 {
		t.Fatalf("granted during the pause: %+v", s)
	}
	fc.Advance(time.Millisecond) // the pause ends: the limit (1 after the cut) is granted
	r := <-out
	if r.name != "fg" || r.err != nil {
		t.Fatalf("first grant after the pause: %+v, want fg", r)
	}
	r.p.Release(Overload, 0, 10*time.Second) // paused again
	if s := g.Stats(ep); s.Pauses != 2 || s.Queued != 1 {
		t.Fatalf("%+v", s)
	}
	fc.Advance(9 * time.Second)
	noResult(t, out, "bg during the second pause")
	fc.Advance(time.Second)
	r = <-out
	if r.name != "bg" || r.err != nil {
		t.Fatalf("%+v", r)
	}
	r.p.Release(Success, time.Millisecond, 0)
	if s := g.Stats(ep); !s.PausedUntil.IsZero() || s.InFlight != 0 || fc.pending() != 0 {
		t.Fatalf("%+v, %d timers", s, fc.pending())
	}
}

func TestPauseExtendedWhileWaiting(t *testing.T) {
	g, fc := newTestGroup(t, Config{InitialLimit: 4})
	a, b := mustAcquire(t, g, ep), mustAcquire(t, g, ep)
	a.Release(Overload, 0, 2*time.Second)
	out := make(chan result, 1)
	acquireAsync(t, g, context.Background(), ep, "w", Foreground, 1, out)
	b.Release(Overload, 0, 5*time.Second) // extends the pause to start+5s
	if s := g.Stats(ep); s.Pauses != 1 {
		t.Fatalf("an extension counted as a new pause: %+v", s)
	}
	fc.Advance(2 * time.Second) // the first timer fires and re-arms
	noResult(t, out, "waiter after the first Retry-After")
	if fc.pending() != 1 {
		t.Fatalf("%d timers, want the re-armed one", fc.pending())
	}
	fc.Advance(3 * time.Second)
	r := <-out
	if r.err != nil {
		t.Fatal(r.err)
	}
	r.p.Release(Ignore, 0, 0)
}

func TestMaxPauseCapsRetryAfter(t *testing.T) {
	g, fc := newTestGroup(t, Config{MaxPause: 10 * time.Second})
	start := fc.now()
	p := mustAcquire(t, g, ep)
	p.Release(Overload, 0, time.Hour)
	if got := g.Stats(ep).PausedUntil; !got.Equal(start.Add(10 * time.Second)) {
		t.Fatalf("paused until %v, want start+10s (MaxPause)", got.Sub(start))
	}
	fc.Advance(10 * time.Second)
	p = mustAcquire(t, g, ep) // free again, no waiter needed to notice
	p.Release(Ignore, 0, 0)
	if got := g.Stats(ep).PausedUntil; !got.IsZero() {
		t.Fatalf("still paused until %v", got)
	}
}

func TestForegroundBeforeBackgroundFIFOWithin(t *testing.T) {
	g, _ := newTestGroup(t, Config{InitialLimit: 1, MaxLimit: 1})
	held := mustAcquire(t, g, ep)
	out := make(chan result, 6)
	order := []struct {
		name string
		prio Priority
	}{{"b1", Background}, {"f1", Foreground}, {"b2", Background}, {"f2", Foreground}, {"b3", Background}, {"f3", Foreground}}
	for i, w := range order {
		acquireAsync(t, g, context.Background(), ep, w.name, w.prio, i+1, out)
	}
	var got []string
	for range order {
		held.Release(Success, time.Millisecond, 0)
		r := <-out
		if r.err != nil {
			t.Fatal(r.err)
		}
		got = append(got, r.name)
		held = r.p
	}
	held.Release(Ignore, 0, 0)
	if want := "f1 f2 f3 b1 b2 b3"; strings.Join(got, " ") != want {
		t.Fatalf("grant order %v, want %s", got, want)
	}
}

func TestCancelledWaiterLeavesCleanly(t *testing.T) {
	g, _ := newTestGroup(t, Config{InitialLimit: 1, MaxLimit: 1})
	held := mustAcquire(t, g, ep)
	ctx, cancel := context.WithCancel(context.Background())
	out := make(chan result, 2)
	acquireAsync(t, g, ctx, ep, "cancelled", Foreground, 1, out)
	acquireAsync(t, g, context.Background(), ep, "next", Foreground, 2, out)
	cancel()
	r := <-out
	if r.name != "cancelled" || !errors.Is(r.err, context.Canceled) || r.p != nil {
		t.Fatalf("%+v, want context.Canceled", r)
	}
	if s := g.Stats(ep); s.Queued != 1 {
		t.Fatalf("%+v: the cancelled waiter is still queued", s)
	}
	held.Release(Ignore, 0, 0)
	r = <-out
	if r.name != "next" || r.err != nil {
		t.Fatalf("%+v", r)
	}
	r.p.Release(Ignore, 0, 0)
	if s := g.Stats(ep); s.InFlight != 0 || s.Queued != 0 {
		t.Fatalf("%+v: a slot leaked", s)
	}
	// Already cancelled on entry: nothing is granted.
	if _, err := g.Acquire(ctx, ep, Foreground); !errors.Is(err, context.Canceled) {
		t.Fatalf("Acquire with a cancelled context: %v", err)
	}
}

// TestCancelRacesGrant cancels waiters while slots are handed to them, from
// many goroutines: no slot may leak and the limit must hold throughout.
func TestCancelRacesGrant(t *testing.T) {
	const limit = 4
	g, _ := newTestGroup(t, Config{InitialLimit: limit, MaxLimit: limit})
	var holders atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 64; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 100; j++ {
				ctx, cancel := context.WithCancel(context.Background())
				if rand.IntN(2) == 0 {
					go cancel()
				}
				prio := Priority(rand.IntN(2))
				p, err := g.Acquire(ctx, ep, prio)
				cancel()
				if err != nil {
					if !errors.Is(err, context.Canceled) {
						t.Errorf("Acquire: %v", err)
						return
					}
					continue
				}
				if n := holders.Add(1); n > limit {
					t.Errorf("%d permits out with a limit of %d", n, limit)
				}
				runtime.Gosched()
				holders.Add(-1)
				p.Release(Outcome(rand.IntN(4)), time.Duration(1+rand.IntN(3))*time.Millisecond, 0)
			}
		}()
	}
	wg.Wait()
	if s := g.Stats(ep); s.InFlight != 0 || s.Queued != 0 {
		t.Fatalf("%+v after all callers left", s)
	}
}

func TestPauseFailsWaitersItWouldOutlast(t *testing.T) {
	g, fc := newTestGroup(t, Config{InitialLimit: 1, MaxLimit: 1, MaxPause: time.Hour})
	held := mustAcquire(t, g, ep)
	long, cancelLong := context.WithTimeout(context.Background(), time.Hour)
	defer cancelLong()
	short, cancelShort := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancelShort()
	out := make(chan result, 2)
	acquireAsync(t, g, long, ep, "long", Foreground, 1, out)
	acquireAsync(t, g, short, ep, "short", Background, 2, out)
	held.Release(Overload, 0, 2*time.Minute)
	r := <-out
	if r.name != "short" || !errors.Is(r.err, ErrOverloaded) || short.Err() != nil {
		t.Fatalf("%+v: the waiter whose deadline falls inside the pause must fail at once", r)
	}
	fc.Advance(2 * time.Minute)
	r = <-out
	if r.name != "long" || r.err != nil {
		t.Fatalf("%+v", r)
	}
	r.p.Release(Ignore, 0, 0)
}

func TestDeadlineReachedWhileQueued(t *testing.T) {
	g, _ := newTestGroup(t, Config{InitialLimit: 1, MaxLimit: 1})
	held := mustAcquire(t, g, ep) // no latency known: no estimate
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err := g.Acquire(ctx, ep, Foreground)
	if !errors.Is(err, ErrOverloaded) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Acquire: %v, want ErrOverloaded and context.DeadlineExceeded", err)
	}
	if s := g.Stats(ep); s.Queued != 0 || s.Rejected != 1 {
		t.Fatalf("%+v", s)
	}
	held.Release(Ignore, 0, 0)
	if s := g.Stats(ep); s.InFlight != 0 {
		t.Fatalf("%+v", s)
	}
}

func TestQueueFull(t *testing.T) {
	g, _ := newTestGroup(t, Config{InitialLimit: 1, MaxLimit: 1, QueueSize: 2})
	held := mustAcquire(t, g, ep)
	out := make(chan result, 4)
	acquireAsync(t, g, context.Background(), ep, "b1", Background, 1, out)
	acquireAsync(t, g, context.Background(), ep, "b2", Background, 2, out)
	if _, err := g.Acquire(context.Background(), ep, Background); !errors.Is(err, ErrOverloaded) ||
		!strings.Contains(err.Error(), "queue full") || !strings.Contains(err.Error(), ep) {
		t.Fatalf("Background into a full queue: %v", err)
	}
	// A Foreground caller takes the newest Background waiter's place.
	go func() {
		p, err := g.Acquire(context.Background(), ep, Foreground)
		out <- result{"f1", p, err}
	}()
	r := <-out
	if r.name != "b2" || !errors.Is(r.err, ErrOverloaded) {
		t.Fatalf("%+v: want b2 displaced", r)
	}
	waitFor(t, "f1 to queue", func() bool { return g.Stats(ep).Queued == 2 })
	go func() {
		p, err := g.Acquire(context.Background(), ep, Foreground)
		out <- result{"f2", p, err}
	}()
	r = <-out
	if r.name != "b1" || !errors.Is(r.err, ErrOverloaded) {
		t.Fatalf("%+v: want b1 displaced", r)
	}
	// Displacing b1 and queueing f2 happen under one lock.
	waitFor(t, "f2 to queue", func() bool { s := g.Stats(ep); return s.Queued == 2 && s.Rejected == 3 })
	if _, err := g.Acquire(context.Background(), ep, Foreground); !errors.Is(err, ErrOverloaded) {
		t.Fatalf("Foreground into a queue full of Foreground: %v", err)
	}
	if s := g.Stats(ep); s.Rejected != 4 || s.Queued != 2 {
		t.Fatalf("%+v", s)
	}
	for _, want := range []string{"f1", "f2"} {
		held.Release(Ignore, 0, 0)
		r = <-out
		if r.name != want || r.err != nil {
			t.Fatalf("%+v, want %s", r, want)
		}
		held = r.p
	}
	held.Release(Ignore, 0, 0)
}

func TestReleaseIsIdempotent(t *testing.T) {
	g, _ := newTestGroup(t, Config{InitialLimit: 2})
	a, b := mustAcquire(t, g, ep), mustAcquire(t, g, ep)
	a.Release(Overload, 0, 0)
	a.Release(Overload, 0, 0)
	a.Release(Success, time.Millisecond, 0)
	if s := g.Stats(ep); s.InFlight != 1 || s.Overloads != 1 {
		t.Fatalf("%+v: a second Release counted", s)
	}
	b.Release(Ignore, 0, 0)
	var nilPermit *Permit
	nilPermit.Release(Success, 0, 0) // no panic
}

func TestReleaseMeasuresLatency(t *testing.T) {
	g, fc := newTestGroup(t, Config{InitialLimit: 1, MaxLimit: 1})
	p := mustAcquire(t, g, ep)
	fc.Advance(3 * time.Second)
	p.Release(Success, 0, 0) // measured: 3 s
	g.mu.Lock()
	srtt := g.eps.m[ep].srtt
	g.mu.Unlock()
	if srtt != 3*time.Second {
		t.Fatalf("smoothed latency %v, want 3s measured from the grant", srtt)
	}
}

func TestMaxEndpoints(t *testing.T) {
	g, _ := newTestGroup(t, Config{MaxEndpoints: 4})
	busy := mustAcquire(t, g, "busy")
	for i := 0; i < 10; i++ {
		p := mustAcquire(t, g, "ep"+string(rune('a'+i)))
		p.Release(Success, time.Millisecond, 0)
		if n := g.Len(); n > 4 {
			t.Fatalf("%d endpoints tracked, MaxEndpoints 4", n)
		}
	}
	if s := g.Stats("busy"); s.InFlight != 1 {
		t.Fatalf("the busy endpoint was forgotten: %+v", s)
	}
	// When every endpoint is busy the bound gives way rather than lose one.
	ps := []*Permit{busy}
	for _, name := range []string{"x", "y", "z", "w"} {
		ps = append(ps, mustAcquire(t, g, name))
	}
	if n := g.Len(); n != 5 {
		t.Fatalf("%d endpoints tracked, want 5 (all busy)", n)
	}
	for _, p := range ps {
		p.Release(Ignore, 0, 0)
	}
	p := mustAcquire(t, g, "v") // now idle ones can go
	p.Release(Ignore, 0, 0)
	if n := g.Len(); n > 5 {
		t.Fatalf("%d endpoints tracked", n)
	}
	if s := g.Stats("never used"); s != (EndpointStats{}) {
		t.Fatalf("Stats of an unknown endpoint: %+v", s)
	}
}

func TestDisabled(t *testing.T) {
	for _, cfg := range []Config{{Disabled: true}, {InitialLimit: -1}} {
		g, _ := newTestGroup(t, cfg)
		var ps []*Permit
		for i := 0; i < 10000; i++ {
			p, err := g.Acquire(context.Background(), ep, Background)
			if err != nil {
				t.Fatal(err)
			}
			ps = append(ps, p)
		}
		for _, p := range ps {
			p.Release(Overload, 0, time.Minute)
		}
		if s := g.Stats(ep); s != (EndpointStats{}) || g.Len() != 0 {
			t.Fatalf("%+v: a disabled Group tracks nothing", s)
		}
		g.Close()
		if _, err := g.Acquire(context.Background(), ep, Foreground); !errors.Is(err, ErrClosed) {
			t.Fatalf("after Close: %v", err)
		}
	}
}

func TestConfig(t *testing.T) {
	for _, cfg := range []Config{
		{MinLimit: -1}, {MaxLimit: -1}, {QueueSize: -1}, {MaxPause: -time.Second}, {MaxEndpoints: -1},
		{MinLimit: 10, MaxLimit: 5}, {InitialLimit: 300}, {InitialLimit: 2, MinLimit: 3},
	} {
		if _, err := New(cfg); err == nil || !strings.HasPrefix(err.Error(), "tenantauth: admission: invalid config: ") {
			t.Errorf("New(%+v): %v, want an error", cfg, err)
		}
	}
	for _, c := range []struct {
		cfg  Config
		want int
	}{
		{Config{}, 8},
		{Config{MaxLimit: 4}, 4},
		{Config{MinLimit: 10}, 10},
		{Config{InitialLimit: 3}, 3},
	} {
		g, err := New(c.cfg)
		if err != nil {
			t.Fatal(err)
		}
		p, _ := g.Acquire(context.Background(), ep, Foreground)
		if got := g.Stats(ep).Limit; got != c.want {
			t.Errorf("Config %+v: initial limit %d, want %d", c.cfg, got, c.want)
		}
		p.Release(Ignore, 0, 0)
		g.Close()
	}
	if Foreground.String() != "foreground" || Background.String() != "background" || Overload.String() != "overload" ||
		Outcome(9).String() != "Outcome(9)" {
		t.Error("String methods")
	}
}

func TestCloseReleasesWaitersAndLeavesNoGoroutine(t *testing.T) {
	base := runtime.NumGoroutine()
	g, err := New(Config{InitialLimit: 1, MaxLimit: 1}) // real clock: a real pause timer
	if err != nil {
		t.Fatal(err)
	}
	held := mustAcquire(t, g, ep)
	out := make(chan result, 3)
	acquireAsync(t, g, context.Background(), ep, "fg", Foreground, 1, out)
	acquireAsync(t, g, context.Background(), ep, "bg", Background, 2, out)
	paused := mustAcquire(t, g, "paused")
	paused.Release(Overload, 0, 20*time.Second)
	acquireAsync(t, g, context.Background(), "paused", "p", Foreground, 1, out) // arms the timer

	g.Close()
	for i := 0; i < 3; i++ {
		if r := <-out; !errors.Is(r.err, ErrClosed) || r.p != nil {
			t.Fatalf("%+v, want ErrClosed", r)
		}
	}
	if _, err := g.Acquire(context.Background(), ep, Foreground); !errors.Is(err, ErrClosed) {
		t.Fatalf("Acquire after Close: %v", err)
	}
	held.Release(Success, time.Millisecond, 0) // still allowed
	g.Close()                                  // idempotent
	if s := g.Stats(ep); s.InFlight != 0 || s.Queued != 0 {
		t.Fatalf("%+v", s)
	}
	for i := 0; i < 1000 && runtime.NumGoroutine() > base; i++ {
		time.Sleep(time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > base {
		t.Fatalf("%d goroutines after Close, %d before", n, base)
	}
}

func TestStressManyGoroutines(t *testing.T) {
	g, _ := newTestGroup(t, Config{InitialLimit: 4, MinLimit: 2, MaxLimit: 32, QueueSize: 64})
	var wg sync.WaitGroup
	var holders [3]atomic.Int32
	for i := 0; i < 128; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 200; j++ {
				k := rand.IntN(3)
				name := ep + string(rune('0'+k))
				ctx, cancel := context.WithTimeout(context.Background(), time.Duration(rand.IntN(3000))*time.Microsecond)
				p, err := g.Acquire(ctx, name, Priority(rand.IntN(2)))
				cancel()
				if err != nil {
					if !errors.Is(err, ErrOverloaded) && !errors.Is(err, context.DeadlineExceeded) {
						t.Errorf("Acquire: %v", err)
					}
					continue
				}
				if n := holders[k].Add(1); int(n) > 32 {
					t.Errorf("%d permits out, MaxLimit 32", n)
				}
				runtime.Gosched()
				holders[k].Add(-1)
				p.Release(Outcome(rand.IntN(4)), time.Duration(1+rand.IntN(5))*time.Millisecond, 0)
			}
		}()
	}
	wg.Wait()
	for k := 0; k < 3; k++ {
		s := g.Stats(ep + string(rune('0'+k)))
		if s.InFlight != 0 || s.Queued != 0 || s.Limit < 2 || s.Limit > 32 {
			t.Fatalf("endpoint %d: %+v", k, s)
		}
	}
}

func TestEndpointsSnapshot(t *testing.T) {
	g, _ := newTestGroup(t, Config{InitialLimit: 2})
	if got := g.Endpoints(); len(got) != 0 {
		t.Fatalf("fresh Group lists %+v", got)
	}
	b := mustAcquire(t, g, "b")
	a := mustAcquire(t, g, "a")
	a.Release(Overload, 0, 0)
	got := g.Endpoints()
	if len(got) != 2 || got[0].Endpoint != "a" || got[1].Endpoint != "b" {
		t.Fatalf("Endpoints = %+v, want a then b", got)
	}
	if got[0].Overloads != 1 || got[1].InFlight != 1 || got[0] != g.Stats("a") || got[1] != g.Stats("b") {
		t.Fatalf("Endpoints = %+v, Stats(a) = %+v, Stats(b) = %+v", got, g.Stats("a"), g.Stats("b"))
	}
	b.Release(Success, time.Millisecond, 0)
}

func TestAcquireBackgroundPromoted(t *testing.T) {
	g, _ := newTestGroup(t, Config{InitialLimit: 1, MaxLimit: 1})
	held := mustAcquire(t, g, ep)
	out := make(chan result, 4)
	urgent := make(chan struct{})
	acquireAsync(t, g, context.Background(), ep, "b1", Background, 1, out)
	go func() {
		p, err := g.AcquireBackground(context.Background(), ep, urgent)
		out <- result{"promoted", p, err}
	}()
	waitFor(t, "promoted to queue", func() bool { return g.Stats(ep).Queued == 2 })
	acquireAsync(t, g, context.Background(), ep, "f1", Foreground, 3, out)
	foreground := func() int {
		g.mu.Lock()
		defer g.mu.Unlock()
		return g.eps.m[ep].fg.n
	}
	close(urgent)
	waitFor(t, "the promotion", func() bool { return foreground() == 2 })

	// Already urgent on entry: queued as Foreground at once, after the rest.
	go func() {
		p, err := g.AcquireBackground(context.Background(), ep, urgent)
		out <- result{"urgent", p, err}
	}()
	waitFor(t, "urgent to queue", func() bool { return foreground() == 3 })

	var got []string
	for range 4 {
		held.Release(Success, time.Millisecond, 0)
		r := <-out
		if r.err != nil {
			t.Fatal(r.err)
		}
		got = append(got, r.name)
		held = r.p
	}
	held.Release(Ignore, 0, 0)
	if want := "f1 promoted urgent b1"; strings.Join(got, " ") != want {
		t.Fatalf("grant order %v, want %s", got, want)
	}
}

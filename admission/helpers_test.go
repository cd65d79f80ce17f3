package admission

import (
	"context"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"
)

// fakeClock is a clock that moves only when told to. Timers due after
// Advance are called synchronously, in order, by Advance's caller.
type fakeClock struct {
	mu     sync.Mutex
	t      time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	c  *fakeClock
	at time.Time
	f  func()
}

// fakeEpoch is where every fake clock starts.
var fakeEpoch = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

func newFakeClock() *fakeClock {
	return &fakeClock{t: fakeEpoch}
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) elapsed() time.Duration { return c.now().Sub(fakeEpoch) }

func (c *fakeClock) afterFunc(d time.Duration, f func()) stopper {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{c: c, at: c.t.Add(d), f: f}
	c.timers = append(c.timers, t)
	return t
}

func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	i := slices.Index(t.c.timers, t)
	if i < 0 {
		return false // fired or stopped
	}
	t.c.timers = slices.Delete(t.c.timers, i, i+1)
	return true
}

// Advance moves the clock by d and runs the timers that are then due.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
	for {
		c.mu.Lock()
		var due *fakeTimer
		for _, t := range c.timers {
			if !t.at.After(c.t) && (due == nil || t.at.Before(due.at)) {
				due = t
			}
		}
		if due == nil {
			c.mu.Unlock()
			return
		}
		c.timers = slices.DeleteFunc(c.timers, func(t *fakeTimer) bool { return t == due })
		c.mu.Unlock()
		due.f()
	}
}

// pending returns how many timers are armed.
func (c *fakeClock) pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

// newTestGroup returns a Group on a fake clock, closed when the test ends.
func newTestGroup(t *testing.T, cfg Config) (*Group, *fakeClock) {
	t.Helper()
	fc := newFakeClock()
	g, err := newGroup(cfg, fc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Close)
	return g, fc
}

// waitFor waits until cond holds. It synchronises with goroutines the test
// started (a waiter entering the queue); it asserts nothing about timing.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		runtime.Gosched()
		time.Sleep(100 * time.Microsecond)
	}
}

type result struct {
	name string
	p    *Permit
	err  error
}

// acquireAsync starts Acquire in a goroutine and waits until it has queued
// (Stats.Queued reaches queued), so that waiters enter in a known order.
func acquireAsync(t *testing.T, g *Group, ctx context.Context, ep, name string, prio Priority, queued int, out chan<- result) {
	t.Helper()
	go func() {
		p, err := g.Acquire(ctx, ep, prio)
		out <- result{name, p, err}
	}()
	waitFor(t, name+" to queue", func() bool { return g.Stats(ep).Queued == queued })
}

// mustAcquire acquires a slot that must be free.
func mustAcquire(t *testing.T, g *Group, ep string) *Permit {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := g.Acquire(ctx, ep, Foreground)
	if err != nil {
		t.Fatalf("Acquire: %v", err)
	}
	return p
}

// noResult checks that nothing has been delivered on ch yet.
func noResult(t *testing.T, ch <-chan result, what string) {
	t.Helper()
	select {
	case r := <-ch:
		t.Fatalf("%s: got %q (err %v) too early", what, r.name, r.err)
	default:
	}
}

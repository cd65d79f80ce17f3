package tenantauth

import (
	"sync"
	"testing"
	"time"
)

// waitFor polls cond until it holds or a generous deadline passes; it
// asserts on the state reached, not on how long it took.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestCoarseClockRunsParksAndRestarts(t *testing.T) {
	c := newCoarseClock()
	defer c.stop()
	first := c.Now()
	if !c.running.Load() {
		t.Fatal("first read did not start the ticking goroutine")
	}
	waitFor(t, "the coarse time to advance", func() bool { return c.Now() > first })
	// Unread, the goroutine parks itself: an idle Manager costs no CPU.
	waitFor(t, "the clock to park", func() bool { return !c.running.Load() })
	if c.now.Load() != 0 {
		t.Fatal("parked clock still publishes a time")
	}
	before := c.precise()
	if got := c.Now(); got < before {
		t.Fatalf("parked clock read %d, before it %d: went backwards", got, before)
	}
	if !c.running.Load() {
		t.Fatal("read after parking did not restart the goroutine")
	}
}

func TestCoarseClockNeverAheadAndMonotonic(t *testing.T) {
	c := newCoarseClock()
	defer c.stop()
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			last := int64(-1)
			for range 20000 {
				n := c.Now()
				if n < last {
					t.Errorf("coarse clock went backwards: %d after %d", n, last)
					return
				}
				if p := c.precise(); n > p {
					t.Errorf("coarse clock %d ahead of the real one %d", n, p)
					return
				}
				last = n
			}
		}()
	}
	wg.Wait()
}

func TestCoarseClockStopEndsGoroutine(t *testing.T) {
	c := newCoarseClock()
	c.Now()
	c.stop()
	if c.running.Load() && c.now.Load() != 0 {
		t.Fatal("clock still publishing after stop")
	}
	c.Now() // must not restart after stop
	c.stop()
	c.wg.Wait()
	if c.now.Load() != 0 {
		t.Fatal("read after stop restarted the clock")
	}
}

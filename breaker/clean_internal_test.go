package breaker

import (
	"errors"
	"sync"
	"testing"
	"time"
)

// Many calls that started on the clean path fail together: gobreaker
// counts the first ConsecutiveFailures of them, opens, and refuses to count
// the rest. Once a probe has closed the breaker again, it must be clean
// again (calls skip gobreaker) with no failure left "being counted".
func TestCleanAgainAfterConcurrentFailures(t *testing.T) {
	g, err := New(Config{ConsecutiveFailures: 5, OpenTimeout: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	const ep, callers = "https://idp.example/token", 20
	errDown := errors.New("down")
	var started, wg sync.WaitGroup
	release := make(chan struct{})
	for range callers {
		started.Add(1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			g.Do(ep, func() error {
				started.Done()
				<-release
				return errDown
			})
		}()
	}
	started.Wait() // every caller is inside fn, on the clean path
	close(release)
	wg.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for g.State(ep) != HalfOpen {
		if time.Now().After(deadline) {
			t.Fatalf("State = %v, want half-open", g.State(ep))
		}
		time.Sleep(100 * time.Microsecond)
	}
	if err := g.Do(ep, func() error { return nil }); err != nil {
		t.Fatalf("probe: %v", err)
	}
	e, _ := g.lru.Peek(ep)
	if s := g.State(ep); s != Closed {
		t.Fatalf("State = %v after the probe, want closed", s)
	}
	if n := e.counting.Load(); n != 0 {
		t.Errorf("counting = %d with no failure under way, want 0", n)
	}
	if !e.isClean() {
		t.Errorf("not clean after the breaker closed (marks %d, clean %d): every call would go through gobreaker",
			e.marks.Load(), e.clean.Load())
	}
}

// The deterministic case of the test above: a failure handed to gobreaker
// while it is open is refused without being counted, and must leave no
// failure "being counted" behind.
func TestRefusedLateFailureNotCounting(t *testing.T) {
	g, err := New(Config{ConsecutiveFailures: 1, OpenTimeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	const ep = "https://idp.example/token"
	errDown := errors.New("down")
	g.Do(ep, func() error { return errDown })
	e, _ := g.lru.Peek(ep)
	if s := g.State(ep); s != Open {
		t.Fatalf("State = %v, want open", s)
	}
	g.count(e, e.epoch.Load(), Failure, errDown) // as a call of this state would
	if n := e.counting.Load(); n != 0 {
		t.Errorf("counting = %d after gobreaker refused the failure, want 0", n)
	}
}

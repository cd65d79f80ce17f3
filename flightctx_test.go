package tenantauth

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// waitClosed waits for ch, failing the test after a generous bound: the
// contexts here close at once or within milliseconds.
func waitClosed(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: not done", what)
	}
}

func TestFlightCtxRelease(t *testing.T) {
	c := newFlightCtx(context.Background(), time.Now().Add(time.Hour))
	if err := c.Err(); err != nil {
		t.Fatalf("Err = %v before release", err)
	}
	if d, ok := c.Deadline(); !ok || d.IsZero() {
		t.Errorf("Deadline = %v, %v", d, ok)
	}
	done := c.Done()
	child, cancelChild := context.WithCancel(c)
	defer cancelChild()
	c.release()
	waitClosed(t, done, "Done after release")
	waitClosed(t, child.Done(), "child after release")
	if !errors.Is(c.Err(), context.Canceled) || !errors.Is(child.Err(), context.Canceled) {
		t.Errorf("Err = %v, child %v; want Canceled", c.Err(), child.Err())
	}
	// Done asked after the end is closed too.
	c2 := newFlightCtx(context.Background(), time.Now().Add(time.Hour))
	c2.release()
	waitClosed(t, c2.Done(), "Done made after release")
}

// TestFlightCtxDeadline: a passed deadline ends the context whether or not
// anyone asked for Done (Err reads the clock), Done closes when it passes,
// and context.Cause reports the deadline, not the parent's state.
func TestFlightCtxDeadline(t *testing.T) {
	past := newFlightCtx(context.Background(), time.Now().Add(-time.Second))
	if !errors.Is(past.Err(), context.DeadlineExceeded) {
		t.Errorf("past deadline: Err = %v", past.Err())
	}
	waitClosed(t, past.Done(), "past deadline")

	soon := newFlightCtx(context.Background(), time.Now().Add(5*time.Millisecond))
	child, cancel := context.WithCancel(soon)
	defer cancel()
	waitClosed(t, soon.Done(), "deadline")
	waitClosed(t, child.Done(), "child at deadline")
	if !errors.Is(soon.Err(), context.DeadlineExceeded) || !errors.Is(context.Cause(soon), context.DeadlineExceeded) {
		t.Errorf("Err = %v, Cause = %v; want DeadlineExceeded", soon.Err(), context.Cause(soon))
	}
	if !errors.Is(child.Err(), context.DeadlineExceeded) {
		t.Errorf("child Err = %v", child.Err())
	}
	soon.release()
	if !errors.Is(soon.Err(), context.DeadlineExceeded) {
		t.Errorf("release changed Err to %v", soon.Err())
	}
}

// TestFlightCtxParent: closing the Manager (the parent) ends the context,
// armed or not.
func TestFlightCtxParent(t *testing.T) {
	parent, cancel := context.WithCancel(context.Background())
	armed := newFlightCtx(parent, time.Now().Add(time.Hour))
	done := armed.Done()
	lazy := newFlightCtx(parent, time.Now().Add(time.Hour))
	cancel()
	waitClosed(t, done, "armed after parent cancel")
	if !errors.Is(armed.Err(), context.Canceled) || !errors.Is(lazy.Err(), context.Canceled) {
		t.Errorf("Err = %v, lazy %v; want Canceled", armed.Err(), lazy.Err())
	}
	waitClosed(t, lazy.Done(), "lazy after parent cancel")
	armed.release()
	lazy.release()
}

func TestFlightCtxAfterFunc(t *testing.T) {
	c := newFlightCtx(context.Background(), time.Now().Add(time.Hour))
	var ran atomic.Int32
	stop := c.AfterFunc(func() { ran.Add(1) })
	if !stop() || stop() {
		t.Error("stop: want true once, then false")
	}
	fired := make(chan struct{})
	c.AfterFunc(func() { close(fired) })
	c.release()
	waitClosed(t, fired, "AfterFunc after release")
	if ran.Load() != 0 {
		t.Error("a stopped AfterFunc ran")
	}
	late := make(chan struct{})
	if c.AfterFunc(func() { close(late) })() {
		t.Error("stop of a func registered after the end reported true")
	}
	waitClosed(t, late, "AfterFunc registered after the end")
}

// TestFlightCtxNothingLeft: many contexts, armed, derived from, released
// from many goroutines at once (-race), leave no goroutine behind and
// nothing registered with the parent.
func TestFlightCtxNothingLeft(t *testing.T) {
	parent, cancel := context.WithCancel(context.Background())
	defer cancel()
	before := runtime.NumGoroutine()
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := newFlightCtx(parent, time.Now().Add(time.Hour))
			var inner sync.WaitGroup
			for j := range 4 {
				inner.Add(1)
				go func() {
					defer inner.Done()
					switch (i + j) % 3 {
					case 0:
						_ = c.Done()
					case 1:
						child, stop := context.WithCancel(c)
						_ = child.Err()
						stop()
					default:
						_ = c.Err()
					}
				}()
			}
			c.release()
			inner.Wait()
		}()
	}
	wg.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines left (before: %d)", n, before)
	}
	// The parent's cancellation still works: it had nothing of ours left.
	cancel()
}

package shared_test

import (
	"context"
	"errors"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/tenantauth/tenantauth/shared"
	"github.com/tenantauth/tenantauth/shared/sharedtest"
)

func TestMemory(t *testing.T) {
	sharedtest.TestStore(t, func(t *testing.T) shared.Store {
		m := shared.NewMemory(shared.MemoryConfig{})
		t.Cleanup(func() { m.Close() })
		return m
	})
}

// clock is a hand-moved MemoryConfig.Now.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func TestMemoryClock(t *testing.T) {
	ctx := t.Context()
	c := newClock()
	m := shared.NewMemory(shared.MemoryConfig{Now: c.Now})
	if err := m.Set(ctx, "k", []byte("v"), time.Minute, shared.Fence{}); err != nil {
		t.Fatal(err)
	}
	f, ok, err := m.Lock(ctx, "l", time.Minute)
	if !ok || err != nil {
		t.Fatalf("Lock = %v, %v", ok, err)
	}
	c.Advance(time.Minute - time.Nanosecond)
	if _, err := m.Get(ctx, "k"); err != nil {
		t.Fatalf("Get just before the TTL: %v", err)
	}
	if _, ok, _ := m.Lock(ctx, "l", time.Minute); ok {
		t.Fatal("Lock just before the TTL succeeded")
	}
	if err := m.Set(ctx, "k2", []byte("v"), time.Hour, f); err != nil {
		t.Fatalf("fenced Set just before the TTL: %v", err)
	}
	c.Advance(time.Nanosecond)
	if _, err := m.Get(ctx, "k"); !errors.Is(err, shared.ErrNotFound) {
		t.Fatalf("Get at the TTL = %v; want ErrNotFound", err)
	}
	if err := m.Set(ctx, "k2", []byte("v"), time.Hour, f); !errors.Is(err, shared.ErrLockLost) {
		t.Fatalf("fenced Set at the TTL = %v; want ErrLockLost", err)
	}
	if deleted, err := m.DeleteIfPrefix(ctx, "k", nil); deleted || err != nil {
		t.Fatalf("DeleteIfPrefix of an expired value = %v, %v; want false, nil", deleted, err)
	}
	if _, ok, err := m.Lock(ctx, "l", time.Minute); !ok || err != nil {
		t.Fatalf("Lock at the TTL = %v, %v; want true, nil", ok, err)
	}
}

func TestMemorySweep(t *testing.T) {
	ctx := t.Context()
	c := newClock()
	m := shared.NewMemory(shared.MemoryConfig{Now: c.Now})
	const n = 1000
	for i := range n {
		if err := m.Set(ctx, "old"+strconv.Itoa(i), []byte("v"), time.Second, shared.Fence{}); err != nil {
			t.Fatal(err)
		}
		if _, _, err := m.Lock(ctx, "old"+strconv.Itoa(i), time.Second); err != nil {
			t.Fatal(err)
		}
	}
	c.Advance(time.Second)
	for i := range n {
		if err := m.Set(ctx, "new"+strconv.Itoa(i), []byte("v"), time.Hour, shared.Fence{}); err != nil {
			t.Fatal(err)
		}
		if _, _, err := m.Lock(ctx, "new"+strconv.Itoa(i), time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	// Nothing read the expired entries: only the sweep can have dropped them.
	if s := m.Stats(); s.Values > n+n/4 || s.HeldLocks > n+n/4 {
		t.Errorf("%d live values and locks, %d expired: Stats().Values = %d, HeldLocks = %d; want about %d",
			n, n, s.Values, s.HeldLocks, n)
	}
}

func TestMemoryMaxValues(t *testing.T) {
	ctx := t.Context()
	c := newClock()
	m := shared.NewMemory(shared.MemoryConfig{Now: c.Now, MaxValues: 3})
	ttls := map[string]time.Duration{"a": time.Hour, "b": time.Minute, "c": 2 * time.Hour}
	for _, k := range []string{"a", "b", "c"} {
		if err := m.Set(ctx, k, []byte(k), ttls[k], shared.Fence{}); err != nil {
			t.Fatal(err)
		}
	}
	// Replacing a key evicts nothing.
	if err := m.Set(ctx, "a", []byte("a"), time.Hour, shared.Fence{}); err != nil {
		t.Fatal(err)
	}
	if s := m.Stats(); s.Evicted != 0 || s.Values != 3 {
		t.Fatalf("after replacing in a full store: Evicted %d, Values %d; want 0, 3", s.Evicted, s.Values)
	}
	if err := m.Set(ctx, "d", []byte("d"), time.Hour, shared.Fence{}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Get(ctx, "b"); !errors.Is(err, shared.ErrNotFound) {
		t.Errorf("Get of the value expiring first, in a full store = %v; want ErrNotFound (evicted)", err)
	}
	for _, k := range []string{"a", "c", "d"} {
		if _, err := m.Get(ctx, k); err != nil {
			t.Errorf("Get(%q) = %v", k, err)
		}
	}
	// An expired value makes room before anything live is evicted.
	c.Advance(90 * time.Minute) // a and d expire
	if err := m.Set(ctx, "e", []byte("e"), time.Hour, shared.Fence{}); err != nil {
		t.Fatal(err)
	}
	if s := m.Stats(); s.Evicted != 1 || s.Values != 2 {
		t.Errorf("Stats() Evicted %d, Values %d; want 1, 2", s.Evicted, s.Values)
	}
}

func TestMemoryInvalidArguments(t *testing.T) {
	ctx := t.Context()
	m := shared.NewMemory(shared.MemoryConfig{})
	for _, ttl := range []time.Duration{0, -time.Second} {
		if err := m.Set(ctx, "k", []byte("v"), ttl, shared.Fence{}); err == nil {
			t.Errorf("Set with TTL %v succeeded", ttl)
		}
		if _, ok, err := m.Lock(ctx, "l", ttl); err == nil || ok {
			t.Errorf("Lock with TTL %v = %v, %v; want an error", ttl, ok, err)
		}
	}
	if _, err := m.Subscribe(ctx, nil); err == nil {
		t.Error("Subscribe with a nil fn succeeded")
	}
	if err := m.Unlock(ctx, shared.Fence{}); err != nil {
		t.Errorf("Unlock of the zero Fence = %v", err)
	}
	if s := m.Stats(); s.Failures != 5 {
		t.Errorf("Stats().Failures = %d; want 5", s.Failures)
	}
}

func TestMemorySetDown(t *testing.T) {
	ctx := t.Context()
	m := shared.NewMemory(shared.MemoryConfig{})
	defer m.Close()
	if err := m.Set(ctx, "k", []byte("v"), time.Hour, shared.Fence{}); err != nil {
		t.Fatal(err)
	}
	sub, err := m.Subscribe(ctx, func([]byte) {})
	if err != nil {
		t.Fatal(err)
	}

	m.SetDown(true)
	select {
	case <-sub.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("subscription still live 5s after SetDown(true)")
	}
	if err := sub.Err(); !errors.Is(err, shared.ErrUnavailable) {
		t.Errorf("subscription Err after SetDown(true) = %v; want ErrUnavailable", err)
	}
	for method, err := range callAll(ctx, m) {
		if !errors.Is(err, shared.ErrUnavailable) {
			t.Errorf("%s while down = %v; want ErrUnavailable", method, err)
		}
	}

	m.SetDown(false)
	for method, err := range callAll(ctx, m) {
		if err != nil {
			t.Errorf("%s once up again = %v", method, err)
		}
	}
	if v, err := m.Get(ctx, "k"); err != nil || string(v) != "v" {
		t.Errorf("Get of a value stored before SetDown(true) = %q, %v; want it kept", v, err)
	}
}

// callAll calls every Store method once, each successful on an up store,
// and returns their errors.
func callAll(ctx context.Context, m *shared.Memory) map[string]error {
	errs := make(map[string]error)
	_, errs["Get"] = m.Get(ctx, "k")
	errs["Set"] = m.Set(ctx, "other", []byte("v"), time.Hour, shared.Fence{})
	_, errs["DeleteIfPrefix"] = m.DeleteIfPrefix(ctx, "other", nil)
	var f shared.Fence
	f, _, errs["Lock"] = m.Lock(ctx, "l", time.Hour)
	errs["Unlock"] = m.Unlock(ctx, f)
	errs["Publish"] = m.Publish(ctx, []byte("m"))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	_, errs["Subscribe"] = m.Subscribe(ctx, func([]byte) {})
	return errs
}

func TestMemorySetDelay(t *testing.T) {
	m := shared.NewMemory(shared.MemoryConfig{})
	defer m.Close()

	const delay = 30 * time.Millisecond
	m.SetDelay(delay)
	start := time.Now()
	if err := m.Set(t.Context(), "k", []byte("v"), time.Hour, shared.Fence{}); err != nil {
		t.Fatal(err)
	}
	if elapsed := time.Since(start); elapsed < delay {
		t.Errorf("Set with a delay of %v returned after %v", delay, elapsed)
	}

	m.SetDelay(time.Hour)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	done := make(chan map[string]error, 1)
	go func() { done <- callAll(ctx, m) }()
	select {
	case errs := <-done:
		for method, err := range errs {
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("%s delayed past its deadline = %v; want DeadlineExceeded", method, err)
			}
		}
	case <-time.After(10 * time.Second):
		t.Fatal("calls delayed by an hour still running 10s after their deadline")
	}

	m.SetDelay(0)
	if v, err := m.Get(t.Context(), "other"); !errors.Is(err, shared.ErrNotFound) {
		t.Errorf("a Set whose context ended during its delay stored %q, %v", v, err)
	}
	if _, ok, err := m.Lock(t.Context(), "l", time.Hour); !ok || err != nil {
		t.Errorf("Lock after a Lock whose context ended during its delay = %v, %v; want true, nil", ok, err)
	}
}

func TestMemorySlowSubscriber(t *testing.T) {
	ctx := t.Context()
	const buffer = 4
	m := shared.NewMemory(shared.MemoryConfig{SubscriberBuffer: buffer})
	defer m.Close()

	started, release := make(chan struct{}), make(chan struct{})
	var slowGot []string // read after Done
	slow, err := m.Subscribe(ctx, func(msg []byte) {
		if slowGot = append(slowGot, string(msg)); len(slowGot) == 1 {
			close(started)
		}
		<-release
	})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var fastGot []string
	fastLen := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(fastGot)
	}
	if _, err := m.Subscribe(ctx, func(msg []byte) {
		mu.Lock()
		fastGot = append(fastGot, string(msg))
		mu.Unlock()
	}); err != nil {
		t.Fatal(err)
	}
	// publish waits for the fast subscriber after each message, so that
	// only the slow one falls behind.
	publish := func(i int) {
		t.Helper()
		if err := m.Publish(ctx, []byte(strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the fast subscriber to receive message "+strconv.Itoa(i), func() bool { return fastLen() == i+1 })
	}

	publish(0)
	select {
	case <-started:
	case <-time.After(5 * time.Second):
		t.Fatal("first message not delivered")
	}
	// The slow callback holds message 0; 1 to buffer fill its queue, and
	// buffer+1 overflows it.
	for i := 1; i <= buffer+1; i++ {
		publish(i)
	}
	close(release)
	select {
	case <-slow.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("slow subscriber not disconnected")
	}
	if err := slow.Err(); !errors.Is(err, shared.ErrUnavailable) {
		t.Errorf("slow subscriber's Err = %v; want ErrUnavailable", err)
	}
	if len(slowGot) > 1+buffer {
		t.Errorf("slow subscriber received %d messages; want at most %d", len(slowGot), 1+buffer)
	}
	if s := m.Stats(); s.Dropped != 1 || s.Subscribers != 1 {
		t.Errorf("Stats() Dropped %d, Subscribers %d; want 1, 1", s.Dropped, s.Subscribers)
	}
	publish(buffer + 2)
}

func TestMemoryGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	m := shared.NewMemory(shared.MemoryConfig{})
	ctx, cancel := context.WithCancel(t.Context())
	for range 10 {
		if _, err := m.Subscribe(ctx, func([]byte) {}); err != nil {
			t.Fatal(err)
		}
	}
	var subs []shared.Subscription
	for range 10 {
		sub, err := m.Subscribe(t.Context(), func([]byte) {})
		if err != nil {
			t.Fatal(err)
		}
		subs = append(subs, sub)
	}
	if err := m.Publish(t.Context(), []byte("m")); err != nil {
		t.Fatal(err)
	}
	if n := runtime.NumGoroutine(); n < 20 {
		t.Fatalf("%d goroutines with 20 subscriptions; want one per subscription", n)
	}

	cancel()
	waitFor(t, "the cancelled subscriptions' goroutines to end", func() bool {
		return runtime.NumGoroutine() <= before+10 && m.Stats().Subscribers == 10
	})
	m.Close()
	for _, sub := range subs {
		<-sub.Done()
		if !errors.Is(sub.Err(), shared.ErrUnavailable) {
			t.Errorf("Err after Close = %v; want ErrUnavailable", sub.Err())
		}
	}
	waitFor(t, "every goroutine to end after Close", func() bool {
		return runtime.NumGoroutine() <= before
	})
	if err := m.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
	if _, err := m.Get(t.Context(), "k"); !errors.Is(err, shared.ErrUnavailable) {
		t.Errorf("Get after Close = %v; want ErrUnavailable", err)
	}
}

func TestMemoryStats(t *testing.T) {
	ctx := t.Context()
	m := shared.NewMemory(shared.MemoryConfig{})
	defer m.Close()
	m.Get(ctx, "k")
	m.Set(ctx, "k", []byte("fp:v"), time.Hour, shared.Fence{})
	m.Get(ctx, "k")
	f, _, _ := m.Lock(ctx, "l", time.Hour)
	m.Lock(ctx, "l", time.Hour)
	m.Unlock(ctx, f)
	m.Set(ctx, "k", []byte("v"), time.Hour, f)
	m.DeleteIfPrefix(ctx, "k", []byte("other"))
	m.DeleteIfPrefix(ctx, "k", []byte("fp:"))
	m.Publish(ctx, []byte("m"))
	sctx, cancel := context.WithCancel(ctx)
	sub, _ := m.Subscribe(sctx, func([]byte) {})
	cancel()
	<-sub.Done()

	want := shared.MemoryStats{
		Gets: 2, Sets: 2, Deletes: 2, Locks: 2, Unlocks: 1, Publishes: 1, Subscribes: 1,
		Hits: 1, LocksTaken: 1, LocksLost: 1, Deleted: 1,
	}
	if got := m.Stats(); got != want {
		t.Errorf("Stats() = %+v\nwant %+v", got, want)
	}
}

func TestMemoryFencesDifferAcrossMemories(t *testing.T) {
	a, b := shared.NewMemory(shared.MemoryConfig{}), shared.NewMemory(shared.MemoryConfig{})
	fa, _, _ := a.Lock(t.Context(), "l", time.Hour)
	fb, _, _ := b.Lock(t.Context(), "l", time.Hour)
	if fa.Value == "" || fa.Value == fb.Value {
		t.Errorf("two Memories' first fences: %q and %q; want distinct", fa.Value, fb.Value)
	}
}

// waitFor polls cond for up to 5 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited 5s for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func BenchmarkMemory(b *testing.B) {
	ctx := context.Background()
	m := shared.NewMemory(shared.MemoryConfig{})
	v := make([]byte, 512)
	b.Run("Set", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			m.Set(ctx, strconv.Itoa(i&1023), v, time.Hour, shared.Fence{})
		}
	})
	b.Run("Get", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			m.Get(ctx, strconv.Itoa(i&1023))
		}
	})
	b.Run("LockUnlock", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			f, _, _ := m.Lock(ctx, "l", time.Hour)
			m.Unlock(ctx, f)
		}
	})
}

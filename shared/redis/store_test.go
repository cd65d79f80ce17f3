package redis

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/tenantauth/tenantauth/shared"
	"github.com/tenantauth/tenantauth/shared/redis/redistest"
	"github.com/tenantauth/tenantauth/shared/sharedtest"
)

const (
	// budget is what the Manager gives a store call by default.
	budget = 50 * time.Millisecond
	// patience bounds every wait for something that must happen; it is
	// reached only when a test fails.
	patience = 10 * time.Second
	// prompt bounds a call that must fail fast: its budget plus scheduling
	// slack (the race detector, a loaded CI machine), far below the
	// seconds a hanging call would take.
	prompt = 2 * time.Second
	// fastTimeout is Config.Timeout in the tests that wait for it.
	fastTimeout = 200 * time.Millisecond
)

func TestConformance(t *testing.T) {
	srv := redistest.Start(t)
	sharedtest.TestStore(t, func(t *testing.T) shared.Store {
		return openStore(t, Config{Addr: srv.Addr()})
	})
}

// openStore returns a Store that t closes at its end.
func openStore(t *testing.T, cfg Config) *Store {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("New(%v): %v", cfg, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// call runs fn with the Manager's budget and reports its error and how
// long it took.
func call(fn func(ctx context.Context) error) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), budget)
	defer cancel()
	start := time.Now()
	err := fn(ctx)
	return time.Since(start), err
}

// everyCall is one call of each method but Subscribe.
func everyCall(s *Store, ns string) map[string]func(ctx context.Context) error {
	return map[string]func(ctx context.Context) error{
		"Get": func(ctx context.Context) error {
			_, err := s.Get(ctx, ns+"k")
			return err
		},
		"Set": func(ctx context.Context) error {
			return s.Set(ctx, ns+"k", []byte("v"), time.Minute, shared.Fence{})
		},
		"fenced Set": func(ctx context.Context) error {
			return s.Set(ctx, ns+"k", []byte("v"), time.Minute, shared.Fence{Lock: ns + "l", Value: "x"})
		},
		"DeleteIfPrefix": func(ctx context.Context) error {
			_, err := s.DeleteIfPrefix(ctx, ns+"k", []byte("v"))
			return err
		},
		"Lock": func(ctx context.Context) error {
			_, _, err := s.Lock(ctx, ns+"l2", time.Minute)
			return err
		},
		"Unlock": func(ctx context.Context) error {
			return s.Unlock(ctx, shared.Fence{Lock: ns + "l", Value: "x"})
		},
		"Publish": func(ctx context.Context) error { return s.Publish(ctx, []byte(ns)) },
		"Ping":    s.Ping,
	}
}

// wantWorking polls until every call succeeds on s, with the budget.
func wantWorking(t *testing.T, s *Store, what string) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for name, fn := range everyCall(s, "working:") {
		for {
			_, err := call(fn)
			if err == nil || errors.Is(err, shared.ErrLockLost) || errors.Is(err, shared.ErrNotFound) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %s still failing after %v: %v", what, name, patience, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// wantFailingPromptly checks that every call fails, within prompt.
func wantFailingPromptly(t *testing.T, s *Store, what string) {
	t.Helper()
	for name, fn := range everyCall(s, "failing:") {
		took, err := call(fn)
		if err == nil || errors.Is(err, shared.ErrLockLost) || errors.Is(err, shared.ErrNotFound) {
			t.Errorf("%s: %s = %v; want an error", what, name, err)
		}
		if took > prompt {
			t.Errorf("%s: %s took %v with a budget of %v", what, name, took, budget)
		}
		if strings.Contains(fmt.Sprint(err), "s3cret") {
			t.Errorf("%s: %s's error shows the password: %v", what, name, err)
		}
	}
}

func TestKillAndRestart(t *testing.T) {
	srv := redistest.Start(t)
	s := openStore(t, Config{Addr: srv.Addr()})
	wantWorking(t, s, "server up")

	srv.Kill()
	wantFailingPromptly(t, s, "server killed")
	wantFailingPromptly(t, s, "server still killed") // and again, not hanging on the second try

	srv.Restart()
	wantWorking(t, s, "server restarted")
	// The server restarted empty: the scripts are sent again (EVAL after
	// NOSCRIPT).
	f, ok, err := s.Lock(context.Background(), "lock", time.Minute)
	if err != nil || !ok {
		t.Fatalf("Lock after restart = %v, %v", ok, err)
	}
	if err := s.Set(context.Background(), "k", []byte("v"), time.Minute, f); err != nil {
		t.Fatalf("fenced Set after restart: %v", err)
	}
}

func TestNewWhileServerDown(t *testing.T) {
	srv := redistest.Start(t)
	srv.Kill()
	s := openStore(t, Config{Addr: srv.Addr()})
	wantFailingPromptly(t, s, "never up")
	srv.Restart()
	wantWorking(t, s, "server started after New")
}

func TestPausedServer(t *testing.T) {
	srv := redistest.Start(t)
	s := openStore(t, Config{Addr: srv.Addr(), Timeout: fastTimeout})
	wantWorking(t, s, "server up")

	srv.Pause()
	for name, fn := range everyCall(s, "paused:") {
		took, err := call(fn)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("paused server: %s = %v; want an error wrapping context.DeadlineExceeded", name, err)
		}
		if took > prompt {
			t.Errorf("paused server: %s took %v with a budget of %v", name, took, budget)
		}
	}

	// A context without deadline is bounded by Config.Timeout.
	start := time.Now()
	if err := s.Set(context.Background(), "k", []byte("v"), time.Minute, shared.Fence{}); err == nil {
		t.Error("Set on a paused server without deadline succeeded")
	}
	if took := time.Since(start); took > prompt+fastTimeout {
		t.Errorf("Set without deadline took %v on a paused server; Config.Timeout is %v", took, fastTimeout)
	}

	srv.Resume()
	wantWorking(t, s, "server resumed")
}

func TestSubscriptionEndsWhenServerKilled(t *testing.T) {
	srv := redistest.Start(t)
	s := openStore(t, Config{Addr: srv.Addr()})
	sub, err := s.Subscribe(context.Background(), func([]byte) {})
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	srv.Kill()
	select {
	case <-sub.Done():
	case <-time.After(patience):
		t.Fatalf("Done not closed %v after the server was killed", patience)
	}
	if err := sub.Err(); err == nil || errors.Is(err, context.Canceled) || errors.Is(err, ErrClosed) {
		t.Errorf("Err after the server was killed = %v; want the connection's error", err)
	}

	// Subscribing fails promptly while the server is down, and works
	// again once it is back.
	ctx, cancel := context.WithTimeout(context.Background(), budget)
	defer cancel()
	start := time.Now()
	if sub, err := s.Subscribe(ctx, func([]byte) {}); err == nil {
		<-sub.Done()
		t.Error("Subscribe with the server down succeeded")
	}
	if took := time.Since(start); took > prompt {
		t.Errorf("Subscribe with the server down took %v", took)
	}
	srv.Restart()
	wantMessages(t, s, s)
}

func TestSubscriptionEndsWhenServerHangs(t *testing.T) {
	srv := redistest.Start(t)
	s := openStore(t, Config{Addr: srv.Addr(), Timeout: fastTimeout})
	sub, err := s.Subscribe(context.Background(), func([]byte) {})
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	srv.Pause()
	select {
	case <-sub.Done():
	case <-time.After(patience):
		t.Fatalf("Done not closed %v after the server stopped answering (Timeout %v)", patience, fastTimeout)
	}
	if err := sub.Err(); err == nil || errors.Is(err, context.Canceled) || errors.Is(err, ErrClosed) {
		t.Errorf("Err after the server hung = %v; want the connection's error", err)
	}

	// Subscribe without a deadline on a hung server gives up on its own.
	if sub, err := s.Subscribe(context.Background(), func([]byte) {}); err == nil {
		<-sub.Done()
		t.Error("Subscribe on a paused server succeeded")
	}
	srv.Resume()
	wantMessages(t, s, s)
}

// wantMessages checks that a message published on from reaches a new
// subscription on to.
func wantMessages(t *testing.T, from, to *Store) {
	t.Helper()
	got := make(chan string, 100)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var sub shared.Subscription
	deadline := time.Now().Add(patience)
	for {
		var err error
		if sub, err = to.Subscribe(ctx, func(msg []byte) { got <- string(msg) }); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Subscribe still failing after %v: %v", patience, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := from.Publish(ctx, []byte("hello")); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	select {
	case msg := <-got:
		if msg != "hello" {
			t.Errorf("received %q; want hello", msg)
		}
	case <-sub.Done():
		t.Fatalf("subscription ended: %v", sub.Err())
	case <-time.After(patience):
		t.Fatalf("no message within %v", patience)
	}
}

// Two Stores on one server are two replicas: the lock and the fence work
// across them.
func TestTwoReplicas(t *testing.T) {
	srv := redistest.Start(t)
	a := openStore(t, Config{Addr: srv.Addr()})
	b := openStore(t, Config{Addr: srv.Addr()})
	ctx := context.Background()

	fa, ok, err := a.Lock(ctx, "lock:t1", 300*time.Millisecond)
	if err != nil || !ok {
		t.Fatalf("a: Lock = %v, %v", ok, err)
	}
	if _, ok, err := b.Lock(ctx, "lock:t1", time.Minute); ok || err != nil {
		t.Fatalf("b: Lock of a's lock = %v, %v; want false, nil", ok, err)
	}
	if err := b.Unlock(ctx, shared.Fence{Lock: "lock:t1", Value: "guess"}); err != nil {
		t.Fatalf("b: Unlock with a wrong value: %v", err)
	}
	if srv.Dump("lock:t1") == nil {
		t.Fatal("b's Unlock with a wrong value released a's lock")
	}

	// a's lock expires while a fetches; b takes it and stores first.
	var fb shared.Fence
	deadline := time.Now().Add(patience)
	for {
		if fb, ok, err = b.Lock(ctx, "lock:t1", time.Minute); err != nil {
			t.Fatalf("b: Lock: %v", err)
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a's lock did not expire within %v", patience)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if fa.Value == fb.Value {
		t.Fatalf("a and b got the same fence value %q", fa.Value)
	}
	if err := b.Set(ctx, "token:t1", []byte("b's token"), time.Minute, fb); err != nil {
		t.Fatalf("b: fenced Set: %v", err)
	}
	if err := a.Set(ctx, "token:t1", []byte("a's late token"), time.Minute, fa); !errors.Is(err, shared.ErrLockLost) {
		t.Fatalf("a: fenced Set with an expired lock = %v; want ErrLockLost", err)
	}
	if err := a.Unlock(ctx, fa); err != nil {
		t.Fatalf("a: Unlock of an expired lock: %v", err)
	}
	if got := srv.Dump("lock:t1"); string(got) != fb.Value {
		t.Fatalf("the lock holds %q after a's stale Unlock; want b's %q", got, fb.Value)
	}
	if got, err := a.Get(ctx, "token:t1"); err != nil || string(got) != "b's token" {
		t.Fatalf("a: Get = %q, %v; want b's token", got, err)
	}
	if err := b.Unlock(ctx, fb); err != nil {
		t.Fatalf("b: Unlock: %v", err)
	}
	if got := srv.Keys(); len(got) != 1 || got[0] != "token:t1" {
		t.Errorf("keys on the server: %q; want only token:t1", got)
	}

	// An invalidation published by one reaches both.
	wantMessages(t, a, b)
	wantMessages(t, b, a)
}

func TestChannel(t *testing.T) {
	srv := redistest.Start(t)
	def := openStore(t, Config{Addr: srv.Addr()})
	other := openStore(t, Config{Addr: srv.Addr(), Channel: "staging:invalidate"})
	got := make(chan string, 10)
	if _, err := other.Subscribe(t.Context(), func(msg []byte) { got <- string(msg) }); err != nil {
		t.Fatal(err)
	}
	n, err := srv.Do("PUBLISH", DefaultChannel, "to the default channel")
	if err != nil || n != int64(0) {
		t.Fatalf("PUBLISH to %s reached %v subscribers (%v); want 0", DefaultChannel, n, err)
	}
	if err := def.Publish(t.Context(), []byte("from the default")); err != nil {
		t.Fatal(err)
	}
	if err := other.Publish(t.Context(), []byte("from staging")); err != nil {
		t.Fatal(err)
	}
	if msg := <-got; msg != "from staging" {
		t.Errorf("staging received %q", msg)
	}
}

func TestDB(t *testing.T) {
	srv := redistest.Start(t)
	db0 := openStore(t, Config{Addr: srv.Addr()})
	db3 := openStore(t, Config{Addr: srv.Addr(), DB: 3})
	if err := db3.Set(t.Context(), "k", []byte("in 3"), time.Minute, shared.Fence{}); err != nil {
		t.Fatal(err)
	}
	if keys := srv.Keys(); len(keys) != 0 {
		t.Errorf("database 0 has %q; want nothing", keys)
	}
	if _, err := db0.Get(t.Context(), "k"); !errors.Is(err, shared.ErrNotFound) {
		t.Errorf("Get in database 0 = %v; want ErrNotFound", err)
	}
	if v, err := db3.Get(t.Context(), "k"); err != nil || string(v) != "in 3" {
		t.Errorf("Get in database 3 = %q, %v", v, err)
	}
}

func TestPassword(t *testing.T) {
	srv := redistest.Start(t, "--requirepass", "s3cret")
	good := openStore(t, Config{Addr: srv.Addr(), Password: "s3cret"})
	wantWorking(t, good, "right password")
	wantMessages(t, good, good)

	bad := openStore(t, Config{Addr: srv.Addr(), Password: "not-s3cret"})
	wantFailingPromptly(t, bad, "wrong password")
	none := openStore(t, Config{Addr: srv.Addr()})
	wantFailingPromptly(t, none, "no password")

	// ACL users: Username and Password.
	if _, err := srv.Do("ACL", "SETUSER", "replica", "on", ">s3cret-too", "~*", "&*", "+@all"); err != nil {
		t.Fatal(err)
	}
	user := openStore(t, Config{Addr: srv.Addr(), Username: "replica", Password: "s3cret-too"})
	wantWorking(t, user, "ACL user")
}

func TestNewFromClient(t *testing.T) {
	srv := redistest.Start(t)
	client, err := rueidis.NewClient(rueidis.ClientOption{
		InitAddress:       []string{srv.Addr()},
		ForceSingleClient: true,
		DisableRetry:      true,
		DisableCache:      true,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	s, err := NewFromClient(client, "")
	if err != nil {
		t.Fatal(err)
	}
	wantWorking(t, s, "NewFromClient")
	wantMessages(t, s, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := client.Do(t.Context(), client.B().Ping().Build()).Error(); err != nil {
		t.Errorf("the client after the Store's Close: %v; want it open", err)
	}
	if _, err := NewFromClient(nil, ""); err == nil {
		t.Error("NewFromClient(nil) succeeded")
	}
}

func TestConfigString(t *testing.T) {
	cfg := Config{Addr: "cache:6379", Username: "svc", Password: "s3cret", DB: 2}
	for _, format := range []string{"%v", "%+v", "%#v", "%s"} {
		if out := fmt.Sprintf(format, cfg); strings.Contains(out, "s3cret") || !strings.Contains(out, "cache:6379") {
			t.Errorf("Sprintf(%q, cfg) = %s", format, out)
		}
	}
}

func TestConfigRefused(t *testing.T) {
	for _, cfg := range []Config{
		{DB: -1},
		{PoolSize: -1},
		{PoolSize: 257},
		{Timeout: -time.Second},
		{DialTimeout: -time.Second},
	} {
		if s, err := New(cfg); err == nil {
			s.Close()
			t.Errorf("New(%v) succeeded", cfg)
		}
	}
}

func TestMultiplex(t *testing.T) {
	for _, tc := range []struct{ pool, want int }{
		{0, 0}, {1, -1}, {2, 1}, {3, 2}, {4, 2}, {5, 3}, {8, 3}, {256, 8},
	} {
		if got := multiplex(tc.pool); got != tc.want {
			t.Errorf("multiplex(%d) = %d; want %d", tc.pool, got, tc.want)
		}
	}
}

func TestPoolSize(t *testing.T) {
	srv := redistest.Start(t)
	for _, n := range []int{1, 3} {
		s := openStore(t, Config{Addr: srv.Addr(), PoolSize: n})
		var wg sync.WaitGroup
		for range 50 {
			wg.Go(func() {
				if _, err := s.Get(t.Context(), "k"); !errors.Is(err, shared.ErrNotFound) {
					t.Errorf("PoolSize %d: Get = %v", n, err)
				}
			})
		}
		wg.Wait()
	}
}

func TestTTL(t *testing.T) {
	for _, tc := range []struct {
		ttl  time.Duration
		want int64
	}{
		{time.Nanosecond, 1}, {time.Millisecond, 1}, {1500 * time.Microsecond, 2}, {time.Hour, 3600000},
	} {
		if got, err := milliseconds(tc.ttl); err != nil || got != tc.want {
			t.Errorf("milliseconds(%v) = %d, %v; want %d", tc.ttl, got, err, tc.want)
		}
	}
	srv := redistest.Start(t)
	s := openStore(t, Config{Addr: srv.Addr()})
	for _, ttl := range []time.Duration{0, -time.Second} {
		if err := s.Set(t.Context(), "k", []byte("v"), ttl, shared.Fence{}); err == nil {
			t.Errorf("Set with ttl %v succeeded", ttl)
		}
		if _, _, err := s.Lock(t.Context(), "l", ttl); err == nil {
			t.Errorf("Lock with ttl %v succeeded", ttl)
		}
	}
	if keys := srv.Keys(); len(keys) != 0 {
		t.Errorf("refused calls left keys %q", keys)
	}
	if err := s.Set(t.Context(), "k", []byte("v"), 5*time.Second, shared.Fence{}); err != nil {
		t.Fatal(err)
	}
	if pttl, err := srv.Do("PTTL", "k"); err != nil || pttl.(int64) <= 4000 || pttl.(int64) > 5000 {
		t.Errorf("PTTL after Set with 5 s = %v, %v", pttl, err)
	}
}

func TestScriptsAfterFlush(t *testing.T) {
	srv := redistest.Start(t)
	s := openStore(t, Config{Addr: srv.Addr()})
	ctx := t.Context()
	for range 2 { // the second time, after SCRIPT FLUSH: EVAL again
		f, ok, err := s.Lock(ctx, "l", time.Minute)
		if err != nil || !ok {
			t.Fatalf("Lock = %v, %v", ok, err)
		}
		if err := s.Set(ctx, "k", []byte("fp:v"), time.Minute, f); err != nil {
			t.Fatalf("fenced Set: %v", err)
		}
		if ok, err := s.DeleteIfPrefix(ctx, "k", []byte("fp:")); !ok || err != nil {
			t.Fatalf("DeleteIfPrefix = %v, %v", ok, err)
		}
		if err := s.Unlock(ctx, f); err != nil {
			t.Fatalf("Unlock: %v", err)
		}
		if keys := srv.Keys(); len(keys) != 0 {
			t.Fatalf("keys left: %q", keys)
		}
		if _, err := srv.Do("SCRIPT", "FLUSH"); err != nil {
			t.Fatal(err)
		}
	}
}

func TestCloseEndsEverything(t *testing.T) {
	srv := redistest.Start(t)
	before := storeGoroutines()
	s, err := New(Config{Addr: srv.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	subs := make([]shared.Subscription, 3)
	for i := range subs {
		if subs[i], err = s.Subscribe(context.Background(), func([]byte) {}); err != nil {
			t.Fatal(err)
		}
	}
	wantWorking(t, s, "before Close")
	if len(storeGoroutines()) <= len(before) {
		t.Fatal("no goroutine of the Store seen while it runs: the check below would prove nothing")
	}
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() { s.Get(context.Background(), "k") })
	}
	wg.Wait()

	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for i, sub := range subs {
		select {
		case <-sub.Done():
		default:
			t.Fatalf("subscription %d still running after Close", i)
		}
		if !errors.Is(sub.Err(), ErrClosed) {
			t.Errorf("subscription %d: Err after Close = %v; want ErrClosed", i, sub.Err())
		}
	}
	for name, fn := range everyCall(s, "closed:") {
		if _, err := call(fn); !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close = %v; want ErrClosed", name, err)
		}
	}
	if _, err := s.Subscribe(context.Background(), func([]byte) {}); !errors.Is(err, ErrClosed) {
		t.Errorf("Subscribe after Close = %v; want ErrClosed", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	waitGoroutines(t, before)
}

// Close returns, and leaves nothing running, on a server that hangs.
func TestCloseOnHungServer(t *testing.T) {
	srv := redistest.Start(t)
	before := storeGoroutines()
	s, err := New(Config{Addr: srv.Addr(), Timeout: fastTimeout})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Subscribe(context.Background(), func([]byte) {}); err != nil {
		t.Fatal(err)
	}
	wantWorking(t, s, "before the server hangs")
	srv.Pause()
	call(func(ctx context.Context) error { _, err := s.Get(ctx, "k"); return err })
	done := make(chan struct{})
	go func() {
		s.Close()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(patience):
		t.Fatalf("Close on a hung server still running after %v", patience)
	}
	waitGoroutines(t, before)
}

// storeGoroutines returns the stacks of goroutines in rueidis or this
// package (tests excluded).
func storeGoroutines() []string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var found []string
	for _, g := range bytes.Split(buf, []byte("\n\n")) {
		s := string(g)
		if strings.Contains(s, "github.com/redis/rueidis") ||
			(strings.Contains(s, "tenantauth/shared/redis.") && !strings.Contains(s, "_test.go")) {
			found = append(found, s)
		}
	}
	return found
}

// waitGoroutines polls until no more such goroutines run than before.
func waitGoroutines(t *testing.T, before []string) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for {
		now := storeGoroutines()
		if len(now) <= len(before) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines of the Store still running %v after Close (%d before New):\n%s",
				len(now), patience, len(before), strings.Join(now, "\n\n"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

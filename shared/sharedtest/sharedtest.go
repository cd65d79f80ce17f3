// Package sharedtest checks that an implementation of [shared.Store] keeps
// the promises the interface documents, so that a new Store costs a
// constructor and one line of test:
//
//	func TestStore(t *testing.T) {
//		sharedtest.TestStore(t, func(t *testing.T) shared.Store {
//			return newMyStore(t)
//		})
//	}
//
// The suite runs against real servers: it waits for TTLs in real time (a
// TTL of one second, polled with a generous deadline), never asserts how
// long a call took beyond "returned within seconds", and keeps its keys,
// lock names and messages apart from anything else on the server.
package sharedtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tenantauth/tenantauth/shared"
)

const (
	// shortTTL is the TTL of the values and locks the suite waits out.
	shortTTL = time.Second
	// longTTL outlives the suite.
	longTTL = time.Minute
	// patience bounds every wait for something that must happen: it is
	// generous, since the suite also runs against remote servers and
	// under the race detector, and it is only reached when a test fails.
	patience = 10 * time.Second
	// poll is the interval between two looks at something awaited.
	poll = 20 * time.Millisecond
)

// TestStore runs the conformance suite for [shared.Store] against the
// stores newStore returns: one store per subtest, made with the subtest's
// t (register cleanup with t.Cleanup).
//
// The subtests run in parallel, so newStore is called concurrently, and
// the suite takes about two seconds, most of it waiting for TTLs. Stores
// may share one backend (a Redis server shared with other tests): every
// subtest uses keys, lock names and messages that begin with a random
// prefix of its own, and its subscribers ignore messages without it.
func TestStore(t *testing.T, newStore func(t *testing.T) shared.Store) {
	t.Helper()
	tests := []struct {
		name string
		run  func(t *testing.T, s shared.Store, ns string)
	}{
		{"GetMissing", testGetMissing},
		{"RoundTrip", testRoundTrip},
		{"SetReplaces", testSetReplaces},
		{"TTL", testTTL},
		{"DeleteIfPrefix", testDeleteIfPrefix},
		{"FencedSet", testFencedSet},
		{"LockExclusive", testLockExclusive},
		{"FencesUnique", testFencesUnique},
		{"LockExpiry", testLockExpiry},
		{"StaleFence", testStaleFence},
		{"PublishSubscribe", testPublishSubscribe},
		{"SubscribeCancel", testSubscribeCancel},
		{"ContextEnded", testContextEnded},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.run(t, newStore(t), namespace())
		})
	}
}

// namespace returns a prefix that no other subtest, run or process uses.
func namespace() string { return "sharedtest:" + rand.Text()[:16] + ":" }

// ctxFor bounds a subtest's calls, so that a Store that ignores its context
// fails the subtest instead of hanging the test binary.
func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 4*patience)
	t.Cleanup(cancel)
	return ctx
}

func testGetMissing(t *testing.T, s shared.Store, ns string) {
	v, err := s.Get(ctxFor(t), ns+"missing")
	if !errors.Is(err, shared.ErrNotFound) || v != nil {
		t.Fatalf("Get(missing) = %q, %v; want nil, ErrNotFound", v, err)
	}
}

func testRoundTrip(t *testing.T, s shared.Store, ns string) {
	ctx := ctxFor(t)
	every := make([]byte, 256)
	for i := range every {
		every[i] = byte(i)
	}
	big := make([]byte, 8<<10)
	rand.Read(big)
	big[0], big[len(big)/2], big[len(big)-1] = 0, 0, 0
	values := map[string][]byte{
		"ascii":    []byte("sealed token"),
		"one-zero": {0},
		"zeros":    {0, 0, 0, 1, 0, 0},
		"every":    every,
		"8KiB":     big,
	}
	for name, want := range values {
		key := ns + name
		in := bytes.Clone(want)
		if err := s.Set(ctx, key, in, longTTL, shared.Fence{}); err != nil {
			t.Fatalf("Set(%s): %v", name, err)
		}
		in[0] ^= 0xff // the store must not keep the caller's slice
		got, err := s.Get(ctx, key)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("Get(%s) = %d bytes %.16x…, %v; want %d bytes %.16x…", name, len(got), got, err, len(want), want)
		}
		got[0] ^= 0xff // nor give the caller its own
		if again, err := s.Get(ctx, key); err != nil || !bytes.Equal(again, want) {
			t.Fatalf("Get(%s) after changing the previous result = %.16x…, %v; want %.16x…", name, again, err, want)
		}
	}
}

func testSetReplaces(t *testing.T, s shared.Store, ns string) {
	ctx := ctxFor(t)
	key := ns + "k"
	for _, v := range []string{"first, long value", "second", "third, longer than the second"} {
		if err := s.Set(ctx, key, []byte(v), longTTL, shared.Fence{}); err != nil {
			t.Fatalf("Set(%q): %v", v, err)
		}
		if got, err := s.Get(ctx, key); err != nil || string(got) != v {
			t.Fatalf("Get = %q, %v; want %q", got, err, v)
		}
	}
}

func testTTL(t *testing.T, s shared.Store, ns string) {
	ctx := ctxFor(t)
	short, long, renewed := ns+"short", ns+"long", ns+"renewed"
	start := time.Now()
	set(t, s, short, "v", shortTTL)
	set(t, s, long, "v", longTTL)
	set(t, s, renewed, "v", shortTTL)
	set(t, s, renewed, "v", longTTL) // a Set replaces the TTL too
	if _, err := s.Get(ctx, short); err != nil {
		// Only a failure if the TTL had not run out yet: the suite never
		// assumes how fast a call is.
		if elapsed := time.Since(start); elapsed < shortTTL {
			t.Fatalf("Get %v after Set with TTL %v: %v", elapsed, shortTTL, err)
		}
	}
	eventually(t, fmt.Sprintf("the value set with TTL %v to expire", shortTTL), func() bool {
		_, err := s.Get(ctx, short)
		if err != nil && !errors.Is(err, shared.ErrNotFound) {
			t.Fatalf("Get: %v", err)
		}
		return err != nil
	})
	if elapsed := time.Since(start); elapsed < shortTTL/2 {
		t.Errorf("a value set with TTL %v expired after %v", shortTTL, elapsed)
	}
	for _, key := range []string{long, renewed} {
		if got, err := s.Get(ctx, key); err != nil || string(got) != "v" {
			t.Errorf("Get(%s) once another key expired = %q, %v; want the value (TTL %v)", key, got, err, longTTL)
		}
	}
}

func testDeleteIfPrefix(t *testing.T, s shared.Store, ns string) {
	ctx := ctxFor(t)
	tests := []struct {
		name, prefix string
		deletes      bool
	}{
		{"matching", "fp1:", true},
		{"whole value", "fp1:token", true},
		{"not matching", "fp2:", false},
		{"longer than value", "fp1:token and more", false},
		{"empty prefix", "", true},
	}
	for _, tc := range tests {
		key := ns + tc.name
		set(t, s, key, "fp1:token", longTTL)
		deleted, err := s.DeleteIfPrefix(ctx, key, []byte(tc.prefix))
		if err != nil || deleted != tc.deletes {
			t.Errorf("%s: DeleteIfPrefix(%q) = %v, %v; want %v, nil", tc.name, tc.prefix, deleted, err, tc.deletes)
		}
		got, err := s.Get(ctx, key)
		switch {
		case tc.deletes && !errors.Is(err, shared.ErrNotFound):
			t.Errorf("%s: Get after deleting = %q, %v; want ErrNotFound", tc.name, got, err)
		case !tc.deletes && (err != nil || string(got) != "fp1:token"):
			t.Errorf("%s: Get after not deleting = %q, %v; want the value", tc.name, got, err)
		}
	}
	for _, prefix := range []string{"", "fp1:"} {
		if deleted, err := s.DeleteIfPrefix(ctx, ns+"missing", []byte(prefix)); err != nil || deleted {
			t.Errorf("DeleteIfPrefix(missing key, %q) = %v, %v; want false, nil", prefix, deleted, err)
		}
	}
}

func testFencedSet(t *testing.T, s shared.Store, ns string) {
	ctx := ctxFor(t)
	key, name := ns+"token", ns+"lock"
	f := lock(t, s, name, longTTL)
	if f.Lock != name || f.Value == "" {
		t.Fatalf("Lock(%q) = %+v; want a Fence naming the lock, with a value", name, f)
	}
	if err := s.Set(ctx, key, []byte("held"), longTTL, f); err != nil {
		t.Fatalf("fenced Set while holding the lock: %v", err)
	}
	wantValue(t, s, key, "held")

	forged := []shared.Fence{
		{Lock: name, Value: f.Value + "x"},
		{Lock: name, Value: "not a fence"},
		{Lock: ns + "never locked", Value: f.Value},
	}
	for _, g := range forged {
		if err := s.Set(ctx, key, []byte("forged"), longTTL, g); !errors.Is(err, shared.ErrLockLost) {
			t.Errorf("Set fenced by %+v (lock held by %q) = %v; want ErrLockLost", g, f.Value, err)
		}
	}
	wantValue(t, s, key, "held")

	if err := s.Unlock(ctx, f); err != nil {
		t.Fatalf("Unlock: %v", err)
	}
	if err := s.Set(ctx, key, []byte("after unlock"), longTTL, f); !errors.Is(err, shared.ErrLockLost) {
		t.Errorf("fenced Set after Unlock = %v; want ErrLockLost", err)
	}
	if err := s.Set(ctx, ns+"untouched", []byte("after unlock"), longTTL, f); !errors.Is(err, shared.ErrLockLost) {
		t.Errorf("fenced Set of a new key after Unlock = %v; want ErrLockLost", err)
	}
	wantValue(t, s, key, "held")
	wantMissing(t, s, ns+"untouched")
	if err := s.Unlock(ctx, f); err != nil {
		t.Errorf("second Unlock = %v; want nil", err)
	}
	if err := s.Unlock(ctx, shared.Fence{Lock: ns + "never locked", Value: "v"}); err != nil {
		t.Errorf("Unlock of a lock never taken = %v; want nil", err)
	}
}

func testLockExclusive(t *testing.T, s shared.Store, ns string) {
	ctx := ctxFor(t)
	name := ns + "lock"
	const n = 100
	var (
		wg     sync.WaitGroup
		start  = make(chan struct{})
		mu     sync.Mutex
		winner []shared.Fence
		errs   []error
	)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			f, ok, err := s.Lock(ctx, name, longTTL)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				errs = append(errs, err)
			case ok:
				winner = append(winner, f)
			case f != shared.Fence{}:
				errs = append(errs, fmt.Errorf("a Lock that returned ok false gave Fence %+v", f))
			}
		}()
	}
	close(start)
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d of %d concurrent Locks failed, the first with %v", len(errs), n, errs[0])
	}
	if len(winner) != 1 {
		t.Fatalf("%d concurrent Locks of one lock: %d returned ok; want exactly 1", n, len(winner))
	}
	if _, ok, err := s.Lock(ctx, name, longTTL); ok || err != nil {
		t.Fatalf("Lock of a held lock = %v, %v; want false, nil", ok, err)
	}
	if err := s.Unlock(ctx, winner[0]); err != nil {
		t.Fatalf("Unlock: %v", err)
	}
	if f := lock(t, s, name, longTTL); f.Value == winner[0].Value {
		t.Errorf("Lock after Unlock reused the fence value %q", f.Value)
	}
}

func testFencesUnique(t *testing.T, s shared.Store, ns string) {
	ctx := ctxFor(t)
	seen := make(map[string]string) // fence value → lock
	for i := range 50 {
		name := fmt.Sprintf("%slock%d", ns, i%5)
		f := lock(t, s, name, longTTL)
		if prev, ok := seen[f.Value]; ok {
			t.Fatalf("Lock(%q) returned the fence value %q that Lock(%q) returned before", name, f.Value, prev)
		}
		seen[f.Value] = name
		if err := s.Unlock(ctx, f); err != nil {
			t.Fatalf("Unlock: %v", err)
		}
	}
}

func testLockExpiry(t *testing.T, s shared.Store, ns string) {
	ctx := ctxFor(t)
	name := ns + "lock"
	start := time.Now()
	first := lock(t, s, name, shortTTL)
	var second shared.Fence
	eventually(t, fmt.Sprintf("a lock taken for %v to expire", shortTTL), func() bool {
		f, ok, err := s.Lock(ctx, name, longTTL)
		if err != nil {
			t.Fatalf("Lock: %v", err)
		}
		second = f
		if ok && time.Since(start) < shortTTL/2 {
			t.Fatalf("a lock taken for %v was taken again after %v", shortTTL, time.Since(start))
		}
		return ok
	})
	if second.Value == first.Value {
		t.Errorf("the second holder got the first holder's fence value %q", first.Value)
	}
	if _, ok, err := s.Lock(ctx, name, longTTL); ok || err != nil {
		t.Errorf("Lock after another took it again = %v, %v; want false, nil", ok, err)
	}
}

func testStaleFence(t *testing.T, s shared.Store, ns string) {
	ctx := ctxFor(t)
	key, name := ns+"token", ns+"lock"
	stale := lock(t, s, name, shortTTL)
	var holder shared.Fence
	eventually(t, fmt.Sprintf("a lock taken for %v to expire", shortTTL), func() bool {
		f, ok, err := s.Lock(ctx, name, longTTL)
		if err != nil {
			t.Fatalf("Lock: %v", err)
		}
		holder = f
		return ok
	})
	if err := s.Set(ctx, key, []byte("holder"), longTTL, holder); err != nil {
		t.Fatalf("fenced Set by the new holder: %v", err)
	}
	if err := s.Set(ctx, key, []byte("stale"), longTTL, stale); !errors.Is(err, shared.ErrLockLost) {
		t.Errorf("fenced Set by the expired holder = %v; want ErrLockLost", err)
	}
	wantValue(t, s, key, "holder")
	if err := s.Unlock(ctx, stale); err != nil {
		t.Errorf("Unlock by the expired holder = %v; want nil", err)
	}
	if _, ok, err := s.Lock(ctx, name, longTTL); ok || err != nil {
		t.Fatalf("Lock after an Unlock by the expired holder = %v, %v; want false, nil: the stale fence released the new holder's lock", ok, err)
	}
	if err := s.Set(ctx, key, []byte("holder again"), longTTL, holder); err != nil {
		t.Errorf("fenced Set by the holder after the stale Unlock: %v", err)
	}
	if err := s.Unlock(ctx, holder); err != nil {
		t.Fatalf("Unlock: %v", err)
	}
	lock(t, s, name, longTTL)
}

// inbox collects the messages of one subscription that begin with a prefix.
type inbox struct {
	prefix string
	mu     sync.Mutex
	msgs   []string
}

func (b *inbox) receive(msg []byte) {
	if !bytes.HasPrefix(msg, []byte(b.prefix)) {
		return
	}
	b.mu.Lock()
	b.msgs = append(b.msgs, string(msg))
	b.mu.Unlock()
}

func (b *inbox) received() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.msgs...)
}

func testPublishSubscribe(t *testing.T, s shared.Store, ns string) {
	ctx := ctxFor(t)
	if err := s.Publish(ctx, []byte(ns+"before anyone subscribed")); err != nil {
		t.Fatalf("Publish with no subscriber: %v", err)
	}
	inboxes := make([]*inbox, 3)
	for i := range inboxes {
		inboxes[i] = &inbox{prefix: ns}
		sub, err := s.Subscribe(ctx, inboxes[i].receive)
		if err != nil {
			t.Fatalf("Subscribe: %v", err)
		}
		if err := sub.Err(); err != nil {
			t.Fatalf("Err of a live subscription = %v; want nil", err)
		}
	}
	const n = 100
	want := make([]string, n)
	for i := range want {
		want[i] = fmt.Sprintf("%s%03d\x00\xff", ns, i)
		if err := s.Publish(ctx, []byte(want[i])); err != nil {
			t.Fatalf("Publish: %v", err)
		}
	}
	eventually(t, fmt.Sprintf("%d subscribers to receive %d messages", len(inboxes), n), func() bool {
		for _, b := range inboxes {
			if len(b.received()) < n {
				return false
			}
		}
		return true
	})
	for i, b := range inboxes {
		if got := b.received(); strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("subscriber %d received %d messages %q…; want the %d published, in order", i, len(got), got[:min(len(got), 3)], n)
		}
	}
}

func testSubscribeCancel(t *testing.T, s shared.Store, ns string) {
	ctx := ctxFor(t)
	subCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		calls     atomic.Int64
		ended     atomic.Bool // set once Done is seen closed
		lateCalls atomic.Int64
		got       = make(chan struct{}, 1)
	)
	sub, err := s.Subscribe(subCtx, func(msg []byte) {
		if !bytes.HasPrefix(msg, []byte(ns)) {
			return
		}
		if ended.Load() {
			lateCalls.Add(1)
		}
		calls.Add(1)
		select {
		case got <- struct{}{}:
		default:
		}
	})
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	other := &inbox{prefix: ns}
	if _, err := s.Subscribe(ctx, other.receive); err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	select {
	case <-sub.Done():
		t.Fatalf("Done closed before the context ended (Err %v)", sub.Err())
	default:
	}
	publish(t, s, ns+"before cancel")
	select {
	case <-got:
	case <-time.After(patience):
		t.Fatalf("no message delivered within %v", patience)
	}

	cancel()
	select {
	case <-sub.Done():
	case <-time.After(patience):
		t.Fatalf("Done not closed %v after the context was cancelled", patience)
	}
	ended.Store(true)
	if err := sub.Err(); !errors.Is(err, context.Canceled) {
		t.Errorf("Err after cancel = %v; want context.Canceled", err)
	}
	before := calls.Load()
	for i := range 3 {
		publish(t, s, fmt.Sprintf("%safter cancel %d", ns, i))
	}
	// The other subscription is still live and, once it has the messages,
	// the cancelled one would have had time to misbehave.
	eventually(t, "the remaining subscriber to receive 4 messages", func() bool {
		return len(other.received()) == 4
	})
	if n := lateCalls.Load(); n > 0 {
		t.Errorf("fn called %d times after Done closed", n)
	}
	if after := calls.Load(); after != before {
		t.Errorf("fn called %d times after the context was cancelled and Done closed", after-before)
	}
}

func testContextEnded(t *testing.T, s shared.Store, ns string) {
	base := ctxFor(t)
	cancelled, cancel := context.WithCancel(base)
	cancel()
	expired, cancel2 := context.WithDeadline(base, time.Now().Add(-time.Second))
	defer cancel2()

	for _, c := range []struct {
		name string
		ctx  context.Context
		want error
	}{
		{"cancelled", cancelled, context.Canceled},
		{"past deadline", expired, context.DeadlineExceeded},
	} {
		ns := ns + c.name + ":"
		key, name := ns+"token", ns+"lock"
		set(t, s, key, "old", longTTL)
		held := lock(t, s, ns+"held", longTTL)
		calls := []struct {
			method string
			call   func(ctx context.Context) error
		}{
			{"Get", func(ctx context.Context) error {
				v, err := s.Get(ctx, key)
				if err == nil {
					return fmt.Errorf("returned %q", v)
				}
				return err
			}},
			{"Set", func(ctx context.Context) error {
				return s.Set(ctx, key, []byte("new"), longTTL, shared.Fence{})
			}},
			{"fenced Set", func(ctx context.Context) error {
				return s.Set(ctx, key, []byte("new"), longTTL, held)
			}},
			{"DeleteIfPrefix", func(ctx context.Context) error {
				_, err := s.DeleteIfPrefix(ctx, key, nil)
				return err
			}},
			{"Lock", func(ctx context.Context) error {
				_, _, err := s.Lock(ctx, name, longTTL)
				return err
			}},
			{"Unlock", func(ctx context.Context) error {
				return s.Unlock(ctx, held)
			}},
			{"Publish", func(ctx context.Context) error {
				return s.Publish(ctx, []byte(ns+"msg"))
			}},
			{"Subscribe", func(ctx context.Context) error {
				sub, err := s.Subscribe(ctx, func([]byte) {})
				if err == nil { // a failure; but the subscription must end
					select {
					case <-sub.Done():
					case <-time.After(patience):
						return errors.New("subscribed, and Done not closed")
					}
				}
				return err
			}},
		}
		for _, m := range calls {
			err := within(t, func() error { return m.call(c.ctx) })
			if err == nil || !errors.Is(err, c.want) {
				t.Errorf("%s with a %s context = %v; want an error wrapping %v", m.method, c.name, err, c.want)
			}
		}
		// Calls whose context had ended have no effect.
		wantValue(t, s, key, "old")
		if _, ok, err := s.Lock(base, ns+"held", longTTL); ok || err != nil {
			t.Errorf("%s: Lock of the lock an Unlock with an ended context left = %v, %v; want false, nil", c.name, ok, err)
		}
		lock(t, s, name, longTTL)
	}
}

// within returns call's result, or fails t if call takes longer than the
// suite's patience: a Store must return promptly once its context ends.
func within(t *testing.T, call func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- call() }()
	select {
	case err := <-done:
		return err
	case <-time.After(patience):
		t.Fatalf("call with an ended context still running after %v", patience)
		return nil
	}
}

// eventually polls cond until it holds, failing t after the suite's patience.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s", patience, what)
		}
		time.Sleep(poll)
	}
}

func set(t *testing.T, s shared.Store, key, value string, ttl time.Duration) {
	t.Helper()
	if err := s.Set(ctxFor(t), key, []byte(value), ttl, shared.Fence{}); err != nil {
		t.Fatalf("Set(%q): %v", key, err)
	}
}

func lock(t *testing.T, s shared.Store, name string, ttl time.Duration) shared.Fence {
	t.Helper()
	f, ok, err := s.Lock(ctxFor(t), name, ttl)
	if err != nil || !ok {
		t.Fatalf("Lock(%q) of a free lock = %v, %v; want true, nil", name, ok, err)
	}
	return f
}

func publish(t *testing.T, s shared.Store, msg string) {
	t.Helper()
	if err := s.Publish(ctxFor(t), []byte(msg)); err != nil {
		t.Fatalf("Publish: %v", err)
	}
}

func wantValue(t *testing.T, s shared.Store, key, want string) {
	t.Helper()
	if got, err := s.Get(ctxFor(t), key); err != nil || string(got) != want {
		t.Errorf("Get(%q) = %q, %v; want %q", key, got, err, want)
	}
}

func wantMissing(t *testing.T, s shared.Store, key string) {
	t.Helper()
	if got, err := s.Get(ctxFor(t), key); !errors.Is(err, shared.ErrNotFound) {
		t.Errorf("Get(%q) = %q, %v; want ErrNotFound", key, got, err)
	}
}

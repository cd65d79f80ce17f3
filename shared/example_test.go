package shared_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tenantauth/tenantauth/shared"
)

// Two replicas race for a tenant's lock; the winner fetches the token and
// writes it fenced, so that a holder whose lock expired cannot overwrite it.
func ExampleMemory() {
	ctx := context.Background()
	store := shared.NewMemory(shared.MemoryConfig{})
	defer store.Close()

	f, ok, _ := store.Lock(ctx, "lock:acme", 10*time.Second)
	fmt.Println("first replica locked:", ok)
	_, ok, _ = store.Lock(ctx, "lock:acme", 10*time.Second)
	fmt.Println("second replica locked:", ok)

	_ = store.Set(ctx, "token:acme", []byte("sealed token"), time.Minute, f)
	_ = store.Unlock(ctx, f)
	err := store.Set(ctx, "token:acme", []byte("stale token"), time.Minute, f)
	fmt.Println("fenced write after unlock:", errors.Is(err, shared.ErrLockLost))

	v, _ := store.Get(ctx, "token:acme")
	fmt.Printf("stored: %s\n", v)
	// Output:
	// first replica locked: true
	// second replica locked: false
	// fenced write after unlock: true
	// stored: sealed token
}

func ExampleMemory_Subscribe() {
	ctx, cancel := context.WithCancel(context.Background())
	store := shared.NewMemory(shared.MemoryConfig{})
	defer store.Close()

	received := make(chan string)
	sub, _ := store.Subscribe(ctx, func(msg []byte) { received <- string(msg) })
	_ = store.Publish(ctx, []byte("invalidate acme"))
	fmt.Println(<-received)

	cancel()
	<-sub.Done()
	fmt.Println(sub.Err())
	// Output:
	// invalidate acme
	// context canceled
}

// A test of code that uses a Store can take the store down to check that
// the code falls back, and count what it asked.
func ExampleMemory_SetDown() {
	ctx := context.Background()
	store := shared.NewMemory(shared.MemoryConfig{})
	defer store.Close()

	store.SetDown(true)
	_, err := store.Get(ctx, "token:acme")
	fmt.Println(errors.Is(err, shared.ErrUnavailable))

	store.SetDown(false)
	_, err = store.Get(ctx, "token:acme")
	fmt.Println(errors.Is(err, shared.ErrNotFound))
	fmt.Println("gets:", store.Stats().Gets, "failures:", store.Stats().Failures)
	// Output:
	// true
	// true
	// gets: 2 failures: 1
}

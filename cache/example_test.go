package cache_test

import (
	"fmt"
	"time"

	"github.com/tenantauth/tenantauth/cache"
)

type token struct{ access, refresh string }

// The Manager's use of the cache: deadlines from a Policy, then Get on
// every request, with exactly one caller told to refresh.
func Example() {
	c, err := cache.New[token](cache.Config{Capacity: 1000})
	if err != nil {
		fmt.Println(err)
		return
	}

	// A 24 h token issued at t=0 (times are the caller's monotonic
	// nanoseconds, e.g. time.Since(epoch)).
	refreshAfter, staleAfter := cache.Policy{}.Deadlines(24 * time.Hour)
	fmt.Println("refresh after", refreshAfter, "stale after", staleAfter)
	c.Set("acme", token{access: "a1", refresh: "r1"}, int64(refreshAfter), int64(staleAfter))

	at := func(d time.Duration) int64 { return int64(d) }
	for _, now := range []time.Duration{time.Hour, refreshAfter, refreshAfter + time.Second, staleAfter} {
		tok, state := c.Get("acme", at(now))
		fmt.Println(now, tok.access, state)
	}

	// The refresh failed: release the claim, retry no sooner than a
	// minute later.
	tok, _ := c.Peek("acme")
	c.Postpone("acme", tok, at(refreshAfter+time.Minute))
	_, state := c.Get("acme", at(refreshAfter+30*time.Second))
	fmt.Println("30s later:", state)
	_, state = c.Get("acme", at(refreshAfter+time.Minute))
	fmt.Println("a minute later:", state)

	// The API answered 401 for a1 while another caller already stored a2:
	// dropping a1 must not drop a2.
	c.Set("acme", token{access: "a2"}, int64(refreshAfter), int64(staleAfter))
	fmt.Println("drop rejected a1:", c.CompareAndDelete("acme", tok))
	fmt.Println("entries:", c.Len())
	_, state = c.Get("nobody", 0)
	fmt.Println("unknown tenant:", state)

	// Output:
	// refresh after 23h54m30s stale after 23h59m30s
	// 1h0m0s a1 Fresh
	// 23h54m30s a1 Refresh
	// 23h54m31s a1 Fresh
	// 23h59m30s a1 Miss
	// 30s later: Fresh
	// a minute later: Refresh
	// drop rejected a1: false
	// entries: 1
	// unknown tenant: Miss
}

// Short tokens keep most of their lifetime: the 30 s default skew is capped
// at a quarter of it.
func ExamplePolicy_Deadlines() {
	for _, lifetime := range []time.Duration{3 * time.Second, time.Hour, 30 * 24 * time.Hour} {
		refresh, stale := cache.Policy{}.Deadlines(lifetime)
		fmt.Printf("%v token: refresh after %v, stale after %v\n", lifetime, refresh, stale)
	}
	refresh, stale := cache.Policy{RefreshAhead: -1}.Deadlines(time.Hour)
	fmt.Printf("no refresh-ahead: refresh after %v, stale after %v\n", refresh, stale)
	// Output:
	// 3s token: refresh after 1.95s, stale after 2.25s
	// 1h0m0s token: refresh after 54m30s, stale after 59m30s
	// 720h0m0s token: refresh after 719h54m30s, stale after 719h59m30s
	// no refresh-ahead: refresh after 59m30s, stale after 59m30s
}

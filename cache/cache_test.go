package cache

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
)

type token struct {
	key string
	gen int
}

func newCache(t testing.TB, cfg Config) *Cache[token] {
	t.Helper()
	c, err := New[token](cfg)
	if err != nil {
		t.Fatalf("New(%+v): %v", cfg, err)
	}
	return c
}

// checkInvariants verifies that every shard's read index and LRU list hold
// the same keys and entries, and that the reservation count matches.
func checkInvariants[V any](t testing.TB, c *Cache[V]) {
	t.Helper()
	total := 0
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		idx := sh.index.Load()
		checkIndex(t, idx, c.hash)
		keys := sh.lru.Keys()
		if idx.n != len(keys) {
			t.Errorf("shard %d: index has %d keys, LRU %d", i, idx.n, len(keys))
		}
		for _, k := range keys {
			e, _ := sh.lru.Peek(k)
			if got := idx.find(c.hash(k), k); got != e || e.key != k {
				t.Errorf("shard %d: key %q: index entry %p, LRU entry %p", i, k, got, e)
			}
			if got := c.hash(k) >> c.shift; got != uint64(i) {
				t.Errorf("key %q in shard %d, hashes to %d", k, i, got)
			}
		}
		total += len(keys)
		sh.mu.Unlock()
	}
	if n := c.count.Load(); n != int64(total) {
		t.Errorf("count = %d, entries = %d", n, total)
	}
	if total > int(c.capacity) {
		t.Errorf("%d entries > capacity %d", total, c.capacity)
	}
	if n := c.Len(); n != total {
		t.Errorf("Len() = %d, entries = %d", n, total)
	}
}

func TestNew(t *testing.T) {
	tests := []struct {
		cfg        Config
		wantErr    bool
		wantShards int
		wantCap    int64
	}{
		{cfg: Config{}, wantShards: 16, wantCap: DefaultCapacity},
		{cfg: Config{Capacity: 1}, wantShards: 1, wantCap: 1},
		{cfg: Config{Capacity: 1024}, wantShards: 1, wantCap: 1024},
		{cfg: Config{Capacity: 1025}, wantShards: 2, wantCap: 1025},
		{cfg: Config{Capacity: 5000}, wantShards: 8, wantCap: 5000},
		{cfg: Config{Capacity: 100_000}, wantShards: 64, wantCap: 100_000},
		{cfg: Config{Capacity: 10_000_000}, wantShards: 64, wantCap: 10_000_000},
		{cfg: Config{Capacity: 100, Shards: 3}, wantShards: 4, wantCap: 100},
		{cfg: Config{Capacity: 100, Shards: 1}, wantShards: 1, wantCap: 100},
		{cfg: Config{Capacity: 100, Shards: 64}, wantShards: 64, wantCap: 100},
		{cfg: Config{Capacity: 10, Shards: 64}, wantShards: 8, wantCap: 10},
		{cfg: Config{Capacity: 1, Shards: 5}, wantShards: 1, wantCap: 1},
		{cfg: Config{Capacity: 20_000, Shards: 1000}, wantShards: 1024, wantCap: 20_000},
		{cfg: Config{Capacity: -1}, wantErr: true},
		{cfg: Config{Shards: -1}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%+v", tt.cfg), func(t *testing.T) {
			c, err := New[token](tt.cfg)
			if tt.wantErr {
				if !errors.Is(err, ErrInvalidConfig) {
					t.Fatalf("err = %v, want ErrInvalidConfig", err)
				}
				if c != nil {
					t.Error("non-nil cache with an error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(c.shards) != tt.wantShards || c.capacity != tt.wantCap {
				t.Errorf("shards %d, capacity %d; want %d, %d", len(c.shards), c.capacity, tt.wantShards, tt.wantCap)
			}
			if c.Len() != 0 {
				t.Errorf("new cache Len() = %d", c.Len())
			}
		})
	}
}

func TestStateString(t *testing.T) {
	for s, want := range map[State]string{Miss: "Miss", Fresh: "Fresh", Refresh: "Refresh", 7: "State(7)"} {
		if got := s.String(); got != want {
			t.Errorf("State(%d).String() = %q, want %q", uint8(s), got, want)
		}
	}
}

// TestGetStates walks one entry (refreshAt 100, staleAt 200) through time.
// Calls within a case run in order on one cache.
func TestGetStates(t *testing.T) {
	type call struct {
		now      int64
		wantGen  int // 0: nil value
		wantStat State
	}
	tests := []struct {
		name  string
		setup func(c *Cache[token])
		calls []call
	}{
		{
			name:  "absent",
			setup: func(c *Cache[token]) {},
			calls: []call{{0, 0, Miss}, {1 << 62, 0, Miss}},
		},
		{
			name:  "fresh, one refresh claim, fresh while claimed, stale",
			setup: func(c *Cache[token]) { c.Set("k", &token{"k", 1}, 100, 200) },
			calls: []call{{-5, 1, Fresh}, {0, 1, Fresh}, {99, 1, Fresh}, {100, 1, Refresh}, {100, 1, Fresh}, {150, 1, Fresh}, {199, 1, Fresh}, {200, 1, Miss}, {1 << 62, 1, Miss}},
		},
		{
			name:  "first Get already past refreshAt claims",
			setup: func(c *Cache[token]) { c.Set("k", &token{"k", 1}, 100, 200) },
			calls: []call{{150, 1, Refresh}, {120, 1, Fresh}, {199, 1, Fresh}},
		},
		{
			name:  "stale without a claim returns the stale value",
			setup: func(c *Cache[token]) { c.Set("k", &token{"k", 1}, 100, 200) },
			calls: []call{{250, 1, Miss}, {150, 1, Refresh}},
		},
		{
			name:  "refresh-ahead disabled",
			setup: func(c *Cache[token]) { c.Set("k", &token{"k", 1}, 200, 200) },
			calls: []call{{199, 1, Fresh}, {200, 1, Miss}},
		},
		{
			name:  "refreshAt after staleAt means no refresh-ahead",
			setup: func(c *Cache[token]) { c.Set("k", &token{"k", 1}, 500, 200) },
			calls: []call{{199, 1, Fresh}, {200, 1, Miss}, {500, 1, Miss}},
		},
		{
			name: "Set releases the claim",
			setup: func(c *Cache[token]) {
				c.Set("k", &token{"k", 1}, 100, 200)
				if _, s := c.Get("k", 150); s != Refresh {
					panic("no claim")
				}
				c.Set("k", &token{"k", 2}, 300, 400)
			},
			calls: []call{{150, 2, Fresh}, {300, 2, Refresh}, {301, 2, Fresh}, {400, 2, Miss}},
		},
		{
			name: "Set with a past refreshAt is claimable at once",
			setup: func(c *Cache[token]) {
				c.Set("k", &token{"k", 1}, 100, 200)
				c.Get("k", 150)
				c.Set("k", &token{"k", 2}, 100, 200)
			},
			calls: []call{{150, 2, Refresh}, {150, 2, Fresh}},
		},
		{
			name: "already stale when set",
			setup: func(c *Cache[token]) {
				c.Set("k", &token{"k", 1}, 0, 0)
			},
			calls: []call{{0, 1, Miss}, {-1, 1, Fresh}},
		},
	}
	for _, tt := range tests {
		for _, cfg := range []Config{{Capacity: 4}, {Capacity: 64, Shards: 8}} {
			t.Run(fmt.Sprintf("%s/shards=%d", tt.name, cfg.Shards), func(t *testing.T) {
				c := newCache(t, cfg)
				tt.setup(c)
				for i, call := range tt.calls {
					v, s := c.Get("k", call.now)
					gen := 0
					if v != nil {
						gen = v.gen
					}
					if gen != call.wantGen || s != call.wantStat {
						t.Errorf("call %d: Get(k, %d) = (gen %d, %v), want (gen %d, %v)", i, call.now, gen, s, call.wantGen, call.wantStat)
					}
				}
			})
		}
	}
}

// TestRefreshClaimOnce lets 64 goroutines Get one due entry at once, many
// rounds over, and counts the Refresh answers: exactly one per round.
func TestRefreshClaimOnce(t *testing.T) {
	const goroutines, rounds = 64, 200
	c := newCache(t, Config{Capacity: 16, Shards: 4})
	for round := range rounds {
		v := &token{"k", round + 1}
		c.Set("k", v, 100, 200)
		start := make(chan struct{})
		var refresh, fresh, other atomic.Int64
		var wg sync.WaitGroup
		for g := range goroutines {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				// Spread the goroutines' clocks over the refresh window.
				got, s := c.Get("k", 100+int64(g))
				switch {
				case got != v:
					other.Add(1)
				case s == Refresh:
					refresh.Add(1)
				case s == Fresh:
					fresh.Add(1)
				default:
					other.Add(1)
				}
			}()
		}
		close(start)
		wg.Wait()
		if refresh.Load() != 1 || fresh.Load() != goroutines-1 || other.Load() != 0 {
			t.Fatalf("round %d: %d Refresh, %d Fresh, %d other; want 1, %d, 0",
				round, refresh.Load(), fresh.Load(), other.Load(), goroutines-1)
		}
	}
}

func TestPostpone(t *testing.T) {
	tests := []struct {
		name string
		run  func(c *Cache[token], v *token) []State // Get states to compare
		want []State
	}{
		{
			name: "releases the claim and delays the next one",
			run: func(c *Cache[token], v *token) []State {
				s1 := get(c, 120)
				c.Postpone("k", v, 150)
				return []State{s1, get(c, 130), get(c, 149), get(c, 150), get(c, 151)}
			},
			want: []State{Refresh, Fresh, Fresh, Refresh, Fresh},
		},
		{
			name: "until before refreshAt just releases the claim",
			run: func(c *Cache[token], v *token) []State {
				s1 := get(c, 120)
				c.Postpone("k", v, 50)
				return []State{s1, get(c, 99), get(c, 121), get(c, 122)}
			},
			want: []State{Refresh, Fresh, Refresh, Fresh},
		},
		{
			name: "until past staleAt: no claim before stale",
			run: func(c *Cache[token], v *token) []State {
				s1 := get(c, 120)
				c.Postpone("k", v, 1000)
				return []State{s1, get(c, 150), get(c, 199), get(c, 200)}
			},
			want: []State{Refresh, Fresh, Fresh, Miss},
		},
		{
			name: "without a claim it still forbids one",
			run: func(c *Cache[token], v *token) []State {
				c.Postpone("k", v, 150)
				return []State{get(c, 120), get(c, 150)}
			},
			want: []State{Fresh, Refresh},
		},
		{
			name: "another value does nothing",
			run: func(c *Cache[token], v *token) []State {
				s1 := get(c, 120)
				c.Postpone("k", &token{"k", 99}, 130)
				return []State{s1, get(c, 140), get(c, 190)}
			},
			want: []State{Refresh, Fresh, Fresh},
		},
		{
			name: "a postponement dies with its value",
			run: func(c *Cache[token], v *token) []State {
				c.Postpone("k", v, 180)
				c.Set("k", &token{"k", 2}, 100, 200)
				return []State{get(c, 120)}
			},
			want: []State{Refresh},
		},
		{
			name: "a stale Postpone does not touch the new value",
			run: func(c *Cache[token], v *token) []State {
				s1 := get(c, 120)
				c.Set("k", &token{"k", 2}, 100, 200)
				s2 := get(c, 121) // claims the new value
				c.Postpone("k", v, 130)
				return []State{s1, s2, get(c, 135), get(c, 199)}
			},
			want: []State{Refresh, Refresh, Fresh, Fresh},
		},
		{
			name: "absent key",
			run: func(c *Cache[token], v *token) []State {
				c.Delete("k")
				c.Postpone("k", v, 150)
				c.Postpone("other", nil, 150)
				return []State{get(c, 120)}
			},
			want: []State{Miss},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCache(t, Config{Capacity: 8})
			v := &token{"k", 1}
			c.Set("k", v, 100, 200)
			if got := tt.run(c, v); !slices.Equal(got, tt.want) {
				t.Errorf("states %v, want %v", got, tt.want)
			}
		})
	}
}

func get(c *Cache[token], now int64) State {
	_, s := c.Get("k", now)
	return s
}

func TestDeleteAndCompareAndDelete(t *testing.T) {
	c := newCache(t, Config{Capacity: 8, Shards: 2})
	old := &token{"k", 1}
	cur := &token{"k", 2}
	c.Set("k", old, 100, 200)
	c.Set("k", cur, 100, 200)

	if c.CompareAndDelete("k", old) {
		t.Error("CompareAndDelete with a replaced value deleted")
	}
	if v, ok := c.Peek("k"); !ok || v != cur {
		t.Errorf("after a stale CompareAndDelete: Peek = %v, %v; want the current value", v, ok)
	}
	if c.CompareAndDelete("k", nil) {
		t.Error("CompareAndDelete with nil deleted")
	}
	if c.CompareAndDelete("missing", cur) {
		t.Error("CompareAndDelete of an absent key reported true")
	}
	if !c.CompareAndDelete("k", cur) {
		t.Error("CompareAndDelete with the current value did not delete")
	}
	if v, s := c.Get("k", 0); v != nil || s != Miss {
		t.Errorf("after CompareAndDelete: Get = %v, %v", v, s)
	}
	if c.CompareAndDelete("k", cur) {
		t.Error("second CompareAndDelete reported true")
	}

	c.Set("a", &token{"a", 1}, 100, 200)
	if !c.Delete("a") || c.Delete("a") || c.Delete("never") {
		t.Error("Delete: want true once, then false")
	}
	if _, ok := c.Peek("a"); ok {
		t.Error("Peek finds a deleted key")
	}
	checkInvariants(t, c)
	if c.Len() != 0 {
		t.Errorf("Len() = %d, want 0", c.Len())
	}
	// A deleted key can come back.
	c.Set("a", &token{"a", 2}, 100, 200)
	if v, s := c.Get("a", 0); v == nil || v.gen != 2 || s != Fresh {
		t.Errorf("re-inserted: Get = %v, %v", v, s)
	}
	checkInvariants(t, c)
}

func TestNilValueAndEmptyKey(t *testing.T) {
	c := newCache(t, Config{Capacity: 2})
	c.Set("", &token{"", 1}, 100, 200)
	c.Set("nil", nil, 100, 200)
	if v, s := c.Get("", 0); v == nil || s != Fresh {
		t.Errorf(`Get("") = %v, %v`, v, s)
	}
	if v, s := c.Get("nil", 0); v != nil || s != Fresh {
		t.Errorf(`Get("nil") = %v, %v; want nil, Fresh`, v, s)
	}
	if !c.CompareAndDelete("nil", nil) {
		t.Error("CompareAndDelete(nil) of a nil value did not delete")
	}
	checkInvariants(t, c)
}

func TestPeekDoesNotClaimOrPromote(t *testing.T) {
	c := newCache(t, Config{Capacity: 2})
	a := &token{"a", 1}
	c.Set("a", a, 100, 200)
	c.Set("b", &token{"b", 1}, 100, 200)
	if v, ok := c.Peek("a"); !ok || v != a {
		t.Fatalf("Peek(a) = %v, %v", v, ok)
	}
	if _, s := c.Get("b", 150); s != Refresh {
		t.Errorf("Get after Peek = %v, want Refresh (Peek must not claim)", s)
	}
	c.Set("c", &token{"c", 1}, 100, 200)
	if _, ok := c.Peek("a"); ok {
		t.Error("a survived: Peek must not count as a use")
	}
	if _, ok := c.Peek("missing"); ok {
		t.Error("Peek(missing) reported true")
	}
}

// TestEvictionOneShard checks the LRU order of a one-shard cache. Entries
// move to the front on insert, on Set of an existing key, and on a hit once
// more than Capacity/4 keys were inserted since their last move.
func TestEvictionOneShard(t *testing.T) {
	key := func(i int) string { return "k" + strconv.Itoa(i) }
	tests := []struct {
		name      string
		capacity  int
		ops       []string // "set N", "get N"
		wantKeys  []int    // present, oldest first
		wantGones []int
	}{
		{
			name:     "inserts only: oldest first out",
			capacity: 4,
			ops:      []string{"set 0", "set 1", "set 2", "set 3", "set 4", "set 5"},
			wantKeys: []int{2, 3, 4, 5},
		},
		{
			name:     "an aged hit moves to the front",
			capacity: 4, // promotes after more than 1 insert
			ops:      []string{"set 0", "set 1", "set 2", "set 3", "get 0", "set 4", "set 5"},
			wantKeys: []int{3, 0, 4, 5},
		},
		{
			name:     "aged hits in turn",
			capacity: 4,
			ops:      []string{"set 0", "set 1", "set 2", "set 3", "get 1", "get 0", "set 4", "set 5"},
			wantKeys: []int{1, 0, 4, 5},
		},
		{
			name:     "a young hit does not reorder",
			capacity: 4,
			ops:      []string{"set 0", "set 1", "set 2", "set 3", "get 3", "get 2", "set 4", "set 5"},
			wantKeys: []int{2, 3, 4, 5},
		},
		{
			name:     "capacity < 4 promotes after any insert",
			capacity: 3,
			ops:      []string{"set 0", "set 1", "get 0", "set 2", "get 1", "set 3", "set 4"},
			wantKeys: []int{1, 3, 4},
		},
		{
			name:     "replacing a value is a use",
			capacity: 4,
			ops:      []string{"set 0", "set 1", "set 2", "set 3", "set 0", "set 4", "set 5"},
			wantKeys: []int{3, 0, 4, 5},
		},
		{
			name:     "a stale hit is no use",
			capacity: 4,
			ops:      []string{"set 0", "set 1", "set 2", "set 3", "stale 0", "set 4"},
			wantKeys: []int{1, 2, 3, 4},
		},
		{
			name:     "capacity 1",
			capacity: 1,
			ops:      []string{"set 0", "get 0", "set 1", "get 1", "set 2"},
			wantKeys: []int{2},
		},
		{
			name:     "delete frees a place",
			capacity: 3,
			ops:      []string{"set 0", "set 1", "set 2", "del 1", "set 3", "set 4"},
			wantKeys: []int{2, 3, 4},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCache(t, Config{Capacity: tt.capacity})
			if len(c.shards) != 1 {
				t.Fatalf("%d shards", len(c.shards))
			}
			for _, op := range tt.ops {
				var verb string
				var i int
				if _, err := fmt.Sscanf(op, "%s %d", &verb, &i); err != nil {
					t.Fatal(err)
				}
				switch verb {
				case "set":
					c.Set(key(i), &token{key(i), 1}, 100, 200)
				case "get":
					if _, s := c.Get(key(i), 0); s != Fresh {
						t.Fatalf("%s: %v", op, s)
					}
				case "stale":
					if _, s := c.Get(key(i), 200); s != Miss {
						t.Fatalf("%s: %v", op, s)
					}
				case "del":
					c.Delete(key(i))
				}
				if c.Len() > tt.capacity {
					t.Fatalf("after %s: Len %d > capacity %d", op, c.Len(), tt.capacity)
				}
			}
			var want []string
			for _, i := range tt.wantKeys {
				want = append(want, key(i))
			}
			if got := c.shards[0].lru.Keys(); !slices.Equal(got, want) {
				t.Errorf("LRU keys %v, want %v", got, want)
			}
			checkInvariants(t, c)
		})
	}
}

// TestHotKeySurvives inserts many cold keys while hitting a few hot ones
// regularly: the hot keys stay, every hit Fresh; the cold ones go, oldest
// first.
func TestHotKeySurvives(t *testing.T) {
	tests := []struct {
		capacity, shards, cold, hitEvery int
	}{
		{capacity: 64, cold: 5_000, hitEvery: 8},
		{capacity: 1024, cold: 5_000, hitEvery: 100},
		{capacity: 4096, cold: 12_000, hitEvery: 100}, // 4 shards
		{capacity: 4096, shards: 64, cold: 12_000, hitEvery: 100},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("cap=%d,shards=%d", tt.capacity, tt.shards), func(t *testing.T) {
			c := newCache(t, Config{Capacity: tt.capacity, Shards: tt.shards})
			hot := []string{"hot-a", "hot-b", "hot-c"}
			for _, k := range hot {
				c.Set(k, &token{k, 1}, 1<<60, 1<<61)
			}
			for i := range tt.cold {
				k := "cold-" + strconv.Itoa(i)
				c.Set(k, &token{k, 1}, 1<<60, 1<<61)
				if i%tt.hitEvery == 0 {
					for _, h := range hot {
						if v, s := c.Get(h, 0); v == nil || v.key != h || s != Fresh {
							t.Fatalf("after %d cold inserts: Get(%s) = %v, %v", i+1, h, v, s)
						}
					}
				}
			}
			if c.Len() != tt.capacity {
				t.Errorf("Len() = %d, want %d", c.Len(), tt.capacity)
			}
			// The oldest cold keys are gone.
			for i := range tt.cold - 2*tt.capacity {
				if _, ok := c.Peek("cold-" + strconv.Itoa(i)); ok {
					t.Errorf("cold-%d of %d survived", i, tt.cold)
					break
				}
			}
			checkInvariants(t, c)
		})
	}
}

// TestCapacityExact fills caches of many shapes: Len never exceeds the
// capacity and reaches it exactly, however unevenly keys hash to shards.
func TestCapacityExact(t *testing.T) {
	tests := []struct{ capacity, shards, keys int }{
		{1, 0, 10}, {2, 2, 50}, {3, 4, 50}, {7, 8, 100}, {100, 64, 1000},
		{1000, 0, 5000}, {2000, 0, 5000}, {5000, 16, 12_000},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%+v", tt), func(t *testing.T) {
			c := newCache(t, Config{Capacity: tt.capacity, Shards: tt.shards})
			for i := range tt.keys {
				k := strconv.Itoa(i)
				c.Set(k, &token{k, i}, 100, 200)
				if want := min(i+1, tt.capacity); c.Len() != want {
					t.Fatalf("after %d inserts: Len() = %d, want %d", i+1, c.Len(), want)
				}
				if v, s := c.Get(k, 0); v == nil || v.gen != i || s != Fresh {
					t.Fatalf("just set %s: Get = %v, %v", k, v, s)
				}
			}
			checkInvariants(t, c)
		})
	}
}

// TestFullCacheEmptyShard makes a new key's shard empty while the cache is
// full: the room is made in another shard.
func TestFullCacheEmptyShard(t *testing.T) {
	c := newCache(t, Config{Capacity: 2, Shards: 2})
	var in0, in1 []string
	for i := 0; len(in0) < 2 || len(in1) < 1; i++ {
		k := "k" + strconv.Itoa(i)
		if c.hash(k)>>c.shift == 0 {
			in0 = append(in0, k)
		} else {
			in1 = append(in1, k)
		}
	}
	c.Set(in0[0], &token{in0[0], 1}, 100, 200)
	c.Set(in0[1], &token{in0[1], 1}, 100, 200)
	c.Set(in1[0], &token{in1[0], 1}, 100, 200)
	if c.Len() != 2 {
		t.Errorf("Len() = %d, want 2", c.Len())
	}
	for k, want := range map[string]bool{in0[0]: false, in0[1]: true, in1[0]: true} {
		if _, ok := c.Peek(k); ok != want {
			t.Errorf("Peek(%s) present = %v, want %v", k, ok, want)
		}
	}
	checkInvariants(t, c)
}

// TestConcurrent runs Set, Get, Peek, Delete, CompareAndDelete and Postpone
// from 32 goroutines over a key space larger than the cache, so that
// evictions race with everything else. Every value read must belong to its
// key. Run it with -race.
func TestConcurrent(t *testing.T) {
	for _, cfg := range []Config{{Capacity: 256}, {Capacity: 256, Shards: 8}, {Capacity: 4096, Shards: 64}} {
		t.Run(fmt.Sprintf("cap=%d,shards=%d", cfg.Capacity, cfg.Shards), func(t *testing.T) {
			const goroutines, keys = 32, 1024
			iters := 4000
			if testing.Short() {
				iters = 500
			}
			c := newCache(t, cfg)
			names := make([]string, keys)
			for i := range names {
				names[i] = "tenant-" + strconv.Itoa(i)
			}
			var wrongKey, overCap atomic.Int64
			check := func(k string, v *token) {
				if v != nil && v.key != k {
					wrongKey.Add(1)
				}
			}
			var wg sync.WaitGroup
			for g := range goroutines {
				wg.Add(1)
				go func() {
					defer wg.Done()
					r := rand.New(rand.NewPCG(uint64(g), 42))
					for i := range iters {
						// Half the traffic on 32 hot keys, half anywhere.
						k := names[r.IntN(keys)]
						if r.IntN(2) == 0 {
							k = names[r.IntN(32)]
						}
						now := int64(r.IntN(300))
						switch op := r.IntN(100); {
						case op < 60:
							v, s := c.Get(k, now)
							check(k, v)
							if s == Refresh {
								if r.IntN(2) == 0 {
									c.Set(k, &token{k, i}, now+100, now+200)
								} else {
									c.Postpone(k, v, now+50)
								}
							}
						case op < 80:
							c.Set(k, &token{k, i}, int64(r.IntN(200)), int64(100+r.IntN(200)))
						case op < 88:
							v, _ := c.Peek(k)
							check(k, v)
							c.CompareAndDelete(k, v)
						case op < 92:
							c.CompareAndDelete(k, &token{k, i})
						case op < 96:
							c.Delete(k)
						default:
							if n := c.Len(); n > cfg.Capacity {
								overCap.Add(1)
							}
						}
					}
				}()
			}
			wg.Wait()
			if n := wrongKey.Load(); n != 0 {
				t.Errorf("%d values read under the wrong key", n)
			}
			if n := overCap.Load(); n != 0 {
				t.Errorf("Len above capacity %d times", n)
			}
			checkInvariants(t, c)
		})
	}
}

// TestGetAllocs checks that every kind of Get allocates nothing, including
// the rare hit that promotes an aged entry.
func TestGetAllocs(t *testing.T) {
	for _, cfg := range []Config{{Capacity: 4}, {Capacity: 4096, Shards: 8}} {
		c := newCache(t, cfg)
		c.Set("k", &token{"k", 1}, 100, 200)
		tests := []struct {
			name string
			key  string
			now  int64
		}{
			{"fresh", "k", 0}, {"refresh or claimed", "k", 150}, {"stale", "k", 250}, {"absent", "absent", 0},
		}
		for _, tt := range tests {
			if n := testing.AllocsPerRun(1000, func() { c.Get(tt.key, tt.now) }); n != 0 {
				t.Errorf("shards=%d: Get %s: %v allocs", len(c.shards), tt.name, n)
			}
		}
		if n := testing.AllocsPerRun(1000, func() { c.Peek("k") }); n != 0 {
			t.Errorf("Peek: %v allocs", n)
		}
	}

	// Every Get below promotes: the first 2 000 keys of a full one-shard
	// cache of 4 096 have aged past 1 024 inserts.
	c := newCache(t, Config{Capacity: 4096, Shards: 1})
	keys := make([]string, 4096)
	for i := range keys {
		keys[i] = strconv.Itoa(i)
		c.Set(keys[i], &token{keys[i], i}, 100, 200)
	}
	i := 0
	if n := testing.AllocsPerRun(1000, func() { c.Get(keys[i], 0); i++ }); n != 0 {
		t.Errorf("promoting Get: %v allocs", n)
	}
	if got := c.shards[0].lru.Keys()[4096-1001:]; !slices.Equal(got, keys[:1001]) {
		t.Errorf("after 1001 promoting Gets, the front of the LRU list is %v..., want the keys in Get order", got[:3])
	}
}

// TestHitTakesNoLock holds every shard's mutex while reading: a Get, Peek,
// Postpone or Len that took a lock would deadlock here (and the test time
// out) instead of returning.
func TestHitTakesNoLock(t *testing.T) {
	c := newCache(t, Config{Capacity: 64, Shards: 4})
	v := &token{"k", 1}
	c.Set("k", v, 100, 200)
	for i := range c.shards {
		c.shards[i].mu.Lock()
	}
	_, fresh := c.Get("k", 0)
	_, refresh := c.Get("k", 150)
	_, claimed := c.Get("k", 151)
	c.Postpone("k", v, 160)
	_, postponed := c.Get("k", 155)
	_, stale := c.Get("k", 200)
	_, absent := c.Get("absent", 0)
	_, ok := c.Peek("k")
	n := c.Len()
	for i := range c.shards {
		c.shards[i].mu.Unlock()
	}
	got := []State{fresh, refresh, claimed, postponed, stale, absent}
	if want := []State{Fresh, Refresh, Fresh, Fresh, Miss, Miss}; !slices.Equal(got, want) || !ok || n != 1 {
		t.Errorf("states %v, Peek %v, Len %d; want %v, true, 1", got, ok, n, want)
	}
}

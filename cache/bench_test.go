package cache

import (
	"math/rand/v2"
	"strconv"
	"sync/atomic"
	"testing"
)

type benchToken struct{ access string }

func benchKeys(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = "tenant-" + strconv.Itoa(i)
	}
	return keys
}

// BenchmarkCacheGet measures the hit path the Manager takes on every
// request: each goroutine cycles through a precomputed slice of keys, from
// its own starting point.
func BenchmarkCacheGet(b *testing.B) {
	for _, n := range []int{1, 1_000, 100_000} {
		b.Run("keys="+strconv.Itoa(n), func(b *testing.B) {
			c, err := New[benchToken](Config{Capacity: max(n, DefaultCapacity)})
			if err != nil {
				b.Fatal(err)
			}
			keys := benchKeys(n)
			for _, k := range keys {
				c.Set(k, &benchToken{access: k}, 1<<60, 1<<61)
			}
			var misses atomic.Int64
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				i := rand.IntN(n)
				miss := 0
				for pb.Next() {
					if v, s := c.Get(keys[i], 1000); v == nil || s != Fresh {
						miss++
					}
					if i++; i == n {
						i = 0
					}
				}
				misses.Add(int64(miss))
			})
			if m := misses.Load(); m != 0 {
				b.Fatalf("%d misses", m)
			}
		})
	}
}

// BenchmarkCacheSet measures the two kinds of write: replacing an existing
// key's value (a token refresh: no index copy) and inserting new keys into a
// full cache (an index copy of one shard plus an eviction).
func BenchmarkCacheSet(b *testing.B) {
	for _, capacity := range []int{1_000, 10_000, 100_000} {
		b.Run("replace/cap="+strconv.Itoa(capacity), func(b *testing.B) {
			c, err := New[benchToken](Config{Capacity: capacity})
			if err != nil {
				b.Fatal(err)
			}
			keys := benchKeys(capacity)
			v := &benchToken{}
			for _, k := range keys {
				c.Set(k, v, 1<<60, 1<<61)
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				c.Set(keys[i], v, 1<<60, 1<<61)
				if i++; i == len(keys) {
					i = 0
				}
			}
		})
		b.Run("insert/cap="+strconv.Itoa(capacity), func(b *testing.B) {
			c, err := New[benchToken](Config{Capacity: capacity})
			if err != nil {
				b.Fatal(err)
			}
			// Twice the capacity: every Set inserts a key evicted earlier.
			keys := benchKeys(2 * capacity)
			v := &benchToken{}
			for _, k := range keys[:capacity] {
				c.Set(k, v, 1<<60, 1<<61)
			}
			b.ReportAllocs()
			i := capacity
			for b.Loop() {
				c.Set(keys[i], v, 1<<60, 1<<61)
				if i++; i == len(keys) {
					i = 0
				}
			}
		})
	}
}

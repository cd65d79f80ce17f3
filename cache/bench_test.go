package cache

import (
	"math/rand/v2"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// cpuTime returns the CPU time the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU adds two metrics that hold still on a machine busy with other
// work, where ns/op (wall time) does not: cpu-ns/op, the CPU time one
// operation costs, and par-ns/op, that divided by GOMAXPROCS — the ns/op
// the benchmark would show with its cores to itself. With perfect scaling
// cpu-ns/op stays flat as -cpu grows; contention makes it grow.
func reportCPU(b *testing.B, since time.Duration) {
	if b.N == 0 {
		return
	}
	perOp := float64(cpuTime()-since) / float64(b.N)
	b.ReportMetric(perOp, "cpu-ns/op")
	b.ReportMetric(perOp/float64(runtime.GOMAXPROCS(0)), "par-ns/op")
}

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
		// Filled once, outside b.Run: the benchmark function runs once per
		// b.N the framework tries, and a fill of 100 000 keys takes seconds.
		var c *Cache[benchToken]
		var keys []string
		b.Run("keys="+strconv.Itoa(n), func(b *testing.B) {
			if c == nil {
				var err error
				if c, err = New[benchToken](Config{Capacity: max(n, DefaultCapacity)}); err != nil {
					b.Fatal(err)
				}
				keys = benchKeys(n)
				for _, k := range keys {
					c.Set(k, benchToken{access: k}, 1<<60, 1<<61)
				}
			}
			var misses atomic.Int64
			b.ReportAllocs()
			cpu0 := cpuTime()
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
			b.StopTimer()
			reportCPU(b, cpu0)
			if m := misses.Load(); m != 0 {
				b.Fatalf("%d misses", m)
			}
		})
	}
}

// BenchmarkCacheSet measures the two kinds of write: replacing an existing
// key's value (a token refresh: a new node in the old one's slot) and
// inserting new keys into a full cache (a clock eviction plus an insert into
// one shard's table, which now and then is rebuilt to shed its tombstones).
// Each cache is filled once and reused across the b.N rounds.
func BenchmarkCacheSet(b *testing.B) {
	for _, capacity := range []int{1_000, 10_000, 100_000} {
		// Twice the capacity: cycling through them, every insert is of a
		// key evicted earlier.
		keys := benchKeys(2 * capacity)
		v := benchToken{access: "token"}
		var replace, insert *Cache[benchToken]
		fill := func(b *testing.B) *Cache[benchToken] {
			c, err := New[benchToken](Config{Capacity: capacity})
			if err != nil {
				b.Fatal(err)
			}
			for _, k := range keys[:capacity] {
				c.Set(k, v, 1<<60, 1<<61)
			}
			return c
		}
		b.Run("replace/cap="+strconv.Itoa(capacity), func(b *testing.B) {
			if replace == nil {
				replace = fill(b)
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				replace.Set(keys[i], v, 1<<60, 1<<61)
				if i++; i == capacity {
					i = 0
				}
			}
		})
		i := capacity
		b.Run("insert/cap="+strconv.Itoa(capacity), func(b *testing.B) {
			if insert == nil {
				insert = fill(b)
			}
			b.ReportAllocs()
			for b.Loop() {
				insert.Set(keys[i], v, 1<<60, 1<<61)
				if i++; i == len(keys) {
					i = 0
				}
			}
		})
	}
}

// BenchmarkSyncMapLoad is the baseline for BenchmarkCacheGet: the same keys
// and access pattern over a sync.Map of pointers, which has no deadlines,
// claims or capacity. Run both in one go to compare:
//
//	go test -run='^$' -bench='CacheGet|SyncMapLoad' ./cache
func BenchmarkSyncMapLoad(b *testing.B) {
	for _, n := range []int{1, 1_000, 100_000} {
		var m *sync.Map
		var keys []string
		b.Run("keys="+strconv.Itoa(n), func(b *testing.B) {
			if m == nil {
				m = new(sync.Map)
				keys = benchKeys(n)
				for _, k := range keys {
					m.Store(k, &benchToken{access: k})
				}
			}
			var misses atomic.Int64
			b.ReportAllocs()
			cpu0 := cpuTime()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				i := rand.IntN(n)
				miss := 0
				for pb.Next() {
					if v, ok := m.Load(keys[i]); !ok || v.(*benchToken) == nil {
						miss++
					}
					if i++; i == n {
						i = 0
					}
				}
				misses.Add(int64(miss))
			})
			b.StopTimer()
			reportCPU(b, cpu0)
			if m := misses.Load(); m != 0 {
				b.Fatalf("%d misses", m)
			}
		})
	}
}

// BenchmarkCacheFill fills a new cache of n keys (its capacity, so nothing
// is evicted) per round, and reports ns/insert: flat across n when filling
// is linear (beyond the cost of cache misses as the tables outgrow the CPU
// caches). TestFillIsLinear checks the same by bytes allocated.
func BenchmarkCacheFill(b *testing.B) {
	for _, n := range []int{1_000, 10_000, 100_000, 1_000_000} {
		var keys []string
		b.Run("keys="+strconv.Itoa(n), func(b *testing.B) {
			if keys == nil {
				keys = benchKeys(n)
			}
			v := benchToken{access: "token"}
			b.ReportAllocs()
			for b.Loop() {
				c, err := New[benchToken](Config{Capacity: n})
				if err != nil {
					b.Fatal(err)
				}
				for _, k := range keys {
					c.Set(k, v, 1<<60, 1<<61)
				}
				if c.Len() != n {
					b.Fatalf("Len() = %d, want %d", c.Len(), n)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/insert")
		})
	}
}

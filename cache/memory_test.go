package cache

import (
	"runtime"
	"strconv"
	"testing"
	"unsafe"
)

// maxBytesPerEntry is the memory budget of one entry beyond its value and
// its key's bytes: the node (the key's string header, refreshAt, staleAt,
// gate, the reference bit and padding: 48 bytes, and the allocator's
// rounding of the node with its value) and the entry's share of its
// shard's table (8-byte slots, between 1/4 and 3/4 full: 11 to 32 bytes).
const maxBytesPerEntry = 96

// TestMemoryPerEntry fills caches of 100 000 and 1 000 000 keys and
// measures the heap they hold beyond the values (stored inline in the
// nodes: unsafe.Sizeof(V) each) and the key strings (allocated beforehand,
// and shared, not copied, by the cache).
func TestMemoryPerEntry(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector changes allocation sizes")
	}
	valueSize := float64(unsafe.Sizeof(token{}))
	for _, n := range []int{100_000, 1_000_000} {
		if n > 100_000 && testing.Short() {
			t.Logf("%d entries: skipped in -short mode", n)
			continue
		}
		keys := make([]string, n)
		for i := range keys {
			keys[i] = "tenant-" + strconv.Itoa(i)
		}
		before := heapInUse()
		c := newCache(t, Config{Capacity: n})
		for i, k := range keys {
			c.Set(k, token{k, i}, 1<<60, 1<<61)
		}
		after := heapInUse()
		if c.Len() != n {
			t.Fatalf("Len() = %d", c.Len())
		}
		perEntry := float64(after-before)/float64(n) - valueSize
		t.Logf("%d entries, %d shards: %.1f bytes per entry beyond V (%v bytes) and key bytes",
			n, len(c.shards), perEntry, valueSize)
		if perEntry > maxBytesPerEntry {
			t.Errorf("%d entries: %.1f bytes per entry, budget %d", n, perEntry, maxBytesPerEntry)
		}
		runtime.KeepAlive(c)
		runtime.KeepAlive(keys)
	}
}

func heapInUse() int64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}

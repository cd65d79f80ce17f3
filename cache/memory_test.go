package cache

import (
	"runtime"
	"strconv"
	"testing"
)

// maxBytesPerEntry is the memory budget of one entry beyond its value and
// its key's bytes: read index, LRU element and map, entry and slot.
const maxBytesPerEntry = 256

// TestMemoryPerEntry fills a cache with 100 000 keys and measures the heap
// it holds beyond the values and the key strings (allocated beforehand).
func TestMemoryPerEntry(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("slow; the race detector changes allocation sizes")
	}
	const n = 100_000
	for _, cfg := range []Config{{Capacity: n}} {
		keys := make([]string, n)
		vals := make([]token, n)
		for i := range keys {
			keys[i] = "tenant-" + strconv.Itoa(i)
		}
		before := heapInUse()
		c := newCache(t, cfg)
		for i, k := range keys {
			c.Set(k, &vals[i], 1<<60, 1<<61)
		}
		after := heapInUse()
		if c.Len() != n {
			t.Fatalf("Len() = %d", c.Len())
		}
		perEntry := float64(after-before) / n
		t.Logf("%d shards: %.1f bytes per entry beyond V and key bytes", len(c.shards), perEntry)
		if perEntry > maxBytesPerEntry {
			t.Errorf("%d shards: %.1f bytes per entry, budget %d", len(c.shards), perEntry, maxBytesPerEntry)
		}
		runtime.KeepAlive(c)
		runtime.KeepAlive(keys)
		runtime.KeepAlive(vals)
	}
}

func heapInUse() int64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}

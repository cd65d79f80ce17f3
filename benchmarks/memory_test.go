package benchmarks

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/tenantauth/tenantauth/benchmarks/internal/standin"
)

// memoryTenants are the tenant counts of the memory benchmark. The two
// large ones are skipped in CI's one-shot run (skipLarge); 1 000 000 takes
// a few seconds per contender and iteration (the fill is one goroutine).
var memoryTenants = []int{1000, 10_000, largeTenants, 1_000_000}

// BenchmarkMemoryPerTenant measures the heap each contender keeps per cached
// tenant: the live heap (after runtime.GC) once N tenants' tokens are
// cached, minus the live heap before, divided by N. It reports
//
//   - B/tenant: beyond the access token's own bytes (standin.TokenSize,
//     one allocation of exactly that size per tenant);
//   - total-B/tenant: everything.
//
// The tenant IDs exist before the first reading (every contender keeps the
// caller's string, none copies it) and tenantauth builds Tenant values on
// demand, so neither counts. ns/op is suppressed: each iteration fills a
// whole new contender.
func BenchmarkMemoryPerTenant(b *testing.B) {
	for _, n := range memoryTenants {
		for _, im := range impls {
			b.Run(fmt.Sprintf("tenants=%d/impl=%s", n, im.bench), func(b *testing.B) {
				skipLarge(b, n)
				var total float64
				for range b.N {
					total += heapPerTenant(b, im.name, n)
				}
				perTenant := total / float64(b.N)
				b.ReportMetric(perTenant, "total-B/tenant")
				b.ReportMetric(perTenant-standin.TokenSize, "B/tenant")
				b.ReportMetric(0, "ns/op")
			})
		}
	}
}

// heapPerTenant returns the live heap a contender holds per cached tenant.
func heapPerTenant(b *testing.B, name string, n int) float64 {
	f := newFixture(b, name, n, standin.NewNoop(), false)
	defer f.c.Close()
	before := liveHeap()
	f.fill(b)
	after := liveHeap()
	runtime.KeepAlive(f)
	return (float64(after) - float64(before)) / float64(n)
}

// liveHeap returns the bytes of live heap objects after a full collection.
func liveHeap() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC() // a second cycle frees what the first one's finalizers released
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

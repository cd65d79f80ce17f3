package tenantauth

import (
	"testing"
	"unsafe"
)

// TestEntrySize guards the memory budget per cached tenant: the cache's
// node (key 16 B, deadlines and claim 24 B, reference bit 8 B) plus this
// entry must stay within Go's 208-byte size class, so one tenant costs one
// 208-byte allocation, its header's bytes and a table slot (≤ 256 B beyond
// the token's bytes, as BenchmarkMemoryPerTenant measures).
func TestEntrySize(t *testing.T) {
	const nodeHeader = 48
	if n := unsafe.Sizeof(entry{}); nodeHeader+n > 208 {
		t.Fatalf("entry is %d bytes: node would be %d > 208", n, nodeHeader+n)
	}
}

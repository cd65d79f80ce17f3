package load

import "sync/atomic"

// A tracker remembers, per tenant and per epoch (the epoch changes when all
// tokens are revoked), the first and the last time the tenant was asked for,
// which is all the ideal token count needs. Writes are rare (the first touch,
// then at most one per granularity per tenant), so the hot path mostly only
// reads shared memory.
type tracker struct {
	gran  int64 // last-touch resolution, ns
	first [2][]atomic.Int64
	last  [2][]atomic.Int64
}

func newTracker(tenants int, gran int64) *tracker {
	t := &tracker{gran: max(gran, 1)}
	for e := range t.first {
		t.first[e] = make([]atomic.Int64, tenants)
		t.last[e] = make([]atomic.Int64, tenants)
	}
	return t
}

// touch records that tenant i was asked for at now (> 0) in epoch e.
func (t *tracker) touch(e, i int, now int64) {
	if t.first[e][i].Load() == 0 {
		t.first[e][i].CompareAndSwap(0, now)
	}
	l := &t.last[e][i]
	if old := l.Load(); old == 0 || now-old >= t.gran {
		l.Store(now)
	}
}

// ideal returns the fewest token requests that could have served every
// touch: per tenant and epoch, one per lifetime from the first touch on.
// (One token covers [issue, issue+lifetime); a revocation starts a new
// epoch that needs new tokens.)
func (t *tracker) ideal(lifetime int64) (ideal uint64, touched int) {
	lifetime = max(lifetime, 1)
	for i := range t.first[0] {
		any := false
		for e := range t.first {
			f := t.first[e][i].Load()
			if f == 0 {
				continue
			}
			any = true
			l := max(t.last[e][i].Load(), f)
			ideal += uint64((l-f)/lifetime) + 1
		}
		if any {
			touched++
		}
	}
	return ideal, touched
}

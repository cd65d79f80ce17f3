package benchmarks

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/tenantauth/tenantauth/benchmarks/internal/contender"
	"github.com/tenantauth/tenantauth/benchmarks/internal/standin"
)

// lookupTenants are the tenant counts of the cached-lookup benchmark. At
// 1 000 000 the tables no longer fit in the CPU's caches: the syncmap
// floor shows what that costs any lookup.
var lookupTenants = []int{1, 1000, 10_000, largeTenants, 1_000_000}

// BenchmarkLookup measures the cached token lookup: every tenant's token is
// cached and goroutines (b.RunParallel, so run with -cpu 1,2) cycle through
// the tenants, each from its own offset. Each contender is called through
// its concrete type so the loop is the same for all three:
//
//   - tenantauth: Manager.Token;
//   - oauth2: sync.Map load of the tenant's ReuseTokenSource, then its Token
//     (a mutex and a clock read);
//   - naive: mutex, map lookup, clock read;
//   - syncmap: not a contender but the floor, a bare sync.Map.Load of a
//     cached pointer (no expiry check), with the same keys and the same
//     pattern, so that tenantauth's hit can be compared with it in the same
//     run.
func BenchmarkLookup(b *testing.B) {
	for _, n := range lookupTenants {
		for _, im := range impls {
			b.Run(fmt.Sprintf("tenants=%d/impl=%s", n, im.bench), func(b *testing.B) {
				skipLarge(b, n)
				f := cachedFixture(b, im.name, n)
				var off offsets
				ctx := context.Background()
				b.ReportAllocs()
				b.ResetTimer()
				switch c := f.c.(type) {
				case *contender.Tenantauth:
					m := c.Manager()
					b.RunParallel(func(pb *testing.PB) {
						i := off.take(n)
						for pb.Next() {
							if _, err := m.Token(ctx, f.ids[i]); err != nil {
								b.Error(err)
								return
							}
							if i++; i == n {
								i = 0
							}
						}
					})
				case *contender.OAuth2:
					b.RunParallel(func(pb *testing.PB) {
						i := off.take(n)
						for pb.Next() {
							if _, err := c.Lookup(ctx, f.ids[i]); err != nil {
								b.Error(err)
								return
							}
							if i++; i == n {
								i = 0
							}
						}
					})
				case *contender.Naive:
					b.RunParallel(func(pb *testing.PB) {
						i := off.take(n)
						for pb.Next() {
							if _, err := c.Lookup(ctx, f.ids[i]); err != nil {
								b.Error(err)
								return
							}
							if i++; i == n {
								i = 0
							}
						}
					})
				default:
					b.Fatalf("unexpected contender %T", c)
				}
				b.StopTimer()
				if got := f.idp.Stats().Requests; got != uint64(n) {
					b.Errorf("%d token requests for %d cached tenants: the lookups were not all hits", got, n)
				}
			})
		}
		b.Run(fmt.Sprintf("tenants=%d/impl=syncmap", n), func(b *testing.B) {
			skipLarge(b, n)
			benchSyncMap(b, n)
		})
	}
}

// syncMapEntry stands for a cached token: what a lock-free map would point
// to.
type syncMapEntry struct{ access string }

// benchSyncMap is BenchmarkLookup's impl=syncmap: sync.Map.Load of n
// cached pointers, keyed by the same tenant IDs, cycled through the same
// way.
func benchSyncMap(b *testing.B, n int) {
	ids := standin.TenantIDs(n)
	var m sync.Map
	for _, id := range ids {
		m.Store(id, &syncMapEntry{access: id + ".token"})
	}
	var off offsets
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := off.take(n)
		for pb.Next() {
			v, ok := m.Load(ids[i])
			if !ok {
				b.Error("syncmap: key not cached")
				return
			}
			if v.(*syncMapEntry).access == "" {
				b.Error("syncmap: empty entry")
				return
			}
			if i++; i == n {
				i = 0
			}
		}
	})
}

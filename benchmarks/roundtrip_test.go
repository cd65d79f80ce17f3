package benchmarks

import (
	"net/http"
	"testing"

	"github.com/tenantauth/tenantauth/benchmarks/internal/standin"
)

// roundTripTenants is the tenant count of the RoundTrip benchmark.
const roundTripTenants = 1000

// BenchmarkRoundTrip measures what each contender's RoundTripper adds to a
// request: the base transport is standin.Noop, which answers a shared 200
// without looking at the request, and every tenant's token is cached.
// impl=none calls the base directly, the floor of the loop itself.
//
//   - tenantauth: httpauth.Transport (TokenForHost, a cheap request copy
//     with the precomputed Authorization value);
//   - oauth2: sync.Map load, then the tenant's oauth2.Transport (Token,
//     req.Clone, "Bearer "+token, plus the wrapper's 401 check);
//   - naive: map lookup, req.Clone, Header.Set("Authorization", "Bearer "+tok).
func BenchmarkRoundTrip(b *testing.B) {
	base := standin.NewNoop()
	reqs := requests(standin.TenantIDs(roundTripTenants))
	bench := func(b *testing.B, rt http.RoundTripper) {
		var off offsets
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			i := off.take(len(reqs))
			for pb.Next() {
				resp, err := rt.RoundTrip(reqs[i])
				if err != nil || resp.StatusCode != http.StatusOK {
					b.Errorf("RoundTrip: %v", err)
					return
				}
				if i++; i == len(reqs) {
					i = 0
				}
			}
		})
	}
	b.Run("impl=none", func(b *testing.B) { bench(b, base) })
	for _, im := range impls {
		b.Run("impl="+im.bench, func(b *testing.B) {
			f := newFixture(b, im.name, roundTripTenants, base, true)
			defer f.c.Close()
			bench(b, f.c)
		})
	}
}

package benchmarks

import (
	"net/http"
	"testing"

	"github.com/tenantauth/tenantauth"
	"github.com/tenantauth/tenantauth/benchmarks/internal/standin"
)

// roundTripTenants is the tenant count of the RoundTrip benchmark.
const roundTripTenants = 1000

// BenchmarkRoundTrip measures what each contender's RoundTripper adds to a
// request: the base transport is standin.Noop, which answers a shared 200
// without looking at the request, and every tenant's token is cached.
// impl=none calls the base directly, the floor of the loop itself;
// impl=floor is the least any token-adding RoundTripper must do (see
// floor).
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
	b.Run("impl=floor", func(b *testing.B) { bench(b, newFloor(base, reqs)) })
	for _, im := range impls {
		b.Run("impl="+im.bench, func(b *testing.B) {
			f := newFixture(b, im.name, roundTripTenants, base, true)
			defer f.c.Close()
			bench(b, f.c)
		})
	}
}

// floor is the least a RoundTripper that adds a tenant's token can do
// while keeping the RoundTripper contract (it must not modify the caller's
// request): a shallow copy of the request and a new header map holding the
// caller's headers plus a precomputed Authorization value, found in a
// plain map by the tenant in the request's context. It has no cache
// policy, no expiry, no host check and no 401 handling: what tenantauth
// adds on top of it is what the figures of impl=tenantauth minus
// impl=floor show.
type floor struct {
	base http.RoundTripper
	auth map[string]string // tenant → "Bearer …"
}

func newFloor(base http.RoundTripper, reqs []*http.Request) *floor {
	f := &floor{base: base, auth: make(map[string]string, len(reqs))}
	for _, r := range reqs {
		id, _ := tenantauth.TenantFromContext(r.Context())
		f.auth[id] = "Bearer token-of-" + id
	}
	return f
}

// floorClone is the request copy with its Authorization value inline, as
// httpauth's: a value slice shared between requests could be changed by a
// base transport for all of them.
type floorClone struct {
	req  http.Request
	auth [1]string
}

func (f *floor) RoundTrip(req *http.Request) (*http.Response, error) {
	id, _ := tenantauth.TenantFromContext(req.Context())
	c := &floorClone{req: *req}
	c.auth[0] = f.auth[id]
	h := make(http.Header, len(req.Header)+1)
	for k, v := range req.Header {
		h[k] = append([]string(nil), v...) // the caller's values are not shared either
	}
	h["Authorization"] = c.auth[:]
	c.req.Header = h
	return f.base.RoundTrip(&c.req)
}

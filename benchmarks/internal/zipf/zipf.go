// Package zipf draws tenant numbers with Zipf-distributed popularity, as
// real multi-tenant traffic is: a few tenants send most requests and a long
// tail sends a few each.
package zipf

import (
	"errors"
	"math"
	"math/rand/v2"
)

// ErrParams is returned for a tenant count below 1 or an exponent not above 1.
var ErrParams = errors.New("zipf: need n ≥ 1 and s > 1")

// A Sampler draws integers in [0, n) with P(k) proportional to 1/(k+1)^s:
// tenant 0 is the busiest. A Sampler is not safe for concurrent use; give
// each goroutine its own, with its own *rand.Rand.
type Sampler struct {
	z *rand.Zipf // nil when n == 1
}

// New returns a sampler over [0, n) with exponent s > 1 (math/rand's Zipf
// generator needs s > 1; 1.1 is a common fit for per-customer traffic),
// drawing from r.
func New(r *rand.Rand, n int, s float64) (*Sampler, error) {
	if n < 1 || !(s > 1) || r == nil {
		return nil, ErrParams
	}
	if n == 1 {
		return &Sampler{}, nil
	}
	z := rand.NewZipf(r, s, 1, uint64(n-1))
	if z == nil {
		return nil, ErrParams
	}
	return &Sampler{z: z}, nil
}

// Next returns the next tenant number.
func (s *Sampler) Next() int {
	if s.z == nil {
		return 0
	}
	return int(s.z.Uint64())
}

// Share returns the expected fraction of draws that are k, for tests and
// for the README's traffic description.
func Share(n int, s float64, k int) float64 {
	if k < 0 || k >= n {
		return 0
	}
	var h float64
	for i := 1; i <= n; i++ {
		h += math.Pow(float64(i), -s)
	}
	return math.Pow(float64(k+1), -s) / h
}

// Package hist is a fixed-size latency histogram with bounded relative
// error, so that millions of samples cost a few tens of kilobytes instead of
// a slice that would itself show up in the heap figures being measured.
//
// Values below 256 are counted exactly; larger values fall into buckets
// that keep the top 8 significant bits, so a reported quantile is within
// 1/256 (0.4 %) of a value that was recorded. Values at or above MaxValue are
// counted as MaxValue.
package hist

import (
	"math"
	"math/bits"
)

const (
	subBits  = 7 // 128 sub-buckets per power of two
	sub      = 1 << subBits
	maxShift = 33
	// MaxValue is the largest value kept exactly to the histogram's
	// precision (about 37 minutes in nanoseconds); larger ones are clamped.
	MaxValue  = int64(2*sub)<<maxShift - 1
	numBucket = (maxShift+2)*sub + sub
)

// A Histogram counts int64 values (nanoseconds, say). The zero value is
// empty and ready to use. A Histogram is not safe for concurrent use: give
// each goroutine its own and Merge them.
type Histogram struct {
	counts   [numBucket]uint64
	n        uint64
	sum      float64
	min, max int64
}

// bucket returns the bucket index of v ≥ 0.
func bucket(v int64) int {
	if v < 2*sub {
		return int(v)
	}
	shift := bits.Len64(uint64(v)) - (subBits + 1)
	return shift*sub + int(v>>shift)
}

// lowest returns the smallest value that falls into bucket i, and the
// width of the bucket.
func lowest(i int) (lo, width int64) {
	if i < 2*sub {
		return int64(i), 1
	}
	shift := i/sub - 1
	mantissa := int64(i - shift*sub)
	return mantissa << shift, 1 << shift
}

// Record counts v. Negative values count as 0, values above MaxValue as
// MaxValue.
func (h *Histogram) Record(v int64) {
	v = min(max(v, 0), MaxValue)
	if h.n == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.counts[bucket(v)]++
	h.n++
	h.sum += float64(v)
}

// Merge adds o's counts to h.
func (h *Histogram) Merge(o *Histogram) {
	if o.n == 0 {
		return
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.sum += o.sum
}

// Count returns the number of values recorded.
func (h *Histogram) Count() uint64 { return h.n }

// Min and Max return the smallest and largest values recorded (0 when empty).
func (h *Histogram) Min() int64 { return h.min }

// Max returns the largest value recorded (0 when empty).
func (h *Histogram) Max() int64 { return h.max }

// Mean returns the mean of the values recorded (0 when empty).
func (h *Histogram) Mean() float64 {
	if h.n == 0 {
		return 0
	}
	return h.sum / float64(h.n)
}

// Quantile returns the q-quantile (0 ≤ q ≤ 1) by the nearest-rank method:
// the smallest recorded value v such that at least q of all values are ≤ v,
// to the histogram's precision. The midpoint of v's bucket is returned,
// clamped to [Min, Max]; an empty histogram returns 0. Quantile(0) is Min
// and Quantile(1) is Max.
func (h *Histogram) Quantile(q float64) int64 {
	if h.n == 0 || math.IsNaN(q) {
		return 0
	}
	switch {
	case q <= 0:
		return h.min
	case q >= 1:
		return h.max
	}
	rank := Rank(q, h.n)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			lo, w := lowest(i)
			return min(max(lo+(w-1)/2, h.min), h.max)
		}
	}
	return h.max // unreachable: the counts add up to n
}

// Rank is the 1-based nearest rank of the q-quantile of n values:
// ceil(q·n), at least 1 and at most n. It is exported so that tests can
// compute the exact quantile of a sorted sample the same way.
func Rank(q float64, n uint64) uint64 {
	if n == 0 {
		return 0
	}
	r := uint64(math.Ceil(q * float64(n)))
	return min(max(r, 1), n)
}

package hist

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// exactQuantile is the nearest-rank quantile of a sorted sample.
func exactQuantile(sorted []int64, q float64) int64 {
	return sorted[Rank(q, uint64(len(sorted)))-1]
}

func TestRank(t *testing.T) {
	tests := []struct {
		q    float64
		n    uint64
		want uint64
	}{
		{0.5, 0, 0},
		{0.5, 1, 1},
		{0.5, 2, 1},
		{0.5, 3, 2},
		{0.5, 10, 5},
		{0.99, 100, 99},
		{0.99, 101, 100},
		{0.999, 1000, 999},
		{0.999, 1001, 1000},
		{0, 10, 1},
		{1, 10, 10},
		{1e-9, 10, 1},
	}
	for _, tt := range tests {
		if got := Rank(tt.q, tt.n); got != tt.want {
			t.Errorf("Rank(%v, %d) = %d, want %d", tt.q, tt.n, got, tt.want)
		}
	}
}

func TestQuantileSmallValuesExact(t *testing.T) {
	// Values below 256 have buckets of width 1: quantiles are exact.
	var h Histogram
	var vals []int64
	for v := int64(1); v <= 200; v++ {
		h.Record(v)
		vals = append(vals, v)
	}
	for _, q := range []float64{0, 0.01, 0.25, 0.5, 0.9, 0.99, 0.999, 1} {
		if got, want := h.Quantile(q), exactQuantile(vals, q); got != want {
			t.Errorf("Quantile(%v) = %d, want %d", q, got, want)
		}
	}
}

func TestQuantileRelativeError(t *testing.T) {
	dists := []struct {
		name string
		draw func(r *rand.Rand) int64
	}{
		{"uniform 0..10ms", func(r *rand.Rand) int64 { return r.Int64N(10_000_000) }},
		{"log-uniform 100ns..1s", func(r *rand.Rand) int64 { return int64(math.Exp(r.Float64()*math.Log(1e7)) * 100) }},
		{"bimodal hits and waits", func(r *rand.Rand) int64 {
			if r.IntN(100) == 0 {
				return 2_000_000 + r.Int64N(100_000)
			}
			return 300 + r.Int64N(200)
		}},
	}
	for _, d := range dists {
		t.Run(d.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, 2))
			var h Histogram
			vals := make([]int64, 30_000)
			for i := range vals {
				vals[i] = d.draw(r)
				h.Record(vals[i])
			}
			slices.Sort(vals)
			if h.Count() != uint64(len(vals)) || h.Min() != vals[0] || h.Max() != vals[len(vals)-1] {
				t.Fatalf("count/min/max = %d/%d/%d, want %d/%d/%d", h.Count(), h.Min(), h.Max(), len(vals), vals[0], vals[len(vals)-1])
			}
			for _, q := range []float64{0.5, 0.9, 0.99, 0.999} {
				got, want := h.Quantile(q), exactQuantile(vals, q)
				if rel := math.Abs(float64(got-want)) / float64(max(want, 1)); rel > 1.0/128 {
					t.Errorf("Quantile(%v) = %d, exact %d: relative error %.4f > 1/128", q, got, want, rel)
				}
			}
		})
	}
}

func TestEmptyAndClamp(t *testing.T) {
	var h Histogram
	if h.Quantile(0.5) != 0 || h.Mean() != 0 || h.Count() != 0 {
		t.Fatalf("empty histogram: Quantile %d Mean %v Count %d, want zeros", h.Quantile(0.5), h.Mean(), h.Count())
	}
	h.Record(-5)
	h.Record(MaxValue * 4)
	if h.Min() != 0 || h.Max() != MaxValue {
		t.Errorf("min, max = %d, %d; want 0, MaxValue", h.Min(), h.Max())
	}
	if got := h.Quantile(math.NaN()); got != 0 {
		t.Errorf("Quantile(NaN) = %d, want 0", got)
	}
	if got := h.Quantile(1); got != MaxValue {
		t.Errorf("Quantile(1) = %d, want MaxValue", got)
	}
}

func TestMerge(t *testing.T) {
	var a, b, all Histogram
	for v := int64(0); v < 10_000; v += 7 {
		a.Record(v)
		all.Record(v)
	}
	for v := int64(5_000_000); v < 6_000_000; v += 1001 {
		b.Record(v)
		all.Record(v)
	}
	var m Histogram
	m.Merge(&a)
	m.Merge(&Histogram{}) // empty: no change
	m.Merge(&b)
	if m.Count() != all.Count() || m.Min() != all.Min() || m.Max() != all.Max() || m.Mean() != all.Mean() {
		t.Fatalf("merged count/min/max/mean %d/%d/%d/%v, want %d/%d/%d/%v",
			m.Count(), m.Min(), m.Max(), m.Mean(), all.Count(), all.Min(), all.Max(), all.Mean())
	}
	for _, q := range []float64{0.1, 0.5, 0.99} {
		if m.Quantile(q) != all.Quantile(q) {
			t.Errorf("Quantile(%v): merged %d, direct %d", q, m.Quantile(q), all.Quantile(q))
		}
	}
}

func TestBucketsContiguous(t *testing.T) {
	// Every bucket's lowest value maps back to it, and the next bucket
	// starts right after this one ends.
	for i := 0; i < bucket(MaxValue); i++ {
		lo, w := lowest(i)
		if bucket(lo) != i || bucket(lo+w-1) != i || bucket(lo+w) != i+1 {
			t.Fatalf("bucket %d: lo %d width %d maps to %d/%d/%d", i, lo, w, bucket(lo), bucket(lo+w-1), bucket(lo+w))
		}
	}
	if bucket(MaxValue) >= numBucket {
		t.Fatalf("bucket(MaxValue) = %d, beyond %d buckets", bucket(MaxValue), numBucket)
	}
}

func BenchmarkRecord(b *testing.B) {
	var h Histogram
	for i := range b.N {
		h.Record(int64(i) * 37 % 5_000_000)
	}
}

package zipf

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"
)

func TestNewRejectsBadParams(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	tests := []struct {
		name string
		r    *rand.Rand
		n    int
		s    float64
	}{
		{"zero tenants", r, 0, 1.1},
		{"negative tenants", r, -3, 1.1},
		{"s = 1", r, 10, 1},
		{"s < 1", r, 10, 0.5},
		{"s NaN", r, 10, math.NaN()},
		{"nil rand", nil, 10, 1.1},
	}
	for _, tt := range tests {
		if _, err := New(tt.r, tt.n, tt.s); !errors.Is(err, ErrParams) {
			t.Errorf("%s: err = %v, want ErrParams", tt.name, err)
		}
	}
}

func TestSamplesInBounds(t *testing.T) {
	for _, tc := range []struct {
		n int
		s float64
	}{{1, 1.1}, {2, 1.1}, {10, 1.01}, {1000, 1.1}, {100_000, 1.1}, {50, 3}} {
		s, err := New(rand.New(rand.NewPCG(7, uint64(tc.n))), tc.n, tc.s)
		if err != nil {
			t.Fatal(err)
		}
		seen := make([]int, tc.n)
		for range 50_000 {
			k := s.Next()
			if k < 0 || k >= tc.n {
				t.Fatalf("n=%d s=%v: sample %d outside [0, %d)", tc.n, tc.s, k, tc.n)
			}
			seen[k]++
		}
		if tc.n >= 2 && seen[0] <= seen[tc.n-1] {
			t.Errorf("n=%d s=%v: tenant 0 drawn %d times, tenant %d %d times; want the head busier", tc.n, tc.s, seen[0], tc.n-1, seen[tc.n-1])
		}
	}
}

func TestSharesMatchDistribution(t *testing.T) {
	const n, draws = 100, 200_000
	const s = 1.1
	smp, err := New(rand.New(rand.NewPCG(3, 4)), n, s)
	if err != nil {
		t.Fatal(err)
	}
	counts := make([]int, n)
	for range draws {
		counts[smp.Next()]++
	}
	var total float64
	for k := range n {
		total += Share(n, s, k)
	}
	if math.Abs(total-1) > 1e-9 {
		t.Fatalf("shares add up to %v, want 1", total)
	}
	for _, k := range []int{0, 1, 9, 99} {
		want := Share(n, s, k)
		got := float64(counts[k]) / draws
		// Binomial standard deviation, 5 sigma.
		sigma := math.Sqrt(want * (1 - want) / draws)
		if math.Abs(got-want) > 5*sigma {
			t.Errorf("tenant %d: share %.5f, want %.5f ± %.5f", k, got, want, 5*sigma)
		}
	}
	if Share(n, s, -1) != 0 || Share(n, s, n) != 0 {
		t.Error("Share outside [0, n) is not 0")
	}
}

func BenchmarkNext(b *testing.B) {
	s, err := New(rand.New(rand.NewPCG(1, 2)), 100_000, 1.1)
	if err != nil {
		b.Fatal(err)
	}
	for range b.N {
		s.Next()
	}
}

package admission

import (
	"context"
	"testing"
	"time"
)

// BenchmarkAcquireRelease is the uncontended cost a token fetch pays: a free
// slot, nobody waiting.
func BenchmarkAcquireRelease(b *testing.B) {
	g, err := New(Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer g.Close()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		p, err := g.Acquire(ctx, ep, Foreground)
		if err != nil {
			b.Fatal(err)
		}
		p.Release(Success, 100*time.Millisecond, 0)
	}
}

// BenchmarkAcquireReleaseParallel has every P acquire and release on one
// endpoint whose limit is not reached.
func BenchmarkAcquireReleaseParallel(b *testing.B) {
	g, err := New(Config{InitialLimit: 256})
	if err != nil {
		b.Fatal(err)
	}
	defer g.Close()
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			p, err := g.Acquire(ctx, ep, Foreground)
			if err != nil {
				b.Error(err)
				return
			}
			p.Release(Success, 100*time.Millisecond, 0)
		}
	})
}

// BenchmarkHandoff measures a queued waiter woken by a release: limit 1,
// two goroutines taking turns.
func BenchmarkHandoff(b *testing.B) {
	g, err := New(Config{InitialLimit: 1, MaxLimit: 1})
	if err != nil {
		b.Fatal(err)
	}
	defer g.Close()
	ctx := context.Background()
	b.ReportAllocs()
	b.SetParallelism(2)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			p, err := g.Acquire(ctx, ep, Foreground)
			if err != nil {
				b.Error(err)
				return
			}
			p.Release(Ignore, 0, 0)
		}
	})
}

func BenchmarkDisabled(b *testing.B) {
	g, err := New(Config{Disabled: true})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		p, _ := g.Acquire(ctx, ep, Foreground)
		p.Release(Success, 0, 0)
	}
}

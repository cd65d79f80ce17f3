package redis

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tenantauth/tenantauth/shared"
	"github.com/tenantauth/tenantauth/shared/redis/redistest"
)

// The two paths the Manager takes to the store, each call with a context
// deadline as the Manager's budget gives it. The comparison with go-redis
// is in the module internal/clientcompare.

// benchBudget is the calls' deadline: far above their cost, so that a
// busy machine slows the benchmarks down instead of failing them.
const benchBudget = time.Second

// BenchmarkHit is a local miss that the store serves: one GET of a sealed
// token (about 600 bytes).
func BenchmarkHit(b *testing.B) {
	s := benchStore(b)
	value := bytes.Repeat([]byte{0xa5}, 600)
	if err := s.Set(context.Background(), "bench:hit", value, time.Hour, shared.Fence{}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		ctx, cancel := context.WithTimeout(context.Background(), benchBudget)
		v, err := s.Get(ctx, "bench:hit")
		cancel()
		if err != nil || len(v) != len(value) {
			b.Fatal(len(v), err)
		}
	}
}

// BenchmarkHitParallel is BenchmarkHit from GOMAXPROCS goroutines at once:
// their commands share connections.
func BenchmarkHitParallel(b *testing.B) {
	s := benchStore(b)
	value := bytes.Repeat([]byte{0xa5}, 600)
	if err := s.Set(context.Background(), "bench:hit", value, time.Hour, shared.Fence{}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			ctx, cancel := context.WithTimeout(context.Background(), benchBudget)
			v, err := s.Get(ctx, "bench:hit")
			cancel()
			if err != nil || len(v) != len(value) {
				b.Error(len(v), err)
				return
			}
		}
	})
}

// BenchmarkMiss is the path of the replica that fetches a token: GET finds
// nothing, Lock, fenced Set of the new token, Unlock.
func BenchmarkMiss(b *testing.B) {
	s := benchStore(b)
	value := bytes.Repeat([]byte{0xa5}, 600)
	b.ReportAllocs()
	for b.Loop() {
		missPath(b, s, value)
	}
}

func missPath(b *testing.B, s shared.Store, value []byte) {
	ctx, cancel := context.WithTimeout(context.Background(), benchBudget)
	defer cancel()
	if _, err := s.Get(ctx, "bench:miss"); !errors.Is(err, shared.ErrNotFound) {
		b.Fatal(err)
	}
	f, ok, err := s.Lock(ctx, "bench:lock", time.Second)
	if err != nil || !ok {
		b.Fatal(ok, err)
	}
	if err := s.Set(ctx, "bench:token", value, time.Hour, f); err != nil {
		b.Fatal(err)
	}
	if err := s.Unlock(ctx, f); err != nil {
		b.Fatal(err)
	}
}

func benchStore(b *testing.B) *Store {
	srv := redistest.Start(b)
	s, err := New(Config{Addr: srv.Addr()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	if err := s.Ping(context.Background()); err != nil {
		b.Fatal(err)
	}
	return s
}

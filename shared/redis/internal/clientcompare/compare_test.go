package clientcompare

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tenantauth/tenantauth/shared"
	"github.com/tenantauth/tenantauth/shared/redis"
	"github.com/tenantauth/tenantauth/shared/redis/redistest"
	"github.com/tenantauth/tenantauth/shared/sharedtest"
)

// store is what both implementations offer.
type store interface {
	shared.Store
	Close() error
}

// benchBudget is each call's deadline (a context with a deadline, as the
// Manager's budget gives): far above the calls' cost, so that a busy
// machine slows the benchmarks down instead of failing them.
const benchBudget = time.Second

// clients are the two implementations, by client name.
var clients = []struct {
	name string
	open func(cfg redis.Config) (store, error)
}{
	{"go-redis", func(cfg redis.Config) (store, error) { return NewGoRedis(cfg) }},
	{"rueidis", func(cfg redis.Config) (store, error) { return redis.New(cfg) }},
}

// The go-redis Store keeps the same promises, so that the benchmarks
// compare like with like.
func TestConformance(t *testing.T) {
	srv := redistest.Start(t)
	sharedtest.TestStore(t, func(t *testing.T) shared.Store {
		s, err := NewGoRedis(redis.Config{Addr: srv.Addr()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func TestKilledServer(t *testing.T) {
	srv := redistest.Start(t)
	s, err := NewGoRedis(redis.Config{Addr: srv.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	sub, err := s.Subscribe(context.Background(), func([]byte) {})
	if err != nil {
		t.Fatal(err)
	}
	srv.Kill()
	select {
	case <-sub.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("Done not closed after the server was killed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), benchBudget)
	defer cancel()
	if _, err := s.Get(ctx, "k"); err == nil {
		t.Fatal("Get with the server down succeeded")
	}
}

// BenchmarkHit: a local miss the store serves, GET of a 600-byte value.
func BenchmarkHit(b *testing.B) {
	srv := redistest.Start(b)
	value := bytes.Repeat([]byte{0xa5}, 600)
	for _, c := range clients {
		b.Run(c.name, func(b *testing.B) {
			s := open(b, c.open, srv)
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
		})
	}
}

// BenchmarkHitParallel is BenchmarkHit from GOMAXPROCS goroutines.
func BenchmarkHitParallel(b *testing.B) {
	srv := redistest.Start(b)
	value := bytes.Repeat([]byte{0xa5}, 600)
	for _, c := range clients {
		b.Run(c.name, func(b *testing.B) {
			s := open(b, c.open, srv)
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
		})
	}
}

// BenchmarkMiss: the replica that fetches — GET finds nothing, Lock,
// fenced Set of the new token, Unlock — within one deadline.
func BenchmarkMiss(b *testing.B) {
	srv := redistest.Start(b)
	value := bytes.Repeat([]byte{0xa5}, 600)
	for _, c := range clients {
		b.Run(c.name, func(b *testing.B) {
			s := open(b, c.open, srv)
			b.ReportAllocs()
			for b.Loop() {
				ctx, cancel := context.WithTimeout(context.Background(), benchBudget)
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
				cancel()
			}
		})
	}
}

func open(b *testing.B, open func(redis.Config) (store, error), srv *redistest.Server) store {
	s, err := open(redis.Config{Addr: srv.Addr()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

package redis_test

// Benchmarks of tenantauth.Manager with its shared cache on a real
// redis-server: what sharing costs on the hit path (nothing), what a local
// miss costs when Redis serves it and when the token endpoint does, and a
// cold start of ten replicas.
//
//	go test -run '^$' -bench Manager -benchmem
//	go test -run '^$' -bench ManagerColdStart -benchtime 1x

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/tenantauth/tenantauth"
	"github.com/tenantauth/tenantauth/providers/keycloak"
	"github.com/tenantauth/tenantauth/shared/redis"
	"github.com/tenantauth/tenantauth/shared/redis/redistest"
	"github.com/tenantauth/tenantauth/tenantauthtest"
)

// BenchmarkManagerTokenHit is Manager.Token on a cached token, from
// GOMAXPROCS goroutines cycling through 1 000 tenants, without and with
// Config.Shared: the store is never on the hit path, so both are the same
// (and allocate nothing).
func BenchmarkManagerTokenHit(b *testing.B) {
	const tenants = 1000
	srv := redistest.Start(b)
	for _, shared := range []bool{false, true} {
		b.Run(fmt.Sprintf("shared=%t", shared), func(b *testing.B) {
			p := newCountingProvider(0)
			cfg := tenantauth.Config{Tenants: tenantsFor(p, tenants), CacheSize: tenants}
			var m *tenantauth.Manager
			if shared {
				m = replicas(b, srv, 1, cfg, replicaOptions{})[0]
			} else {
				m = mustManager(b, cfg)
			}
			ctx := context.Background()
			ids := make([]string, tenants)
			for i := range ids {
				ids[i] = tenantID(i)
				if _, err := m.Token(ctx, ids[i]); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					if _, err := m.Token(ctx, ids[i]); err != nil {
						b.Error(err)
						return
					}
					if i++; i == tenants {
						i = 0
					}
				}
			})
		})
	}
}

func mustManager(b *testing.B, cfg tenantauth.Config) *tenantauth.Manager {
	m, err := tenantauth.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { m.Close() })
	return m
}

// BenchmarkManagerMiss is Manager.Token on a tenant it has not cached, one
// call at a time, served:
//
//   - redis: from Redis, where another replica stored it (a GET and the
//     opening of a sealed value);
//   - endpoint: by the token endpoint (a Keycloak stand-in on loopback),
//     without a shared cache;
//   - endpoint+redis: by the token endpoint, with a shared cache in which
//     no replica has it yet (GET, Lock, the token request, fenced SET,
//     Unlock, PUBLISH): what the replica that fetches for the cluster pays.
//
// Each op is a tenant the Manager has never asked for: a fresh Manager
// serves each batch of tenants (made while the timer is stopped).
func BenchmarkManagerMiss(b *testing.B) {
	const batch = 2000
	srv := redistest.Start(b)
	kc := tenantauthtest.NewKeycloak(tenantauthtest.Config{})
	b.Cleanup(kc.Close)
	kp, err := keycloak.New(keycloak.Config{BaseURL: kc.URL, Realm: "fluencypass"})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(kp.CloseIdleConnections)
	ts := tenantauth.Tenants{}
	ids := make([]string, batch)
	for i := range ids {
		ids[i] = tenantID(i)
		ts[ids[i]] = tenantauth.Tenant{Provider: kp, APIHosts: []string{tenantauth.AnyHost}, Credentials: tenantauth.Credentials{
			ClientID: "client", ClientSecret: "secret"}}
	}
	cfg := tenantauth.Config{Tenants: ts, CacheSize: batch}
	ctx := context.Background()

	// The tokens that replica A stores for the "redis" case.
	writer, writerStore := newReplica(b, srv, cfg)
	for _, id := range ids {
		if _, err := writer.Token(ctx, id); err != nil {
			b.Fatal(err)
		}
	}
	closeAll([]*tenantauth.Manager{writer}, []*redis.Store{writerStore})

	for _, c := range []struct {
		name   string
		shared bool
		flush  bool // empty Redis before each batch
	}{
		{"from=redis", true, false},
		{"from=endpoint", false, false},
		{"from=endpoint+redis", true, true},
	} {
		b.Run(c.name, func(b *testing.B) {
			if c.flush {
				// Restore the "redis" case's tokens for later runs.
				b.Cleanup(func() {
					w, s := newReplica(b, srv, cfg)
					for _, id := range ids {
						w.Token(ctx, id)
					}
					closeAll([]*tenantauth.Manager{w}, []*redis.Store{s})
				})
			}
			var m *tenantauth.Manager
			var s *redis.Store
			kc.ResetStats()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if i%batch == 0 {
					b.StopTimer()
					closeAll([]*tenantauth.Manager{m}, []*redis.Store{s})
					if c.flush {
						srv.FlushAll()
					}
					if c.shared {
						m, s = newReplica(b, srv, cfg)
					} else {
						m, s = mustManagerOnly(b, cfg), nil
					}
					b.StartTimer()
				}
				if _, err := m.Token(ctx, ids[i%batch]); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			closeAll([]*tenantauth.Manager{m}, []*redis.Store{s})
			b.ReportMetric(float64(kc.Stats().TokenRequests)/float64(b.N), "token-requests/op")
		})
	}
}

// newReplica returns a Manager with a Store of its own on srv, ready (its
// connection made). The caller closes both.
func newReplica(b *testing.B, srv *redistest.Server, cfg tenantauth.Config) (*tenantauth.Manager, *redis.Store) {
	s, err := redis.New(redis.Config{Addr: srv.Addr()})
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Ping(context.Background()); err != nil {
		b.Fatal(err)
	}
	cfg.Shared = tenantauth.SharedConfig{Store: s, Keys: []tenantauth.SharedKey{keyA}}
	m, err := tenantauth.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	return m, s
}

func mustManagerOnly(b *testing.B, cfg tenantauth.Config) *tenantauth.Manager {
	m, err := tenantauth.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	return m
}

// BenchmarkManagerColdStart starts 10 replicas at once with 20 000 tenants
// each, every replica asked for every tenant (in an order of its own) by
// 100 callers, on a token endpoint whose requests take 2 ms; it reports the
// token requests and the wall time until every replica had every token.
// Without the shared cache each replica fetches every token; with it,
// one replica fetches each. The default budget (50 ms) is measured too:
// the herd keeps the CPUs busy for longer than that, store calls run out
// of budget and open the store's breaker. Run it once:
//
//	go test -run '^$' -bench ManagerColdStart -benchtime 1x
func BenchmarkManagerColdStart(b *testing.B) {
	const n, tenants, callers = 10, 20_000, 100
	srv := redistest.Start(b)
	for _, c := range []struct {
		name   string
		shared bool
		budget time.Duration
	}{
		{"shared=off", false, 0},
		{"shared=on/budget=50ms", true, 0},
		{"shared=on/budget=5s", true, 5 * time.Second},
	} {
		b.Run(c.name, func(b *testing.B) {
			var requests, storeErrors int
			var wall time.Duration
			for range b.N {
				srv.FlushAll()
				p := newCountingProvider(2 * time.Millisecond)
				ts := tenantsFor(p, tenants)
				ms := make([]*tenantauth.Manager, n)
				stores := make([]*redis.Store, 0, n)
				for r := range ms {
					cfg := tenantauth.Config{Tenants: ts, CacheSize: tenants}
					if c.shared {
						s, err := redis.New(redis.Config{Addr: srv.Addr(), Timeout: max(c.budget, redis.DefaultTimeout)})
						if err != nil {
							b.Fatal(err)
						}
						stores = append(stores, s)
						cfg.Shared = tenantauth.SharedConfig{Store: s, Keys: []tenantauth.SharedKey{keyA}, Budget: c.budget}
					}
					m, err := tenantauth.New(cfg)
					if err != nil {
						b.Fatal(err)
					}
					ms[r] = m
				}
				began := time.Now()
				var wg sync.WaitGroup
				for r, m := range ms {
					order := rand.New(rand.NewPCG(uint64(r), 1)).Perm(tenants)
					for w := range callers {
						wg.Add(1)
						go func() {
							defer wg.Done()
							ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
							defer cancel()
							for i := w; i < tenants; i += callers {
								if _, err := m.Token(ctx, tenantID(order[i])); err != nil {
									b.Error(err)
									return
								}
							}
						}()
					}
				}
				wg.Wait()
				wall += time.Since(began)
				requests += p.Total()
				for _, m := range ms {
					storeErrors += int(m.Stats().Shared.Errors)
				}
				closeAll(ms, stores)
			}
			b.ReportMetric(float64(requests)/float64(b.N), "token-requests")
			b.ReportMetric(float64(requests)/float64(b.N*tenants), "requests/tenant")
			b.ReportMetric(wall.Seconds()/float64(b.N), "wall-s")
			b.ReportMetric(float64(storeErrors)/float64(b.N), "store-errors")
		})
	}
}

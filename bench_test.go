package tenantauth_test

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tenantauth/tenantauth"
)

// BenchmarkManagerTokenHit measures the cache hit path of Manager.Token:
// every tenant's token is cached, goroutines cycle through the tenants.
// Run with -cpu 1,2 to see it scale.
//
// observer=on is the same with an Observer (it counts one hit in
// HitSample): compare with benchstat -col /observer.
func BenchmarkManagerTokenHit(b *testing.B) {
	for _, n := range []int{1, 1000, 100_000} {
		for _, obs := range []tenantauth.Observer{nil, tenantauth.NopObserver{}} {
			name := fmt.Sprintf("tenants=%d/observer=%s", n, map[bool]string{true: "off", false: "on"}[obs == nil])
			b.Run(name, func(b *testing.B) { benchHit(b, n, obs) })
		}
	}
}

func benchHit(b *testing.B, n int, obs tenantauth.Observer) {
	{
		{
			p := newFakeProvider("https://idp.example/token")
			m := mustManager(b, tenantauth.Config{Tenants: tenantsFor(p, n), CacheSize: n, Observer: obs})
			ids := make([]string, n)
			ctx := context.Background()
			for i := range ids {
				ids[i] = fmt.Sprintf("t%d", i)
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
					if i++; i == n {
						i = 0
					}
				}
			})
		}
	}
}

// quickProvider issues tokens at once, with as little work as a provider
// can do, so that BenchmarkManagerMiss measures the Manager.
type quickProvider struct{}

func (quickProvider) Endpoint() string { return "https://idp.example/token" }

func (quickProvider) Exchange(_ context.Context, req tenantauth.TokenRequest) (*tenantauth.Token, error) {
	now := time.Now()
	return &tenantauth.Token{AccessToken: tenantauth.Secret("at-" + req.Credentials.ClientID), TokenType: "Bearer",
		IssuedAt: now, Expiry: now.Add(time.Hour)}, nil
}

// BenchmarkManagerMiss measures a cache miss: each operation is the first
// Token call of a new tenant, built by a TenantFunc (as platforms do) and
// fetched from a provider that answers at once. It is the fixed cost a
// fill pays per tenant on top of the provider's work; compare with a map
// insert (x/oauth2's cost) in benchmarks/ (tokenload fill-*).
func BenchmarkManagerMiss(b *testing.B) {
	const n = 1 << 20
	ids, m := missFixture(b, n)
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if i == n {
			b.Fatal("more operations than tenants: use -benchtime below 1048576x")
		}
		if _, err := m.Token(ctx, ids[i]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkManagerMissParallel is BenchmarkManagerMiss from every CPU at
// once (-cpu 2): misses of different tenants take different flight locks;
// they still share the endpoint's breaker and admission, the cache's
// shard locks and the lookup slots.
func BenchmarkManagerMissParallel(b *testing.B) {
	const n = 1 << 21
	ids, m := missFixture(b, n)
	ctx := context.Background()
	var next atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := next.Add(1) - 1
			if i >= n {
				b.Error("more operations than tenants: use -benchtime below 2097152x")
				return
			}
			if _, err := m.Token(ctx, ids[i]); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// missFixture returns n tenant IDs and a Manager that builds any tenant
// with a TenantFunc, as platforms do, on quickProvider.
func missFixture(b *testing.B, n int) ([]string, *tenantauth.Manager) {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = "t" + strconv.Itoa(i)
	}
	p := quickProvider{}
	m := mustManager(b, tenantauth.Config{CacheSize: n, Tenants: tenantauth.TenantFunc(func(_ context.Context, id string) (tenantauth.Tenant, error) {
		return tenantauth.Tenant{ID: id, Provider: p, Credentials: tenantauth.Credentials{ClientID: id}, APIHosts: []string{tenantauth.AnyHost}}, nil
	})})
	return ids, m
}

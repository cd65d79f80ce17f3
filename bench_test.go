package tenantauth_test

import (
	"context"
	"fmt"
	"testing"

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

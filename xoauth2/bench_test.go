package xoauth2_test

import (
	"context"
	"testing"

	"github.com/tenantauth/tenantauth"
	"github.com/tenantauth/tenantauth/tenantauthtest"
	"github.com/tenantauth/tenantauth/xoauth2"
)

// BenchmarkTokenSource is the hot path, a cached token: the Manager's own
// lookup, and the TokenSource's, which adds the oauth2.Token it returns.
func BenchmarkTokenSource(b *testing.B) {
	idp := newIdP(b, tenantauthtest.Config{})
	m, _ := newManager(b, idp, tenantauth.Config{})
	ctx := context.Background()
	if _, err := m.Token(ctx, "acme"); err != nil {
		b.Fatal(err)
	}

	b.Run("Manager.Token", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := m.Token(ctx, "acme"); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	b.Run("TokenSource.Token", func(b *testing.B) {
		ts := xoauth2.TokenSource(ctx, m, "acme")
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := ts.Token(); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	b.Run("TokenSourceForHost.Token", func(b *testing.B) {
		ts := xoauth2.TokenSourceForHost(ctx, m, "acme", "127.0.0.1:443")
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := ts.Token(); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

package tenantauth_test

import (
	"context"
	"testing"
	"time"

	"github.com/tenantauth/tenantauth"
)

func TestTenantContext(t *testing.T) {
	bg := context.Background()
	if _, ok := tenantauth.TenantFromContext(bg); ok {
		t.Fatal("tenant found in a bare context")
	}
	if _, ok := tenantauth.TenantFromContext(tenantauth.WithTenant(bg, "")); ok {
		t.Fatal("empty tenant reported as present")
	}
	type otherKey struct{}
	ctx := context.WithValue(tenantauth.WithTenant(bg, "acme"), otherKey{}, "x")
	ctx, cancel := context.WithTimeout(ctx, time.Hour)
	defer cancel()
	if id, ok := tenantauth.TenantFromContext(ctx); !ok || id != "acme" {
		t.Fatalf("through wrapping contexts: %q %v", id, ok)
	}
	inner := tenantauth.WithTenant(ctx, "beta")
	if id, _ := tenantauth.TenantFromContext(inner); id != "beta" {
		t.Fatalf("innermost tenant should win, got %q", id)
	}
	if inner.Value(otherKey{}) != "x" {
		t.Fatal("other values lost")
	}
	// Cancellation propagates through the tenant context.
	parent, stop := context.WithCancel(bg)
	child, cancelChild := context.WithCancel(tenantauth.WithTenant(parent, "acme"))
	defer cancelChild()
	stop()
	<-child.Done()
	if n := testing.AllocsPerRun(100, func() { tenantauth.TenantFromContext(ctx) }); n != 0 {
		t.Fatalf("TenantFromContext allocates %v times", n)
	}
	if n := testing.AllocsPerRun(100, func() { tenantauth.WithTenant(bg, "acme") }); n > 1 {
		t.Fatalf("WithTenant allocates %v times, want 1", n)
	}
}

func TestAllowsHost(t *testing.T) {
	tn := tenantauth.Tenant{APIHosts: []string{"api.acme.example", "*.acme.test", "127.0.0.1:8443", "[::1]", "EXACT.example:9000"}}
	for host, want := range map[string]bool{
		"api.acme.example": true, "API.ACME.EXAMPLE:443": true, "x.acme.test": true, "y.x.acme.test:1": true,
		"acme.test": false, "xacme.test": false, "127.0.0.1:8443": true, "127.0.0.1:9000": false, "127.0.0.1": false,
		"[::1]:8080": true, "[::1]": true, "::1": true, "exact.example:9000": true, "exact.example": false,
		"evil.example": false, "api.acme.example.evil": false, "": false,
	} {
		if got := tn.AllowsHost(host); got != want {
			t.Errorf("AllowsHost(%q) = %v, want %v", host, got, want)
		}
	}
	if !(tenantauth.Tenant{}).AllowsHost("anything.example") {
		t.Error("empty APIHosts must allow every host")
	}
	if n := testing.AllocsPerRun(100, func() { tn.AllowsHost("evil.example") }); n != 0 {
		t.Errorf("AllowsHost allocates %v times", n)
	}
}

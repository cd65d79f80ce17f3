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
	if (tenantauth.Tenant{}).AllowsHost("anything.example") {
		t.Error("empty APIHosts must allow no host")
	}
	anyHost := tenantauth.Tenant{APIHosts: []string{tenantauth.AnyHost}}
	for _, host := range []string{"anything.example", "10.0.0.1:8080", "[::1]"} {
		if !anyHost.AllowsHost(host) {
			t.Errorf("AnyHost refused %q", host)
		}
	}
	for _, host := range []string{"[::1%25eth0]", "a b", ""} {
		if anyHost.AllowsHost(host) {
			t.Errorf("AnyHost allowed the malformed host %q", host)
		}
	}
	if n := testing.AllocsPerRun(100, func() { tn.AllowsHost("evil.example") }); n != 0 {
		t.Errorf("AllowsHost allocates %v times", n)
	}
}

// TestAllowsHostNamesOnly is the property behind the token's destination: a
// wildcard matches names only, a zone is never accepted, and an IP literal
// matches only itself.
func TestAllowsHostNamesOnly(t *testing.T) {
	tn := tenantauth.Tenant{APIHosts: []string{"*.example.com", "10.0.0.7", "[2001:db8::1]:8443"}}
	for host, want := range map[string]bool{
		"[::ffff:127.0.0.1%25.example.com]":      false, // zone kept a suffix: Go dials 127.0.0.1
		"[::ffff:127.0.0.1%25.example.com]:443":  false,
		"[::1%.example.com]":                     false,
		"[::1%25eth0.example.com]":               false,
		"::1%.example.com":                       false,
		"127.0.0.1.example.com":                  true, // a name: DNS decides, inside example.com
		"10.0.0.7":                               true,
		"10.0.0.7:80":                            true,
		"[::ffff:10.0.0.7]":                      true, // the same address
		"10.0.0.8":                               false,
		"[2001:db8::1]:8443":                     true,
		"[2001:DB8:0::1]:8443":                   true,
		"[2001:db8::1]":                          false,
		"[2001:db8::1%25x]:8443":                 false,
		"a.example.com:99999999":                 false,
		"a.example.com:":                         false,
		"a.example.com:8x":                       false,
		"a.example.com]":                         false,
		"a.example.com.":                         false,
		"a..example.com":                         false,
		"a.example.com@evil.test":                false,
		"\u212aey.example.com":                   false, // Kelvin sign folds to k in Unicode
		"a%2eexample.com":                        false,
		"*.example.com":                          false,
		"evil.example.com\x00":                   false,
		"[fe80::1%25en0]":                        false,
		"x.EXAMPLE.com":                          true,
		"example.com":                            false,
		"[::ffff:127.0.0.1%25.example.com]:8443": false,
	} {
		if got := tn.AllowsHost(host); got != want {
			t.Errorf("AllowsHost(%q) = %v, want %v", host, got, want)
		}
	}
	zoned := tenantauth.Tenant{APIHosts: []string{"[fe80::1%25en0]", "fe80::1%en0"}}
	if zoned.AllowsHost("[fe80::1%25en0]") || zoned.AllowsHost("[fe80::1]") {
		t.Error("an entry with a zone must match nothing")
	}
}

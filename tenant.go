package tenantauth

import (
	"context"
	"net"
	"strings"
)

// A Tenant is one customer account: where its tokens come from, with which
// credentials, and where they may be sent.
type Tenant struct {
	// ID is the tenant's identifier, as passed to [Manager.Token].
	ID string
	// Provider is the tenant's token endpoint.
	Provider Provider
	// Credentials are the tenant's credentials at Provider.
	Credentials Credentials
	// APIHosts lists the hosts this tenant's token may be sent to. Empty
	// means any host. See [Tenant.AllowsHost] for the matching rules.
	APIHosts []string
}

// AllowsHost reports whether the tenant's token may be sent to host, a
// URL host with or without a port ("api.example.com", "api.example.com:8443",
// "[::1]:8080").
//
// Matching is case-insensitive. An APIHosts entry with a port matches only
// that host and port; an entry without a port matches the host on any port;
// an entry "*.example.com" matches every subdomain of example.com (not
// example.com itself). An empty APIHosts allows every host.
func (t Tenant) AllowsHost(host string) bool {
	return hostAllowed(t.APIHosts, host)
}

func hostAllowed(allowed []string, host string) bool {
	if len(allowed) == 0 {
		return true
	}
	name := host
	if h, _, err := net.SplitHostPort(host); err == nil {
		name = h
	} else {
		name = strings.TrimSuffix(strings.TrimPrefix(name, "["), "]")
	}
	for _, a := range allowed {
		switch {
		case strings.EqualFold(a, host), strings.EqualFold(a, name):
			return true
		case strings.HasPrefix(a, "[") && strings.EqualFold(strings.Trim(a, "[]"), name):
			return true
		case strings.HasPrefix(a, "*.") && len(name) > len(a)-1 &&
			strings.EqualFold(name[len(name)-(len(a)-1):], a[1:]):
			return true
		}
	}
	return false
}

// A TenantSource looks tenants up by ID. The Manager asks it once per token
// request, not per API call, so it may read a database.
//
// Tenant returns an error wrapping [ErrUnknownTenant] when id is not a tenant.
// Implementations must be safe for concurrent use.
type TenantSource interface {
	Tenant(ctx context.Context, id string) (Tenant, error)
}

// Tenants is a static [TenantSource]: a map from tenant ID to Tenant. A
// Tenant whose ID field is empty takes its key as ID. Do not modify the map
// while a Manager uses it.
type Tenants map[string]Tenant

// Tenant implements [TenantSource].
func (ts Tenants) Tenant(_ context.Context, id string) (Tenant, error) {
	t, ok := ts[id]
	if !ok {
		return Tenant{}, ErrUnknownTenant
	}
	if t.ID == "" {
		t.ID = id
	}
	return t, nil
}

// TenantFunc adapts a function to a [TenantSource].
type TenantFunc func(ctx context.Context, id string) (Tenant, error)

// Tenant implements [TenantSource] by calling f.
func (f TenantFunc) Tenant(ctx context.Context, id string) (Tenant, error) { return f(ctx, id) }

// tenantKey is the context key of the tenant ID; an unexported type cannot
// collide with anyone else's key.
type tenantKey struct{}

// WithTenant returns a copy of ctx that carries tenantID. Outbound middleware
// reads it with [TenantFromContext] to pick the tenant's token.
func WithTenant(ctx context.Context, tenantID string) context.Context {
	return context.WithValue(ctx, tenantKey{}, tenantID)
}

// TenantFromContext returns the tenant ID stored by [WithTenant]. It reports
// false when there is none or it is empty.
func TenantFromContext(ctx context.Context) (string, bool) {
	id, ok := ctx.Value(tenantKey{}).(string)
	return id, ok && id != ""
}

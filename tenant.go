package tenantauth

import (
	"context"

	"github.com/tenantauth/tenantauth/internal/ctxkey"
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
	// APIHosts lists the hosts this tenant's token may be sent to; see
	// [Tenant.AllowsHost] for the matching rules. Empty means none: the
	// middleware refuse every request of the tenant with ErrHostNotAllowed
	// (and New refuses such a tenant in a static Tenants map). [AnyHost]
	// ("*") allows every host.
	APIHosts []string
	// AllowInsecureHTTP lets the middleware send this tenant's token over
	// plain http to a host that is not loopback. False (the default) refuses
	// it with an error wrapping [ErrInsecureEndpoint]: a bearer token on
	// the wire in clear text is anyone's token. See [Manager.TokenForURL].
	AllowInsecureHTTP bool
}

// AllowsHost reports whether the tenant's token may be sent to host, a
// URL host with or without a port ("api.example.com", "api.example.com:8443",
// "[::1]:8080").
//
// Matching is ASCII case-insensitive. An APIHosts entry with a port matches
// only that host and port; an entry without a port matches the host on any
// port; an entry "*.example.com" matches every subdomain of example.com (not
// example.com itself), and names only: an IP literal matches only the same
// IP literal listed as an entry ("10.0.0.7", "[2001:db8::1]:8443"). A host
// that is not well formed — an IPv6 zone ("[::1%25eth0]"), a bad port,
// characters outside a DNS name — matches nothing. An empty APIHosts allows
// no host; the entry [AnyHost] ("*") allows every well-formed host.
func (t Tenant) AllowsHost(host string) bool {
	return hostAllowed(t.APIHosts, host)
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

// tenantKey is the context key of the tenant ID; a type of this module's
// internal package cannot collide with anyone else's key.
type tenantKey = ctxkey.Tenant

// tenantCtx carries a tenant ID. It is its own context type, rather than
// context.WithValue, so that WithTenant costs one allocation and
// TenantFromContext none: Value returns the *tenantCtx itself, and a
// pointer stored in an interface needs no allocation where a string does.
type tenantCtx struct {
	context.Context
	id string
}

func (c *tenantCtx) Value(key any) any {
	if _, ok := key.(tenantKey); ok {
		return c
	}
	return c.Context.Value(key)
}

func (c *tenantCtx) String() string { return "tenantauth.WithTenant" }

// WithTenant returns a copy of ctx that carries tenantID. Outbound middleware
// reads it with [TenantFromContext] to pick the tenant's token.
func WithTenant(ctx context.Context, tenantID string) context.Context {
	return &tenantCtx{Context: ctx, id: tenantID}
}

// TenantFromContext returns the tenant ID stored by [WithTenant]. It reports
// false when there is none or it is empty. It does not allocate.
func TenantFromContext(ctx context.Context) (string, bool) {
	tc, ok := ctx.Value(tenantKey{}).(*tenantCtx)
	if !ok || tc.id == "" {
		return "", false
	}
	return tc.id, true
}

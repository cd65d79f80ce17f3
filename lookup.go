package tenantauth

// This file is the hot path: a cached token for a tenant, and the host and
// scheme it may go to.

import (
	"context"
	"fmt"
	"net/url"
	"slices"

	"github.com/tenantauth/tenantauth/cache"
	"github.com/tenantauth/tenantauth/clientauth"
)

// entry is what the cache holds for a tenant, inline in the cache's node
// with the deadlines: one allocation per tenant (see the cache package). It
// is immutable once cached; callers get a pointer to its tok.
type entry struct {
	tok  Token
	dest *destination // nil: no APIHosts, no plain http
}

// destination is where a tenant's token may go. It is shared by the
// tenant's successive entries while the tenant's configuration is the same.
type destination struct {
	hosts    []string // the tenant's APIHosts
	insecure bool     // the tenant's AllowInsecureHTTP
	// dpop is the tenant's Credentials.DPoP when the entry's token was
	// fetched: the key a DPoP-bound token is bound to. It lives here, not
	// in the entry, so that an entry stays within its size class.
	dpop *clientauth.DPoP
}

// The shared destinations of tenants whose APIHosts is [AnyHost].
var (
	anyHostSecure   = &destination{hosts: []string{AnyHost}}
	anyHostInsecure = &destination{hosts: []string{AnyHost}, insecure: true}
)

// hosts returns the tenant's APIHosts.
func (e *entry) hosts() []string {
	if e.dest == nil {
		return nil
	}
	return e.dest.hosts
}

// Token returns a valid token for tenantID: the cached one when it is fresh,
// otherwise the result of one shared fetch. When ctx ends first, Token returns
// ctx.Err() and the fetch goes on for the other callers.
//
// A tenant is cached under the exact ID asked for: a TenantSource that
// returns a Tenant with another non-empty ID (a case-insensitive store
// answering "ACME" with "acme") is refused with ErrUnknownTenant, so one
// tenant never holds two entries and two tokens. A context already done
// starts nothing.
//
// Errors: ErrNoTenant for an empty ID, errors wrapping ErrUnknownTenant,
// ErrTooManyLookups,
// ErrCircuitOpen, ErrInvalidCredentials (with a *TokenError), ErrClosed, or
// the provider's error. While an endpoint is unreachable (circuit open,
// network down) a token past its safety margin but not yet expired is still
// returned rather than an error.
func (m *Manager) Token(ctx context.Context, tenantID string) (*Token, error) {
	e, err := m.entry(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	return &e.tok, nil
}

// TokenForHost is Token for a request to host (a URL host, with or without
// port): it fails with an error wrapping ErrHostNotAllowed when the tenant's
// APIHosts do not allow host (see [Tenant.AllowsHost]). It does not know
// the scheme: middleware call [Manager.TokenForURL], which also refuses
// plain http, unless plain http was explicitly allowed to them.
func (m *Manager) TokenForHost(ctx context.Context, tenantID, host string) (*Token, error) {
	e, err := m.entryForHost(ctx, tenantID, host)
	if err != nil {
		return nil, err
	}
	return &e.tok, nil
}

// TokenForURL is [Manager.TokenForHost] for a request to u, which also
// refuses to hand out a token for plain http: u's scheme must be https (or
// wss), unless u's host is loopback ("localhost", 127.0.0.0/8, ::1) or the
// tenant sets [Tenant.AllowInsecureHTTP]. A refusal wraps
// ErrInsecureEndpoint; nothing should be sent then. The middleware call it
// for every request.
func (m *Manager) TokenForURL(ctx context.Context, tenantID string, u *url.URL) (*Token, error) {
	e, err := m.entryForURL(ctx, tenantID, u)
	if err != nil {
		return nil, err
	}
	return &e.tok, nil
}

// TokenForURLDPoP is [Manager.TokenForURL] that also returns the key the
// token is bound to: the tenant's [Credentials].DPoP as it was when the token
// was fetched, or nil when the token is not DPoP-bound ([Token.IsDPoP]
// false). Token and key come from the same cache entry, so they always
// match. The middleware call it to make a DPoP proof per request; like
// TokenForURL, a hit does not allocate.
func (m *Manager) TokenForURLDPoP(ctx context.Context, tenantID string, u *url.URL) (*Token, *clientauth.DPoP, error) {
	e, err := m.entryForURL(ctx, tenantID, u)
	if err != nil {
		return nil, nil, err
	}
	return &e.tok, e.dpop(), nil
}

// TokenForHostDPoP is [Manager.TokenForHost] that also returns the key the
// token is bound to, as [Manager.TokenForURLDPoP] does.
func (m *Manager) TokenForHostDPoP(ctx context.Context, tenantID, host string) (*Token, *clientauth.DPoP, error) {
	e, err := m.entryForHost(ctx, tenantID, host)
	if err != nil {
		return nil, nil, err
	}
	return &e.tok, e.dpop(), nil
}

// entryForHost is the tenant's entry if its APIHosts allow host.
func (m *Manager) entryForHost(ctx context.Context, tenantID, host string) (*entry, error) {
	e, err := m.entry(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	if !hostAllowed(e.hosts(), host) {
		return nil, &hostError{tenant: tenantID, host: host}
	}
	return e, nil
}

// entryForURL is entryForHost for u, refusing plain http as TokenForURL says.
func (m *Manager) entryForURL(ctx context.Context, tenantID string, u *url.URL) (*entry, error) {
	e, err := m.entryForHost(ctx, tenantID, u.Host)
	if err != nil {
		return nil, err
	}
	if (e.dest == nil || !e.dest.insecure) && !secureDestination(u.Scheme, u.Host) {
		return nil, &hostError{tenant: tenantID, host: u.Host, scheme: u.Scheme}
	}
	return e, nil
}

// dpop returns the key e's token is bound to, nil for a token that is not
// DPoP-bound.
func (e *entry) dpop() *clientauth.DPoP {
	if e.dest == nil || e.tok.TokenType != "DPoP" {
		return nil
	}
	return e.dest.dpop
}

// APIHosts returns a copy of the tenant's APIHosts, as its TenantSource
// gave them with its current token (which it takes, like Token, from the
// cache or from one shared fetch). A gateway uses it to derive a tenant's
// upstream from the same record as its token, instead of keeping a second
// map in step with the TenantSource.
func (m *Manager) APIHosts(ctx context.Context, tenantID string) ([]string, error) {
	e, err := m.entry(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	return slices.Clone(e.hosts()), nil
}

// errEmptyTenantID is ErrNoTenant for a call that named the empty tenant.
var errEmptyTenantID = fmt.Errorf("%w: the tenant ID passed to the Manager is empty", ErrNoTenant)

// entry is the hot path shared by Token and TokenForHost.
func (m *Manager) entry(ctx context.Context, id string) (*entry, error) {
	if m.closed.Load() {
		return nil, ErrClosed
	}
	now := m.now()
	e, state := m.cache.Get(id, now)
	switch state {
	case cache.Fresh:
		if m.obs != nil {
			m.countHit()
		}
		return e, nil
	case cache.Refresh:
		if m.obs != nil {
			m.countHit()
		}
		m.refreshAhead(ctx, id, e)
		return e, nil
	}
	return m.wait(ctx, id, e, now)
}

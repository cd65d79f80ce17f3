package standin

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync/atomic"
	"time"
)

// Errors an IdP returns. A contender maps them to its own library's error
// types; the tenantauth adapter turns ErrUnavailable into a 503 TokenError so
// that the Manager's circuit breaker counts it.
var (
	// ErrUnavailable is a failed token request: the IdP is down or the
	// request drew a fault (the real server's 503).
	ErrUnavailable = errors.New("standin: token endpoint unavailable (503)")
	// ErrUnknownTenant means the tenant ID is not one of the IdP's tenants.
	ErrUnknownTenant = errors.New("standin: unknown tenant (401 invalid_client)")
)

// IdPConfig configures an IdP. The zero value issues one-hour tokens at once
// to tenant IDs of any number.
type IdPConfig struct {
	// Tenants is how many tenants ("t0".."tN-1") the IdP keeps per-tenant
	// counters for; other IDs of TenantID's form still get tokens but are
	// not counted per tenant. Zero means none are counted per tenant.
	Tenants int
	// Latency is how long every token request takes, failures included.
	// Zero answers at once.
	Latency time.Duration
	// Lifetime is the tokens' lifetime. Zero means one hour.
	Lifetime time.Duration
	// FaultRate is the fraction (0..1) of token requests that fail with
	// ErrUnavailable after Latency.
	FaultRate float64
}

// A Token is what the IdP issues.
type Token struct {
	// Access is the access token (TokenSize bytes, see ParseToken).
	Access string
	// IssuedAt and Expiry are readings of the IdP's Clock.
	IssuedAt, Expiry int64
}

// IdPStats are the IdP's counters.
type IdPStats struct {
	// Requests counts token requests, failed ones included.
	Requests uint64
	// Failures counts token requests that failed.
	Failures uint64
	// PeakConcurrent is the most token requests in progress at once.
	PeakConcurrent int64
	// PeakPerTenant is the most token requests in progress at once for a
	// single tenant: 1 for a client that fetches once per tenant at a time.
	PeakPerTenant int64
}

// An IdP is an in-process token endpoint. It is safe for concurrent use.
type IdP struct {
	clock     *Clock
	latency   atomic.Int64
	lifetime  atomic.Int64
	faultRate float64
	down      atomic.Bool

	seq                atomic.Uint64
	requests, failures atomic.Uint64
	inflight, peak     atomic.Int64
	peakPerTenant      atomic.Int64
	tenants            []tenantCounters
}

type tenantCounters struct {
	requests atomic.Uint64
	inflight atomic.Int64
}

// NewIdP returns an IdP that tells time by clock.
func NewIdP(cfg IdPConfig, clock *Clock) *IdP {
	p := &IdP{clock: clock, faultRate: cfg.FaultRate, tenants: make([]tenantCounters, max(cfg.Tenants, 0))}
	p.SetLatency(cfg.Latency)
	p.SetLifetime(cfg.Lifetime)
	return p
}

// Clock returns the IdP's clock.
func (p *IdP) Clock() *Clock { return p.clock }

// SetLatency changes how long token requests take.
func (p *IdP) SetLatency(d time.Duration) { p.latency.Store(int64(max(d, 0))) }

// SetLifetime changes the lifetime of tokens issued from now on; zero or
// negative means one hour.
func (p *IdP) SetLifetime(d time.Duration) {
	if d <= 0 {
		d = time.Hour
	}
	p.lifetime.Store(int64(d))
}

// Lifetime returns the lifetime of the tokens being issued.
func (p *IdP) Lifetime() time.Duration { return time.Duration(p.lifetime.Load()) }

// SetDown takes the IdP down (every token request fails with
// ErrUnavailable after the usual latency) or brings it back.
func (p *IdP) SetDown(down bool) { p.down.Store(down) }

// Issue performs one token request for tenant: it waits Latency (or until
// ctx ends), then issues a token or fails.
func (p *IdP) Issue(ctx context.Context, tenant string) (Token, error) {
	p.requests.Add(1)
	raise(&p.peak, p.inflight.Add(1))
	defer p.inflight.Add(-1)
	if i, ok := TenantIndex(tenant); ok && i < len(p.tenants) {
		tc := &p.tenants[i]
		tc.requests.Add(1)
		raise(&p.peakPerTenant, tc.inflight.Add(1))
		defer tc.inflight.Add(-1)
	} else if !ok {
		p.failures.Add(1)
		return Token{}, ErrUnknownTenant
	}

	if d := time.Duration(p.latency.Load()); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			p.failures.Add(1)
			return Token{}, ctx.Err()
		case <-t.C:
		}
	}
	if p.down.Load() || (p.faultRate > 0 && rand.Float64() < p.faultRate) {
		p.failures.Add(1)
		return Token{}, ErrUnavailable
	}
	now := p.clock.Now()
	exp := now + p.lifetime.Load()
	return Token{Access: formatToken(tenant, p.seq.Add(1), now, exp), IssuedAt: now, Expiry: exp}, nil
}

// Stats returns the IdP's counters.
func (p *IdP) Stats() IdPStats {
	return IdPStats{
		Requests:       p.requests.Load(),
		Failures:       p.failures.Load(),
		PeakConcurrent: p.peak.Load(),
		PeakPerTenant:  p.peakPerTenant.Load(),
	}
}

// TenantRequests returns how many token requests tenant number i made; 0
// for a tenant the IdP does not count.
func (p *IdP) TenantRequests(i int) uint64 {
	if i < 0 || i >= len(p.tenants) {
		return 0
	}
	return p.tenants[i].requests.Load()
}

// raise stores v in a if it is larger.
func raise(a *atomic.Int64, v int64) {
	for {
		old := a.Load()
		if v <= old || a.CompareAndSwap(old, v) {
			return
		}
	}
}

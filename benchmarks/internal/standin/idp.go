package standin

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"strconv"
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
	// ErrOverloaded matches every refusal for capacity (an
	// [*OverloadError]): IdPConfig.Capacity token requests were in service.
	ErrOverloaded = errors.New("standin: token endpoint over capacity")
)

// An OverloadError is a token request the IdP refused at once because
// IdPConfig.Capacity requests were in service: a real server's 503 or 429,
// with or without Retry-After. It matches [ErrOverloaded].
type OverloadError struct {
	// StatusCode is the refusal's HTTP status: 503 or 429.
	StatusCode int
	// RetryAfter is the delay a Retry-After header would ask for; zero when
	// the refusal has none.
	RetryAfter time.Duration
}

func (e *OverloadError) Error() string {
	s := "standin: token endpoint over capacity (" + strconv.Itoa(e.StatusCode)
	if e.RetryAfter > 0 {
		s += ", retry after " + e.RetryAfter.String()
	}
	return s + ")"
}

// Is reports whether target is ErrOverloaded.
func (e *OverloadError) Is(target error) bool { return target == ErrOverloaded }

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
	// Capacity is how many token requests the IdP serves at once. One that
	// arrives while Capacity are in service (in their Latency) is refused
	// at once, without latency, with an *OverloadError, as Keycloak does
	// with http-max-queued-requests or a proxy's concurrency limit in front
	// of it. Zero (or negative) means no limit.
	Capacity int
	// RefusalStatus is the HTTP status of a refusal: 503 (zero means 503)
	// or 429.
	RefusalStatus int
	// RetryAfter is the Retry-After of a refusal; zero sends none.
	RetryAfter time.Duration
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
	// Failures counts token requests that failed, refusals included.
	Failures uint64
	// Refusals counts token requests refused for capacity
	// (IdPConfig.Capacity).
	Refusals uint64
	// PeakConcurrent is the most token requests in service at once:
	// at most IdPConfig.Capacity when it is set.
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
	capacity  int64
	refusal   OverloadError

	seq                          atomic.Uint64
	requests, failures, refusals atomic.Uint64
	inflight, peak               atomic.Int64
	peakPerTenant                atomic.Int64
	tenants                      []tenantCounters
}

type tenantCounters struct {
	requests atomic.Uint64
	inflight atomic.Int64
}

// NewIdP returns an IdP that tells time by clock.
func NewIdP(cfg IdPConfig, clock *Clock) *IdP {
	p := &IdP{clock: clock, faultRate: cfg.FaultRate, tenants: make([]tenantCounters, max(cfg.Tenants, 0)),
		capacity: int64(max(cfg.Capacity, 0)),
		refusal:  OverloadError{StatusCode: http.StatusServiceUnavailable, RetryAfter: max(cfg.RetryAfter, 0)}}
	if cfg.RefusalStatus == http.StatusTooManyRequests {
		p.refusal.StatusCode = http.StatusTooManyRequests
	}
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

// Issue performs one token request for tenant: it is refused at once when
// the IdP is at its capacity, else it waits Latency (or until ctx ends),
// then issues a token or fails.
func (p *IdP) Issue(ctx context.Context, tenant string) (Token, error) {
	p.requests.Add(1)
	i, ok := TenantIndex(tenant)
	var tc *tenantCounters
	if ok && i < len(p.tenants) {
		tc = &p.tenants[i]
		tc.requests.Add(1)
	}
	if !p.admit() {
		p.refusals.Add(1)
		p.failures.Add(1)
		e := p.refusal
		return Token{}, &e
	}
	defer p.inflight.Add(-1)
	if tc != nil {
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

// admit takes one of the Capacity slots for a request, reporting false when
// all are taken; without a capacity it always succeeds. An admitted request
// gives its slot back with p.inflight.Add(-1).
func (p *IdP) admit() bool {
	for {
		n := p.inflight.Load()
		if p.capacity > 0 && n >= p.capacity {
			return false
		}
		if p.inflight.CompareAndSwap(n, n+1) {
			raise(&p.peak, n+1)
			return true
		}
	}
}

// Stats returns the IdP's counters.
func (p *IdP) Stats() IdPStats {
	return IdPStats{
		Requests:       p.requests.Load(),
		Failures:       p.failures.Load(),
		Refusals:       p.refusals.Load(),
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

// Package contender holds the three ways of authenticating outbound requests
// per tenant that the benchmarks compare, behind one interface:
//
//   - [Tenantauth]: a tenantauth.Manager with the middleware/httpauth
//     Transport.
//   - [OAuth2]: what a careful golang.org/x/oauth2 user writes today: one
//     oauth2.ReuseTokenSource per tenant in a sync.Map, each wrapped in an
//     oauth2.Transport, plus the one thing x/oauth2 lacks for these APIs: on
//     a 401 the tenant's source is replaced (compare-and-delete) and the
//     request retried once.
//   - [Naive]: a mutex-guarded map[tenant]token that fetches on a miss,
//     without singleflight, and on a 401 drops the token and retries once.
//
// All three read the tenant from the request context
// ([tenantauth.TenantFromContext]) and use the same expiry margin, so the
// comparison is of the designs, not of their settings.
package contender

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/tenantauth/tenantauth/benchmarks/internal/standin"
)

// A Contender authenticates outbound requests per tenant. Implementations are
// safe for concurrent use.
type Contender interface {
	// Name is the contender's name in tables and charts.
	Name() string
	// Lookup returns tenant's access token, fetching one if needed: the
	// cached-lookup path the micro-benchmarks measure.
	Lookup(ctx context.Context, tenant string) (string, error)
	// RoundTrip sends req with its tenant's token; the tenant comes from
	// req's context (tenantauth.WithTenant). It never modifies req.
	RoundTrip(req *http.Request) (*http.Response, error)
	// Close releases what the contender holds (goroutines, for tenantauth).
	Close() error
}

// Names of the contenders, in the order tables list them.
const (
	NameTenantauth = "tenantauth"
	NameOAuth2     = "x/oauth2"
	NameNaive      = "naive"
)

// Names returns every contender's name.
func Names() []string { return []string{NameTenantauth, NameOAuth2, NameNaive} }

// Config is what every contender is built from.
type Config struct {
	// IdP issues the tokens. Required.
	IdP *standin.IdP
	// Base sends the authenticated requests: the no-op API. Required.
	Base http.RoundTripper
	// Tenants is the number of tenants the run uses. tenantauth's cache is
	// sized to hold them all (its default bound is 10 000); the map-based
	// contenders are unbounded anyway. Zero means tenantauth's default.
	Tenants int
	// Margin is how long before its expiry a token stops being used:
	// tenantauth's Skew, x/oauth2's early expiry, the naive map's margin.
	// Zero means DefaultMargin of the IdP's token lifetime.
	Margin time.Duration
	// BreakerOpenTimeout is how long tenantauth's circuit breaker stays open.
	// Zero means tenantauth's default (30 s); runs that squeeze a day of
	// token lifetimes into seconds squeeze it too.
	BreakerOpenTimeout time.Duration
}

// DefaultMargin is the expiry margin for tokens of the given lifetime: a
// quarter of it, at most 10 s (x/oauth2's default early expiry).
func DefaultMargin(lifetime time.Duration) time.Duration {
	return min(lifetime/4, 10*time.Second)
}

func (c *Config) check() error {
	if c.IdP == nil || c.Base == nil {
		return errors.New("contender: Config needs IdP and Base")
	}
	if c.Margin <= 0 {
		c.Margin = DefaultMargin(c.IdP.Lifetime())
	}
	return nil
}

// New returns the contender called name (one of Names).
func New(name string, cfg Config) (Contender, error) {
	switch name {
	case NameTenantauth:
		return NewTenantauth(cfg)
	case NameOAuth2:
		return NewOAuth2(cfg)
	case NameNaive:
		return NewNaive(cfg)
	}
	return nil, fmt.Errorf("contender: unknown contender %q (have %v)", name, Names())
}

// errNoTenant is returned for a request whose context names no tenant.
var errNoTenant = errors.New("contender: no tenant in request context")

// replayable reports whether req can be sent a second time, and returns the
// body to send it with.
func replayable(req *http.Request) (io.ReadCloser, bool) {
	if req.Body == nil || req.Body == http.NoBody {
		return req.Body, true
	}
	if req.GetBody == nil {
		return nil, false
	}
	b, err := req.GetBody()
	return b, err == nil
}

// drain closes a response that will not be returned.
func drain(resp *http.Response) {
	if resp.Body != nil {
		_, _ = io.CopyN(io.Discard, resp.Body, 4<<10)
		_ = resp.Body.Close()
	}
}

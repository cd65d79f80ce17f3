package contender

import (
	"context"
	"errors"
	"net/http"

	"github.com/tenantauth/tenantauth"
	"github.com/tenantauth/tenantauth/benchmarks/internal/standin"
	"github.com/tenantauth/tenantauth/breaker"
	"github.com/tenantauth/tenantauth/middleware/httpauth"
)

// Tenantauth is a tenantauth.Manager with the middleware/httpauth Transport,
// configured as the README tells users to: defaults everywhere except the
// cache size (every tenant fits) and the shared expiry margin.
type Tenantauth struct {
	m  *tenantauth.Manager
	tr *httpauth.Transport
}

// NewTenantauth returns the tenantauth contender.
func NewTenantauth(cfg Config) (*Tenantauth, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	p := &provider{idp: cfg.IdP}
	m, err := tenantauth.New(tenantauth.Config{
		// Tenants are built on demand, so that the memory measured per
		// cached tenant is the cache's, not a tenant table's.
		Tenants: tenantauth.TenantFunc(func(_ context.Context, id string) (tenantauth.Tenant, error) {
			return tenantauth.Tenant{ID: id, Provider: p, Credentials: tenantauth.Credentials{ClientID: id}, APIHosts: anyHost}, nil
		}),
		CacheSize: cfg.Tenants,
		Skew:      cfg.Margin,
		Breaker:   breaker.Config{OpenTimeout: cfg.BreakerOpenTimeout},
	})
	if err != nil {
		return nil, err
	}
	return &Tenantauth{m: m, tr: httpauth.NewTransport(m, cfg.Base)}, nil
}

// Name implements Contender.
func (*Tenantauth) Name() string { return NameTenantauth }

// Manager returns the Manager, for benchmarks of other middleware.
func (c *Tenantauth) Manager() *tenantauth.Manager { return c.m }

// Lookup implements Contender with Manager.Token.
func (c *Tenantauth) Lookup(ctx context.Context, tenant string) (string, error) {
	tok, err := c.m.Token(ctx, tenant)
	if err != nil {
		return "", err
	}
	return tok.AccessToken.Reveal(), nil
}

// RoundTrip implements Contender with the httpauth Transport.
func (c *Tenantauth) RoundTrip(req *http.Request) (*http.Response, error) { return c.tr.RoundTrip(req) }

// Close implements Contender.
func (c *Tenantauth) Close() error { return c.m.Close() }

// provider adapts the IdP to tenantauth.Provider. ClientID is the tenant.
type provider struct{ idp *standin.IdP }

const endpoint = "http://idp.test/token"

func (p *provider) Endpoint() string { return endpoint }

func (p *provider) Exchange(ctx context.Context, req tenantauth.TokenRequest) (*tenantauth.Token, error) {
	t, err := p.idp.Issue(ctx, req.Credentials.ClientID)
	var overload *standin.OverloadError
	switch {
	case errors.As(err, &overload):
		// What a provider makes of a 503 or 429 refusal, Retry-After
		// parsed: the admission limiter backs off (and pauses the endpoint
		// for the Retry-After), the Manager retries it.
		return nil, &tenantauth.TokenError{Endpoint: endpoint, StatusCode: overload.StatusCode, RetryAfter: overload.RetryAfter}
	case errors.Is(err, standin.ErrUnavailable):
		// What a real provider returns for a 503: the breaker counts it
		// and the Manager retries it.
		return nil, &tenantauth.TokenError{Endpoint: endpoint, StatusCode: http.StatusServiceUnavailable}
	case errors.Is(err, standin.ErrUnknownTenant):
		return nil, &tenantauth.TokenError{Endpoint: endpoint, StatusCode: http.StatusUnauthorized, Code: "invalid_client"}
	case err != nil:
		return nil, err
	}
	clock := p.idp.Clock()
	return &tenantauth.Token{
		AccessToken: tenantauth.Secret(t.Access),
		TokenType:   "Bearer",
		IssuedAt:    clock.Time(t.IssuedAt),
		Expiry:      clock.Time(t.Expiry),
	}, nil
}

// anyHost lets a tenant's token go to any host (every tenant of the stand-in
// API has its own host), shared by all tenants so that it costs nothing per
// tenant.
var anyHost = []string{tenantauth.AnyHost}

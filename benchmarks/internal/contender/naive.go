package contender

import (
	"context"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/tenantauth/tenantauth"
	"github.com/tenantauth/tenantauth/benchmarks/internal/standin"
)

// Naive is the quick version: a mutex-guarded map from tenant to token. A
// miss (or an expired token) fetches outside the lock, with no singleflight,
// so every concurrent caller of a cold tenant fetches its own token. A 401
// drops the tenant's token and retries the request once.
type Naive struct {
	idp    *standin.IdP
	base   http.RoundTripper
	margin time.Duration

	mu     sync.Mutex
	tokens map[string]naiveToken
}

type naiveToken struct {
	access string
	expiry time.Time
}

// NewNaive returns the naive contender.
func NewNaive(cfg Config) (*Naive, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	return &Naive{idp: cfg.IdP, base: cfg.Base, margin: cfg.Margin, tokens: make(map[string]naiveToken)}, nil
}

// Name implements Contender.
func (*Naive) Name() string { return NameNaive }

// Lookup implements Contender.
func (c *Naive) Lookup(ctx context.Context, tenant string) (string, error) {
	c.mu.Lock()
	t, ok := c.tokens[tenant]
	c.mu.Unlock()
	if ok && time.Now().Before(t.expiry.Add(-c.margin)) {
		return t.access, nil
	}
	it, err := c.idp.Issue(ctx, tenant)
	if err != nil {
		return "", err
	}
	t = naiveToken{access: it.Access, expiry: c.idp.Clock().Time(it.Expiry)}
	c.mu.Lock()
	c.tokens[tenant] = t
	c.mu.Unlock()
	return t.access, nil
}

// RoundTrip implements Contender.
func (c *Naive) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	id, ok := tenantauth.TenantFromContext(ctx)
	if !ok {
		if req.Body != nil {
			_ = req.Body.Close()
		}
		return nil, errNoTenant
	}
	body, canRetry := replayable(req)
	resp, err := c.send(ctx, id, req, req.Body)
	if err != nil || resp.StatusCode != http.StatusUnauthorized || !canRetry {
		return resp, err
	}
	c.mu.Lock()
	delete(c.tokens, id)
	c.mu.Unlock()
	drain(resp)
	return c.send(ctx, id, req, body)
}

func (c *Naive) send(ctx context.Context, id string, req *http.Request, body io.ReadCloser) (*http.Response, error) {
	tok, err := c.Lookup(ctx, id)
	if err != nil {
		if body != nil {
			_ = body.Close()
		}
		return nil, err
	}
	r := req.Clone(ctx)
	r.Body = body
	r.Header.Set("Authorization", "Bearer "+tok)
	return c.base.RoundTrip(r)
}

// Close implements Contender.
func (*Naive) Close() error { return nil }

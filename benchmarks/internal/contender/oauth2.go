package contender

import (
	"context"
	"net/http"
	"sync"
	"time"

	"golang.org/x/oauth2"

	"github.com/tenantauth/tenantauth"
	"github.com/tenantauth/tenantauth/benchmarks/internal/standin"
)

// OAuth2 is the golang.org/x/oauth2 contender: one ReuseTokenSource per
// tenant, created on first use and kept in a sync.Map, each wrapped in its
// own oauth2.Transport. x/oauth2 has no notion of a rejected token, so on a
// 401 this wrapper does what a careful user adds: it replaces the tenant's
// source (compare-and-delete, so a burst of 401s replaces it once) and
// retries the request once with the new source's token.
type OAuth2 struct {
	idp     *standin.IdP
	base    http.RoundTripper
	margin  time.Duration
	sources sync.Map // tenant ID → *oauth2Tenant
}

type oauth2Tenant struct {
	src oauth2.TokenSource
	tr  oauth2.Transport
}

// NewOAuth2 returns the x/oauth2 contender.
func NewOAuth2(cfg Config) (*OAuth2, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	return &OAuth2{idp: cfg.IdP, base: cfg.Base, margin: cfg.Margin}, nil
}

// Name implements Contender.
func (*OAuth2) Name() string { return NameOAuth2 }

func (c *OAuth2) tenant(id string) *oauth2Tenant {
	if v, ok := c.sources.Load(id); ok {
		return v.(*oauth2Tenant)
	}
	src := oauth2.ReuseTokenSourceWithExpiry(nil, &tokenSource{idp: c.idp, tenant: id}, c.margin)
	t := &oauth2Tenant{src: src, tr: oauth2.Transport{Source: src, Base: c.base}}
	v, _ := c.sources.LoadOrStore(id, t)
	return v.(*oauth2Tenant)
}

// Lookup implements Contender with the tenant's ReuseTokenSource.
func (c *OAuth2) Lookup(_ context.Context, tenant string) (string, error) {
	tok, err := c.tenant(tenant).src.Token()
	if err != nil {
		return "", err
	}
	return tok.AccessToken, nil
}

// RoundTrip implements Contender with the tenant's oauth2.Transport.
func (c *OAuth2) RoundTrip(req *http.Request) (*http.Response, error) {
	id, ok := tenantauth.TenantFromContext(req.Context())
	if !ok {
		if req.Body != nil {
			_ = req.Body.Close()
		}
		return nil, errNoTenant
	}
	t := c.tenant(id)
	body, canRetry := replayable(req)
	resp, err := t.tr.RoundTrip(req)
	if err != nil || resp.StatusCode != http.StatusUnauthorized || !canRetry {
		return resp, err
	}
	c.sources.CompareAndDelete(id, t)
	drain(resp)
	retry := req
	if body != req.Body {
		retry = req.Clone(req.Context())
		retry.Body = body
	}
	return c.tenant(id).tr.RoundTrip(retry)
}

// Close implements Contender.
func (*OAuth2) Close() error { return nil }

// tokenSource fetches a token from the IdP on every call; ReuseTokenSource
// caches it. x/oauth2's TokenSource has no context, hence Background.
type tokenSource struct {
	idp    *standin.IdP
	tenant string
}

func (s *tokenSource) Token() (*oauth2.Token, error) {
	t, err := s.idp.Issue(context.Background(), s.tenant)
	if err != nil {
		return nil, err
	}
	return &oauth2.Token{AccessToken: t.Access, TokenType: "Bearer", Expiry: s.idp.Clock().Time(t.Expiry)}, nil
}

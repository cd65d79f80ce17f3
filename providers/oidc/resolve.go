package oidc

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/tenantauth/tenantauth"
	"github.com/tenantauth/tenantauth/providers/tokenclient"
)

// Backoff between failed discoveries: the wait after the n-th failure in a
// row is drawn at random from the upper half of minBackoff·2ⁿ⁻¹, capped at
// maxBackoff.
const (
	minBackoff = time.Second
	maxBackoff = 5 * time.Minute
)

// resolved is a successful discovery (or the configured TokenURL): kept for
// the Provider's lifetime.
type resolved struct {
	client   *tokenclient.Client
	tokenURL string
	// authOnly: the server authenticates clients only by the methods of
	// tenantauth.Credentials.Auth (its document lists no secret method).
	authOnly bool
	// mtls sends the token requests of tenants that authenticate with a
	// TLS client certificate, to mtls_endpoint_aliases.token_endpoint;
	// nil when the document names none (they use client then).
	mtls *tokenclient.Client
}

// resolve returns the token client, discovering the token endpoint first if
// that has not succeeded yet.
//
// One discovery runs at a time, in its own goroutine, bounded by the
// discovery timeout but not by any caller's context: a caller that gives up
// returns its context's error and leaves the discovery to the others (and to
// the next callers). After a failure, callers get the failure's error without
// a request until the backoff has passed.
func (p *Provider) resolve(ctx context.Context) (*resolved, error) {
	if r := p.resolved.Load(); r != nil {
		return r, nil
	}
	if err := ctx.Err(); err != nil {
		// A caller that has already given up starts no discovery.
		return nil, fmt.Errorf("oidc: waiting for discovery: %w", err)
	}
	now := p.now()
	p.mu.Lock()
	if r := p.resolved.Load(); r != nil {
		p.mu.Unlock()
		return r, nil
	}
	done := p.inflight
	if done == nil {
		if p.lastErr != nil && now.Before(p.retryAt) {
			err := p.lastErr
			p.mu.Unlock()
			return nil, err
		}
		done = make(chan struct{})
		p.inflight = done
		// WithoutCancel keeps the context's values (a trace, say) but not
		// its deadline or cancellation: the discovery serves every caller.
		go p.discover(context.WithoutCancel(ctx), done)
	}
	p.mu.Unlock()

	select {
	case <-done:
	case <-ctx.Done():
		select {
		case <-done: // finished as well: prefer its outcome
		default:
			return nil, fmt.Errorf("oidc: waiting for discovery: %w", ctx.Err())
		}
	}
	if r := p.resolved.Load(); r != nil {
		return r, nil
	}
	p.mu.Lock()
	err := p.lastErr
	p.mu.Unlock()
	return nil, err
}

// discover runs one discovery, records its outcome and closes done.
func (p *Provider) discover(ctx context.Context, done chan struct{}) {
	ctx, cancel := context.WithTimeout(ctx, p.discoveryTimeout)
	r, err := p.discoverOnce(ctx)
	cancel()
	now := p.now()
	p.mu.Lock()
	if err == nil {
		p.resolved.Store(r)
		p.lastErr, p.failures = nil, 0
	} else {
		p.failures++
		p.lastErr = err
		p.retryAt = now.Add(p.jitter(backoffDelay(p.failures)))
	}
	p.inflight = nil
	p.mu.Unlock()
	close(done)
}

// discoverOnce fetches the metadata and builds the token client from it.
func (p *Provider) discoverOnce(ctx context.Context) (*resolved, error) {
	md, err := p.fetchMetadata(ctx)
	if err != nil {
		return nil, err
	}
	method, authOnly := p.authMethod, false
	if method == "" {
		if method, authOnly, err = chooseAuthMethod(md.authMethods); err != nil {
			return nil, discoveryErr(nil, tokenclientText(md.tokenEndpoint, err))
		}
	}
	c, err := tokenclient.New(p.tokenConfig(md.tokenEndpoint, method))
	if err != nil {
		return nil, discoveryErr(err, tokenclientText(md.tokenEndpoint, err))
	}
	r := &resolved{client: c, tokenURL: c.Endpoint(), authOnly: authOnly}
	if md.mtlsTokenEndpoint != "" {
		if r.mtls, err = tokenclient.New(p.tokenConfig(md.mtlsTokenEndpoint, method)); err != nil {
			return nil, discoveryErr(err, tokenclientText(md.mtlsTokenEndpoint, err))
		}
	}
	return r, nil
}

// tokenclientText describes a problem with a discovered token endpoint.
func tokenclientText(tokenURL string, err error) string {
	return "token_endpoint " + quote(tenantauth.RedactURL(tokenURL)) + ": " + printable(clip(err.Error(), maxQuote))
}

// backoffDelay is the upper bound of the wait after the n-th failure in a
// row (n ≥ 1).
func backoffDelay(n int) time.Duration {
	if n > 10 { // minBackoff<<9 is already past maxBackoff
		return maxBackoff
	}
	return min(minBackoff<<(n-1), maxBackoff)
}

// halfJitter returns a random duration in [d/2, d]: callers of many
// Providers whose issuer failed at once do not come back in lockstep.
func halfJitter(d time.Duration) time.Duration {
	if d <= 1 {
		return d
	}
	return d/2 + rand.N(d-d/2+1)
}

package tenantauth

// This file is the token request itself: the breaker, retries, backoff.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"syscall"
	"time"

	"github.com/tenantauth/tenantauth/admission"
)

// exchange performs token requests for one flight: through the endpoint's
// circuit breaker, retrying transient failures with exponential backoff and
// full jitter, honouring Retry-After, within ctx's deadline.
type exchange struct {
	m        *Manager
	id       string
	provider Provider
	endpoint string
	flight   *flight
}

var errNoAccessToken = errors.New("tenantauth: provider returned no access token")

// tenantError names the tenant and the token endpoint of a failed token
// request, keeping the cause in the chain (errors.Is and errors.As reach
// the *TokenError, the network error, the open breaker).
type tenantError struct {
	tenant, endpoint string
	err              error
}

func (e *tenantError) Error() string {
	var te *TokenError
	if errors.As(e.err, &te) {
		// A TokenError names the endpoint itself.
		return fmt.Sprintf("tenantauth: tenant %q: %v", e.tenant, e.err)
	}
	return fmt.Sprintf("tenantauth: tenant %q, token endpoint %s: %v", e.tenant, e.endpoint, e.err)
}

func (e *tenantError) Unwrap() error { return e.err }

func (x exchange) do(ctx context.Context, req TokenRequest) (*Token, error) {
	m := x.m
	for attempt := 1; ; attempt++ {
		// Admission is per attempt: a refused attempt gives its slot back
		// and the next one queues again, behind the endpoint's pause.
		var permit *admission.Permit
		var err error
		var queued time.Duration // the admission wait, reported to OnFetch and the Observer only
		if m.cfg.OnFetch != nil || m.obs != nil {
			queued = m.elapsed()
		}
		if x.flight.urgent != nil {
			permit, err = m.admit.AcquireBackground(ctx, x.endpoint, x.flight.urgent)
		} else {
			permit, err = m.admit.Acquire(ctx, x.endpoint, admission.Foreground)
		}
		if err != nil {
			return nil, err // nothing was sent
		}
		othersInFlight := permit.OthersInFlight()
		start := m.elapsed()
		tok, err := x.exchange(ctx, req, permit)
		if err == nil && (tok == nil || tok.AccessToken == "") {
			err = fmt.Errorf("%w (endpoint %s)", errNoAccessToken, x.endpoint)
		}
		took := m.elapsed() - start
		outcome, retryAfter := admissionOutcome(err, othersInFlight)
		permit.Release(outcome, took, retryAfter)
		if outcome == admission.Overload && m.admit.Stats(x.endpoint).Limit > m.minLimit() {
			// The limiter handles it: not the breaker's business.
			err = &limiterRefusal{err: err}
		}
		st := x.flight.st // counted per stripe: one shared counter is a cache line every miss writes
		st.fetches.Add(1)
		if err != nil {
			st.fetchErrors.Add(1)
		}
		x.flight.grant = req.Grant
		x.flight.attempts++
		if m.cfg.OnFetch != nil || m.obs != nil {
			ev := FetchEvent{TenantID: x.id, Endpoint: x.endpoint, Grant: req.Grant,
				Background: x.flight.background(), Attempt: attempt, Queued: start - queued, Duration: took, Err: err}
			if m.cfg.OnFetch != nil {
				m.cfg.OnFetch(ev)
			}
			if m.obs != nil {
				m.obs.Attempt(ctx, ev)
			}
		}
		if err == nil {
			m.log.LogAttrs(ctx, slog.LevelDebug, "tenantauth: token fetched", slog.String("tenant", x.id),
				slog.String("endpoint", x.endpoint), slog.String("grant", string(req.Grant)), slog.Int("attempt", attempt))
			return tok, nil
		}
		// A refresh token is never retried: after a timeout the server may
		// have used it already, and a rotating server would see it twice.
		// The caller falls back to the full grant instead.
		if attempt > m.cfg.Retries || req.Grant == GrantRefreshToken || !transient(err) {
			return nil, err
		}
		if outcome == admission.Overload && m.admit.Stats(x.endpoint).PausedUntil.After(time.Now()) {
			continue // the endpoint is paused: the next Acquire waits it out
		}
		delay := backoff(m.cfg.RetryBackoff, attempt, err)
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < delay {
			return nil, err // waiting would outlive the fetch
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, err
		case <-t.C:
		}
	}
}

// exchange sends one token request; a provider that panics still gives
// its admission slot back.
func (x exchange) exchange(ctx context.Context, req TokenRequest, permit *admission.Permit) (tok *Token, err error) {
	returned := false
	defer func() {
		if !returned { // a panic or runtime.Goexit in the provider
			permit.Release(admission.Ignore, 0, 0)
		}
	}()
	tok, err = x.provider.Exchange(ctx, req)
	returned = true
	return tok, err
}

// admissionOutcome is what a token request tells the admission limiter:
// 429 and 503 are overload (with the server's Retry-After); a refused or
// reset connection is overload while other requests to the endpoint are in
// flight (the server sheds load), a failure when nothing else is (it is
// down); a tenant's own fault or a cancellation says nothing about load.
func admissionOutcome(err error, othersInFlight bool) (admission.Outcome, time.Duration) {
	if err == nil {
		return admission.Success, 0
	}
	var te *TokenError
	switch {
	case errors.As(err, &te) && (te.StatusCode == 429 || te.StatusCode == 503):
		return admission.Overload, te.RetryAfter
	case errors.As(err, &te) && te.TenantFault(), errors.Is(err, context.Canceled):
		return admission.Ignore, 0
	case othersInFlight && (errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET)):
		return admission.Overload, 0
	}
	var tf interface{ TenantFault() bool }
	if errors.As(err, &tf) && tf.TenantFault() {
		return admission.Ignore, 0
	}
	return admission.Failure, 0
}

// limiterRefusal is an overload refusal the admission limiter is handling
// (its limit is above the minimum): the breaker does not count it.
type limiterRefusal struct{ err error }

func (e *limiterRefusal) Error() string { return e.err.Error() }
func (e *limiterRefusal) Unwrap() error { return e.err }

// minLimit is the admission limit's floor.
func (m *Manager) minLimit() int {
	if m.cfg.Admission.MinLimit > 0 {
		return m.cfg.Admission.MinLimit
	}
	return admission.DefaultMinLimit
}

// transient reports whether another attempt may succeed: network errors,
// timeouts, 408, 429, 502, 503, 504. A 500 is usually a bug, not a blip;
// an open circuit is retried by nobody.
func transient(err error) bool {
	if errors.Is(err, admission.ErrOverloaded) {
		return false // the queue is full or the wait would outlive the fetch
	}
	if errors.Is(err, ErrCircuitOpen) || errors.Is(err, context.Canceled) ||
		errors.Is(err, ErrRedirect) || errors.Is(err, ErrInsecureEndpoint) {
		return false
	}
	var te *TokenError
	if errors.As(err, &te) {
		switch te.StatusCode {
		case 408, 429, 502, 503, 504:
			return true
		}
		return false
	}
	return networkError(err)
}

// backoff returns the delay before retry number attempt: the server's
// Retry-After when it gave one, else full jitter over an exponentially
// growing window.
func backoff(base time.Duration, attempt int, err error) time.Duration {
	var te *TokenError
	if errors.As(err, &te) && te.RetryAfter > 0 {
		return te.RetryAfter
	}
	window := min(base<<(attempt-1), maxRetryBackoff)
	if window <= 0 {
		window = maxRetryBackoff
	}
	return rand.N(window) + 1
}

// endpointDown reports whether err says the token endpoint could not be
// reached or is failing, rather than refusing the tenant.
func (m *Manager) endpointDown(err error) bool {
	if errors.Is(err, ErrCircuitOpen) || errors.Is(err, admission.ErrOverloaded) {
		return true
	}
	var te *TokenError
	if errors.As(err, &te) {
		return te.Temporary()
	}
	return networkError(err)
}

// networkError reports whether err says the exchange broke in transit: a
// net.Error (refused, reset, timeout), a connection closed before or during
// the answer (io.EOF, io.ErrUnexpectedEOF), or the fetch's deadline.
func networkError(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, context.DeadlineExceeded)
}

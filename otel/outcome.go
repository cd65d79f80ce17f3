package tenantauthotel

import (
	"context"
	"errors"
	"net"

	"github.com/tenantauth/tenantauth"
	"github.com/tenantauth/tenantauth/admission"
)

// The values of the tenantauth.outcome attribute: how a token fetch or a
// token request ended. They are a closed set, so they are safe as metric
// labels, and say nothing a log line of the core would not.
const (
	// OutcomeSuccess: a token.
	OutcomeSuccess = "success"
	// OutcomeRefused: the token endpoint refused what the tenant sent —
	// its credentials (errors.Is ErrInvalidCredentials), its grant or scope
	// (any 4xx but 408 and 429) — or the tenant's record cannot make a
	// request (ErrUnsupportedGrant, ErrIncompleteCredentials). The
	// tenantauth.error_code attribute says which registered OAuth code,
	// when there was one. Fix the tenant, then Manager.Forget.
	OutcomeRefused = "refused"
	// OutcomeUnknownTenant: the TenantSource does not know the tenant.
	OutcomeUnknownTenant = "unknown_tenant"
	// OutcomeRateLimited: the token endpoint answered 429.
	OutcomeRateLimited = "rate_limited"
	// OutcomeUnavailable: the token endpoint failed: 5xx or 408.
	OutcomeUnavailable = "unavailable"
	// OutcomeCircuitOpen: the endpoint's circuit breaker is open; nothing
	// was sent.
	OutcomeCircuitOpen = "circuit_open"
	// OutcomeOverloaded: the admission limiter's queue for the endpoint was
	// full (admission.ErrOverloaded); nothing was sent.
	OutcomeOverloaded = "overloaded"
	// OutcomeTooManyLookups: Config.MaxLookups tenant lookups were under
	// way (ErrTooManyLookups).
	OutcomeTooManyLookups = "too_many_lookups"
	// OutcomeMalformed: the endpoint answered with something that is not a
	// token (ErrMalformedResponse, ErrBodyTooLarge, ErrRedirect).
	OutcomeMalformed = "malformed"
	// OutcomeInsecure: plain http off loopback was refused
	// (ErrInsecureEndpoint).
	OutcomeInsecure = "insecure"
	// OutcomeTimeout: the fetch's deadline (Config.FetchTimeout) or a
	// network timeout.
	OutcomeTimeout = "timeout"
	// OutcomeCanceled: the context was canceled.
	OutcomeCanceled = "canceled"
	// OutcomeClosed: the Manager was closed.
	OutcomeClosed = "closed"
	// OutcomeNetwork: the request failed on the network (refused or reset
	// connection, DNS, TLS).
	OutcomeNetwork = "network"
	// OutcomeError: anything else.
	OutcomeError = "error"
)

// outcome classifies err. The order matters: a remembered refusal wraps
// the TokenError, ErrClosed wraps the fetch's error, an open breaker is
// checked before the network.
func outcome(err error) string {
	if err == nil {
		return OutcomeSuccess
	}
	var te *tenantauth.TokenError
	switch {
	case errors.Is(err, tenantauth.ErrClosed):
		return OutcomeClosed
	case errors.Is(err, tenantauth.ErrInvalidCredentials),
		errors.Is(err, tenantauth.ErrUnsupportedGrant),
		errors.Is(err, tenantauth.ErrIncompleteCredentials):
		return OutcomeRefused
	case errors.Is(err, tenantauth.ErrUnknownTenant):
		return OutcomeUnknownTenant
	case errors.Is(err, tenantauth.ErrCircuitOpen):
		return OutcomeCircuitOpen
	case errors.Is(err, admission.ErrOverloaded):
		return OutcomeOverloaded
	case errors.Is(err, tenantauth.ErrTooManyLookups):
		return OutcomeTooManyLookups
	case errors.As(err, &te):
		switch {
		case te.StatusCode == 429:
			return OutcomeRateLimited
		case te.Temporary():
			return OutcomeUnavailable
		}
		return OutcomeRefused
	case errors.Is(err, tenantauth.ErrMalformedResponse),
		errors.Is(err, tenantauth.ErrBodyTooLarge),
		errors.Is(err, tenantauth.ErrRedirect):
		return OutcomeMalformed
	case errors.Is(err, tenantauth.ErrInsecureEndpoint):
		return OutcomeInsecure
	case errors.Is(err, context.DeadlineExceeded):
		return OutcomeTimeout
	case errors.Is(err, context.Canceled):
		return OutcomeCanceled
	}
	var ne net.Error // *url.Error is one too
	if errors.As(err, &ne) {
		if ne.Timeout() {
			return OutcomeTimeout
		}
		return OutcomeNetwork
	}
	return OutcomeError
}

// tokenError returns the HTTP status and registered OAuth error code of
// err's *TokenError, zero and "" when it has none. An unregistered code is
// the server's text and never leaves here.
func tokenError(err error) (status int, code string) {
	var te *tenantauth.TokenError
	if err == nil || !errors.As(err, &te) {
		return 0, ""
	}
	if te.RegisteredCode() {
		code = te.Code
	}
	return te.StatusCode, code
}

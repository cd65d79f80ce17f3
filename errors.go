package tenantauth

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tenantauth/tenantauth/breaker"
)

var (
	// ErrNoTenant means a request carried no tenant (see [WithTenant]).
	ErrNoTenant = errors.New("tenantauth: no tenant in request context")

	// ErrUnknownTenant means the TenantSource does not know the tenant ID.
	ErrUnknownTenant = errors.New("tenantauth: unknown tenant")

	// ErrCircuitOpen means the circuit breaker of the tenant's token endpoint
	// is open (or half-open and already probing): the token request was not
	// sent. Errors that match it also match gobreaker's ErrOpenState or
	// ErrTooManyRequests.
	ErrCircuitOpen = breaker.ErrOpen

	// ErrInvalidCredentials matches a *TokenError whose OAuth error code says
	// the tenant's credentials were refused (invalid_grant, invalid_client,
	// unauthorized_client), and the error the Manager returns while it
	// remembers such a refusal.
	ErrInvalidCredentials = errors.New("tenantauth: credentials refused by token endpoint")

	// ErrHostNotAllowed means a request would have sent a tenant's token to a
	// host outside the tenant's APIHosts. Nothing was sent.
	ErrHostNotAllowed = errors.New("tenantauth: host not in tenant's APIHosts")

	// ErrTooManyLookups means no fetch was started for a tenant because
	// Config.MaxLookups TenantSource lookups were already under way: a flood
	// of tenant IDs fails fast instead of growing goroutines and hammering
	// the tenant store. Retry later.
	ErrTooManyLookups = errors.New("tenantauth: too many tenant lookups under way")

	// ErrClosed means the Manager was closed.
	ErrClosed = errors.New("tenantauth: manager closed")

	// ErrInsecureEndpoint means a URL is not https and not on a loopback
	// host, and plain HTTP was not explicitly allowed: a token endpoint
	// (nothing was sent), or an API a tenant's token was asked for
	// ([Manager.TokenForURL]: no token was handed out).
	ErrInsecureEndpoint = errors.New("tenantauth: https required (plain http only on loopback or by explicit opt-in)")

	// ErrMalformedResponse means a token endpoint answered 2xx with something
	// that is not a usable token: not a JSON object, no access_token, a
	// token type that is not Bearer, an already expired token. Unlike a
	// *TokenError it says the endpoint is broken, so it counts against the
	// endpoint's circuit breaker.
	ErrMalformedResponse = errors.New("tenantauth: malformed token response")

	// ErrBodyTooLarge means a token endpoint's response body exceeded the
	// providers' 1 MiB limit. It is an error, never a silent truncation.
	ErrBodyTooLarge = errors.New("tenantauth: token endpoint response body too large")

	// ErrRedirect means a token endpoint answered with a redirect. It is not
	// followed: credentials must not travel to another URL.
	ErrRedirect = errors.New("tenantauth: token endpoint redirected; not followed")
)

// A TokenError is a token endpoint's answer that is not a token: an RFC 6749
// §5.2 error response, an error in a 200 body, or a status the server sent
// with an empty or non-JSON body.
//
// Its Error method never includes a secret; Body holds at most a short,
// sanitised excerpt of a body that was not an OAuth error document.
type TokenError struct {
	// Endpoint is the token endpoint URL without query string or user info.
	Endpoint string
	// StatusCode is the HTTP status (200 for an error inside a 200 body).
	StatusCode int
	// Code is the OAuth error code ("invalid_grant", …), empty when the body
	// had none.
	Code string
	// Description is error_description.
	Description string
	// URI is error_uri.
	URI string
	// Message and Hint are Laravel Passport's extra fields.
	Message, Hint string
	// RetryAfter is the delay the server asked for with Retry-After on a 429
	// or 5xx answer; zero when none.
	RetryAfter time.Duration
	// Body is a short, printable excerpt of a body that was not an OAuth
	// error document (an HTML error page, say); empty otherwise.
	Body string
}

// Error implements error.
func (e *TokenError) Error() string {
	var b strings.Builder
	b.WriteString("tenantauth: token endpoint ")
	b.WriteString(e.Endpoint)
	b.WriteString(": status ")
	b.WriteString(strconv.Itoa(e.StatusCode))
	if e.Code != "" {
		b.WriteString(": ")
		b.WriteString(e.Code)
	}
	switch {
	case e.Description != "":
		b.WriteString(": ")
		b.WriteString(e.Description)
	case e.Message != "":
		b.WriteString(": ")
		b.WriteString(e.Message)
	case e.Body != "":
		b.WriteString(": body ")
		b.WriteString(strconv.Quote(e.Body))
	}
	if e.RetryAfter > 0 {
		b.WriteString(" (retry after ")
		b.WriteString(e.RetryAfter.String())
		b.WriteString(")")
	}
	return b.String()
}

// Is makes errors.Is(err, ErrInvalidCredentials) true for a refusal of the
// tenant's credentials.
func (e *TokenError) Is(target error) bool {
	return target == ErrInvalidCredentials && e.InvalidCredentials()
}

// InvalidCredentials reports whether the endpoint refused the tenant's
// credentials: the OAuth codes invalid_grant, invalid_client and
// unauthorized_client, or a 401 without a code.
func (e *TokenError) InvalidCredentials() bool {
	switch e.Code {
	case "invalid_grant", "invalid_client", "unauthorized_client":
		return true
	case "":
		return e.StatusCode == 401
	}
	return false
}

// Temporary reports whether the failure is the endpoint's (429, 5xx, 408)
// and a later attempt may succeed.
func (e *TokenError) Temporary() bool {
	return e.StatusCode == 429 || e.StatusCode == 408 || e.StatusCode >= 500
}

// TenantFault reports whether the endpoint refused what one tenant sent
// (its credentials, its grant) rather than failing. The circuit breaker does
// not count such errors against the endpoint, so one tenant's bad password
// cannot cut off the others.
func (e *TokenError) TenantFault() bool { return !e.Temporary() }

// RedactURL returns u without user info, query and fragment, for errors and
// logs: query strings and user info may carry credentials.
func RedactURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		if i := strings.IndexAny(u, "?#"); i >= 0 {
			u = u[:i]
		}
		if i := strings.LastIndex(u, "@"); i >= 0 {
			u = u[i+1:]
		}
		return u
	}
	p.User = nil
	p.RawQuery = ""
	p.ForceQuery = false
	p.Fragment = ""
	p.RawFragment = ""
	return p.String()
}

// hostError refuses a destination: a host outside the tenant's APIHosts,
// or, when scheme is set, a plain-http URL.
type hostError struct{ tenant, host, scheme string }

func (e *hostError) Error() string {
	if e.scheme != "" {
		return fmt.Sprintf("tenantauth: tenant %q may not send its token over %q to host %q "+
			"(https is required off loopback unless the tenant or the middleware allows insecure http)",
			e.tenant, e.scheme, e.host)
	}
	return fmt.Sprintf("tenantauth: tenant %q may not send its token to host %q", e.tenant, e.host)
}

func (e *hostError) Unwrap() error {
	if e.scheme != "" {
		return ErrInsecureEndpoint
	}
	return ErrHostNotAllowed
}

// unknownTenantError is ErrUnknownTenant for one ID: the TenantSource does
// not know it (err, when it said more than ErrUnknownTenant), or returned
// a tenant whose ID is canonical instead.
type unknownTenantError struct {
	id, canonical string
	err           error
}

func (e *unknownTenantError) Error() string {
	switch {
	case e.canonical != "":
		return fmt.Sprintf("tenantauth: unknown tenant %q: the TenantSource returned tenant %q; "+
			"ask for a tenant by its own ID, spelled exactly", e.id, e.canonical)
	case e.err != nil && e.err != ErrUnknownTenant:
		return fmt.Sprintf("tenantauth: tenant %q: %v", e.id, e.err)
	}
	return fmt.Sprintf("tenantauth: unknown tenant %q", e.id)
}

func (e *unknownTenantError) Unwrap() []error {
	if e.err != nil && e.err != ErrUnknownTenant {
		return []error{ErrUnknownTenant, e.err}
	}
	return []error{ErrUnknownTenant}
}

// busyError says that a fetch was not started because Config.MaxLookups
// TenantSource lookups were already under way.
type busyError struct {
	id    string
	limit int
}

func (e *busyError) Error() string {
	return fmt.Sprintf("tenantauth: tenant %q: %d tenant lookups already under way; not looked up (Config.MaxLookups)", e.id, e.limit)
}

func (e *busyError) Unwrap() error { return ErrTooManyLookups }

func errConfig(msg string) error { return &configError{msg} }

type configError struct{ msg string }

func (e *configError) Error() string { return "tenantauth: invalid config: " + e.msg }

// A refusedError is a remembered refusal: the tenant's credentials were
// refused (or the tenant is unknown) moments ago, so the token endpoint is
// not asked again before Config.BadCredentialsTTL has passed.
type refusedError struct {
	tenant string
	err    error
}

func (e *refusedError) Error() string {
	return fmt.Sprintf("tenantauth: tenant %q: refused recently, not retried yet: %v", e.tenant, e.err)
}

func (e *refusedError) Unwrap() error { return e.err }

package httpauth

import (
	"net/http"

	"github.com/tenantauth/tenantauth"
)

// An Option configures a [Transport]. Options are applied in order by
// [NewTransport].
type Option func(*Transport)

// WithTenantFunc sets how the Transport finds a request's tenant. f reports
// false when the request has none. The default reads the context:
// [tenantauth.TenantFromContext](req.Context()). f must be safe for
// concurrent use and must not modify the request. A nil f keeps the default.
func WithTenantFunc(f func(*http.Request) (string, bool)) Option {
	return func(t *Transport) {
		if f != nil {
			t.tenantOf = f
		}
	}
}

// WithPassThrough makes a request without a tenant go out unchanged and
// unauthenticated. Without it such a request fails with an error wrapping
// [tenantauth.ErrNoTenant], so a forgotten [tenantauth.WithTenant] shows up
// at once instead of as an API's 401.
func WithPassThrough() Option {
	return func(t *Transport) { t.passThrough = true }
}

// WithIdempotentRetriesOnly limits the retry after a 401 to idempotent
// requests: GET, HEAD, OPTIONS, TRACE, PUT and DELETE (RFC 9110 §9.2.2),
// and requests with an Idempotency-Key or X-Idempotency-Key header. By
// default any request whose body can be replayed is retried once, POST
// included: a 401 means the API refused the credentials before serving
// the request. Use this for an API that may act on a request it then
// answers 401.
func WithIdempotentRetriesOnly() Option {
	return func(t *Transport) { t.idempotentOnly = true }
}

// WithInvalidTokenOn403 treats a 403 answer whose WWW-Authenticate header
// carries error="invalid_token" (RFC 6750 §3.1) like a 401: the token is
// invalidated and the request retried once. Some APIs answer 403 for a
// revoked token; a 403 without that error code means "not allowed" and is
// always returned as is.
func WithInvalidTokenOn403() Option {
	return func(t *Transport) { t.invalidOn403 = true }
}

// WithInsecureHTTP lets the Transport send tokens over plain http to hosts
// that are not loopback, for every tenant. Without it such a request fails
// with an error wrapping [tenantauth.ErrInsecureEndpoint] before anything is
// sent, unless the tenant itself sets [tenantauth.Tenant.AllowInsecureHTTP].
// A bearer token sent in clear text is anyone's token: use this only on a
// network you trust, such as a sidecar's.
func WithInsecureHTTP() Option {
	return func(t *Transport) { t.insecureHTTP = true }
}

// defaultTenant is the default tenant function.
func defaultTenant(req *http.Request) (string, bool) {
	return tenantauth.TenantFromContext(req.Context())
}

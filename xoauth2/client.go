package xoauth2

import (
	"net/http"

	"github.com/tenantauth/tenantauth"
	"github.com/tenantauth/tenantauth/middleware/httpauth"
)

// Client returns an *http.Client whose requests carry tenantID's token from
// m, for libraries that take an *http.Client where others take an
// oauth2.TokenSource (the *http.Client that oauth2.NewClient would build).
//
// Its transport is the Manager's own [httpauth.Transport] over base (nil
// means [http.DefaultTransport]), not [oauth2.Transport]: the token goes only
// to the tenant's APIHosts and over https (loopback aside), redirects to
// another host carry no token, the caller's request is never modified, and
// a 401 invalidates exactly the rejected token and retries once with a fresh
// one — which every TokenSource of the tenant sees at once, since they share
// the Manager's cache. opts are httpauth's ([httpauth.WithInvalidTokenOn403],
// [httpauth.WithIdempotentRetriesOnly], [httpauth.WithInsecureHTTP], …).
//
// Every request is tenantID's: a tenant in a request's context
// ([tenantauth.WithTenant]) is ignored, and [httpauth.WithTenantFunc] and
// [httpauth.WithPassThrough] in opts have no effect. A request waits for a
// token fetch as long as its own context allows.
//
// The client has no Timeout (set one on the result if you want it) and
// follows redirects as http.Client does. It is safe for concurrent use,
// starts no goroutine of its own and needs no closing beyond the base
// transport's idle connections ([http.Client.CloseIdleConnections]).
func Client(m *tenantauth.Manager, tenantID string, base http.RoundTripper, opts ...httpauth.Option) *http.Client {
	fixed := func(*http.Request) (string, bool) { return tenantID, true }
	// The tenant is set last, so that no option can change it.
	all := make([]httpauth.Option, 0, len(opts)+1)
	all = append(all, opts...)
	all = append(all, httpauth.WithTenantFunc(fixed))
	return &http.Client{Transport: httpauth.NewTransport(m, base, all...)}
}

package fiberauth

import (
	"net/http"

	"github.com/tenantauth/tenantauth"
	"github.com/tenantauth/tenantauth/middleware/httpauth"
)

// HTTPClient returns a net/http client whose Transport is
// [httpauth.NewTransport](m, nil, opts...): every request carries the token
// of the tenant in its context. In a handler, hand it the request's user
// context, where [New] put the tenant:
//
//	req, err := http.NewRequestWithContext(c.UserContext(), http.MethodGet, url, nil)
//	resp, err := client.Do(req)
//
// Build the client once and share it; it is safe for concurrent use. Its
// Timeout is zero (none): set one, or give the requests a deadline.
func HTTPClient(m *tenantauth.Manager, opts ...httpauth.Option) *http.Client {
	return &http.Client{Transport: httpauth.NewTransport(m, nil, opts...)}
}

package standin

import (
	"net/http"
	"strings"
	"sync/atomic"
)

// An API is the no-op API the contenders call: an [http.RoundTripper] that
// never touches the network. It answers
//
//   - 200 when the request carries "Authorization: Bearer <token>" with a
//     token issued to the tenant named by the request's host (TenantHost),
//     not expired and not revoked;
//   - 401 (with WWW-Authenticate: Bearer error="invalid_token") for a
//     missing, unreadable, expired or revoked token;
//   - 403 when the token belongs to another tenant. That is a bug in the
//     contender, counted by WrongTenant; nobody should retry it.
//
// Every response has Request set to the request as received, so the caller
// can see which token was sent. An API is safe for concurrent use; its hot
// path writes no shared memory.
type API struct {
	clock         *Clock
	revokedBefore atomic.Int64
	wrongTenant   atomic.Uint64
	rejected      atomic.Uint64
}

// NewAPI returns an API that tells time by clock, the IdP's.
func NewAPI(clock *Clock) *API { return &API{clock: clock} }

var _ http.RoundTripper = (*API)(nil)

// RoundTrip implements [http.RoundTripper].
func (a *API) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		_ = req.Body.Close()
	}
	status := a.verdict(req)
	resp := &http.Response{
		Status:     http.StatusText(status),
		StatusCode: status,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Body:       http.NoBody,
		Request:    req,
	}
	if status != http.StatusOK {
		a.rejected.Add(1)
		resp.Header = http.Header{"Www-Authenticate": {`Bearer error="invalid_token"`}}
	}
	return resp, nil
}

func (a *API) verdict(req *http.Request) int {
	var auth string
	if v := req.Header["Authorization"]; len(v) == 1 {
		auth = v[0]
	}
	ti, ok := ParseAuthorization(auth)
	if !ok {
		return http.StatusUnauthorized
	}
	tenant, ok := strings.CutSuffix(req.URL.Host, apiDomain)
	if !ok || ti.Tenant != tenant {
		a.wrongTenant.Add(1)
		return http.StatusForbidden
	}
	if a.clock.Now() >= ti.Expiry || ti.IssuedAt < a.revokedBefore.Load() {
		return http.StatusUnauthorized
	}
	return http.StatusOK
}

// RevokeAll revokes every token issued so far, as HubSoft does after an
// upgrade: from now on the API answers 401 to them. It returns the clock
// reading from which tokens are valid again.
func (a *API) RevokeAll() int64 {
	now := a.clock.Now()
	a.revokedBefore.Store(now)
	return now
}

// WrongTenant counts requests that carried another tenant's token.
func (a *API) WrongTenant() uint64 { return a.wrongTenant.Load() }

// Rejected counts requests answered 401 or 403.
func (a *API) Rejected() uint64 { return a.rejected.Load() }

// Noop is a base RoundTripper that answers every request with the same 200
// response and looks at nothing: it isolates the cost of the layer above it
// in micro-benchmarks. Callers must not modify the response.
type Noop struct{ resp http.Response }

// NewNoop returns a Noop.
func NewNoop() *Noop {
	return &Noop{resp: http.Response{Status: "200 OK", StatusCode: http.StatusOK, Proto: "HTTP/1.1",
		ProtoMajor: 1, ProtoMinor: 1, Body: http.NoBody}}
}

// RoundTrip implements [http.RoundTripper].
func (n *Noop) RoundTrip(*http.Request) (*http.Response, error) { return &n.resp, nil }

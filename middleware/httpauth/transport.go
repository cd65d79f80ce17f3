package httpauth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/tenantauth/tenantauth"
	"github.com/tenantauth/tenantauth/clientauth"
)

// maxDrain bounds how much of a rejected response's body is read before it
// is closed. Reading a short 401 body lets the connection be reused; a long
// one is cheaper to abandon with its connection.
const maxDrain = 4 << 10

var (
	// errNoTenant is built once: the no-tenant path must not allocate.
	errNoTenant = fmt.Errorf("httpauth: %w", tenantauth.ErrNoTenant)
	// errNoManager is returned by a Transport built without a Manager.
	errNoManager = errors.New("httpauth: Transport has no Manager")
	// errNilURL is returned for a request without a URL, which
	// http.Client never sends but a direct RoundTrip call might.
	errNilURL = errors.New("httpauth: request has no URL")
	// errNilResponse replaces a base transport's (nil, nil).
	errNilResponse = errors.New("httpauth: base RoundTripper returned neither a response nor an error")
)

// Transport is an [http.RoundTripper] that authenticates each request with
// its tenant's token from a [tenantauth.Manager]. See the package
// documentation for its rules.
//
// A Transport is safe for concurrent use. Build it with [NewTransport].
type Transport struct {
	m           *tenantauth.Manager
	base        http.RoundTripper
	tenantOf    func(*http.Request) (string, bool)
	passThrough bool
	// idempotentOnly limits retries after a 401 to idempotent requests.
	idempotentOnly bool
	invalidOn403   bool
	insecureHTTP   bool
	// nonces holds the last DPoP-Nonce (RFC 9449 §9) of each host, for the
	// proofs of DPoP-bound tokens: host → string.
	nonces clientauth.Nonces
}

var _ http.RoundTripper = (*Transport)(nil)

// NewTransport returns a Transport that takes tokens from m and sends
// requests with base. A nil base means [http.DefaultTransport]. m must not
// be nil (RoundTrip then fails every request).
func NewTransport(m *tenantauth.Manager, base http.RoundTripper, opts ...Option) *Transport {
	if base == nil {
		base = http.DefaultTransport
	}
	t := &Transport{m: m, base: base, tenantOf: defaultTenant}
	for _, o := range opts {
		if o != nil {
			o(t)
		}
	}
	return t
}

// RoundTrip implements [http.RoundTripper]. It never modifies req.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if leavesOrigin(req) {
		// A redirect to another host: no token, request as the client built it.
		return t.base.RoundTrip(req)
	}
	tenant, ok := t.tenantOf(req)
	if !ok {
		if t.passThrough {
			return t.base.RoundTrip(req)
		}
		closeBody(req)
		return nil, errNoTenant
	}
	if t.m == nil {
		closeBody(req)
		return nil, errNoManager
	}
	if req.URL == nil {
		closeBody(req)
		return nil, errNilURL
	}
	ctx := req.Context()
	tok, dp, err := t.token(ctx, tenant, req.URL)
	if err != nil {
		closeBody(req)
		return nil, err
	}
	out, sent, err := t.authorize(req, tok, dp)
	if err != nil {
		closeBody(req)
		return nil, err
	}
	resp, err := t.send(out)
	if err != nil {
		return nil, err
	}
	if dp != nil {
		if resp, err = t.nonceRetry(req, resp, tok, dp, sent); err != nil {
			return nil, err
		}
		if resp.StatusCode == http.StatusUnauthorized && clientauth.UseDPoPNonce(resp.Header) {
			// Still a nonce challenge (a body that cannot be replayed, or
			// a nonce rotated again): the token is good; the next request
			// carries the nonce.
			return resp, nil
		}
	}
	if !t.rejected(resp) {
		return resp, nil
	}

	// The API refused the token. Drop exactly that token, if the Manager
	// still holds it, even when this request cannot be retried: the next
	// request then gets a fresh token instead of another 401.
	t.m.Invalidate(tenant, tok)
	if !t.canRetry(req) {
		return resp, nil
	}
	// Try once more with a fresh token — unless the Manager, inside its
	// cooldown, hands back the same token: retrying would repeat the 401.
	fresh, freshDP, err := t.token(ctx, tenant, req.URL)
	if err != nil || fresh == tok {
		return resp, nil
	}
	body, ok := replayBody(req)
	if !ok {
		return resp, nil
	}
	retry, sent, err := t.authorize(req, fresh, freshDP)
	if err != nil {
		if body != nil {
			_ = body.Close()
		}
		return resp, nil
	}
	discard(resp)
	retry.Body = body
	resp, err = t.send(retry)
	challenged := false
	if err == nil && freshDP != nil {
		// The API may want a new nonce for the fresh token's proof too.
		if resp, err = t.nonceRetry(req, resp, fresh, freshDP, sent); err == nil {
			challenged = resp.StatusCode == http.StatusUnauthorized && clientauth.UseDPoPNonce(resp.Header)
		}
	}
	t.m.ReportRecovery(tenant, err == nil && (challenged || !t.rejected(resp)))
	return resp, err
}

// replayBody returns a fresh copy of req's body for a second attempt (req's
// own when it has none), or false when it cannot be replayed.
func replayBody(req *http.Request) (io.ReadCloser, bool) {
	body := req.Body
	if body == nil || body == http.NoBody {
		return body, true
	}
	if req.GetBody == nil {
		return nil, false
	}
	body, err := req.GetBody()
	if err != nil {
		return nil, false
	}
	return body, true
}

// authorize returns the copy of req to send: with tok's Authorization and,
// when tok is DPoP-bound (dp not nil), a fresh DPoP proof for this request
// (RFC 9449 §7): htm the method, htu the URL without query and fragment,
// ath the token's hash, and the host's latest DPoP-Nonce if it sent one,
// which it returns too.
func (t *Transport) authorize(req *http.Request, tok *tenantauth.Token, dp *clientauth.DPoP) (*http.Request, string, error) {
	if dp == nil {
		return withAuthorization(req, tok.Authorization()), "", nil
	}
	u := req.URL
	htu := u.Scheme + "://" + u.Host + u.EscapedPath()
	nonce := t.nonces.Get(u.Host)
	proof, err := dp.Proof(req.Method, htu, string(tok.AccessToken), nonce, time.Now())
	if err != nil {
		return nil, "", fmt.Errorf("httpauth: making a DPoP proof: %w", err)
	}
	return withDPoP(req, tok.Authorization(), proof), nonce, nil
}

// nonceRetry handles the answer to a DPoP request: it remembers the
// server's DPoP-Nonce, and when the server asks for a proof with it (401
// with a DPoP challenge error="use_dpop_nonce", RFC 9449 §9) sends the
// request once more with a new proof, when its body can be replayed. The
// token is not invalidated: the server did not refuse it.
func (t *Transport) nonceRetry(req *http.Request, resp *http.Response, tok *tenantauth.Token, dp *clientauth.DPoP, sent string) (*http.Response, error) {
	host := req.URL.Host
	t.noteNonce(host, resp.Header)
	if resp.StatusCode != http.StatusUnauthorized || !clientauth.UseDPoPNonce(resp.Header) {
		return resp, nil
	}
	if n, ok := clientauth.NonceFrom(resp.Header); !ok || n == sent {
		return resp, nil // no nonce, or the one the proof carried: no use retrying
	}
	body, ok := replayBody(req)
	if !ok {
		return resp, nil
	}
	retry, _, err := t.authorize(req, tok, dp)
	if err != nil {
		if body != nil {
			_ = body.Close()
		}
		return resp, nil
	}
	discard(resp)
	retry.Body = body
	resp, err = t.send(retry)
	if err != nil {
		return nil, err
	}
	t.noteNonce(host, resp.Header)
	return resp, nil
}

// noteNonce remembers the DPoP-Nonce of a response from host, if it has
// one.
func (t *Transport) noteNonce(host string, h http.Header) {
	if n, ok := clientauth.NonceFrom(h); ok {
		t.nonces.Set(host, n)
	}
}

// token asks the Manager for the tenant's token for u, and the key it is
// bound to when it is DPoP-bound: host and scheme checked, or the host only
// when plain http was allowed for this Transport.
func (t *Transport) token(ctx context.Context, tenant string, u *url.URL) (*tenantauth.Token, *clientauth.DPoP, error) {
	if t.insecureHTTP {
		return t.m.TokenForHostDPoP(ctx, tenant, u.Host)
	}
	return t.m.TokenForURLDPoP(ctx, tenant, u)
}

// send passes req to the base transport and holds it to the RoundTripper
// contract, so a faulty base cannot make RoundTrip panic or return both a
// response and an error.
func (t *Transport) send(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	switch {
	case err != nil:
		if resp != nil && resp.Body != nil {
			_ = resp.Body.Close()
		}
		return nil, err
	case resp == nil:
		return nil, errNilResponse
	}
	return resp, nil
}

// rejected reports whether resp says the token was not accepted.
func (t *Transport) rejected(resp *http.Response) bool {
	switch resp.StatusCode {
	case http.StatusUnauthorized:
		return true
	case http.StatusForbidden:
		return t.invalidOn403 && invalidTokenChallenge(resp.Header)
	}
	return false
}

// canRetry reports whether req may be sent a second time: its body can be
// replayed, and it is idempotent unless any method may be retried.
func (t *Transport) canRetry(req *http.Request) bool {
	if req.Body != nil && req.Body != http.NoBody && req.GetBody == nil {
		return false
	}
	return !t.idempotentOnly || idempotent(req)
}

// idempotent reports whether req's method is idempotent (RFC 9110 §9.2.2),
// or the request says so with an Idempotency-Key header as net/http's own
// retry logic accepts.
func idempotent(req *http.Request) bool {
	switch req.Method {
	case "", http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace,
		http.MethodPut, http.MethodDelete:
		return true
	}
	_, ok := req.Header["Idempotency-Key"]
	if !ok {
		_, ok = req.Header["X-Idempotency-Key"]
	}
	return ok
}

// Format implements [fmt.Formatter]. A Transport holds a Manager, and with
// it every tenant's credentials: printing it shows only its type.
func (t *Transport) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, "httpauth.Transport") }

// CloseIdleConnections closes the idle connections of the base transport,
// when it has that method. [http.Client.CloseIdleConnections] calls it.
func (t *Transport) CloseIdleConnections() {
	type closeIdler interface{ CloseIdleConnections() }
	if c, ok := t.base.(closeIdler); ok {
		c.CloseIdleConnections()
	}
}

// closeBody closes the body of a request that will not be passed on, as the
// RoundTripper contract requires.
func closeBody(req *http.Request) {
	if req.Body != nil {
		_ = req.Body.Close()
	}
}

// discard reads a little of a response that will not be returned, so its
// connection can be reused, and closes it.
func discard(resp *http.Response) {
	if resp.Body == nil {
		return
	}
	_, _ = io.CopyN(io.Discard, resp.Body, maxDrain)
	_ = resp.Body.Close()
}

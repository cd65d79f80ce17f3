package fiberauth

import (
	"context"
	"errors"
	"reflect"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/tenantauth/tenantauth"
	"github.com/tenantauth/tenantauth/clientauth"
	"github.com/valyala/fasthttp"
)

// Do sends the request prepared in a, a Fiber client Agent (fiber.Get,
// fiber.Post, …, or fiber.AcquireAgent plus a.Parse), with the token of the
// tenant of c, and returns what a.Bytes returns: the status code, the body
// and the errors (code is 0 when errs is not empty).
//
// Do keeps Agent's own rules: it releases a, as a.Bytes does, unless
// a.Reuse() was called; do not use a released Agent again. Timeout,
// redirects (MaxRedirectsCount), Dest, SetResponse and Debug work as usual.
//
// Authentication happens in a fasthttp RoundTripper that Do installs on the
// Agent's HostClient for the duration of the call (and removes afterwards):
//
//   - The token goes only to the tenant's APIHosts, and over plain http
//     only to loopback (or a tenant with AllowInsecureHTTP): the Agent's
//     dial address is checked with [tenantauth.Manager.TokenForURL]; a
//     refused request is not sent and errs holds an error matching
//     tenantauth.ErrHostNotAllowed or tenantauth.ErrInsecureEndpoint.
//   - A redirect whose URL leaves the Agent's host gets no token. (Fiber's
//     Agent would still dial its original address for it.)
//   - A 401 invalidates the token that was sent; the request is retried once
//     with a fresh one, its in-memory body re-sent, whatever its method
//     (see [ClientConfig.IdempotentRetriesOnly] and [Client.DoAgent] to
//     retry idempotent requests only). A body stream (a.BodyStream) is
//     not retried. When the Manager hands back the same token the 401 is
//     returned.
//   - The Authorization header is set for each attempt and removed after
//     it, so a reused Agent never carries the token into a later call; any
//     Authorization the caller set on a is replaced.
//   - For a tenant whose tokens are DPoP-bound (tenantauth.Credentials.DPoP)
//     each attempt carries a fresh DPoP proof (RFC 9449 §7) with the API's
//     latest DPoP-Nonce, and a use_dpop_nonce challenge is answered with
//     one more attempt (in-memory bodies); the DPoP header is removed
//     afterwards like Authorization.
//
// Each Agent has its own connection (its own HostClient): Agents do not
// pool connections across calls. For many calls to the same API, prefer a
// shared [Client].
//
// The tenant is the one in c.UserContext() or stored by [New]; without one,
// nothing is sent and errs holds ErrMissingTenant.
func Do(c *fiber.Ctx, m *tenantauth.Manager, a *fiber.Agent) (code int, body []byte, errs []error) {
	return doAgent(c, m, a, false, false)
}

// doAgent is Do with the retry policy for unsafe methods.
func doAgent(c *fiber.Ctx, m *tenantauth.Manager, a *fiber.Agent, idempotentOnly, insecure bool) (int, []byte, []error) {
	id, ok := tenantOf(c)
	var err error
	switch {
	case !ok:
		err = ErrMissingTenant
	case m == nil:
		err = errNoManager
	default:
		err = a.Parse()
	}
	if err != nil {
		release(a)
		return 0, nil, []error{err}
	}
	hc := a.HostClient
	if hc == nil {
		// The Agent's URL could not be parsed. fiber.Get & co. record that
		// among the Agent's errors, which Bytes returns without sending
		// anything (and releases a); an Agent without them would make Bytes
		// dereference the nil HostClient.
		if f := reflect.ValueOf(a).Elem().FieldByName("errs"); f.IsValid() && f.Kind() == reflect.Slice && f.Len() > 0 {
			return a.Bytes()
		}
		release(a)
		return 0, nil, []error{errAgentURL}
	}

	prev := hc.Transport
	rt := &agentTransport{m: m, ctx: c.UserContext(), id: id, next: prev, idempotentOnly: idempotentOnly, insecure: insecure}
	if rt.next == nil {
		rt.next = fasthttp.DefaultTransport
	}
	hc.Transport = rt
	code, body, errs := a.Bytes()
	// hc is no longer reachable from a when Bytes released it, but nothing
	// else uses it (its idle-connection cleaner never reads Transport), so
	// restoring is safe either way, and a reused Agent is left as it was.
	hc.Transport = prev
	return code, body, errs
}

// release applies the Agent's own rule on the paths that never reach Bytes:
// release a unless a.Reuse() was called. The flag is unexported; reflection
// may read it. Should a later Fiber rename it, a is released, which is what
// Bytes does by default.
func release(a *fiber.Agent) {
	if f := reflect.ValueOf(a).Elem().FieldByName("reuse"); f.IsValid() && f.Kind() == reflect.Bool && f.Bool() {
		return
	}
	fiber.ReleaseAgent(a)
}

// errAgentURL is returned for an Agent whose URL could not be parsed.
var errAgentURL = errors.New("fiberauth: Agent has no parsed http(s) URL")

// agentTransport authenticates the requests of one Do call. It is used by
// one goroutine: an Agent must not be used concurrently.
type agentTransport struct {
	m              *tenantauth.Manager
	ctx            context.Context
	id             string
	next           fasthttp.RoundTripper
	idempotentOnly bool
	insecure       bool // plain http allowed off loopback
	retried        bool // the one retry with a fresh token was made
}

// agentNonces are the APIs' DPoP nonces for every Agent call: an Agent
// lives for one call, and a nonce for the next proof to the same server.
var agentNonces clientauth.Nonces

// RoundTrip implements fasthttp.RoundTripper.
func (t *agentTransport) RoundTrip(hc *fasthttp.HostClient, req *fasthttp.Request, resp *fasthttp.Response) (bool, error) {
	uriHost := req.URI().Host()
	if len(uriHost) == 0 {
		// An Agent without a URL would dial ":80", the local machine.
		unauthorize(&req.Header)
		return false, errNoHost
	}
	if !sameAuthority(uriHost, hc.IsTLS, hc.Addr) {
		// A redirect that left the Agent's host: no token, no proof.
		unauthorize(&req.Header)
		return t.next.RoundTrip(hc, req, resp)
	}
	tok, dp, err := tokenFor(t.ctx, t.m, t.id, hc.IsTLS, hc.Addr, t.insecure)
	if err != nil {
		unauthorize(&req.Header)
		return false, err
	}
	var method, target string // for DPoP proofs only
	if dp != nil {
		method, target = string(req.Header.Method()), req.URI().String()
	}
	var retry bool
	send := func() (err error) {
		retry, err = t.next.RoundTrip(hc, req, resp)
		return err
	}
	challenged, err := sendAuthorized(&agentNonces, hc.Addr, req, resp, tok, dp, method, target, send)
	if err != nil || challenged || t.retried || !rejected(resp) {
		// A nonce challenge still standing is not a refusal of the token;
		// a redirect after the retry is not retried again.
		unauthorize(&req.Header)
		return retry, err
	}
	// The API refused the token: drop exactly that one, even when this
	// request cannot be retried, so the next request gets a fresh one.
	t.m.Invalidate(t.id, tok)
	if !canRetry(req, t.idempotentOnly) {
		unauthorize(&req.Header)
		return retry, nil
	}

	// Try once more with a fresh token, unless the Manager (in its
	// invalidation cooldown) hands back the same one.
	t.retried = true
	fresh, freshDP, err := tokenFor(t.ctx, t.m, t.id, hc.IsTLS, hc.Addr, t.insecure)
	if err != nil || fresh == tok {
		unauthorize(&req.Header)
		return false, nil // the 401 stands
	}
	if freshDP != nil && target == "" {
		method, target = string(req.Header.Method()), req.URI().String()
	}
	resetResponse(resp)
	challenged, err = sendAuthorized(&agentNonces, hc.Addr, req, resp, fresh, freshDP, method, target, send)
	t.m.ReportRecovery(t.id, err == nil && (challenged || !rejected(resp)))
	unauthorize(&req.Header)
	return retry, err
}

// sameAuthority reports whether a request to uriHost (a URL host, port
// optional) goes to addr, a HostClient's "host:port" dial address: same
// host, case-insensitively, and same port with the scheme's default port
// made explicit. It does not allocate.
func sameAuthority(uriHost []byte, isTLS bool, addr string) bool {
	host, port := splitHostPort(string(uriHost)) // no allocation: does not escape
	if port == "" {
		port = "80"
		if isTLS {
			port = "443"
		}
	}
	ahost, aport := splitHostPort(addr)
	return aport == port && strings.EqualFold(host, ahost)
}

// splitHostPort splits "host:port", "[v6]:port", "host" or "[v6]" without
// validating; the brackets of an IPv6 literal are kept.
func splitHostPort(s string) (host, port string) {
	i := strings.LastIndexByte(s, ':')
	if i < 0 || strings.IndexByte(s[i:], ']') >= 0 {
		return s, ""
	}
	if strings.IndexByte(s[:i], ':') >= 0 && !strings.HasPrefix(s, "[") {
		return s, "" // a bare IPv6 address
	}
	return s[:i], s[i+1:]
}

package fiberauth

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/tenantauth/tenantauth"
	"github.com/tenantauth/tenantauth/clientauth"
	"github.com/valyala/fasthttp"
)

// DefaultTimeout bounds one attempt of a [Client] or [Proxy] call when its
// config leaves Timeout zero.
const DefaultTimeout = 30 * time.Second

// DefaultMaxResponseBodySize bounds the body of an API's answer that the
// default client of a [Client] or [Proxy] reads into memory (fasthttp
// buffers whole bodies): a tenant's API that answers without end would
// otherwise take the process's memory. A longer answer fails the call with
// fasthttp.ErrBodyTooLarge. Pass a Client of your own to change it.
const DefaultMaxResponseBodySize = 64 << 20

// ClientConfig configures a [Client]. Only Manager is required.
type ClientConfig struct {
	// Manager hands out the tenants' tokens. Required: without it every call
	// fails.
	Manager *tenantauth.Manager

	// Client sends the requests; share one per process (or per API) so that
	// connections are pooled across calls and tenants. Nil means a new
	// fasthttp.Client with fasthttp's defaults, except that answers are
	// bounded by [DefaultMaxResponseBodySize].
	Client *fasthttp.Client

	// Timeout bounds each attempt (a call that is retried after a 401 makes
	// two). Zero means DefaultTimeout; negative means none.
	Timeout time.Duration

	// IdempotentRetriesOnly limits the retry after a 401 to idempotent
	// calls: GET, HEAD, OPTIONS, TRACE, PUT and DELETE, and requests with an
	// Idempotency-Key or X-Idempotency-Key header, as
	// httpauth.WithIdempotentRetriesOnly. By default any call whose body is
	// in memory is retried once, POST included: a 401 means the API refused
	// the credentials before serving the request.
	IdempotentRetriesOnly bool

	// AllowInsecureHTTP lets the Client send tokens over plain http to hosts
	// that are not loopback, for every tenant. False (the default) refuses
	// such a request before sending it, with an error matching
	// tenantauth.ErrInsecureEndpoint, unless the tenant sets
	// [tenantauth.Tenant.AllowInsecureHTTP]: a bearer token sent in clear
	// text is anyone's token.
	AllowInsecureHTTP bool
}

// A Client sends requests to tenants' APIs from Fiber handlers over one
// shared *fasthttp.Client, so that connections are pooled (a *fiber.Agent
// opens its own connection for each call). Each request carries the token
// of the tenant of the handler's request, goes only to a host the tenant's
// APIHosts allow, and is retried once after a 401, like [Do].
//
// A Client is safe for concurrent use. Build it with [NewClient].
type Client struct {
	m              *tenantauth.Manager
	hc             *fasthttp.Client
	timeout        time.Duration
	idempotentOnly bool
	insecure       bool
	nonces         clientauth.Nonces // the APIs' DPoP nonces
}

// Format implements [fmt.Formatter]. A Client holds a Manager, and with it
// every tenant's credentials: printing it shows only its type.
func (cl *Client) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, "fiberauth.Client") }

// NewClient returns a Client configured by cfg.
func NewClient(cfg ClientConfig) *Client {
	cl := &Client{m: cfg.Manager, hc: cfg.Client, timeout: cfg.Timeout, idempotentOnly: cfg.IdempotentRetriesOnly,
		insecure: cfg.AllowInsecureHTTP}
	if cl.hc == nil {
		cl.hc = &fasthttp.Client{MaxResponseBodySize: DefaultMaxResponseBodySize}
	}
	if cl.timeout == 0 {
		cl.timeout = DefaultTimeout
	}
	return cl
}

// errNoHost is returned for a request whose URI has no host.
var errNoHost = errors.New("fiberauth: request URI has no host")

// Do sends req, whose URI must be absolute (scheme and host), with the
// token of the tenant of c (the one in c.UserContext() or stored by [New])
// and fills resp (which may be nil).
//
// Do sets req's Authorization header (replacing any) and leaves it set: req
// belongs to the caller, who may inspect it. For a tenant whose tokens are
// DPoP-bound (tenantauth.Credentials.DPoP) it also sets the DPoP header to
// a fresh proof for the request (RFC 9449 §7), with the API's latest
// DPoP-Nonce, and answers the API's use_dpop_nonce challenge with one more
// attempt when the body is in memory; for other tenants it removes any DPoP
// header. It returns an error matching
// ErrMissingTenant without a tenant, one matching
// tenantauth.ErrHostNotAllowed when req's host is not among the tenant's
// APIHosts (nothing is sent then), the Manager's error when no token can be
// had, or fasthttp's error. A 401 is not an error: after the one retry, if
// any, resp holds the API's answer.
//
// Do never follows redirects, so a token cannot follow one to another host.
func (cl *Client) Do(c *fiber.Ctx, req *fasthttp.Request, resp *fasthttp.Response) error {
	id, ok := tenantOf(c)
	if !ok {
		return ErrMissingTenant
	}
	if cl.m == nil {
		return errNoManager
	}
	if resp == nil {
		// The status decides the retry, so a response is needed even when
		// the caller does not want one.
		resp = fasthttp.AcquireResponse()
		defer fasthttp.ReleaseResponse(resp)
	}
	uh := req.URI().Host()
	if len(uh) == 0 {
		return errNoHost
	}
	// A real copy: the Manager may keep the host in its error.
	host := string(uh)
	ctx := c.UserContext()
	tls := string(req.URI().Scheme()) == "https"
	// The method and URL a DPoP proof names, made only when one is needed.
	var method, target string

	tok, dp, err := tokenFor(ctx, cl.m, id, tls, host, cl.insecure)
	if err != nil {
		return err
	}
	if dp != nil {
		method, target = string(req.Header.Method()), req.URI().String()
	}
	send := func() error { return cl.send(req, resp) }
	challenged, err := sendAuthorized(&cl.nonces, host, req, resp, tok, dp, method, target, send)
	if err != nil || challenged || !rejected(resp) {
		return err // a nonce challenge still standing is not a refusal of the token
	}
	// Drop the rejected token even when this request cannot be retried,
	// so the next request gets a fresh one.
	cl.m.Invalidate(id, tok)
	if !canRetry(req, cl.idempotentOnly) {
		return nil // the 401 stands
	}
	fresh, freshDP, err := tokenFor(ctx, cl.m, id, tls, host, cl.insecure)
	if err != nil || fresh == tok {
		return nil // the 401 stands
	}
	if freshDP != nil && target == "" {
		method, target = string(req.Header.Method()), req.URI().String()
	}
	resetResponse(resp)
	challenged, err = sendAuthorized(&cl.nonces, host, req, resp, fresh, freshDP, method, target, send)
	cl.m.ReportRecovery(id, err == nil && (challenged || !rejected(resp)))
	return err
}

func (cl *Client) send(req *fasthttp.Request, resp *fasthttp.Response) error {
	if cl.timeout > 0 {
		return cl.hc.DoTimeout(req, resp, cl.timeout)
	}
	return cl.hc.Do(req, resp)
}

// DoAgent is [Do] with the Client's Manager and retry policy. The Agent
// still uses its own connection, not the Client's pool.
func (cl *Client) DoAgent(c *fiber.Ctx, a *fiber.Agent) (code int, body []byte, errs []error) {
	return doAgent(c, cl.m, a, cl.idempotentOnly, cl.insecure)
}

// CloseIdleConnections closes the idle connections of the Client's pool.
func (cl *Client) CloseIdleConnections() { cl.hc.CloseIdleConnections() }

package fiberauth

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/utils"
	"github.com/tenantauth/tenantauth"
	"github.com/tenantauth/tenantauth/clientauth"
	"github.com/valyala/fasthttp"
)

// ProxyConfig configures [Proxy]. Manager and Upstream are required.
type ProxyConfig struct {
	// Next defines a function to skip this handler when it returns true.
	//
	// Optional. Default: nil
	Next func(c *fiber.Ctx) bool

	// Manager hands out the tenants' tokens. Required.
	Manager *tenantauth.Manager

	// Upstream returns the base URL of the tenant's API: an absolute http or
	// https URL, optionally with a base path but without query or fragment,
	// e.g. "https://api.acme.example" or "https://erp.example/acme/v2". ctx
	// is the request's user context (it carries the tenant and ends with
	// the request), so the lookup may read the same tenant store as the
	// Manager's TenantSource; the URL's host must be among the tenant's
	// APIHosts. An error is passed to ErrorHandler (one matching
	// tenantauth.ErrUnknownTenant is answered 403).
	//
	// Optional. Default: "https://" + the tenant's APIHosts entry, read
	// from the Manager ([tenantauth.Manager.APIHosts]), when the tenant has
	// exactly one and it is a host name (with or without port), not a
	// pattern; otherwise the request fails with ErrInvalidUpstream. So the
	// tenant's record is the one source of its upstream and its token.
	Upstream func(ctx context.Context, tenantID string) (string, error)

	// StripPrefix is removed from the request path before the path (and
	// query) is appended to the upstream URL: with StripPrefix "/api", the
	// request "/api/orders?page=2" goes to Upstream(id)+"/orders?page=2".
	// A request whose path does not start with it is refused (ErrInvalidPath).
	//
	// Optional. Default: "" (the whole path is appended)
	StripPrefix string

	// Client sends the upstream requests. Share one across handlers to pool
	// connections.
	//
	// Optional. Default: a new fasthttp.Client like Fiber's proxy uses
	// (no default User-Agent, no path normalising), with answers bounded by
	// [DefaultMaxResponseBodySize]
	Client *fasthttp.Client

	// Timeout bounds each attempt; a request retried after a 401 makes two.
	// Zero means DefaultTimeout; negative means none.
	Timeout time.Duration

	// IdempotentRetriesOnly limits the retry after a 401 to idempotent
	// requests, as [ClientConfig.IdempotentRetriesOnly].
	//
	// Optional. Default: false (any request with an in-memory body is
	// retried once)
	IdempotentRetriesOnly bool

	// AllowInsecureHTTP lets Proxy send tokens to plain http upstreams that
	// are not loopback, as [ClientConfig.AllowInsecureHTTP].
	//
	// Optional. Default: false
	AllowInsecureHTTP bool

	// ForwardRequestHeaders names request headers that Proxy drops by
	// default but should forward to the upstream: the client's credentials
	// for the gateway ("Cookie", "Proxy-Authorization"), or a header the
	// client names in its Connection or Trailer header. Names are
	// case-insensitive.
	// Authorization and DPoP cannot be listed (the tenant's token, and for
	// a DPoP-bound token a proof made by Proxy, replace them), nor
	// can the connection's own headers (Connection, Keep-Alive,
	// Proxy-Connection, TE, Trailer, Transfer-Encoding, Upgrade): Proxy
	// panics.
	//
	// Optional. Default: nil (forward none of them)
	ForwardRequestHeaders []string

	// ForwardResponseHeaders names response headers that Proxy drops by
	// default but should pass back to the client: "Set-Cookie" (by default
	// no upstream sets cookies on the gateway's origin, which all tenants
	// share), "Proxy-Authenticate", or a header the upstream names in its
	// Connection or Trailer header. Names are case-insensitive; the
	// connection's own headers cannot be listed, as for
	// ForwardRequestHeaders.
	//
	// Optional. Default: nil (pass none of them back)
	ForwardResponseHeaders []string

	// ErrorHandler answers when the request cannot be forwarded.
	//
	// Optional. Default: a short JSON error: 400 for a missing tenant or an
	// invalid path, 403 for an unknown tenant, 502 when the upstream is
	// invalid, not among the tenant's APIHosts or unreachable, 503 when the
	// tenant's token cannot be had, 504 when the upstream times out.
	ErrorHandler fiber.ErrorHandler

	// Logger receives a warning, with the tenant and the cause, for every
	// request answered 5xx because a token or the upstream failed: the
	// answer itself says only "tenant token unavailable", so the cause must
	// go somewhere an on-call engineer can read it. Errors never carry a
	// secret.
	//
	// Optional. Default: slog.Default(); set slog.New(slog.DiscardHandler)
	// to turn it off.
	Logger *slog.Logger
}

// defaultProxyErrorHandler is ProxyConfig's default ErrorHandler. Errors it
// does not know come from the upstream connection.
func defaultProxyErrorHandler(c *fiber.Ctx, err error) error {
	return respond(c, err, fiber.StatusBadGateway, bodyBadGateway)
}

// Proxy returns a handler that forwards each request to its tenant's API
// with ProxyConfig.Client, as Fiber's proxy middleware does, carrying the
// tenant's token instead of whatever Authorization the client sent. Mount
// it after [New], which resolves the tenant:
//
//	app.Use(fiberauth.New())
//	app.All("/api/*", fiberauth.Proxy(fiberauth.ProxyConfig{
//		Manager:     m,
//		Upstream:    upstreamOf,
//		StripPrefix: "/api",
//	}))
//
// The token goes only to the tenant's APIHosts: the upstream URL is parsed
// with fasthttp's own parser, the one that picks the host to dial, and
// checked with [tenantauth.Manager.TokenForURL] before anything is sent
// (plain http only to loopback, unless AllowInsecureHTTP).
// Upstream redirects are passed back to the client, not followed.
//
// The forwarded path stays under the upstream's base path: a request path
// with a "." or ".." segment is refused (ErrInvalidPath, 400), also when
// the segment carries parameters ("..;x=1", which Tomcat, Jetty and Spring
// read as ".."), when its characters or separators are percent-encoded,
// once or several times ("%2e%2e", "%252e", "%u002e", "..%2f", "..%5c"),
// when '\' separates it, and when a decoding of the path holds a control
// character (some servers cut a path at NUL). The path is otherwise
// forwarded exactly as the client sent it.
//
// Headers that belong to one connection or to the gateway stay on the
// gateway's side, in both directions (RFC 9110 §7.6.1): Connection,
// Keep-Alive, Proxy-Connection, TE, Trailer, Transfer-Encoding, Upgrade and
// every header named in Connection or Trailer; the client's Authorization
// and DPoP (all copies), Cookie and Proxy-Authorization; the upstream's Set-Cookie
// and Proxy-Authenticate. ProxyConfig.ForwardRequestHeaders and
// ForwardResponseHeaders let named ones through.
//
// An upstream 401 invalidates the token that was sent and the request is
// forwarded once more with a fresh token when its body is in memory (and,
// with ProxyConfig.IdempotentRetriesOnly, its method is idempotent); when
// the request is not retried, or the Manager hands back the same token, the
// client gets the 401, and the next request carries a fresh token.
//
// Once the upstream has answered, and before ErrorHandler runs, the
// request's headers (its Authorization, Host, Cookie, everything Proxy
// dropped or replaced) are put back as the client sent them, so later
// handlers and loggers see the client's request and never the tenant's
// token.
//
// Proxy panics when Manager or Upstream is nil, or when an allow-list names
// a header that is never forwarded, a programming error that should stop
// the program at start-up (as Fiber's proxy does for an empty Servers list).
func Proxy(config ProxyConfig) fiber.Handler {
	cfg := config
	if cfg.Manager == nil {
		panic("fiberauth: ProxyConfig.Manager is required")
	}
	if cfg.Upstream == nil {
		cfg.Upstream = upstreamFromAPIHosts(cfg.Manager)
	}
	cfg.ForwardRequestHeaders = allowList("ForwardRequestHeaders", cfg.ForwardRequestHeaders, fiber.HeaderAuthorization, headerDPoP)
	cfg.ForwardResponseHeaders = allowList("ForwardResponseHeaders", cfg.ForwardResponseHeaders)
	if cfg.Client == nil {
		cfg.Client = &fasthttp.Client{NoDefaultUserAgentHeader: true, DisablePathNormalizing: true,
			MaxResponseBodySize: DefaultMaxResponseBodySize}
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.ErrorHandler == nil {
		cfg.ErrorHandler = defaultProxyErrorHandler
	}

	var ns clientauth.Nonces // the upstreams' DPoP nonces
	return func(c *fiber.Ctx) error {
		if cfg.Next != nil && cfg.Next(c) {
			return c.Next()
		}
		id, ok := tenantOf(c)
		if !ok {
			return cfg.ErrorHandler(c, ErrMissingTenant)
		}
		base, err := cfg.Upstream(c.UserContext(), id)
		if err != nil {
			return cfg.ErrorHandler(c, err)
		}
		path, ok := forwardPath(c.OriginalURL(), cfg.StripPrefix)
		if !ok {
			return cfg.ErrorHandler(c, ErrInvalidPath)
		}
		if strings.ContainsAny(base, "?#") {
			// The path would land inside the query or fragment.
			return cfg.ErrorHandler(c, ErrInvalidUpstream)
		}
		target := strings.TrimSuffix(base, "/") + path
		host, ok := upstreamHost(target)
		if !ok {
			return cfg.ErrorHandler(c, ErrInvalidUpstream)
		}

		ctx := c.UserContext()
		tls := strings.EqualFold(target[:5], "https")
		tok, dp, err := tokenFor(ctx, cfg.Manager, id, tls, host, cfg.AllowInsecureHTTP)
		if err != nil {
			err = tokenUnavailable(err)
			logFailure(cfg.Logger, c, id, err)
			return cfg.ErrorHandler(c, err)
		}

		req := c.Request()
		saved := savedHeaders.Get().(*fasthttp.RequestHeader)
		req.Header.CopyTo(saved)
		// restore puts the client's request back, as it came, for
		// ErrorHandler and whatever runs after Proxy (or recovers a panic).
		restore := func() {
			if saved != nil {
				saved.CopyTo(&req.Header)
				req.SetRequestURIBytes(saved.RequestURI())
				saved.Reset()
				savedHeaders.Put(saved)
				saved = nil
			}
		}
		defer restore()

		dropRequestHeaders(&req.Header, cfg.ForwardRequestHeaders)
		var method string // for DPoP proofs only
		if dp != nil {
			method = string(req.Header.Method())
		}
		resp := c.Response()
		send := func() error { return cfg.forward(c, target) }
		var challenged bool
		challenged, err = sendAuthorized(&ns, host, req, resp, tok, dp, method, target, send)
		// A nonce challenge still standing is not a refusal of the token.
		if err == nil && !challenged && rejected(resp) {
			// Drop the rejected token even when this request cannot be
			// retried, so the next request gets a fresh one.
			cfg.Manager.Invalidate(id, tok)
			if canRetry(req, cfg.IdempotentRetriesOnly) {
				if fresh, freshDP, ferr := tokenFor(ctx, cfg.Manager, id, tls, host, cfg.AllowInsecureHTTP); ferr == nil && fresh != tok {
					if freshDP != nil && method == "" {
						method = string(req.Header.Method())
					}
					resetResponse(resp)
					challenged, err = sendAuthorized(&ns, host, req, resp, fresh, freshDP, method, target, send)
					cfg.Manager.ReportRecovery(id, err == nil && (challenged || !rejected(resp)))
				}
			}
		}
		restore()
		if err != nil {
			logFailure(cfg.Logger, c, id, err)
			return cfg.ErrorHandler(c, err)
		}
		return nil
	}
}

// forward sends c's request to target with cfg.Client, as Fiber's proxy
// middleware does, and leaves the upstream's answer in c's response,
// without the headers that must not reach the client. It leaves the
// request's URI set to target; Proxy puts the client's back.
func (cfg *ProxyConfig) forward(c *fiber.Ctx, target string) error {
	req, resp := c.Request(), c.Response()
	req.SetRequestURI(target)
	// A request that came over TLS would otherwise go out over TLS
	// whatever target's scheme (gofiber/fiber#1762).
	if strings.EqualFold(target[:5], "https") {
		req.URI().SetScheme("https")
	} else {
		req.URI().SetScheme("http")
	}
	var err error
	if cfg.Timeout > 0 {
		err = cfg.Client.DoTimeout(req, resp, cfg.Timeout)
	} else {
		err = cfg.Client.Do(req, resp)
	}
	if err != nil {
		return err
	}
	dropResponseHeaders(&resp.Header, cfg.ForwardResponseHeaders)
	return nil
}

// savedHeaders recycles the copies of request headers that Proxy restores.
var savedHeaders = sync.Pool{New: func() any { return new(fasthttp.RequestHeader) }}

// connectionHeaders describe the connection they arrive on (RFC 9110
// §7.6.1, with Keep-Alive and Proxy-Connection of earlier practice):
// Proxy never forwards them, in either direction, nor lets them be
// allow-listed.
var connectionHeaders = [...]string{
	fiber.HeaderConnection, fiber.HeaderKeepAlive, "Proxy-Connection", fiber.HeaderTE,
	fiber.HeaderTrailer, fiber.HeaderTransferEncoding, fiber.HeaderUpgrade,
}

// Headers that Proxy drops unless allow-listed: the client's credentials
// for the gateway, and what an upstream would set on the gateway's origin
// or ask of the client's proxy.
var (
	privateRequestHeaders  = [...]string{fiber.HeaderCookie, fiber.HeaderProxyAuthorization}
	privateResponseHeaders = [...]string{fiber.HeaderSetCookie, fiber.HeaderProxyAuthenticate}
)

// allowList returns a copy of names, the value of the ProxyConfig field
// field, and panics when it names a connection header or one of never.
func allowList(field string, names []string, never ...string) []string {
	for _, name := range names {
		if containsFold(connectionHeaders[:], name) || containsFold(never, name) {
			panic("fiberauth: ProxyConfig." + field + ": " + strconv.Quote(name) + " is never forwarded")
		}
	}
	return slices.Clone(names)
}

// dropRequestHeaders removes from h what must not reach the upstream: the
// connection headers, the headers the client names in Connection, the
// trailer fields it announced in Trailer (fasthttp merges them into the
// header) and its credentials (every Authorization and DPoP), except the
// names in keep.
func dropRequestHeaders(h *fasthttp.RequestHeader, keep []string) {
	var named []string
	// The header lines as received (Connection: close is not kept among
	// the parsed headers), then the parsed ones.
	h.VisitAllInOrder(func(key, value []byte) {
		if utils.EqualFold(utils.UnsafeString(key), fiber.HeaderConnection) {
			named = appendConnectionOptions(named, value)
		}
	})
	for _, v := range h.PeekAll(fiber.HeaderConnection) {
		named = appendConnectionOptions(named, v)
	}
	h.VisitAllTrailer(func(name []byte) { named = append(named, string(name)) })
	dropHeaders(h, named, privateRequestHeaders[:], keep)
	h.Del(fiber.HeaderAuthorization) // Set would replace only the first
	h.Del(headerDPoP)                // a proof is the tenant's, made here
}

// dropResponseHeaders removes from h what must not reach the client: the
// connection headers, the headers the upstream names in Connection or
// Trailer, its cookies and proxy challenges, except the names in keep.
func dropResponseHeaders(h *fasthttp.ResponseHeader, keep []string) {
	var named []string
	h.VisitAll(func(key, value []byte) {
		if utils.EqualFold(utils.UnsafeString(key), fiber.HeaderConnection) {
			named = appendConnectionOptions(named, value)
		}
	})
	h.VisitAllTrailer(func(name []byte) { named = append(named, string(name)) })
	dropHeaders(h, named, privateResponseHeaders[:], keep)
}

// dropHeaders deletes from h the connection headers, and the headers in
// private and named that are not in keep.
func dropHeaders(h interface{ Del(key string) }, named, private, keep []string) {
	for _, name := range connectionHeaders {
		h.Del(name)
	}
	for _, list := range [...][]string{private, named} {
		for _, name := range list {
			if !containsFold(keep, name) {
				h.Del(name)
			}
		}
	}
}

// appendConnectionOptions appends to dst the header names listed in value,
// a Connection header value, leaving out "close" and the connection
// headers, which are dropped anyway.
func appendConnectionOptions(dst []string, value []byte) []string {
	for len(value) > 0 {
		var opt []byte
		if i := bytes.IndexByte(value, ','); i >= 0 {
			opt, value = value[:i], value[i+1:]
		} else {
			opt, value = value, nil
		}
		name := strings.Trim(utils.UnsafeString(opt), " \t")
		if name == "" || utils.EqualFold(name, "close") || containsFold(connectionHeaders[:], name) {
			continue
		}
		dst = append(dst, strings.Clone(name))
	}
	return dst
}

// containsFold reports whether list holds name, compared case-insensitively.
func containsFold(list []string, name string) bool {
	for _, s := range list {
		if utils.EqualFold(s, name) {
			return true
		}
	}
	return false
}

// upstreamHost returns the host fasthttp will dial for target, an absolute
// http or https URL. It parses target with fasthttp's URI parser, the one
// the client itself uses, so the host checked is the host dialled.
func upstreamHost(target string) (string, bool) {
	if !hasHTTPScheme(target) {
		return "", false
	}
	u := fasthttp.AcquireURI()
	defer fasthttp.ReleaseURI(u)
	if err := u.Parse(nil, utils.UnsafeBytes(target)); err != nil {
		return "", false
	}
	h := u.Host()
	if len(h) == 0 {
		return "", false
	}
	return string(h), true
}

// hasHTTPScheme reports whether s starts with "http://" or "https://", in
// any case.
func hasHTTPScheme(s string) bool {
	return len(s) > 7 && strings.EqualFold(s[:7], "http://") ||
		len(s) > 8 && strings.EqualFold(s[:8], "https://")
}

// forwardPath returns the part of the request URI (path and query) that
// goes to the upstream: original without prefix. It refuses, with false, a
// URI that does not start with prefix at a segment boundary, and one whose
// path could climb out of the upstream's base path once the upstream
// decodes and normalises it (see safePath).
func forwardPath(original, prefix string) (string, bool) {
	prefix = strings.TrimSuffix(prefix, "/")
	if !strings.HasPrefix(original, prefix) {
		return "", false
	}
	rest := original[len(prefix):]
	switch {
	case rest == "":
		return "/", true
	case rest[0] == '?':
		return "/" + rest, true
	case rest[0] != '/':
		return "", false // "/apix" does not fall under "/api"
	}
	path := rest
	if i := strings.IndexAny(path, "?#"); i >= 0 {
		path = path[:i]
	}
	if !safePath(path) {
		return "", false
	}
	return rest, true
}

// maxPathDecodings is how many times safePath percent-decodes a path. A
// path that would still change when decoded once more is refused: nothing
// legitimate is encoded that deep, and an upstream (or a chain of them)
// might decode it further.
const maxPathDecodings = 3

// safePath reports whether path, as sent and after each of up to
// maxPathDecodings rounds of percent-decoding, has no dot segment (see
// hasDotSegment) and no control character.
func safePath(path string) bool {
	for round := 0; ; round++ {
		if hasDotSegment(path) || hasControl(path) {
			return false
		}
		decoded, changed := unescapeOnce(path)
		if !changed {
			return true
		}
		if round == maxPathDecodings {
			return false
		}
		path = decoded
	}
}

// hasDotSegment reports whether path has a segment that is "." or ".."
// once its parameters (from the first ';' on, as Tomcat, Jetty and Spring
// strip them) are cut, with '/' or '\' as separators. It decodes nothing:
// safePath calls it on each decoding.
func hasDotSegment(path string) bool {
	for len(path) > 0 {
		seg := path
		if i := strings.IndexAny(path, "/\\"); i >= 0 {
			seg, path = path[:i], path[i+1:]
		} else {
			path = ""
		}
		if i := strings.IndexByte(seg, ';'); i >= 0 {
			seg = seg[:i]
		}
		if seg == "." || seg == ".." {
			return true
		}
	}
	return false
}

// hasControl reports whether s has an ASCII control character.
func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' || s[i] == 0x7f {
			return true
		}
	}
	return false
}

// unescapeOnce decodes, leniently as most servers do, the escapes in s:
// "%XX" and IIS's "%uXXXX"; a '%' that starts neither stays as it is. It
// reports whether anything was decoded, and allocates only then.
func unescapeOnce(s string) (string, bool) {
	var b []byte // nil until an escape is decoded
	for i := 0; i < len(s); {
		r, n := escapeAt(s, i)
		if n == 0 {
			if b != nil {
				b = append(b, s[i])
			}
			i++
			continue
		}
		if b == nil {
			b = append(make([]byte, 0, len(s)), s[:i]...)
		}
		if n == 3 {
			b = append(b, byte(r))
		} else {
			b = utf8.AppendRune(b, r)
		}
		i += n
	}
	if b == nil {
		return s, false
	}
	return string(b), true
}

// escapeAt decodes the escape that starts at s[i], if any: "%XX" (n is 3;
// r is a byte value) or "%uXXXX" (n is 6; r is a code point). n is 0 when
// there is none.
func escapeAt(s string, i int) (r rune, n int) {
	if s[i] != '%' {
		return 0, 0
	}
	switch {
	case i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]):
		return unhex(s[i+1])<<4 | unhex(s[i+2]), 3
	case i+5 < len(s) && s[i+1]|0x20 == 'u' &&
		isHex(s[i+2]) && isHex(s[i+3]) && isHex(s[i+4]) && isHex(s[i+5]):
		return unhex(s[i+2])<<12 | unhex(s[i+3])<<8 | unhex(s[i+4])<<4 | unhex(s[i+5]), 6
	}
	return 0, 0
}

// isHex reports whether c is a hexadecimal digit.
func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// unhex returns the value of c, a hexadecimal digit.
func unhex(c byte) rune {
	switch {
	case c <= '9':
		return rune(c - '0')
	case c <= 'F':
		return rune(c-'A') + 10
	}
	return rune(c-'a') + 10
}

// upstreamFromAPIHosts is ProxyConfig's default Upstream: the tenant's only
// APIHosts entry, over https.
func upstreamFromAPIHosts(m *tenantauth.Manager) func(context.Context, string) (string, error) {
	return func(ctx context.Context, id string) (string, error) {
		hosts, err := m.APIHosts(ctx, id)
		if err != nil {
			return "", tokenUnavailable(err)
		}
		if len(hosts) != 1 || strings.ContainsAny(hosts[0], "*/?#@ ") || hosts[0] == "" {
			return "", fmt.Errorf("%w: tenant %q has no single APIHosts entry to derive it from; set ProxyConfig.Upstream",
				ErrInvalidUpstream, id)
		}
		return "https://" + hosts[0], nil
	}
}

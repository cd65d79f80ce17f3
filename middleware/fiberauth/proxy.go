package fiberauth

import (
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/proxy"
	"github.com/gofiber/fiber/v2/utils"
	"github.com/tenantauth/tenantauth"
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
	// e.g. "https://api.acme.example" or "https://erp.example/acme/v2". An error is passed to ErrorHandler
	// (one matching tenantauth.ErrUnknownTenant is answered 403). Required.
	Upstream func(tenantID string) (string, error)

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
	// (no default User-Agent, no path normalising)
	Client *fasthttp.Client

	// Timeout bounds each attempt; a request retried after a 401 makes two.
	// Zero means DefaultTimeout; negative means none.
	Timeout time.Duration

	// RetryUnsafeMethods lets a request whose method is not idempotent be
	// retried after a 401, as [ClientConfig.RetryUnsafeMethods].
	//
	// Optional. Default: false
	RetryUnsafeMethods bool

	// ErrorHandler answers when the request cannot be forwarded.
	//
	// Optional. Default: a short JSON error: 400 for a missing tenant or an
	// invalid path, 403 for an unknown tenant, 502 when the upstream is
	// invalid, not among the tenant's APIHosts or unreachable, 503 when the
	// tenant's token cannot be had, 504 when the upstream times out.
	ErrorHandler fiber.ErrorHandler
}

// defaultProxyErrorHandler is ProxyConfig's default ErrorHandler. Errors it
// does not know come from the upstream connection.
func defaultProxyErrorHandler(c *fiber.Ctx, err error) error {
	return respond(c, err, fiber.StatusBadGateway, bodyBadGateway)
}

// Proxy returns a handler that forwards each request to its tenant's API
// with fiber's proxy middleware ([proxy.DoTimeout]), carrying the tenant's
// token instead of whatever Authorization the client sent. Mount it after
// [New], which resolves the tenant:
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
// checked with [tenantauth.Manager.TokenForHost] before anything is sent.
// Upstream redirects are passed back to the client, not followed.
//
// An upstream 401 invalidates the token that was sent and the request is
// forwarded once more with a fresh token (when its body is in memory and its
// method idempotent, or ProxyConfig.RetryUnsafeMethods is set); when the
// Manager hands back the same token, the client gets the 401.
//
// Once the upstream has answered, the request's Authorization header is put
// back as the client sent it, so later handlers and loggers never see the
// tenant's token.
//
// Proxy panics when Manager or Upstream is nil, a programming error that
// should stop the program at start-up (as Fiber's proxy does for an empty
// Servers list).
func Proxy(config ProxyConfig) fiber.Handler {
	cfg := config
	if cfg.Manager == nil {
		panic("fiberauth: ProxyConfig.Manager is required")
	}
	if cfg.Upstream == nil {
		panic("fiberauth: ProxyConfig.Upstream is required")
	}
	if cfg.Client == nil {
		cfg.Client = &fasthttp.Client{NoDefaultUserAgentHeader: true, DisablePathNormalizing: true}
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.ErrorHandler == nil {
		cfg.ErrorHandler = defaultProxyErrorHandler
	}

	return func(c *fiber.Ctx) error {
		if cfg.Next != nil && cfg.Next(c) {
			return c.Next()
		}
		id, ok := tenantOf(c)
		if !ok {
			return cfg.ErrorHandler(c, ErrMissingTenant)
		}
		base, err := cfg.Upstream(id)
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
		tok, err := cfg.Manager.TokenForHost(ctx, id, host)
		if err != nil {
			return cfg.ErrorHandler(c, tokenUnavailable(err))
		}

		req := c.Request()
		var clientAuth string
		if v := req.Header.Peek(fiber.HeaderAuthorization); len(v) > 0 {
			clientAuth = string(v) // a copy: Set below overwrites these bytes
		}
		defer func() {
			if clientAuth != "" {
				req.Header.Set(fiber.HeaderAuthorization, clientAuth)
			} else {
				req.Header.Del(fiber.HeaderAuthorization)
			}
		}()

		req.Header.Set(fiber.HeaderAuthorization, tok.Authorization())
		err = cfg.forward(c, target)
		if err == nil && rejected(c.Response()) && canRetry(req, cfg.RetryUnsafeMethods) {
			cfg.Manager.Invalidate(id, tok)
			if fresh, ferr := cfg.Manager.TokenForHost(ctx, id, host); ferr == nil && fresh != tok {
				req.Header.Set(fiber.HeaderAuthorization, fresh.Authorization())
				err = cfg.forward(c, target)
			}
		}
		if err != nil {
			return cfg.ErrorHandler(c, err)
		}
		return nil
	}
}

// forward sends c's request to target with Fiber's proxy middleware.
func (cfg *ProxyConfig) forward(c *fiber.Ctx, target string) error {
	if cfg.Timeout > 0 {
		return proxy.DoTimeout(c, target, cfg.Timeout, cfg.Client)
	}
	return proxy.Do(c, target, cfg.Client)
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
// path has "." or ".." segments (also percent-encoded, or with a
// backslash as separator) that could climb out of the upstream's base
// path once the upstream normalises it.
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
	if hasDotSegment(path) {
		return "", false
	}
	return rest, true
}

// hasDotSegment reports whether path has a "." or ".." segment, with the
// dots possibly percent-encoded and '/' or '\' (or their encodings) as
// separators.
func hasDotSegment(path string) bool {
	dots, other := 0, false
	for i := 0; i <= len(path); i++ {
		var sep bool
		var dot bool
		switch {
		case i == len(path):
			sep = true
		case path[i] == '/' || path[i] == '\\':
			sep = true
		case path[i] == '.':
			dot = true
		case path[i] == '%' && i+2 < len(path):
			switch strings.ToLower(path[i+1 : i+3]) {
			case "2e":
				dot = true
				i += 2
			case "2f", "5c":
				sep = true
				i += 2
			default:
				other = true
			}
		default:
			other = true
		}
		switch {
		case sep:
			if !other && (dots == 1 || dots == 2) {
				return true
			}
			dots, other = 0, false
		case dot:
			dots++
		}
	}
	return false
}

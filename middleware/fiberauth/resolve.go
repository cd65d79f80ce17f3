package fiberauth

import (
	"bytes"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/utils"
	"github.com/valyala/fasthttp"
)

// MaxTenantIDLength is the longest tenant ID, in bytes, that a resolver
// accepts. Longer values are refused with ErrInvalidTenant: a tenant ID ends
// up in cache keys, logs and metrics labels, and a client must not be able
// to make those arbitrarily large.
const MaxTenantIDLength = 128

// A Resolver finds the tenant of an incoming request. It returns an error
// matching ErrMissingTenant when the request names no tenant and one
// matching ErrInvalidTenant when it names one with an invalid ID.
//
// The returned string may alias the request's memory and is valid only
// while the handler runs; [New] copies it. The resolvers of this package
// never panic and allocate nothing on success, except [FromSubdomain] and
// [FromForwardedSubdomain] for upper-case host names (and the latter for
// Fiber's own trusted-proxy check) and [FromJWTClaim] for claims that are
// not strings.
type Resolver func(c *fiber.Ctx) (string, error)

// FromHeader resolves the tenant from the request header name, e.g.
// "X-Tenant-ID". Only send this header from a trusted hop (a gateway that
// authenticated the caller), or check it against the caller's identity:
// whoever sets it picks whose credentials are used.
//
// A request that carries the header more than once, or a value with a
// comma (the way an intermediary may join repeated headers), is refused
// with ErrInvalidTenant: a proxy in front and this resolver could each read
// a different copy, so no copy is taken.
func FromHeader(name string) Resolver {
	return func(c *fiber.Ctx) (string, error) {
		return singleValue(c.Request().Header.PeekAll(name))
	}
}

// singleValue returns the tenant ID in values, the values of one header:
// ErrMissingTenant when there are none, ErrInvalidTenant when there is more
// than one or a comma-separated list.
func singleValue(values [][]byte) (string, error) {
	switch {
	case len(values) == 0:
		return "", ErrMissingTenant
	case len(values) > 1 || bytes.IndexByte(values[0], ',') >= 0:
		return "", ErrInvalidTenant
	}
	return checkTenantID(utils.UnsafeString(values[0]))
}

// FromParam resolves the tenant from the route parameter name, e.g.
// FromParam("tenant") for the route "/t/:tenant/orders". Route parameters
// exist only where the route defines them: register the middleware on that
// route or on a group whose prefix has the parameter, not with a bare
// app.Use. The value is taken as Fiber gives it: not percent-decoded unless
// the app sets fiber.Config.UnescapePath.
func FromParam(name string) Resolver {
	return func(c *fiber.Ctx) (string, error) {
		return checkTenantID(c.Params(name))
	}
}

// FromSubdomain resolves the tenant from the first label of the request's
// host name under baseDomain: with baseDomain "api.example.com", the host
// "acme.api.example.com" (any port) is tenant "acme".
//
// The host must be exactly one DNS label (letters, digits, '-'; at most 63
// bytes) followed by baseDomain, compared case-insensitively; the tenant is
// returned in lower case. baseDomain itself, hosts outside it and IP
// addresses give ErrMissingTenant; deeper names ("www.acme.api.example.com")
// and labels that are not DNS labels give ErrInvalidTenant.
//
// The base domain is named rather than counted as an offset of labels from
// the right because an offset silently picks a wrong label when the app is
// reached under another name (an IP address, localhost, a second domain);
// a named base domain refuses such hosts.
//
// The host is the request's Host header, exactly as the client sent it,
// and nothing else: not X-Forwarded-Host, which any client can send and
// which c.Hostname() believes unless fiber.Config.EnableTrustedProxyCheck
// is on (use [FromForwardedSubdomain] behind a proxy that sets it). A
// request that sends Host twice, whose Host has user info or
// percent-encoding, or whose absolute-form request line ("GET
// http://host/path") names a host other than its Host header, is refused
// with ErrInvalidTenant: fasthttp would take the host from the request
// line, and a proxy in front may have routed on the Host header. (An
// absolute-form request without any Host header, as httptest.NewRequest
// and app.Test send, names one host only: that one is used.)
//
// FromSubdomain panics when baseDomain is not a host name: that is a
// programming error, and it should stop the program at start-up, like
// regexp.MustCompile.
func FromSubdomain(baseDomain string) Resolver {
	base := baseDomainOf("FromSubdomain", baseDomain)
	return func(c *fiber.Ctx) (string, error) {
		host, err := hostHeader(c.Request())
		if err != nil {
			return "", err
		}
		return subdomain(host, base)
	}
}

// FromForwardedSubdomain is [FromSubdomain] for an app behind a reverse
// proxy that puts the client's host in X-Forwarded-Host. It reads that
// header only when the app has fiber.Config.EnableTrustedProxyCheck on and
// the request came straight from one of its fiber.Config.TrustedProxies
// (c.IsProxyTrusted()); from any other peer, or with the check off, it
// reads the Host header exactly as FromSubdomain does, so a client that
// reaches the app directly cannot choose its tenant with the header. A
// trusted request without X-Forwarded-Host falls back to its Host header.
//
// The trusted proxy must set X-Forwarded-Host to a single host, replacing
// any the client sent: a request with the header twice, or with a
// comma-separated list in it, is refused with ErrInvalidTenant rather than
// resolved from one of the entries. The Forwarded header (RFC 7239) is not
// read.
//
// FromForwardedSubdomain panics when baseDomain is not a host name, as
// FromSubdomain does.
func FromForwardedSubdomain(baseDomain string) Resolver {
	base := baseDomainOf("FromForwardedSubdomain", baseDomain)
	return func(c *fiber.Ctx) (string, error) {
		req := c.Request()
		if c.App().Config().EnableTrustedProxyCheck && c.IsProxyTrusted() {
			if fwd := req.Header.PeekAll(fiber.HeaderXForwardedHost); len(fwd) > 0 {
				if len(fwd) > 1 || bytes.IndexByte(fwd[0], ',') >= 0 {
					return "", ErrInvalidTenant
				}
				return subdomain(utils.UnsafeString(fwd[0]), base)
			}
		}
		host, err := hostHeader(req)
		if err != nil {
			return "", err
		}
		return subdomain(host, base)
	}
}

// baseDomainOf returns baseDomain without leading or trailing dot, and
// panics, naming the resolver fn, when it is not a host name.
func baseDomainOf(fn, baseDomain string) string {
	base := strings.TrimSuffix(strings.TrimPrefix(baseDomain, "."), ".")
	if !validHostName(base) {
		panic("fiberauth: " + fn + ": invalid base domain " + strconv.Quote(baseDomain))
	}
	return base
}

// hostHeader returns the Host header of req. It refuses, with
// ErrInvalidTenant, a request with more than one Host header and one whose
// URI names another host name than its Host header: an absolute-form
// request line, a Host with user info or percent-encoding (which fasthttp
// strips or decodes). Ports are not compared. A request without a Host
// header gets the host of its absolute-form request line, if any, the
// only host it names (RFC 9112 §3.2.2).
func hostHeader(req *fasthttp.Request) (string, error) {
	host := utils.UnsafeString(req.Header.Host())
	uriHost := utils.UnsafeString(req.URI().Host())
	if host == "" {
		return uriHost, nil
	}
	if !strings.EqualFold(stripPort(host), stripPort(uriHost)) {
		return "", ErrInvalidTenant
	}
	hosts := 0
	req.Header.VisitAllInOrder(func(key, _ []byte) {
		if utils.EqualFold(utils.UnsafeString(key), fiber.HeaderHost) {
			hosts++
		}
	})
	if hosts > 1 {
		return "", ErrInvalidTenant
	}
	return host, nil
}

// subdomain extracts the tenant label of host under base (see FromSubdomain).
func subdomain(host, base string) (string, error) {
	host = stripPort(host)
	host = strings.TrimSuffix(host, ".")
	// host must be at least "x." + base.
	if len(host) < len(base)+2 || host[len(host)-len(base)-1] != '.' ||
		!strings.EqualFold(host[len(host)-len(base):], base) {
		return "", ErrMissingTenant
	}
	label := host[:len(host)-len(base)-1]
	if !validLabel(label) {
		return "", ErrInvalidTenant
	}
	for i := 0; i < len(label); i++ {
		if 'A' <= label[i] && label[i] <= 'Z' {
			return strings.ToLower(label), nil
		}
	}
	return label, nil
}

// stripPort removes a ":port" suffix from host. An IPv6 literal keeps its
// brackets and so never matches a base domain.
func stripPort(host string) string {
	i := strings.LastIndexByte(host, ':')
	if i < 0 || strings.IndexByte(host[i:], ']') >= 0 {
		return host
	}
	if strings.IndexByte(host[:i], ':') >= 0 && !strings.HasPrefix(host, "[") {
		return host // a bare IPv6 address, not host:port
	}
	return host[:i]
}

// validLabel reports whether s is a DNS label (RFC 1123 §2.1): 1 to 63
// letters, digits and hyphens, not starting or ending with a hyphen.
func validLabel(s string) bool {
	if len(s) == 0 || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		if !('a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' || b == '-') {
			return false
		}
	}
	return true
}

// validHostName reports whether s is a dot-separated list of DNS labels.
func validHostName(s string) bool {
	if len(s) == 0 || len(s) > 253 {
		return false
	}
	for {
		i := strings.IndexByte(s, '.')
		if i < 0 {
			return validLabel(s)
		}
		if !validLabel(s[:i]) {
			return false
		}
		s = s[i+1:]
	}
}

// checkTenantID returns id when it is a valid tenant ID, else the error a
// Resolver returns for it.
func checkTenantID(id string) (string, error) {
	if id == "" {
		return "", ErrMissingTenant
	}
	if !validTenantID(id) {
		return "", ErrInvalidTenant
	}
	return id, nil
}

// validTenantID reports whether id may be used as a tenant ID: 1 to
// MaxTenantIDLength bytes of UTF-8 without control characters, spaces or
// invisible formatting characters (bidi overrides, zero-width joiners) that
// would make two IDs look alike in a log.
func validTenantID(id string) bool {
	if len(id) == 0 || len(id) > MaxTenantIDLength {
		return false
	}
	for i := 0; i < len(id); {
		b := id[i]
		if b < utf8.RuneSelf {
			if b <= ' ' || b == 0x7f {
				return false
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(id[i:])
		if r == utf8.RuneError && size <= 1 {
			return false
		}
		if unicode.IsControl(r) || unicode.IsSpace(r) || unicode.Is(unicode.Cf, r) {
			return false
		}
		i += size
	}
	return true
}

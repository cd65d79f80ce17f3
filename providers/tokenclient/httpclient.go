package tokenclient

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tenantauth/tenantauth"
)

// Timeouts of the client returned by [NewHTTPClient]. A token request is a
// small POST; anything slower than this is an endpoint in trouble, and the
// Manager would rather fail over to its cached token or its breaker.
const (
	// DialTimeout bounds establishing the TCP connection.
	DialTimeout = 10 * time.Second
	// TLSHandshakeTimeout bounds the TLS handshake.
	TLSHandshakeTimeout = 10 * time.Second
	// ResponseHeaderTimeout bounds the wait for the response headers once
	// the request is written.
	ResponseHeaderTimeout = 15 * time.Second
	// ClientTimeout bounds the whole exchange, body included (Client.Timeout).
	ClientTimeout = 30 * time.Second
	// MaxResponseHeaderBytes bounds the response headers; a token endpoint
	// has no reason to send more.
	MaxResponseHeaderBytes = 64 << 10
)

// NewHTTPClient returns a new client for token requests: its own transport
// (a clone of http.DefaultTransport, so proxies from the environment and
// HTTP/2 still work) with bounded dial, TLS handshake and response header
// times, a 30 s overall timeout, TLS 1.2 or later with certificate
// verification, and redirects refused (see [Harden]).
func NewHTTPClient() *http.Client {
	var t *http.Transport
	if dt, ok := http.DefaultTransport.(*http.Transport); ok {
		t = dt.Clone()
	} else {
		// Someone replaced the global transport; don't inherit an unknown
		// RoundTripper, start from the standard settings instead.
		t = &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			MaxIdleConns:          100,
			IdleConnTimeout:       90 * time.Second,
			ExpectContinueTimeout: time.Second,
		}
	}
	t.DialContext = (&net.Dialer{Timeout: DialTimeout, KeepAlive: 30 * time.Second}).DialContext
	t.TLSHandshakeTimeout = TLSHandshakeTimeout
	t.ResponseHeaderTimeout = ResponseHeaderTimeout
	t.MaxResponseHeaderBytes = MaxResponseHeaderBytes
	// A fresh tls.Config: never InsecureSkipVerify. ForceAttemptHTTP2 keeps
	// HTTP/2 negotiable although TLSClientConfig is set.
	t.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	t.ForceAttemptHTTP2 = true
	return &http.Client{
		Transport:     t,
		Timeout:       ClientTimeout,
		CheckRedirect: refuseRedirect,
	}
}

// Harden returns a client safe for token requests built from a user's client:
// a shallow copy whose CheckRedirect refuses every redirect. The user's
// client is not modified; its transport (and so its TLS settings, proxies and
// connection pool) is shared. A nil client yields [NewHTTPClient].
func Harden(c *http.Client) *http.Client {
	if c == nil {
		return NewHTTPClient()
	}
	cp := *c
	cp.CheckRedirect = refuseRedirect
	return &cp
}

// refuseRedirect is every token client's CheckRedirect. A redirect would
// carry the client secret and the user's password to a URL nobody
// configured (x/oauth2 issue #500), so it becomes an error, never a silently
// returned 3xx (which http.ErrUseLastResponse would give).
func refuseRedirect(req *http.Request, via []*http.Request) error {
	e := &redirectError{where: "another URL"}
	if req.Response != nil {
		e.status = req.Response.StatusCode
	}
	if len(via) > 0 && via[0].URL != nil && req.URL != nil {
		e.where = redirectTarget(via[0].URL, req.URL)
	}
	return e
}

// A redirectError is a refused redirect. Its text says where the redirect
// led only in the library's words ("to another host"): the Location
// header is the server's text, and may echo anything.
type redirectError struct {
	status int
	where  string
}

func (e *redirectError) Error() string {
	return tenantauth.ErrRedirect.Error() + " (status " + strconv.Itoa(e.status) + " to " + e.where + ")"
}

// Unwrap returns tenantauth.ErrRedirect.
func (e *redirectError) Unwrap() error { return tenantauth.ErrRedirect }

// redirectTarget describes where a redirect from from to to leads, in fixed
// words.
func redirectTarget(from, to *url.URL) string {
	switch {
	case !strings.EqualFold(from.Host, to.Host):
		if strings.EqualFold(from.Hostname(), to.Hostname()) {
			return "another port of the same host"
		}
		return "another host"
	case from.Scheme == "http" && to.Scheme == "https":
		return "https on the same host: configure the https URL"
	case from.Scheme != to.Scheme:
		return "another scheme on the same host"
	case from.EscapedPath() == to.EscapedPath():
		return "the same path on the same host"
	case from.EscapedPath()+"/" == to.EscapedPath():
		return "the same path with a trailing slash: configure that URL"
	case from.EscapedPath() == to.EscapedPath()+"/":
		return "the same path without its trailing slash: configure that URL"
	}
	return "another path on the same host: check the provider's base URL"
}

// CheckEndpoint parses raw as a token endpoint (or the base URL one is built
// from) and enforces the transport rules: an absolute URL with a host, no
// user info (credentials in URLs end up in logs), no query or fragment, and
// https — plain http only on a loopback host (localhost, 127.0.0.0/8, ::1)
// or when allowInsecure is set. An http URL elsewhere yields an error
// wrapping [tenantauth.ErrInsecureEndpoint]; other problems wrap
// [ErrInvalidEndpoint]. Error messages name the URL only in redacted form.
func CheckEndpoint(raw string, allowInsecure bool) (*url.URL, error) {
	red := tenantauth.RedactURL(raw)
	u, err := url.Parse(raw)
	if err != nil {
		// url.Parse's error quotes the whole input, user info included.
		return nil, fmt.Errorf("%w: %q does not parse", ErrInvalidEndpoint, red)
	}
	switch {
	case !u.IsAbs() || u.Opaque != "":
		return nil, fmt.Errorf("%w: %q is not an absolute URL", ErrInvalidEndpoint, red)
	case u.Host == "" || u.Hostname() == "":
		return nil, fmt.Errorf("%w: %q has no host", ErrInvalidEndpoint, red)
	case u.User != nil:
		return nil, fmt.Errorf("%w: %q must not contain user info", ErrInvalidEndpoint, red)
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || u.RawFragment != "":
		return nil, fmt.Errorf("%w: %q must not have a query or fragment", ErrInvalidEndpoint, red)
	}
	switch u.Scheme {
	case "https":
		return u, nil
	case "http":
		if allowInsecure || IsLoopback(u.Hostname()) {
			return u, nil
		}
		return nil, fmt.Errorf("%w: %s (plain http is allowed only on loopback or with AllowInsecureHTTP)",
			tenantauth.ErrInsecureEndpoint, red)
	default:
		return nil, fmt.Errorf("%w: %q: scheme must be https", ErrInvalidEndpoint, red)
	}
}

// IsLoopback reports whether host (a URL host name without port) is
// "localhost" or a loopback IP address (127.0.0.0/8, ::1, also written as an
// IPv4-mapped IPv6 address). Names that merely resolve to loopback do not
// count: the check must not depend on DNS.
func IsLoopback(host string) bool {
	h := strings.TrimSuffix(host, ".")
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

package httpauth

import (
	"net"
	"net/http"
	"net/url"
	"strings"
)

// leavesOrigin reports whether req is a redirect (req.Response set by
// http.Client) that goes to another host than the first request of its
// redirect chain, or from https down to plain http. Such a request must not
// carry the tenant's token: the first request's host is the one the caller
// chose, and a redirect is the server's choice.
func leavesOrigin(req *http.Request) bool {
	if req.Response == nil {
		return false
	}
	first := firstRequest(req)
	if first == nil || first.URL == nil || req.URL == nil {
		// A chain we cannot follow: be safe.
		return true
	}
	if first.URL.Scheme == "https" && req.URL.Scheme != "https" {
		return true
	}
	return !strings.EqualFold(canonicalAddr(first.URL), canonicalAddr(req.URL))
}

// firstRequest walks req.Response.Request back to the request that started
// the redirect chain. It returns nil when the chain is broken (a Response
// without a Request). The walk is bounded in case a chain loops.
func firstRequest(req *http.Request) *http.Request {
	for i := 0; i < 100 && req.Response != nil; i++ {
		prev := req.Response.Request
		if prev == nil || prev == req {
			return nil
		}
		req = prev
	}
	if req.Response != nil {
		return nil
	}
	return req
}

// canonicalAddr returns u's host and port, the port made explicit for http
// and https, so that "api.example.com" and "api.example.com:443" compare
// equal for https.
func canonicalAddr(u *url.URL) string {
	host, port := u.Hostname(), u.Port()
	if port == "" {
		switch u.Scheme {
		case "http":
			port = "80"
		case "https":
			port = "443"
		}
	}
	return net.JoinHostPort(host, port)
}

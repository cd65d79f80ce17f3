package httpauth

import (
	"net/http"
	"strings"
)

// inlineValues is how many header values a requestClone stores inline,
// Authorization included. Most API requests carry few (Accept,
// Content-Type, a trace ID…), so their values need no allocation of their
// own; six keep the clone in the 416-byte size class.
const inlineValues = 6

// requestClone is a shallow copy of a request plus inline storage for its
// header values: a single allocation for both.
type requestClone struct {
	req  http.Request
	vals [inlineValues]string
}

// authorizationKey is the canonical header key.
const authorizationKey = "Authorization"

// withAuthorization returns a copy of req whose header is req's plus
// Authorization: auth (replacing any Authorization the caller set).
//
// It is cheaper than req.Clone followed by Header.Set: the Request struct is
// copied shallowly (URL, Body, context, trailers and the rest are shared;
// nothing downstream may modify them, as the RoundTripper contract says) and
// the header map is built in one pass, sized for Authorization, its values
// sharing the clone's inline array. Each value slice is capped at its
// length: a downstream Header.Add on the copy allocates instead of writing
// into its neighbour's values.
//
// Cost: the clone and the map (two allocations for the runtime); one more
// when the header holds more values than fit inline.
func withAuthorization(req *http.Request, auth string) *http.Request {
	return withDPoP(req, auth, "")
}

// dpopKey is the canonical key of the DPoP header (RFC 9449 §4.1).
const dpopKey = "Dpop"

// withDPoP is withAuthorization that also sets the DPoP header to proof
// (replacing any DPoP header the caller set), unless proof is empty.
func withDPoP(req *http.Request, auth, proof string) *http.Request {
	c := new(requestClone)
	c.req = *req

	h := req.Header
	h2 := make(http.Header, len(h)+2)
	c.vals[0] = auth
	h2[authorizationKey] = c.vals[0:1:1]
	sv := c.vals[1:]
	if proof != "" {
		c.vals[1] = proof
		h2[dpopKey] = c.vals[1:2:2]
		sv = c.vals[2:]
	}
	for k, vv := range h {
		if isAuthorizationKey(k) || (proof != "" && isDPoPKey(k)) {
			continue
		}
		if vv == nil {
			// Preserve nil values, as Header.Clone does.
			h2[k] = nil
			continue
		}
		if len(vv) > len(sv) {
			// Out of inline room: one array for these values and, most
			// likely, the remaining keys' ones.
			sv = make([]string, len(vv)+len(h))
		}
		m := copy(sv, vv)
		h2[k] = sv[:m:m]
		sv = sv[m:]
	}
	c.req.Header = h2
	return &c.req
}

// isAuthorizationKey reports whether k names the Authorization header in any
// case: a header map filled by hand may hold a non-canonical key, and the
// request must not go out with two Authorization headers.
func isAuthorizationKey(k string) bool {
	return len(k) == len(authorizationKey) && (k == authorizationKey || strings.EqualFold(k, authorizationKey))
}

// isDPoPKey reports whether k names the DPoP header in any case.
func isDPoPKey(k string) bool {
	return len(k) == len(dpopKey) && strings.EqualFold(k, dpopKey)
}

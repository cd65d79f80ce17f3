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

// bareClone is a requestClone for a request without headers: its only
// value is Authorization, and it fits the 320-byte size class.
type bareClone struct {
	req  http.Request
	vals [1]string
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
// when the header holds more values than fit inline. A request without
// headers gets a smaller clone.
func withAuthorization(req *http.Request, auth string) *http.Request {
	return withDPoP(req, auth, "")
}

// dpopKey is the canonical key of the DPoP header (RFC 9449 §4.1).
const dpopKey = "Dpop"

// withDPoP is withAuthorization that also sets the DPoP header to proof
// (replacing any DPoP header the caller set), unless proof is empty.
func withDPoP(req *http.Request, auth, proof string) *http.Request {
	h := req.Header
	var out *http.Request
	var vals []string
	if len(h) == 0 && proof == "" {
		// A request with no header of its own (http.NewRequest's) needs
		// room for Authorization only: 96 bytes less than a requestClone.
		c := new(bareClone)
		c.req = *req
		out, vals = &c.req, c.vals[:]
	} else {
		c := new(requestClone)
		c.req = *req
		out, vals = &c.req, c.vals[:]
	}

	h2 := make(http.Header, len(h)+2)
	vals[0] = auth
	h2[authorizationKey] = vals[0:1:1]
	sv := vals[1:]
	if proof != "" {
		vals[1] = proof
		h2[dpopKey] = vals[1:2:2]
		sv = vals[2:]
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
	out.Header = h2
	return out
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

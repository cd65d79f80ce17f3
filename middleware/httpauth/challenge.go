package httpauth

import (
	"net/http"

	"github.com/tenantauth/tenantauth/clientauth"
)

// invalidTokenChallenge reports whether a WWW-Authenticate header of h
// carries the auth-param error="invalid_token" (RFC 6750 §3.1), in any
// challenge and with the value quoted or not.
func invalidTokenChallenge(h http.Header) bool {
	for _, v := range h["Www-Authenticate"] {
		if hasInvalidTokenParam(v) {
			return true
		}
	}
	return false
}

// hasInvalidTokenParam scans one WWW-Authenticate value for
// error=invalid_token in a challenge of any scheme, with the parser DPoP's
// nonce challenge uses too (tolerant, allocation-free, linear).
func hasInvalidTokenParam(s string) bool {
	return clientauth.ChallengeHasError(s, "", "invalid_token")
}

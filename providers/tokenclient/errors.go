package tokenclient

import (
	"errors"

	"github.com/tenantauth/tenantauth"
)

// Sentinel errors. Provider packages re-export the ones their users match, so
// errors.Is works with the same value whichever provider returned it.
var (
	// ErrInvalidEndpoint means a configured URL is not usable as a token
	// endpoint (does not parse, not absolute, has user info, …).
	ErrInvalidEndpoint = errors.New("tenantauth: invalid token endpoint URL")

	// ErrUnsupportedGrant is [tenantauth.ErrUnsupportedGrant], here so that
	// a provider package can re-export it without another import.
	ErrUnsupportedGrant = tenantauth.ErrUnsupportedGrant

	// ErrIncompleteCredentials is [tenantauth.ErrIncompleteCredentials],
	// here for the same reason.
	ErrIncompleteCredentials = tenantauth.ErrIncompleteCredentials

	// ErrBodyTooLarge means a token endpoint's response body exceeded
	// [MaxBodySize]. It is an error, never a silent truncation.
	ErrBodyTooLarge = tenantauth.ErrBodyTooLarge

	// ErrMalformedResponse means a successful (2xx) answer was not a usable
	// token response: not a JSON object, no access_token, a token_type that
	// is not Bearer, … Unlike a *tenantauth.TokenError it says the endpoint
	// is broken, not that the tenant's request was refused.
	ErrMalformedResponse = tenantauth.ErrMalformedResponse
)

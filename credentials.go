package tenantauth

import (
	"net/url"

	"github.com/tenantauth/tenantauth/clientauth"
)

// A Grant is an OAuth 2.0 grant type (RFC 6749 §4), sent as grant_type.
type Grant string

// The grants tenantauth knows. A Provider may support others.
const (
	// GrantPassword is the resource owner password credentials grant (RFC 6749 §4.3).
	GrantPassword Grant = "password"
	// GrantClientCredentials is the client credentials grant (RFC 6749 §4.4).
	GrantClientCredentials Grant = "client_credentials"
	// GrantRefreshToken exchanges a refresh token for a new access token (RFC 6749 §6).
	GrantRefreshToken Grant = "refresh_token"
)

// Credentials are one tenant's credentials at its token endpoint.
//
// Secrets are of type [Secret], so Credentials can be printed, logged and
// marshalled without leaking them.
type Credentials struct {
	// Grant is the grant used for a full token request. Zero means
	// GrantPassword when Username is set, else GrantClientCredentials.
	Grant Grant
	// ClientID identifies the OAuth client.
	ClientID string
	// ClientSecret authenticates the OAuth client (client_secret_post or
	// client_secret_basic, as the provider says). Not needed with Auth.
	ClientSecret Secret
	// Auth, when set, authenticates the client without sending a secret:
	// with a signed assertion (RFC 7523), clientauth.PrivateKeyJWT
	// (private_key_jwt: RS256, ES256 or EdDSA key, kid, audience) or
	// clientauth.ClientSecretJWT (client_secret_jwt: HS256), a fresh one
	// (unique jti, short exp) for every token request; or with a TLS client
	// certificate (RFC 8705), clientauth.NewTLSClientAuth (tls_client_auth,
	// self_signed_tls_client_auth), which the token client presents on
	// connections of its own, never shared with another certificate. Its
	// keys are never printed, logged or marshalled.
	Auth clientauth.Authenticator
	// DPoP, when set, binds the tenant's tokens to its key (RFC 9449):
	// every token request carries a DPoP proof made with it, the token
	// endpoint answers token_type "DPoP", and the middleware send such a
	// token as "Authorization: DPoP …" with a fresh proof per request. Nil
	// (the default) asks for Bearer tokens. The key is a secret: a DPoP's
	// renderings show its algorithm and thumbprint, never the key. Keep the
	// same DPoP for as long as tokens bound to it are cached (a new key for
	// every lookup would make every cached token useless).
	DPoP *clientauth.DPoP
	// Username is the resource owner for GrantPassword (an e-mail for HubSoft).
	Username string
	// Password is the resource owner's password for GrantPassword.
	Password Secret
	// Scopes are sent as the space-separated scope parameter when not empty.
	Scopes []string
	// EndpointParams are extra parameters sent with every token request of
	// the tenant, full grant and refresh alike, as x/oauth2's
	// clientcredentials.Config.EndpointParams: Auth0's audience, RFC 8707's
	// resource (several values allowed), a vendor's own. They are not
	// secret: they are part of the tenant's configuration and may be
	// printed. A parameter the provider sets itself (grant_type, client_id,
	// client_secret, username, password, refresh_token, scope, and the
	// client assertion's) is refused before any request with an error
	// matching ErrIncompleteCredentials. Nil sends none.
	EndpointParams url.Values
}

// ReservedParam reports whether name is a token-request parameter that a
// provider sets itself from Credentials and TokenRequest, and which
// Credentials.EndpointParams therefore must not name.
func ReservedParam(name string) bool {
	switch name {
	case "grant_type", "client_id", "client_secret", "username", "password",
		"refresh_token", "scope", "client_assertion", "client_assertion_type":
		return true
	}
	return false
}

// EffectiveGrant returns the grant a full token request uses: Grant when
// set, else GrantPassword when Username is set, else GrantClientCredentials.
func (c Credentials) EffectiveGrant() Grant {
	switch {
	case c.Grant != "":
		return c.Grant
	case c.Username != "":
		return GrantPassword
	default:
		return GrantClientCredentials
	}
}

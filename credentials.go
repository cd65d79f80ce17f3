package tenantauth

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
	// ClientSecret authenticates the OAuth client.
	ClientSecret Secret
	// Username is the resource owner for GrantPassword (an e-mail for HubSoft).
	Username string
	// Password is the resource owner's password for GrantPassword.
	Password Secret
	// Scopes are sent as the space-separated scope parameter when not empty.
	Scopes []string
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

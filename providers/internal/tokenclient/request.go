package tokenclient

import (
	"fmt"

	"github.com/tenantauth/tenantauth"
)

// CheckRequest resolves req's grant (req.Grant, else
// req.Credentials.EffectiveGrant()) and checks that req carries what that
// grant needs, before any I/O: a ClientID always; Username and Password for
// the password grant; ClientSecret for client_credentials; RefreshToken for
// refresh_token. Errors start with provider, name the missing field (never a
// value) and wrap [ErrIncompleteCredentials] or, for a grant other than
// those three, [ErrUnsupportedGrant].
func CheckRequest(provider string, req tenantauth.TokenRequest) (tenantauth.Grant, error) {
	g := req.Grant
	if g == "" {
		g = req.Credentials.EffectiveGrant()
	}
	c := req.Credentials
	missing := ""
	switch g {
	case tenantauth.GrantPassword:
		switch {
		case c.Username == "":
			missing = "Username"
		case c.Password == "":
			missing = "Password"
		}
	case tenantauth.GrantClientCredentials:
		if c.ClientSecret == "" {
			missing = "ClientSecret"
		}
	case tenantauth.GrantRefreshToken:
		if req.RefreshToken == "" {
			missing = "RefreshToken"
		}
	default:
		return "", fmt.Errorf("%s: grant %q: %w", provider, g, ErrUnsupportedGrant)
	}
	if c.ClientID == "" {
		missing = "ClientID"
	}
	if missing != "" {
		return "", fmt.Errorf("%s: %s grant needs %s: %w", provider, g, missing, ErrIncompleteCredentials)
	}
	return g, nil
}

// RequestSecrets lists req's secrets, for [ParseOptions].Secrets.
func RequestSecrets(req tenantauth.TokenRequest) []tenantauth.Secret {
	s := make([]tenantauth.Secret, 0, 3)
	for _, v := range []tenantauth.Secret{req.Credentials.ClientSecret, req.Credentials.Password, req.RefreshToken} {
		if v != "" {
			s = append(s, v)
		}
	}
	return s
}

package tokenclient_test

import (
	"testing"

	"github.com/tenantauth/tenantauth"
	"github.com/tenantauth/tenantauth/providers/tokenclient"
	"github.com/tenantauth/tenantauth/tenantauthtest"
)

// TestConformance runs the Provider conformance suite against a Client
// configured as each stand-in's dialect wants: a form with
// client_secret_post for Keycloak, JSON with client_secret_post for
// Passport, over plain HTTP with the shared client and over TLS with the
// server's client; a form with either method for the standard server.
func TestConformance(t *testing.T) {
	dialects := []struct {
		d   tenantauthtest.Dialect
		enc tokenclient.Encoding
	}{
		{tenantauthtest.KeycloakDialect, tokenclient.Form},
		{tenantauthtest.PassportDialect, tokenclient.JSON},
	}
	for _, dt := range dialects {
		t.Run(dt.d.String(), func(t *testing.T) {
			t.Run("http", func(t *testing.T) {
				tenantauthtest.TestProvider(t, dt.d, func(s *tenantauthtest.Server) (tenantauth.Provider, error) {
					return tokenclient.New(tokenclient.Config{Name: dt.d.String(), TokenURL: s.TokenURL(),
						AuthMethod: tokenclient.ClientSecretPost, Encoding: dt.enc})
				})
			})
			t.Run("https", func(t *testing.T) {
				tenantauthtest.Suite{Dialect: dt.d, TLS: true}.Run(t, func(s *tenantauthtest.Server) (tenantauth.Provider, error) {
					return tokenclient.New(tokenclient.Config{TokenURL: s.TokenURL(), Encoding: dt.enc, HTTPClient: s.Client()})
				})
			})
		})
	}
	// The standard server takes one AuthMethod at a time, and requires the
	// audience the suite sends in EndpointParams.
	for _, m := range []tokenclient.AuthMethod{tokenclient.ClientSecretBasic, tokenclient.ClientSecretPost} {
		t.Run("standard "+string(m), func(t *testing.T) {
			tenantauthtest.Suite{Dialect: tenantauthtest.StandardDialect, AuthMethod: string(m)}.Run(t, func(s *tenantauthtest.Server) (tenantauth.Provider, error) {
				return tokenclient.New(tokenclient.Config{TokenURL: s.TokenURL(), AuthMethod: m})
			})
		})
	}
	// Keycloak takes HTTP Basic client credentials too.
	t.Run("keycloak basic", func(t *testing.T) {
		tenantauthtest.TestProvider(t, tenantauthtest.KeycloakDialect, func(s *tenantauthtest.Server) (tenantauth.Provider, error) {
			return tokenclient.New(tokenclient.Config{TokenURL: s.TokenURL(), AuthMethod: tokenclient.ClientSecretBasic})
		})
	})
}

// TestVendorProviderConformance: the provider Example_provider writes from
// the pieces passes the suite against the Passport stand-in, which takes
// JSON bodies.
func TestVendorProviderConformance(t *testing.T) {
	tenantauthtest.TestProvider(t, tenantauthtest.PassportDialect, func(s *tenantauthtest.Server) (tenantauth.Provider, error) {
		return newVendorProvider(s.TokenURL())
	})
}

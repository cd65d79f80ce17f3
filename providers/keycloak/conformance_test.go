package keycloak_test

import (
	"testing"

	"github.com/tenantauth/tenantauth"
	"github.com/tenantauth/tenantauth/providers/keycloak"
	"github.com/tenantauth/tenantauth/tenantauthtest"
)

// TestConformance runs tenantauth's Provider conformance suite against
// Keycloak stand-ins (realm "fluencypass", the stand-in's default), over
// plain HTTP on loopback with the Provider's own client, and over TLS with
// the server's client passed in Config.HTTPClient.
func TestConformance(t *testing.T) {
	t.Run("http", func(t *testing.T) {
		tenantauthtest.TestProvider(t, tenantauthtest.KeycloakDialect, func(s *tenantauthtest.Server) (tenantauth.Provider, error) {
			return keycloak.New(keycloak.Config{BaseURL: s.URL, Realm: keycloak.FluencypassRealm})
		})
	})
	t.Run("https", func(t *testing.T) {
		tenantauthtest.Suite{Dialect: tenantauthtest.KeycloakDialect, TLS: true}.Run(t, func(s *tenantauthtest.Server) (tenantauth.Provider, error) {
			return keycloak.Fluencypass(keycloak.WithBaseURL(s.URL), keycloak.WithHTTPClient(s.Client()))
		})
	})
}

package passport_test

import (
	"testing"

	"github.com/tenantauth/tenantauth"
	"github.com/tenantauth/tenantauth/providers/passport"
	"github.com/tenantauth/tenantauth/tenantauthtest"
)

// TestConformance runs tenantauth's Provider conformance suite against
// Laravel Passport stand-ins, over plain HTTP on loopback with the
// Provider's own client, and over TLS through the HubSoft preset with the
// server's client.
func TestConformance(t *testing.T) {
	t.Run("http", func(t *testing.T) {
		tenantauthtest.TestProvider(t, tenantauthtest.PassportDialect, func(s *tenantauthtest.Server) (tenantauth.Provider, error) {
			return passport.New(passport.Config{BaseURL: s.URL})
		})
	})
	t.Run("https", func(t *testing.T) {
		tenantauthtest.Suite{Dialect: tenantauthtest.PassportDialect, TLS: true}.Run(t, func(s *tenantauthtest.Server) (tenantauth.Provider, error) {
			return passport.HubSoft(s.URL, passport.WithHTTPClient(s.Client()))
		})
	})
}

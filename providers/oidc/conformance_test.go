package oidc_test

import (
	"testing"

	"github.com/tenantauth/tenantauth"
	"github.com/tenantauth/tenantauth/providers/oidc"
	"github.com/tenantauth/tenantauth/providers/tokenclient"
	"github.com/tenantauth/tenantauth/tenantauthtest"
)

// TestConformance runs tenantauth's Provider conformance suite against
// standard stand-in servers, with each client authentication method, the
// token endpoint given (TokenURL) and discovered (Issuer), over plain HTTP
// on loopback and over TLS with the server's client.
func TestConformance(t *testing.T) {
	for _, method := range []tokenclient.AuthMethod{tokenclient.ClientSecretBasic, tokenclient.ClientSecretPost} {
		t.Run(string(method), func(t *testing.T) {
			t.Run("token URL", func(t *testing.T) {
				tenantauthtest.Suite{Dialect: tenantauthtest.StandardDialect, AuthMethod: string(method)}.Run(t,
					func(s *tenantauthtest.Server) (tenantauth.Provider, error) {
						return oidc.New(oidc.Config{TokenURL: s.TokenURL(), AuthMethod: method})
					})
			})
			t.Run("discovery", func(t *testing.T) {
				// No AuthMethod: the document names the server's one.
				tenantauthtest.Suite{Dialect: tenantauthtest.StandardDialect, AuthMethod: string(method)}.Run(t,
					func(s *tenantauthtest.Server) (tenantauth.Provider, error) {
						return discovered(s, oidc.Config{Issuer: s.Issuer()})
					})
			})
			t.Run("discovery over TLS", func(t *testing.T) {
				tenantauthtest.Suite{Dialect: tenantauthtest.StandardDialect, AuthMethod: string(method), TLS: true}.Run(t,
					func(s *tenantauthtest.Server) (tenantauth.Provider, error) {
						return discovered(s, oidc.Config{Issuer: s.Issuer(), HTTPClient: s.Client()})
					})
			})
		})
	}
	// Keycloak speaks RFC 6749 too; its stand-in accepts either method.
	t.Run("keycloak", func(t *testing.T) {
		tenantauthtest.TestProvider(t, tenantauthtest.KeycloakDialect, func(s *tenantauthtest.Server) (tenantauth.Provider, error) {
			return oidc.New(oidc.Config{TokenURL: s.TokenURL()})
		})
	})
}

// discovered returns the Provider for cfg. Its Endpoint is the issuer (it
// keys the Manager's breaker and admission limit, so it is fixed before
// discovery), which the suite's Endpoint case accepts for a standard
// server.
func discovered(_ *tenantauthtest.Server, cfg oidc.Config) (tenantauth.Provider, error) {
	return oidc.New(cfg)
}

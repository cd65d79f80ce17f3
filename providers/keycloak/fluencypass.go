package keycloak

import "net/http"

// The Fluencypass realm, from Fluencypass's API documentation.
const (
	FluencypassBaseURL = "https://sso.fluencypass.com"
	FluencypassRealm   = "fluencypass"
)

// An Option adjusts the Config of a preset such as [Fluencypass].
type Option func(*Config)

// WithHTTPClient sets Config.HTTPClient.
func WithHTTPClient(c *http.Client) Option { return func(cfg *Config) { cfg.HTTPClient = c } }

// WithBaseURL replaces the preset's base URL, e.g. with a test server's.
func WithBaseURL(u string) Option { return func(cfg *Config) { cfg.BaseURL = u } }

// Fluencypass returns a Provider for Fluencypass's Keycloak:
// POST https://sso.fluencypass.com/realms/fluencypass/protocol/openid-connect/token,
// client_id and client_secret in the form. Fluencypass offers the password
// grant (a user's login) and client_credentials (machine to machine); its
// tokens live 86400 s and come without a refresh token.
func Fluencypass(opts ...Option) (*Provider, error) {
	cfg := Config{BaseURL: FluencypassBaseURL, Realm: FluencypassRealm}
	for _, o := range opts {
		o(&cfg)
	}
	return New(cfg)
}

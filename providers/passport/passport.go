// Package passport is a tenantauth.Provider for Laravel Passport's token
// endpoint (league/oauth2-server), POST {Host}/oauth/token with a JSON body.
//
// Each customer of a Passport-based product runs its own server, so a
// Provider serves one host; create one per host ([HubSoft] is the preset for
// HubSoft's ERP). The body has exactly the shape HubSoft documents:
//
//	{"grant_type":"password","client_id":"3","client_secret":"…","username":"…","password":"…"}
//
// plus "scope" when Credentials.Scopes is set and the tenant's
// Credentials.EndpointParams; refresh_token and client_credentials grants
// are supported too. A Provider is a preset over [tokenclient.Client], which
// builds the request and parses the response as for every tenantauth
// provider; Passport's error bodies (error, error_description, hint,
// message) become *tenantauth.TokenError. Passport 12 disables the password
// grant by default: such a server answers unsupported_grant_type.
package passport

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/tenantauth/tenantauth"
	"github.com/tenantauth/tenantauth/providers/tokenclient"
)

// Errors returned by Exchange before any I/O. They are the same values in
// every tenantauth provider package, so errors.Is works whichever provider a
// tenant uses.
var (
	// ErrUnsupportedGrant: the request's grant is not password,
	// client_credentials or refresh_token.
	ErrUnsupportedGrant = tokenclient.ErrUnsupportedGrant
	// ErrIncompleteCredentials: the grant needs a field the request lacks.
	ErrIncompleteCredentials = tokenclient.ErrIncompleteCredentials
)

// Config configures a [Provider].
type Config struct {
	// BaseURL is the customer's server: "https://erp.customer.com", optionally
	// with a port or a path prefix ("https://erp.customer.com:8443/api").
	// A bare host name without a scheme gets https://. Required. It must be
	// https unless the host is loopback or AllowInsecureHTTP is set, and
	// must carry no user info, query or fragment.
	// (Named like keycloak.Config.BaseURL.)
	BaseURL string

	// HTTPClient sends the token requests. Nil means a client with bounded
	// timeouts, TLS 1.2+ and its own transport. A client you pass is copied
	// with redirects refused; the client itself is not modified, and its
	// Timeout (zero: none) and transport are used as they are.
	HTTPClient *http.Client

	// AllowInsecureHTTP allows a plain http BaseURL that is not loopback. Zero
	// (false) refuses it: the body carries the client secret and the
	// user's password.
	AllowInsecureHTTP bool

	// AllowNonBearer accepts tokens whose token_type is not Bearer. Zero
	// (false) refuses them with an error.
	AllowNonBearer bool
}

// A Provider requests tokens from one Passport server. It holds no secret:
// credentials arrive with each request. It is safe for concurrent use.
type Provider struct {
	tc *tokenclient.Client
}

var _ tenantauth.Provider = (*Provider)(nil)

// New returns a Provider for cfg.BaseURL. It checks the configuration and sends
// nothing.
func New(cfg Config) (*Provider, error) {
	host := strings.TrimSpace(cfg.BaseURL)
	if host == "" {
		return nil, fmt.Errorf("passport: Config.BaseURL is required: %w", tokenclient.ErrInvalidEndpoint)
	}
	if !strings.Contains(host, "://") {
		host = "https://" + host
	}
	base, err := tokenclient.CheckEndpoint(host, cfg.AllowInsecureHTTP)
	if err != nil {
		return nil, fmt.Errorf("passport: Config.BaseURL: %w", err)
	}
	tc, err := tokenclient.New(tokenclient.Config{
		Name:       "passport",
		TokenURL:   strings.TrimRight(base.String(), "/") + "/oauth/token",
		AuthMethod: tokenclient.ClientSecretPost,
		Encoding:   tokenclient.JSON,
		// Harden, not nil: each Provider has its own transport, as
		// Config.HTTPClient documents.
		HTTPClient:        tokenclient.Harden(cfg.HTTPClient),
		AllowInsecureHTTP: cfg.AllowInsecureHTTP,
		AllowNonBearer:    cfg.AllowNonBearer,
	})
	if err != nil {
		return nil, err // unreachable: the URL is built from a checked one
	}
	return &Provider{tc: tc}, nil
}

// An Option adjusts the Config of a preset such as [HubSoft].
type Option func(*Config)

// WithHTTPClient sets Config.HTTPClient.
func WithHTTPClient(c *http.Client) Option { return func(cfg *Config) { cfg.HTTPClient = c } }

// HubSoft returns a Provider for one HubSoft customer's server, host being
// what HubSoft calls "host" ("https://api.customer.hubsoft.com.br", or a bare
// host name). HubSoft uses the password grant, the username being an
// e-mail; its tokens live 30 days and come with a refresh token. A 401 from
// HubSoft's API before expiry means the token was revoked: the Manager then
// fetches a new one.
func HubSoft(host string, opts ...Option) (*Provider, error) {
	cfg := Config{BaseURL: host}
	for _, o := range opts {
		o(&cfg)
	}
	return New(cfg)
}

// Endpoint returns the token endpoint URL, {Host}/oauth/token.
func (p *Provider) Endpoint() string { return p.tc.Endpoint() }

// CloseIdleConnections closes the idle keep-alive connections of the
// Provider's HTTP client, and with them the goroutines that serve them. Call
// it when the Provider is retired. A client passed in Config shares its
// transport with the Provider, so its idle connections close too.
func (p *Provider) CloseIdleConnections() { p.tc.CloseIdleConnections() }

// Exchange performs one token request: the password, client_credentials or
// refresh_token grant (req.Grant, else req.Credentials.EffectiveGrant()),
// with every Credentials.EndpointParams value after the documented members.
// A request missing a field its grant needs, with another grant, whose
// EndpointParams name a member the Provider sets itself, or with text that
// is not valid UTF-8 (JSON cannot carry it unaltered) fails without I/O. The
// endpoint's refusals are *tenantauth.TokenError; no error contains a
// secret.
//
// It is a [tokenclient.Client] with a JSON body and client_secret_post:
// client_id, and client_secret when there is one, in the body.
func (p *Provider) Exchange(ctx context.Context, req tenantauth.TokenRequest) (*tenantauth.Token, error) {
	return p.tc.Exchange(ctx, req)
}

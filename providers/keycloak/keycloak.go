// Package keycloak is a tenantauth.Provider for Keycloak's OpenID Connect
// token endpoint, {BaseURL}/realms/{Realm}/protocol/openid-connect/token.
//
// Requests are application/x-www-form-urlencoded (RFC 6749 §4.3, §4.4, §6)
// with the password, client_credentials and refresh_token grants, and carry
// the tenant's Credentials.EndpointParams (an audience, say). The client
// authenticates with client_id and client_secret in the form, as the
// Fluencypass documentation shows, or with HTTP Basic ([ClientAuthBasic]).
// [Fluencypass] is a preset for https://sso.fluencypass.com, realm
// fluencypass.
//
// A Provider is a preset over [tokenclient.Client], which builds the request
// and parses the response as for every tenantauth provider: expires_in as a
// number or a string, "bearer" in any case, refresh_expires_in 0 as "no known
// expiry", not-before-policy ignored, RFC 6749 §5.2 errors as
// *tenantauth.TokenError. Redirects are refused and plain http is allowed
// only on loopback or with [Config].AllowInsecureHTTP.
package keycloak

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
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

// ClientAuth selects how the client authenticates to the token endpoint.
type ClientAuth int

const (
	// ClientAuthBody sends client_id and client_secret as form fields
	// (RFC 6749 §2.3.1, second option), as the Fluencypass documentation
	// shows. It is the zero value.
	ClientAuthBody ClientAuth = iota
	// ClientAuthBasic sends them in an HTTP Basic Authorization header,
	// each form-urlencoded first as RFC 6749 §2.3.1 requires. A client
	// without a secret (a public client) still sends client_id in the form.
	ClientAuthBasic
)

// String returns "body" or "basic".
func (a ClientAuth) String() string {
	switch a {
	case ClientAuthBody:
		return "body"
	case ClientAuthBasic:
		return "basic"
	}
	return fmt.Sprintf("ClientAuth(%d)", int(a))
}

// Config configures a [Provider].
type Config struct {
	// BaseURL is the Keycloak server's base URL, e.g.
	// "https://sso.fluencypass.com" (add "/auth" for Keycloak before 17).
	// A trailing slash is tolerated. Required. It must be https unless the
	// host is loopback or AllowInsecureHTTP is set, and must carry no user
	// info, query or fragment.
	BaseURL string

	// Realm is the realm name, e.g. "fluencypass". Required. It is
	// path-escaped into the URL, so any name is safe.
	Realm string

	// HTTPClient sends the token requests. Nil means a client with bounded
	// timeouts, TLS 1.2+ and its own transport. A client you pass is copied
	// with redirects refused; the client itself is not modified, and its
	// Timeout (zero: none) and transport are used as they are.
	HTTPClient *http.Client

	// ClientAuth selects how the client authenticates. Zero means
	// ClientAuthBody.
	ClientAuth ClientAuth

	// AllowInsecureHTTP allows a plain http BaseURL on a non-loopback host.
	// Zero (false) refuses it: the form carries the client secret and the
	// user's password.
	AllowInsecureHTTP bool

	// AllowNonBearer accepts tokens whose token_type is not Bearer. Zero
	// (false) refuses them with an error.
	AllowNonBearer bool
}

// A Provider requests tokens from one Keycloak realm. It holds no secret:
// credentials arrive with each request. It is safe for concurrent use.
type Provider struct {
	clientAuth ClientAuth
	tc         *tokenclient.Client
}

var _ tenantauth.Provider = (*Provider)(nil)

// New returns a Provider for cfg's realm. It checks the configuration and
// sends nothing.
func New(cfg Config) (*Provider, error) {
	switch {
	case cfg.BaseURL == "":
		return nil, fmt.Errorf("keycloak: Config.BaseURL is required: %w", tokenclient.ErrInvalidEndpoint)
	case cfg.Realm == "":
		return nil, fmt.Errorf("keycloak: Config.Realm is required: %w", tokenclient.ErrInvalidEndpoint)
	case cfg.Realm == "." || cfg.Realm == "..":
		// PathEscape leaves dot segments alone, and servers resolve them.
		return nil, fmt.Errorf("keycloak: Config.Realm %q is not a realm name: %w", cfg.Realm, tokenclient.ErrInvalidEndpoint)
	case cfg.ClientAuth != ClientAuthBody && cfg.ClientAuth != ClientAuthBasic:
		return nil, fmt.Errorf("keycloak: unknown Config.ClientAuth %v", cfg.ClientAuth)
	}
	base, err := tokenclient.CheckEndpoint(cfg.BaseURL, cfg.AllowInsecureHTTP)
	if err != nil {
		return nil, fmt.Errorf("keycloak: Config.BaseURL: %w", err)
	}
	auth := tokenclient.ClientSecretPost
	if cfg.ClientAuth == ClientAuthBasic {
		auth = tokenclient.ClientSecretBasic
	}
	tc, err := tokenclient.New(tokenclient.Config{
		Name: "keycloak",
		TokenURL: strings.TrimRight(base.String(), "/") +
			"/realms/" + url.PathEscape(cfg.Realm) + "/protocol/openid-connect/token",
		AuthMethod: auth,
		Encoding:   tokenclient.Form,
		// Harden, not nil: each Provider has its own transport, as
		// Config.HTTPClient documents.
		HTTPClient:        tokenclient.Harden(cfg.HTTPClient),
		AllowInsecureHTTP: cfg.AllowInsecureHTTP,
		AllowNonBearer:    cfg.AllowNonBearer,
	})
	if err != nil {
		return nil, err // unreachable: the URL is built from a checked one
	}
	return &Provider{clientAuth: cfg.ClientAuth, tc: tc}, nil
}

// Endpoint returns the token endpoint URL.
func (p *Provider) Endpoint() string { return p.tc.Endpoint() }

// CloseIdleConnections closes the idle keep-alive connections of the
// Provider's HTTP client, and with them the goroutines that serve them. Call
// it when the Provider is retired. A client passed in Config shares its
// transport with the Provider, so its idle connections close too.
func (p *Provider) CloseIdleConnections() { p.tc.CloseIdleConnections() }

// Exchange performs one token request: the password, client_credentials or
// refresh_token grant (req.Grant, else req.Credentials.EffectiveGrant()),
// with scope set to the space-separated Credentials.Scopes when there are
// any, and every Credentials.EndpointParams value. A request missing a
// field its grant needs, with another grant, or whose EndpointParams name a
// parameter the Provider sets itself, fails without I/O. The endpoint's
// refusals are *tenantauth.TokenError; no error contains a secret.
//
// It is a [tokenclient.Client] with a form body and client_secret_post (or
// client_secret_basic for [ClientAuthBasic]).
func (p *Provider) Exchange(ctx context.Context, req tenantauth.TokenRequest) (*tenantauth.Token, error) {
	return p.tc.Exchange(ctx, req)
}

// Package passport is a tenantauth.Provider for Laravel Passport's token
// endpoint (league/oauth2-server), POST {Host}/oauth/token with a JSON body.
//
// Each customer of a Passport-based product runs its own server, so a
// Provider serves one host; create one per host ([HubSoft] is the preset for
// HubSoft's ERP). The body has exactly the shape HubSoft documents:
//
//	{"grant_type":"password","client_id":"3","client_secret":"…","username":"…","password":"…"}
//
// plus "scope" when Credentials.Scopes is set; refresh_token and
// client_credentials grants are supported too. Responses are parsed by
// tenantauth's shared token client; Passport's error bodies (error,
// error_description, hint, message) become *tenantauth.TokenError. Passport
// 12 disables the password grant by default: such a server answers
// unsupported_grant_type.
package passport

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/tenantauth/tenantauth"
	"github.com/tenantauth/tenantauth/providers/internal/tokenclient"
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
	endpoint       string
	client         *http.Client
	allowNonBearer bool
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
	return &Provider{
		endpoint:       strings.TrimRight(base.String(), "/") + "/oauth/token",
		client:         tokenclient.Harden(cfg.HTTPClient),
		allowNonBearer: cfg.AllowNonBearer,
	}, nil
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
func (p *Provider) Endpoint() string { return p.endpoint }

// CloseIdleConnections closes the idle keep-alive connections of the
// Provider's HTTP client, and with them the goroutines that serve them. Call
// it when the Provider is retired. A client passed in Config shares its
// transport with the Provider, so its idle connections close too.
func (p *Provider) CloseIdleConnections() { p.client.CloseIdleConnections() }

// The request bodies, one struct per grant so that the members appear in
// the order Passport's documentation (and HubSoft's) shows them.
type (
	passwordBody struct {
		GrantType    string `json:"grant_type"`
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret,omitempty"`
		Username     string `json:"username"`
		Password     string `json:"password"`
		Scope        string `json:"scope,omitempty"`
	}
	refreshBody struct {
		GrantType    string `json:"grant_type"`
		RefreshToken string `json:"refresh_token"`
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret,omitempty"`
		Scope        string `json:"scope,omitempty"`
	}
	clientBody struct {
		GrantType    string `json:"grant_type"`
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
		Scope        string `json:"scope,omitempty"`
	}
)

// Exchange performs one token request: the password, client_credentials or
// refresh_token grant (req.Grant, else req.Credentials.EffectiveGrant()). A
// request missing a field its grant needs, with another grant, or with text
// that is not valid UTF-8 (JSON cannot carry it unaltered) fails without
// I/O. The endpoint's refusals are *tenantauth.TokenError; no error contains
// a secret.
func (p *Provider) Exchange(ctx context.Context, req tenantauth.TokenRequest) (*tenantauth.Token, error) {
	grant, err := tokenclient.CheckRequest("passport", req)
	if err != nil {
		return nil, err
	}
	body, err := requestBody(grant, req)
	if err != nil {
		return nil, err
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, p.endpoint, bytes.NewReader(body))
	if err != nil {
		// Unreachable with a checked endpoint; the message holds no body.
		return nil, fmt.Errorf("passport: building token request: %w", err)
	}
	hr.Header.Set("Content-Type", "application/json")
	// Without it Laravel answers some failures with HTML or a redirect.
	hr.Header.Set("Accept", "application/json")
	return tokenclient.Do(ctx, p.client, hr, tokenclient.Dialect{
		Name: "passport",
		Options: tokenclient.ParseOptions{
			AllowNonBearer: p.allowNonBearer,
			Secrets:        tokenclient.RequestSecrets(req),
		},
	})
}

// requestBody encodes req as Passport expects it for grant.
func requestBody(grant tenantauth.Grant, req tenantauth.TokenRequest) ([]byte, error) {
	c := req.Credentials
	scope := strings.Join(c.Scopes, " ")
	fields := []struct{ name, v string }{
		{"ClientID", c.ClientID}, {"ClientSecret", string(c.ClientSecret)},
		{"Username", c.Username}, {"Password", string(c.Password)},
		{"RefreshToken", string(req.RefreshToken)}, {"Scopes", scope},
	}
	for _, f := range fields {
		if !utf8.ValidString(f.v) {
			// encoding/json would silently replace the bad bytes and send
			// a different secret than configured.
			return nil, fmt.Errorf("passport: %s is not valid UTF-8", f.name)
		}
	}
	var v any
	switch grant {
	case tenantauth.GrantPassword:
		v = passwordBody{string(grant), c.ClientID, c.ClientSecret.Reveal(), c.Username, c.Password.Reveal(), scope}
	case tenantauth.GrantRefreshToken:
		v = refreshBody{string(grant), req.RefreshToken.Reveal(), c.ClientID, c.ClientSecret.Reveal(), scope}
	default: // client_credentials; CheckRequest allowed nothing else
		v = clientBody{string(grant), c.ClientID, c.ClientSecret.Reveal(), scope}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // "<" stays "<": the body is what the doc shows
	if err := enc.Encode(v); err != nil {
		// Unreachable for structs of strings; the error names no value.
		return nil, fmt.Errorf("passport: encoding token request: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

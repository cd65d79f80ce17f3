package oidc

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tenantauth/tenantauth"
	"github.com/tenantauth/tenantauth/clientauth"
	"github.com/tenantauth/tenantauth/providers/tokenclient"
)

// Config configures a [Provider]. Set Issuer (the token endpoint is then
// discovered) or TokenURL (it is then used as is).
type Config struct {
	// Issuer is the authorization server's issuer identifier, e.g.
	// "https://example.eu.auth0.com/" or
	// "https://login.microsoftonline.com/{tenant-id}/v2.0". The token
	// endpoint is read from {Issuer}/.well-known/openid-configuration
	// (OpenID Connect Discovery 1.0), or, when that answers 404, from
	// {origin}/.well-known/oauth-authorization-server{path} (RFC 8414 §3.1).
	// The document's issuer must equal Issuer, apart from one trailing
	// slash ([ErrIssuerMismatch]).
	//
	// It must be https unless its host is loopback or AllowInsecureHTTP is
	// set, and must carry no user info, query or fragment. Ignored when
	// TokenURL is set, apart from these checks.
	Issuer string

	// TokenURL is the token endpoint, e.g.
	// "https://example.okta.com/oauth2/default/v1/token". When set, nothing
	// is discovered and Issuer is not used: use it for servers without a
	// discovery document, or to skip the discovery request. Same rules as
	// Issuer.
	TokenURL string

	// AuthMethod is how clients authenticate to the token endpoint
	// (RFC 6749 §2.3.1): tokenclient.ClientSecretBasic,
	// tokenclient.ClientSecretPost or tokenclient.None.
	//
	// Zero with Issuer: the first of client_secret_basic,
	// client_secret_post and none that the document's
	// token_endpoint_auth_methods_supported lists; client_secret_basic when
	// it lists nothing (RFC 8414 §2's default). When it lists only methods
	// of tenantauth.Credentials.Auth (private_key_jwt, client_secret_jwt,
	// tls_client_auth, self_signed_tls_client_auth), every tenant must set
	// Credentials.Auth; one without is refused, before any request, with an
	// error matching ErrIncompleteCredentials. Zero with TokenURL:
	// client_secret_basic, which RFC 6749 §2.3.1 obliges every server to
	// support. There is no trial and error (as x/oauth2's
	// AuthStyleAutoDetect does): a refused client is the tenant's refusal.
	// A method set here is used even when the document does not list it.
	AuthMethod tokenclient.AuthMethod

	// HTTPClient sends discovery and token requests. Nil means a client
	// with bounded timeouts, TLS 1.2+ and its own transport. A client you
	// pass is copied with redirects refused; the client itself is not
	// modified, and its Timeout and transport are used as they are.
	HTTPClient *http.Client

	// AllowInsecureHTTP allows plain http for Issuer, TokenURL and a
	// discovered token endpoint on a non-loopback host, and a plain http
	// token endpoint named by an https issuer's document (even on
	// loopback). Zero (false) refuses them: token requests carry client
	// secrets and passwords, and a forged discovery document would send
	// them elsewhere.
	AllowInsecureHTTP bool

	// AllowNonBearer accepts tokens whose token_type is not Bearer. Zero
	// (false) refuses them with an error.
	AllowNonBearer bool

	// DiscoveryTimeout bounds one discovery, both document URLs included.
	// Zero means [DefaultDiscoveryTimeout] (10 s).
	DiscoveryTimeout time.Duration
}

// A Provider requests tokens from one OAuth 2.0 authorization server. It
// holds no secret: credentials arrive with each request. It is safe for
// concurrent use.
type Provider struct {
	endpoint         string
	issuer           string   // without trailing slash; "" with TokenURL
	issuerURL        *url.URL // issuer, parsed
	authMethod       tokenclient.AuthMethod
	http             *http.Client
	allowInsecure    bool
	allowNonBearer   bool
	discoveryTimeout time.Duration

	resolved atomic.Pointer[resolved] // set once, never cleared

	mu       sync.Mutex
	inflight chan struct{} // closed when the running discovery ends; nil: none
	lastErr  error         // the last discovery's error
	failures int           // discoveries failed in a row
	retryAt  time.Time     // no discovery before it after a failure

	// Test knobs.
	now    func() time.Time
	jitter func(time.Duration) time.Duration
}

var _ tenantauth.Provider = (*Provider)(nil)

// New returns a Provider for cfg. It checks the configuration and sends
// nothing: discovery happens on the first Exchange or TokenURL call.
func New(cfg Config) (*Provider, error) {
	switch cfg.AuthMethod {
	case "", tokenclient.ClientSecretBasic, tokenclient.ClientSecretPost, tokenclient.None:
	default:
		return nil, fmt.Errorf("oidc: unknown Config.AuthMethod %q", clip(string(cfg.AuthMethod), maxQuote))
	}
	switch {
	case cfg.DiscoveryTimeout < 0:
		return nil, fmt.Errorf("oidc: negative Config.DiscoveryTimeout %v", cfg.DiscoveryTimeout)
	case cfg.Issuer == "" && cfg.TokenURL == "":
		return nil, fmt.Errorf("oidc: Config.Issuer or Config.TokenURL is required: %w", tokenclient.ErrInvalidEndpoint)
	}
	p := &Provider{
		authMethod:       cfg.AuthMethod,
		http:             tokenclient.Harden(cfg.HTTPClient),
		allowInsecure:    cfg.AllowInsecureHTTP,
		allowNonBearer:   cfg.AllowNonBearer,
		discoveryTimeout: cfg.DiscoveryTimeout,
		now:              time.Now,
		jitter:           halfJitter,
	}
	if p.discoveryTimeout == 0 {
		p.discoveryTimeout = DefaultDiscoveryTimeout
	}
	if cfg.Issuer != "" {
		u, err := tokenclient.CheckEndpoint(cfg.Issuer, cfg.AllowInsecureHTTP)
		if err != nil {
			return nil, fmt.Errorf("oidc: Config.Issuer: %w", err)
		}
		p.issuer, p.issuerURL = strings.TrimSuffix(cfg.Issuer, "/"), u
		p.endpoint = p.issuer
	}
	if cfg.TokenURL != "" {
		method := cfg.AuthMethod
		if method == "" {
			method = tokenclient.ClientSecretBasic
		}
		c, err := tokenclient.New(p.tokenConfig(cfg.TokenURL, method))
		if err != nil {
			return nil, fmt.Errorf("oidc: Config.TokenURL: %w", err)
		}
		p.endpoint = c.Endpoint()
		p.resolved.Store(&resolved{client: c, tokenURL: c.Endpoint()})
	}
	return p, nil
}

// tokenConfig is the token client's configuration for tokenURL.
func (p *Provider) tokenConfig(tokenURL string, method tokenclient.AuthMethod) tokenclient.Config {
	return tokenclient.Config{
		Name:              "oidc",
		TokenURL:          tokenURL,
		AuthMethod:        method,
		Encoding:          tokenclient.Form,
		HTTPClient:        p.http,
		AllowInsecureHTTP: p.allowInsecure,
		AllowNonBearer:    p.allowNonBearer,
	}
}

// Endpoint returns Config.TokenURL when it was set, else Config.Issuer
// without a trailing slash. It never changes, discovery or not: the Manager
// keys its circuit breaker and admission limit by it, so all tenants of one
// server share them from the first request on. [Provider.TokenURL] returns
// the token endpoint itself.
func (p *Provider) Endpoint() string { return p.endpoint }

// TokenURL returns the token endpoint, discovering it first if needed (see
// [Provider.Exchange]). Errors are those of discovery.
func (p *Provider) TokenURL(ctx context.Context) (string, error) {
	r, err := p.resolve(ctx)
	if err != nil {
		return "", err
	}
	return r.tokenURL, nil
}

// Exchange performs one token request: the password, client_credentials or
// refresh_token grant (req.Grant, else req.Credentials.EffectiveGrant()), as
// an application/x-www-form-urlencoded POST with the client authenticated by
// the chosen AuthMethod, scope set to the space-separated Credentials.Scopes
// when there are any, and Credentials.EndpointParams added.
//
// A tenant that authenticates with a TLS client certificate
// (clientauth.CertificateAuthenticator) sends its requests to the
// document's mtls_endpoint_aliases.token_endpoint when it names one (RFC
// 8705 §5: Auth0 and Ping serve mutual TLS on a host of its own).
//
// With Config.Issuer, the first call discovers the token endpoint. Callers
// arriving meanwhile wait for that one discovery (or for their context); a
// success is kept for the Provider's lifetime; after a failure, calls fail
// fast with that failure's error, without a request, until a backoff (1 s,
// doubling to 5 min) has passed. Such errors match [ErrDiscovery].
//
// A request missing a field its grant needs, or with another grant, fails
// without I/O. The endpoint's refusals are *tenantauth.TokenError; no error
// contains a secret.
func (p *Provider) Exchange(ctx context.Context, req tenantauth.TokenRequest) (*tenantauth.Token, error) {
	r := p.resolved.Load()
	if r == nil {
		// A tenant record that cannot make a request is refused before it
		// causes a discovery.
		if _, err := tokenclient.CheckRequest("oidc", req); err != nil {
			return nil, err
		}
		var err error
		if r, err = p.resolve(ctx); err != nil {
			return nil, err
		}
	}
	if r.authOnly && req.Credentials.Auth == nil {
		return nil, errAuthOnly
	}
	if r.mtls != nil {
		if _, ok := req.Credentials.Auth.(clientauth.CertificateAuthenticator); ok {
			return r.mtls.Exchange(ctx, req)
		}
	}
	return r.client.Exchange(ctx, req)
}

// CloseIdleConnections closes the idle keep-alive connections of the
// Provider's HTTP client, and with them the goroutines that serve them. Call
// it when the Provider is retired. A client passed in Config shares its
// transport with the Provider, so its idle connections close too.
func (p *Provider) CloseIdleConnections() {
	p.http.CloseIdleConnections()
	if r := p.resolved.Load(); r != nil {
		r.client.CloseIdleConnections()
		if r.mtls != nil {
			r.mtls.CloseIdleConnections()
		}
	}
}

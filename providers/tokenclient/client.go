package tokenclient

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/tenantauth/tenantauth"
	"github.com/tenantauth/tenantauth/clientauth"
)

// Config configures a [Client]. Only TokenURL is required; every other zero
// value is a documented default.
type Config struct {
	// Name prefixes the Client's error messages ("oidc", "keycloak"), so
	// that a log line says which provider failed. Empty means
	// "tokenclient".
	Name string

	// TokenURL is the token endpoint. Required. It must be https unless
	// the host is loopback or AllowInsecureHTTP is set, and must carry no
	// user info, query or fragment (see [CheckEndpoint]): the request
	// carries the client secret and the user's password.
	TokenURL string

	// AuthMethod is how the client authenticates. Zero means
	// ClientSecretPost, which every server in tenantauth's scope accepts.
	AuthMethod AuthMethod

	// Encoding is the request body's format. Zero means Form, as RFC 6749
	// specifies.
	Encoding Encoding

	// HTTPClient sends the token requests. Nil means one client, built by
	// [NewHTTPClient] and shared by every Client and [Do] call without a
	// client of their own, so that the connections to one endpoint are
	// pooled however many Clients serve it. A client you pass is copied
	// with redirects refused ([Harden]); the client itself is not modified,
	// and its Timeout (zero: none) and transport are used as they are.
	HTTPClient *http.Client

	// AllowInsecureHTTP allows a plain http TokenURL on a host that is not
	// loopback. Zero (false) refuses it, with an error wrapping
	// tenantauth.ErrInsecureEndpoint.
	AllowInsecureHTTP bool

	// AllowNonBearer accepts tokens whose token_type is not Bearer (see
	// [ParseOptions]). Zero (false) refuses them with an error.
	AllowNonBearer bool

	// Now tells the time for a token's IssuedAt and Expiry and for
	// Retry-After dates. Nil means time.Now; tests set a fixed clock.
	Now func() time.Time
}

// A Client is a [tenantauth.Provider] for one token endpoint that speaks
// RFC 6749 in the way its [Config] says: the password, client_credentials
// and refresh_token grants, a form or JSON body, client authentication in
// the body or a Basic header. It holds no secret: credentials arrive with
// each request. It is safe for concurrent use, and holds no lock while a
// request is under way.
type Client struct {
	name           string
	endpoint       string
	client         *http.Client
	auth           AuthMethod
	enc            Encoding
	allowNonBearer bool
	now            func() time.Time
	// nonce holds the last DPoP-Nonce the endpoint sent (RFC 9449 §8),
	// for the next proof. A pointer, so that a Client can be copied (and
	// printed) without copying an atomic.
	nonce *atomic.Pointer[string]
	// certs holds the HTTP clients of tenants that authenticate with a
	// TLS client certificate, one per certificate.
	certs *certClients
}

var _ tenantauth.Provider = (*Client)(nil)

// New returns a Client for cfg. It checks the configuration and sends
// nothing: a bad TokenURL yields an error wrapping [ErrInvalidEndpoint] or
// tenantauth.ErrInsecureEndpoint, naming the URL only in redacted form; an
// unknown AuthMethod or Encoding is an error too.
func New(cfg Config) (*Client, error) {
	name := cfg.Name
	if name == "" {
		name = defaultName
	}
	switch {
	case !cfg.AuthMethod.valid():
		return nil, fmt.Errorf("%s: unknown Config.AuthMethod %q", name, string(cfg.AuthMethod))
	case cfg.Encoding != Form && cfg.Encoding != JSON:
		return nil, fmt.Errorf("%s: unknown Config.Encoding %v", name, cfg.Encoding)
	case cfg.TokenURL == "":
		return nil, fmt.Errorf("%s: Config.TokenURL is required: %w", name, ErrInvalidEndpoint)
	}
	u, err := CheckEndpoint(cfg.TokenURL, cfg.AllowInsecureHTTP)
	if err != nil {
		return nil, fmt.Errorf("%s: Config.TokenURL: %w", name, err)
	}
	c := &Client{
		name:           name,
		endpoint:       u.String(),
		client:         defaultClient(),
		auth:           cfg.AuthMethod,
		enc:            cfg.Encoding,
		allowNonBearer: cfg.AllowNonBearer,
		now:            cfg.Now,
		nonce:          new(atomic.Pointer[string]),
		certs:          newCertClients(),
	}
	if c.auth == "" {
		c.auth = ClientSecretPost
	}
	if cfg.HTTPClient != nil {
		c.client = Harden(cfg.HTTPClient)
	}
	return c, nil
}

// Endpoint returns the token URL as [CheckEndpoint] parsed it. It never
// changes: the Manager keys the endpoint's circuit breaker and admission
// limit by it.
func (c *Client) Endpoint() string { return c.endpoint }

// Exchange performs one token request for req and parses the answer: the
// password, client_credentials or refresh_token grant (req.Grant, else
// req.Credentials.EffectiveGrant()), built by [NewRequest] and sent by [Do].
// A request its grant cannot be built from fails without I/O (see
// [NewRequest]). The endpoint's refusals, an "error" member in a 200
// included, are *tenantauth.TokenError, with RetryAfter from a 429's or
// 5xx's Retry-After; texts the server sent are kept with the request's
// secrets redacted, and no error's text contains, or depends on, a secret.
// Exchange makes exactly one attempt: retrying is the Manager's job. The
// exception is DPoP (req.Credentials.DPoP set): every request then carries
// a fresh DPoP proof (RFC 9449 §5) with the endpoint's latest DPoP-Nonce,
// which the Client remembers; a 400 use_dpop_nonce with a DPoP-Nonce is
// retried once with a proof carrying that nonce (§8), and the token_type
// DPoP is accepted.
func (c *Client) Exchange(ctx context.Context, req tenantauth.TokenRequest) (*tenantauth.Token, error) {
	dp := req.Credentials.DPoP
	var nonce string
	if dp != nil && c.nonce != nil {
		if p := c.nonce.Load(); p != nil {
			nonce = *p
		}
	}
	tok, h, err := c.exchange(ctx, req, nonce)
	if dp == nil || c.nonce == nil {
		return tok, err
	}
	next, ok := clientauth.NonceFrom(h)
	if ok && next != nonce {
		c.nonce.Store(&next)
	}
	// RFC 9449 §8: the endpoint wants a proof with its nonce. Once only: a
	// server that keeps asking gets its error.
	var te *tenantauth.TokenError
	if err != nil && ok && errors.As(err, &te) && te.StatusCode == http.StatusBadRequest && te.Code == "use_dpop_nonce" {
		tok, h, err = c.exchange(ctx, req, next)
		if n, ok := clientauth.NonceFrom(h); ok && n != next {
			c.nonce.Store(&n)
		}
	}
	return tok, err
}

// exchange performs one token request, with a DPoP proof carrying nonce
// when req's credentials have a DPoP key, and returns the answer's header.
func (c *Client) exchange(ctx context.Context, req tenantauth.TokenRequest, nonce string) (*tenantauth.Token, http.Header, error) {
	now := time.Now
	if c.now != nil {
		now = c.now
	}
	at := now()
	hr, assertion, err := newRequestAt(ctx, c.name, c.endpoint, req, c.auth, c.enc, at)
	if err != nil {
		return nil, nil, err
	}
	dp := req.Credentials.DPoP
	if dp != nil {
		// RFC 9449 §4.2: htm POST, htu the token URL, no ath.
		proof, err := dp.Proof(http.MethodPost, c.endpoint, "", nonce, at)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: DPoP proof: %w", c.name, err)
		}
		hr.Header.Set("DPoP", proof)
	}
	secrets := RequestSecrets(req)
	if assertion != "" {
		secrets = append(secrets, assertion) // a bearer credential until it expires
	}
	if p := hr.Header.Get("DPoP"); p != "" {
		secrets = append(secrets, tenantauth.Secret(p)) // a server may echo it in an error
	}
	client := c.client
	if ca, ok := req.Credentials.Auth.(clientauth.CertificateAuthenticator); ok {
		if c.certs == nil {
			return nil, nil, fmt.Errorf("%s: Client not made by New: %w: %w", c.name, ErrCertificateTransport, tenantauth.ErrIncompleteCredentials)
		}
		if client, err = c.certs.client(c.name, c.client, ca); err != nil {
			return nil, nil, err
		}
	}
	return do(ctx, client, hr, Dialect{
		Name: c.name,
		Options: ParseOptions{
			AllowNonBearer: c.allowNonBearer,
			AllowDPoP:      dp != nil,
			Secrets:        secrets,
		},
		Now: c.now,
	})
}

// CloseIdleConnections closes the idle keep-alive connections of the
// Client's HTTP client, and with them the goroutines that serve them; call
// it when the Client is retired. Connections in use are not affected. The
// transport is shared with the client passed in Config.HTTPClient, or, for
// a Client without one, with every other such Client: their idle
// connections close too, and are reopened when next needed.
//
// The Client's own connections for tenants that authenticate with a TLS
// client certificate close too.
func (c *Client) CloseIdleConnections() {
	c.client.CloseIdleConnections()
	if c.certs != nil {
		c.certs.closeIdle()
	}
}

package tenantauthtest

import (
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Config configures a stand-in token server. The zero value is usable: one
// client "client" with secret "secret", one user "user@example.com" with
// password "password", one-hour tokens, no refresh tokens, plain HTTP.
//
// The server copies the maps: changing them after the server started has no
// effect.
type Config struct {
	// Realm is the Keycloak realm in the token URL. Passport and the
	// standard server ignore it. Zero means "fluencypass".
	Realm string

	// Clients maps client_id to client_secret. Nil means
	// {"client": "secret"}.
	Clients map[string]string

	// Users maps username to password, for the password grant. Nil means
	// {"user@example.com": "password"}.
	Users map[string]string

	// TokenLifetime is the access tokens' lifetime, sent as expires_in. It
	// is rounded down to whole seconds, at least 1 s, and the server enforces
	// exactly the lifetime it announces. Zero means 1 hour. See also
	// [Server.SetTokenLifetime].
	TokenLifetime time.Duration

	// RefreshTokens makes the password grant issue refresh tokens. Keycloak
	// never issues one on client_credentials (as the real server, by
	// default); Passport never does either (as league/oauth2-server), nor
	// does the standard server (RFC 6749 §4.4.3). Zero means no refresh
	// tokens, as Fluencypass (refresh_expires_in 0).
	RefreshTokens bool

	// RotateRefreshTokens makes a Keycloak or standard refresh token
	// single-use, as Keycloak with "Revoke Refresh Token" on and a maximum
	// reuse of 0, or Auth0 and Okta with rotation on: every refresh returns
	// a new refresh token, and a second use of the old one answers 400
	// invalid_grant, is counted in Stats.RefreshReuse, and ends the session
	// (the token family), so the token issued by the first use stops
	// working too. Without it a Keycloak refresh returns a new refresh token
	// and the old one keeps working; a standard refresh returns none, and
	// the client keeps using the one it has, as Auth0 without rotation.
	// Passport always rotates, whatever this says: a refresh revokes the old
	// refresh token and the old access token, as league/oauth2-server does.
	RotateRefreshTokens bool

	// RefreshTokenLifetime is the refresh tokens' lifetime (Keycloak sends
	// it as refresh_expires_in; Passport and the standard server do not
	// announce it). Zero means 30 minutes for Keycloak (its default SSO
	// session idle timeout) and 30 days for Passport and the standard
	// server.
	RefreshTokenLifetime time.Duration

	// TokenType is the token_type sent in token responses. Zero means
	// "Bearer"; set "bearer" to test a client against servers that send it
	// in lower case. The API accepts the Bearer scheme in any case.
	TokenType string

	// Latency is added before every token response, errors and failures
	// included, capacity refusals excepted. It is real time, even with a
	// Clock. With a Capacity it is the service time: a request holds its
	// slot while it waits. See also [Server.SetLatency].
	Latency time.Duration

	// Capacity limits the token requests served at once, to simulate an
	// overloaded identity provider; see [Capacity]. The zero value sets no
	// limit. See also [Server.SetCapacity].
	Capacity Capacity

	// DisablePasswordGrant refuses the password grant. Passport answers
	// 400 unsupported_grant_type (Passport 12 ships with the password grant
	// off); Keycloak answers 400 unauthorized_client, as for a client with
	// "Direct access grants" disabled, and so does the standard server
	// (RFC 6749 §5.2), which still lists the grant in its discovery
	// documents: the client, not the server, lacks it.
	DisablePasswordGrant bool

	// AuthMethod is how clients of the standard server authenticate at its
	// token endpoint: "client_secret_basic" (HTTP Basic with the client ID
	// and secret each form-urlencoded first, RFC 6749 §2.3.1) or
	// "client_secret_post" (client_id and client_secret in the body). The
	// other method, or both at once (RFC 6749 §2.3), is refused with 401
	// invalid_client; the discovery documents list only this one. Zero
	// means "client_secret_basic", the default of RFC 8414 and OpenID
	// Connect Discovery. "tls_client_auth" accepts only a TLS client
	// certificate listed in ClientCertificates. "private_key_jwt" and
	// "client_secret_jwt" accept only a signed client assertion (RFC 7523:
	// client_assertion_type and client_assertion, with client_id in the
	// body), verified with the
	// client's key in ClientKeys or its secret in Clients (HS256): the
	// audience must be the token URL or the issuer, exp in the future, iat
	// not too old, and each jti is accepted once (a replay is refused).
	// [NewStandard] panics on any other value. Keycloak and Passport ignore
	// it and accept both secret methods, as the real servers.
	AuthMethod string

	// ClientKeys maps client_id to the public keys of its private_key_jwt
	// assertions (standard server). A client may be listed here and not
	// in Clients.
	ClientKeys map[string][]crypto.PublicKey

	// ClientCertificates maps client_id to the TLS client certificates it
	// may authenticate with when AuthMethod is "tls_client_auth" (standard
	// server, which then needs TLS): the token request must carry client_id
	// and no secret or assertion, on a connection whose client presented
	// one of these certificates in the handshake (compared byte for byte,
	// as self_signed_tls_client_auth does; the stand-in has no CA). The
	// server asks every client for a certificate and requires none, so its
	// API and other clients still work. A client may be listed here and
	// not in Clients.
	ClientCertificates map[string][]*x509.Certificate

	// RequireParams are parameters every token request to the standard
	// server must carry with exactly the given value, whatever the grant,
	// refreshes included: Auth0's audience, say, or RFC 8707's resource. A
	// request that lacks one, or sends another value, is refused with 400
	// invalid_request and an error_description that names the parameter
	// but not the value sent or expected. (Auth0 answers 403 access_denied;
	// the stand-in answers as RFC 6749 §5.2 prescribes for a missing or
	// unsupported parameter value.) The check comes after client
	// authentication and the grant_type check. Nil requires none. Keycloak
	// and Passport ignore it, as the real servers ignore parameters they do
	// not know.
	RequireParams map[string]string

	// DiscoveryIssuer replaces the issuer the standard server's discovery
	// documents announce, to test that a client refuses a document whose
	// issuer is not the one it asked (OpenID Connect Discovery §4.3, RFC
	// 8414 §3.3). [Server.Issuer] still returns the real one. Zero means
	// the real issuer, [Server.Issuer]. Keycloak and Passport ignore it.
	DiscoveryIssuer string

	// DisableOIDCDiscovery makes the standard server answer 404 at
	// /.well-known/openid-configuration, as a plain OAuth 2.0 server does,
	// so that a client must fall back to RFC 8414's
	// /.well-known/oauth-authorization-server, which still answers. Keycloak
	// and Passport serve no discovery documents at all.
	DisableOIDCDiscovery bool

	// DPoP makes the standard server support DPoP (RFC 9449): a token
	// request with a DPoP header must carry one valid proof (htm POST, htu
	// the token URL, no ath, a jti never seen before) or is refused with
	// 400 invalid_dpop_proof; its token is bound to the proof's key
	// (token_type "DPoP"). The API then wants "Authorization: DPoP …" and a
	// valid proof of the same key for the request (htm, htu, ath, fresh
	// jti), and answers 401 with WWW-Authenticate: DPoP
	// error="invalid_dpop_proof" otherwise (error="invalid_token" for a bound
	// token sent as Bearer). A token request without a DPoP header still
	// gets a Bearer token. A refresh token issued to a proof is refreshed
	// only with a proof of the same key (400 invalid_dpop_proof otherwise:
	// strict, as RFC 9449 §5 is for public clients), so a client that loses
	// or changes its key between grant and refresh is caught. Keycloak and
	// Passport ignore it.
	DPoP bool

	// DPoPNonce, with DPoP, is the nonce every proof must carry (RFC 9449
	// §8, §9): a proof without it, or with another, is answered with a
	// DPoP-Nonce header holding it, and 400 use_dpop_nonce at the token
	// endpoint or 401 with WWW-Authenticate: DPoP error="use_dpop_nonce"
	// at the API. Empty requires no nonce.
	DPoPNonce string

	// TLS serves HTTPS with a self-signed certificate. Use [Server.Client],
	// which trusts it; other clients fail the handshake. The server asks
	// clients for a certificate (tls.RequestClientCert) and requires none.
	TLS bool

	// Clock tells the server the time, for token expiry. Share a fake clock
	// with the code under test (any tenantauth.Clock fits) to expire tokens
	// without sleeping. Nil means the system clock.
	Clock interface{ Now() time.Time }
}

// Server is a running stand-in token server with a protected API. Create one
// with [NewKeycloak], [NewPassport] or [NewStandard] and stop it with
// [Server.Close].
//
// All methods are safe for concurrent use, also with requests in flight.
type Server struct {
	// URL is the base URL, e.g. "http://127.0.0.1:41234", without a
	// trailing slash.
	URL string

	dialect   dialect
	ts        *httptest.Server
	tokenPath string // path of the token endpoint, unescaped
	tokenURL  string
	issuer    string            // empty: no discovery
	wellKnown map[string][]byte // discovery path → document; a nil document answers 404

	clients              map[string]string
	users                map[string]string
	tokenType            string
	refreshTokens        bool
	rotate               bool
	refreshLifetime      time.Duration
	disablePasswordGrant bool
	clock                interface{ Now() time.Time }
	dpop                 bool
	dpopNonce            string

	dpopMu   sync.Mutex
	dpopJTIs map[string]bool // jtis of the DPoP proofs accepted: each is accepted once

	latency  atomic.Int64 // time.Duration
	lifetime atomic.Int64 // time.Duration
	inflight atomic.Int64 // token requests in progress

	closing   chan struct{} // closed by Close: hung and waiting handlers give up
	closeOnce sync.Once

	mu        sync.Mutex
	store     store
	failures  []pendingFailure
	rejectAPI int
	capacity  Capacity
	inService int // token requests admitted and not yet answered
	stats     Stats
}

// Default credentials of a zero Config.
const (
	DefaultClientID     = "client"
	DefaultClientSecret = "secret"
	DefaultUsername     = "user@example.com"
	DefaultPassword     = "password"
)

// maxBody bounds the token request bodies the server reads; real servers
// refuse larger ones too (PHP's post_max_size, Keycloak's form limits).
const maxBody = 1 << 20

// NewKeycloak starts a Keycloak stand-in. Its token endpoint is
// POST {URL}/realms/{Realm}/protocol/openid-connect/token, with an
// application/x-www-form-urlencoded body and the client authenticated in the
// body (client_secret_post) or with HTTP Basic (client_secret_basic).
// It supports the password, client_credentials and refresh_token grants.
func NewKeycloak(cfg Config) *Server {
	realm := cfg.Realm
	if realm == "" {
		realm = "fluencypass"
	}
	k := &keycloak{realm: realm}
	s := newServer(cfg, k, "/realms/"+realm+"/protocol/openid-connect/token",
		"/realms/"+url.PathEscape(realm)+"/protocol/openid-connect/token", 30*time.Minute)
	s.start(cfg.TLS)
	return s
}

// NewPassport starts a Laravel Passport stand-in. Its token endpoint is
// POST {URL}/oauth/token, with a JSON body as in the HubSoft documentation
// (client_id may be a JSON string or number) or a form body, and the client
// authenticated in the body or with HTTP Basic, as league/oauth2-server
// accepts. It supports the password, client_credentials and refresh_token
// grants.
func NewPassport(cfg Config) *Server {
	s := newServer(cfg, passport{}, "/oauth/token", "/oauth/token", 30*24*time.Hour)
	s.start(cfg.TLS)
	return s
}

// NewStandard starts a stand-in for a standard OAuth 2.0 authorization
// server, as Auth0, Amazon Cognito or Okta are underneath their
// differences. Its token endpoint is POST {URL}/oauth2/token, with an
// application/x-www-form-urlencoded body only; the client authenticates
// with the one method [Config].AuthMethod names (HTTP Basic by default);
// [Config].RequireParams adds parameters every token request must carry,
// such as Auth0's audience; errors are RFC 6749 §5.2 JSON documents, 400 or,
// for a failed client authentication, 401 invalid_client. It supports the
// password, client_credentials and refresh_token grants and echoes the
// requested scope.
//
// Its issuer is [Server.Issuer], {URL}, and it serves its metadata at
// GET {URL}/.well-known/openid-configuration (OpenID Connect Discovery 1.0)
// and GET {URL}/.well-known/oauth-authorization-server (RFC 8414), the same
// JSON document: issuer, token_endpoint,
// token_endpoint_auth_methods_supported (the one method),
// grant_types_supported and response_types_supported. Discovery requests are
// counted in [Stats].Discovery; they are not token requests, so no latency,
// capacity limit or injected failure applies to them.
//
// The API at [Server.APIURL] answers 401 with an empty body and only the
// RFC 6750 WWW-Authenticate header.
//
// NewStandard panics if Config.AuthMethod is not one it knows, or is
// "tls_client_auth" without Config.TLS.
func NewStandard(cfg Config) *Server {
	d := newStandard(cfg)
	s := newServer(cfg, d, standardTokenPath, standardTokenPath, 30*24*time.Hour)
	s.issuer = s.URL
	issuer := cfg.DiscoveryIssuer
	if issuer == "" {
		issuer = s.issuer
	}
	s.wellKnown = discoveryDocuments(issuer, s.tokenURL, d.authMethod, !cfg.DisableOIDCDiscovery)
	s.start(cfg.TLS)
	return s
}

// newServer prepares a server that listens but does not serve yet: its URL
// is known, so that a constructor can finish the fields its handlers read
// before [Server.start] starts them.
func newServer(cfg Config, d dialect, tokenPath, escapedTokenPath string, defaultRefresh time.Duration) *Server {
	s := &Server{
		dialect:              d,
		tokenPath:            tokenPath,
		clients:              copyMap(cfg.Clients, DefaultClientID, DefaultClientSecret),
		users:                copyMap(cfg.Users, DefaultUsername, DefaultPassword),
		tokenType:            cfg.TokenType,
		refreshTokens:        cfg.RefreshTokens,
		rotate:               cfg.RotateRefreshTokens,
		refreshLifetime:      cfg.RefreshTokenLifetime,
		disablePasswordGrant: cfg.DisablePasswordGrant,
		clock:                cfg.Clock,
		closing:              make(chan struct{}),
		store:                newStore(),
		capacity:             cfg.Capacity,
		dpop:                 cfg.DPoP,
		dpopNonce:            cfg.DPoPNonce,
		dpopJTIs:             map[string]bool{},
	}
	if s.tokenType == "" {
		s.tokenType = "Bearer"
	}
	if s.refreshLifetime <= 0 {
		s.refreshLifetime = defaultRefresh
	}
	if s.clock == nil {
		s.clock = systemClock{}
	}
	s.SetLatency(cfg.Latency)
	s.SetTokenLifetime(cfg.TokenLifetime)
	s.stats = newStats()

	// The listener exists already; Start and StartTLS derive their URL
	// from it the same way.
	s.ts = httptest.NewUnstartedServer(http.HandlerFunc(s.serveHTTP))
	scheme := "http://"
	if cfg.TLS {
		scheme = "https://"
	}
	s.URL = scheme + s.ts.Listener.Addr().String()
	s.tokenURL = s.URL + escapedTokenPath
	return s
}

// start serves. Fields the handlers read must be set before.
func (s *Server) start(useTLS bool) {
	if useTLS {
		// Ask for a client certificate (tls_client_auth); require none.
		s.ts.TLS = &tls.Config{ClientAuth: tls.RequestClientCert}
		s.ts.StartTLS()
	} else {
		s.ts.Start()
	}
	if s.ts.URL != s.URL {
		s.ts.Close()
		panic("tenantauthtest: httptest serves at " + s.ts.URL + ", not at " + s.URL)
	}
}

func copyMap(m map[string]string, k, v string) map[string]string {
	if m == nil {
		return map[string]string{k: v}
	}
	c := make(map[string]string, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// Close stops the server. Requests in progress end first: hung ones
// (Failure.Hang) and ones waiting out the latency lose their connection
// without an answer. Close blocks until every handler has returned and
// leaves no goroutine of the server behind. Calling it again does nothing.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		close(s.closing)
		s.ts.Close()
	})
}

// TokenURL returns the token endpoint's URL.
func (s *Server) TokenURL() string { return s.tokenURL }

// Issuer returns the issuer identifier of a standard server ([NewStandard]):
// its URL, so that its discovery documents are at
// Issuer()+"/.well-known/openid-configuration" (OpenID Connect Discovery
// §4) and Issuer()+"/.well-known/oauth-authorization-server" (RFC 8414 §3,
// an issuer without a path). [Config].DiscoveryIssuer changes what the
// documents announce, not this. Keycloak and Passport stand-ins serve no
// discovery documents: Issuer returns "".
func (s *Server) Issuer() string { return s.issuer }

// APIURL returns the protected API's base URL, {URL}/api. Any method on
// any path below it answers 200 with a JSON description of the caller
// when the request carries "Authorization: Bearer <token>" with an unexpired,
// unrevoked access token this server issued, and 401 otherwise.
func (s *Server) APIURL() string { return s.URL + "/api" }

// Client returns an HTTP client for the server. With Config.TLS it trusts
// the server's certificate. Close closes its idle connections.
func (s *Server) Client() *http.Client { return s.ts.Client() }

// SetLatency sets the delay added before every token response from now on,
// capacity refusals excepted. Negative means none.
func (s *Server) SetLatency(d time.Duration) { s.latency.Store(int64(max(d, 0))) }

// SetTokenLifetime sets the lifetime of access tokens issued from now on;
// tokens already issued keep theirs. Zero means 1 hour; see
// Config.TokenLifetime for the rounding.
func (s *Server) SetTokenLifetime(d time.Duration) { s.lifetime.Store(int64(d)) }

// expiresIn returns the announced and enforced lifetime of a new token.
func (s *Server) expiresIn() int64 {
	d := time.Duration(s.lifetime.Load())
	if d == 0 {
		d = time.Hour
	}
	return max(int64(d/time.Second), 1)
}

// Revoke revokes one access token, as an administrator revoking it in the
// real server. It reports whether the token was issued by this server and
// still valid.
func (s *Server) Revoke(accessToken string) bool {
	now := s.clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.store.revokeAccess(accessToken, now)
}

// RevokeAll revokes every access and refresh token issued so far, as
// HubSoft does during an upgrade ("all tokens are dropped"). Clients must
// then run the full grant again. It returns how many access tokens were still
// valid.
func (s *Server) RevokeAll() int {
	now := s.clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.store.revokeAll(now)
}

// RejectAPI makes the next n API requests answer 401 even with a valid
// token, as an API that refuses fresh tokens. n <= 0 cancels rejections not
// yet used.
func (s *Server) RejectAPI(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rejectAPI = max(n, 0)
}

// serveHTTP routes: the token endpoint, the API, the discovery documents,
// 404 for the rest.
func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	if doc, ok := s.wellKnown[p]; ok {
		s.serveDiscovery(w, r, doc)
		return
	}
	switch {
	case p == s.tokenPath:
		s.serveToken(w, r)
	case p == "/api" || strings.HasPrefix(p, "/api/"):
		s.serveAPI(w, r)
	default:
		http.NotFound(w, r)
	}
}

// serveToken is the part of the token endpoint every dialect shares:
// counting, capacity, latency and injected failures. The dialect does the
// rest.
func (s *Server) serveToken(w http.ResponseWriter, r *http.Request) {
	defer s.inflight.Add(-1)
	n := s.inflight.Add(1)

	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	req := s.dialect.parse(r, body)
	admitted, refusal, fail, failing := s.countTokenRequest(n, req)
	if !admitted {
		s.serveFailure(w, r, refusal)
		return
	}
	defer s.release() // also when abort panics

	if !s.pause(r.Context(), time.Duration(s.latency.Load())) {
		abort()
	}
	switch {
	case failing:
		s.serveFailure(w, r, fail)
	case err != nil:
		// The client went away while sending; nobody reads an answer.
		abort()
	case len(body) > maxBody:
		s.tokenReply(w, http.StatusRequestEntityTooLarge, nil,
			errorBody{Error: "invalid_request", Description: "request body too large"})
	default:
		s.dialect.token(s, w, r, req)
	}
}

// countTokenRequest updates the statistics for one token request and
// admits it or not. An admitted request takes the next injected failure, if
// any, in arrival order; a refused one gets the refusal to send.
func (s *Server) countTokenRequest(inflight int64, req *tokenRequest) (admitted bool, refusal, fail Failure, failing bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := &s.stats
	st.TokenRequests++
	st.MaxConcurrentTokenRequests = max(st.MaxConcurrentTokenRequests, int(inflight))
	if req.grant != "" {
		st.ByGrant[req.grant]++
	}
	if req.clientID != "" {
		st.ByClient[req.clientID]++
	}
	if req.grant == "password" && req.username != "" {
		st.ByUser[req.username]++
	}
	if !s.admitLocked() {
		return false, s.capacity.refusal(), Failure{}, false
	}
	fail, failing = s.takeFailureLocked()
	return true, Failure{}, fail, failing
}

// pause waits d, or until the request is cancelled or the server closes.
// It reports whether the full delay passed.
func (s *Server) pause(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-s.closing:
		return false
	}
}

// abort ends the handler without an answer: net/http closes the connection
// and, for this sentinel, logs nothing.
func abort() { panic(http.ErrAbortHandler) }

// tokenReply writes a token endpoint answer and counts the errors.
func (s *Server) tokenReply(w http.ResponseWriter, status int, header http.Header, body any) {
	if status != http.StatusOK {
		s.mu.Lock()
		s.stats.TokenErrors++
		s.mu.Unlock()
	}
	writeJSON(w, status, header, body)
}

package tenantauthtest

import (
	"context"
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
	// Realm is the Keycloak realm in the token URL. Passport ignores it.
	// Zero means "fluencypass".
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
	// default); Passport never does either (as league/oauth2-server). Zero
	// means no refresh tokens, as Fluencypass (refresh_expires_in 0).
	RefreshTokens bool

	// RotateRefreshTokens makes a Keycloak refresh token single-use, as
	// Keycloak with "Revoke Refresh Token" on and a maximum reuse of 0: a
	// second use answers 400 invalid_grant, is counted in
	// Stats.RefreshReuse, and ends the session, so the token issued by the
	// first use stops working too. Passport always rotates, whatever this
	// says: a refresh revokes the old refresh token and the old access
	// token, as league/oauth2-server does.
	RotateRefreshTokens bool

	// RefreshTokenLifetime is the refresh tokens' lifetime (Keycloak sends
	// it as refresh_expires_in). Zero means 30 minutes for Keycloak (its
	// default SSO session idle timeout) and 30 days for Passport.
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
	// "Direct access grants" disabled.
	DisablePasswordGrant bool

	// TLS serves HTTPS with a self-signed certificate. Use [Server.Client],
	// which trusts it; other clients fail the handshake.
	TLS bool

	// Clock tells the server the time, for token expiry. Share a fake clock
	// with the code under test (any tenantauth.Clock fits) to expire tokens
	// without sleeping. Nil means the system clock.
	Clock interface{ Now() time.Time }
}

// Server is a running stand-in token server with a protected API. Create one
// with [NewKeycloak] or [NewPassport] and stop it with [Server.Close].
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

	clients              map[string]string
	users                map[string]string
	tokenType            string
	refreshTokens        bool
	rotate               bool
	refreshLifetime      time.Duration
	disablePasswordGrant bool
	clock                interface{ Now() time.Time }

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
	return newServer(cfg, k, "/realms/"+realm+"/protocol/openid-connect/token",
		"/realms/"+url.PathEscape(realm)+"/protocol/openid-connect/token", 30*time.Minute)
}

// NewPassport starts a Laravel Passport stand-in. Its token endpoint is
// POST {URL}/oauth/token, with a JSON body as in the HubSoft documentation
// (client_id may be a JSON string or number) or a form body, and the client
// authenticated in the body or with HTTP Basic, as league/oauth2-server
// accepts. It supports the password, client_credentials and refresh_token
// grants.
func NewPassport(cfg Config) *Server {
	return newServer(cfg, passport{}, "/oauth/token", "/oauth/token", 30*24*time.Hour)
}

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

	s.ts = httptest.NewUnstartedServer(http.HandlerFunc(s.serveHTTP))
	if cfg.TLS {
		s.ts.StartTLS()
	} else {
		s.ts.Start()
	}
	s.URL = s.ts.URL
	s.tokenURL = s.URL + escapedTokenPath
	return s
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

// serveHTTP routes: the token endpoint, the API, 404 for the rest.
func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	switch {
	case p == s.tokenPath:
		s.serveToken(w, r)
	case p == "/api" || strings.HasPrefix(p, "/api/"):
		s.serveAPI(w, r)
	default:
		http.NotFound(w, r)
	}
}

// serveToken is the part of the token endpoint both dialects share:
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

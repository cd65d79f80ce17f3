package stacktest

import (
	"encoding/json"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tenantauth/tenantauth"
)

// A dialect is a token endpoint's wire format.
type dialect int

const (
	// keycloakDialect: POST /realms/{realm}/protocol/openid-connect/token,
	// application/x-www-form-urlencoded, client credentials in the form.
	keycloakDialect dialect = iota
	// passportDialect: POST /oauth/token with a JSON body.
	passportDialect
)

var dialects = []dialect{keycloakDialect, passportDialect}

func (d dialect) String() string {
	if d == passportDialect {
		return "passport"
	}
	return "keycloak"
}

// testRealm is the Keycloak realm of every Keycloak-style server.
const testRealm = "acme"

func (d dialect) tokenPath() string {
	if d == passportDialect {
		return "/oauth/token"
	}
	return "/realms/" + testRealm + "/protocol/openid-connect/token"
}

// Every secret a test creates carries one of these markers at both ends, so
// that the recorder finds a leak by looking for the markers alone, in any
// amount of output. Nothing else the tests produce contains "ZQ9X".
const (
	markAny          = "ZQ9X"
	markClientSecret = "ZQ9XLEAKCS"
	markPassword     = "ZQ9XLEAKPW"
	markAccess       = "ZQ9XLEAKAT"
	markRefresh      = "ZQ9XLEAKRT"
)

// secretValue returns a distinctive secret of the given kind.
func secretValue(mark string) string {
	return mark + "_" + strconv.FormatUint(rand.Uint64(), 16) + "_" + mark
}

// An account is one tenant's client and user at a token server.
type account struct {
	tenant   string
	clientID string
	secret   string
	username string
	password string
	grant    tenantauth.Grant
}

func newAccount(tenant string, grant tenantauth.Grant) account {
	return account{
		tenant:   tenant,
		clientID: "cid-" + tenant,
		secret:   secretValue(markClientSecret),
		username: "user-" + tenant + "@example.com",
		password: secretValue(markPassword),
		grant:    grant,
	}
}

func (a account) credentials() tenantauth.Credentials {
	c := tenantauth.Credentials{
		Grant:        a.grant,
		ClientID:     a.clientID,
		ClientSecret: tenantauth.Secret(a.secret),
	}
	if a.grant == tenantauth.GrantPassword {
		c.Username = a.username
		c.Password = tenantauth.Secret(a.password)
	}
	return c
}

// A registry knows every access token the token servers issued, whose it is
// and until when it is valid. The API server consults it.
type registry struct {
	mu     sync.Mutex
	tokens map[string]*issuedToken
}

type issuedToken struct {
	tenant  string
	expiry  time.Time
	revoked bool
}

func newRegistry() *registry { return &registry{tokens: make(map[string]*issuedToken)} }

func (r *registry) add(tok, tenant string, expiry time.Time) {
	r.mu.Lock()
	r.tokens[tok] = &issuedToken{tenant: tenant, expiry: expiry}
	r.mu.Unlock()
}

func (r *registry) lookup(tok string) (issuedToken, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	it, ok := r.tokens[tok]
	if !ok {
		return issuedToken{}, false
	}
	return *it, true
}

// revokeTenant revokes every token of tenant and returns how many.
func (r *registry) revokeTenant(tenant string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, it := range r.tokens {
		if it.tenant == tenant && !it.revoked {
			it.revoked = true
			n++
		}
	}
	return n
}

// sweep forgets tokens that expired before cutoff, so that a long soak's
// registry stays flat.
func (r *registry) sweep(cutoff time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for k, it := range r.tokens {
		if it.expiry.Before(cutoff) {
			delete(r.tokens, k)
		}
	}
}

// A responder answers one token request instead of the healthy server. It
// may call c.healthy() to answer normally after all.
type responder func(c *call)

// tokenServer is a fault-injecting token endpoint on 127.0.0.1 speaking one
// dialect. It checks every request as the real server would (path, content
// type, client secret, user's password, refresh token) before any fault is
// applied, and counts what it saw.
type tokenServer struct {
	dialect  dialect
	srv      *httptest.Server
	reg      *registry
	accounts map[string]account // by client ID; read-only once serving
	lifetime atomic.Int64       // expires_in sent, in seconds
	refresh  bool               // issue refresh tokens (Passport does)

	respond atomic.Pointer[responder] // nil: healthy

	quit      chan struct{} // closed by close: hung handlers give up
	closeOnce sync.Once

	requests    atomic.Int64 // every request
	issued      atomic.Int64 // tokens issued
	faults      atomic.Int64 // requests a responder answered
	badRequests atomic.Int64 // requests a real server would refuse

	mu            sync.Mutex
	perTenant     map[string]*tenantCounts
	refreshTokens map[string]string // live refresh token → client ID
	lastRefresh   map[string]string // client ID → its live refresh token
	// Rotated-out refresh tokens, in two generations (see sweep) so that a
	// long soak's memory stays flat.
	usedRefresh, usedRefreshOld map[string]bool
	// replacedRefresh: refresh tokens dropped because the client got a
	// newer one from another grant, in two generations too.
	replacedRefresh, replacedRefreshOld map[string]bool
	refreshReuse                        int         // a rotated-out refresh token used again
	refreshStale                        int         // a refresh token replaced by a newer grant used
	refreshUnknown                      int         // a refresh token never issued (or long forgotten) used
	arrivals                            []time.Time // of every request, for Retry-After checks; capped
}

type tenantCounts struct {
	requests, issued     int
	inflight, maxInflght int
}

type tokenServerConfig struct {
	dialect  dialect
	reg      *registry
	accounts []account
	lifetime time.Duration // zero: 1 hour
	tls      bool
}

func newTokenServer(t testing.TB, cfg tokenServerConfig) *tokenServer {
	t.Helper()
	s := &tokenServer{
		dialect:         cfg.dialect,
		reg:             cfg.reg,
		accounts:        make(map[string]account, len(cfg.accounts)),
		refresh:         cfg.dialect == passportDialect,
		quit:            make(chan struct{}),
		perTenant:       make(map[string]*tenantCounts, len(cfg.accounts)),
		refreshTokens:   make(map[string]string),
		lastRefresh:     make(map[string]string),
		usedRefresh:     make(map[string]bool),
		replacedRefresh: make(map[string]bool),
	}
	for _, a := range cfg.accounts {
		s.accounts[a.clientID] = a
		s.perTenant[a.tenant] = &tenantCounts{}
	}
	lt := cfg.lifetime
	if lt == 0 {
		lt = time.Hour
	}
	s.lifetime.Store(int64(lt / time.Second))
	s.srv = httptest.NewUnstartedServer(s)
	// A TLS server logs every refused handshake; the refusals are the point.
	s.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	if cfg.tls {
		s.srv.StartTLS()
	} else {
		s.srv.Start()
	}
	t.Cleanup(s.close)
	return s
}

// URL is the server's base URL.
func (s *tokenServer) URL() string { return s.srv.URL }

// setResponder makes every later request go to r (nil: healthy).
func (s *tokenServer) setResponder(r responder) {
	if r == nil {
		s.respond.Store(nil)
		return
	}
	s.respond.Store(&r)
}

func (s *tokenServer) close() {
	s.closeOnce.Do(func() {
		close(s.quit)
		s.srv.CloseClientConnections()
		s.srv.Close()
	})
}

func (s *tokenServer) tenantRequests(tenant string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.perTenant[tenant]; c != nil {
		return c.requests
	}
	return 0
}

func (s *tokenServer) snapshot() map[string]tenantCounts {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := make(map[string]tenantCounts, len(s.perTenant))
	for k, v := range s.perTenant {
		m[k] = *v
	}
	return m
}

func (s *tokenServer) arrivalTimes() []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Time(nil), s.arrivals...)
}

// sweep starts a new generation of rotated-out refresh tokens; reuse is
// detected within two generations.
func (s *tokenServer) sweep() {
	s.mu.Lock()
	s.usedRefreshOld, s.usedRefresh = s.usedRefresh, make(map[string]bool)
	s.replacedRefreshOld, s.replacedRefresh = s.replacedRefresh, make(map[string]bool)
	s.mu.Unlock()
}

// refreshRefusals returns how many refresh requests were refused, by
// reason: reuse of a rotated-out token, use of a token a newer grant
// replaced, use of an unknown token.
func (s *tokenServer) refreshRefusals() (reuse, stale, unknown int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refreshReuse, s.refreshStale, s.refreshUnknown
}

// ServeHTTP implements http.Handler.
func (s *tokenServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	if r.Method != http.MethodPost || r.URL.Path != s.dialect.tokenPath() {
		s.badRequests.Add(1)
		http.NotFound(w, r)
		return
	}
	params, ok := s.parse(r)
	if !ok {
		s.badRequests.Add(1)
		writeRaw(w, http.StatusBadRequest, nil, `{"error":"invalid_request"}`)
		return
	}
	acct, known := s.accounts[params["client_id"]]
	if !known || params["client_secret"] != acct.secret {
		s.badRequests.Add(1)
		writeRaw(w, http.StatusUnauthorized, nil, `{"error":"invalid_client"}`)
		return
	}
	grant := params["grant_type"]
	switch grant {
	case string(tenantauth.GrantPassword):
		ok = params["username"] == acct.username && params["password"] == acct.password
	case string(tenantauth.GrantClientCredentials):
		ok = true
	case string(tenantauth.GrantRefreshToken):
		ok = params["refresh_token"] != ""
	default:
		ok = false
	}
	if !ok {
		s.badRequests.Add(1)
		writeRaw(w, http.StatusBadRequest, nil, `{"error":"invalid_grant"}`)
		return
	}

	s.mu.Lock()
	tc := s.perTenant[acct.tenant]
	tc.requests++
	tc.inflight++
	tc.maxInflght = max(tc.maxInflght, tc.inflight)
	if len(s.arrivals) < 1024 {
		s.arrivals = append(s.arrivals, time.Now())
	}
	s.mu.Unlock()

	c := &call{w: w, r: r, s: s, acct: acct, grant: grant, params: params}
	defer func() {
		// Also on the panic that drops a connection.
		c.finish()
		if c.answered {
			s.faults.Add(1)
		}
	}()
	if fn := s.respond.Load(); fn != nil {
		if (*fn)(c); c.answered {
			return
		}
	}
	c.healthy()
}

// parse reads the request's parameters as the dialect's server would.
func (s *tokenServer) parse(r *http.Request) (map[string]string, bool) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return nil, false
	}
	ct := r.Header.Get("Content-Type")
	params := make(map[string]string)
	switch s.dialect {
	case keycloakDialect:
		if !strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
			return nil, false
		}
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, false
		}
		for k, v := range form {
			if len(v) != 1 {
				return nil, false // a parameter sent twice is an error (RFC 6749 §3.1)
			}
			params[k] = v[0]
		}
	case passportDialect:
		if !strings.HasPrefix(ct, "application/json") {
			return nil, false
		}
		var doc map[string]any
		if err := json.Unmarshal(body, &doc); err != nil {
			return nil, false
		}
		for k, v := range doc {
			switch v := v.(type) {
			case string:
				params[k] = v
			case float64: // Passport accepts client_id as a number
				params[k] = strconv.FormatFloat(v, 'f', -1, 64)
			default:
				return nil, false
			}
		}
	}
	return params, true
}

// A call is one token request being answered.
type call struct {
	w        http.ResponseWriter
	r        *http.Request
	s        *tokenServer
	acct     account
	grant    string
	params   map[string]string
	answered bool // a responder answered (or dropped) it
	finished bool
}

// finish ends the request's in-flight accounting. Answers call it before
// writing, so that a client that received the answer never finds its
// request still counted as in flight.
func (c *call) finish() {
	if c.finished {
		return
	}
	c.finished = true
	c.s.mu.Lock()
	c.s.perTenant[c.acct.tenant].inflight--
	c.s.mu.Unlock()
}

// healthy answers with a fresh token, as the dialect's server would, after
// checking a refresh token.
func (c *call) healthy() {
	s := c.s
	var refresh string
	if c.grant == string(tenantauth.GrantRefreshToken) {
		rt := c.params["refresh_token"]
		s.mu.Lock()
		owner, live := s.refreshTokens[rt]
		if live && owner == c.acct.clientID {
			delete(s.refreshTokens, rt) // rotation: single use
			delete(s.lastRefresh, owner)
			s.usedRefresh[rt] = true
		} else {
			switch {
			case s.usedRefresh[rt] || s.usedRefreshOld[rt]:
				s.refreshReuse++
			case s.replacedRefresh[rt] || s.replacedRefreshOld[rt]:
				s.refreshStale++
			default:
				s.refreshUnknown++
			}
		}
		s.mu.Unlock()
		if !live || owner != c.acct.clientID {
			c.finish()
			writeRaw(c.w, http.StatusBadRequest, nil,
				`{"error":"invalid_grant","error_description":"The refresh token is invalid.","message":"The refresh token is invalid."}`)
			return
		}
	}
	lifetime := s.lifetime.Load()
	access := secretValue(markAccess)
	s.reg.add(access, c.acct.tenant, time.Now().Add(time.Duration(lifetime)*time.Second))
	doc := map[string]any{
		"access_token": access,
		"expires_in":   lifetime,
		"token_type":   "Bearer",
	}
	switch s.dialect {
	case keycloakDialect:
		doc["refresh_expires_in"] = 0
		doc["not-before-policy"] = 0
		doc["scope"] = "profile email"
	case passportDialect:
		if c.grant != string(tenantauth.GrantClientCredentials) {
			refresh = secretValue(markRefresh)
			doc["refresh_token"] = refresh
		}
	}
	s.mu.Lock()
	if refresh != "" {
		// A client's newer refresh token replaces its older one, so the
		// map holds at most one per client.
		if old, ok := s.lastRefresh[c.acct.clientID]; ok {
			delete(s.refreshTokens, old)
			s.replacedRefresh[old] = true
		}
		s.refreshTokens[refresh] = c.acct.clientID
		s.lastRefresh[c.acct.clientID] = refresh
	}
	s.perTenant[c.acct.tenant].issued++
	s.mu.Unlock()
	s.issued.Add(1)
	body, _ := json.Marshal(doc)
	c.finish()
	writeRaw(c.w, http.StatusOK, nil, string(body))
}

// reply answers with status, header and body.
func (c *call) reply(status int, header http.Header, body string) {
	c.answered = true
	c.finish()
	writeRaw(c.w, status, header, body)
}

// drop ends the request without a (complete) answer: the connection is
// closed, and net/http logs nothing.
func (c *call) drop() {
	c.answered = true
	c.finish()
	panic(http.ErrAbortHandler)
}

func writeRaw(w http.ResponseWriter, status int, header http.Header, body string) {
	h := w.Header()
	for k, v := range header {
		h[k] = v
	}
	if h.Get("Content-Type") == "" {
		if b := strings.TrimSpace(body); b != "" && (b[0] == '{' || b[0] == '[') {
			h.Set("Content-Type", "application/json")
		}
	}
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

// The responders the fault matrix and the soak use.

// answer answers with a fixed status, header and body.
func answer(status int, header http.Header, body string) responder {
	return func(c *call) { c.reply(status, header, body) }
}

// onlyFor applies r to one tenant's requests; the others are healthy.
func onlyFor(tenant string, r responder) responder {
	return func(c *call) {
		if c.acct.tenant == tenant {
			r(c)
		}
	}
}

// hang sends nothing until the client gives up or the server closes.
func hang(c *call) {
	select {
	case <-c.r.Context().Done():
	case <-c.s.quit:
	}
	c.drop()
}

// closeConn drops the connection before answering.
func closeConn(c *call) {
	if hj, ok := c.w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			c.answered = true
			c.finish()
			_ = conn.Close()
			return
		}
	}
	c.drop()
}

// slowDrip sends the status and then one byte of a token response every
// 20 ms, for at most 10 s, until the client gives up.
func slowDrip(c *call) {
	c.answered = true
	c.finish()
	body := `{"access_token":"` + strings.Repeat("x", 1000) + `"}`
	h := c.w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	c.w.WriteHeader(http.StatusOK)
	fl := c.w.(http.Flusher)
	fl.Flush()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	limit := time.NewTimer(10 * time.Second)
	defer limit.Stop()
	for i := 0; i < len(body); i++ {
		select {
		case <-c.r.Context().Done():
			panic(http.ErrAbortHandler)
		case <-c.s.quit:
			panic(http.ErrAbortHandler)
		case <-limit.C:
			panic(http.ErrAbortHandler)
		case <-tick.C:
		}
		if _, err := io.WriteString(c.w, body[i:i+1]); err != nil {
			panic(http.ErrAbortHandler)
		}
		fl.Flush()
	}
}

// midBodyClose announces a complete token response, sends its first bytes
// and closes the connection.
func midBodyClose(c *call) {
	c.answered = true
	c.finish()
	body := `{"access_token":"` + secretValue(markAccess) + `","token_type":"Bearer","expires_in":3600}`
	h := c.w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	c.w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(c.w, body[:30])
	c.w.(http.Flusher).Flush()
	panic(http.ErrAbortHandler)
}

// bigChunk is what bigBody writes, shared so that the server allocates
// nothing per request.
var bigChunk = []byte(strings.Repeat("a", 64<<10))

// bigBody answers 200 with a 10 MiB token response, with or without
// Content-Length, stopping as soon as the client stops reading.
func bigBody(withLength bool) responder {
	const size = 10 << 20
	return func(c *call) {
		c.answered = true
		c.finish()
		prefix := `{"access_token":"` + secretValue(markAccess) + `","pad":"`
		suffix := `"}`
		h := c.w.Header()
		h.Set("Content-Type", "application/json")
		if withLength {
			h.Set("Content-Length", strconv.Itoa(size))
		}
		c.w.WriteHeader(http.StatusOK)
		if _, err := io.WriteString(c.w, prefix); err != nil {
			return
		}
		for n := len(prefix) + len(suffix); n < size; {
			chunk := bigChunk[:min(len(bigChunk), size-n)]
			if _, err := c.w.Write(chunk); err != nil {
				return
			}
			n += len(chunk)
		}
		_, _ = io.WriteString(c.w, suffix)
	}
}

// redirectTo answers with a redirect to target's token path.
func redirectTo(code int, target string) responder {
	return func(c *call) {
		c.reply(code, http.Header{"Location": {target + c.s.dialect.tokenPath()}}, "")
	}
}

// echoSecrets is a hostile server: it puts the request's secrets into an
// OAuth error body and into an HTML page.
func echoSecrets(html bool) responder {
	return func(c *call) {
		if html {
			c.reply(http.StatusBadRequest, http.Header{"Content-Type": {"text/html"}},
				"<html><body>bad request for "+c.params["client_secret"]+" / "+c.params["password"]+"</body></html>")
			return
		}
		doc, _ := json.Marshal(map[string]string{
			"error":             "invalid_grant",
			"error_description": "wrong password " + c.params["password"] + " for secret " + c.params["client_secret"],
			"message":           c.params["client_secret"],
			"hint":              url.QueryEscape(c.params["password"]),
		})
		c.reply(http.StatusBadRequest, nil, string(doc))
	}
}

// tokenJSON answers 200 with a token response built from the dialect's
// usual members plus overrides (a nil value removes a member). The access
// token is registered for the API, so a client that accepts it can use it.
func tokenJSON(overrides map[string]any) responder {
	return func(c *call) {
		access := secretValue(markAccess)
		lifetime := time.Hour
		doc := map[string]any{"access_token": access, "token_type": "Bearer", "expires_in": 3600}
		for k, v := range overrides {
			if v == nil {
				delete(doc, k)
				continue
			}
			doc[k] = v
		}
		c.s.reg.add(access, c.acct.tenant, time.Now().Add(lifetime))
		body, _ := json.Marshal(doc)
		c.reply(http.StatusOK, nil, string(body))
	}
}

// rawToken answers 200 with body, in which every "%s" is replaced by a
// fresh access token registered for the API (only the last one is
// expected to be used: duplicate keys).
func rawToken(body string) responder {
	return func(c *call) {
		n := strings.Count(body, "%s")
		args := make([]any, n)
		for i := range args {
			tok := secretValue(markAccess)
			args[i] = tok
			if i == n-1 {
				c.s.reg.add(tok, c.acct.tenant, time.Now().Add(time.Hour))
			}
		}
		c.reply(http.StatusOK, nil, fmt.Sprintf(body, args...))
	}
}

package tenantauthtest

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/tenantauth/tenantauth/clientauth"
)

// standard speaks a plain RFC 6749 token endpoint, what Auth0, Amazon
// Cognito, Okta and Spring Authorization Server have in common: form bodies
// only, one client authentication method per client, §5.2 errors with
// their statuses (400, and 401 for invalid_client), no vendor members.
// Where the RFC leaves a choice, it takes the strict one, so that a client
// tested against it works with the strict servers too.
type standard struct {
	authMethod   string // authBasic, authPost or an assertion method
	clientKeys   map[string][]crypto.PublicKey
	clientCerts  map[string][]*x509.Certificate
	jtiMu        sync.Mutex
	jtis         map[string]bool   // assertion jtis seen: each is accepted once
	require      map[string]string // parameters every token request must carry
	requireNames []string          // require's keys, sorted: refusals name the first one missing
}

// The client authentication methods (RFC 8414 §2,
// token_endpoint_auth_methods_supported).
const (
	authBasic     = "client_secret_basic"
	authPost      = "client_secret_post"
	authKeyJWT    = "private_key_jwt"
	authSecretJWT = "client_secret_jwt"
	authTLS       = "tls_client_auth"
)

// standardTokenPath is the standard server's token endpoint, Cognito's.
const standardTokenPath = "/oauth2/token"

// The RFC 6749 §5.1 headers of every token endpoint answer.
var standardHeaders = http.Header{"Cache-Control": {"no-store"}, "Pragma": {"no-cache"}}

// standardToken is an RFC 6749 §5.1 access token response.
type standardToken struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token,omitempty"`
	Scope        string `json:"scope,omitempty"`
}

// newStandard checks and copies the standard server's part of cfg. It
// panics on an unknown AuthMethod: a test's mistake, best reported at once.
func newStandard(cfg Config) *standard {
	d := &standard{authMethod: cfg.AuthMethod, clientKeys: cfg.ClientKeys, clientCerts: cfg.ClientCertificates, jtis: map[string]bool{}}
	switch d.authMethod {
	case "":
		d.authMethod = authBasic
	case authBasic, authPost, authKeyJWT, authSecretJWT:
	case authTLS:
		if !cfg.TLS {
			panic(`tenantauthtest: Config.AuthMethod "tls_client_auth" needs Config.TLS`)
		}
	default:
		panic("tenantauthtest: Config.AuthMethod " + strconv.Quote(cfg.AuthMethod) +
			` is not "client_secret_basic", "client_secret_post", "private_key_jwt", "client_secret_jwt" or "tls_client_auth"`)
	}
	if len(cfg.RequireParams) > 0 {
		d.require = make(map[string]string, len(cfg.RequireParams))
		for k, v := range cfg.RequireParams {
			d.require[k] = v
			d.requireNames = append(d.requireNames, k)
		}
		slices.Sort(d.requireNames)
	}
	return d
}

func (d *standard) parse(r *http.Request, body []byte) *tokenRequest {
	// Strict as Keycloak: form parameters only, a repeated one remembered
	// (RFC 6749 §3.2 forbids them), Basic credentials form-decoded (§2.3.1)
	// and the scheme in any case (RFC 7235 §2.1).
	return completeTokenRequest(r, parseKeycloakBody(r.Header.Get("Content-Type"), body), true)
}

func (d *standard) unauthorized(w http.ResponseWriter, header http.Header) {
	// RFC 6750 §3 says it all in WWW-Authenticate; the body is empty.
	writeJSON(w, http.StatusUnauthorized, header, nil)
}

func (d *standard) token(s *Server, w http.ResponseWriter, r *http.Request, req *tokenRequest) {
	fail := func(status int, code, desc string) {
		s.tokenReply(w, status, standardHeaders, errorBody{Error: code, Description: desc})
	}
	missing := func(name string) {
		fail(http.StatusBadRequest, "invalid_request", "missing required parameter "+strconv.Quote(name))
	}

	switch {
	case r.Method != http.MethodPost:
		h := standardHeaders.Clone()
		h.Set("Allow", "POST")
		s.tokenReply(w, http.StatusMethodNotAllowed, h, errorBody{Error: "invalid_request", Description: "the token endpoint accepts POST only"})
		return
	case !isForm(r.Header.Get("Content-Type")):
		fail(http.StatusBadRequest, "invalid_request", "the request body must be application/x-www-form-urlencoded")
		return
	case req.dup:
		fail(http.StatusBadRequest, "invalid_request", "a parameter was sent more than once")
		return
	}

	// RFC 9449 §5: the proof before the client, so that a nonce dance
	// does not spend the client's assertion.
	jkt, code := s.tokenProof(r)
	switch code {
	case "":
	case "use_dpop_nonce":
		s.tokenReply(w, http.StatusBadRequest, s.nonceHeader(standardHeaders),
			errorBody{Error: code, Description: "a DPoP proof with the server's nonce is required"})
		return
	default:
		fail(http.StatusBadRequest, code, "the DPoP proof is invalid")
		return
	}

	client, ok := d.authenticateClient(s, w, req)
	if !ok {
		return
	}

	grant, ok := req.param("grant_type")
	switch {
	case !ok:
		missing("grant_type")
		return
	case grant != "password" && grant != "client_credentials" && grant != "refresh_token":
		fail(http.StatusBadRequest, "unsupported_grant_type", "the grant_type is not supported")
		return
	}
	for _, name := range d.requireNames {
		v, ok := req.param(name)
		switch {
		case !ok:
			missing(name)
			return
		case v != d.require[name]:
			// Neither value is named: the sent one may be anything.
			fail(http.StatusBadRequest, "invalid_request", "unsupported value of parameter "+strconv.Quote(name))
			return
		}
	}

	switch grant {
	case "password":
		if s.disablePasswordGrant {
			fail(http.StatusBadRequest, "unauthorized_client", "the client is not authorized to use the password grant")
			return
		}
		user, ok := req.param("username")
		if !ok {
			missing("username")
			return
		}
		password, ok := req.param("password")
		if !ok {
			missing("password")
			return
		}
		if !s.checkUser(user, password) {
			fail(http.StatusBadRequest, "invalid_grant", "invalid username or password")
			return
		}
		scope := req.values["scope"]
		// The session is the token family RotateRefreshTokens ends on reuse.
		out := s.issue(client, user, scope, s.refreshTokens, &session{active: true})
		d.reply(s, w, out, scope, jkt)

	case "client_credentials":
		// RFC 6749 §4.4.3: no refresh token.
		scope := req.values["scope"]
		d.reply(s, w, s.issue(client, "", scope, false, nil), scope, jkt)

	case "refresh_token":
		tok, ok := req.param("refresh_token")
		if !ok {
			missing("refresh_token")
			return
		}
		scope, narrowed := req.param("scope")
		out, scope, code, desc := d.refresh(s, client, tok, scope, narrowed, jkt)
		if code != "" {
			fail(http.StatusBadRequest, code, desc)
			return
		}
		d.reply(s, w, out, scope, jkt)
	}
}

// authenticateClient checks the client with the one method the server
// allows, and answers the failures itself: 401 invalid_client, with a Basic
// challenge when the client tried the Authorization header (RFC 6749 §5.2).
// Another method, or two at once (§2.3), fails as a wrong secret does.
func (d *standard) authenticateClient(s *Server, w http.ResponseWriter, req *tokenRequest) (string, bool) {
	refuse := func(desc string) (string, bool) {
		h := standardHeaders
		if req.authHeader != "" {
			h = h.Clone()
			h.Set("WWW-Authenticate", `Basic realm="tenantauthtest"`)
		}
		s.tokenReply(w, http.StatusUnauthorized, h, errorBody{Error: "invalid_client", Description: desc})
		return "", false
	}
	bodyID, haveBodyID := req.param("client_id")
	bodySecret, haveBodySecret := req.param("client_secret")
	switch d.authMethod {
	case authKeyJWT, authSecretJWT:
		return d.authenticateAssertion(s, req, bodyID, haveBodyID && !haveBodySecret && req.authHeader == "", refuse)
	case authTLS:
		return d.authenticateCertificate(req, bodyID, haveBodyID && !haveBodySecret && req.authHeader == "", refuse)
	}
	var id, secret string
	switch d.authMethod {
	case authBasic:
		switch {
		case haveBodySecret && req.authHeader != "":
			return refuse("more than one client authentication method")
		case haveBodySecret:
			return refuse("client_secret_post is not allowed; authenticate with client_secret_basic")
		case !req.basicOK:
			return refuse("client authentication with client_secret_basic required")
		case haveBodyID && bodyID != req.basicUser:
			return refuse("client_id does not match the authenticated client")
		}
		id, secret = req.basicUser, req.basicPass
	case authPost:
		switch {
		case req.authHeader != "" && haveBodySecret:
			return refuse("more than one client authentication method")
		case req.authHeader != "":
			return refuse("the Authorization header is not allowed; authenticate with client_secret_post")
		case !haveBodyID || !haveBodySecret:
			return refuse("client authentication with client_secret_post required")
		}
		id, secret = bodyID, bodySecret
	}
	// Unknown client or wrong secret: the same answer, revealing neither.
	if want, known := s.clients[id]; !known || !secretEqual(secret, want) {
		return refuse("client authentication failed")
	}
	return id, true
}

// authenticateAssertion checks a signed client assertion (RFC 7523 §3):
// its type, the client's key (private_key_jwt) or secret (client_secret_jwt),
// the audience (token URL or issuer), the times, and that its jti is new.
func (d *standard) authenticateAssertion(s *Server, req *tokenRequest, id string, only bool,
	refuse func(string) (string, bool)) (string, bool) {
	typ, _ := req.param("client_assertion_type")
	assertion, ok := req.param("client_assertion")
	switch {
	case !only:
		return refuse("client authentication with " + d.authMethod + " only")
	case !ok || typ != clientauth.AssertionType || id == "":
		return refuse("client authentication with " + d.authMethod + " required (client_id, client_assertion_type, client_assertion)")
	}
	var keys []crypto.PublicKey
	if d.authMethod == authKeyJWT {
		keys = d.clientKeys[id]
	} else if secret, known := s.clients[id]; known {
		keys = []crypto.PublicKey{[]byte(secret)}
	}
	seen := func(jti string) bool {
		d.jtiMu.Lock()
		defer d.jtiMu.Unlock()
		if d.jtis[jti] {
			return true
		}
		d.jtis[jti] = true
		return false
	}
	now := s.clock.Now()
	err := clientauth.VerifyAssertion(assertion, keys, s.TokenURL(), id, now, seen)
	if err != nil && s.Issuer() != "" && errors.Is(err, clientauth.ErrAudience) {
		err = clientauth.VerifyAssertion(assertion, keys, s.Issuer(), id, now, seen)
	}
	if len(keys) == 0 || err != nil {
		// Which check failed is for the server's log, not the client.
		return refuse("client authentication failed")
	}
	return id, true
}

// authenticateCertificate checks a TLS client certificate (RFC 8705 §2):
// the client_id in the body, no other method, and a certificate presented
// in the handshake of this request's connection that is one of the
// client's registered certificates (self_signed_tls_client_auth's rule,
// which also serves tls_client_auth in tests: the stand-in has no CA).
func (d *standard) authenticateCertificate(req *tokenRequest, id string, only bool,
	refuse func(string) (string, bool)) (string, bool) {
	switch {
	case !only:
		return refuse("client authentication with tls_client_auth only")
	case id == "":
		return refuse("client authentication with tls_client_auth requires client_id")
	case req.peerCert == nil:
		return refuse("client authentication with tls_client_auth requires a client certificate")
	}
	for _, c := range d.clientCerts[id] {
		if c != nil && bytes.Equal(c.Raw, req.peerCert.Raw) {
			return id, true
		}
	}
	return refuse("client authentication failed")
}

// refresh runs the refresh_token grant under the server's lock, so that of
// two concurrent uses of a single-use token exactly one wins. A requested
// scope must be within the original grant's (RFC 6749 §6); the answer
// carries the scope granted. It returns an error code and description, or
// the new tokens: with rotation a new refresh token in the same family,
// without none.
func (d *standard) refresh(s *Server, client, tok, scope string, narrowed bool, jkt string) (out issued, granted, code, desc string) {
	now := s.clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	rt, ok := s.store.refresh[tok]
	switch {
	case !ok:
		return issued{}, "", "invalid_grant", "the refresh token is invalid"
	case !now.Before(rt.expiry):
		return issued{}, "", "invalid_grant", "the refresh token has expired"
	case rt.client != client:
		return issued{}, "", "invalid_grant", "the refresh token was issued to another client"
	case rt.jkt != "" && rt.jkt != jkt:
		// Strict, as RFC 9449 §5 is for public clients: a grant made
		// with a DPoP key stays with that key.
		return issued{}, "", "invalid_dpop_proof", "the refresh token is bound to another DPoP key"
	}
	if rt.used {
		s.stats.RefreshReuse++
	}
	switch {
	case rt.revoked || rt.session == nil || !rt.session.active:
		return issued{}, "", "invalid_grant", "the refresh token has been revoked"
	case rt.used:
		// Reuse detection ends the token family: the token the first use
		// returned dies too.
		rt.session.active = false
		return issued{}, "", "invalid_grant", "the refresh token has been used already"
	}
	granted = rt.scope
	if narrowed {
		if !scopeWithin(scope, rt.scope) {
			return issued{}, "", "invalid_scope", "the requested scope exceeds the scope originally granted"
		}
		granted = scope
	}
	if s.rotate {
		rt.used = true
	}
	// A new refresh token keeps the original scope (RFC 6749 §6).
	out = s.issueLocked(now, client, rt.user, rt.scope, s.rotate, rt.session)
	return out, granted, "", ""
}

// scopeWithin reports whether every scope of requested is in granted.
func scopeWithin(requested, granted string) bool {
	have := strings.Fields(granted)
	for _, sc := range strings.Fields(requested) {
		if !slices.Contains(have, sc) {
			return false
		}
	}
	return true
}

func (d *standard) reply(s *Server, w http.ResponseWriter, out issued, scope, jkt string) {
	typ := s.tokenType
	if jkt != "" {
		// RFC 9449 §5: bound to the proof's key.
		typ = "DPoP"
		s.mu.Lock()
		if a, ok := s.store.access[out.access]; ok {
			a.jkt = jkt
			s.store.access[out.access] = a
		}
		if rt, ok := s.store.refresh[out.refresh]; ok && out.refresh != "" {
			rt.jkt = jkt
		}
		s.mu.Unlock()
	}
	s.tokenReply(w, http.StatusOK, standardHeaders, standardToken{
		AccessToken:  out.access,
		TokenType:    typ,
		ExpiresIn:    out.expiresIn,
		RefreshToken: out.refresh,
		Scope:        scope,
	})
}

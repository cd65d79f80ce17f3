package tenantauthtest

import (
	"net/http"
	"strings"
)

// keycloak speaks Keycloak's OpenID Connect token endpoint
// (org.keycloak.protocol.oidc.endpoints.TokenEndpoint): the checks run in
// Keycloak's order and fail with its status codes and descriptions.
type keycloak struct{ realm string }

// Keycloak sets these on every token endpoint answer (RFC 6749 §5.1).
var keycloakHeaders = http.Header{"Cache-Control": {"no-store"}, "Pragma": {"no-cache"}}

// keycloakScope is the scope a default Keycloak client is granted.
const keycloakScope = "profile email"

// keycloakToken is Keycloak's AccessTokenResponse, fields in its order.
type keycloakToken struct {
	AccessToken      string `json:"access_token"`
	ExpiresIn        int64  `json:"expires_in"`
	RefreshExpiresIn int64  `json:"refresh_expires_in"`
	RefreshToken     string `json:"refresh_token,omitempty"`
	TokenType        string `json:"token_type"`
	NotBeforePolicy  int64  `json:"not-before-policy"`
	SessionState     string `json:"session_state,omitempty"`
	Scope            string `json:"scope"`
}

func (k *keycloak) parse(r *http.Request, body []byte) *tokenRequest {
	// Keycloak form-decodes Basic credentials and accepts "basic" in any case.
	return completeTokenRequest(r, parseKeycloakBody(r.Header.Get("Content-Type"), body), true)
}

func (k *keycloak) unauthorized(w http.ResponseWriter, header http.Header) {
	writeJSON(w, http.StatusUnauthorized, header, errorBody{Error: "invalid_token"})
}

func (k *keycloak) token(s *Server, w http.ResponseWriter, r *http.Request, req *tokenRequest) {
	fail := func(status int, code, desc string) {
		s.tokenReply(w, status, keycloakHeaders, errorBody{Error: code, Description: desc})
	}

	switch r.Method {
	case http.MethodPost:
	case http.MethodOptions:
		// CORS preflight; Keycloak answers it.
		w.Header().Set("Allow", "POST, OPTIONS")
		w.WriteHeader(http.StatusOK)
		return
	default:
		// Keycloak's generic error mapping of a JAX-RS 405.
		w.Header().Set("Allow", "POST, OPTIONS")
		fail(http.StatusMethodNotAllowed, "HTTP 405 Method Not Allowed",
			"For more on this error consult the server log at the debug level.")
		return
	}

	grant, ok := req.param("grant_type")
	switch {
	case !ok:
		// Also what a JSON body gets: Keycloak reads only form parameters.
		fail(http.StatusBadRequest, "invalid_request", "Missing form parameter: grant_type")
		return
	case grant != "password" && grant != "client_credentials" && grant != "refresh_token":
		fail(http.StatusBadRequest, "unsupported_grant_type", "Unsupported grant_type")
		return
	}

	client, ok := k.authenticateClient(s, w, req)
	if !ok {
		return
	}
	if req.dup {
		fail(http.StatusBadRequest, "invalid_request", "duplicated parameter")
		return
	}

	switch grant {
	case "password":
		if s.disablePasswordGrant {
			fail(http.StatusBadRequest, "unauthorized_client", "Client not allowed for direct access grants")
			return
		}
		user, ok := req.param("username")
		if !ok {
			fail(http.StatusUnauthorized, "invalid_request", "Missing parameter: username")
			return
		}
		if !s.checkUser(user, req.values["password"]) {
			fail(http.StatusUnauthorized, "invalid_grant", "Invalid user credentials")
			return
		}
		scope := keycloakGrantedScope(req.values["scope"])
		sess := &session{id: newSessionID(), active: true}
		out := s.issue(client, user, scope, s.refreshTokens, sess)
		k.reply(s, w, out, sess.id, scope)

	case "client_credentials":
		// No refresh token and no user session, as Keycloak's default
		// ("Use refresh tokens for client credentials grant" off).
		scope := keycloakGrantedScope(req.values["scope"])
		out := s.issue(client, "", scope, false, nil)
		k.reply(s, w, out, "", scope)

	case "refresh_token":
		tok, ok := req.param("refresh_token")
		if !ok {
			fail(http.StatusBadRequest, "invalid_request", "No refresh token")
			return
		}
		out, sessionID, scope, desc := k.refresh(s, client, tok)
		if desc != "" {
			fail(http.StatusBadRequest, "invalid_grant", desc)
			return
		}
		k.reply(s, w, out, sessionID, scope)
	}
}

// authenticateClient checks the client as ClientIdAndSecretAuthenticator:
// HTTP Basic first, then client_id and client_secret from the form, which
// win. It answers the failures itself.
func (k *keycloak) authenticateClient(s *Server, w http.ResponseWriter, req *tokenRequest) (string, bool) {
	fail := func(status int, code, desc string) {
		s.tokenReply(w, status, keycloakHeaders, errorBody{Error: code, Description: desc})
	}
	var id, secret string
	var haveID, haveSecret bool
	if req.authHeader != "" {
		if req.basicOK {
			id, secret, haveID, haveSecret = req.basicUser, req.basicPass, true, true
		} else if _, ok := req.param("client_id"); !ok {
			// An Authorization header that is not Basic, and no client_id:
			// Keycloak challenges for Basic, with an empty body.
			h := keycloakHeaders.Clone()
			h.Set("WWW-Authenticate", `Basic realm="`+k.realm+`"`)
			s.tokenReply(w, http.StatusUnauthorized, h, nil)
			return "", false
		}
	}
	if v, ok := req.param("client_id"); ok {
		id, haveID = v, true
	}
	if v, ok := req.param("client_secret"); ok {
		secret, haveSecret = v, true
	}
	if !haveID {
		fail(http.StatusBadRequest, "invalid_client", "Missing client_id parameter")
		return "", false
	}
	want, known := s.clients[id]
	if !known {
		fail(http.StatusUnauthorized, "invalid_client", "Invalid client or Invalid client credentials")
		return "", false
	}
	if !haveSecret || !secretEqual(secret, want) {
		fail(http.StatusUnauthorized, "unauthorized_client", "Invalid client or Invalid client credentials")
		return "", false
	}
	return id, true
}

// refresh runs the refresh_token grant under the server's lock, so that of
// two concurrent uses of a single-use token exactly one wins. It returns the
// error_description of an invalid_grant refusal, or the new tokens.
func (k *keycloak) refresh(s *Server, client, tok string) (out issued, sessionID, scope, desc string) {
	now := s.clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	rt, ok := s.store.refresh[tok]
	switch {
	case !ok:
		return issued{}, "", "", "Invalid refresh token"
	case !now.Before(rt.expiry):
		return issued{}, "", "", "Token is not active"
	case rt.client != client:
		return issued{}, "", "", "Invalid refresh token. Token client and authorized client don't match"
	}
	if rt.used {
		s.stats.RefreshReuse++
	}
	switch {
	case rt.revoked || rt.session == nil || !rt.session.active:
		return issued{}, "", "", "Session not active"
	case rt.used:
		// Reuse detection ends the whole session: the token the first use
		// returned dies too.
		rt.session.active = false
		return issued{}, "", "", "Maximum allowed refresh token reuse exceeded"
	}
	if s.rotate {
		rt.used = true
	}
	// Keycloak returns a new refresh token on every refresh. Without
	// rotation the old one keeps working too.
	out = s.issueLocked(now, client, rt.user, rt.scope, true, rt.session)
	return out, rt.session.id, rt.scope, ""
}

func (k *keycloak) reply(s *Server, w http.ResponseWriter, out issued, sessionID, scope string) {
	s.tokenReply(w, http.StatusOK, keycloakHeaders, keycloakToken{
		AccessToken:      out.access,
		ExpiresIn:        out.expiresIn,
		RefreshExpiresIn: out.refreshExpiresIn, // 0 without a refresh token, as Fluencypass
		RefreshToken:     out.refresh,
		TokenType:        s.tokenType,
		SessionState:     sessionID,
		Scope:            scope,
	})
}

// keycloakGrantedScope returns the requested scopes (openid, say) followed
// by the default ones, each once, as Keycloak reports them.
func keycloakGrantedScope(requested string) string {
	var b strings.Builder
	seen := map[string]bool{}
	for _, sc := range append(strings.Fields(requested), strings.Fields(keycloakScope)...) {
		if seen[sc] {
			continue
		}
		seen[sc] = true
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(sc)
	}
	return b.String()
}

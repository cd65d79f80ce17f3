package tenantauthtest

import (
	"net/http"
	"strings"
)

// passport speaks Laravel Passport's token endpoint, which is
// league/oauth2-server 8.x (Passport 10–12): its checks, in its order, with
// its error documents. league 8 adds "message" (a copy of
// error_description) to every error and "hint" where one is given.
type passport struct{}

// League's BearerTokenResponse headers.
var passportHeaders = http.Header{
	"Content-Type":  {"application/json; charset=UTF-8"},
	"Cache-Control": {"no-store"},
	"Pragma":        {"no-cache"},
}

// passportToken is league's BearerTokenResponse, fields in its order.
type passportToken struct {
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token,omitempty"`
}

// passportError is league's OAuthServerException payload.
type passportError struct {
	Error       string  `json:"error"`
	Description string  `json:"error_description"`
	Hint        *string `json:"hint,omitempty"`
	Message     string  `json:"message"`
}

// The exceptions of league/oauth2-server 8.x the stand-in raises.
const (
	msgInvalidRequest = "The request is missing a required parameter, includes an invalid parameter value, " +
		"includes a parameter more than once, or is otherwise malformed."
	msgInvalidClient        = "Client authentication failed"
	msgInvalidCredentials   = "The user credentials were incorrect."
	msgUnsupportedGrantType = "The authorization grant type is not supported by the authorization server."
	hintUnsupportedGrant    = "Check that all required parameters have been provided"
	msgInvalidRefreshToken  = "The refresh token is invalid."
)

func (passport) parse(r *http.Request, body []byte) *tokenRequest {
	// league takes Basic credentials as they are, after "Basic " exactly.
	return completeTokenRequest(r, parsePassportBody(r.Header.Get("Content-Type"), body), false)
}

func (passport) unauthorized(w http.ResponseWriter, header http.Header) {
	// Laravel's auth:api answer to a missing, unknown, expired or revoked token.
	writeJSON(w, http.StatusUnauthorized, header, map[string]string{"message": "Unauthenticated."})
}

func (p passport) token(s *Server, w http.ResponseWriter, r *http.Request, req *tokenRequest) {
	fail := func(status int, code, desc string, hint *string) {
		s.tokenReply(w, status, nil, passportError{Error: code, Description: desc, Hint: hint, Message: desc})
	}
	invalidRequest := func(param string) {
		hint := "Check the `" + param + "` parameter"
		fail(http.StatusBadRequest, "invalid_request", msgInvalidRequest, &hint)
	}
	invalidRefresh := func(hint string) {
		fail(http.StatusUnauthorized, "invalid_request", msgInvalidRefreshToken, &hint)
	}

	if r.Method != http.MethodPost {
		// Laravel's router: the route exists for POST only.
		w.Header().Set("Allow", "POST")
		s.tokenReply(w, http.StatusMethodNotAllowed, nil, map[string]string{
			"message": "The " + r.Method + " method is not supported for route oauth/token. Supported methods: POST.",
		})
		return
	}

	// The AuthorizationServer asks each enabled grant whether it handles
	// grant_type; none does for a missing or unknown one.
	grant := req.values["grant_type"]
	switch {
	case grant == "password" && !s.disablePasswordGrant:
	case grant == "client_credentials", grant == "refresh_token":
	default:
		hint := hintUnsupportedGrant
		fail(http.StatusBadRequest, "unsupported_grant_type", msgUnsupportedGrantType, &hint)
		return
	}

	// AbstractGrant::validateClient: client_id from the body, else from
	// HTTP Basic; the secret likewise.
	id, haveID := req.param("client_id")
	if !haveID && req.basicOK {
		id, haveID = req.basicUser, true
	}
	if !haveID || req.bad["client_id"] {
		invalidRequest("client_id")
		return
	}
	secret, haveSecret := req.param("client_secret")
	if !haveSecret && req.basicOK {
		secret, haveSecret = req.basicPass, true
	}
	if want, known := s.clients[id]; !known || !haveSecret || req.bad["client_secret"] || !secretEqual(secret, want) {
		var h http.Header
		if a := req.authHeader; a != "" {
			scheme := "Basic"
			if strings.HasPrefix(a, "Bearer") {
				scheme = "Bearer"
			}
			h = http.Header{"WWW-Authenticate": {scheme + ` realm="OAuth"`}}
		}
		s.tokenReply(w, http.StatusUnauthorized, h, passportError{
			Error: "invalid_client", Description: msgInvalidClient, Message: msgInvalidClient,
		})
		return
	}

	switch grant {
	case "password":
		user, ok := req.param("username")
		if !ok || req.bad["username"] {
			invalidRequest("username")
			return
		}
		password, ok := req.param("password")
		if !ok || req.bad["password"] {
			invalidRequest("password")
			return
		}
		if !s.checkUser(user, password) {
			// league ≥ 8.2 (Passport 10+): invalidCredentials, 400, no hint.
			fail(http.StatusBadRequest, "invalid_grant", msgInvalidCredentials, nil)
			return
		}
		p.reply(s, w, s.issue(id, user, "", s.refreshTokens, nil))

	case "client_credentials":
		p.reply(s, w, s.issue(id, "", "", false, nil))

	case "refresh_token":
		tok, ok := req.param("refresh_token")
		if !ok || req.bad["refresh_token"] {
			invalidRequest("refresh_token")
			return
		}
		out, hint := p.refresh(s, id, tok)
		if hint != "" {
			invalidRefresh(hint)
			return
		}
		p.reply(s, w, out)
	}
}

// refresh runs RefreshTokenGrant under the server's lock: it checks the old
// refresh token, revokes it and its access token, and issues new ones. It
// returns league's hint when the token is refused.
func (passport) refresh(s *Server, client, tok string) (issued, string) {
	now := s.clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	rt, ok := s.store.refresh[tok]
	switch {
	case !ok:
		return issued{}, "Cannot decrypt the refresh token"
	case rt.client != client:
		return issued{}, "Token is not linked to client"
	case !now.Before(rt.expiry):
		return issued{}, "Token has expired"
	case rt.used:
		s.stats.RefreshReuse++
		return issued{}, "Token has been revoked"
	case rt.revoked:
		return issued{}, "Token has been revoked"
	}
	rt.used = true
	delete(s.store.access, rt.access)
	return s.issueLocked(now, client, rt.user, rt.scope, true, nil), ""
}

func (passport) reply(s *Server, w http.ResponseWriter, out issued) {
	s.tokenReply(w, http.StatusOK, passportHeaders, passportToken{
		TokenType:    s.tokenType,
		ExpiresIn:    out.expiresIn,
		AccessToken:  out.access,
		RefreshToken: out.refresh,
	})
}

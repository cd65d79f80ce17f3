package tenantauthtest

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"strings"
)

// apiReply is the protected API's answer: who called, and what.
type apiReply struct {
	ClientID   string `json:"client_id"`
	Username   string `json:"username"` // empty for client_credentials tokens
	Path       string `json:"path"`
	Method     string `json:"method"`
	BodySHA256 string `json:"body_sha256"` // hex; lets a test check that a retried request resent its body
}

// Answers of the API to requests without a valid token. RFC 6750 §3.1: no
// error code when the request carried no token at all.
var (
	apiNoToken      = http.Header{"WWW-Authenticate": {`Bearer`}}
	apiInvalidToken = http.Header{"WWW-Authenticate": {`Bearer error="invalid_token"`}}
)

// serveAPI is the protected resource.
func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	scheme, tok, hasToken := authToken(r.Header.Get("Authorization"))
	now := s.clock.Now() // user code: never under our lock

	s.mu.Lock()
	s.stats.APIRequests++
	rejected := s.rejectAPI > 0
	if rejected {
		s.rejectAPI--
	}
	owner, valid := s.store.validAccess(tok, now)
	if valid && owner.jkt == "" && !strings.EqualFold(scheme, "Bearer") {
		valid = false // a Bearer token sent as DPoP
	}
	if rejected || !valid {
		s.stats.APIUnauthorized++
	}
	s.mu.Unlock()

	switch {
	case !hasToken:
		s.dialect.unauthorized(w, apiNoToken)
		return
	case rejected || !valid:
		s.dialect.unauthorized(w, apiInvalidToken)
		return
	case owner.jkt != "":
		if h := s.apiProof(r, scheme, tok, owner.jkt); h != nil {
			s.mu.Lock()
			s.stats.APIUnauthorized++
			s.mu.Unlock()
			s.dialect.unauthorized(w, h)
			return
		}
	}

	h := sha256.New()
	if _, err := io.Copy(h, r.Body); err != nil {
		abort() // the client went away mid-body
	}
	writeJSON(w, http.StatusOK, nil, apiReply{
		ClientID:   owner.client,
		Username:   owner.user,
		Path:       r.URL.Path,
		Method:     r.Method,
		BodySHA256: hex.EncodeToString(h.Sum(nil)),
	})
}

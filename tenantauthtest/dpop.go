package tenantauthtest

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/tenantauth/tenantauth/clientauth"
)

// seenProof records a DPoP proof's jti and reports whether it was seen
// before: a replayed proof is refused.
func (s *Server) seenProof(jti string) bool {
	s.dpopMu.Lock()
	defer s.dpopMu.Unlock()
	if s.dpopJTIs[jti] {
		return true
	}
	s.dpopJTIs[jti] = true
	return false
}

// tokenProof checks the DPoP proof of a token request (RFC 9449 §4.3,
// §5). It returns the proof's key thumbprint ("" when the request has no
// proof or the server does not do DPoP), or the error code to answer with
// 400 (invalid_dpop_proof or use_dpop_nonce).
func (s *Server) tokenProof(r *http.Request) (jkt, code string) {
	if !s.dpop {
		return "", ""
	}
	proofs := r.Header.Values("DPoP")
	switch len(proofs) {
	case 0:
		return "", ""
	case 1:
	default:
		return "", "invalid_dpop_proof"
	}
	jkt, err := clientauth.VerifyProof(proofs[0], http.MethodPost, s.tokenURL, "", "", s.dpopNonce, s.clock.Now(), s.seenProof)
	switch {
	case errors.Is(err, clientauth.ErrNonce):
		return "", "use_dpop_nonce"
	case err != nil:
		return "", "invalid_dpop_proof"
	}
	return jkt, ""
}

// nonceHeader adds the server's DPoP-Nonce to h (a copy).
func (s *Server) nonceHeader(h http.Header) http.Header {
	h = h.Clone()
	if h == nil {
		h = http.Header{}
	}
	h.Set("DPoP-Nonce", s.dpopNonce)
	return h
}

// apiProof checks the presentation of the DPoP-bound token tok (bound to
// jkt) at the API (RFC 9449 §7): the DPoP scheme and one valid proof of the
// same key for this request. It returns nil when they are good, else the
// header of the 401 to answer with. The proof's iat is checked against the
// system clock, not Config.Clock: the middlewares date proofs by the system
// clock, and a test that moves a fake clock to expire tokens must not make
// every fresh proof look stale.
func (s *Server) apiProof(r *http.Request, scheme, tok, jkt string) http.Header {
	if !strings.EqualFold(scheme, "DPoP") {
		return http.Header{"WWW-Authenticate": {`DPoP error="invalid_token"`}}
	}
	proofs := r.Header.Values("DPoP")
	if len(proofs) != 1 {
		return http.Header{"WWW-Authenticate": {`DPoP error="invalid_dpop_proof"`}}
	}
	_, err := clientauth.VerifyProof(proofs[0], r.Method, s.URL+r.URL.EscapedPath(), tok, jkt, s.dpopNonce, time.Now(), s.seenProof)
	switch {
	case errors.Is(err, clientauth.ErrNonce):
		return s.nonceHeader(http.Header{"WWW-Authenticate": {`DPoP error="use_dpop_nonce"`}})
	case err != nil:
		return http.Header{"WWW-Authenticate": {`DPoP error="invalid_dpop_proof"`}}
	}
	return nil
}

// authToken splits an Authorization header into its scheme (Bearer or
// DPoP, in any case) and token.
func authToken(header string) (scheme, tok string, ok bool) {
	scheme, tok, ok = strings.Cut(strings.TrimSpace(header), " ")
	if !ok || !(strings.EqualFold(scheme, "Bearer") || strings.EqualFold(scheme, "DPoP")) {
		return "", "", false
	}
	tok = strings.TrimSpace(tok)
	return scheme, tok, tok != ""
}

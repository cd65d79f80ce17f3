package tenantauthtest

import (
	"crypto/subtle"
	"net/http"
	"time"
)

// A dialect is one token server's way of reading requests and answering.
type dialect interface {
	// parse extracts the parameters; it never fails.
	parse(r *http.Request, body []byte) *tokenRequest
	// token answers a token request (after latency and injected failures).
	token(s *Server, w http.ResponseWriter, r *http.Request, req *tokenRequest)
	// unauthorized writes the API's 401 body.
	unauthorized(w http.ResponseWriter, header http.Header)
}

// errorBody is an RFC 6749 §5.2 error document.
type errorBody struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

// secretEqual compares secrets in constant time, as real servers do.
func secretEqual(got, want string) bool {
	return subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// checkUser reports whether the password grant's user and password match.
func (s *Server) checkUser(user, password string) bool {
	want, ok := s.users[user]
	return ok && secretEqual(password, want)
}

// issued is what one successful grant hands out.
type issued struct {
	access           string
	expiresIn        int64
	refresh          string // empty: none
	refreshExpiresIn int64
}

// refreshSeconds is the refresh tokens' announced lifetime.
func (s *Server) refreshSeconds() int64 {
	return max(int64(s.refreshLifetime/time.Second), 1)
}

// issueLocked records a new access token and, when withRefresh, a refresh
// token bound to it, both issued at now. s.mu must be held.
func (s *Server) issueLocked(now time.Time, client, user, scope string, withRefresh bool, sess *session) issued {
	out := issued{expiresIn: s.expiresIn()}
	out.access = s.store.issueAccess(client, user, now.Add(time.Duration(out.expiresIn)*time.Second), now)
	if withRefresh {
		out.refreshExpiresIn = s.refreshSeconds()
		out.refresh = s.store.issueRefresh(refreshToken{
			client:  client,
			user:    user,
			scope:   scope,
			expiry:  now.Add(time.Duration(out.refreshExpiresIn) * time.Second),
			access:  out.access,
			session: sess,
		}, now)
	}
	return out
}

// issue is issueLocked for callers that do not hold s.mu. It reads the
// clock first: a user's Clock is never called under the server's lock.
func (s *Server) issue(client, user, scope string, withRefresh bool, sess *session) issued {
	now := s.clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.issueLocked(now, client, user, scope, withRefresh, sess)
}

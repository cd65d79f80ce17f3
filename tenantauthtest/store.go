package tenantauthtest

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"time"
)

// store holds the tokens a server issued. It is not synchronised: the
// Server's mutex guards it.
//
// Tests issue up to ~100 000 tokens, a few tens of megabytes at most, so
// tokens are kept until they expire; a sweep of expired ones runs whenever
// the number of entries doubles, which keeps the cost amortised O(1).
type store struct {
	access  map[string]accessToken
	refresh map[string]*refreshToken
	sweepAt int
}

// minSweep is the table size below which no sweep runs.
const minSweep = 4096

type accessToken struct {
	client, user string
	expiry       time.Time
	jkt          string // DPoP-bound: the thumbprint of its key; empty for a Bearer token
}

// A session is Keycloak's user session. Reusing a rotated refresh token ends
// it, and with it every refresh token issued in it.
type session struct {
	id     string
	active bool
}

type refreshToken struct {
	client, user string
	scope        string
	expiry       time.Time
	access       string   // the access token issued with it; Passport revokes it on refresh
	session      *session // Keycloak only
	used         bool     // rotated out by a refresh
	revoked      bool     // dropped by RevokeAll
	jkt          string   // issued to a DPoP proof of this key: refreshed only with it
}

func newStore() store {
	return store{
		access:  make(map[string]accessToken),
		refresh: make(map[string]*refreshToken),
		sweepAt: minSweep,
	}
}

// randomToken returns 32 random bytes in base64url: opaque, unguessable.
func randomToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // never fails: crypto/rand crashes the program instead
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// newSessionID returns a random UUID (version 4), like Keycloak's
// session_state.
func newSessionID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:], b[10:])
	return string(s[:])
}

// unique returns a token not yet used in either table. A collision of 256
// random bits does not happen, but uniqueness is the contract, so check.
func (st *store) unique() string {
	for {
		t := randomToken()
		_, a := st.access[t]
		_, r := st.refresh[t]
		if !a && !r {
			return t
		}
	}
}

// issueAccess records a new access token.
func (st *store) issueAccess(client, user string, expiry, now time.Time) string {
	st.maybeSweep(now)
	t := st.unique()
	st.access[t] = accessToken{client: client, user: user, expiry: expiry}
	return t
}

// issueRefresh records a new refresh token bound to an access token.
func (st *store) issueRefresh(rt refreshToken, now time.Time) string {
	st.maybeSweep(now)
	t := st.unique()
	st.refresh[t] = &rt
	return t
}

// validAccess returns the access token's record when it is known, unrevoked
// and unexpired at now.
func (st *store) validAccess(tok string, now time.Time) (accessToken, bool) {
	a, ok := st.access[tok]
	if !ok || !now.Before(a.expiry) {
		return accessToken{}, false
	}
	return a, true
}

// revokeAccess drops one access token and reports whether it was valid.
func (st *store) revokeAccess(tok string, now time.Time) bool {
	_, ok := st.validAccess(tok, now)
	delete(st.access, tok)
	return ok
}

// revokeAll drops every access token and revokes every refresh token. It
// returns how many access tokens were valid.
func (st *store) revokeAll(now time.Time) int {
	n := 0
	for _, a := range st.access {
		if now.Before(a.expiry) {
			n++
		}
	}
	clear(st.access)
	for _, r := range st.refresh {
		r.revoked = true
		if r.session != nil {
			r.session.active = false
		}
	}
	return n
}

// maybeSweep drops expired tokens when the tables have doubled since the
// last sweep.
func (st *store) maybeSweep(now time.Time) {
	if len(st.access)+len(st.refresh) < st.sweepAt {
		return
	}
	for t, a := range st.access {
		if !now.Before(a.expiry) {
			delete(st.access, t)
		}
	}
	for t, r := range st.refresh {
		if !now.Before(r.expiry) {
			delete(st.refresh, t)
		}
	}
	st.sweepAt = max(minSweep, 2*(len(st.access)+len(st.refresh)))
}

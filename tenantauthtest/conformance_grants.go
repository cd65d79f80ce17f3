package tenantauthtest

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tenantauth/tenantauth"
)

// This file holds the conformance cases where the server answers as it
// should: the endpoint, each grant, expiry parsing, token_type
// canonicalisation, and concurrent exchanges.

func caseEndpoint(c *suite, t *testing.T) {
	e := c.newEnv(t, Config{})
	var got, again string
	if r := catch(func() { got, again = e.p.Endpoint(), e.p.Endpoint() }); r != nil {
		t.Fatalf("Endpoint panicked: %v", r)
	}
	// A provider that discovers its token endpoint names the issuer it
	// was configured with: Endpoint must be stable from construction.
	if want, iss := e.s.TokenURL(), e.s.Issuer(); got != want && (iss == "" || got != iss) {
		if iss != "" {
			want += `" or "` + iss
		}
		t.Errorf("Endpoint() = %q, want %q (the server's TokenURL, or the issuer of a discovering provider)", got, want)
	}
	if again != got {
		t.Errorf("Endpoint() = %q, then %q; want the same URL every time (one circuit breaker per endpoint)", got, again)
	}
	if n := e.s.Stats().TokenRequests; n != 0 {
		t.Errorf("newProvider and Endpoint sent %d token requests, want 0", n)
	}
}

func casePasswordGrant(c *suite, t *testing.T) {
	e := c.newEnv(t, Config{})
	tok, err := e.exchange(e.ctx, "password grant", passwordRequest())
	if err != nil {
		t.Fatalf("password grant: %v; want a token", err)
	}
	e.checkToken("password grant", tok, false)
	e.useToken("password grant", tok, cfClientID, cfUsername)
	e.wantRequests("password grant", 1, map[string]int{"password": 1})
	if st := e.s.Stats(); st.ByClient[cfClientID] != 1 || st.ByUser[cfUsername] != 1 {
		t.Errorf("password grant: the server saw requests by client %v and by user %v; want %q and %q once",
			st.ByClient, st.ByUser, cfClientID, cfUsername)
	}
}

func caseClientCredentials(c *suite, t *testing.T) {
	e := c.newEnv(t, Config{})
	tok, err := e.exchange(e.ctx, "client_credentials grant", clientRequest())
	if err != nil {
		t.Fatalf("client_credentials grant: %v; want a token", err)
	}
	e.checkToken("client_credentials grant", tok, false)
	e.useToken("client_credentials grant", tok, cfClientID, "")
	e.wantRequests("client_credentials grant", 1, map[string]int{"client_credentials": 1})
}

func caseRefreshToken(c *suite, t *testing.T) {
	const refreshLifetime = 45 * time.Minute
	// Keycloak and Standard rotate only when told to; Passport always does.
	e := c.newEnv(t, Config{RefreshTokens: true, RotateRefreshTokens: true, RefreshTokenLifetime: refreshLifetime})
	first, err := e.exchange(e.ctx, "password grant", passwordRequest())
	if err != nil {
		t.Fatalf("password grant: %v; want a token", err)
	}
	e.checkToken("password grant with refresh tokens on", first, true)
	if first.RefreshToken.IsZero() {
		t.FailNow()
	}
	if !first.RefreshExpiry.IsZero() && c.spec.name == "keycloak" {
		// Keycloak announces refresh_expires_in; the others do not.
		if d := first.RefreshExpiry.Sub(first.IssuedAt); d < refreshLifetime-tolerance || d > refreshLifetime+tolerance {
			t.Errorf("password grant: RefreshExpiry - IssuedAt = %v, want %v (refresh_expires_in) ± %v", d, refreshLifetime, tolerance)
		}
	}

	refresh := func(rt tenantauth.Secret) tenantauth.TokenRequest {
		return tenantauth.TokenRequest{Grant: tenantauth.GrantRefreshToken, Credentials: passwordCreds(), RefreshToken: rt}
	}
	second, err := e.exchange(e.ctx, "refresh_token grant", refresh(first.RefreshToken))
	if err != nil {
		t.Fatalf("refresh_token grant: %v; want a token", err)
	}
	e.checkToken("refresh_token grant", second, true)
	if second.AccessToken == first.AccessToken {
		t.Error("refresh_token grant: AccessToken is the old one; want the new token the server issued")
	}
	if !second.RefreshToken.IsZero() && second.RefreshToken == first.RefreshToken {
		t.Error("refresh_token grant: RefreshToken is the old one; want the rotated one the server issued")
	}
	e.useToken("refresh_token grant", second, cfClientID, cfUsername)

	// The server rotated the first refresh token out: it must be refused,
	// as a TokenError, so that the Manager falls back to the full grant.
	tok, err := e.exchange(e.ctx, "reusing the rotated-out refresh token", refresh(first.RefreshToken))
	e.wantRefusal("reusing the rotated-out refresh token", tok, err, c.spec.refreshReused)
	e.wantRequests("refresh_token grant", 3, map[string]int{"password": 1, "refresh_token": 2})
}

func caseExpiry(c *suite, t *testing.T) {
	e := c.newEnv(t, Config{})
	check := func(what string, lifetime time.Duration) {
		t.Helper()
		before := time.Now()
		tok, err := e.exchange(e.ctx, what, passwordRequest())
		after := time.Now()
		if err != nil {
			t.Errorf("%s: %v; want a token", what, err)
			return
		}
		if tok.IssuedAt.IsZero() {
			t.Errorf("%s: IssuedAt is zero; want the time the token was received", what)
		} else if tok.IssuedAt.Before(before.Add(-tolerance)) || tok.IssuedAt.After(after.Add(tolerance)) {
			t.Errorf("%s: IssuedAt = %v, want between %v and %v (± %v)", what, tok.IssuedAt, before, after, tolerance)
		}
		switch {
		case lifetime == 0 && !tok.Expiry.IsZero():
			t.Errorf("%s: Expiry = %v, want zero (the server sent no expires_in)", what, tok.Expiry)
		case lifetime == 0:
		case tok.Expiry.IsZero():
			t.Errorf("%s: Expiry is zero; want IssuedAt + %v (expires_in)", what, lifetime)
		case !tok.IssuedAt.IsZero():
			if d := tok.Expiry.Sub(tok.IssuedAt); d < lifetime-tolerance || d > lifetime+tolerance {
				t.Errorf("%s: Expiry - IssuedAt = %v, want %v (expires_in) ± %v", what, d, lifetime, tolerance)
			}
		}
		if !tok.RefreshExpiry.IsZero() {
			t.Errorf("%s: RefreshExpiry = %v, want zero (no refresh token was issued)", what, tok.RefreshExpiry)
		}
	}
	// The lifetimes of a short-lived token, Fluencypass (86400) and HubSoft
	// (2592000), and one no provider could guess.
	for _, lifetime := range []time.Duration{3 * time.Second, 90 * time.Minute, 24 * time.Hour, 30 * 24 * time.Hour} {
		e.s.SetTokenLifetime(lifetime)
		check(fmt.Sprintf("expires_in %d", int(lifetime.Seconds())), lifetime)
	}
	// Answers of other servers, sent as they are.
	e.s.FailNext(1, Failure{Status: http.StatusOK, Body: e.tokenBody(`,"expires_in":"5400"`)})
	check(`expires_in "5400" (a string)`, 90*time.Minute)
	e.s.FailNext(1, Failure{Status: http.StatusOK, Body: e.tokenBody(``)})
	check("no expires_in", 0)
	e.wantRequests("expiry", 6, nil)
}

func caseTokenType(c *suite, t *testing.T) {
	for _, typ := range []string{"bearer", "BEARER"} {
		t.Run(typ, func(t *testing.T) {
			e := c.newEnv(t, Config{TokenType: typ})
			what := fmt.Sprintf("token_type %q", typ)
			tok, err := e.exchange(e.ctx, what, passwordRequest())
			if err != nil {
				t.Fatalf("%s: %v; want a token", what, err)
			}
			if tok.TokenType != "Bearer" {
				t.Errorf("%s: TokenType = %q, want the canonical %q", what, tok.TokenType, "Bearer")
			}
			if auth := tok.Authorization(); auth != "Bearer "+tok.AccessToken.Reveal() {
				scheme, _, _ := strings.Cut(auth, " ")
				t.Errorf("%s: Authorization() starts with %q, want \"Bearer \" + the access token", what, scheme)
			}
			e.useToken(what, tok, cfClientID, cfUsername)
		})
	}
}

func caseConcurrent(c *suite, t *testing.T) {
	const goroutines = 32
	e := c.newEnv(t, Config{})
	start := make(chan struct{})
	tokens := make(chan *tenantauth.Token, 2*goroutines)
	var wg sync.WaitGroup
	for i := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for _, req := range []tenantauth.TokenRequest{passwordRequest(), clientRequest()} {
				what := fmt.Sprintf("goroutine %d, %s grant", i, req.Grant)
				tok, err := e.exchange(e.ctx, what, req)
				if err != nil {
					e.t.Errorf("%s: %v; want a token", what, err)
					continue
				}
				tokens <- tok
			}
		}()
	}
	close(start)
	wg.Wait()
	close(tokens)
	seen := map[tenantauth.Secret]bool{}
	for tok := range tokens {
		if seen[tok.AccessToken] {
			t.Error("concurrent exchanges: two calls returned the same access token; want each its own")
		}
		seen[tok.AccessToken] = true
		e.checkToken("concurrent exchange", tok, false)
	}
	e.wantRequests("concurrent exchanges", 2*goroutines, map[string]int{"password": goroutines, "client_credentials": goroutines})
}

package tenantauthtest

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/tenantauth/tenantauth"
)

// This file holds the conformance suite's leak detection: every value an
// Exchange returns is rendered every way a program might log it and searched
// for every secret of its case; and the Secrets case, where the server echoes
// the secrets back.

// recheck checks every outcome again against the secrets of the case it
// was not checked against yet (tokens issued later), and the Provider's own
// rendering against all.
func (e *env) recheck() {
	e.mu.Lock()
	results := append([]outcome(nil), e.results...)
	secrets := append([]secret(nil), e.secrets...)
	e.mu.Unlock()
	for _, o := range results {
		if o.known < len(secrets) {
			e.checkLeak(o.what, renderOutcome(o.tok, o.err), secrets[o.known:])
		}
	}
	e.checkLeak("the Provider", renderValue(e.p), secrets)
}

// checkLeak fails the test if a rendering contains a secret, or the
// distinctive part of one (a leak that escaped or encoded the rest).
// Rendered values are not printed: they would show the secret.
func (e *env) checkLeak(what string, renderings []rendering, secrets []secret) {
	e.t.Helper()
	for _, s := range secrets {
		var where []string
	next:
		for _, r := range renderings {
			for _, n := range needles(s.value) {
				if strings.Contains(r.text, n) {
					where = append(where, r.how)
					continue next
				}
			}
		}
		if len(where) > 0 {
			e.t.Errorf("%s: %s leaked into %s", what, s.name, strings.Join(where, ", "))
		}
	}
}

// needles returns what a leak of s contains: s itself and each run of at
// least 8 ASCII letters and digits in it.
func needles(s string) []string {
	out := []string{s}
	run := 0
	for i := 0; i <= len(s); i++ {
		if i < len(s) && isAlnum(s[i]) {
			run++
			continue
		}
		if run >= 8 && run < len(s) {
			out = append(out, s[i-run:i])
		}
		run = 0
	}
	return out
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// A rendering is one way a value prints.
type rendering struct{ how, text string }

// renderOutcome renders a token and an error every way a program might log
// them: fmt's verbs, JSON, and each error of the chain with its fields.
func renderOutcome(tok *tenantauth.Token, err error) []rendering {
	var out []rendering
	if tok != nil {
		out = append(out, renderValue(tok)...)
		out = append(out, rendering{"%+v of the Token value", fmt.Sprintf("%+v", *tok)})
		if b, jerr := json.Marshal(tok); jerr == nil {
			out = append(out, rendering{"the Token's JSON", string(b)})
		}
	}
	if err != nil {
		out = append(out, rendering{"Error()", err.Error()})
		out = append(out, renderValue(err)...)
		for i, e := range errorTree(err) {
			how := fmt.Sprintf("wrapped error #%d (%T)", i+1, e)
			out = append(out, rendering{how + ".Error()", e.Error()}, rendering{"%#v of " + how, fmt.Sprintf("%#v", e)})
		}
		var te *tenantauth.TokenError
		if errors.As(err, &te) && te != nil {
			// A value, not a pointer: fmt prints the fields themselves.
			out = append(out, rendering{"the TokenError's fields", fmt.Sprintf("%+v", *te)})
		}
	}
	return out
}

func renderValue(v any) []rendering {
	return []rendering{
		{"%v", fmt.Sprintf("%v", v)},
		{"%+v", fmt.Sprintf("%+v", v)},
		{"%#v", fmt.Sprintf("%#v", v)},
		{"%s", fmt.Sprintf("%s", v)},
		{"%q", fmt.Sprintf("%q", v)},
	}
}

// errorTree lists the errors err wraps, depth first, at most 64.
func errorTree(err error) []error {
	var out []error
	var walk func(error)
	walk = func(e error) {
		if e == nil || len(out) >= 64 {
			return
		}
		out = append(out, e)
		switch u := e.(type) {
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		case interface{ Unwrap() []error }:
			for _, w := range u.Unwrap() {
				walk(w)
			}
		}
	}
	walk(err)
	return out[1:]
}

func caseSecrets(c *suite, t *testing.T) {
	// Every Exchange of every case is checked for leaks; here the server
	// echoes the secrets back, as broken servers and proxies do.
	e := c.newEnv(t, Config{RefreshTokens: true})
	first, err := e.exchange(e.ctx, "password grant", passwordRequest())
	if err != nil {
		t.Fatalf("password grant: %v; want a token", err)
	}
	echo := "client_secret=" + cfClientSecret + "&username=" + cfUsername + "&password=" + cfPassword
	jsonEcho, _ := json.Marshal("invalid client_secret " + cfClientSecret + " or password " + cfPassword)
	// A Provider knows the secrets of its request and of the answer, not
	// every token it ever returned: the echo is of the refresh token sent.
	tokens, _ := json.Marshal("refresh token " + first.RefreshToken.Reveal() + " was revoked")
	for _, tc := range []struct {
		what string
		f    Failure
		req  tenantauth.TokenRequest
	}{
		{"an HTML error page echoing the request", Failure{Status: 502, Header: http.Header{"Content-Type": {"text/html"}},
			Body: "<html><body><h1>Bad Gateway</h1><pre>" + echo + "</pre></body></html>"}, passwordRequest()},
		{"a plain-text error echoing the request", Failure{Status: 400, Header: http.Header{"Content-Type": {"text/plain"}},
			Body: "bad request: " + echo}, passwordRequest()},
		{"an OAuth error echoing the secrets", Failure{Status: 400,
			Body: `{"error":"invalid_request","error_description":` + string(jsonEcho) + `,"message":` + string(jsonEcho) + `,"hint":` + string(jsonEcho) + `}`},
			passwordRequest()},
		{"an OAuth error echoing the refresh token", Failure{Status: 401,
			Body: `{"error":"invalid_grant","error_description":` + string(tokens) + `,"message":` + string(tokens) + `}`},
			tenantauth.TokenRequest{Grant: tenantauth.GrantRefreshToken, Credentials: passwordCreds(), RefreshToken: first.RefreshToken}},
	} {
		e.s.FailNext(1, tc.f)
		if _, err := e.exchange(e.ctx, tc.what, tc.req); err == nil {
			t.Errorf("%s: Exchange succeeded; want an error", tc.what)
		}
	}
	// A refresh still works afterwards (nothing was consumed).
	tok, err := e.exchange(e.ctx, "refresh_token grant", tenantauth.TokenRequest{
		Grant: tenantauth.GrantRefreshToken, Credentials: passwordCreds(), RefreshToken: first.RefreshToken})
	if err != nil {
		t.Errorf("refresh_token grant after the failures: %v; want a token", err)
	}
	e.useToken("refresh_token grant after the failures", tok, cfClientID, cfUsername)
	// The Provider's own rendering is checked when the case ends.
}

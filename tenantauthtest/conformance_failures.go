package tenantauthtest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tenantauth/tenantauth"
)

// This file holds the conformance cases where the exchange must fail, and
// fail well: refused credentials and grants, temporary failures with
// Retry-After, redirects, oversized answers, cancelled contexts and unknown
// grants.

func caseWrongCredentials(c *suite, t *testing.T) {
	e := c.newEnv(t, Config{})
	wrongPassword := passwordCreds()
	wrongPassword.Password = cfWrongPassword
	wrongSecret := passwordCreds()
	wrongSecret.ClientSecret = cfWrongSecret
	wrongMachineSecret := clientCreds()
	wrongMachineSecret.ClientSecret = cfWrongSecret
	unknownClient := passwordCreds()
	unknownClient.ClientID = cfUnknownClient
	for _, tc := range []struct {
		what  string
		creds tenantauth.Credentials
		want  refusal
	}{
		{"wrong password", wrongPassword, c.spec.wrongPassword},
		{"wrong client secret (password grant)", wrongSecret, c.spec.wrongSecret},
		{"wrong client secret (client_credentials grant)", wrongMachineSecret, c.spec.wrongSecret},
		{"unknown client", unknownClient, c.spec.unknownClient},
	} {
		tok, err := e.exchange(e.ctx, tc.what, tenantauth.TokenRequest{Grant: tc.creds.Grant, Credentials: tc.creds})
		e.wantRefusal(tc.what, tok, err, tc.want)
	}
	e.wantRequests("wrong credentials", 4, nil)
}

func casePasswordGrantDisabled(c *suite, t *testing.T) {
	e := c.newEnv(t, Config{DisablePasswordGrant: true})
	tok, err := e.exchange(e.ctx, "password grant disabled", passwordRequest())
	e.wantRefusal("password grant disabled", tok, err, c.spec.passwordDisabled)
	// The refusal concerns one grant: the client's other grant still works.
	tok, err = e.exchange(e.ctx, "client_credentials with the password grant disabled", clientRequest())
	if err != nil {
		t.Errorf("client_credentials with the password grant disabled: %v; want a token", err)
	}
	e.checkToken("client_credentials with the password grant disabled", tok, false)
	e.wantRequests("password grant disabled", 2, map[string]int{"password": 1, "client_credentials": 1})
}

func caseTemporaryFailure(c *suite, t *testing.T) {
	e := c.newEnv(t, Config{})
	// Far enough ahead that no slow machine reaches it before the request.
	date := time.Now().Add(2 * time.Minute).UTC().Format(http.TimeFormat)
	for _, tc := range []struct {
		what       string
		f          Failure
		minRA      time.Duration // RetryAfter within (minRA, maxRA]; both 0: exactly 0
		maxRA      time.Duration
		tokenError bool // a status answer, so a *TokenError
	}{
		{"503 with Retry-After: 7", Failure{Status: 503, Header: http.Header{"Retry-After": {"7"}}}, 0, 7 * time.Second, true},
		{"500 with Retry-After: an HTTP date 2 minutes ahead", Failure{Status: 500, Header: http.Header{"Retry-After": {date}}}, 0, 2*time.Minute + time.Second, true},
		{"429 with Retry-After: 3", Failure{Status: 429, Body: `{"message":"Too Many Attempts."}`, Header: http.Header{"Retry-After": {"3"}}}, 0, 3 * time.Second, true},
		{"502 with an HTML page, no Retry-After", Failure{Status: 502, Body: "<html><body><h1>502 Bad Gateway</h1></body></html>",
			Header: http.Header{"Content-Type": {"text/html"}}}, 0, 0, true},
		{"connection dropped", Failure{CloseConn: true}, 0, 0, false},
	} {
		e.s.FailNext(1, tc.f)
		before := e.s.Stats().TokenRequests
		tok, err := e.exchange(e.ctx, tc.what, passwordRequest())
		if n := e.s.Stats().TokenRequests - before; n != 1 && tc.tokenError {
			t.Errorf("%s: Exchange sent %d token requests, want 1 (retries are the Manager's job)", tc.what, n)
		}
		if err == nil {
			t.Errorf("%s: Exchange succeeded; want an error", tc.what)
			continue
		}
		if errors.Is(err, tenantauth.ErrInvalidCredentials) {
			t.Errorf("%s: error matches tenantauth.ErrInvalidCredentials; the endpoint failed, not the credentials", tc.what)
		}
		if !tc.tokenError || tok != nil || err == errPanicked {
			continue
		}
		var te *tenantauth.TokenError
		if !errors.As(err, &te) || te == nil {
			t.Errorf("%s: error %q (%T) is not a *tenantauth.TokenError", tc.what, err, err)
			continue
		}
		if te.StatusCode != tc.f.Status {
			t.Errorf("%s: TokenError.StatusCode = %d, want %d", tc.what, te.StatusCode, tc.f.Status)
		}
		if !te.Temporary() {
			t.Errorf("%s: TokenError.Temporary() = false, want true", tc.what)
		}
		if tc.maxRA == 0 && te.RetryAfter != 0 {
			t.Errorf("%s: RetryAfter = %v, want 0 (no Retry-After header)", tc.what, te.RetryAfter)
		}
		if tc.maxRA != 0 && (te.RetryAfter <= tc.minRA || te.RetryAfter > tc.maxRA) {
			t.Errorf("%s: RetryAfter = %v, want > %v and ≤ %v (Retry-After: %s)", tc.what, te.RetryAfter, tc.minRA, tc.maxRA,
				tc.f.Header.Get("Retry-After"))
		}
	}
	// Failures leave nothing behind: the next request works.
	tok, err := e.exchange(e.ctx, "password grant after the failures", passwordRequest())
	if err != nil {
		t.Errorf("password grant after the failures: %v; want a token", err)
	}
	e.useToken("password grant after the failures", tok, cfClientID, cfUsername)
}

func caseRedirect(c *suite, t *testing.T) {
	for _, status := range []int{http.StatusFound, http.StatusTemporaryRedirect} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			e := c.newEnv(t, Config{})
			// Following the redirect would send the request, and with a 307
			// its body (client secret, password), to the API.
			e.s.FailNext(1, Failure{Status: status, Header: http.Header{"Location": {e.s.APIURL() + "/redirected"}}})
			what := fmt.Sprintf("answer %d with a Location", status)
			tok, err := e.exchange(e.ctx, what, passwordRequest())
			switch {
			case err == nil:
				t.Errorf("%s: Exchange succeeded; want an error matching tenantauth.ErrRedirect", what)
			case tok == nil && !errors.Is(err, tenantauth.ErrRedirect):
				t.Errorf("%s: error %q does not match tenantauth.ErrRedirect", what, err)
			}
			if n := e.s.Stats().APIRequests; n != 0 {
				t.Errorf("%s: the redirect was followed (%d requests reached its target); want it refused", what, n)
			}
		})
	}
}

func caseOversizedResponse(c *suite, t *testing.T) {
	e := c.newEnv(t, Config{})
	const size = 4 << 20
	e.s.FailNext(1, Failure{Status: http.StatusOK, Body: e.tokenBody(`,"expires_in":3600,"padding":"` + strings.Repeat("x", size) + `"`)})
	tok, err := e.exchange(e.ctx, "a 4 MiB token response", passwordRequest())
	if err == nil && tok != nil {
		t.Errorf("a 4 MiB token response: Exchange accepted it; want an error (response bodies must be size-limited)")
	}
}

func caseContext(c *suite, t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	expired, cancel2 := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel2()
	for _, tc := range []struct {
		what     string
		ctx      context.Context
		want     error
		wantName string
	}{
		{"context cancelled before the call", cancelled, context.Canceled, "context.Canceled"},
		{"context past its deadline before the call", expired, context.DeadlineExceeded, "context.DeadlineExceeded"},
	} {
		t.Run(tc.what, func(t *testing.T) {
			e := c.newEnv(t, Config{})
			tok, err := e.exchange(tc.ctx, tc.what, passwordRequest())
			switch {
			case err == nil:
				t.Errorf("%s: Exchange succeeded; want an error matching %s", tc.what, tc.wantName)
			case tok == nil && !errors.Is(err, tc.want):
				t.Errorf("%s: error %q does not match %s (wrap it with %%w)", tc.what, err, tc.wantName)
			}
			if n := e.s.Stats().TokenRequests; n != 0 {
				t.Errorf("%s: the server saw %d token requests, want 0", tc.what, n)
			}
		})
	}
	t.Run("context cancelled in flight", func(t *testing.T) {
		const what = "context cancelled while the server holds the request"
		e := c.newEnv(t, Config{})
		e.s.FailNext(1, Failure{Hang: true})
		ctx, cancel := context.WithCancel(e.ctx)
		defer cancel()
		type result struct {
			tok      *tenantauth.Token
			err      error
			panicked any
		}
		done := make(chan result, 1)
		go func() {
			var r result
			req := e.prepare(passwordRequest())
			r.panicked = catch(func() { r.tok, r.err = e.p.Exchange(ctx, req) })
			done <- r
		}()
		// Wait for the request to arrive; a bound, not a timing assertion.
		deadline := time.Now().Add(waitBound)
		for e.s.Stats().TokenRequests == 0 && time.Now().Before(deadline) {
			select {
			case r := <-done:
				t.Fatalf("%s: Exchange returned before its request reached the server (error %v, panic %v)", what, r.err, r.panicked)
			case <-time.After(time.Millisecond):
			}
		}
		cancel()
		var r result
		select {
		case r = <-done:
		case <-time.After(waitBound):
			t.Errorf("%s: Exchange had not returned %v after the context was cancelled", what, waitBound)
			e.s.Close() // drops the held request
			r = <-done
		}
		if r.panicked != nil {
			t.Fatalf("%s: Exchange panicked: %v", what, r.panicked)
		}
		e.record(what, r.tok, r.err)
		switch {
		case r.err == nil:
			t.Errorf("%s: Exchange succeeded; want an error matching context.Canceled", what)
		case !errors.Is(r.err, context.Canceled):
			t.Errorf("%s: error %q does not match context.Canceled (wrap it with %%w)", what, r.err)
		}
	})
}

func caseUnknownGrant(c *suite, t *testing.T) {
	e := c.newEnv(t, Config{})
	// implicit has no token request at all (RFC 6749 §4.2); the other one
	// is no grant anybody defines.
	for _, g := range []tenantauth.Grant{"implicit", "urn:tenantauthtest:unknown-grant"} {
		what := fmt.Sprintf("grant %q", g)
		req := passwordRequest()
		req.Grant = g
		if tok, err := e.exchange(e.ctx, what, req); err == nil {
			t.Errorf("%s: Exchange succeeded (token %v); want an error", what, tok)
		}
	}
	if n := e.s.Stats().TokenRequests; n != 0 {
		t.Errorf("unknown grants: the server saw %d token requests, want 0 (refuse before any I/O)", n)
	}
}

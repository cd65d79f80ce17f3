package stacktest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tenantauth/tenantauth"
)

// fuzzAnswer is what the fuzz server answers the next token request with.
type fuzzAnswer struct {
	status      int
	contentType string
	retryAfter  string
	body        []byte
}

// Placeholders a fuzzed body may contain; the server replaces them with the
// request's secrets (an endpoint echoing them) or with a distinctive access
// token.
const (
	phSecret   = "{{secret}}"
	phPassword = "{{password}}"
	phToken    = "{{token}}"
)

// FuzzTokenResponse drives a whole Manager, with a Keycloak or a Passport
// provider, against a token server answering the fuzzed status, headers and
// body. Whatever the answer: no panic, no hang, and either a usable token
// (only for a 2xx) or an error a caller can match — a *TokenError carrying
// the status for any non-2xx but 3xx, ErrRedirect for a 3xx. No error, log
// record or rendering contains the client secret or the password, even
// when the server echoes them, nor an access token the answer carried in
// access_token or refresh_token.
func FuzzTokenResponse(f *testing.F) {
	seeds := []struct {
		status         uint16
		ct, retryAfter string
		body           string
		passport       bool
	}{
		{200, "application/json", "", `{"access_token":"` + phToken + `","expires_in":86400,"refresh_expires_in":0,"token_type":"Bearer","not-before-policy":0,"scope":"profile email"}`, false},
		{200, "application/json", "", `{"token_type":"Bearer","expires_in":2592000,"access_token":"` + phToken + `","refresh_token":"def50200abc"}`, true},
		{200, "application/json", "", `{"access_token":"abc","token_type":"bearer","expires_in":"3600"}`, false},
		{200, "application/json", "", `{"access_token":"abc","expires_in":1e400,"refresh_expires_in":-1}`, true},
		{200, "application/json", "", `{"access_token":"abc","expires_in":3599.999}`, false},
		{200, "application/json", "", `{"access_token":"a","access_token":"` + phToken + `","token_type":"mac"}`, true},
		{200, "application/json", "", `{"access_token":"` + phToken + `","error":"invalid_grant","error_description":"` + phToken + `"}`, false},
		{200, "application/json", "", `{"access_token":"has space"}`, false},
		{200, "application/json", "", `{"access_token":"` + phToken + `"`, true},
		{200, "application/json", "", `[{"access_token":"abc"}]`, false},
		{200, "text/html", "", `<html><body>login</body></html>`, true},
		{200, "", "", ``, false},
		{200, "application/json", "", "{\"access_token\":\"\xff\xfe\"}", false},
		{200, "application/json", "", `{"access_token":null,"expires_in":{}}`, true},
		{400, "application/json", "", `{"error":"invalid_grant","error_description":"bad password ` + phPassword + ` for ` + phSecret + `"}`, false},
		{400, "application/json", "", `{"error":"unsupported_grant_type","error_description":"The authorization grant type is not supported by the authorization server.","hint":"Check that all required parameters have been provided","message":"The authorization grant type is not supported by the authorization server."}`, true},
		{401, "application/json", "", `{"error":"invalid_client","message":"` + phSecret + `","hint":"` + phPassword + `"}`, true},
		{401, "", "", ``, false},
		{400, "text/html", "", `<html>` + phSecret + ` ` + phPassword + `</html>`, false},
		{403, "application/json", "", `{"error":"access_denied","access_token":"` + phToken + `","error_description":"` + phToken + `"}`, true},
		{429, "", "7", ``, false},
		{429, "application/json", "Wed, 21 Oct 2065 07:28:00 GMT", `{"error":"slow_down"}`, true},
		{503, "text/html", "-1", `<h1>down</h1>`, false},
		{500, "application/json", "99999999999999999999", `{"error":"server_error"}`, true},
		{502, "", "Mon, 01 Jan 1990 00:00:00 GMT", `bad gateway`, false},
		{302, "", "", ``, false},
		{307, "text/html", "", `moved`, true},
		{204, "application/json", "", `{"access_token":"abc"}`, false},
		{0, "application/json; charset=utf-8", "", `{"access_token":"abc","expires_in":60}`, true},
		{599, "application/problem+json", "1", `{"type":"about:blank","title":"x"}`, false},
	}
	for _, s := range seeds {
		f.Add(s.status, s.ct, s.retryAfter, []byte(s.body), s.passport)
	}

	var cur atomic.Pointer[fuzzAnswer]
	var secrets atomic.Pointer[account]
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, acct := cur.Load(), secrets.Load()
		body := bytes.ReplaceAll(a.body, []byte(phSecret), []byte(acct.secret))
		body = bytes.ReplaceAll(body, []byte(phPassword), []byte(acct.password))
		if a.contentType != "" {
			w.Header().Set("Content-Type", a.contentType)
		}
		if a.retryAfter != "" {
			w.Header().Set("Retry-After", a.retryAfter)
		}
		w.WriteHeader(a.status)
		_, _ = w.Write(body)
	}))
	f.Cleanup(srv.Close)
	hc, tr := tokenClient(nil, nil)
	f.Cleanup(tr.CloseIdleConnections)

	f.Fuzz(func(t *testing.T, status uint16, contentType, retryAfter string, body []byte, passport bool) {
		code := int(status)
		if code < 200 || code > 599 { // 1xx are not final answers
			code = 200 + code%400
		}
		a := &fuzzAnswer{
			status:      code,
			contentType: headerValue(contentType),
			retryAfter:  headerValue(retryAfter),
			// Only the placeholders may produce a test secret's marker.
			body: bytes.ReplaceAll(body, []byte(markAny), []byte("zq9x")),
		}
		access := secretValue(markAccess)
		a.body = bytes.ReplaceAll(a.body, []byte(phToken), []byte(access))
		acct := newAccount("fuzz", tenantauth.GrantPassword)
		cur.Store(a)
		secrets.Store(&acct)

		d := keycloakDialect
		if passport {
			d = passportDialect
		}
		var logs bytes.Buffer
		m, err := tenantauth.New(tenantauth.Config{
			Tenants: tenantauth.Tenants{"fuzz": {
				Provider:    newProvider(t, d, srv.URL, hc),
				Credentials: acct.credentials(),
				APIHosts:    []string{tenantauth.AnyHost},
			}},
			CacheSize:    16,
			Retries:      -1,
			FetchTimeout: 5 * time.Second,
			Logger:       slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeoutCause(context.Background(), hangGuard, errHangGuard)
		defer cancel()
		tok, err := m.Token(ctx, "fuzz")
		if errors.Is(context.Cause(ctx), errHangGuard) {
			t.Fatalf("Token hung for %v on status %d body %q", hangGuard, a.status, a.body)
		}
		if cerr := m.Close(); cerr != nil {
			t.Fatalf("Close: %v", cerr)
		}

		if (tok == nil) == (err == nil) {
			t.Fatalf("Token = %v, %v: want exactly one of token and error", tok, err)
		}
		var texts []string
		if tok != nil {
			if a.status >= 300 {
				t.Fatalf("status %d yielded a token", a.status)
			}
			raw := tok.AccessToken.Reveal()
			if raw == "" || strings.ContainsAny(raw, " \t\r\n\x00\x7f") {
				t.Fatalf("unusable access token %q", raw)
			}
			if got, want := tok.Authorization(), "Bearer "+raw; got != want {
				t.Fatalf("Authorization() = %q, want %q", got, want)
			}
			for _, v := range renderVerbs {
				texts = append(texts, fmt.Sprintf(v, tok), fmt.Sprintf(v, *tok))
			}
		} else {
			checkFuzzError(t, a, err)
			for _, v := range renderVerbs {
				texts = append(texts, fmt.Sprintf(v, err))
			}
		}
		texts = append(texts, logs.String())

		forbidden := []string{acct.secret, acct.password}
		if answerCarriesToken(a.body, access) {
			forbidden = append(forbidden, access)
		}
		for _, text := range texts {
			for _, s := range forbidden {
				if strings.Contains(text, s) {
					t.Fatalf("a secret leaked into %q", text)
				}
			}
		}
	})
}

// checkFuzzError checks that err is one a caller can act on, consistent
// with the answer's status.
func checkFuzzError(t *testing.T, a *fuzzAnswer, err error) {
	t.Helper()
	var te *tenantauth.TokenError
	switch {
	case a.status >= 300 && a.status < 400:
		if !errors.Is(err, tenantauth.ErrRedirect) {
			t.Fatalf("status %d: error %v, want ErrRedirect", a.status, err)
		}
	case a.status >= 400:
		if !errors.As(err, &te) || te.StatusCode != a.status {
			t.Fatalf("status %d: error %v, want a *TokenError with that status", a.status, err)
		}
	default:
		// 2xx: a TokenError (an error member), or a malformed or
		// oversized answer (matched by message until the providers
		// export those sentinels; see callerMatch in the matrix).
		if callerMatch(err) == "" && !malformed.ok(err) && !tooLarge.ok(err) {
			t.Fatalf("status %d: error %q is of no kind a caller can match", a.status, err)
		}
	}
}

// answerCarriesToken reports whether the fuzzed body hands over access as
// the value of access_token or refresh_token (any case, as encoding/json
// matches; the last of duplicate keys, as it decides): the parser then
// knows it is a token and must keep it out of errors.
func answerCarriesToken(body []byte, access string) bool {
	var v struct {
		AccessToken  any `json:"access_token"`
		RefreshToken any `json:"refresh_token"`
	}
	if json.Unmarshal(body, &v) != nil {
		return bytes.Contains(body, []byte(`"access_token":"`+access+`"`)) ||
			bytes.Contains(body, []byte(`"refresh_token":"`+access+`"`))
	}
	at, _ := v.AccessToken.(string)
	rt, _ := v.RefreshToken.(string)
	return at == access || rt == access
}

// headerValue keeps the printable ASCII of s: the fuzz target is the
// token response, not net/http's header validation.
func headerValue(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e {
			return -1
		}
		return r
	}, s)
}

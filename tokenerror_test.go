package tenantauth_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tenantauth/tenantauth"
)

const teEndpoint = "https://sso.example.com/realms/r/protocol/openid-connect/token"

// renderTokenError renders err every way a program may print, log or encode
// it: fmt's verbs, log/slog's JSON and text handlers (the error as a value,
// and its LogValue), and encoding/json.
func renderTokenError(err error) []string {
	var out []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%+q", "%x", "%X", "%d", "%-30.50s", "%T"} {
		out = append(out, verb+" "+fmt.Sprintf(verb, err))
	}
	out = append(out, "Error() "+err.Error(), "wrapped "+fmt.Errorf("fetch: %w", err).Error())
	var buf bytes.Buffer
	noTime := &slog.HandlerOptions{ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
		if len(groups) == 0 && a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}}
	for _, h := range []slog.Handler{slog.NewJSONHandler(&buf, noTime), slog.NewTextHandler(&buf, noTime)} {
		l := slog.New(h)
		l.Error("token fetch failed", "err", err)
		if lv, ok := err.(slog.LogValuer); ok {
			l.Error("token fetch failed", slog.Any("err", lv.LogValue()))
		}
	}
	out = append(out, "slog "+buf.String())
	b, jerr := json.Marshal(err)
	out = append(out, fmt.Sprintf("json %s %v", b, jerr))
	return out
}

// withServerText returns te with the server texts of set (0 or 1) filled
// in, as Parse keeps them: redacted. Both sets fill the same fields.
func withServerText(te tenantauth.TokenError, set int) *tenantauth.TokenError {
	texts := [][]string{
		{"Invalid [REDACTED] credentials", "https://docs.example/[REDACTED]", "Client [REDACTED] failed", "Check [REDACTED]",
			"<p>[REDACTED] Bad Gateway</p>", "[REDACTED]_error"},
		{"Invalid user credentials", "https://docs.example/e", "Client authentication failed", "Check the hint",
			"<p>502 Bad Gateway</p>", "realm_error"},
	}[set]
	te.Description, te.URI, te.Message, te.Hint, te.Body = texts[0], texts[1], texts[2], texts[3], texts[4]
	if te.Code != "" && !te.RegisteredCode() {
		te.Code = texts[5]
	}
	return &te
}

// serverWords are words only the server texts above hold.
var serverWords = []string{"REDACTED", "Invalid", "docs.example", "Client", "Check", "Bad Gateway", "<p>", "realm_error",
	"_error", "hint"}

// TestTokenErrorRendersNoServerText: no rendering of a TokenError — fmt's
// verbs, slog, JSON — holds a word of the server's texts, and two errors
// that differ only in those texts render identically. The old Error printed
// Description ("Invalid [REDACTED] credentials": the password was "user")
// and fmt's %#v printed every field.
func TestTokenErrorRendersNoServerText(t *testing.T) {
	bases := []tenantauth.TokenError{
		{Endpoint: teEndpoint, StatusCode: 401, Code: "invalid_grant"},
		{Endpoint: teEndpoint, StatusCode: 401, Code: "invalid_client"},
		{Endpoint: teEndpoint, StatusCode: 400, Code: "unsupported_grant_type"},
		{Endpoint: teEndpoint, StatusCode: 404, Code: "Realm does not exist"},
		{Endpoint: teEndpoint, StatusCode: 401},
		{Endpoint: teEndpoint, StatusCode: 502},
		{Endpoint: teEndpoint, StatusCode: 429, Code: "slow_down", RetryAfter: 30 * time.Second},
		{Endpoint: teEndpoint, StatusCode: 200, Code: "x"},
	}
	for _, base := range bases {
		a, b := withServerText(base, 0), withServerText(base, 1)
		ra, rb := renderTokenError(a), renderTokenError(b)
		for i := range ra {
			if ra[i] != rb[i] {
				t.Errorf("%d %q: rendering depends on the server text:\n  %q\n  %q", base.StatusCode, base.Code, ra[i], rb[i])
			}
			for _, w := range serverWords {
				if strings.Contains(ra[i], w) || strings.Contains(rb[i], w) {
					t.Errorf("%d %q: rendering holds the server's %q:\n  %q\n  %q", base.StatusCode, base.Code, w, ra[i], rb[i])
				}
			}
		}
		// The server texts are there, for deliberate use.
		if st := a.ServerText(); !strings.Contains(st, "Invalid [REDACTED] credentials") || !strings.Contains(st, "Bad Gateway") {
			t.Errorf("ServerText = %q", st)
		}
	}
}

// TestTokenErrorText: the library's text per code and status.
func TestTokenErrorText(t *testing.T) {
	const (
		prefix     = "tenantauth: token endpoint " + teEndpoint + ": status "
		remembered = "; the Manager remembers the refusal for Config.BadCredentialsTTL, Manager.Forget clears it"
		later      = "; a later attempt may succeed"
	)
	tests := []struct {
		te   tenantauth.TokenError
		want string
	}{
		{tenantauth.TokenError{StatusCode: 401, Code: "invalid_client", Description: "Client authentication failed"},
			"401: invalid_client: the token endpoint refused the client credentials (client ID or secret): check them" + remembered},
		{tenantauth.TokenError{StatusCode: 401, Code: "invalid_grant", Description: "Invalid user credentials"},
			"401: invalid_grant: the token endpoint refused the grant (the username and password, or a refresh token that expired, " +
				"was revoked or was already used): check the credentials" + remembered},
		{tenantauth.TokenError{StatusCode: 401, Code: "unauthorized_client"},
			"401: unauthorized_client: the token endpoint refused the client or its use of this grant (Keycloak answers so for a wrong " +
				"client secret too; enable Direct Access Grants for the password grant, Service Accounts for client_credentials): " +
				"check the client's credentials and settings" + remembered},
		{tenantauth.TokenError{StatusCode: 400, Code: "unsupported_grant_type"},
			"400: unsupported_grant_type: the server does not allow this grant (Laravel Passport 12 disables the password grant by " +
				"default; Passport::enablePasswordGrant() enables it): use a grant the server allows" + remembered},
		{tenantauth.TokenError{StatusCode: 400, Code: "invalid_scope"},
			"400: invalid_scope: the token endpoint refused the requested scope (Credentials.Scopes): ask only for scopes the client may have" + remembered},
		{tenantauth.TokenError{StatusCode: 400, Code: "invalid_request", Description: "Token has been revoked"},
			"400: invalid_request: the token endpoint found the request malformed (a missing, repeated or invalid parameter; " +
				"Laravel Passport also answers so for a revoked refresh token): check the provider's settings and the tenant's credentials" + remembered},
		{tenantauth.TokenError{StatusCode: 404, Code: "Realm does not exist"},
			"404: non-standard error code: no token endpoint at this URL: check the provider's base URL and (Keycloak) realm" + remembered},
		{tenantauth.TokenError{StatusCode: 404},
			"404: no token endpoint at this URL: check the provider's base URL and (Keycloak) realm" + remembered},
		{tenantauth.TokenError{StatusCode: 401, Message: "Unauthenticated."},
			"401: the token endpoint refused the client's authentication: check the client ID and secret " +
				"(and, for the password grant, the username and password)" + remembered},
		{tenantauth.TokenError{StatusCode: 400},
			"400: the token endpoint refused the request as malformed: check the provider's settings and the tenant's credentials" + remembered},
		{tenantauth.TokenError{StatusCode: 403},
			"403: the token endpoint, or a firewall in front of it, forbids this request: " +
				"check the client's permissions and that this service may reach the endpoint" + remembered},
		{tenantauth.TokenError{StatusCode: 405},
			"405: this URL does not take POST requests, so it is not the token endpoint: check the provider's base URL" + remembered},
		{tenantauth.TokenError{StatusCode: 429, Message: "Too Many Attempts.", RetryAfter: time.Minute},
			"429: the token endpoint limits the rate of token requests" + later + " (retry after 1m0s)"},
		{tenantauth.TokenError{StatusCode: 429, Code: "slow_down", RetryAfter: 30 * time.Second},
			"429: slow_down: the token endpoint asks for fewer requests (RFC 8628): wait longer between them" + later + " (retry after 30s)"},
		{tenantauth.TokenError{StatusCode: 503, RetryAfter: 7 * time.Second},
			"503: the token endpoint is unavailable (overloaded or in maintenance)" + later + " (retry after 7s)"},
		{tenantauth.TokenError{StatusCode: 503, Code: "temporarily_unavailable"},
			"503: temporarily_unavailable: the token endpoint is temporarily unable to answer (overloaded or in maintenance)" + later},
		{tenantauth.TokenError{StatusCode: 502, Body: "<html>Bad Gateway</html>"},
			"502: a proxy or gateway in front of the token endpoint got no usable answer from it" + later},
		{tenantauth.TokenError{StatusCode: 500, Code: "server_error"},
			"500: server_error: the token endpoint failed while handling the request (an error on its side)" + later},
		{tenantauth.TokenError{StatusCode: 500, Body: "oops"},
			"500: the token endpoint failed (a server error)" + later},
		{tenantauth.TokenError{StatusCode: 408},
			"408: the token endpoint timed out waiting for the request" + later},
		{tenantauth.TokenError{StatusCode: 200, Code: "invalid_grant"},
			"200: invalid_grant: the token endpoint refused the grant (the username and password, or a refresh token that expired, " +
				"was revoked or was already used): check the credentials" + remembered},
		{tenantauth.TokenError{StatusCode: 200, Code: "oops"},
			"200: non-standard error code: the token endpoint answered with an error instead of a token" + remembered},
		{tenantauth.TokenError{StatusCode: 418},
			"418: the token endpoint refused the request" + remembered},
		{tenantauth.TokenError{StatusCode: 0},
			"0: the token endpoint answered with an unexpected status" + remembered},
		{tenantauth.TokenError{StatusCode: 400, Code: "use_dpop_nonce"},
			"400: use_dpop_nonce: the token endpoint wants a valid DPoP proof (RFC 9449), or one with the nonce it sent: " +
				"set the tenant's Credentials.DPoP, or configure the client for Bearer tokens" + remembered},
	}
	for _, tt := range tests {
		te := tt.te
		te.Endpoint = teEndpoint
		if got, want := te.Error(), prefix+tt.want; got != want {
			t.Errorf("Error() =\n  %q\nwant\n  %q", got, want)
		}
	}
	// The endpoint is printed redacted, whatever a provider put there.
	te := &tenantauth.TokenError{Endpoint: "https://user:pw@sso.example.com/token?client_secret=s3cret", StatusCode: 401}
	for _, r := range renderTokenError(te) {
		if strings.Contains(r, "s3cret") || strings.Contains(r, "pw@") {
			t.Errorf("rendering %q holds the endpoint's user info or query", r)
		}
	}
}

// TestTokenErrorRegisteredCode: every registered code is printed with its
// own explanation; anything else is "non-standard error code".
func TestTokenErrorRegisteredCode(t *testing.T) {
	registered := []string{"invalid_request", "invalid_client", "invalid_grant", "unauthorized_client",
		"unsupported_grant_type", "invalid_scope", "access_denied", "unsupported_response_type", "server_error",
		"temporarily_unavailable", "invalid_token", "insufficient_scope", "authorization_pending", "slow_down",
		"expired_token", "invalid_target", "invalid_dpop_proof", "use_dpop_nonce"}
	fallback := (&tenantauth.TokenError{Endpoint: teEndpoint, StatusCode: 400}).Error()
	seen := map[string]string{}
	for _, code := range registered {
		te := &tenantauth.TokenError{Endpoint: teEndpoint, StatusCode: 400, Code: code}
		if !te.RegisteredCode() {
			t.Errorf("%q: RegisteredCode false", code)
		}
		msg := te.Error()
		if !strings.Contains(msg, ": status 400: "+code+": ") {
			t.Errorf("%q: Error() = %q, want the code", code, msg)
		}
		expl := strings.SplitN(msg, code+": ", 2)[1]
		if strings.HasSuffix(fallback, expl) {
			t.Errorf("%q: no explanation of its own: %q", code, msg)
		}
		if other, dup := seen[expl]; dup && !(other == "invalid_dpop_proof" && code == "use_dpop_nonce") {
			t.Errorf("%q and %q share the explanation %q", other, code, expl)
		}
		seen[expl] = code
	}
	for _, code := range []string{"INVALID_GRANT", "invalid_grant ", "invalid_[REDACTED]", "Realm does not exist", "xyz_code"} {
		te := &tenantauth.TokenError{Endpoint: teEndpoint, StatusCode: 400, Code: code}
		if te.RegisteredCode() {
			t.Errorf("%q: RegisteredCode true", code)
		}
		if msg := te.Error(); !strings.Contains(msg, ": status 400: non-standard error code: ") || strings.Contains(msg, code) {
			t.Errorf("%q: Error() = %q", code, msg)
		}
	}
	if (&tenantauth.TokenError{}).RegisteredCode() {
		t.Error("empty code registered")
	}
}

// TestTokenErrorClassification: Is, InvalidCredentials, Temporary and
// TenantFault read Code whether it is registered or not, as before.
func TestTokenErrorClassification(t *testing.T) {
	tests := []struct {
		status               int
		code                 string
		invalid, temp, fault bool
	}{
		{401, "invalid_grant", true, false, true},
		{400, "invalid_client", true, false, true},
		{401, "unauthorized_client", true, false, true},
		{400, "unsupported_grant_type", false, false, true},
		{400, "invalid_scope", false, false, true},
		{401, "", true, false, true},
		{403, "", false, false, true},
		{404, "Realm does not exist", false, false, true},
		{401, "invalid_[REDACTED]", false, false, true},
		{200, "invalid_grant", true, false, true},
		{429, "", false, true, false},
		{408, "", false, true, false},
		{500, "server_error", false, true, false},
		{503, "invalid_grant", true, true, false},
	}
	for _, tt := range tests {
		te := withServerText(tenantauth.TokenError{Endpoint: teEndpoint, StatusCode: tt.status, Code: tt.code}, 0)
		var err error = te
		if te.InvalidCredentials() != tt.invalid || errors.Is(err, tenantauth.ErrInvalidCredentials) != tt.invalid ||
			errors.Is(fmt.Errorf("w: %w", err), tenantauth.ErrInvalidCredentials) != tt.invalid {
			t.Errorf("%d %q: InvalidCredentials = %v, want %v", tt.status, tt.code, te.InvalidCredentials(), tt.invalid)
		}
		if te.Temporary() != tt.temp || te.TenantFault() != tt.fault {
			t.Errorf("%d %q: Temporary %v TenantFault %v, want %v %v", tt.status, tt.code, te.Temporary(), te.TenantFault(), tt.temp, tt.fault)
		}
	}
}

// TestTokenErrorFormat: each verb prints the library's text as fmt would
// print a string; %#v is a Go-syntax summary of the printable fields; %+v
// says where the server's text went.
func TestTokenErrorFormat(t *testing.T) {
	te := withServerText(tenantauth.TokenError{Endpoint: teEndpoint, StatusCode: 401, Code: "invalid_grant"}, 0)
	msg := te.Error()
	var err error = te
	for verb, want := range map[string]string{
		"%v":      msg,
		"%s":      msg,
		"%q":      strconv.Quote(msg),
		"%x":      hex.EncodeToString([]byte(msg)),
		"%.20s":   msg[:20],
		"%-600s|": msg + strings.Repeat(" ", 600-len(msg)) + "|",
		"%d":      "%!d(*tenantauth.TokenError=" + msg + ")",
		"%+v": msg + "; the server's own text is not printed (redaction could reveal a secret): " +
			"TokenError.ServerText has it",
		"%#v": `&tenantauth.TokenError{Endpoint:"` + teEndpoint + `", StatusCode:401, Code:"invalid_grant" ` +
			`/* server text not printed: see ServerText */}`,
	} {
		if got := fmt.Sprintf(verb, err); got != want {
			t.Errorf("%s:\n  got  %q\n  want %q", verb, got, want)
		}
	}
	plain := &tenantauth.TokenError{Endpoint: teEndpoint, StatusCode: 429, Code: "Too Many", RetryAfter: time.Second}
	if got, want := fmt.Sprintf("%#v", plain), `&tenantauth.TokenError{Endpoint:"`+teEndpoint+`", StatusCode:429, RetryAfter:1000000000 `+
		`/* server text not printed: see ServerText */}`; got != want {
		t.Errorf("%%#v = %q, want %q", got, want)
	}
	clean := &tenantauth.TokenError{Endpoint: teEndpoint, StatusCode: 503}
	if got := fmt.Sprintf("%+v", clean); got != clean.Error() {
		t.Errorf("%%+v without server text = %q", got)
	}
	if got, want := fmt.Sprintf("%#v", clean), `&tenantauth.TokenError{Endpoint:"`+teEndpoint+`", StatusCode:503}`; got != want {
		t.Errorf("%%#v = %q, want %q", got, want)
	}
	var nilTE *tenantauth.TokenError
	if got := fmt.Sprintf("%v %+v %#v", nilTE, nilTE, nilTE); got != "<nil> <nil> <nil>" {
		t.Errorf("nil: %q", got)
	}
}

// TestTokenErrorLogValueAndJSON: slog and encoding/json get the printable
// fields, structured.
func TestTokenErrorLogValueAndJSON(t *testing.T) {
	tests := []struct {
		te   *tenantauth.TokenError
		want string // JSON without "message"
	}{
		{withServerText(tenantauth.TokenError{Endpoint: teEndpoint, StatusCode: 401, Code: "invalid_grant"}, 0),
			`{"endpoint":"` + teEndpoint + `","status":401,"code":"invalid_grant"}`},
		{withServerText(tenantauth.TokenError{Endpoint: teEndpoint, StatusCode: 404, Code: "Realm does not exist"}, 0),
			`{"endpoint":"` + teEndpoint + `","status":404,"nonstandard_code":true}`},
		{&tenantauth.TokenError{Endpoint: teEndpoint, StatusCode: 429, RetryAfter: 1500 * time.Millisecond},
			`{"endpoint":"` + teEndpoint + `","status":429,"retry_after_seconds":1.5}`},
	}
	for _, tt := range tests {
		b, err := json.Marshal(tt.te)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		if m["message"] != tt.te.Error() {
			t.Errorf("JSON message = %v, want Error()", m["message"])
		}
		delete(m, "message")
		rest, _ := json.Marshal(m)
		var want map[string]any
		_ = json.Unmarshal([]byte(tt.want), &want)
		wantB, _ := json.Marshal(want)
		if string(rest) != string(wantB) {
			t.Errorf("JSON = %s, want %s (plus message)", b, tt.want)
		}

		var buf bytes.Buffer
		slog.New(slog.NewJSONHandler(&buf, nil)).Error("fetch failed", "err", error(tt.te))
		var rec struct{ Err map[string]any }
		if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
			t.Fatalf("slog output %s: %v", buf.Bytes(), err)
		}
		if rec.Err["message"] != tt.te.Error() || rec.Err["endpoint"] != teEndpoint || rec.Err["status"] != float64(tt.te.StatusCode) {
			t.Errorf("slog err = %v", rec.Err)
		}
		if _, ok := rec.Err["code"]; ok != tt.te.RegisteredCode() {
			t.Errorf("slog err = %v: code present %v", rec.Err, ok)
		}
	}
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Error("fetch failed", "err", error(tests[0].te))
	if s := buf.String(); !strings.Contains(s, "err.status=401 err.code=invalid_grant") {
		t.Errorf("text handler: %s", s)
	}
}

// TestTokenErrorServerText joins the server's texts for deliberate use.
func TestTokenErrorServerText(t *testing.T) {
	te := &tenantauth.TokenError{StatusCode: 400, Code: "invalid_grant", Description: "The user credentials were incorrect.",
		Message: "The user credentials were incorrect.", Hint: "", Body: ""}
	want := `error="invalid_grant" error_description="The user credentials were incorrect." message="The user credentials were incorrect."`
	if got := te.ServerText(); got != want {
		t.Errorf("ServerText = %q, want %q", got, want)
	}
	te = &tenantauth.TokenError{StatusCode: 502, URI: "u", Hint: "h\n", Body: "<p>x</p>"}
	if got, want := te.ServerText(), `error_uri="u" hint="h\n" body="<p>x</p>"`; got != want {
		t.Errorf("ServerText = %q, want %q", got, want)
	}
	if got := (&tenantauth.TokenError{StatusCode: 503}).ServerText(); got != "" {
		t.Errorf("ServerText = %q, want empty", got)
	}
}

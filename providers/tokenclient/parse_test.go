package tokenclient

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tenantauth/tenantauth"
)

const testEndpoint = "https://sso.example.com/realms/r/protocol/openid-connect/token"

var testNow = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

// The seed documents' example responses.
const (
	keycloakExample = `{
    "access_token": "<ACCESS_TOKEN>",
    "expires_in": 86400,
    "refresh_expires_in": 0,
    "token_type": "Bearer",
    "not-before-policy": 1715704038,
    "scope": "profile email"
}`
	// As printed in the HubSoft document: unquoted keys, no commas. Not JSON.
	hubsoftExampleAsPrinted = `{
		access_token:"eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiIsImp0aSI6Ijg0MTM2O"
		expires_in:2592000
		refresh_token:"def502007d459fb49e6b09071f127a0163714607233687eac066
		token_type:"Bearer"
	}`
	// What a HubSoft server really sends.
	hubsoftExample = `{"token_type":"Bearer","expires_in":2592000,` +
		`"access_token":"eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiIsImp0aSI6Ijg0MTM2O",` +
		`"refresh_token":"def502007d459fb49e6b09071f127a0163714607233687eac066"}`
)

// Real error bodies.
const (
	keycloakWrongPassword = `{"error":"invalid_grant","error_description":"Invalid user credentials"}`
	keycloakBadClient     = `{"error":"unauthorized_client","error_description":"Invalid client or Invalid client credentials"}`
	passportBadClient     = `{"error":"invalid_client","error_description":"Client authentication failed","message":"Client authentication failed"}`
	passportWrongPassword = `{"error":"invalid_grant","error_description":"The user credentials were incorrect.","hint":"","message":"The user credentials were incorrect."}`
	passportNoPassword    = `{"error":"unsupported_grant_type","error_description":"The authorization grant type is not supported by the authorization server.","hint":"Check that all required parameters have been provided","message":"The authorization grant type is not supported by the authorization server."}`
	htmlBadGateway        = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)

// wantToken describes an expected token; zero durations mean a zero time.
type wantToken struct {
	access, typ, refresh, scope string
	expiresIn, refreshIn        time.Duration
}

func checkToken(t *testing.T, got *tenantauth.Token, w wantToken) {
	t.Helper()
	if got.AccessToken.Reveal() != w.access {
		t.Errorf("AccessToken = %q, want %q", got.AccessToken.Reveal(), w.access)
	}
	typ := w.typ
	if typ == "" {
		typ = "Bearer"
	}
	if got.TokenType != typ {
		t.Errorf("TokenType = %q, want %q", got.TokenType, typ)
	}
	if got.RefreshToken.Reveal() != w.refresh {
		t.Errorf("RefreshToken = %q, want %q", got.RefreshToken.Reveal(), w.refresh)
	}
	if got.Scope != w.scope {
		t.Errorf("Scope = %q, want %q", got.Scope, w.scope)
	}
	if !got.IssuedAt.Equal(testNow) {
		t.Errorf("IssuedAt = %v, want %v", got.IssuedAt, testNow)
	}
	checkTime(t, "Expiry", got.Expiry, w.expiresIn)
	checkTime(t, "RefreshExpiry", got.RefreshExpiry, w.refreshIn)
}

func checkTime(t *testing.T, name string, got time.Time, d time.Duration) {
	t.Helper()
	if d == 0 {
		if !got.IsZero() {
			t.Errorf("%s = %v, want zero", name, got)
		}
		return
	}
	if want := testNow.Add(d); !got.Equal(want) {
		t.Errorf("%s = %v (in %v), want in %v", name, got, got.Sub(testNow), d)
	}
}

func TestParseSuccess(t *testing.T) {
	tests := []struct {
		name string
		body string
		opts ParseOptions
		want wantToken
	}{
		{"keycloak example", keycloakExample, ParseOptions{},
			wantToken{access: "<ACCESS_TOKEN>", scope: "profile email", expiresIn: 86400 * time.Second}},
		{"hubsoft example as sent", hubsoftExample, ParseOptions{},
			wantToken{access: "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiIsImp0aSI6Ijg0MTM2O",
				refresh: "def502007d459fb49e6b09071f127a0163714607233687eac066", expiresIn: 30 * 24 * time.Hour}},
		{"expires_in string", `{"access_token":"a","expires_in":"3600"}`, ParseOptions{},
			wantToken{access: "a", expiresIn: time.Hour}},
		{"expires_in string with spaces", `{"access_token":"a","expires_in":" 3600 "}`, ParseOptions{},
			wantToken{access: "a", expiresIn: time.Hour}},
		{"expires_in fraction", `{"access_token":"a","expires_in":1.5}`, ParseOptions{},
			wantToken{access: "a", expiresIn: 1500 * time.Millisecond}},
		{"expires_in exponent", `{"access_token":"a","expires_in":3.6e3}`, ParseOptions{},
			wantToken{access: "a", expiresIn: time.Hour}},
		{"expires_in string exponent", `{"access_token":"a","expires_in":"36e2"}`, ParseOptions{},
			wantToken{access: "a", expiresIn: time.Hour}},
		{"expires_in missing", `{"access_token":"a"}`, ParseOptions{}, wantToken{access: "a"}},
		{"expires_in null", `{"access_token":"a","expires_in":null}`, ParseOptions{}, wantToken{access: "a"}},
		{"expires_in zero", `{"access_token":"a","expires_in":0}`, ParseOptions{}, wantToken{access: "a"}},
		{"expires_in negative", `{"access_token":"a","expires_in":-60}`, ParseOptions{}, wantToken{access: "a"}},
		{"expires_in garbage string", `{"access_token":"a","expires_in":"soon"}`, ParseOptions{}, wantToken{access: "a"}},
		{"expires_in hex string", `{"access_token":"a","expires_in":"0x10"}`, ParseOptions{}, wantToken{access: "a"}},
		{"expires_in NaN string", `{"access_token":"a","expires_in":"NaN"}`, ParseOptions{}, wantToken{access: "a"}},
		{"expires_in Inf string", `{"access_token":"a","expires_in":"Inf"}`, ParseOptions{}, wantToken{access: "a"}},
		{"expires_in object", `{"access_token":"a","expires_in":{"s":1}}`, ParseOptions{}, wantToken{access: "a"}},
		{"expires_in bool", `{"access_token":"a","expires_in":true}`, ParseOptions{}, wantToken{access: "a"}},
		{"expires_in underflow", `{"access_token":"a","expires_in":1e-400}`, ParseOptions{}, wantToken{access: "a"}},
		{"expires_in huge int", `{"access_token":"a","expires_in":99999999999999999999999}`, ParseOptions{},
			wantToken{access: "a", expiresIn: MaxLifetime}},
		{"expires_in overflow", `{"access_token":"a","expires_in":1e400}`, ParseOptions{},
			wantToken{access: "a", expiresIn: MaxLifetime}},
		{"expires_in overflow string", `{"access_token":"a","expires_in":"1e400"}`, ParseOptions{},
			wantToken{access: "a", expiresIn: MaxLifetime}},
		{"token_type lower case", `{"access_token":"a","token_type":"bearer"}`, ParseOptions{}, wantToken{access: "a"}},
		{"token_type upper case", `{"access_token":"a","token_type":"BEARER"}`, ParseOptions{}, wantToken{access: "a"}},
		{"token_type empty", `{"access_token":"a","token_type":""}`, ParseOptions{}, wantToken{access: "a"}},
		{"token_type null", `{"access_token":"a","token_type":null}`, ParseOptions{}, wantToken{access: "a"}},
		{"token_type DPoP allowed", `{"access_token":"a","token_type":"DPoP"}`, ParseOptions{AllowNonBearer: true},
			wantToken{access: "a", typ: "DPoP"}},
		{"refresh_expires_in zero", `{"access_token":"a","refresh_token":"r","refresh_expires_in":0}`, ParseOptions{},
			wantToken{access: "a", refresh: "r"}},
		{"refresh_expires_in set", `{"access_token":"a","refresh_token":"r","refresh_expires_in":"1800"}`, ParseOptions{},
			wantToken{access: "a", refresh: "r", refreshIn: 30 * time.Minute}},
		{"refresh_expires_in without refresh token", `{"access_token":"a","refresh_expires_in":1800}`, ParseOptions{},
			wantToken{access: "a"}},
		{"refresh_token not a string", `{"access_token":"a","refresh_token":5}`, ParseOptions{}, wantToken{access: "a"}},
		{"scope not a string", `{"access_token":"a","scope":["x"]}`, ParseOptions{}, wantToken{access: "a"}},
		{"duplicate key last wins", `{"access_token":"first","access_token":"second"}`, ParseOptions{},
			wantToken{access: "second"}},
		{"keys match case-insensitively", `{"ACCESS_TOKEN":"a","Expires_In":60}`, ParseOptions{},
			wantToken{access: "a", expiresIn: time.Minute}},
		{"escaped access token", `{"access_token":"a\u002fb\/c"}`, ParseOptions{}, wantToken{access: "a/b/c"}},
		{"error empty string is no error", `{"access_token":"a","error":""}`, ParseOptions{}, wantToken{access: "a"}},
		{"ten levels of nesting ignored",
			`{"access_token":"a","x":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{}}}}}}}}}}}`, ParseOptions{},
			wantToken{access: "a"}},
		{"leading white space", " \n\t" + `{"access_token":"a"}`, ParseOptions{}, wantToken{access: "a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, status := range []int{200, 201} {
				tok, err := Parse(testEndpoint, status, nil, []byte(tt.body), testNow, tt.opts)
				if err != nil {
					t.Fatalf("status %d: %v", status, err)
				}
				checkToken(t, tok, tt.want)
			}
		})
	}
}

func TestParseMalformedSuccess(t *testing.T) {
	tests := []struct {
		name, body, ct string
		opts           ParseOptions
		wantMsg        string
	}{
		{"hubsoft example as printed", hubsoftExampleAsPrinted, "", ParseOptions{}, "not valid JSON"},
		{"empty", "", "", ParseOptions{}, "empty body"},
		{"white space", " \r\n ", "", ParseOptions{}, "empty body"},
		{"array", `[{"access_token":"a"}]`, "", ParseOptions{}, "not a JSON object"},
		{"string", `"a"`, "", ParseOptions{}, "not a JSON object"},
		{"null", `null`, "", ParseOptions{}, "not a JSON object"},
		{"html", htmlBadGateway, "text/html; charset=utf-8", ParseOptions{}, `not a JSON object (Content-Type "text/html": a web page`},
		{"form-encoded", "access_token=abc&token_type=bearer", "application/x-www-form-urlencoded", ParseOptions{},
			`not a JSON object (Content-Type "application/x-www-form-urlencoded": a form-encoded answer`},
		// The header is the server's text: an unknown media type is not
		// named (it could echo a secret).
		{"unknown media type", "<x/>", "application/x-secret-token", ParseOptions{}, "not a JSON object (another media type)"},
		{"unparsable media type", "<x/>", "secret-token; ;", ParseOptions{}, "not a JSON object (another media type)"},
		{"truncated", `{"access_token":"abc`, "", ParseOptions{}, "not valid JSON"},
		{"trailing data", `{"access_token":"abc"} x`, "", ParseOptions{}, "not valid JSON"},
		{"no access_token", `{"token_type":"Bearer"}`, "", ParseOptions{}, "no access_token"},
		{"empty access_token", `{"access_token":""}`, "", ParseOptions{}, "no access_token"},
		{"null access_token", `{"access_token":null}`, "", ParseOptions{}, "no access_token"},
		{"numeric access_token", `{"access_token":12345}`, "", ParseOptions{}, "access_token is not a string"},
		{"access_token with space", `{"access_token":"a b"}`, "", ParseOptions{}, "spaces or control characters"},
		{"access_token with newline", `{"access_token":"a\r\nX-Evil: 1"}`, "", ParseOptions{}, "spaces or control characters"},
		{"token_type mac", `{"access_token":"tok-xyz","token_type":"mac"}`, "", ParseOptions{}, "token_type is not Bearer (set AllowNonBearer"},
		{"token_type not a string", `{"access_token":"a","token_type":1}`, "", ParseOptions{}, "token_type is not a string"},
		{"token_type not a token", `{"access_token":"a","token_type":"x y"}`, "", ParseOptions{AllowNonBearer: true}, "not an HTTP auth-scheme token"},
		{"token_type echoing the token", `{"access_token":"secret-token","token_type":"secret-token"}`, "", ParseOptions{},
			"token_type is not Bearer (set AllowNonBearer"},
		{"deep nesting", strings.Repeat("[", 20000) + strings.Repeat("]", 20000), "", ParseOptions{}, "not a JSON object"},
		{"deep nesting in object", `{"x":` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}`, "", ParseOptions{}, "not valid JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			if tt.ct != "" {
				h.Set("Content-Type", tt.ct)
			}
			tok, err := Parse(testEndpoint, 200, h, []byte(tt.body), testNow, tt.opts)
			if err == nil {
				t.Fatalf("got token %+v, want error", tok)
			}
			if !errors.Is(err, ErrMalformedResponse) {
				t.Errorf("error %v does not wrap ErrMalformedResponse", err)
			}
			var te *tenantauth.TokenError
			if errors.As(err, &te) {
				t.Errorf("malformed 2xx gave a TokenError (the breaker would blame the tenant): %v", err)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "tenantauth: ") || !strings.Contains(msg, tt.wantMsg) || !strings.Contains(msg, testEndpoint) {
				t.Errorf("error %q: want prefix tenantauth:, the endpoint and %q", msg, tt.wantMsg)
			}
			for _, secret := range []string{"eyJ0eXAi", "def50200", "abc", "secret-token", "12345", "X-Evil", "mac", "[REDACTED]"} {
				if strings.Contains(msg, secret) {
					t.Errorf("error %q contains %q from the body", msg, secret)
				}
			}
		})
	}
}

func TestParseRedirectStatus(t *testing.T) {
	for _, status := range []int{300, 301, 302, 303, 304, 307, 308} {
		_, err := Parse(testEndpoint, status, nil, []byte(`{"access_token":"a"}`), testNow, ParseOptions{})
		if !errors.Is(err, tenantauth.ErrRedirect) {
			t.Errorf("status %d: err = %v, want ErrRedirect", status, err)
		}
	}
}

func TestParseErrors(t *testing.T) {
	httpDate := testNow.Add(90 * time.Second).Format(http.TimeFormat)
	tests := []struct {
		name       string
		status     int
		retryAfter string
		body       string
		opts       ParseOptions
		want       tenantauth.TokenError // Endpoint and StatusCode are filled in
		invalid    bool                  // InvalidCredentials
		temporary  bool
	}{
		{name: "keycloak wrong password", status: 401, body: keycloakWrongPassword,
			want:    tenantauth.TokenError{Code: "invalid_grant", Description: "Invalid user credentials"},
			invalid: true},
		{name: "keycloak bad client", status: 401, body: keycloakBadClient,
			want:    tenantauth.TokenError{Code: "unauthorized_client", Description: "Invalid client or Invalid client credentials"},
			invalid: true},
		{name: "passport bad client", status: 401, body: passportBadClient,
			want: tenantauth.TokenError{Code: "invalid_client", Description: "Client authentication failed",
				Message: "Client authentication failed"},
			invalid: true},
		{name: "passport wrong password", status: 400, body: passportWrongPassword,
			want: tenantauth.TokenError{Code: "invalid_grant", Description: "The user credentials were incorrect.",
				Message: "The user credentials were incorrect."},
			invalid: true},
		{name: "passport 12 password grant disabled", status: 400, body: passportNoPassword,
			want: tenantauth.TokenError{Code: "unsupported_grant_type",
				Description: "The authorization grant type is not supported by the authorization server.",
				Hint:        "Check that all required parameters have been provided",
				Message:     "The authorization grant type is not supported by the authorization server."}},
		{name: "passport unauthenticated message only", status: 401, body: `{"message":"Unauthenticated."}`,
			want: tenantauth.TokenError{Message: "Unauthenticated."}, invalid: true},
		{name: "error_uri", status: 400, body: `{"error":"invalid_scope","error_uri":"https://docs.example.com/e"}`,
			want: tenantauth.TokenError{Code: "invalid_scope", URI: "https://docs.example.com/e"}},
		{name: "error in a 200 body", status: 200, body: `{"error":"invalid_grant","error_description":"nope"}`,
			want: tenantauth.TokenError{Code: "invalid_grant", Description: "nope"}, invalid: true},
		{name: "error in a 200 body with a token", status: 200, body: `{"access_token":"tok-123456","error":"server_error"}`,
			want: tenantauth.TokenError{Code: "server_error"}},
		{name: "empty 400", status: 400},
		{name: "empty 401", status: 401, invalid: true},
		{name: "empty 403", status: 403},
		{name: "white space 403", status: 403, body: " \n"},
		{name: "html 502", status: 502, body: htmlBadGateway, temporary: true,
			want: tenantauth.TokenError{Body: "<html> <head><title>502 Bad Gateway</title></head> <body> <center><h1>502 Bad Gateway</h1></center> <hr><center>nginx</center> </body> </html>"}},
		{name: "html 404 cut at 200 bytes", status: 404, body: "<p>" + strings.Repeat("é", 300),
			want: tenantauth.TokenError{Body: "<p>" + strings.Repeat("é", 98)}},
		{name: "text with control characters", status: 500, body: "oops\x00\x1b[31mred\xff\xfe", temporary: true,
			want: tenantauth.TokenError{Body: "oops [31mred"}},
		{name: "html mentioning access_token", status: 500, body: "<pre>access_token=abc123</pre>", temporary: true},
		{name: "html echoing the request", status: 500, body: "<pre>client_secret=s3cr%21t&password=hunter2</pre>",
			opts:      ParseOptions{Secrets: []tenantauth.Secret{"s3cr!t", "hunter2"}},
			temporary: true,
			want:      tenantauth.TokenError{Body: "<pre>client_secret=[REDACTED]&password=[REDACTED]</pre>"}},
		{name: "json echoing the request", status: 400,
			body: `{"error":"invalid_request","error_description":"bad password \"hunter\\\"2\""}`,
			opts: ParseOptions{Secrets: []tenantauth.Secret{`hunter"2`}},
			want: tenantauth.TokenError{Code: "invalid_request", Description: `bad password "[REDACTED]"`}},
		{name: "description quoting the body's token", status: 400,
			body: `{"access_token":"tok-A-123","access_token":"tok-B-456","error":"x","error_description":"tok-A-123 tok-B-456"}`,
			want: tenantauth.TokenError{Code: "x", Description: "[REDACTED] [REDACTED]"}},
		{name: "description with newlines", status: 400, body: `{"error":"x","error_description":"a\nFAKE LOG LINE"}`,
			want: tenantauth.TokenError{Code: "x", Description: "a FAKE LOG LINE"}},
		{name: "long description capped", status: 400, body: `{"error":"x","error_description":"` + strings.Repeat("d", 5000) + `"}`,
			want: tenantauth.TokenError{Code: "x", Description: strings.Repeat("d", maxTextField)}},
		{name: "error not a string", status: 400, body: `{"error":{"code":1},"message":"m"}`,
			want: tenantauth.TokenError{Message: "m"}},
		{name: "json array 500", status: 500, body: `["error"]`, temporary: true},
		{name: "truncated json 500", status: 500, body: `{"error":"server_err`, temporary: true},
		{name: "429 delta seconds", status: 429, retryAfter: "120", body: `{"error":"slow_down"}`, temporary: true,
			want: tenantauth.TokenError{Code: "slow_down", RetryAfter: 2 * time.Minute}},
		{name: "429 http date", status: 429, retryAfter: httpDate, temporary: true,
			want: tenantauth.TokenError{RetryAfter: 90 * time.Second}},
		{name: "503 retry after", status: 503, retryAfter: "7", temporary: true,
			want: tenantauth.TokenError{RetryAfter: 7 * time.Second}},
		{name: "500 garbage retry after", status: 500, retryAfter: "soon", temporary: true},
		{name: "400 retry after ignored", status: 400, retryAfter: "7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			if tt.retryAfter != "" {
				h.Set("Retry-After", tt.retryAfter)
			}
			tok, err := Parse(testEndpoint+"?secret=q", tt.status, h, []byte(tt.body), testNow, tt.opts)
			var te *tenantauth.TokenError
			if !errors.As(err, &te) {
				t.Fatalf("Parse = %v, %v; want *TokenError", tok, err)
			}
			want := tt.want
			want.Endpoint, want.StatusCode = testEndpoint, tt.status
			if *te != want {
				t.Errorf("TokenError =\n%#v\nwant\n%#v", *te, want)
			}
			if got := te.InvalidCredentials(); got != tt.invalid {
				t.Errorf("InvalidCredentials = %v, want %v", got, tt.invalid)
			}
			if got := errors.Is(err, tenantauth.ErrInvalidCredentials); got != tt.invalid {
				t.Errorf("errors.Is ErrInvalidCredentials = %v, want %v", got, tt.invalid)
			}
			if got := te.Temporary(); got != tt.temporary {
				t.Errorf("Temporary = %v, want %v", got, tt.temporary)
			}
			for _, s := range []string{"hunter", "s3cr", "tok-", "abc123", "secret=q"} {
				for _, form := range []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)} {
					if strings.Contains(form, s) {
						t.Errorf("error %q contains %q", form, s)
					}
				}
			}
		})
	}
}

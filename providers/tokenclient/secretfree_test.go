package tokenclient

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/tenantauth/tenantauth"
)

// propertySecrets are the secret values the text of an error must not
// depend on: words of the servers' own messages (Keycloak's "Invalid user
// credentials", Passport's "Client authentication failed"), pieces of the
// redaction marker, one-letter secrets, a registered error code, escapes,
// non-ASCII, control characters and a long token.
var propertySecrets = []string{
	"user", "Invalid", "credentials", "client", "grant", "a", "e", "i", "1", "[", "REDACTED", "RED", "]", "D]",
	"E", "r", "t", "o", "n", ".", "_", " ", ":", "The", "authentication", "failed", "invalid_grant", "grant_type",
	"Realm", "Bad Gateway", "html", "status", "token", "hunter2", `p"w\d<`, "s3cr!t/+=", "ÄÖÜ€", "\x01", "\t",
	"tok-" + strings.Repeat("0123456789abcdef", 8),
}

// renderAll renders err every way a program may print, log or encode it:
// fmt's verbs, log/slog's JSON and text handlers (the error as a value, and
// its LogValue), and encoding/json.
func renderAll(err error) []string {
	var out []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%+q", "%x", "%X", "%d", "%-30.50s", "%T"} {
		out = append(out, verb+" "+fmt.Sprintf(verb, err))
	}
	out = append(out, "Error() "+err.Error())
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
		l.Error("token fetch failed", slog.Any("err", err))
		if lv, ok := err.(slog.LogValuer); ok {
			l.Error("token fetch failed", slog.Any("err", lv.LogValue()))
		}
	}
	out = append(out, "slog "+buf.String())
	b, jerr := json.Marshal(err)
	out = append(out, fmt.Sprintf("json %s %v", b, jerr))
	return out
}

// sameRenderings fails unless a and b render identically.
func sameRenderings(t *testing.T, what string, a, b []string) {
	t.Helper()
	if len(a) != len(b) {
		t.Fatalf("%s: %d renderings, want %d", what, len(b), len(a))
	}
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("%s: rendering differs:\n  %q\n  %q", what, a[i], b[i])
		}
	}
}

// An answer is one fixed answer of a token endpoint.
type answer struct {
	name        string
	status      int
	contentType string
	retryAfter  string
	body        string
	nonBearer   bool
}

// corpusAnswers reads FuzzParse's seed corpus: real recorded Keycloak and
// Passport answers (interop-*), the seed documents' examples and the
// hostile bodies.
func corpusAnswers(t *testing.T) []answer {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "fuzz", "FuzzParse", "*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus: %v", err)
	}
	var out []answer
	for _, f := range files {
		a, err := readCorpusFile(f)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out = append(out, a)
	}
	return out
}

// readCorpusFile reads a "go test fuzz v1" file of FuzzParse's arguments:
// int, string, []byte, bool.
func readCorpusFile(name string) (answer, error) {
	f, err := os.Open(name)
	if err != nil {
		return answer{}, err
	}
	defer f.Close()
	a := answer{name: filepath.Base(name)}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 4<<20)
	var args []string
	for sc.Scan() {
		if line := sc.Text(); line != "go test fuzz v1" && line != "" {
			args = append(args, line)
		}
	}
	if len(args) != 4 {
		return a, fmt.Errorf("%d arguments", len(args))
	}
	inner := func(s, prefix string) (string, error) {
		if !strings.HasPrefix(s, prefix+"(") || !strings.HasSuffix(s, ")") {
			return "", fmt.Errorf("%q is not %s(…)", s, prefix)
		}
		return s[len(prefix)+1 : len(s)-1], nil
	}
	v, err := inner(args[0], "int")
	if err == nil {
		a.status, err = strconv.Atoi(v)
	}
	if err == nil {
		v, err = inner(args[1], "string")
	}
	if err == nil {
		a.retryAfter, err = strconv.Unquote(v)
	}
	if err == nil {
		v, err = inner(args[2], "[]byte")
	}
	if err == nil {
		a.body, err = strconv.Unquote(v)
	}
	if err == nil {
		v, err = inner(args[3], "bool")
	}
	if err == nil {
		a.nonBearer, err = strconv.ParseBool(v)
	}
	return a, err
}

// fixedAnswers are answers beyond the corpus: the real bodies of the seed
// documents' servers, statuses with their usual bodies, and malformed 2xx
// answers.
var fixedAnswers = []answer{
	{name: "keycloak wrong password", status: 401, body: keycloakWrongPassword},
	{name: "keycloak bad client", status: 401, body: keycloakBadClient},
	{name: "keycloak unknown realm", status: 404, body: `{"error":"Realm does not exist"}`},
	{name: "keycloak grant disabled", status: 400,
		body: `{"error":"unauthorized_client","error_description":"Client not allowed for direct access grants"}`},
	{name: "passport bad client", status: 401, body: passportBadClient},
	{name: "passport wrong password", status: 400, body: passportWrongPassword},
	{name: "passport 12 no password grant", status: 400, body: passportNoPassword},
	{name: "passport unauthenticated", status: 401, body: `{"message":"Unauthenticated."}`},
	{name: "passport throttled", status: 429, retryAfter: "60", body: `{"message":"Too Many Attempts."}`},
	{name: "html 502", status: 502, contentType: "text/html", body: htmlBadGateway},
	{name: "503 retry after", status: 503, retryAfter: "7"},
	{name: "empty 400", status: 400},
	{name: "empty 403", status: 403},
	{name: "error in a 200", status: 200, body: `{"error":"invalid_grant","error_description":"Invalid user credentials"}`},
	{name: "non-standard code in a 200", status: 200, body: `{"error":"user_error","error_description":"Invalid user"}`},
	{name: "html 200", status: 200, contentType: "text/html; charset=utf-8", body: "<p>Invalid user credentials</p>"},
	{name: "non-bearer 200", status: 200, body: `{"access_token":"user-token","token_type":"user"}`},
	{name: "not json 200", status: 200, contentType: "application/x-user-credentials", body: "user=credentials"},
}

// parseAnswer parses a with the given secrets.
func parseAnswer(a answer, secrets ...string) (*tenantauth.Token, error) {
	h := http.Header{}
	if a.contentType != "" {
		h.Set("Content-Type", a.contentType)
	}
	if a.retryAfter != "" {
		h.Set("Retry-After", a.retryAfter)
	}
	opts := ParseOptions{AllowNonBearer: a.nonBearer}
	for _, s := range secrets {
		opts.Secrets = append(opts.Secrets, tenantauth.Secret(s))
	}
	return Parse(testEndpoint, a.status, h, []byte(a.body), testNow, opts)
}

// TestErrorTextIndependentOfSecrets is the property: for each fixed answer,
// the error Parse returns renders identically in every fmt verb, in
// log/slog and in JSON whatever the request's secrets are. The old Error
// printed the server's redacted texts ("Invalid [REDACTED] credentials"
// for the password "user"), so it fails there on the first Keycloak body.
func TestErrorTextIndependentOfSecrets(t *testing.T) {
	answers := append(corpusAnswers(t), fixedAnswers...)
	for _, a := range answers {
		_, base := parseAnswer(a)
		if base == nil {
			continue // a token: no error text
		}
		want := renderAll(base)
		for _, s := range propertySecrets {
			_, err := parseAnswer(a, s)
			if err == nil {
				t.Fatalf("%s: secret %q: no error", a.name, s)
			}
			sameRenderings(t, fmt.Sprintf("%s, secret %q vs none", a.name, s), want, renderAll(err))
		}
		// All of them at once.
		_, err := parseAnswer(a, propertySecrets...)
		sameRenderings(t, a.name+", all secrets vs none", want, renderAll(err))
	}
}

// echoes are answers of a server that echoes the request's secret s back,
// as sent (raw), query-escaped as in a form body, or JSON-escaped, in every
// text an error body has.
func echoes(s string) []answer {
	q := url.QueryEscape(s)
	j, _ := json.Marshal(s)
	jesc := string(j[1 : len(j)-1])
	str := func(v string) string { b, _ := json.Marshal(v); return string(b) }
	var out []answer
	for _, sp := range []struct{ how, v string }{{"raw", s}, {"query-escaped", q}, {"json-escaped", jesc}} {
		out = append(out,
			answer{name: "keycloak description " + sp.how, status: 401,
				body: `{"error":"invalid_grant","error_description":` + str("Invalid user credentials: password="+sp.v) + `}`},
			answer{name: "passport all texts " + sp.how, status: 400,
				body: `{"error":"invalid_grant","error_description":` + str("The user credentials "+sp.v+" were incorrect.") +
					`,"message":` + str(sp.v) + `,"hint":` + str("got "+sp.v) + `,"error_uri":` + str("https://x.example/e?p="+sp.v) + `}`},
			answer{name: "code " + sp.how, status: 400, body: `{"error":` + str("bad "+sp.v) + `}`},
			answer{name: "code alone " + sp.how, status: 401, body: `{"error":` + str(sp.v) + `}`},
			answer{name: "html " + sp.how, status: 500, contentType: "text/html",
				body: "<pre>client_secret=" + sp.v + "&password=" + sp.v + "</pre>"},
			answer{name: "error in a 200 " + sp.how, status: 200, body: `{"error":` + str(sp.v) + `,"message":` + str(sp.v) + `}`},
			answer{name: "token_type " + sp.how, status: 200, body: `{"access_token":"tok-abc","token_type":` + str(sp.v) + `}`},
			answer{name: "content type " + sp.how, status: 200, contentType: "application/x-" + sp.v, body: "<p>" + sp.v + "</p>"},
		)
	}
	return out
}

// TestErrorTextIndependentOfEchoedSecrets: a server that echoes the secret
// into every text still yields the same error text for every secret, and
// no rendering holds the secret (of 4 bytes or more) unless it holds it for
// every other secret too: a word of the library's own explanation
// ("credentials", "client") is not a leak.
func TestErrorTextIndependentOfEchoedSecrets(t *testing.T) {
	const control = "QZQZ-control-secret"
	ref := echoes(control)
	for i, a := range ref {
		_, err := parseAnswer(a, control)
		if err == nil {
			t.Fatalf("%s: no error", a.name)
		}
		want := renderAll(err)
		for _, s := range propertySecrets {
			if registeredCode(s) {
				// A secret that is a registered code, echoed as the
				// code, is printed as the code the server sent, which it
				// is: a different answer, and a secret no one has.
				continue
			}
			b := echoes(s)[i]
			_, err := parseAnswer(b, s)
			if err == nil && strings.HasPrefix(b.name, "token_type ") {
				continue // the echo made a Bearer token type (" ", "")
			}
			if err == nil {
				t.Fatalf("%s with %q: no error", b.name, s)
			}
			got := renderAll(err)
			sameRenderings(t, fmt.Sprintf("%s, secret %q vs %q", a.name, s, control), want, got)
			if len(s) < 4 {
				continue
			}
			for k, r := range got {
				if strings.Contains(r, s) && !strings.Contains(want[k], s) {
					t.Errorf("%s: rendering %q holds the secret %q", b.name, r, s)
				}
			}
			var te *tenantauth.TokenError
			if errors.As(err, &te) {
				checkBoundedTokenError(t, te, ParseOptions{Secrets: []tenantauth.Secret{tenantauth.Secret(s)}})
			}
		}
		for _, r := range want {
			if strings.Contains(r, control) || strings.Contains(r, "QZQZ") {
				t.Errorf("%s: rendering %q holds the echoed secret", a.name, r)
			}
		}
	}
}

// TestParseKeepsRegisteredCode: a registered code is kept as sent whatever
// the secrets, so errors.Is(ErrInvalidCredentials) and the printed code do
// not depend on them. The old Parse redacted "invalid_grant" into
// "invalid_[REDACTED]" for the secret "grant".
func TestParseKeepsRegisteredCode(t *testing.T) {
	for _, s := range []string{"grant", "invalid", "_", "i", "invalid_grant", "client"} {
		for _, body := range []string{keycloakWrongPassword, passportBadClient, passportNoPassword} {
			var want struct{ Error string }
			_ = json.Unmarshal([]byte(body), &want)
			te := parseError(t, 401, body, ParseOptions{Secrets: []tenantauth.Secret{tenantauth.Secret(s)}})
			if te.Code != want.Error || !te.RegisteredCode() {
				t.Errorf("secret %q: Code = %q, want %q", s, te.Code, want.Error)
			}
			if wantInvalid := want.Error != "unsupported_grant_type"; errors.Is(te, tenantauth.ErrInvalidCredentials) != wantInvalid {
				t.Errorf("secret %q, code %q: errors.Is ErrInvalidCredentials = %v", s, te.Code, !wantInvalid)
			}
		}
	}
	// A code that is not registered is server text, redacted as ever.
	te := parseError(t, 400, `{"error":"invalid_hunter2"}`, ParseOptions{Secrets: []tenantauth.Secret{"hunter2"}})
	if te.Code != "invalid_[REDACTED]" || te.RegisteredCode() {
		t.Errorf("Code = %q", te.Code)
	}
}

// TestExcerptEmptinessIndependentOfSecrets: whether Body is empty depends on
// the body only. The old excerpt showed a marker for a body of unprintable
// bytes when the secret was one of them, and nothing otherwise: a %+v or a
// ServerText that is empty or not would have told.
func TestExcerptEmptinessIndependentOfSecrets(t *testing.T) {
	for _, body := range []string{"\x01", "\x01\x02 \x01", "\t\n", "\xff\xfe", "\x01a", "a"} {
		wantEmpty := !hasVisible(body)
		for _, s := range []string{"\x01", "\x02", "\t", "\xff", "a", "zz"} {
			te := parseError(t, 502, body, ParseOptions{Secrets: []tenantauth.Secret{tenantauth.Secret(s)}})
			if (te.Body == "") != wantEmpty {
				t.Errorf("body %q, secret %q: Body = %q, want empty %v", body, s, te.Body, wantEmpty)
			}
		}
	}
}

// TestDoErrorsQuoteNoServerText: the transport errors Do returns say what
// happened in fixed words. A server that answers a malformed status line or
// header echoing the request's secret, or redirects to a Location holding
// it, gets it into no error; and the text is the same for another secret.
func TestDoErrorsQuoteNoServerText(t *testing.T) {
	raw := func(t *testing.T, reply func(secret string) string) string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				go func() {
					defer c.Close()
					req, err := http.ReadRequest(bufio.NewReader(c))
					if err != nil {
						return
					}
					b, _ := io.ReadAll(req.Body)
					form, _ := url.ParseQuery(string(b))
					io.WriteString(c, reply(form.Get("client_secret")))
				}()
			}
		}()
		return "http://" + l.Addr().String() + "/token"
	}
	replies := map[string]func(string) string{
		"malformed status line": func(s string) string { return "HTTP/1.1 200 " + s + "\r\nX: 1\r\n\r\n" },
		"malformed status code": func(s string) string { return "HTTP/1.1 2" + s + " OK\r\n\r\n" },
		"malformed header":      func(s string) string { return "HTTP/1.1 200 OK\r\n" + s + "\r\n\r\n" },
		"bad content length":    func(s string) string { return "HTTP/1.1 200 OK\r\nContent-Length: " + s + "\r\n\r\n" },
		"redirect to the secret": func(s string) string {
			// Connection: close, as the server closes it: a client that
			// reused it would get EOF instead of the redirect.
			return "HTTP/1.1 302 Found\r\nLocation: /x/" + s + "\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
		},
		"redirect elsewhere": func(s string) string {
			return "HTTP/1.1 307 Found\r\nLocation: https://" + s + ".example.com/t\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
		},
	}
	for name, reply := range replies {
		t.Run(name, func(t *testing.T) {
			endpoint := raw(t, reply)
			var first string
			for _, secret := range []string{"hunter2secret", "other-value-77"} {
				_, err := Do(context.Background(), nil, post(t, endpoint, "client_secret="+secret), testDialect)
				if err == nil {
					t.Fatal("no error")
				}
				for _, r := range renderAll(err) {
					if strings.Contains(r, secret) {
						t.Fatalf("rendering %q holds the secret", r)
					}
				}
				if first == "" {
					first = err.Error()
					t.Logf("%s", first)
				} else if err.Error() != first {
					t.Errorf("text depends on the secret:\n  %q\n  %q", first, err.Error())
				}
			}
		})
	}
}

// TestCauseText: the transport causes the library knows are described, and
// any other cause is named by its type only.
func TestCauseText(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{&url.Error{Op: "Post", URL: "https://x/t?secret=1", Err: context.Canceled}, "context canceled"},
		{&url.Error{Op: "Post", URL: "https://x/t", Err: context.DeadlineExceeded}, "context deadline exceeded"},
		{&url.Error{Op: "Post", URL: "https://x/t", Err: &net.OpError{Op: "dial", Net: "tcp",
			Addr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9}, Err: &os.SyscallError{Syscall: "connect", Err: syscall.ECONNREFUSED}}},
			"dial tcp 127.0.0.1:9: connect: " + syscall.ECONNREFUSED.Error()},
		{&net.DNSError{Err: "no such host", Name: "sso.example.com", IsNotFound: true}, "lookup sso.example.com: no such host"},
		{io.ErrUnexpectedEOF, "unexpected EOF"},
		{fmt.Errorf("wrapped: %w", io.EOF), "EOF (the server closed the connection)"},
		{http.ErrSchemeMismatch, http.ErrSchemeMismatch.Error()},
		{fmt.Errorf("net/http: HTTP/1.x transport connection broken: %w", errors.New(`malformed HTTP response "hunter2"`)),
			"the answer is not valid HTTP (a malformed status line, header or length;"},
		{errors.New(`http2: server sent GOAWAY and closed the connection; LastStreamID=1, ErrCode=NO_ERROR, debug="hunter2"`),
			"an HTTP/2 error (its text is not printed"},
		{errors.New(`weird "hunter2"`), "the connection failed or the answer was not valid HTTP (*errors.errorString;"},
	}
	for _, tt := range tests {
		if got := causeText(tt.err); !strings.HasPrefix(got, tt.want) || strings.Contains(got, "hunter2") || strings.Contains(got, "secret=1") {
			t.Errorf("causeText(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
}

package tokenclient

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tenantauth/tenantauth"
)

// MaxLifetime caps expires_in and refresh_expires_in. Larger values (and
// 1e400) are clamped to it so that time arithmetic cannot overflow; no token
// endpoint means "ten years" literally, and the Manager refreshes far sooner.
const MaxLifetime = 10 * 365 * 24 * time.Hour

// maxTextField bounds each OAuth error text (error_description, message, …)
// kept in a TokenError, so a hostile endpoint cannot flood logs.
const maxTextField = 1024

// ParseOptions adjust [Parse].
type ParseOptions struct {
	// AllowNonBearer accepts a token_type other than Bearer (DPoP, MAC, …).
	// False refuses such a token: tenantauth sends "Bearer"-style
	// Authorization headers only, and a non-Bearer token sent that way would
	// fail at the API or leak a proof-bound token.
	AllowNonBearer bool

	// Secrets are the request's secrets (client secret, password, refresh
	// token). If the endpoint echoes one back in an error body, it is
	// replaced by "[REDACTED]" in every text Parse puts into an error. The
	// response's own access_token and refresh_token values are always
	// redacted likewise.
	Secrets []tenantauth.Secret
}

// Parse turns one token endpoint answer into a token or an error. It is the
// only parser of token responses; every provider sends its request its own
// way and hands the answer here. It never panics, whatever the input.
//
// A 2xx answer must be a JSON object with a non-empty string access_token
// (without control characters or spaces, so it is safe in a header). Keys
// match case-insensitively and a duplicate key's last value wins, as
// encoding/json decides. expires_in is accepted as a JSON number (integer or
// fraction) or a numeric string; missing, null, zero, negative or garbage
// means no expiry known (Token.Expiry zero: the Manager applies its
// DefaultLifetime, never "forever"); values above [MaxLifetime] are clamped.
// refresh_expires_in follows the same rules (Keycloak's 0 means no known
// expiry) and is ignored when there is no refresh_token. token_type is canonicalised ("bearer" → "Bearer"); missing means
// Bearer; another type is refused unless opts.AllowNonBearer. Other fields
// (not-before-policy, id_token, …) are ignored. An "error" member in a 2xx
// body makes it a *tenantauth.TokenError. Other malformed 2xx bodies yield an
// error wrapping [ErrMalformedResponse]; a 3xx yields an error wrapping
// tenantauth.ErrRedirect.
//
// Any other status yields a *tenantauth.TokenError with the RFC 6749 §5.2
// fields and Laravel Passport's message and hint, RetryAfter from a
// Retry-After header on 429 and 5xx, and — only when the body does not look
// like JSON at all (an HTML page, say) and does not mention access_token or
// refresh_token — a printable excerpt of at most 200 bytes in Body. An empty
// body yields a TokenError carrying the status only. Every text taken from
// the body into an error has opts.Secrets and the body's own tokens
// replaced by "[REDACTED]" and control characters replaced by spaces; OAuth
// texts are cut at 1 KiB.
//
// The token's IssuedAt is now.
func Parse(endpoint string, status int, h http.Header, body []byte, now time.Time, opts ParseOptions) (*tenantauth.Token, error) {
	ep := tenantauth.RedactURL(endpoint)
	switch {
	case status >= 200 && status < 300:
		return parseSuccess(ep, status, h, body, now, opts)
	case status >= 300 && status < 400:
		// Only reachable when the client returned a 3xx instead of
		// following it (no Location header, or a caller's own client).
		return nil, fmt.Errorf("%w (status %d from %s)", tenantauth.ErrRedirect, status, ep)
	default:
		return nil, parseFailure(ep, status, h, body, now, opts)
	}
}

// response is every member of a token or error response Parse looks at.
// The field types never fail decoding, so one odd member (expires_in as an
// object, say) cannot hide the others.
type response struct {
	AccessToken      jsonSecret  `json:"access_token"`
	TokenType        jsonText    `json:"token_type"`
	RefreshToken     jsonSecret  `json:"refresh_token"`
	ExpiresIn        jsonSeconds `json:"expires_in"`
	RefreshExpiresIn jsonSeconds `json:"refresh_expires_in"`
	Scope            jsonText    `json:"scope"`
	Error            jsonText    `json:"error"`
	ErrorDescription jsonText    `json:"error_description"`
	ErrorURI         jsonText    `json:"error_uri"`
	Message          jsonText    `json:"message"`
	Hint             jsonText    `json:"hint"`
}

func parseSuccess(ep string, status int, h http.Header, body []byte, now time.Time, opts ParseOptions) (*tenantauth.Token, error) {
	malformed := func(what string) error {
		return fmt.Errorf("%w: %s: status %d: %s", ErrMalformedResponse, ep, status, what)
	}
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	switch {
	case len(trimmed) == 0:
		return nil, malformed("empty body")
	case trimmed[0] != '{':
		return nil, malformed("body is not a JSON object" + mediaTypeNote(h))
	}
	var r response
	if err := json.Unmarshal(body, &r); err != nil {
		// The decoder's message may quote a byte of the body; say less.
		return nil, malformed("body is not valid JSON" + mediaTypeNote(h))
	}
	if r.Error.s != "" {
		return nil, tokenError(ep, status, h, &r, now, opts)
	}
	switch {
	case r.AccessToken.bad:
		return nil, malformed("access_token is not a string")
	case r.AccessToken.s == "":
		return nil, malformed("no access_token")
	case !headerSafe(r.AccessToken.s):
		return nil, malformed("access_token contains spaces or control characters")
	case r.TokenType.bad:
		return nil, malformed("token_type is not a string")
	}
	typ := tenantauth.CanonicalTokenType(r.TokenType.s)
	if typ == "" {
		typ = "Bearer"
	}
	if typ != "Bearer" {
		if !opts.AllowNonBearer {
			return nil, malformed(fmt.Sprintf("token_type %q is not Bearer (set AllowNonBearer to accept it)",
				newRedactor(opts, &r).text(typ, 64)))
		}
		if !isToken(typ) {
			return nil, malformed("token_type is not an HTTP auth-scheme token")
		}
	}
	t := &tenantauth.Token{
		AccessToken: tenantauth.Secret(r.AccessToken.s),
		TokenType:   typ,
		Scope:       r.Scope.s,
		IssuedAt:    now,
	}
	if !r.RefreshToken.bad {
		t.RefreshToken = tenantauth.Secret(r.RefreshToken.s)
	}
	if r.ExpiresIn.d > 0 {
		t.Expiry = now.Add(r.ExpiresIn.d)
	}
	if r.RefreshExpiresIn.d > 0 && t.RefreshToken != "" {
		t.RefreshExpiry = now.Add(r.RefreshExpiresIn.d)
	}
	return t, nil
}

// parseFailure builds the TokenError for a non-2xx, non-3xx answer.
func parseFailure(ep string, status int, h http.Header, body []byte, now time.Time, opts ParseOptions) error {
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) > 0 && (trimmed[0] == '{' || trimmed[0] == '[') {
		var r response
		if trimmed[0] == '{' && json.Unmarshal(body, &r) == nil {
			return tokenError(ep, status, h, &r, now, opts)
		}
		// JSON-looking but not an object we can read (an array, a
		// truncated document): no excerpt, it may hold anything a token
		// response holds.
		return tokenError(ep, status, h, nil, now, opts)
	}
	te := tokenError(ep, status, h, nil, now, opts)
	te.Body = newRedactor(opts, nil).excerpt(body)
	return te
}

// tokenError fills a TokenError from a decoded body (r may be nil).
func tokenError(ep string, status int, h http.Header, r *response, now time.Time, opts ParseOptions) *tenantauth.TokenError {
	te := &tenantauth.TokenError{Endpoint: ep, StatusCode: status}
	if status == http.StatusTooManyRequests || status >= 500 {
		te.RetryAfter = ParseRetryAfter(h.Get("Retry-After"), now)
	}
	if r == nil {
		return te
	}
	red := newRedactor(opts, r)
	te.Code = red.text(r.Error.s, maxTextField)
	te.Description = red.text(r.ErrorDescription.s, maxTextField)
	te.URI = red.text(r.ErrorURI.s, maxTextField)
	te.Message = red.text(r.Message.s, maxTextField)
	te.Hint = red.text(r.Hint.s, maxTextField)
	return te
}

// mediaTypeNote names the response's media type, for a 2xx that is not
// JSON ("got text/html" points at a proxy or a login page).
func mediaTypeNote(h http.Header) string {
	ct := h.Get("Content-Type")
	if ct == "" {
		return ""
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || len(mt) > 100 {
		return ""
	}
	return " (Content-Type " + strconv.Quote(mt) + ")"
}

// headerSafe reports whether s can follow "Bearer " in a header value
// without changing its meaning: no control characters, no spaces.
func headerSafe(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c == 0x7f {
			return false
		}
	}
	return true
}

// isToken reports whether s is an RFC 9110 token, the syntax of an
// auth-scheme such as a token_type sent in an Authorization header.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// jsonText is a JSON member that should be a string. Any other JSON value
// marks it bad instead of failing the whole decode.
type jsonText struct {
	s   string
	bad bool
}

// UnmarshalJSON implements json.Unmarshaler.
func (t *jsonText) UnmarshalJSON(b []byte) error {
	*t = jsonText{} // a duplicate key replaces, it does not merge
	switch {
	case len(b) >= 2 && b[0] == '"':
		// Fast path: no escapes and valid UTF-8 means the raw bytes are
		// the value.
		if inner := b[1 : len(b)-1]; bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
			t.s = string(inner)
			return nil
		}
		if err := json.Unmarshal(b, &t.s); err != nil {
			*t = jsonText{bad: true}
		}
	case string(b) == "null":
	default:
		t.bad = true
	}
	return nil
}

// jsonSecret is a jsonText holding a secret. It remembers every value a
// duplicate key gave it, so that an overwritten token is redacted from
// errors as well as the one that won.
type jsonSecret struct {
	jsonText
	seen []string
}

// UnmarshalJSON implements json.Unmarshaler.
func (t *jsonSecret) UnmarshalJSON(b []byte) error {
	_ = t.jsonText.UnmarshalJSON(b)
	if t.s != "" {
		t.seen = append(t.seen, t.s)
	}
	return nil
}

// jsonSeconds is a lifetime in seconds sent as a JSON number or a numeric
// string. Anything else, and values ≤ 0, leave d zero: "unknown".
type jsonSeconds struct {
	d time.Duration
}

// UnmarshalJSON implements json.Unmarshaler.
func (s *jsonSeconds) UnmarshalJSON(b []byte) error {
	*s = jsonSeconds{}
	lit := string(b)
	if len(b) > 0 && b[0] == '"' {
		var str string
		if json.Unmarshal(b, &str) != nil {
			return nil
		}
		lit = strings.TrimSpace(str)
	}
	s.d = secondsToDuration(lit)
	return nil
}

// secondsToDuration parses a decimal JSON number of seconds. It returns 0
// for anything that is not one (including NaN, Inf and hex, which
// strconv.ParseFloat would accept) and for values ≤ 0, and clamps at
// MaxLifetime.
func secondsToDuration(lit string) time.Duration {
	if !isJSONNumber(lit) {
		return 0
	}
	f, err := strconv.ParseFloat(lit, 64)
	if err != nil && f == 0 { // underflow (1e-400) or unparsable
		return 0
	}
	// Overflow gives ±Inf with an error; the comparisons below handle it.
	switch {
	case !(f > 0):
		return 0
	case f >= MaxLifetime.Seconds():
		return MaxLifetime
	}
	return time.Duration(f * float64(time.Second))
}

// isJSONNumber reports whether s is a number literal in JSON's grammar:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? — a leading zero such as
// "007" is tolerated, since it only ever comes from a string.
func isJSONNumber(s string) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			i++
			n++
		}
		return n
	}
	if digits() == 0 {
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	return i == len(s)
}

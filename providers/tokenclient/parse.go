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
	"unicode"
	"unicode/utf16"
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

	// AllowDPoP accepts token_type DPoP (RFC 9449), in any case, without
	// AllowNonBearer: set it when the request carried a DPoP proof, so that
	// the token is bound to the proof's key and is sent with proofs made
	// with it. Without a proof a DPoP token is refused like any other
	// non-Bearer type.
	AllowDPoP bool

	// Secrets are the request's secrets (client secret, password, refresh
	// token). If the endpoint echoes one back in an error body, it is
	// replaced by "[REDACTED]" in the server texts Parse keeps in a
	// *tenantauth.TokenError (Description, URI, Message, Hint, Body, a
	// non-standard Code). The response's own access_token and refresh_token
	// values are always redacted likewise. A secret (or an escaped spelling
	// of it) longer than 64 bytes is recognised by its first 64 bytes, and
	// then as many bytes as the whole secret are redacted. Secrets change
	// no error's text: those texts are the library's (see Parse).
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
// body yields a TokenError carrying the status only. A registered OAuth
// error code (invalid_grant, …; see tenantauth.TokenError.RegisteredCode) is
// kept as sent, whatever the secrets.
//
// No error Parse returns has a text that depends on a secret's value, in
// any rendering (Error, fmt's verbs, log/slog, JSON): the texts are the
// library's, built from the endpoint, the status, a registered error code,
// RetryAfter and fixed words ("not valid JSON", "token_type is not
// Bearer", a well-known media type). The server's own words go only into
// the TokenError's server-text fields, which its renderings never print:
// redaction can hide a secret but not where it was, and "Invalid
// [REDACTED] credentials" tells the password "user". Every text kept there
// has opts.Secrets and the body's own tokens replaced by "[REDACTED]" and
// control characters replaced by spaces; OAuth texts are cut at 1 KiB.
// Whether a field is empty never depends on the secrets either.
//
// The work spent on an error is bounded whatever the body holds: only the
// first 4 KiB of each text (and of a non-JSON body) is examined, in one pass
// that never rescans a marker it inserted, against the spellings of at most
// 4 distinct access_token and 4 distinct refresh_token values plus
// opts.Secrets. A body whose duplicate keys carry more distinct values than
// that has its OAuth texts withheld: each non-empty one becomes
// "[withheld]", except an error code registered for token endpoints
// (invalid_grant, …), which is kept.
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
	if typ != "Bearer" && !(typ == "DPoP" && opts.AllowDPoP) {
		if !opts.AllowNonBearer {
			// Not quoted: the value is the server's, and may echo
			// anything.
			return nil, malformed("token_type is not Bearer (set AllowNonBearer to accept it)")
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
	if registeredCode(r.Error.s) {
		// A code from the OAuth registries is the library's vocabulary,
		// not the body's: keep it as sent. Redacting it ("invalid_[REDACTED]"
		// for the secret "grant") would make the error's text, and
		// errors.Is, depend on the secret.
		te.Code = r.Error.s
	} else {
		te.Code = red.text(r.Error.s, maxTextField)
	}
	te.Description = red.text(r.ErrorDescription.s, maxTextField)
	te.URI = red.text(r.ErrorURI.s, maxTextField)
	te.Message = red.text(r.Message.s, maxTextField)
	te.Hint = red.text(r.Hint.s, maxTextField)
	return te
}

// mediaTypeNote names the response's media type, for a 2xx that is not
// JSON ("text/html" points at a proxy or a login page). Only well-known
// media types are named; the header is the server's text, and any other
// value is "another media type".
func mediaTypeNote(h http.Header) string {
	ct := h.Get("Content-Type")
	if ct == "" {
		return ""
	}
	if len(ct) > 256 {
		return " (another media type)" // no media type is that long; don't parse a flood
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return " (another media type)"
	}
	switch mt {
	case "text/html", "application/xhtml+xml":
		return ` (Content-Type "` + mt + `": a web page, from a proxy, a login page or a wrong URL)`
	case "application/x-www-form-urlencoded":
		return ` (Content-Type "` + mt + `": a form-encoded answer; this endpoint must be asked for JSON)`
	case "application/json", "application/problem+json", "text/plain", "application/xml", "text/xml",
		"application/octet-stream", "application/jwt", "text/javascript", "application/javascript":
		return ` (Content-Type "` + mt + `")`
	}
	return " (another media type)"
}

// registeredCode reports whether code is an error code registered for token
// endpoints, as [tenantauth.TokenError.RegisteredCode] decides: such a code
// is printed by the error, and so is kept as sent.
func registeredCode(code string) bool {
	return (&tenantauth.TokenError{Code: code}).RegisteredCode()
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
		s, ok := unquoteJSON(b)
		if !ok {
			*t = jsonText{bad: true}
		}
		t.s = s
	case string(b) == "null":
	default:
		t.bad = true
	}
	return nil
}

// jsonSecret is a jsonText holding a secret. It remembers the distinct
// values duplicate keys gave it, up to maxSeen, so that an overwritten token
// is redacted from errors as well as the one that won; overflow records that
// there were more (and the error's texts are then withheld).
type jsonSecret struct {
	jsonText
	seen     []string
	overflow bool
}

// UnmarshalJSON implements json.Unmarshaler.
func (t *jsonSecret) UnmarshalJSON(b []byte) error {
	_ = t.jsonText.UnmarshalJSON(b)
	if t.s == "" || t.overflow {
		return nil
	}
	for _, v := range t.seen {
		if v == t.s {
			return nil
		}
	}
	if len(t.seen) == maxSeen {
		t.overflow, t.seen = true, nil
		return nil
	}
	t.seen = append(t.seen, t.s)
	return nil
}

// unquoteJSON decodes a JSON string literal as encoding/json does: escapes
// resolved, an unpaired surrogate and each byte that is not UTF-8 turned
// into U+FFFD. It reports false for anything that is not a string literal.
// Unlike json.Unmarshal it allocates only the result, once: a body of many
// duplicate escaped members costs about its own size.
func unquoteJSON(b []byte) (string, bool) {
	if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' {
		return "", false
	}
	b = b[1 : len(b)-1]
	// Fast path: no escapes and valid UTF-8 means the raw bytes are the
	// value.
	if bytes.IndexByte(b, '\\') < 0 && utf8.Valid(b) {
		if bytes.IndexByte(b, '"') >= 0 || hasControl(b) {
			return "", false
		}
		return string(b), true
	}
	var out strings.Builder
	out.Grow(len(b)) // escapes shrink; only a byte that is not UTF-8 grows (to U+FFFD)
	for i := 0; i < len(b); {
		c := b[i]
		switch {
		case c == '\\':
			if i+1 >= len(b) {
				return "", false
			}
			switch e := b[i+1]; e {
			case '"', '\\', '/':
				out.WriteByte(e)
			case 'b':
				out.WriteByte('\b')
			case 'f':
				out.WriteByte('\f')
			case 'n':
				out.WriteByte('\n')
			case 'r':
				out.WriteByte('\r')
			case 't':
				out.WriteByte('\t')
			case 'u':
				r := hex4(b[i+2:])
				if r < 0 {
					return "", false
				}
				i += 6
				if utf16.IsSurrogate(r) {
					if len(b) >= i+6 && b[i] == '\\' && b[i+1] == 'u' {
						if dec := utf16.DecodeRune(r, hex4(b[i+2:])); dec != unicode.ReplacementChar {
							out.WriteRune(dec)
							i += 6
							continue
						}
					}
					r = unicode.ReplacementChar
				}
				out.WriteRune(r)
				continue
			default:
				return "", false
			}
			i += 2
		case c == '"', c < ' ':
			return "", false
		case c < utf8.RuneSelf:
			out.WriteByte(c)
			i++
		default:
			r, size := utf8.DecodeRune(b[i:])
			out.WriteRune(r) // RuneError for a byte that is not UTF-8
			i += size
		}
	}
	return out.String(), true
}

// hex4 decodes the four hex digits at the start of b, or returns -1.
func hex4(b []byte) rune {
	if len(b) < 4 {
		return -1
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return -1
		}
		r = r*16 + rune(c)
	}
	return r
}

func hasControl(b []byte) bool {
	for _, c := range b {
		if c < ' ' {
			return true
		}
	}
	return false
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
		str, ok := unquoteJSON(b)
		if !ok {
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

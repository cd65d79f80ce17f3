package tokenclient

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tenantauth/tenantauth"
)

// fuzzSecret stands for the request's client secret; the seed corpus has
// bodies that echo it.
const fuzzSecret = "fuzz-client-secret-9f3a"

// fuzzSecrets are the request's secrets in FuzzParse: fuzzSecret, secrets
// with query and JSON escapes and non-ASCII, a long one, and short ones that
// are pieces of the marker (too short to be checked, they stress the
// redaction).
var fuzzSecrets = []tenantauth.Secret{fuzzSecret, `hu"n\ter2<`, "s3cr!t/+", "ÄÖÜ€x",
	tenantauth.Secret("long-" + strings.Repeat("0123456789", 10)), "E", "[", "RE"}

// otherSecrets replace fuzzSecrets in a second Parse of the same answer:
// words of the servers' messages, pieces of the marker, one letter, a
// control character.
var otherSecrets = []tenantauth.Secret{"other-secret-77c1", "user", "credentials", "Invalid", "client", "grant",
	"REDACTED", "a", "e", "1", "]", "\x01", "\t"}

// FuzzParse feeds Parse arbitrary answers. Invariants: no panic; exactly one
// of token and error; a token has a non-empty, header-safe access token, a
// canonical type and expiries that are zero or in (now, now+MaxLifetime];
// an error's texts are within their bounds (maxTextField each, MaxExcerpt
// for Body); no error text contains a request's secret of 4 bytes or more
// or the access_token / refresh_token value of the body; and the same
// answer parsed with other secrets gives the same outcome and an error that
// renders identically in every fmt verb, log/slog and JSON: no error's text
// depends on a secret.
func FuzzParse(f *testing.F) {
	f.Fuzz(func(t *testing.T, status int, retryAfter string, body []byte, allowNonBearer bool) {
		h := http.Header{}
		if retryAfter != "" {
			h["Retry-After"] = []string{retryAfter}
		}
		opts := ParseOptions{AllowNonBearer: allowNonBearer, Secrets: fuzzSecrets}
		tok, err := Parse(testEndpoint, status, h, body, testNow, opts)
		if (tok == nil) == (err == nil) {
			t.Fatalf("Parse = %v, %v: want exactly one", tok, err)
		}
		_, err2 := Parse(testEndpoint, status, h, body, testNow, ParseOptions{AllowNonBearer: allowNonBearer, Secrets: otherSecrets})
		if (err == nil) != (err2 == nil) {
			t.Fatalf("with other secrets: %v, then %v", err, err2)
		}
		if err != nil {
			sameRenderings(t, "the same answer with other secrets", renderAll(err), renderAll(err2))
		}
		if err == nil {
			checkFuzzToken(t, tok, allowNonBearer)
			return
		}
		var te *tenantauth.TokenError
		if errors.As(err, &te) {
			checkBoundedTokenError(t, te, opts)
		} else if n := len(err.Error()); n > 1024 {
			t.Fatalf("error of %d bytes: %.200q…", n, err)
		}
		texts := withoutMarkers(append(errorTexts(err), renderAll(err)...))
		for _, s := range opts.Secrets {
			if v := s.Reveal(); len(v) >= 4 && containsAny(texts, v) {
				t.Fatalf("error %q contains the request's secret %q", texts, v)
			}
		}
		for _, v := range bodySecrets(body) {
			if !containsAny(texts, v) || registeredCode(v) {
				// A token that is a registered code ("invalid_grant")
				// is printed as the code the body also sent: a word of
				// the library's, not a leak.
				continue
			}
			// The value may be a word of the message itself ("Bearer",
			// "TokenError"). Replace the JSON string in the body by a
			// same-length marker: if the message still has the value, it
			// did not come from the body. When the replacement turns
			// the answer into a token (it hit a key too), the test is
			// inconclusive.
			marker := sameLengthMarker(v)
			if marker == "" {
				continue
			}
			quoted, _ := json.Marshal(v)
			body2 := bytes.ReplaceAll(body, quoted, []byte(`"`+marker+`"`))
			_, err2 := Parse(testEndpoint, status, h, body2, testNow, opts)
			if err2 != nil && !containsAny(withoutMarkers(append(errorTexts(err2), renderAll(err2)...)), v) {
				t.Fatalf("error %q leaks the body's token %q", texts, v)
			}
		}
	})
}

func checkFuzzToken(t *testing.T, tok *tenantauth.Token, allowNonBearer bool) {
	t.Helper()
	if tok.AccessToken == "" || !headerSafe(tok.AccessToken.Reveal()) {
		t.Fatalf("bad access token %q", tok.AccessToken.Reveal())
	}
	if tok.TokenType == "" || (!allowNonBearer && tok.TokenType != "Bearer") || !isToken(tok.TokenType) ||
		tenantauth.CanonicalTokenType(tok.TokenType) != tok.TokenType {
		t.Fatalf("bad token type %q", tok.TokenType)
	}
	if !tok.IssuedAt.Equal(testNow) {
		t.Fatalf("IssuedAt = %v", tok.IssuedAt)
	}
	for _, e := range []time.Time{tok.Expiry, tok.RefreshExpiry} {
		if !e.IsZero() && (!e.After(testNow) || e.After(testNow.Add(MaxLifetime))) {
			t.Fatalf("expiry %v out of (now, now+MaxLifetime]", e)
		}
	}
	if !tok.RefreshExpiry.IsZero() && tok.RefreshToken == "" {
		t.Fatal("RefreshExpiry without RefreshToken")
	}
}

// errorTexts is every rendering of err a log could show.
func errorTexts(err error) []string {
	return []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)}
}

func containsAny(texts []string, v string) bool {
	for _, s := range texts {
		if strings.Contains(s, v) {
			return true
		}
	}
	return false
}

// bodySecrets returns the string values of access_token and refresh_token
// members (any case) of body when it is a JSON object, at least 4 bytes
// long (shorter ones are not secrets, and are found in any text).
func bodySecrets(body []byte) []string {
	var m map[string]any
	if json.Unmarshal(body, &m) != nil {
		return nil
	}
	var out []string
	for k, v := range m {
		s, ok := v.(string)
		if ok && len(s) >= 4 && (strings.EqualFold(k, "access_token") || strings.EqualFold(k, "refresh_token")) {
			out = append(out, s)
		}
	}
	return out
}

// sameLengthMarker returns a string of len(v) bytes of one ASCII letter that
// v does not contain, or "" when v contains them all.
func sameLengthMarker(v string) string {
	for c := byte('Q'); c <= 'Z'; c++ {
		if strings.IndexByte(v, c) < 0 {
			return strings.Repeat(string(c), len(v))
		}
	}
	return ""
}

// FuzzParseRetryAfter: no panic, never negative, never above MaxRetryAfter,
// and small delta-seconds are taken literally.
func FuzzParseRetryAfter(f *testing.F) {
	f.Fuzz(func(t *testing.T, v string, nowUnix int64) {
		now := time.Unix(nowUnix%(1<<40), 0) // keep now within years ±35000
		d := ParseRetryAfter(v, now)
		if d < 0 || d > MaxRetryAfter {
			t.Fatalf("ParseRetryAfter(%q) = %v", v, d)
		}
		if s := strings.TrimSpace(v); isDigits(s) && len(s) <= 4 {
			n, _ := strconv.Atoi(s) // not fmt.Sscan: it reads "08" as octal
			if d != time.Duration(n)*time.Second {
				t.Fatalf("ParseRetryAfter(%q) = %v, want %ds", v, d, n)
			}
		}
	})
}

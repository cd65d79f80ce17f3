package httpauth

import (
	"net/http"
	"strings"
)

// invalidTokenChallenge reports whether a WWW-Authenticate header of h
// carries the auth-param error="invalid_token" (RFC 6750 §3.1), in any
// challenge and with the value quoted or not.
func invalidTokenChallenge(h http.Header) bool {
	for _, v := range h["Www-Authenticate"] {
		if hasInvalidTokenParam(v) {
			return true
		}
	}
	return false
}

// hasInvalidTokenParam scans one WWW-Authenticate value (RFC 9110 §11.6.1:
// challenges of a scheme followed by token68 or name=value auth-params, the
// value a token or a quoted-string) for error=invalid_token. It is tolerant:
// bytes that fit no rule are skipped, and a quoted-string is skipped as a
// whole so that a realm or description quoting the text does not match. It
// never allocates and always terminates: every step consumes input.
func hasInvalidTokenParam(s string) bool {
	const want = "invalid_token"
	i := 0
	for i < len(s) {
		if !isTokenChar(s[i]) {
			if s[i] == '"' { // a stray quoted-string: skip it whole
				_, i = quotedEquals(s, i, "")
				continue
			}
			i++
			continue
		}
		start := i
		for i < len(s) && isTokenChar(s[i]) {
			i++
		}
		name := s[start:i]
		j := skipSpace(s, i)
		if j >= len(s) || s[j] != '=' {
			continue // a scheme name or token68
		}
		j = skipSpace(s, j+1)
		if j < len(s) && s[j] == '"' {
			match, end := quotedEquals(s, j, want)
			if match && strings.EqualFold(name, "error") {
				return true
			}
			i = end
			continue
		}
		v := j
		for j < len(s) && isTokenChar(s[j]) {
			j++
		}
		if strings.EqualFold(name, "error") && strings.EqualFold(s[v:j], want) {
			return true
		}
		i = j
	}
	return false
}

// quotedEquals reads the quoted-string that starts at s[i] == '"'. It
// reports whether its unescaped content equals want (ASCII case-insensitive)
// and the string was closed, and returns the index after the closing quote
// (len(s) when it was not closed).
func quotedEquals(s string, i int, want string) (match bool, end int) {
	k := 0 // bytes of want matched so far
	ok := true
	for i++; i < len(s); i++ {
		c := s[i]
		switch c {
		case '"':
			return ok && k == len(want), i + 1
		case '\\':
			if i+1 < len(s) {
				i++
				c = s[i]
			}
		}
		if ok && k < len(want) && lower(c) == want[k] {
			k++
		} else {
			ok = false
		}
	}
	return false, len(s)
}

func skipSpace(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	return i
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + ('a' - 'A')
	}
	return c
}

// isTokenChar reports whether c is a tchar (RFC 9110 §5.6.2).
func isTokenChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

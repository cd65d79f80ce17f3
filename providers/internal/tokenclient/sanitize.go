package tokenclient

import (
	"bytes"
	"encoding/json"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxExcerpt bounds TokenError.Body.
const MaxExcerpt = 200

// redactedText replaces a secret found in text an error will carry.
const redactedText = "[REDACTED]"

// A redactor removes known secrets from text taken from a response before it
// goes into an error: the request's secrets (should the server echo them)
// and the response's own tokens.
type redactor struct {
	needles []string
}

func newRedactor(opts ParseOptions, r *response) redactor {
	var red redactor
	for _, s := range opts.Secrets {
		red.add(s.Reveal())
	}
	if r != nil {
		for _, s := range r.AccessToken.seen {
			red.add(s)
		}
		for _, s := range r.RefreshToken.seen {
			red.add(s)
		}
	}
	return red
}

// add registers s and the spellings an echo of it would take: as sent in a
// form (query escaping) and inside a JSON string.
func (red *redactor) add(s string) {
	if s == "" {
		return
	}
	red.needles = append(red.needles, s)
	if q := url.QueryEscape(s); q != s {
		red.needles = append(red.needles, q)
	}
	if j, err := json.Marshal(s); err == nil {
		if j := string(j[1 : len(j)-1]); j != s {
			red.needles = append(red.needles, j)
		}
	}
}

func (red redactor) redact(s string) string {
	for _, n := range red.needles {
		if strings.Contains(s, n) {
			s = strings.ReplaceAll(s, n, redactedText)
		}
	}
	return s
}

// text prepares an OAuth error text for a TokenError: secrets redacted,
// control characters turned into spaces (no log injection), at most max
// bytes.
func (red redactor) text(s string, max int) string {
	if s == "" {
		return ""
	}
	s = red.redact(s)
	var b strings.Builder
	for _, r := range s {
		if !unicode.IsPrint(r) {
			r = ' '
		}
		if b.Len()+utf8.RuneLen(r) > max {
			break
		}
		b.WriteRune(r)
	}
	return b.String()
}

// excerpt returns at most MaxExcerpt bytes of printable text from the start
// of a body that is not JSON: secrets redacted, runs of white space and
// unprintable characters collapsed to one space. A body that mentions
// access_token or refresh_token yields nothing: it may be a token response
// in disguise.
func (red redactor) excerpt(body []byte) string {
	if bytes.Contains(body, []byte("access_token")) || bytes.Contains(body, []byte("refresh_token")) {
		return ""
	}
	s := red.redact(string(body))
	var b strings.Builder
	space := false
	for _, r := range s {
		if r == utf8.RuneError || unicode.IsSpace(r) || !unicode.IsPrint(r) {
			space = true
			continue
		}
		n := utf8.RuneLen(r)
		if space && b.Len() > 0 {
			n++
		}
		if b.Len()+n > MaxExcerpt {
			break
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteRune(r)
	}
	return b.String()
}

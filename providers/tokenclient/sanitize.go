package tokenclient

import (
	"bytes"
	"encoding/json"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxExcerpt bounds TokenError.Body: enough to recognise a proxy's error
// page or a login form, too little for a hostile endpoint to flood a log.
const MaxExcerpt = 200

// redactedText replaces a secret found in text an error will carry.
const redactedText = "[REDACTED]"

// withheldText replaces every non-empty OAuth text of an error body that
// carries more than maxSeen distinct values in access_token or in
// refresh_token: Parse does not remember them all, so it cannot promise to
// redact them, and says nothing instead.
const withheldText = "[withheld]"

// Bounds on the work spent on an error body's texts. Whatever the body holds,
// redacting and sanitising one text examines at most scanWindow bytes, each
// against at most a fixed number of needles of at most matchLen bytes: the
// cost does not grow with the body, the number of its duplicate members or
// the length of its values.
const (
	// scanWindow is how much of a text (or a non-JSON body) is examined. A
	// text is cut to it before anything else, so an error text or excerpt
	// only ever shows something from its first scanWindow bytes. It is
	// larger than maxTextField so that a redacted token of a few KiB
	// (a JWT) does not hide the words after it.
	scanWindow = 4 << 10

	// matchLen is the longest part of a secret compared. A spelling of a
	// secret of at most matchLen bytes is matched exactly; a longer one is
	// recognised by its first matchLen bytes, and then its whole length is
	// redacted as if the rest followed (it does, or the text held a
	// 64-byte prefix of a secret: redacting more than needed never leaks;
	// a periodic secret, whose every 64-byte window is its start, may
	// hide more than its length). Comparing more would make the cost
	// depend on the length of values the body chose.
	matchLen = 64

	// maxSeen is how many distinct values of access_token, and of
	// refresh_token, an error body may carry (duplicate keys) and still have
	// its texts shown, redacted. One is normal; more is a broken or hostile
	// server, whose texts are withheld.
	maxSeen = 4
)

// A redactor removes known secrets from text taken from a response before it
// goes into an error: the request's secrets (should the server echo them)
// and the response's own tokens.
//
// It makes one pass over the original text, left to right, never over its
// own output: a marker it inserts is never matched again. Every byte of the
// text covered by an occurrence of any needle is hidden, overlapping and
// adjacent occurrences included; each maximal run of hidden bytes becomes
// one redactedText.
type redactor struct {
	needles []needle
	// withheld means the body had too many token values to redact them
	// all: texts are replaced by withheldText.
	withheld bool
}

// A needle is one spelling of a secret: its first matchLen bytes (all of it
// when shorter) and its full length, which an occurrence hides.
type needle struct {
	prefix string
	n      int
}

func newRedactor(opts ParseOptions, r *response) *redactor {
	red := &redactor{}
	for _, s := range opts.Secrets {
		red.add(s.Reveal())
	}
	if r != nil {
		if r.AccessToken.overflow || r.RefreshToken.overflow {
			red.withheld = true
			return red
		}
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
// form (query escaping) and inside a JSON string. Only the first bytes of s
// are escaped; the lengths are counted. The cost is O(len(s)) time and
// O(matchLen) memory.
func (red *redactor) add(s string) {
	if s == "" {
		return
	}
	// Every rune starting in the first matchLen bytes is whole in head,
	// and escaping never shortens: the first matchLen bytes of an escaped
	// head are those of the escaped s.
	head := s[:min(len(s), matchLen+utf8.UTFMax)]
	red.addNeedle(s, len(s))
	red.addNeedle(url.QueryEscape(head), queryEscapedLen(s))
	if j, err := json.Marshal(head); err == nil {
		red.addNeedle(string(j[1:len(j)-1]), jsonEscapedLen(s))
	}
}

func (red *redactor) addNeedle(prefix string, n int) {
	prefix = prefix[:min(len(prefix), matchLen)]
	nd := needle{prefix: prefix, n: max(n, len(prefix))}
	for _, o := range red.needles {
		if o == nd {
			return
		}
	}
	red.needles = append(red.needles, nd)
}

// coverAt returns the end of the longest needle occurrence starting at
// s[i], or 0 when none does. It reads at most matchLen bytes of s.
func (red *redactor) coverAt(s string, i int) int {
	end := 0
	rest := s[i:]
	for _, nd := range red.needles {
		if strings.HasPrefix(rest, nd.prefix) && i+nd.n > end {
			end = i + nd.n
		}
	}
	return end
}

// A scanner walks the first scanWindow bytes of a text once, yielding its
// runes and, for each run of bytes covered by secrets, one marker.
type scanner struct {
	red      *redactor
	s        string
	i, end   int // next byte; end of the window
	coverEnd int // end of the hidden run seen so far
}

func (red *redactor) scan(s string) *scanner {
	return &scanner{red: red, s: s, end: min(len(s), scanWindow)}
}

// next returns the next piece of the redacted text: a marker (the whole of
// a hidden run), or a rune of the text (utf8.RuneError for a byte that is
// not UTF-8, or a rune a secret starts inside of). ok is false at the end.
func (sc *scanner) next() (r rune, marker, ok bool) {
	hidden := false
	for sc.i < sc.end {
		i := sc.i
		if e := sc.red.coverAt(sc.s, i); e > sc.coverEnd {
			sc.coverEnd = e
		}
		if i < sc.coverEnd {
			hidden = true
			sc.i++
			continue
		}
		if hidden {
			return 0, true, true
		}
		r, size := utf8.DecodeRuneInString(sc.s[i:])
		for j := i + 1; j < i+size; j++ {
			if sc.red.coverAt(sc.s, j) > 0 {
				r, size = utf8.RuneError, 1
				break
			}
		}
		sc.i += size
		return r, false, true
	}
	return 0, hidden, hidden
}

// text prepares an OAuth error text for a TokenError: secrets redacted,
// control characters turned into spaces (no log injection), at most max
// bytes, cut on a rune boundary and never inside a marker. Only the first
// scanWindow bytes of s are looked at.
func (red *redactor) text(s string, max int) string {
	if s == "" {
		return ""
	}
	if red.withheld {
		return withheldText[:min(len(withheldText), max)]
	}
	var b strings.Builder
	b.Grow(min(len(s), max))
	for sc := red.scan(s); ; {
		r, marker, ok := sc.next()
		if !ok {
			break
		}
		if marker {
			if b.Len()+len(redactedText) > max {
				break
			}
			b.WriteString(redactedText)
			continue
		}
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
// unprintable characters collapsed to one space. Only the first scanWindow
// bytes of the body are looked at. A body that mentions access_token or
// refresh_token yields nothing: it may be a token response in disguise.
//
// Whether the excerpt is empty depends on the body alone, never on the
// secrets: a window without a printable character yields nothing, even
// where a secret made of unprintable bytes would have left a marker.
func (red *redactor) excerpt(body []byte) string {
	if bytes.Contains(body, []byte("access_token")) || bytes.Contains(body, []byte("refresh_token")) {
		return ""
	}
	// The window, plus what a needle or a rune starting in it may read.
	s := string(body[:min(len(body), scanWindow+matchLen+utf8.UTFMax)])
	if !hasVisible(s[:min(len(s), scanWindow)]) {
		return ""
	}
	var b strings.Builder
	space := false
	for sc := red.scan(s); ; {
		r, marker, ok := sc.next()
		if !ok {
			break
		}
		w := redactedText
		if !marker {
			if r == utf8.RuneError || unicode.IsSpace(r) || !unicode.IsPrint(r) {
				space = true
				continue
			}
			w = string(r)
		}
		n := len(w)
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
		b.WriteString(w)
	}
	return b.String()
}

// hasVisible reports whether s holds a rune excerpt would show: printable,
// not white space, not a byte that is not UTF-8. If it does, the excerpt is
// not empty whatever the secrets: that rune is shown, or a secret covers
// one of its bytes and a marker is.
func hasVisible(s string) bool {
	for _, r := range s {
		if r != utf8.RuneError && !unicode.IsSpace(r) && unicode.IsPrint(r) {
			return true
		}
	}
	return false
}

// queryEscapedLen is len(url.QueryEscape(s)), without building it: the
// unreserved bytes and space (as '+') stay one byte, every other byte
// becomes %XX.
func queryEscapedLen(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			c == '-', c == '_', c == '.', c == '~', c == ' ':
			n++
		default:
			n += 3
		}
	}
	return n
}

// jsonEscapedLen is the length of s as encoding/json writes it inside a
// string (HTML-safe escaping), without building it.
func jsonEscapedLen(s string) int {
	n := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			switch {
			case c == '"', c == '\\', c == '\b', c == '\f', c == '\n', c == '\r', c == '\t':
				n += 2
			case c < ' ', c == '<', c == '>', c == '&':
				n += 6 // \u00XX
			default:
				n++
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 || r == '\u2028' || r == '\u2029' {
			n += 6 // \ufffd, \u2028, \u2029
		} else {
			n += size
		}
		i += size
	}
	return n
}

package tokenclient

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// MaxRetryAfter caps [ParseRetryAfter]. A server asking for more than a day
// is treated as asking for a day; the cap also keeps arithmetic on the
// result safe.
const MaxRetryAfter = 24 * time.Hour

// maxHTTPDate is more than the longest HTTP-date ("Wednesday, 09-Nov-94
// 08:49:37 GMT", RFC 850 form, is 33 bytes).
const maxHTTPDate = 64

// ParseRetryAfter parses a Retry-After header value (RFC 9110 §10.2.3):
// delta-seconds ("120") or an HTTP-date, relative to now. It returns 0 for
// an empty, malformed or past value, and never more than [MaxRetryAfter].
func ParseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if isDigits(v) {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil || n > uint64(MaxRetryAfter/time.Second) {
			return MaxRetryAfter // only a range error reaches here: all digits
		}
		return time.Duration(n) * time.Second
	}
	if len(v) > maxHTTPDate {
		return 0 // not a date; don't have three layouts parse a flood
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0
	}
	d := t.Sub(now) // saturates instead of overflowing
	switch {
	case d <= 0:
		return 0
	case d > MaxRetryAfter:
		return MaxRetryAfter
	}
	return d
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

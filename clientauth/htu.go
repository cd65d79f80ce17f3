package clientauth

import (
	"fmt"
	"net/netip"
	"strings"
)

// appendHTU appends the htu of RFC 9449 §4.2 for raw to dst: scheme, host,
// port and path — no user info, query or fragment — normalised as RFC 9449
// §4.3 asks (RFC 3986 §6.2.2 and §6.2.3): scheme and host in lower case, the
// default port dropped, percent-encodings in upper case, unreserved
// characters decoded, other bytes a path may not hold percent-encoded, dot
// segments removed, an empty path as "/". The result holds only characters
// that need no escaping in a JSON string. It does not allocate beyond
// growing dst.
func appendHTU(dst []byte, raw string) ([]byte, error) {
	i := strings.Index(raw, "://")
	if i < 0 {
		return dst, fmt.Errorf("%w: not absolute", ErrInvalidURL)
	}
	var https bool
	switch scheme := raw[:i]; {
	case strings.EqualFold(scheme, "https"):
		https = true
	case strings.EqualFold(scheme, "http"):
	default:
		return dst, fmt.Errorf("%w: scheme is not http or https", ErrInvalidURL)
	}
	rest := raw[i+3:]
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	authority, rest := rest[:end], rest[end:]
	if at := strings.LastIndexByte(authority, '@'); at >= 0 {
		authority = authority[at+1:]
	}
	host, port := authority, ""
	if strings.HasPrefix(authority, "[") {
		j := strings.IndexByte(authority, ']')
		if j < 0 {
			return dst, fmt.Errorf("%w: unclosed IP literal", ErrInvalidURL)
		}
		host, port = authority[:j+1], authority[j+1:]
		if port != "" && port[0] != ':' {
			return dst, fmt.Errorf("%w: bad host", ErrInvalidURL)
		}
		// Only IPv6 literals, without zone: a zone means nothing to the
		// server, and IPvFuture is unused.
		if a, err := netip.ParseAddr(host[1:j]); err != nil || !a.Is6() || a.Zone() != "" {
			return dst, fmt.Errorf("%w: bad IP literal", ErrInvalidURL)
		}
	} else if c := strings.LastIndexByte(authority, ':'); c >= 0 {
		host, port = authority[:c], authority[c:]
	}
	if host == "" || host == "[]" {
		return dst, fmt.Errorf("%w: no host", ErrInvalidURL)
	}

	if https {
		dst = append(dst, "https://"...)
	} else {
		dst = append(dst, "http://"...)
	}
	var err error
	if dst, err = appendHost(dst, host); err != nil {
		return dst, err
	}
	if dst, err = appendPort(dst, port, https); err != nil {
		return dst, err
	}

	if q := strings.IndexAny(rest, "?#"); q >= 0 {
		rest = rest[:q]
	}
	if rest == "" {
		return append(dst, '/'), nil
	}
	start := len(dst)
	dotted := false
	for i := 0; i < len(rest); i++ {
		c := rest[i]
		switch {
		case c == '%':
			if i+2 >= len(rest) || !isHex(rest[i+1]) || !isHex(rest[i+2]) {
				return dst, fmt.Errorf("%w: bad percent-encoding", ErrInvalidURL)
			}
			d := unhex(rest[i+1])<<4 | unhex(rest[i+2])
			if isUnreserved(d) {
				dst = append(dst, d)
				dotted = dotted || d == '.'
			} else {
				dst = append(dst, '%', upperHex[d>>4], upperHex[d&0xf])
			}
			i += 2
		case isPathChar(c):
			dst = append(dst, c)
			dotted = dotted || c == '.'
		default:
			dst = append(dst, '%', upperHex[c>>4], upperHex[c&0xf])
		}
	}
	if dotted {
		dst = dst[:start+removeDotSegments(dst[start:])]
	}
	return dst, nil
}

// appendHost appends a reg-name or IPv6 literal in lower case. A
// reg-name may hold unreserved characters and sub-delims only: HTTP clients
// send international names as punycode, and percent-encoded hosts are
// refused (as net/url refuses most of them).
func appendHost(dst []byte, host string) ([]byte, error) {
	literal := host[0] == '[' // already validated: hex digits, ':' and '.'
	for i := 0; i < len(host); i++ {
		c := host[i]
		if !literal && !isUnreserved(c) && !isSubDelim(c) {
			return dst, fmt.Errorf("%w: bad character in host", ErrInvalidURL)
		}
		dst = append(dst, lower(c))
	}
	return dst, nil
}

// appendPort appends ":port" unless the port is empty or the scheme's
// default. Leading zeros are dropped.
func appendPort(dst []byte, port string, https bool) ([]byte, error) {
	if port == "" || port == ":" {
		return dst, nil
	}
	digits := port[1:]
	for len(digits) > 1 && digits[0] == '0' {
		digits = digits[1:]
	}
	n := 0
	for i := 0; i < len(digits); i++ {
		c := digits[i]
		if c < '0' || c > '9' || i >= 5 {
			return dst, fmt.Errorf("%w: bad port", ErrInvalidURL)
		}
		n = n*10 + int(c-'0')
	}
	if n > 65535 {
		return dst, fmt.Errorf("%w: bad port", ErrInvalidURL)
	}
	if (https && n == 443) || (!https && n == 80) {
		return dst, nil
	}
	dst = append(dst, ':')
	return append(dst, digits...), nil
}

// removeDotSegments applies RFC 3986 §5.2.4 in place to p, which starts with
// '/', and returns the new length. The output is never longer than the
// input, so it can overwrite it.
func removeDotSegments(p []byte) int {
	w := 0
	for r := 0; r < len(p); {
		e := r + 1
		for e < len(p) && p[e] != '/' {
			e++
		}
		seg, last := p[r+1:e], e == len(p)
		switch {
		case len(seg) == 1 && seg[0] == '.':
			if last {
				p[w] = '/'
				w++
			}
		case len(seg) == 2 && seg[0] == '.' && seg[1] == '.':
			for w > 0 {
				w--
				if p[w] == '/' {
					break
				}
			}
			if last {
				p[w] = '/'
				w++
			}
		default:
			w += copy(p[w:], p[r:e])
		}
		r = e
	}
	if w == 0 {
		p[0] = '/'
		w = 1
	}
	return w
}

const upperHex = "0123456789ABCDEF"

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + ('a' - 'A')
	}
	return c
}

// isUnreserved reports whether c is unreserved (RFC 3986 §2.3).
func isUnreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

// isSubDelim reports whether c is a sub-delim (RFC 3986 §2.2).
func isSubDelim(c byte) bool {
	return strings.IndexByte("!$&'()*+,;=", c) >= 0
}

// isPathChar reports whether c may appear unencoded in a path (RFC 3986
// §3.3: pchar and '/').
func isPathChar(c byte) bool {
	return isUnreserved(c) || isSubDelim(c) || c == ':' || c == '@' || c == '/'
}

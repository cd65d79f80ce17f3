package clientauth

import (
	"net/http"
	"strings"
)

// MaxNonceLen is the longest DPoP nonce [NonceFrom] accepts and
// [DPoP.Proof] sends. RFC 9449 sets no limit; every proof carries the nonce,
// so a server's nonce is bounded rather than copied into every request
// whatever its size.
const MaxNonceLen = 512

// maxChallengeScan bounds the bytes of WWW-Authenticate [UseDPoPNonce] reads
// over all header lines: the signal sits in the first challenges of real
// servers, and a hostile one gets linear work on a fixed budget.
const maxChallengeScan = 16 << 10

// NonceFrom returns the server-provided nonce of a response (the DPoP-Nonce
// header, RFC 9449 §8 and §9): ok is false when there is none, when it is
// not 1 to [MaxNonceLen] NQCHARs (printable ASCII but space, '"' and '\'),
// or when several header lines disagree. Surrounding spaces are trimmed.
// Send the nonce in the next proof for the same server; a server may send a
// new one with any response, not only with an error.
func NonceFrom(h http.Header) (nonce string, ok bool) {
	vs := h["Dpop-Nonce"] // the canonical form of DPoP-Nonce
	if len(vs) == 0 {
		return "", false
	}
	nonce = strings.Trim(vs[0], " \t")
	for _, v := range vs[1:] {
		if strings.Trim(v, " \t") != nonce {
			return "", false
		}
	}
	if !validNonce(nonce) {
		return "", false
	}
	return nonce, true
}

// validNonce reports whether s is 1*NQCHAR (RFC 9449 §8.1: %x21 / %x23-5B /
// %x5D-7E) of at most MaxNonceLen bytes. Such a nonce needs no escaping in
// a JSON string.
func validNonce(s string) bool {
	if s == "" || len(s) > MaxNonceLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// UseDPoPNonce reports whether a response's WWW-Authenticate headers carry a
// DPoP challenge with error="use_dpop_nonce" (RFC 9449 §9): the resource
// server wants the request again with a proof holding the nonce of its
// DPoP-Nonce header (see [NonceFrom]). It reads every challenge of every
// header line (RFC 9110 §11.6.1), the value quoted or not; a parameter of
// another scheme's challenge (Bearer error="use_dpop_nonce") does not count.
// A token endpoint signals the same in its JSON error body instead.
//
// It never allocates and reads at most 16 KiB in all: hostile input costs
// bounded, linear work.
func UseDPoPNonce(h http.Header) bool {
	budget := maxChallengeScan
	for _, v := range h["Www-Authenticate"] { // the canonical form of WWW-Authenticate
		if budget <= 0 {
			break
		}
		if len(v) > budget {
			v = v[:budget]
		}
		budget -= len(v)
		if hasUseDPoPNonce(v) {
			return true
		}
	}
	return false
}

// hasUseDPoPNonce is ChallengeHasError for RFC 9449's nonce challenge.
func hasUseDPoPNonce(v string) bool { return ChallengeHasError(v, "DPoP", "use_dpop_nonce") }

// ChallengeHasError reports whether one WWW-Authenticate header value
// carries error=code (RFC 6750 §3, RFC 9449 §7.1) in a challenge of scheme,
// or of any scheme when scheme is "". code must be in lower case; the value
// matches in any case, quoted or not. The value is a list of challenges
// (RFC 9110 §11.6.1), each a scheme followed by a token68 or by name=value
// auth-params, the value a token or a quoted-string. It is tolerant: bytes
// that fit no rule are skipped and a quoted-string is skipped whole, so text
// quoted inside a description never matches. It never allocates, and every
// step consumes input; bound the value's length for hostile input (as
// UseDPoPNonce does).
func ChallengeHasError(s, scheme, code string) bool {
	want := code
	in := scheme == "" // whether the current challenge's scheme is scheme
	for i := 0; i < len(s); {
		c := s[i]
		if c == '"' { // a stray quoted-string
			_, i = quotedEquals(s, i, "")
			continue
		}
		if !isTokenChar(c) {
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
			// A token not followed by '=' starts a challenge (or is a
			// token68, which no auth-param may follow anyway).
			in = scheme == "" || strings.EqualFold(name, scheme)
			continue
		}
		if j+1 < len(s) && s[j+1] == '=' { // token68 padding ("abc==")
			for j < len(s) && s[j] == '=' {
				j++
			}
			i = j
			continue
		}
		isError := in && strings.EqualFold(name, "error")
		j = skipSpace(s, j+1)
		if j < len(s) && s[j] == '"' {
			match, end := quotedEquals(s, j, want)
			if match && isError {
				return true
			}
			i = end
			continue
		}
		v := j
		for j < len(s) && isTokenChar(s[j]) {
			j++
		}
		if isError && strings.EqualFold(s[v:j], want) {
			return true
		}
		i = j
	}
	return false
}

// quotedEquals reads the quoted-string that starts at s[i] == '"'. It
// reports whether its unescaped content equals want (ASCII case-insensitive;
// want is lower case) and the string was closed, and returns the index after
// the closing quote (len(s) when it was not closed).
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

package standin

import (
	"strconv"
	"strings"
)

// TokenSize is the length of every access token the IdP issues (unless a
// tenant ID is so long that it does not fit). A fixed size keeps memory
// figures comparable: it is exactly one Go allocation size class.
const TokenSize = 64

// TokenInfo is what an access token says about itself.
type TokenInfo struct {
	// Tenant is the tenant the token was issued to.
	Tenant string
	// Seq numbers the IdP's tokens from 1.
	Seq uint64
	// IssuedAt and Expiry are readings of the IdP's Clock.
	IssuedAt, Expiry int64
}

// formatToken builds "tenant.seq.issued.expiry." padded with 'x' to
// TokenSize.
func formatToken(tenant string, seq uint64, issued, expiry int64) string {
	buf := make([]byte, 0, TokenSize+len(tenant))
	buf = append(buf, tenant...)
	buf = append(buf, '.')
	buf = strconv.AppendUint(buf, seq, 10)
	buf = append(buf, '.')
	buf = strconv.AppendInt(buf, issued, 10)
	buf = append(buf, '.')
	buf = strconv.AppendInt(buf, expiry, 10)
	buf = append(buf, '.')
	for len(buf) < TokenSize {
		buf = append(buf, 'x')
	}
	return string(buf)
}

// ParseToken reads an access token issued by an IdP. It reports false for
// anything else. It does not allocate: Tenant aliases s.
func ParseToken(s string) (TokenInfo, bool) {
	var ti TokenInfo
	tenant, rest, ok := strings.Cut(s, ".")
	if !ok || tenant == "" {
		return ti, false
	}
	seq, rest, ok := strings.Cut(rest, ".")
	if !ok {
		return ti, false
	}
	issued, rest, ok := strings.Cut(rest, ".")
	if !ok {
		return ti, false
	}
	expiry, _, ok := strings.Cut(rest, ".")
	if !ok {
		return ti, false
	}
	var err error
	if ti.Seq, err = strconv.ParseUint(seq, 10, 64); err != nil {
		return ti, false
	}
	if ti.IssuedAt, err = strconv.ParseInt(issued, 10, 64); err != nil {
		return ti, false
	}
	if ti.Expiry, err = strconv.ParseInt(expiry, 10, 64); err != nil {
		return ti, false
	}
	ti.Tenant = tenant
	return ti, true
}

// ParseAuthorization reads the token out of an Authorization header value
// "Bearer <token>" (the scheme compared case-insensitively).
func ParseAuthorization(v string) (TokenInfo, bool) {
	const scheme = "bearer "
	if len(v) <= len(scheme) || !strings.EqualFold(v[:len(scheme)], scheme) {
		return TokenInfo{}, false
	}
	return ParseToken(v[len(scheme):])
}

package tenantauth

import (
	"net/netip"
	"strings"
)

// hostAllowed reports whether host (a URL host: "name", "name:port",
// "1.2.3.4:port", "[v6]:port") is matched by one of the allowed patterns.
//
// The rules, which every middleware relies on through TokenForHost:
//   - a host that is not well formed (bad port, stray brackets or colons,
//     characters outside a DNS name, an IPv6 zone) matches nothing: Go dials
//     "[::1%25.example.com]" as ::1, so a zone must never reach a suffix
//     comparison;
//   - an IP literal matches only a pattern that is the same IP literal;
//   - a name matches a pattern equal to it (ASCII, case-insensitive), or a
//     pattern "*.suffix" when it ends in ".suffix";
//   - a pattern with a port matches that port only;
//   - the pattern "*" matches every well-formed host;
//   - no pattern matches nothing.
//
// It does not allocate.
func hostAllowed(allowed []string, host string) bool {
	h, ok := parseHost(host)
	if !ok || h.wildcard {
		return false
	}
	for _, a := range allowed {
		if a == AnyHost {
			return true
		}
		if p, ok := parseHost(a); ok && p.matches(h) {
			return true
		}
	}
	return false
}

// AnyHost is the [Tenant.APIHosts] entry that allows every host: the
// explicit opt-out of the host check, for a tenant whose API has no fixed
// host. An empty APIHosts allows none.
const AnyHost = "*"

// hostParts is a parsed URL host or APIHosts pattern.
type hostParts struct {
	name     string     // the DNS name or pattern, without port; "" for an IP
	ip       netip.Addr // valid for an IP literal
	port     string     // "" when absent
	wildcard bool       // a pattern "*.suffix"; name is ".suffix"
}

func (p hostParts) matches(h hostParts) bool {
	if p.port != "" && p.port != h.port {
		return false
	}
	switch {
	case p.ip.IsValid() || h.ip.IsValid():
		return p.ip.IsValid() && h.ip.IsValid() && p.ip.Unmap() == h.ip.Unmap()
	case p.wildcard:
		return len(h.name) > len(p.name) && asciiEqualFold(h.name[len(h.name)-len(p.name):], p.name)
	}
	return asciiEqualFold(p.name, h.name)
}

// parseHost splits and validates s. A pattern may start with "*."; a host
// that does is not a name anyone can dial and fails the match later only
// if it is used as a host, so both sides share this parser.
func parseHost(s string) (hostParts, bool) {
	var p hostParts
	name := s
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return p, false
		}
		name = s[1:end]
		if rest := s[end+1:]; rest != "" {
			if rest[0] != ':' || !validPort(rest[1:]) {
				return p, false
			}
			p.port = rest[1:]
		}
		return p, parseIP(&p, name, true)
	}
	switch strings.Count(s, ":") {
	case 0:
	case 1:
		i := strings.IndexByte(s, ':')
		name, p.port = s[:i], s[i+1:]
		if !validPort(p.port) {
			return p, false
		}
	default:
		// A bare IPv6 address ("::1"), as some callers pass host names.
		return p, parseIP(&p, s, true)
	}
	if parseIP(&p, name, false) {
		return p, true
	}
	if strings.HasPrefix(name, "*.") {
		p.wildcard = true
		name = name[1:]
		if !validName(name[1:]) {
			return p, false
		}
	} else if !validName(name) {
		return p, false
	}
	p.name = name
	return p, true
}

// parseIP sets p.ip when s is an IP address without zone; v6 requires an
// IPv6 literal.
func parseIP(p *hostParts, s string, v6 bool) bool {
	// Check the alphabet first: ParseAddr allocates its error, and names
	// are the common case. A zone ('%') is refused in any spelling.
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case '0' <= c && c <= '9', c == '.':
		case v6 && (c == ':' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'):
		default:
			return false
		}
	}
	ip, err := netip.ParseAddr(s)
	if err != nil || (v6 && !ip.Is6()) {
		return false
	}
	p.ip = ip
	return true
}

// validPort reports whether s is a decimal port.
func validPort(s string) bool {
	if s == "" || len(s) > 5 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// validName reports whether s is a host name of ASCII letters, digits,
// hyphens and underscores in non-empty dot-separated labels. Anything else
// (percent signs, Unicode that IDNA would map, brackets) is refused rather
// than compared.
func validName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	label := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '.':
			if label == 0 {
				return false
			}
			label = 0
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_':
			label++
		default:
			return false
		}
	}
	return label > 0
}

// asciiEqualFold is strings.EqualFold for ASCII only: Unicode folding
// (the Kelvin sign equals "k") has no place in comparing host names.
func asciiEqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// secureDestination reports whether a token may go to scheme://host without
// an opt-in: over TLS, or to a loopback host that no network sees.
func secureDestination(scheme, host string) bool {
	switch {
	case asciiEqualFold(scheme, "https"), asciiEqualFold(scheme, "wss"):
		return true
	case asciiEqualFold(scheme, "http"), asciiEqualFold(scheme, "ws"):
		h, ok := parseHost(host)
		return ok && (h.ip.IsLoopback() || asciiEqualFold(h.name, "localhost"))
	}
	return false
}

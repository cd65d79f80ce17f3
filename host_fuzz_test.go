package tenantauth_test

import (
	"net"
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"github.com/tenantauth/tenantauth"
)

// FuzzAllowsHost checks that whatever a host looks like, a match means the
// connection Go would make goes where a pattern says: a name under the
// wildcard's suffix, the listed IP, or the listed name and port.
func FuzzAllowsHost(f *testing.F) {
	for _, s := range []string{
		"api.example.com", "[::ffff:127.0.0.1%25.example.com]", "10.0.0.7:80", "[::1]:443",
		"x.example.com:8443", "api.example.org:8443", "[::ffff:10.0.0.7]", "a.example.com.",
	} {
		f.Add(s)
	}
	tn := tenantauth.Tenant{APIHosts: []string{"*.example.com", "10.0.0.7", "api.example.org:8443"}}
	want7 := netip.MustParseAddr("10.0.0.7")
	f.Fuzz(func(t *testing.T, host string) {
		if !tn.AllowsHost(host) {
			return
		}
		// What net/http would dial: the URL's Hostname and Port.
		u := &url.URL{Host: host}
		name, port := u.Hostname(), u.Port()
		if strings.Contains(host, "%") {
			t.Fatalf("%q allowed: a zone or escape in the host", host)
		}
		if ip, err := netip.ParseAddr(name); err == nil {
			if ip.Unmap() != want7 {
				t.Fatalf("%q allowed: IP %s is not listed", host, ip)
			}
			return
		}
		if net.ParseIP(name) != nil {
			t.Fatalf("%q allowed: an IP literal netip does not read", host)
		}
		lower := strings.ToLower(name)
		switch {
		case strings.HasSuffix(lower, ".example.com") && len(lower) > len(".example.com"):
		case lower == "api.example.org" && port == "8443":
		default:
			t.Fatalf("%q allowed: name %q port %q match no pattern", host, name, port)
		}
		for _, r := range lower {
			if !(r == '.' || r == '-' || r == '_' || 'a' <= r && r <= 'z' || '0' <= r && r <= '9') {
				t.Fatalf("%q allowed: %q is not a DNS name", host, name)
			}
		}
	})
}

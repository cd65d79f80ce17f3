package tenantauth

import (
	"net/url"
	"strings"
	"testing"
)

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://idp.example/realms/acme/token":             "https://idp.example/realms/acme/token",
		"https://user:pa55@idp.example/token":               "https://idp.example/token",
		"https://idp.example/token?client_secret=s#frag":    "https://idp.example/token",
		"http://127.0.0.1:8080/oauth/token":                 "http://127.0.0.1:8080/oauth/token",
		"not a url with secret@host?q":                      "host",
		"https://idp.example/p%20q":                         "https://idp.example/p%20q",
		"https://user@idp.example:8443/token?x=1&y=2#z=tok": "https://idp.example:8443/token",
	} {
		if got := RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q; want %q", in, got, want)
		}
	}
}

// BenchmarkRedactURL: the Manager redacts its endpoint on every miss; a
// URL with nothing to redact must not be parsed.
func BenchmarkRedactURL(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if RedactURL("https://idp.example/realms/acme/protocol/openid-connect/token") == "" {
			b.Fatal("empty")
		}
	}
}

// FuzzRedactURL: whatever the input, the result carries no query or
// fragment, and no user info (nothing up to an '@' unless it is an
// absolute URL whose '@' is in its path).
func FuzzRedactURL(f *testing.F) {
	f.Add("https://u:p@h/x?q#f")
	f.Add("https://h/x")
	f.Add("%zz@h?x")
	f.Fuzz(func(t *testing.T, u string) {
		got := RedactURL(u)
		if strings.ContainsAny(got, "?#") {
			t.Fatalf("RedactURL(%q) = %q keeps a query or fragment", u, got)
		}
		if p, err := url.Parse(got); err == nil && p.Host != "" {
			if p.User != nil {
				t.Fatalf("RedactURL(%q) = %q keeps user info", u, got)
			}
		} else if strings.Contains(got, "@") {
			t.Fatalf("RedactURL(%q) = %q keeps an '@'", u, got)
		}
	})
}

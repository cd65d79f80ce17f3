package clientauth

import (
	"errors"
	"net/url"
	"strings"
	"testing"
)

func TestAppendHTU(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"https://api.example.com/v1/items", "https://api.example.com/v1/items"},
		{"https://api.example.com/v1/items?x=1&y=2#frag", "https://api.example.com/v1/items"},
		{"HTTPS://API.Example.COM/Path", "https://api.example.com/Path"},
		{"https://api.example.com", "https://api.example.com/"},
		{"https://api.example.com?q", "https://api.example.com/"},
		{"https://api.example.com#f", "https://api.example.com/"},
		{"https://api.example.com:443/a", "https://api.example.com/a"},
		{"http://api.example.com:80/a", "http://api.example.com/a"},
		{"https://api.example.com:80/a", "https://api.example.com:80/a"},
		{"http://api.example.com:443/a", "http://api.example.com:443/a"},
		{"https://api.example.com:/a", "https://api.example.com/a"},
		{"https://api.example.com:08443/a", "https://api.example.com:8443/a"},
		{"https://api.example.com:00443/a", "https://api.example.com/a"},
		{"https://user:pw@api.example.com/a", "https://api.example.com/a"},
		{"https://[2001:DB8::1]:443/a", "https://[2001:db8::1]/a"},
		{"https://[::1]:8443", "https://[::1]:8443/"},
		{"https://127.0.0.1:8443/token", "https://127.0.0.1:8443/token"},
		{"https://x.example/%7euser/%2fa%2Fb/%41%62", "https://x.example/~user/%2Fa%2Fb/Ab"},
		{"https://x.example/a b/ç", "https://x.example/a%20b/%C3%A7"},
		{"https://x.example/a\"<>\\^`{|}", "https://x.example/a%22%3C%3E%5C%5E%60%7B%7C%7D"},
		{"https://x.example/a/./b/../c", "https://x.example/a/c"},
		{"https://x.example/a/b/..", "https://x.example/a/"},
		{"https://x.example/a/.", "https://x.example/a/"},
		{"https://x.example/../../a", "https://x.example/a"},
		{"https://x.example/..", "https://x.example/"},
		{"https://x.example/%2E%2E/a/%2e", "https://x.example/a/"},
		{"https://x.example/a..b/.c/c.", "https://x.example/a..b/.c/c."},
		{"https://x.example//a//", "https://x.example//a//"},
		{"https://x.example/a:b@c!$&'()*+,;=", "https://x.example/a:b@c!$&'()*+,;="},
		{"https://x.example/token/", "https://x.example/token/"},
	} {
		got, err := appendHTU([]byte("prefix"), tc.in)
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if string(got) != "prefix"+tc.want {
			t.Errorf("%q → %q, want %q", tc.in, got[6:], tc.want)
		}
	}
}

func TestAppendHTURefuses(t *testing.T) {
	for _, in := range []string{
		"", "/relative", "api.example.com/a", "ftp://x.example/", "ws://x.example/", "https:///a",
		"https://x.example:99999/", "https://x.example:12a/", "https://x.example:1:2/", "https://[::1/",
		"https://[::1]x/", "https://x.example/%zz", "https://x.example/%4", "https://x%zz/",
		"https://x exa/", "https://x\"a/", "https://user@/a", "https://x.example:-1/", "https://[]/", "https://%41pi.example/",
		"https://[0]/", "https://[127.0.0.1]/", "https://[fe80::1%25eth0]/",
	} {
		if got, err := appendHTU(nil, in); !errors.Is(err, ErrInvalidURL) {
			t.Errorf("%q: %q, %v; want ErrInvalidURL", in, got, err)
		}
	}
}

// Normalising is idempotent, and two URLs that url.Parse sees as the same
// request path normalise alike.
func FuzzAppendHTU(f *testing.F) {
	for _, s := range []string{"https://a.example/b/../c?d", "HTTP://A:80/%7e/./x", "https://[::1]:443", "https://x/a%2fb"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		once, err := appendHTU(nil, s)
		if err != nil {
			return
		}
		twice, err := appendHTU(nil, string(once))
		if err != nil || string(twice) != string(once) {
			t.Fatalf("%q → %q → %q, %v", s, once, twice, err)
		}
		if strings.ContainsAny(string(once), "?#\"\\ ") {
			t.Fatalf("%q → %q", s, once)
		}
		for _, c := range []byte(string(once)) {
			if c < 0x21 || c > 0x7e {
				t.Fatalf("%q → %q: byte %#x", s, once, c)
			}
		}
		if _, err := url.Parse(string(once)); err != nil {
			t.Fatalf("%q → %q does not parse: %v", s, once, err)
		}
	})
}

func TestAppendHTUAllocs(t *testing.T) {
	buf := make([]byte, 0, 256)
	if n := testing.AllocsPerRun(100, func() {
		_, _ = appendHTU(buf[:0], "HTTPS://API.example.com:443/a/./b/%7e?q=1")
	}); n != 0 {
		t.Errorf("%v allocs, want 0", n)
	}
}

package fiberauth

import (
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// The seed corpus is in testdata/fuzz/FuzzProxyPath/.

// FuzzProxyPath checks, for any request URI a client sends under /api,
// what Proxy sends to an upstream whose base is http://a.test/acme/v2: the
// host stays a.test, and the path fasthttp writes on the request line (with
// and without its path normalising) stays under /acme/v2/ and has no dot
// segment and no control character by any decoding. Plain paths are not
// refused.
func FuzzProxyPath(f *testing.F) {
	const base, basePath = "http://a.test/acme/v2", "/acme/v2"
	f.Fuzz(func(t *testing.T, original string) {
		path, ok := forwardPath(original, "/api")
		if !ok {
			if plainPath(original) {
				t.Fatalf("forwardPath(%q) refused a plain path", original)
			}
			return
		}
		if !strings.HasPrefix(path, "/") || !strings.HasSuffix(original, path[1:]) {
			t.Fatalf("forwardPath(%q) = %q, not the rest of the request URI", original, path)
		}
		target := base + path
		host, ok := upstreamHost(target)
		if !ok {
			return // Proxy answers 502 and sends nothing
		}
		if host != "a.test" {
			t.Fatalf("forwardPath(%q) = %q moves the upstream to %q", original, path, host)
		}
		for _, normalize := range []bool{false, true} {
			req := fasthttp.AcquireRequest()
			req.SetRequestURI(target)
			req.URI().DisablePathNormalizing = !normalize
			sent := string(req.URI().RequestURI())
			fasthttp.ReleaseRequest(req)
			sentPath, _, _ := strings.Cut(sent, "?")
			if sentPath != basePath && !strings.HasPrefix(sentPath, basePath+"/") {
				t.Fatalf("%q (normalising %v) sends %q, outside %s", original, normalize, sent, basePath)
			}
			if seg, bad := unsafeByAnyDecoding(sentPath); bad {
				t.Fatalf("%q (normalising %v) sends %q, with segment %q once decoded", original, normalize, sent, seg)
			}
		}
	})
}

// plainPath reports whether original is /api/ followed by a path that no
// server decodes or resolves: letters, digits, '-', '_', '~', '/' only
// (an optional query follows).
func plainPath(original string) bool {
	p, _, _ := strings.Cut(original, "?")
	rest, ok := strings.CutPrefix(p, "/api/")
	if !ok {
		return false
	}
	for _, c := range []byte(rest) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-_~/", c) >= 0) {
			return false
		}
	}
	return true
}

// escapes are the escapes a lenient server decodes: %XX and IIS's %uXXXX.
var escapes = regexp.MustCompile(`%([0-9a-fA-F]{2})|%[uU]([0-9a-fA-F]{4})`)

// unsafeByAnyDecoding decodes p again and again until nothing changes and
// reports a segment, in any of those decodings, that is "." or ".." before
// its first ';' with '/' or '\' as separators, or that holds a control
// character. It is written apart from safePath, as a second opinion.
func unsafeByAnyDecoding(p string) (string, bool) {
	for {
		for _, seg := range strings.FieldsFunc(p, func(r rune) bool { return r == '/' || r == '\\' }) {
			name, _, _ := strings.Cut(seg, ";")
			if name == "." || name == ".." || strings.ContainsFunc(seg, func(r rune) bool { return r < ' ' || r == 0x7f }) {
				return seg, true
			}
		}
		d := escapes.ReplaceAllStringFunc(p, func(e string) string {
			v, _ := strconv.ParseUint(strings.TrimLeft(e[1:], "uU"), 16, 32)
			if len(e) == 3 {
				return string([]byte{byte(v)})
			}
			return string(rune(v))
		})
		if d == p {
			return "", false
		}
		p = d
	}
}

package clientauth

import (
	"net/http"
	"strings"
	"testing"
)

func TestNonceFrom(t *testing.T) {
	long := strings.Repeat("n", MaxNonceLen)
	for _, tc := range []struct {
		name   string
		values []string
		want   string
		ok     bool
	}{
		{"none", nil, "", false},
		{"plain", []string{"eyJ7S_zG.eyJH0-Z.HX4w-7v"}, "eyJ7S_zG.eyJH0-Z.HX4w-7v", true},
		{"every NQCHAR", []string{"!#$%&'()*+,-./09:;<=>?@AZ[]^_`az{|}~"}, "!#$%&'()*+,-./09:;<=>?@AZ[]^_`az{|}~", true},
		{"spaces trimmed", []string{" abc\t"}, "abc", true},
		{"same twice", []string{"abc", "abc"}, "abc", true},
		{"disagreeing", []string{"abc", "abd"}, "", false},
		{"empty", []string{""}, "", false},
		{"blank", []string{"  "}, "", false},
		{"inner space", []string{"a b"}, "", false},
		{"quote", []string{`a"b`}, "", false},
		{"backslash", []string{`a\b`}, "", false},
		{"control", []string{"a\x01b"}, "", false},
		{"DEL", []string{"a\x7fb"}, "", false},
		{"non-ASCII", []string{"açb"}, "", false},
		{"longest", []string{long}, long, true},
		{"too long", []string{long + "n"}, "", false},
	} {
		h := http.Header{}
		for _, v := range tc.values {
			h.Add("DPoP-Nonce", v)
		}
		got, ok := NonceFrom(h)
		if got != tc.want || ok != tc.ok {
			t.Errorf("%s: NonceFrom = %q, %v; want %q, %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
}

func TestUseDPoPNonce(t *testing.T) {
	for _, tc := range []struct {
		name   string
		values []string
		want   bool
	}{
		{"none", nil, false},
		{"RFC 9449 §9", []string{`DPoP error="use_dpop_nonce", error_description="Resource server requires nonce in DPoP proof"`}, true},
		{"token value", []string{`DPoP error=use_dpop_nonce`}, true},
		{"case-insensitive names", []string{`dpop ERROR="use_dpop_nonce"`}, true},
		{"escaped", []string{`DPoP error="use\_dpop\_nonce"`}, true},
		{"with algs", []string{`DPoP algs="ES256 EdDSA", error="use_dpop_nonce"`}, true},
		{"spaces around =", []string{`DPoP error = "use_dpop_nonce"`}, true},
		{"second challenge", []string{`Bearer realm="api", error="invalid_token", DPoP algs="ES256", error="use_dpop_nonce"`}, true},
		{"second header", []string{`Bearer realm="api"`, `DPoP error="use_dpop_nonce"`}, true},
		{"after token68", []string{`Negotiate YWJjZA==, DPoP error="use_dpop_nonce"`}, true},
		{"Bearer scheme", []string{`Bearer error="use_dpop_nonce"`}, false},
		{"Bearer after DPoP", []string{`DPoP algs="ES256", Bearer error="use_dpop_nonce"`}, false},
		{"other error", []string{`DPoP error="invalid_token"`}, false},
		{"prefix", []string{`DPoP error="use_dpop_nonce_x"`}, false},
		{"shorter", []string{`DPoP error="use_dpop"`}, false},
		{"unclosed", []string{`DPoP error="use_dpop_nonce`}, false},
		{"quoted in description", []string{`DPoP error_description="error=\"use_dpop_nonce\""`}, false},
		{"other param", []string{`DPoP xerror="use_dpop_nonce"`}, false},
		{"no scheme", []string{`error="use_dpop_nonce"`}, false},
		{"empty", []string{""}, false},
		{"beyond the budget", []string{strings.Repeat(" ", maxChallengeScan), `DPoP error="use_dpop_nonce"`}, false},
	} {
		h := http.Header{}
		for _, v := range tc.values {
			h.Add("WWW-Authenticate", v)
		}
		if got := UseDPoPNonce(h); got != tc.want {
			t.Errorf("%s: UseDPoPNonce(%q) = %v, want %v", tc.name, tc.values, got, tc.want)
		}
	}
}

func TestNonceParsersDoNotAllocate(t *testing.T) {
	h := http.Header{}
	h.Set("DPoP-Nonce", "eyJ7S_zG.eyJH0-Z.HX4w-7v")
	h.Add("WWW-Authenticate", `Bearer realm="api", error="invalid_token"`)
	h.Add("WWW-Authenticate", `DPoP algs="ES256", error="use_dpop_nonce"`)
	if n := testing.AllocsPerRun(100, func() {
		if _, ok := NonceFrom(h); !ok || !UseDPoPNonce(h) {
			panic("no nonce")
		}
	}); n != 0 {
		t.Errorf("%v allocs, want 0", n)
	}
}

// A hostile header costs linear time on a bounded prefix.
func TestUseDPoPNonceHostile(t *testing.T) {
	v := strings.Repeat(`DPoP error="`, 10000)
	h := http.Header{}
	for range 1000 {
		h.Add("WWW-Authenticate", v)
	}
	if UseDPoPNonce(h) {
		t.Fatal("true")
	}
}

func FuzzNonceFrom(f *testing.F) {
	f.Add("eyJ7S_zG.eyJH0-Z.HX4w-7v", "")
	f.Add("a b", "")
	f.Add("abc", "abd")
	f.Fuzz(func(t *testing.T, v1, v2 string) {
		h := http.Header{"Dpop-Nonce": {v1}}
		if v2 != "" {
			h["Dpop-Nonce"] = append(h["Dpop-Nonce"], v2)
		}
		n, ok := NonceFrom(h)
		if !ok {
			if n != "" {
				t.Fatalf("not ok but %q", n)
			}
			return
		}
		if !validNonce(n) || len(n) > MaxNonceLen || !strings.Contains(v1, n) {
			t.Fatalf("accepted %q from %q", n, v1)
		}
		// An accepted nonce fits a proof as is.
		for i := 0; i < len(n); i++ {
			if c := n[i]; c <= ' ' || c >= 0x7f || c == '"' || c == '\\' {
				t.Fatalf("byte %#x in %q", c, n)
			}
		}
	})
}

func FuzzUseDPoPNonce(f *testing.F) {
	f.Add(`DPoP error="use_dpop_nonce", error_description="x"`)
	f.Add(`Bearer error="use_dpop_nonce"`)
	f.Add(`DPoP error_description="\"use_dpop_nonce\"`)
	f.Add(`Negotiate abc==, DPoP error=use_dpop_nonce`)
	f.Fuzz(func(t *testing.T, v string) {
		got := UseDPoPNonce(http.Header{"Www-Authenticate": {v}})
		if got {
			plain := strings.ToLower(strings.ReplaceAll(v, `\`, ""))
			if !strings.Contains(plain, "use_dpop_nonce") || !strings.Contains(plain, "dpop") {
				t.Fatalf("true for %q", v)
			}
		}
		// Header lines are independent: a valid challenge on its own
		// line is always found, whatever garbage precedes it.
		if len(v) <= maxChallengeScan/2 {
			h := http.Header{"Www-Authenticate": {v, `DPoP error="use_dpop_nonce"`}}
			if !UseDPoPNonce(h) {
				t.Fatalf("missed the second line after %q", v)
			}
		}
		// Appending a challenge to a well-formed list finds it, unless the
		// list leaves a quoted-string open.
		if strings.Count(strings.ReplaceAll(v, `\\`, ""), `"`)%2 == 0 && !strings.Contains(v, `\`) && len(v) < 1000 {
			if !hasUseDPoPNonce(v + `, DPoP error="use_dpop_nonce"`) {
				t.Fatalf("missed the appended challenge after %q", v)
			}
		}
	})
}

package httpauth

import (
	"net/http"
	"strings"
	"testing"
)

var challengeCases = []struct {
	in   string
	want bool
}{
	{`Bearer error="invalid_token"`, true},
	{`Bearer realm="example", error="invalid_token", error_description="The access token expired"`, true},
	{`Bearer error=invalid_token`, true},
	{`Bearer ERROR = "INVALID_TOKEN"`, true},
	{`Bearer error="invalid\_token"`, true},
	{`Basic realm="x", Bearer error="invalid_token"`, true},
	{`DPoP algs="ES256", error="invalid_token"`, true},
	{`Bearer`, false},
	{``, false},
	{`Bearer error="insufficient_scope"`, false},
	{`Bearer error="invalid_token_x"`, false},
	{`Bearer error="invalid_toke"`, false},
	{`Bearer error="invalid_token`, false}, // unterminated
	{`Bearer realm="error=\"invalid_token\""`, false},
	{`Bearer error_description="invalid_token"`, false},
	{`Bearer xerror="invalid_token"`, false},
	{`Negotiate aW52YWxpZF90b2tlbg==`, false},
	{`Bearer error=`, false},
	{`"error=invalid_token"`, false},
	{`===,,,  ""\`, false},
}

func TestHasInvalidTokenParam(t *testing.T) {
	for _, tt := range challengeCases {
		if got := hasInvalidTokenParam(tt.in); got != tt.want {
			t.Errorf("hasInvalidTokenParam(%q) = %v; want %v", tt.in, got, tt.want)
		}
	}
}

func TestInvalidTokenChallengeHeader(t *testing.T) {
	h := http.Header{}
	h.Add("WWW-Authenticate", `Basic realm="x"`)
	if invalidTokenChallenge(h) {
		t.Error("Basic challenge matched")
	}
	h.Add("WWW-Authenticate", `Bearer error="invalid_token"`)
	if !invalidTokenChallenge(h) {
		t.Error("second header value not seen")
	}
	if invalidTokenChallenge(nil) {
		t.Error("nil header matched")
	}
}

// FuzzHasInvalidTokenParam checks that the parser of a server's
// WWW-Authenticate header never panics or hangs on any input, never
// allocates, and matches only text that contains the error code.
func FuzzHasInvalidTokenParam(f *testing.F) {
	for _, tt := range challengeCases {
		f.Add(tt.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := hasInvalidTokenParam(s)
		if got && !strings.Contains(strings.ToLower(strings.ReplaceAll(s, `\`, "")), "invalid_token") {
			t.Errorf("matched %q, which does not contain invalid_token", s)
		}
		if got && !strings.Contains(strings.ToLower(s), "error") {
			t.Errorf("matched %q, which has no error parameter", s)
		}
		if hasInvalidTokenParam(s) != got {
			t.Error("not deterministic")
		}
	})
}

func TestHasInvalidTokenParamAllocs(t *testing.T) {
	s := `Bearer realm="example", error="invalid_token", error_description="expired"`
	if n := testing.AllocsPerRun(100, func() { hasInvalidTokenParam(s) }); n != 0 {
		t.Errorf("allocs = %v; want 0", n)
	}
}

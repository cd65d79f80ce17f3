package tokenclient

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"runtime"
	"strings"
	"testing"

	"github.com/tenantauth/tenantauth"
)

// hostileBody is a token endpoint answer built to make error handling
// expensive: duplicate token members whose values occur in the texts, in the
// marker "[REDACTED]", in each other.
type hostileBody struct {
	name   string
	status int
	body   []byte
	opts   ParseOptions
	slack  int // allowed beyond 4 bytes per body byte
}

// jsonObject builds a JSON object from raw members, in order. Duplicates
// are the point.
func jsonObject(members []string) []byte {
	return []byte("{" + strings.Join(members, ",") + "}")
}

// duplicateValues returns members cycling through vals as access_token and
// refresh_token until they take about size bytes.
func duplicateValues(vals []string, size int) []string {
	var out []string
	n := 0
	for i := 0; n < size; i++ {
		key := "access_token"
		if i%2 == 1 {
			key = "refresh_token"
		}
		m := fmt.Sprintf("%q:%q", key, vals[i%len(vals)])
		out = append(out, m)
		n += len(m) + 1
	}
	return out
}

// textMembers returns the five OAuth texts, each s.
func textMembers(s string) []string {
	var out []string
	for _, k := range []string{"error", "error_description", "error_uri", "message", "hint"} {
		out = append(out, fmt.Sprintf("%q:%q", k, s))
	}
	return out
}

func hostileBodies() []hostileBody {
	// Values overlapping each other and the marker. Few distinct values
	// per member: under the limit, so redaction really runs.
	few := []string{"RED", "aa", "a"}
	marker := []string{"E", "RED", "D]"}
	// Many distinct short values: more than a body may carry.
	var many []string
	for c := byte('!'); c <= '~'; c++ {
		if c != '"' && c != '\\' {
			many = append(many, string(c), strings.Repeat(string(c), 3))
		}
	}
	text := func(n int) string { return repeatTo("aaRED E[REDACTED] ", n) }
	secrets := ParseOptions{Secrets: []tenantauth.Secret{"E", "[", "ED", "s3cr!t"}}

	var out []hostileBody
	add := func(name string, status int, body []byte, opts ParseOptions) {
		if len(body) > MaxBodySize {
			panic(fmt.Sprintf("%s: %d bytes", name, len(body)))
		}
		out = append(out, hostileBody{name, status, body, opts, 64 << 10})
	}
	// The review's case: ~50 KB, texts of a few KB full of the values.
	add("50KB duplicates", 400, jsonObject(append(textMembers(text(4000)), duplicateValues(few, 30000)...)), secrets)
	add("50KB many distinct values", 400, jsonObject(append(textMembers(text(4000)), duplicateValues(many, 30000)...)), secrets)
	add("1MiB duplicates", 400, jsonObject(append(textMembers(text(40000)), duplicateValues(few, 800000)...)), secrets)
	add("1MiB marker letters", 400, jsonObject(append(textMembers(text(40000)), duplicateValues(marker, 800000)...)), secrets)
	add("1MiB one long text", 400, jsonObject(append([]string{fmt.Sprintf("%q:%q", "error_description", text(900000))},
		duplicateValues(few, 100000)...)), secrets)
	add("1MiB many distinct values", 400, jsonObject(append(textMembers(text(40000)), duplicateValues(many, 800000)...)), secrets)
	// A value that is almost the whole text, compared at every position.
	add("1MiB long periodic value", 400, jsonObject([]string{
		fmt.Sprintf("%q:%q", "error_description", strings.Repeat("a", 600000)),
		fmt.Sprintf("%q:%q", "access_token", strings.Repeat("a", 200000)+"b"),
		fmt.Sprintf("%q:%q", "refresh_token", strings.Repeat("a", 200000)+"c"),
	}), secrets)
	// Many duplicate escaped texts: each decoded on its own.
	esc := make([]string, 0, 80000)
	for n := 0; n < 1000000; n += 32 {
		esc = append(esc, `"error_description":"\n\u00e9"`)
	}
	add("1MiB escaped duplicates", 400, jsonObject(esc), secrets)
	// Not JSON: the excerpt path, with the request's secrets echoed.
	add("1MiB html echo", 502, []byte(repeatTo("<p>s3cr!t E [ ED s3cr%21t</p>\n", 1000000)), secrets)
	// An error inside a 200 body.
	// Members the decoder must look up case-insensitively, and nesting.
	add("1MiB folded keys", 400, []byte(`{"error":"x"`+
		repeatTo(`,"Error_Description":"E","ACCESS_TOKEN":"E","zz":1`, 900000)+`}`), secrets)
	// encoding/json keeps a stack of at most 10000 levels (it refuses
	// deeper documents): a fixed cost, whatever the body size.
	add("nesting", 400, []byte(`{"error":"x","error_description":"E E E","x":`+
		strings.Repeat("[", 9999)+strings.Repeat("]", 9999)+`}`), secrets)
	out[len(out)-1].slack = 512 << 10
	add("1MiB duplicates in a 200", 200, jsonObject(append(textMembers(text(40000)), duplicateValues(few, 800000)...)), secrets)
	return out
}

// repeatTo repeats s up to n bytes.
func repeatTo(s string, n int) string {
	return strings.Repeat(s, n/len(s)+1)[:n]
}

// allocated returns the bytes f allocates, averaged over runs.
func allocated(runs int, f func()) uint64 {
	f() // warm up pools and lazily built tables
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := 0; i < runs; i++ {
		f()
	}
	runtime.ReadMemStats(&after)
	return (after.TotalAlloc - before.TotalAlloc) / uint64(runs)
}

// TestParseHostileBodyMemory: whatever an error body holds, Parse allocates
// at most a small multiple of its size. The old redaction (every duplicate
// value, over the whole text, each replacement rescanned by the next)
// allocated hundreds of megabytes for 50 KB.
func TestParseHostileBodyMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates megabytes")
	}
	for _, hb := range hostileBodies() {
		t.Run(hb.name, func(t *testing.T) {
			var err error
			got := allocated(3, func() {
				_, err = Parse(testEndpoint, hb.status, nil, hb.body, testNow, hb.opts)
			})
			limit := uint64(4*len(hb.body) + hb.slack)
			t.Logf("body %d bytes: %d bytes allocated per Parse (%.1f× body; limit %d)",
				len(hb.body), got, float64(got)/float64(len(hb.body)), limit)
			if got > limit {
				t.Errorf("Parse allocated %d bytes for a %d-byte body; want ≤ %d", got, len(hb.body), limit)
			}
			var te *tenantauth.TokenError
			if !errors.As(err, &te) {
				t.Fatalf("err = %v, want a TokenError", err)
			}
			checkBoundedTokenError(t, te, hb.opts)
		})
	}
}

// checkBoundedTokenError checks the size bounds of a TokenError and that no
// secret of opts (≥ 4 bytes) is in its server texts (a registered Code is
// the library's word, and may equal a secret that is one). Its renderings
// hold no server text at all (tokenerror_test.go in the root package), and
// TestErrorTextIndependentOfSecrets shows they do not depend on secrets.
func checkBoundedTokenError(t *testing.T, te *tenantauth.TokenError, opts ParseOptions) {
	t.Helper()
	for name, s := range map[string]string{"Code": te.Code, "Description": te.Description, "URI": te.URI,
		"Message": te.Message, "Hint": te.Hint} {
		if len(s) > maxTextField {
			t.Errorf("%s has %d bytes, want ≤ %d", name, len(s), maxTextField)
		}
	}
	if len(te.Body) > MaxExcerpt {
		t.Errorf("Body has %d bytes, want ≤ %d", len(te.Body), MaxExcerpt)
	}
	texts := []string{te.Description, te.URI, te.Message, te.Hint, te.Body}
	if !te.RegisteredCode() {
		texts = append(texts, te.Code)
	}
	texts = withoutMarkers(texts)
	for _, s := range opts.Secrets {
		if v := s.Reveal(); len(v) >= 4 && containsAny(texts, v) {
			t.Errorf("server texts %q contain the secret %q", texts, v)
		}
	}
}

// withoutMarkers returns texts with the library's markers replaced by NUL:
// a secret may be a piece of "[REDACTED]" without having leaked.
func withoutMarkers(texts []string) []string {
	out := make([]string, len(texts))
	for i, s := range texts {
		s = strings.ReplaceAll(s, redactedText, "\x00")
		out[i] = strings.ReplaceAll(s, withheldText, "\x00")
	}
	return out
}

// parseError parses an error answer and returns its TokenError.
func parseError(t *testing.T, status int, body string, opts ParseOptions) *tenantauth.TokenError {
	t.Helper()
	_, err := Parse(testEndpoint, status, nil, []byte(body), testNow, opts)
	var te *tenantauth.TokenError
	if !errors.As(err, &te) {
		t.Fatalf("Parse(%.80q) = %v, want a TokenError", body, err)
	}
	checkBoundedTokenError(t, te, opts)
	return te
}

// descBody is an error body with description d and the given extra members.
func descBody(d string, members ...string) string {
	return string(jsonObject(append([]string{`"error":"invalid_request"`, fmt.Sprintf("%q:%q", "error_description", d)}, members...)))
}

// leaksPrefix reports whether s holds a prefix of secret at least 4 bytes
// long.
func leaksPrefix(s, secret string) bool {
	for n := 4; n <= len(secret); n++ {
		if strings.Contains(s, secret[:n]) {
			return true
		}
	}
	return false
}

// cutMarker reports whether s ends in a piece of redactedText that is not
// all of it ("…[REDAC").
func cutMarker(s string) bool {
	for n := 2; n < len(redactedText); n++ {
		if strings.HasSuffix(s, redactedText[:n]) {
			return true
		}
	}
	return false
}

// TestParseRedactionAtTheCut: a secret straddling the 1 KiB cut leaves no
// prefix of itself, and the cut never splits a marker. The old code, which
// redacted the whole text and then cut it, left "…xxxx[RED" (so this test
// fails on it); a naive cut-then-redact at maxTextField+longest-1 leaks the
// prefix of a long secret once earlier redactions shrink the text (case
// "shrinking").
func TestParseRedactionAtTheCut(t *testing.T) {
	const secret = "supersecretvalue"
	long := "S" + repeatTo("0123456789abcdefghijklmnopqrstuvwxyz", 99) // 100 bytes
	tests := []struct {
		name, body, secret string
		opts               ParseOptions
		want               string // Description, when not ""
	}{
		{name: "request secret", secret: secret,
			body: descBody(strings.Repeat("x", 1020) + secret + " tail"),
			opts: ParseOptions{Secrets: []tenantauth.Secret{secret}}},
		{name: "body token", secret: secret,
			body: descBody(strings.Repeat("x", 1020)+secret+" tail", fmt.Sprintf("%q:%q", "access_token", secret))},
		{name: "query-escaped", secret: "super/secret+value",
			body: descBody(strings.Repeat("x", 1018) + "super%2Fsecret%2Bvalue tail"),
			opts: ParseOptions{Secrets: []tenantauth.Secret{"super/secret+value"}}},
		{name: "shrinking", secret: long,
			body: descBody(strings.Repeat(long, 12)+" tail", fmt.Sprintf("%q:%q", "refresh_token", long)),
			want: "[REDACTED] tail"},
		{name: "at the scan window", secret: long,
			body: descBody(strings.Repeat(long, 40)+strings.Repeat("y", 90)+long+" tail", fmt.Sprintf("%q:%q", "access_token", long)),
			want: "[REDACTED]" + strings.Repeat("y", 90) + "[REDACTED]"},
		{name: "marker does not fit", secret: secret,
			body: descBody(strings.Repeat("x", 1020)+secret, fmt.Sprintf("%q:%q", "access_token", secret)),
			want: strings.Repeat("x", 1020)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			te := parseError(t, 400, tt.body, tt.opts)
			if leaksPrefix(te.Description, tt.secret) {
				t.Errorf("Description %q leaks a prefix of %q", te.Description, tt.secret)
			}
			if cutMarker(te.Description) {
				t.Errorf("Description ends in a cut marker: …%q", te.Description[max(0, len(te.Description)-20):])
			}
			if tt.want != "" && te.Description != tt.want {
				t.Errorf("Description = %q, want %q", te.Description, tt.want)
			}
		})
	}
	// The excerpt of a non-JSON body: same rules.
	body := strings.Repeat(long, 40) + strings.Repeat("\n", 90) + long + " tail"
	_, err := Parse(testEndpoint, 502, nil, []byte(body), testNow, ParseOptions{Secrets: []tenantauth.Secret{tenantauth.Secret(long)}})
	var te *tenantauth.TokenError
	if !errors.As(err, &te) || te.Body != "[REDACTED] [REDACTED]" {
		t.Errorf("excerpt: %v, want Body %q", err, "[REDACTED] [REDACTED]")
	}
	body = strings.Repeat("x", 195) + secret
	_, err = Parse(testEndpoint, 502, nil, []byte(body), testNow, ParseOptions{Secrets: []tenantauth.Secret{secret}})
	if !errors.As(err, &te) || te.Body != strings.Repeat("x", 195) {
		t.Errorf("excerpt at the cut: %v, want Body of 195 x", err)
	}
}

// TestParseRedactionNoRescan: a marker is never matched again, by a secret
// that is a piece of it or by another one. The old code replaced needle after
// needle, each over the previous one's output ("[REDACTED]" → "[R[REDACTED]…").
func TestParseRedactionNoRescan(t *testing.T) {
	opts := ParseOptions{Secrets: []tenantauth.Secret{"RED", "[", "E", "ACT", "D]"}}
	tests := []struct{ name, body, want string }{
		{"request secrets", descBody("a RED b [ c E d ACT e D] f"),
			"a [REDACTED] b [REDACTED] c [REDACTED] d [REDACTED] e [REDACTED] f"},
		{"body tokens", descBody("a RED b [ c E d",
			`"access_token":"RED"`, `"access_token":"["`, `"refresh_token":"E"`, `"refresh_token":"RED"`),
			"a [REDACTED] b [REDACTED] c [REDACTED] d"},
		// The server's own text holds the marker: one pass hides its
		// pieces once (adjacent ones merge), and stops.
		{"marker in the text", descBody("[REDACTED]"), "[REDACTED]"},
		{"marker in the text, one secret", descBody("x[REDACTED]y"), "x[REDACTED]y"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			te := parseError(t, 400, tt.body, opts)
			if te.Description != tt.want {
				t.Errorf("Description = %q, want %q", te.Description, tt.want)
			}
		})
	}
	// One secret inside the marker: hidden once, the rest kept.
	te := parseError(t, 400, descBody("[REDACTED]"), ParseOptions{Secrets: []tenantauth.Secret{"DACT"}})
	if want := "[RE[REDACTED]ED]"; te.Description != want {
		t.Errorf("Description = %q, want %q", te.Description, want)
	}
}

// TestParseRedactionOverlap: every byte of every occurrence is hidden, when
// secrets overlap or follow each other. The old code hid "abcd" and then
// could no longer see "cdef" ("[REDACTED]ef").
func TestParseRedactionOverlap(t *testing.T) {
	opts := ParseOptions{Secrets: []tenantauth.Secret{"abcd", "cdef"}}
	for body, want := range map[string]string{
		descBody("x abcdef y"):                     "x [REDACTED] y",
		descBody("x cdefabcd y"):                   "x [REDACTED] y",
		descBody("x abcdabcd abcd y"):              "x [REDACTED] [REDACTED] y",
		descBody("x ababcdcdef y"):                 "x ab[REDACTED] y",
		descBody("é abcd é", `"access_token":"é"`): "[REDACTED] [REDACTED] [REDACTED]",
	} {
		if te := parseError(t, 400, body, opts); te.Description != want {
			t.Errorf("%s: Description = %q, want %q", body, te.Description, want)
		}
	}
}

// TestParseRedactionLongSecret: a long token (a JWT) is hidden whole, the
// words after it kept; 64 bytes of it are enough to hide it.
func TestParseRedactionLongSecret(t *testing.T) {
	jwt := "eyJhbGciOiJSUzI1NiJ9." + repeatTo("eyJzdWIiOiIxMjM0NTY3ODkwIn0", 1400) + ".c2ln"
	tests := []struct{ name, desc, want string }{
		{"whole", "token " + jwt + " is expired", "token [REDACTED] is expired"},
		{"twice", jwt + jwt + " x", "[REDACTED] x"},
		{"first 64 bytes", "token " + jwt[:64] + " is", "token [REDACTED]"},
		{"first 63 bytes", "token " + jwt[:63] + " is", "token " + jwt[:63] + " is"},
		{"json-escaped", "t " + strings.ReplaceAll(jwt, ".", "\\u003c") + " x", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			te := parseError(t, 400, descBody(tt.desc, fmt.Sprintf("%q:%q", "access_token", jwt)), ParseOptions{})
			if tt.want != "" && te.Description != tt.want {
				t.Errorf("Description = %.200q, want %.200q", te.Description, tt.want)
			}
		})
	}
	// Escaped spellings of a long secret, hidden by their length. (Not a
	// periodic one: there every 64-byte window is the secret's start, and
	// more than its length is hidden.)
	var pw string
	for i := 0; len(pw) < 300; i++ {
		pw += fmt.Sprintf(`p<a"s/%d w+o&r\d `, i)
	}
	opts := ParseOptions{Secrets: []tenantauth.Secret{tenantauth.Secret(pw)}}
	q := url.QueryEscape(pw)
	j, _ := json.Marshal(pw)
	for _, echo := range []string{pw, q, string(j[1 : len(j)-1])} {
		te := parseError(t, 400, descBody("a "+echo+" b"), opts)
		if te.Description != "a [REDACTED] b" {
			t.Errorf("echo %.40q…: Description = %.200q", echo, te.Description)
		}
	}
}

// TestParseWithheldTexts: a body with more distinct token values than Parse
// remembers gets its texts withheld, not partly redacted; a registered
// error code is kept. Duplicates of one value are not distinct.
func TestParseWithheldTexts(t *testing.T) {
	var vals []string
	for i := 0; i < maxSeen+1; i++ {
		vals = append(vals, fmt.Sprintf(`"access_token":"tok-%d-secret"`, i))
	}
	desc := "tok-0-secret tok-1-secret tok-2-secret tok-3-secret tok-4-secret"
	te := parseError(t, 401, descBody(desc, vals...), ParseOptions{})
	want := tenantauth.TokenError{Endpoint: testEndpoint, StatusCode: 401, Code: "invalid_request", Description: withheldText}
	if *te != want {
		t.Errorf("TokenError = %#v, want %#v", *te, want)
	}
	te = parseError(t, 400, string(jsonObject(append(vals, `"error":"invalid_grant"`, `"message":"m"`, `"hint":""`))), ParseOptions{})
	if te.Code != "invalid_grant" || te.Message != withheldText || te.Hint != "" || !te.InvalidCredentials() {
		t.Errorf("TokenError = %#v: want the code kept, the message withheld", *te)
	}
	te = parseError(t, 400, string(jsonObject(append(vals, `"error":"tok-4-secret"`))), ParseOptions{})
	if te.Code != withheldText {
		t.Errorf("Code = %q, want %q", te.Code, withheldText)
	}
	// refresh_token counts on its own.
	rvals := strings.ReplaceAll(strings.Join(vals, ","), "access_token", "refresh_token")
	te = parseError(t, 400, `{"error":"x",`+rvals+`}`, ParseOptions{})
	if te.Code != withheldText {
		t.Errorf("Code = %q, want %q", te.Code, withheldText)
	}
	// maxSeen distinct values, each many times: redacted as usual.
	var dup []string
	for i := 0; i < 1000; i++ {
		dup = append(dup, vals[i%maxSeen])
	}
	te = parseError(t, 400, descBody(desc, dup...), ParseOptions{})
	if want := strings.Repeat("[REDACTED] ", maxSeen) + "tok-4-secret"; te.Description != want {
		t.Errorf("Description = %q, want %q", te.Description, want)
	}
}

// TestEscapedLen: the counted lengths of the escaped spellings are those of
// url.QueryEscape and json.Marshal.
func TestEscapedLen(t *testing.T) {
	check := func(s string) {
		t.Helper()
		if got, want := queryEscapedLen(s), len(url.QueryEscape(s)); got != want {
			t.Errorf("queryEscapedLen(%q) = %d, want %d", s, got, want)
		}
		j, _ := json.Marshal(s)
		if got, want := jsonEscapedLen(s), len(j)-2; got != want {
			t.Errorf("jsonEscapedLen(%q) = %d, want %d", s, got, want)
		}
	}
	for a := 0; a < 256; a++ {
		for b := 0; b < 256; b += 7 {
			check(string([]byte{byte(a), byte(b)}))
		}
	}
	for _, s := range []string{"", "é", "\u2028\u2029", "\uFFFD", "\U0001F600", "\xed\xa0\x80", "\xf4\x90\x80\x80",
		"a\x80b", "\xe2\x82", "<script>&amp;</script>", "p@ss w0rd+/=?#%"} {
		check(s)
	}
}

// TestUnquoteJSON: the decoder of JSON strings agrees with encoding/json.
func TestUnquoteJSON(t *testing.T) {
	for _, lit := range []string{`""`, `"a"`, `"\u00e9\n\t\"\\\/\b\f\r"`, `"\ud83d\ude00"`, `"\ud83d"`, `"\ud83dx"`,
		`"\ud83d\u0041"`, `"\ude00\ud83d"`, `"\uD83D\uDE00"`, "\"\xff\xfe\"", "\"\xed\xa0\x80\"", `"\x"`, `"\u12"`, `"a`,
		`"a"b"`, "\"\x01\"", `"\uzzzz"`, `"é€😀"`} {
		checkUnquote(t, []byte(lit))
	}
}

func checkUnquote(t *testing.T, b []byte) {
	t.Helper()
	got, ok := unquoteJSON(b)
	var want string
	err := json.Unmarshal(b, &want)
	// UnmarshalJSON gets the literal alone, without white space around it.
	literal := len(b) >= 2 && b[0] == '"' && b[len(b)-1] == '"'
	if wantOK := err == nil && literal; ok != wantOK || ok && got != want {
		t.Errorf("unquoteJSON(%q) = %q, %v; json.Unmarshal gives %q, %v", b, got, ok, want, err)
	}
}

// FuzzUnquoteJSON: unquoteJSON agrees with encoding/json on any input.
func FuzzUnquoteJSON(f *testing.F) {
	f.Add([]byte(`"\ud83d\ude00 \u00e9 \n"`))
	f.Add([]byte("\"\xff\\u12\""))
	f.Fuzz(func(t *testing.T, b []byte) {
		checkUnquote(t, b)
	})
}

package tenantauthtest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"
)

func FuzzPassportBody(f *testing.F) {
	f.Add("application/json", []byte(`{"grant_type":"password","client_id":3,"client_secret":"s","username":"a@b.com","password":"p"}`))
	f.Add("application/json", []byte(`{"client_id":{"a":1},"x":null,"y":true,"z":[1]}`))
	f.Add("application/vnd.api+json", []byte(`{"a":"b"} trailing`))
	f.Add("application/x-www-form-urlencoded", []byte("a=1&a=2&b[]=3&b=4&%zz=5"))
	f.Add("text/plain", []byte(`{"a":"b"}`))
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		req := parsePassportBody(contentType, body)
		for k := range req.values {
			if req.bad[k] {
				t.Fatalf("parameter %q both valid and refused", k)
			}
		}
		if !isJSON(contentType) && !isForm(contentType) && (len(req.values) > 0 || len(req.bad) > 0) {
			t.Fatalf("parameters from a %q body", contentType)
		}
		// A JSON object of strings comes through unchanged.
		if isJSON(contentType) {
			var m map[string]string
			if json.Unmarshal(body, &m) == nil && len(req.bad) == 0 {
				for k, v := range m {
					if req.values[k] != v {
						t.Fatalf("%q = %q, want %q", k, req.values[k], v)
					}
				}
			}
		}
	})
}

func FuzzKeycloakBody(f *testing.F) {
	f.Add("application/x-www-form-urlencoded", []byte("grant_type=password&username=a%40b.com&password=p+q"))
	f.Add("application/x-www-form-urlencoded; charset=UTF-8", []byte("scope=a&scope=b"))
	f.Add("application/x-www-form-urlencoded", []byte("a=%zz;b=1&&="))
	f.Add("application/json", []byte(`{"grant_type":"password"}`))
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		req := parseKeycloakBody(contentType, body)
		if !isForm(contentType) {
			if len(req.values) > 0 || req.dup {
				t.Fatalf("parameters from a %q body", contentType)
			}
			return
		}
		q, _ := url.ParseQuery(string(body))
		dup := false
		for k, vs := range q {
			if len(vs) > 1 {
				dup = true
			}
			if len(vs) > 0 && req.values[k] != vs[0] {
				t.Fatalf("%q = %q, want the first value %q", k, req.values[k], vs[0])
			}
		}
		if dup != req.dup {
			t.Fatalf("dup = %v, want %v", req.dup, dup)
		}
	})
}

func FuzzAuthorization(f *testing.F) {
	f.Add("Bearer abc.def", "user", "pass")
	f.Add("bearer    x  ", "a%3Ab", "c:d")
	f.Add("Basic dXNlcjpwYXNz", "", "")
	f.Add("basic !!!", "é", "\x00")
	f.Fuzz(func(t *testing.T, header, user, pass string) {
		if tok, ok := bearerToken(header); ok {
			if tok == "" || tok != strings.TrimSpace(tok) || !strings.Contains(header, tok) {
				t.Fatalf("bearerToken(%q) = %q", header, tok)
			}
		}
		for _, urlDecode := range []bool{false, true} {
			for _, ci := range []bool{false, true} {
				parseBasic(header, urlDecode, ci) // must not panic
			}
		}
		// Round trip: league's form (no escaping) and Keycloak's (RFC 6749
		// §2.3.1 form-encoding).
		if !strings.Contains(user, ":") {
			h := "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
			if u, p, ok := parseBasic(h, false, false); !ok || u != user || p != pass {
				t.Fatalf("league round trip of %q:%q = %q:%q, %v", user, pass, u, p, ok)
			}
		}
		h := "bAsIc " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(user)+":"+url.QueryEscape(pass)))
		if u, p, ok := parseBasic(h, true, true); !ok || u != user || p != pass {
			t.Fatalf("Keycloak round trip of %q:%q = %q:%q, %v", user, pass, u, p, ok)
		}
	})
}

// FuzzTokenEndpoint sends arbitrary requests through every dialect: no
// panic, a status from the known set, a JSON or empty body, and never the
// client secret or password.
func FuzzTokenEndpoint(f *testing.F) {
	const secret, password = "fuzz-client-secret", "fuzz-user-password"
	cfg := Config{
		Clients:       map[string]string{"c": secret},
		Users:         map[string]string{"u": password},
		RefreshTokens: true,
		RequireParams: map[string]string{"audience": "https://api.example"},
	}
	servers := []*Server{NewKeycloak(cfg), NewPassport(cfg), NewStandard(cfg)}
	f.Cleanup(func() {
		for _, s := range servers {
			s.Close()
		}
	})
	f.Add(uint8(0), "POST", "application/x-www-form-urlencoded", "", []byte("grant_type=password&client_id=c&client_secret="+secret+"&username=u&password="+password))
	f.Add(uint8(1), "POST", "application/json", "", []byte(`{"grant_type":"password","client_id":"c","client_secret":"`+secret+`","username":"u","password":"`+password+`"}`))
	f.Add(uint8(1), "POST", "application/json", "Basic YzpmdXp6LWNsaWVudC1zZWNyZXQ=", []byte(`{"grant_type":"client_credentials"}`))
	f.Add(uint8(0), "POST", "application/x-www-form-urlencoded", "Bearer x", []byte("grant_type=refresh_token&refresh_token=x"))
	f.Add(uint8(0), "GET", "", "", []byte(nil))
	f.Add(uint8(1), "PATCH", "application/json", "", []byte(`[1,2]`))
	f.Add(uint8(2), "POST", "application/x-www-form-urlencoded", "Basic YzpmdXp6LWNsaWVudC1zZWNyZXQ=",
		[]byte("grant_type=password&username=u&password="+password+"&audience=https%3A%2F%2Fapi.example"))
	f.Add(uint8(2), "POST", "application/x-www-form-urlencoded", "", []byte("grant_type=client_credentials&client_id=c&client_secret="+secret))
	allowed := map[int]bool{200: true, 400: true, 401: true, 405: true, 413: true}
	f.Fuzz(func(t *testing.T, which uint8, method, contentType, auth string, body []byte) {
		if !validMethod(method) {
			return
		}
		srv := servers[int(which)%len(servers)]
		r := httptest.NewRequest(method, srv.TokenURL(), bytes.NewReader(body))
		r.Header.Set("Content-Type", contentType)
		if auth != "" {
			r.Header.Set("Authorization", auth)
		}
		w := httptest.NewRecorder()
		srv.serveHTTP(w, r)
		if !allowed[w.Code] {
			t.Fatalf("status %d", w.Code)
		}
		out := w.Body.String()
		if out != "" && !json.Valid([]byte(out)) {
			t.Fatalf("body is not JSON: %q", out)
		}
		if w.Code == http.StatusOK && method == http.MethodPost && !strings.Contains(out, `"access_token"`) {
			t.Fatalf("200 without a token: %q", out)
		}
		if strings.Contains(out, secret) || strings.Contains(out, password) {
			t.Fatalf("a secret leaked: %q", out)
		}
	})
}

// validMethod reports whether httptest.NewRequest accepts m (it panics on
// an invalid method, which is not the server's business).
func validMethod(m string) bool {
	if m == "" || !utf8.ValidString(m) {
		return false
	}
	for _, c := range m {
		if !strings.ContainsRune("!#$%&'*+-.^_`|~", c) && !('0' <= c && c <= '9') && !('a' <= c && c <= 'z') && !('A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}

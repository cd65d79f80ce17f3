package tokenclient

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/tenantauth/tenantauth"
)

func TestCheckRequest(t *testing.T) {
	full := tenantauth.Credentials{ClientID: "id", ClientSecret: "cs", Username: "u@example.com", Password: "pw"}
	machine := tenantauth.Credentials{ClientID: "id", ClientSecret: "cs"}
	tests := []struct {
		name    string
		req     tenantauth.TokenRequest
		grant   tenantauth.Grant
		wantErr error
		missing string
	}{
		{"password explicit", tenantauth.TokenRequest{Grant: tenantauth.GrantPassword, Credentials: full}, tenantauth.GrantPassword, nil, ""},
		{"password from credentials", tenantauth.TokenRequest{Credentials: full}, tenantauth.GrantPassword, nil, ""},
		{"client credentials from credentials", tenantauth.TokenRequest{Credentials: machine}, tenantauth.GrantClientCredentials, nil, ""},
		{"refresh", tenantauth.TokenRequest{Grant: tenantauth.GrantRefreshToken, Credentials: full, RefreshToken: "rt"}, tenantauth.GrantRefreshToken, nil, ""},
		{"public client password", tenantauth.TokenRequest{Credentials: tenantauth.Credentials{ClientID: "id", Username: "u", Password: "p"}}, tenantauth.GrantPassword, nil, ""},
		{"password without username", tenantauth.TokenRequest{Grant: tenantauth.GrantPassword, Credentials: machine}, "", ErrIncompleteCredentials, "Username"},
		{"password without password", tenantauth.TokenRequest{Credentials: tenantauth.Credentials{ClientID: "id", Username: "u"}}, "", ErrIncompleteCredentials, "Password"},
		{"no client id", tenantauth.TokenRequest{Credentials: tenantauth.Credentials{ClientSecret: "cs"}}, "", ErrIncompleteCredentials, "ClientID"},
		{"client credentials without secret", tenantauth.TokenRequest{Credentials: tenantauth.Credentials{ClientID: "id"}}, "", ErrIncompleteCredentials, "ClientSecret"},
		{"refresh without token", tenantauth.TokenRequest{Grant: tenantauth.GrantRefreshToken, Credentials: full}, "", ErrIncompleteCredentials, "RefreshToken"},
		{"unknown grant", tenantauth.TokenRequest{Grant: "urn:ietf:params:oauth:grant-type:device_code", Credentials: full}, "", ErrUnsupportedGrant, "device_code"},
		{"authorization code", tenantauth.TokenRequest{Grant: "authorization_code", Credentials: full}, "", ErrUnsupportedGrant, "authorization_code"},
		{"endpoint params", tenantauth.TokenRequest{Credentials: withParams(machine, url.Values{"audience": {"api"}, "resource": {"a", "b"}})},
			tenantauth.GrantClientCredentials, nil, ""},
		{"reserved endpoint param", tenantauth.TokenRequest{Credentials: withParams(machine, url.Values{"audience": {"api"}, "client_secret": {"cs"}})},
			"", ErrIncompleteCredentials, `"client_secret"`},
		{"reserved endpoint params, first sorted", tenantauth.TokenRequest{Credentials: withParams(full, url.Values{"username": {"x"}, "grant_type": {"x"}, "scope": nil})},
			"", ErrIncompleteCredentials, `"grant_type"`},
		{"empty endpoint param name", tenantauth.TokenRequest{Credentials: withParams(machine, url.Values{"": {"x"}})},
			"", ErrIncompleteCredentials, `""`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, err := CheckRequest("prov", tt.req)
			if tt.wantErr == nil {
				if err != nil || g != tt.grant {
					t.Fatalf("CheckRequest = %q, %v; want %q", g, err, tt.grant)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("CheckRequest = %q, %v; want %v", g, err, tt.wantErr)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "prov: ") || !strings.Contains(msg, tt.missing) {
				t.Errorf("message %q: want prefix prov: and %q", msg, tt.missing)
			}
			if strings.Contains(msg, "cs") || strings.Contains(msg, "pw") {
				t.Errorf("message %q contains a secret", msg)
			}
		})
	}
}

func TestRequestSecrets(t *testing.T) {
	got := RequestSecrets(tenantauth.TokenRequest{
		Credentials:  tenantauth.Credentials{ClientSecret: "cs", Password: ""},
		RefreshToken: "rt",
	})
	var revealed []string
	for _, s := range got {
		revealed = append(revealed, s.Reveal())
	}
	if strings.Join(revealed, ",") != "cs,rt" {
		t.Errorf("RequestSecrets = %q, want [cs rt]", revealed)
	}
}

func withParams(c tenantauth.Credentials, p url.Values) tenantauth.Credentials {
	c.EndpointParams = p
	return c
}

// Secrets of the NewRequest tests: the characters a form, a Basic header
// and JSON each must escape.
const (
	reqSecret   = `s%e:c+r&e t=ç"\`
	reqPassword = `pw "hunter2"/<&>`
	reqRefresh  = "rt-5a7f19"
)

var reqSecrets = []string{reqSecret, reqPassword, reqRefresh, url.QueryEscape(reqSecret), url.QueryEscape(reqPassword)}

// builtRequest is what NewRequest produced, as a server sees it.
type builtRequest struct {
	method, url, contentType, accept, authorization, body string
}

func build(t *testing.T, req tenantauth.TokenRequest, auth AuthMethod, enc Encoding) builtRequest {
	t.Helper()
	hr, err := NewRequest(context.Background(), "https://idp.example.com/token", req, auth, enc)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(hr.Body)
	if err != nil {
		t.Fatal(err)
	}
	if hr.ContentLength != int64(len(b)) || hr.GetBody == nil {
		t.Errorf("ContentLength %d for %d bytes, GetBody %v: want a replayable body of known length", hr.ContentLength, len(b), hr.GetBody != nil)
	}
	return builtRequest{hr.Method, hr.URL.String(), hr.Header.Get("Content-Type"), hr.Header.Get("Accept"),
		hr.Header.Get("Authorization"), string(b)}
}

func TestNewRequest(t *testing.T) {
	pw := tenantauth.Credentials{ClientID: "my client:1/ç", ClientSecret: reqSecret, Username: "ana@example.com", Password: reqPassword}
	m2m := tenantauth.Credentials{ClientID: "m2m", ClientSecret: reqSecret, Scopes: []string{"read", "write"}}
	pub := tenantauth.Credentials{ClientID: "pub", Username: "u", Password: "p"}
	params := url.Values{"resource": {"https://a.example/", "https://b.example/"}, "audience": {"api<1>"}, "empty": {}}
	// RFC 6749 §2.3.1: id and secret form-urlencoded, then base64.
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("my+client%3A1%2F%C3%A7:s%25e%3Ac%2Br%26e+t%3D%C3%A7%22%5C"))
	const (
		form = "application/x-www-form-urlencoded"
		js   = "application/json"
	)
	tests := []struct {
		name string
		req  tenantauth.TokenRequest
		auth AuthMethod
		enc  Encoding
		want builtRequest // method, url and accept filled in
	}{
		{"post form password", tenantauth.TokenRequest{Credentials: pw}, ClientSecretPost, Form, builtRequest{contentType: form,
			body: "client_id=my+client%3A1%2F%C3%A7&client_secret=s%25e%3Ac%2Br%26e+t%3D%C3%A7%22%5C&grant_type=password" +
				"&password=pw+%22hunter2%22%2F%3C%26%3E&username=ana%40example.com"}},
		{"zero auth is post", tenantauth.TokenRequest{Credentials: m2m}, "", Form, builtRequest{contentType: form,
			body: "client_id=m2m&client_secret=s%25e%3Ac%2Br%26e+t%3D%C3%A7%22%5C&grant_type=client_credentials&scope=read+write"}},
		{"post json password", tenantauth.TokenRequest{Credentials: pw}, ClientSecretPost, JSON, builtRequest{contentType: js,
			body: `{"grant_type":"password","client_id":"my client:1/ç","client_secret":"s%e:c+r&e t=ç\"\\",` +
				`"username":"ana@example.com","password":"pw \"hunter2\"/<&>"}`}},
		{"post json refresh", tenantauth.TokenRequest{Grant: tenantauth.GrantRefreshToken, Credentials: m2m, RefreshToken: reqRefresh},
			ClientSecretPost, JSON, builtRequest{contentType: js,
				body: `{"grant_type":"refresh_token","refresh_token":"rt-5a7f19","client_id":"m2m","client_secret":"s%e:c+r&e t=ç\"\\","scope":"read write"}`}},
		{"basic form password", tenantauth.TokenRequest{Credentials: pw}, ClientSecretBasic, Form, builtRequest{contentType: form,
			authorization: basic, body: "grant_type=password&password=pw+%22hunter2%22%2F%3C%26%3E&username=ana%40example.com"}},
		{"basic json refresh", tenantauth.TokenRequest{Grant: tenantauth.GrantRefreshToken, Credentials: pw, RefreshToken: reqRefresh},
			ClientSecretBasic, JSON, builtRequest{contentType: js, authorization: basic,
				body: `{"grant_type":"refresh_token","refresh_token":"rt-5a7f19"}`}},
		{"basic public client", tenantauth.TokenRequest{Credentials: pub}, ClientSecretBasic, Form, builtRequest{contentType: form,
			body: "client_id=pub&grant_type=password&password=p&username=u"}},
		{"none sends no secret", tenantauth.TokenRequest{Credentials: pw}, None, Form, builtRequest{contentType: form,
			body: "client_id=my+client%3A1%2F%C3%A7&grant_type=password&password=pw+%22hunter2%22%2F%3C%26%3E&username=ana%40example.com"}},
		{"none json", tenantauth.TokenRequest{Credentials: pub}, None, JSON, builtRequest{contentType: js,
			body: `{"grant_type":"password","client_id":"pub","username":"u","password":"p"}`}},
		{"endpoint params form", tenantauth.TokenRequest{Credentials: withParams(m2m, params)}, ClientSecretPost, Form, builtRequest{contentType: form,
			body: "audience=api%3C1%3E&client_id=m2m&client_secret=s%25e%3Ac%2Br%26e+t%3D%C3%A7%22%5C&grant_type=client_credentials" +
				"&resource=https%3A%2F%2Fa.example%2F&resource=https%3A%2F%2Fb.example%2F&scope=read+write"}},
		{"endpoint params json", tenantauth.TokenRequest{Credentials: withParams(m2m, params)}, ClientSecretBasic, JSON, builtRequest{contentType: js,
			authorization: "Basic " + base64.StdEncoding.EncodeToString([]byte("m2m:s%25e%3Ac%2Br%26e+t%3D%C3%A7%22%5C")),
			body: `{"grant_type":"client_credentials","scope":"read write","audience":"api<1>",` +
				`"resource":["https://a.example/","https://b.example/"]}`}},
		{"endpoint params on refresh", tenantauth.TokenRequest{Grant: tenantauth.GrantRefreshToken, RefreshToken: reqRefresh,
			Credentials: withParams(pub, url.Values{"audience": {"api"}})}, ClientSecretPost, Form, builtRequest{contentType: form,
			body: "audience=api&client_id=pub&grant_type=refresh_token&refresh_token=rt-5a7f19"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := build(t, tt.req, tt.auth, tt.enc)
			want := tt.want
			want.method, want.url, want.accept = "POST", "https://idp.example.com/token", "application/json"
			if got != want {
				t.Errorf("request =\n%+v\nwant\n%+v", got, want)
			}
			if tt.enc == JSON && !json.Valid([]byte(got.body)) {
				t.Errorf("body %s is not valid JSON", got.body)
			}
		})
	}
}

// TestNewRequestBasicRoundTrip: a server that decodes the Basic credentials
// as RFC 6749 §2.3.1 says gets back exactly the configured id and secret.
func TestNewRequestBasicRoundTrip(t *testing.T) {
	for _, c := range []struct{ id, secret string }{{"my client:1/ç", reqSecret}, {"a:b", "c:d"}, {"%41", "+ +"}, {"ü", "🔑"}} {
		req := tenantauth.TokenRequest{Credentials: tenantauth.Credentials{ClientID: c.id, ClientSecret: tenantauth.Secret(c.secret)}}
		hr, err := NewRequest(context.Background(), "https://idp.example.com/token", req, ClientSecretBasic, Form)
		if err != nil {
			t.Fatal(err)
		}
		user, pass, ok := hr.BasicAuth()
		if !ok {
			t.Fatalf("%q: no Basic credentials", c.id)
		}
		id, err1 := url.QueryUnescape(user)
		secret, err2 := url.QueryUnescape(pass)
		if err1 != nil || err2 != nil || id != c.id || secret != c.secret {
			t.Errorf("%q: server decodes %q, %q (%v, %v)", c.id, id, secret, err1, err2)
		}
	}
}

func TestNewRequestRefused(t *testing.T) {
	pw := tenantauth.Credentials{ClientID: "c", ClientSecret: reqSecret, Username: "u", Password: reqPassword}
	m2m := tenantauth.Credentials{ClientID: "c", ClientSecret: reqSecret}
	tests := []struct {
		name     string
		tokenURL string
		req      tenantauth.TokenRequest
		auth     AuthMethod
		enc      Encoding
		want     error  // nil: any error
		mention  string // the message names it
	}{
		{"unknown grant", "", tenantauth.TokenRequest{Grant: "urn:x", Credentials: pw}, ClientSecretPost, Form, ErrUnsupportedGrant, "urn:x"},
		{"missing password", "", tenantauth.TokenRequest{Credentials: tenantauth.Credentials{ClientID: "c", Username: "u"}}, ClientSecretPost, Form,
			ErrIncompleteCredentials, "Password"},
		{"none with client credentials", "", tenantauth.TokenRequest{Credentials: m2m}, None, Form, ErrIncompleteCredentials, "ClientSecret"},
		{"reserved param", "", tenantauth.TokenRequest{Credentials: withParams(pw, url.Values{"password": {reqPassword}})}, ClientSecretPost, JSON,
			ErrIncompleteCredentials, `"password"`},
		{"client assertion param", "", tenantauth.TokenRequest{Credentials: withParams(m2m, url.Values{"client_assertion": {"x"}})}, ClientSecretBasic, Form,
			ErrIncompleteCredentials, `"client_assertion"`},
		{"json password not UTF-8", "", tenantauth.TokenRequest{Credentials: tenantauth.Credentials{ClientID: "c", Username: "u", Password: reqPassword + "\xff"}},
			ClientSecretPost, JSON, nil, "Password is not valid UTF-8"},
		{"json secret not UTF-8", "", tenantauth.TokenRequest{Credentials: tenantauth.Credentials{ClientID: "c", ClientSecret: reqSecret + "\xc3"}},
			ClientSecretPost, JSON, nil, "ClientSecret is not valid UTF-8"},
		{"json param not UTF-8", "", tenantauth.TokenRequest{Credentials: withParams(m2m, url.Values{"audience": {"ok", "\xff"}})},
			ClientSecretPost, JSON, nil, `EndpointParams["audience"] is not valid UTF-8`},
		{"json param name not UTF-8", "", tenantauth.TokenRequest{Credentials: withParams(m2m, url.Values{"aud\xff": {"x"}})},
			ClientSecretPost, JSON, nil, "name is not valid UTF-8"},
		{"unknown auth", "", tenantauth.TokenRequest{Credentials: m2m}, "private_key_jwt", Form, nil, "private_key_jwt"},
		{"unknown encoding", "", tenantauth.TokenRequest{Credentials: m2m}, ClientSecretPost, 7, nil, "Encoding(7)"},
		{"bad URL", "https://admin:" + reqSecret + "@idp example.com/token", tenantauth.TokenRequest{Credentials: m2m}, ClientSecretPost, Form,
			ErrInvalidEndpoint, "idp example.com"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := tt.tokenURL
			if u == "" {
				u = "https://idp.example.com/token"
			}
			hr, err := NewRequest(context.Background(), u, tt.req, tt.auth, tt.enc)
			if err == nil || hr != nil {
				t.Fatalf("NewRequest = %v, %v; want an error", hr, err)
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "tokenclient: ") || !strings.Contains(msg, tt.mention) {
				t.Errorf("message %q: want prefix tokenclient: and %q", msg, tt.mention)
			}
			for _, text := range []string{msg, fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)} {
				for _, s := range reqSecrets {
					if strings.Contains(text, s) {
						t.Errorf("error %q contains secret %q", text, s)
					}
				}
			}
		})
	}
	// A value that is not UTF-8 is fine in a form: it is percent-encoded
	// byte for byte.
	got := build(t, tenantauth.TokenRequest{Credentials: tenantauth.Credentials{ClientID: "c", Username: "u", Password: "p\xff"}}, ClientSecretPost, Form)
	if !strings.Contains(got.body, "password=p%FF") {
		t.Errorf("form body %q", got.body)
	}
}

func TestEncodingString(t *testing.T) {
	for e, want := range map[Encoding]string{Form: "form", JSON: "json", 5: "Encoding(5)"} {
		if got := e.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", int(e), got, want)
		}
	}
}

// FuzzNewRequest: whatever the credentials hold, a request NewRequest
// builds decodes, on the server's side, to exactly the values configured
// (form and JSON alike, Basic credentials after RFC 6749 §2.3.1 decoding),
// and a refusal names no value.
func FuzzNewRequest(f *testing.F) {
	f.Add("id", "secret", "user", "pass", "aud", "v1", "v2", false, false)
	f.Add("my client:1", `s%e:c+r&e t="\`, "ana@example.com", "pw <&>", "resource", "https://a/", "\u2028", true, true)
	f.Add("c\xff", "s\x00", "u\n", "p\xc3", "", "x", "", true, false)
	f.Add("pub", "", "u", "p", "audience", "a", "", true, true)
	f.Add("id", "s", "", "p", "audience", "a", "b", false, false)
	f.Fuzz(func(t *testing.T, id, secret, user, pass, pname, v1, v2 string, basic, useJSON bool) {
		req := tenantauth.TokenRequest{Grant: tenantauth.GrantPassword, Credentials: tenantauth.Credentials{ClientID: id, ClientSecret: tenantauth.Secret(secret),
			Username: user, Password: tenantauth.Secret(pass), EndpointParams: url.Values{pname: {v1, v2}}}}
		auth, enc := ClientSecretPost, Form
		if basic {
			auth = ClientSecretBasic
		}
		if useJSON {
			enc = JSON
		}
		hr, err := NewRequest(context.Background(), "https://idp.example.com/token", req, auth, enc)
		if err != nil {
			for _, s := range []string{secret, pass} {
				if len(s) >= 4 && strings.Contains(err.Error(), s) {
					t.Fatalf("error %q contains a secret", err)
				}
			}
			return
		}
		b, _ := io.ReadAll(hr.Body)
		got := map[string][]string{}
		if useJSON {
			var m map[string]any
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatalf("body %q is not JSON: %v", b, err)
			}
			for k, v := range m {
				switch v := v.(type) {
				case string:
					got[k] = []string{v}
				case []any:
					for _, e := range v {
						got[k] = append(got[k], e.(string))
					}
				}
			}
		} else {
			got, err = url.ParseQuery(string(b))
			if err != nil {
				t.Fatalf("body %q is not a form: %v", b, err)
			}
		}
		want := map[string][]string{"grant_type": {"password"}, "username": {user}, "password": {pass}, pname: {v1, v2}}
		if u, p, ok := hr.BasicAuth(); basic && secret != "" {
			du, err1 := url.QueryUnescape(u)
			dp, err2 := url.QueryUnescape(p)
			if !ok || err1 != nil || err2 != nil || du != id || dp != secret {
				t.Fatalf("Basic credentials decode to %q, %q", du, dp)
			}
		} else {
			want["client_id"] = []string{id}
			if secret != "" {
				want["client_secret"] = []string{secret}
			}
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("server decodes %q, want %q", got, want)
		}
	})
}

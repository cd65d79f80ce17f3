package tokenclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tenantauth/tenantauth"
)

func TestNew(t *testing.T) {
	tests := []struct {
		name     string
		cfg      Config
		endpoint string // "" when New must fail
		wantErr  error  // nil: any error
		prefix   string
	}{
		{"https", Config{TokenURL: "https://idp.example.com/oauth2/token"}, "https://idp.example.com/oauth2/token", nil, ""},
		{"loopback http", Config{TokenURL: "http://127.0.0.1:8080/token", AuthMethod: None, Encoding: JSON},
			"http://127.0.0.1:8080/token", nil, ""},
		{"insecure allowed", Config{TokenURL: "http://idp.internal/token", AllowInsecureHTTP: true, AuthMethod: ClientSecretBasic},
			"http://idp.internal/token", nil, ""},
		{"no URL", Config{Name: "oidc"}, "", ErrInvalidEndpoint, "oidc: "},
		{"insecure", Config{TokenURL: "http://idp.example.com/token"}, "", tenantauth.ErrInsecureEndpoint, "tokenclient: "},
		{"user info", Config{Name: "oidc", TokenURL: "https://admin:" + reqSecret + "@idp.example.com/token"}, "", ErrInvalidEndpoint, "oidc: "},
		{"query", Config{TokenURL: "https://idp.example.com/token?client_secret=" + url.QueryEscape(reqSecret)}, "", ErrInvalidEndpoint, "tokenclient: "},
		{"fragment", Config{TokenURL: "https://idp.example.com/token#x"}, "", ErrInvalidEndpoint, "tokenclient: "},
		{"relative", Config{TokenURL: "/token"}, "", ErrInvalidEndpoint, "tokenclient: "},
		{"unknown auth method", Config{Name: "keycloak", TokenURL: "https://idp.example.com/token", AuthMethod: "private_key_jwt"}, "", nil, "keycloak: "},
		{"unknown encoding", Config{TokenURL: "https://idp.example.com/token", Encoding: 2}, "", nil, "tokenclient: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(tt.cfg)
			if tt.endpoint != "" {
				if err != nil {
					t.Fatal(err)
				}
				if got := c.Endpoint(); got != tt.endpoint {
					t.Errorf("Endpoint = %q, want %q", got, tt.endpoint)
				}
				return
			}
			if err == nil || c != nil {
				t.Fatalf("New = %v, %v; want an error", c, err)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("err = %v, want %v", err, tt.wantErr)
			}
			if !strings.HasPrefix(err.Error(), tt.prefix) {
				t.Errorf("message %q, want prefix %q", err, tt.prefix)
			}
			for _, s := range reqSecrets {
				if strings.Contains(err.Error(), s) {
					t.Errorf("message %q contains a secret", err)
				}
			}
		})
	}
}

func TestNewHTTPClientChoice(t *testing.T) {
	a, _ := New(Config{TokenURL: "https://a.example/token"})
	b, _ := New(Config{TokenURL: "https://b.example/token"})
	if a.client != defaultClient() || b.client != a.client {
		t.Error("Clients without an HTTPClient do not share the default client")
	}
	user := &http.Client{Timeout: time.Second}
	c, _ := New(Config{TokenURL: "https://c.example/token", HTTPClient: user})
	if c.client == user || user.CheckRedirect != nil {
		t.Fatal("the user's client was used or modified")
	}
	if c.client.CheckRedirect == nil || c.client.Timeout != time.Second {
		t.Error("the user's client was not hardened, or lost its settings")
	}
	if c.auth != ClientSecretPost {
		t.Errorf("zero AuthMethod = %q, want client_secret_post", c.auth)
	}
}

// tokenServer is a stand-in token endpoint that records each request and
// answers with the handler's status, headers and body.
type tokenServer struct {
	*httptest.Server
	hits atomic.Int32
	mu   sync.Mutex
	last builtRequest
}

func newTokenServer(t *testing.T, status int, body string, header ...string) *tokenServer {
	t.Helper()
	s := &tokenServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.last = builtRequest{r.Method, r.URL.Path, r.Header.Get("Content-Type"), r.Header.Get("Accept"),
			r.Header.Get("Authorization"), string(b)}
		s.mu.Unlock()
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *tokenServer) request() builtRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

func TestClientExchange(t *testing.T) {
	creds := tenantauth.Credentials{ClientID: "c", ClientSecret: reqSecret, Username: "u@example.com", Password: reqPassword,
		EndpointParams: url.Values{"audience": {"api"}}}
	tests := []struct {
		name string
		auth AuthMethod
		enc  Encoding
		want builtRequest // path, method, accept filled in
	}{
		{"form post", ClientSecretPost, Form, builtRequest{contentType: "application/x-www-form-urlencoded",
			body: "audience=api&client_id=c&client_secret=s%25e%3Ac%2Br%26e+t%3D%C3%A7%22%5C&grant_type=password" +
				"&password=pw+%22hunter2%22%2F%3C%26%3E&username=u%40example.com"}},
		{"json post", ClientSecretPost, JSON, builtRequest{contentType: "application/json",
			body: `{"grant_type":"password","client_id":"c","client_secret":"s%e:c+r&e t=ç\"\\","username":"u@example.com",` +
				`"password":"pw \"hunter2\"/<&>","audience":"api"}`}},
		{"form basic", ClientSecretBasic, Form, builtRequest{contentType: "application/x-www-form-urlencoded",
			authorization: "Basic Yzpz" + "JTI1ZSUzQWMlMkJyJTI2ZSt0JTNEJUMzJUE3JTIyJTVD",
			body:          "audience=api&grant_type=password&password=pw+%22hunter2%22%2F%3C%26%3E&username=u%40example.com"}},
	}
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newTokenServer(t, 200, `{"access_token":"at-1","token_type":"bearer","expires_in":"300","refresh_token":"rt-2"}`)
			c, err := New(Config{TokenURL: srv.URL + "/token", AuthMethod: tt.auth, Encoding: tt.enc, Now: func() time.Time { return now }})
			if err != nil {
				t.Fatal(err)
			}
			tok, err := c.Exchange(context.Background(), tenantauth.TokenRequest{Credentials: creds})
			if err != nil {
				t.Fatal(err)
			}
			if tok.AccessToken.Reveal() != "at-1" || tok.TokenType != "Bearer" || tok.RefreshToken.Reveal() != "rt-2" ||
				!tok.IssuedAt.Equal(now) || !tok.Expiry.Equal(now.Add(5*time.Minute)) {
				t.Errorf("token = %q %q %q %v %v", tok.AccessToken.Reveal(), tok.TokenType, tok.RefreshToken.Reveal(), tok.IssuedAt, tok.Expiry)
			}
			want := tt.want
			want.method, want.url, want.accept = "POST", "/token", "application/json"
			if got := srv.request(); got != want {
				t.Errorf("request =\n%+v\nwant\n%+v", got, want)
			}
		})
	}
}

func TestClientExchangeErrors(t *testing.T) {
	creds := tenantauth.Credentials{ClientID: "c", ClientSecret: reqSecret, Username: "u", Password: reqPassword}
	tests := []struct {
		name   string
		status int
		body   string
		header []string
		check  func(t *testing.T, err error)
	}{
		{"error in a 200", 200, `{"error":"invalid_grant","error_description":"password ` + strings.ReplaceAll(reqPassword, `"`, `\"`) + ` is wrong"}`, nil,
			func(t *testing.T, err error) {
				var te *tenantauth.TokenError
				if !errors.As(err, &te) || te.StatusCode != 200 || te.Code != "invalid_grant" || !errors.Is(err, tenantauth.ErrInvalidCredentials) {
					t.Fatalf("err = %v, want a TokenError with invalid_grant", err)
				}
				if te.Description != "password [REDACTED] is wrong" {
					t.Errorf("Description = %q, want the echoed password redacted", te.Description)
				}
			}},
		{"429 with Retry-After", 429, `{"error":"slow_down"}`, []string{"Retry-After", "7"},
			func(t *testing.T, err error) {
				var te *tenantauth.TokenError
				if !errors.As(err, &te) || te.RetryAfter != 7*time.Second || !te.Temporary() {
					t.Fatalf("err = %v, want a temporary TokenError, RetryAfter 7s", err)
				}
			}},
		{"html 502 echoing the form", 502, "<h1>Bad Gateway</h1> client_secret=" + url.QueryEscape(reqSecret), nil,
			func(t *testing.T, err error) {
				var te *tenantauth.TokenError
				if !errors.As(err, &te) || te.Body != "<h1>Bad Gateway</h1> client_secret=[REDACTED]" {
					t.Fatalf("err = %v (%#v), want the excerpt with the secret redacted", err, te)
				}
			}},
		{"oversized", 200, `{"access_token":"at","pad":"` + strings.Repeat("x", MaxBodySize) + `"}`, nil,
			func(t *testing.T, err error) {
				if !errors.Is(err, ErrBodyTooLarge) {
					t.Fatalf("err = %v, want ErrBodyTooLarge", err)
				}
			}},
		{"not bearer", 200, `{"access_token":"at","token_type":"DPoP"}`, nil,
			func(t *testing.T, err error) {
				if !errors.Is(err, ErrMalformedResponse) {
					t.Fatalf("err = %v, want ErrMalformedResponse", err)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newTokenServer(t, tt.status, tt.body, tt.header...)
			c, _ := New(Config{Name: "oidc", TokenURL: srv.URL + "/token"})
			tok, err := c.Exchange(context.Background(), tenantauth.TokenRequest{Credentials: creds})
			if tok != nil || err == nil {
				t.Fatalf("Exchange = %v, %v; want an error only", tok, err)
			}
			tt.check(t, err)
			for _, text := range []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)} {
				for _, s := range reqSecrets {
					if strings.Contains(text, s) {
						t.Errorf("error %q contains secret %q", text, s)
					}
				}
			}
		})
	}
	// AllowNonBearer takes the DPoP token.
	srv := newTokenServer(t, 200, `{"access_token":"at","token_type":"DPoP"}`)
	c, _ := New(Config{TokenURL: srv.URL + "/token", AllowNonBearer: true})
	if tok, err := c.Exchange(context.Background(), tenantauth.TokenRequest{Credentials: creds}); err != nil || tok.TokenType != "DPoP" {
		t.Errorf("AllowNonBearer: %v, %v", tok, err)
	}
}

func TestClientExchangeTransportErrors(t *testing.T) {
	creds := tenantauth.Credentials{ClientID: "c", ClientSecret: reqSecret}
	// A server that is gone: the error names the provider and the endpoint.
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	c, _ := New(Config{Name: "oidc", TokenURL: dead.URL + "/token"})
	_, err := c.Exchange(context.Background(), tenantauth.TokenRequest{Credentials: creds})
	if err == nil || !strings.HasPrefix(err.Error(), "oidc: token request to "+dead.URL+"/token: ") {
		t.Errorf("err = %v, want it to name the provider and the endpoint", err)
	}
	// A redirect is refused, whoever's client sends the request.
	target := newTokenServer(t, 200, `{"access_token":"at"}`)
	redirecting := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+"/token", http.StatusTemporaryRedirect)
	}))
	defer redirecting.Close()
	for _, hc := range []*http.Client{nil, {}} {
		c, _ := New(Config{TokenURL: redirecting.URL + "/token", HTTPClient: hc})
		if tok, err := c.Exchange(context.Background(), tenantauth.TokenRequest{Credentials: creds}); !errors.Is(err, tenantauth.ErrRedirect) || tok != nil {
			t.Errorf("redirect: %v, %v; want ErrRedirect", tok, err)
		}
	}
	if n := target.hits.Load(); n != 0 {
		t.Errorf("the redirect target got %d requests", n)
	}
	// A context that is done sends nothing.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	c, _ = New(Config{TokenURL: target.URL + "/token"})
	if _, err := c.Exchange(ctx, tenantauth.TokenRequest{Credentials: creds}); !errors.Is(err, context.Canceled) || target.hits.Load() != 0 {
		t.Errorf("done context: %v, %d requests", err, target.hits.Load())
	}
}

func TestClientExchangeRefusedWithoutIO(t *testing.T) {
	m2m := tenantauth.Credentials{ClientID: "c", ClientSecret: reqSecret}
	tests := []struct {
		name string
		auth AuthMethod
		enc  Encoding
		req  tenantauth.TokenRequest
		want error // nil: any error
	}{
		{"unknown grant", ClientSecretPost, Form, tenantauth.TokenRequest{Grant: "authorization_code", Credentials: m2m}, ErrUnsupportedGrant},
		{"no client secret", ClientSecretBasic, Form, tenantauth.TokenRequest{Credentials: tenantauth.Credentials{ClientID: "c"}}, ErrIncompleteCredentials},
		{"public client credentials", None, Form, tenantauth.TokenRequest{Credentials: m2m}, ErrIncompleteCredentials},
		{"reserved endpoint param", ClientSecretPost, JSON, tenantauth.TokenRequest{Credentials: withParams(m2m, url.Values{"scope": {"x"}})}, ErrIncompleteCredentials},
		{"not UTF-8 in JSON", ClientSecretPost, JSON, tenantauth.TokenRequest{Credentials: tenantauth.Credentials{ClientID: "c\xff", ClientSecret: reqSecret}}, nil},
	}
	srv := newTokenServer(t, 200, `{"access_token":"at"}`)
	for _, tt := range tests {
		c, err := New(Config{Name: "oidc", TokenURL: srv.URL + "/token", AuthMethod: tt.auth, Encoding: tt.enc})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Exchange(context.Background(), tt.req)
		if err == nil || (tt.want != nil && !errors.Is(err, tt.want)) || !strings.HasPrefix(err.Error(), "oidc: ") {
			t.Errorf("%s: err = %v, want %v with prefix oidc: ", tt.name, err, tt.want)
		}
	}
	if n := srv.hits.Load(); n != 0 {
		t.Errorf("%d requests sent, want none", n)
	}
}

// TestClientHoldsNoSecret: a Client prints nothing a request carried.
func TestClientHoldsNoSecret(t *testing.T) {
	srv := newTokenServer(t, 200, `{"access_token":"at-secret-value"}`)
	c, _ := New(Config{TokenURL: srv.URL + "/token", AuthMethod: ClientSecretBasic})
	creds := tenantauth.Credentials{ClientID: "c", ClientSecret: reqSecret, Username: "u", Password: reqPassword}
	if _, err := c.Exchange(context.Background(), tenantauth.TokenRequest{Credentials: creds}); err != nil {
		t.Fatal(err)
	}
	secretType := reflect.TypeOf(tenantauth.Secret(""))
	v := reflect.ValueOf(*c)
	for i := 0; i < v.NumField(); i++ {
		if v.Field(i).Type() == secretType {
			t.Errorf("field %s is a Secret", v.Type().Field(i).Name)
		}
	}
	dump := fmt.Sprintf("%#v %+v", *c, *c)
	for _, s := range append(reqSecrets, "at-secret-value") {
		if strings.Contains(dump, s) {
			t.Errorf("Client %s contains %q", dump, s)
		}
	}
}

package keycloak

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tenantauth/tenantauth"
	"github.com/tenantauth/tenantauth/providers/tokenclient"
)

// Secrets used by every test; no error may contain any of them.
const (
	clientSecret = "cs-Zq8!x&y=1"
	password     = "pw hunter2/ç"
	refreshToken = "rt-9c1e77d0"
	accessToken  = "at-eyJhbGciOiJSUzI1NiJ9.e30.sig"
)

var secrets = []string{clientSecret, password, refreshToken, accessToken,
	url.QueryEscape(clientSecret), url.QueryEscape(password)}

var (
	passwordCreds = tenantauth.Credentials{ClientID: "fp-client", ClientSecret: clientSecret,
		Username: "ana@example.com", Password: password}
	machineCreds = tenantauth.Credentials{ClientID: "fp-m2m", ClientSecret: clientSecret}
)

const keycloakExample = `{
    "access_token": "` + accessToken + `",
    "expires_in": 86400,
    "refresh_expires_in": 0,
    "token_type": "Bearer",
    "not-before-policy": 1715704038,
    "scope": "profile email"
}`

// request is what the stand-in token endpoint received.
type request struct {
	method, path, contentType, accept, authorization, body string
}

// standIn is a stand-in token endpoint on 127.0.0.1 that records requests
// and answers with status, header and body.
type standIn struct {
	*httptest.Server
	hits   atomic.Int32
	mu     sync.Mutex
	last   request
	status int
	header http.Header
	body   string
}

func newStandIn(t *testing.T, status int, body string, header ...string) *standIn {
	t.Helper()
	s := &standIn{status: status, body: body, header: http.Header{}}
	for i := 0; i+1 < len(header); i += 2 {
		s.header.Set(header[i], header[i+1])
	}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.last = request{r.Method, r.URL.RequestURI(), r.Header.Get("Content-Type"), r.Header.Get("Accept"),
			r.Header.Get("Authorization"), string(b)}
		s.mu.Unlock()
		for k, v := range s.header {
			w.Header()[k] = v
		}
		w.WriteHeader(s.status)
		io.WriteString(w, s.body)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *standIn) request() request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

// checkNoSecret fails if any rendering of err contains a secret.
func checkNoSecret(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	for _, text := range []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)} {
		for _, s := range secrets {
			if strings.Contains(text, s) {
				t.Errorf("error %q contains secret %q", text, s)
			}
		}
	}
}

const realmPath = "/realms/fluencypass/protocol/openid-connect/token"

func TestNew(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		want    string // endpoint
		wantErr error
	}{
		{"plain", Config{BaseURL: "https://sso.example.com", Realm: "fluencypass"}, "https://sso.example.com" + realmPath, nil},
		{"trailing slash", Config{BaseURL: "https://sso.example.com/", Realm: "fluencypass"}, "https://sso.example.com" + realmPath, nil},
		{"path prefix", Config{BaseURL: "https://sso.example.com/auth/", Realm: "fluencypass"}, "https://sso.example.com/auth" + realmPath, nil},
		{"port", Config{BaseURL: "https://sso.example.com:8443", Realm: "x"}, "https://sso.example.com:8443/realms/x/protocol/openid-connect/token", nil},
		{"realm escaped", Config{BaseURL: "https://sso.example.com", Realm: "a b/../c?d#e%"},
			"https://sso.example.com/realms/a%20b%2F..%2Fc%3Fd%23e%25/protocol/openid-connect/token", nil},
		{"loopback http", Config{BaseURL: "http://127.0.0.1:8080", Realm: "r"}, "http://127.0.0.1:8080/realms/r/protocol/openid-connect/token", nil},
		{"insecure allowed", Config{BaseURL: "http://sso.internal", Realm: "r", AllowInsecureHTTP: true},
			"http://sso.internal/realms/r/protocol/openid-connect/token", nil},
		{"basic", Config{BaseURL: "https://sso.example.com", Realm: "fluencypass", ClientAuth: ClientAuthBasic}, "https://sso.example.com" + realmPath, nil},
		{"insecure refused", Config{BaseURL: "http://sso.example.com", Realm: "r"}, "", tenantauth.ErrInsecureEndpoint},
		{"no base", Config{Realm: "r"}, "", tokenclient.ErrInvalidEndpoint},
		{"no realm", Config{BaseURL: "https://sso.example.com"}, "", tokenclient.ErrInvalidEndpoint},
		{"dot realm", Config{BaseURL: "https://sso.example.com", Realm: ".."}, "", tokenclient.ErrInvalidEndpoint},
		{"user info", Config{BaseURL: "https://admin:" + clientSecret + "@sso.example.com", Realm: "r"}, "", tokenclient.ErrInvalidEndpoint},
		{"query", Config{BaseURL: "https://sso.example.com?client_secret=" + clientSecret, Realm: "r"}, "", tokenclient.ErrInvalidEndpoint},
		{"no scheme", Config{BaseURL: "sso.example.com", Realm: "r"}, "", tokenclient.ErrInvalidEndpoint},
		{"bad client auth", Config{BaseURL: "https://sso.example.com", Realm: "r", ClientAuth: 7}, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := New(tt.cfg)
			if tt.want == "" {
				if err == nil {
					t.Fatalf("New = %v, want error", p.Endpoint())
				}
				if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
					t.Errorf("err = %v, want %v", err, tt.wantErr)
				}
				if !strings.HasPrefix(err.Error(), "keycloak: ") {
					t.Errorf("message %q lacks the package prefix", err)
				}
				checkNoSecret(t, err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := p.Endpoint(); got != tt.want {
				t.Errorf("Endpoint = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestFluencypass(t *testing.T) {
	p, err := Fluencypass()
	if err != nil {
		t.Fatal(err)
	}
	const want = "https://sso.fluencypass.com/realms/fluencypass/protocol/openid-connect/token"
	if p.Endpoint() != want {
		t.Errorf("Endpoint = %q, want %q", p.Endpoint(), want)
	}
	if p.clientAuth != ClientAuthBody {
		t.Errorf("ClientAuth = %v, want body (as the Fluencypass document shows)", p.clientAuth)
	}
	if _, err := Fluencypass(WithBaseURL("http://sso.fluencypass.com")); !errors.Is(err, tenantauth.ErrInsecureEndpoint) {
		t.Errorf("http base URL: %v", err)
	}
}

func TestExchangeRequest(t *testing.T) {
	basic := func(id, secret string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
	}
	tests := []struct {
		name     string
		auth     ClientAuth
		req      tenantauth.TokenRequest
		wantBody string // exact; url.Values.Encode sorts the keys
		wantAuth string
	}{
		{"password", ClientAuthBody, tenantauth.TokenRequest{Grant: tenantauth.GrantPassword, Credentials: passwordCreds},
			"client_id=fp-client&client_secret=cs-Zq8%21x%26y%3D1&grant_type=password&password=pw+hunter2%2F%C3%A7&username=ana%40example.com", ""},
		{"password from credentials", ClientAuthBody, tenantauth.TokenRequest{Credentials: passwordCreds},
			"client_id=fp-client&client_secret=cs-Zq8%21x%26y%3D1&grant_type=password&password=pw+hunter2%2F%C3%A7&username=ana%40example.com", ""},
		{"password public client", ClientAuthBody, tenantauth.TokenRequest{Credentials: tenantauth.Credentials{ClientID: "pub", Username: "u", Password: password}},
			"client_id=pub&grant_type=password&password=pw+hunter2%2F%C3%A7&username=u", ""},
		{"client credentials", ClientAuthBody, tenantauth.TokenRequest{Credentials: machineCreds},
			"client_id=fp-m2m&client_secret=cs-Zq8%21x%26y%3D1&grant_type=client_credentials", ""},
		{"client credentials with scopes", ClientAuthBody, tenantauth.TokenRequest{Credentials: tenantauth.Credentials{
			ClientID: "fp-m2m", ClientSecret: clientSecret, Scopes: []string{"openid", "profile", "email"}}},
			"client_id=fp-m2m&client_secret=cs-Zq8%21x%26y%3D1&grant_type=client_credentials&scope=openid+profile+email", ""},
		{"refresh", ClientAuthBody, tenantauth.TokenRequest{Grant: tenantauth.GrantRefreshToken, Credentials: passwordCreds, RefreshToken: refreshToken},
			"client_id=fp-client&client_secret=cs-Zq8%21x%26y%3D1&grant_type=refresh_token&refresh_token=rt-9c1e77d0", ""},
		{"basic password", ClientAuthBasic, tenantauth.TokenRequest{Credentials: passwordCreds},
			"grant_type=password&password=pw+hunter2%2F%C3%A7&username=ana%40example.com", basic("fp-client", clientSecret)},
		{"basic client credentials", ClientAuthBasic, tenantauth.TokenRequest{Credentials: tenantauth.Credentials{ClientID: "my client:1", ClientSecret: clientSecret}},
			"grant_type=client_credentials", "Basic " + base64.StdEncoding.EncodeToString([]byte("my+client%3A1:cs-Zq8%21x%26y%3D1"))},
		{"basic refresh", ClientAuthBasic, tenantauth.TokenRequest{Grant: tenantauth.GrantRefreshToken, Credentials: passwordCreds, RefreshToken: refreshToken},
			"grant_type=refresh_token&refresh_token=rt-9c1e77d0", basic("fp-client", clientSecret)},
		{"basic public client", ClientAuthBasic, tenantauth.TokenRequest{Credentials: tenantauth.Credentials{ClientID: "pub", Username: "u", Password: "p"}},
			"client_id=pub&grant_type=password&password=p&username=u", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newStandIn(t, 200, keycloakExample)
			p, err := New(Config{BaseURL: srv.URL, Realm: "fluencypass", ClientAuth: tt.auth})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := p.Exchange(context.Background(), tt.req); err != nil {
				t.Fatal(err)
			}
			got := srv.request()
			want := request{"POST", realmPath, "application/x-www-form-urlencoded", "application/json", tt.wantAuth, tt.wantBody}
			if got != want {
				t.Errorf("request =\n%+v\nwant\n%+v", got, want)
			}
		})
	}
}

func TestExchangeResponse(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		typ     string
		expires time.Duration
		refresh string
		scope   string
	}{
		{"fluencypass example", keycloakExample, "Bearer", 24 * time.Hour, "", "profile email"},
		{"expires_in string", `{"access_token":"` + accessToken + `","expires_in":"300"}`, "Bearer", 5 * time.Minute, "", ""},
		{"lower-case bearer", `{"access_token":"` + accessToken + `","token_type":"bearer","expires_in":60}`, "Bearer", time.Minute, "", ""},
		{"refresh token", `{"access_token":"` + accessToken + `","expires_in":300,"refresh_expires_in":0,"refresh_token":"` + refreshToken + `","not-before-policy":0,"session_state":"x"}`,
			"Bearer", 5 * time.Minute, refreshToken, ""},
		{"no expires_in", `{"access_token":"` + accessToken + `"}`, "Bearer", 0, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newStandIn(t, 200, tt.body, "Content-Type", "application/json")
			p, err := Fluencypass(WithBaseURL(srv.URL))
			if err != nil {
				t.Fatal(err)
			}
			before := time.Now()
			tok, err := p.Exchange(context.Background(), tenantauth.TokenRequest{Credentials: machineCreds})
			if err != nil {
				t.Fatal(err)
			}
			if tok.AccessToken.Reveal() != accessToken || tok.TokenType != tt.typ || tok.RefreshToken.Reveal() != tt.refresh || tok.Scope != tt.scope {
				t.Errorf("token = %q %q %q %q", tok.AccessToken.Reveal(), tok.TokenType, tok.RefreshToken.Reveal(), tok.Scope)
			}
			if tok.IssuedAt.Before(before) || tok.IssuedAt.After(time.Now()) {
				t.Errorf("IssuedAt = %v", tok.IssuedAt)
			}
			if tt.expires == 0 {
				if !tok.Expiry.IsZero() {
					t.Errorf("Expiry = %v, want zero", tok.Expiry)
				}
			} else if got := tok.Expiry.Sub(tok.IssuedAt); got != tt.expires {
				t.Errorf("lifetime = %v, want %v", got, tt.expires)
			}
			if !tok.RefreshExpiry.IsZero() {
				t.Errorf("RefreshExpiry = %v, want zero (refresh_expires_in 0)", tok.RefreshExpiry)
			}
			if got := tok.Authorization(); got != "Bearer "+accessToken {
				t.Errorf("Authorization = %q", got)
			}
		})
	}
}

func TestExchangeErrors(t *testing.T) {
	httpDate := time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)
	tests := []struct {
		name    string
		status  int
		body    string
		header  []string
		code    string
		invalid bool
		check   func(t *testing.T, te *tenantauth.TokenError)
	}{
		{name: "wrong password", status: 401, body: `{"error":"invalid_grant","error_description":"Invalid user credentials"}`,
			code: "invalid_grant", invalid: true},
		{name: "bad client", status: 401, body: `{"error":"unauthorized_client","error_description":"Invalid client or Invalid client credentials"}`,
			code: "unauthorized_client", invalid: true},
		{name: "empty 400", status: 400},
		{name: "empty 403", status: 403},
		{name: "html 502", status: 502, body: "<html><body><h1>502 Bad Gateway</h1></body></html>",
			check: func(t *testing.T, te *tenantauth.TokenError) {
				if te.Body != "<html><body><h1>502 Bad Gateway</h1></body></html>" || !te.Temporary() {
					t.Errorf("Body = %q, Temporary = %v", te.Body, te.Temporary())
				}
			}},
		{name: "429 delta seconds", status: 429, body: `{"error":"slow_down"}`, header: []string{"Retry-After", "42"}, code: "slow_down",
			check: func(t *testing.T, te *tenantauth.TokenError) {
				if te.RetryAfter != 42*time.Second {
					t.Errorf("RetryAfter = %v", te.RetryAfter)
				}
			}},
		{name: "429 http date", status: 429, header: []string{"Retry-After", httpDate},
			check: func(t *testing.T, te *tenantauth.TokenError) {
				if te.RetryAfter <= 59*time.Minute || te.RetryAfter > time.Hour {
					t.Errorf("RetryAfter = %v, want about 1h", te.RetryAfter)
				}
			}},
		{name: "server echoes the form", status: 500, body: "bad request: " + "grant_type=password&password=pw+hunter2%2F%C3%A7&client_secret=cs-Zq8%21x%26y%3D1",
			check: func(t *testing.T, te *tenantauth.TokenError) {
				if !strings.Contains(te.Body, "[REDACTED]") {
					t.Errorf("Body = %q, want redactions", te.Body)
				}
			}},
		{name: "server echoes the password in json", status: 400, body: `{"error":"invalid_request","error_description":"password ` + password + ` rejected"}`,
			code: "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newStandIn(t, tt.status, tt.body, tt.header...)
			p, err := New(Config{BaseURL: srv.URL, Realm: "fluencypass"})
			if err != nil {
				t.Fatal(err)
			}
			tok, err := p.Exchange(context.Background(), tenantauth.TokenRequest{Credentials: passwordCreds})
			var te *tenantauth.TokenError
			if !errors.As(err, &te) {
				t.Fatalf("Exchange = %v, %v; want *TokenError", tok, err)
			}
			if te.StatusCode != tt.status || te.Code != tt.code || te.Endpoint != srv.URL+realmPath {
				t.Errorf("TokenError = %#v", te)
			}
			if got := errors.Is(err, tenantauth.ErrInvalidCredentials); got != tt.invalid {
				t.Errorf("Is(ErrInvalidCredentials) = %v, want %v", got, tt.invalid)
			}
			if tt.check != nil {
				tt.check(t, te)
			}
			checkNoSecret(t, err)
		})
	}
}

func TestExchangeMalformed(t *testing.T) {
	tests := []struct {
		name string
		body string
	}{
		{"not json", "<html>login</html>"},
		{"no access token", `{"token_type":"Bearer"}`},
		{"non-bearer", `{"access_token":"` + accessToken + `","token_type":"MAC"}`},
		{"huge", `{"access_token":"` + accessToken + `","pad":"` + strings.Repeat("x", tokenclient.MaxBodySize) + `"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newStandIn(t, 200, tt.body)
			p, _ := New(Config{BaseURL: srv.URL, Realm: "r"})
			tok, err := p.Exchange(context.Background(), tenantauth.TokenRequest{Credentials: passwordCreds})
			if err == nil || tok != nil {
				t.Fatalf("Exchange = %v, %v; want error", tok, err)
			}
			checkNoSecret(t, err)
		})
	}
	// AllowNonBearer takes the MAC token.
	srv := newStandIn(t, 200, `{"access_token":"`+accessToken+`","token_type":"MAC"}`)
	p, _ := New(Config{BaseURL: srv.URL, Realm: "r", AllowNonBearer: true})
	if tok, err := p.Exchange(context.Background(), tenantauth.TokenRequest{Credentials: machineCreds}); err != nil || tok.TokenType != "MAC" {
		t.Errorf("AllowNonBearer: %v, %v", tok, err)
	}
}

func TestExchangeRefusedWithoutIO(t *testing.T) {
	tests := []struct {
		name string
		req  tenantauth.TokenRequest
		want error
	}{
		{"unknown grant", tenantauth.TokenRequest{Grant: "authorization_code", Credentials: passwordCreds}, ErrUnsupportedGrant},
		{"password without username", tenantauth.TokenRequest{Grant: tenantauth.GrantPassword, Credentials: machineCreds}, ErrIncompleteCredentials},
		{"password without password", tenantauth.TokenRequest{Credentials: tenantauth.Credentials{ClientID: "c", Username: "u"}}, ErrIncompleteCredentials},
		{"no client id", tenantauth.TokenRequest{Credentials: tenantauth.Credentials{Username: "u", Password: password}}, ErrIncompleteCredentials},
		{"client credentials without secret", tenantauth.TokenRequest{Credentials: tenantauth.Credentials{ClientID: "c"}}, ErrIncompleteCredentials},
		{"refresh without token", tenantauth.TokenRequest{Grant: tenantauth.GrantRefreshToken, Credentials: passwordCreds}, ErrIncompleteCredentials},
	}
	srv := newStandIn(t, 200, keycloakExample)
	p, _ := New(Config{BaseURL: srv.URL, Realm: "r"})
	for _, tt := range tests {
		_, err := p.Exchange(context.Background(), tt.req)
		if !errors.Is(err, tt.want) || !strings.HasPrefix(err.Error(), "keycloak: ") {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.want)
		}
		checkNoSecret(t, err)
	}
	if n := srv.hits.Load(); n != 0 {
		t.Errorf("%d requests sent, want none", n)
	}
}

func TestExchangeContextCancel(t *testing.T) {
	arrived := make(chan struct{})
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)
	p, _ := New(Config{BaseURL: srv.URL, Realm: "r"})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := p.Exchange(ctx, tenantauth.TokenRequest{Credentials: passwordCreds})
		done <- err
	}()
	<-arrived
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
		checkNoSecret(t, err)
	case <-time.After(10 * time.Second): // hang guard only
		t.Fatal("Exchange ignored the cancelled context")
	}
}

func TestExchangeRefusesRedirect(t *testing.T) {
	second := newStandIn(t, 200, keycloakExample)
	first := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, second.URL+realmPath, http.StatusTemporaryRedirect)
	}))
	defer first.Close()
	user := &http.Client{}
	for _, opts := range [][]Option{{WithBaseURL(first.URL)}, {WithBaseURL(first.URL), WithHTTPClient(user)}} {
		p, err := Fluencypass(opts...)
		if err != nil {
			t.Fatal(err)
		}
		tok, err := p.Exchange(context.Background(), tenantauth.TokenRequest{Credentials: passwordCreds})
		if !errors.Is(err, tenantauth.ErrRedirect) || tok != nil {
			t.Fatalf("Exchange = %v, %v; want ErrRedirect", tok, err)
		}
		checkNoSecret(t, err)
	}
	if n := second.hits.Load(); n != 0 {
		t.Fatalf("redirect target received %d requests", n)
	}
	if user.CheckRedirect != nil {
		t.Error("the user's client was modified")
	}
}

func TestExchangeTLS(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, keycloakExample)
	}))
	defer srv.Close()
	p, err := Fluencypass(WithBaseURL(srv.URL), WithHTTPClient(srv.Client()))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := p.Exchange(context.Background(), tenantauth.TokenRequest{Credentials: machineCreds})
	if err != nil || tok.AccessToken.Reveal() != accessToken {
		t.Fatalf("Exchange = %v, %v", tok, err)
	}
	// Without the test server's client the certificate is not trusted.
	p, _ = Fluencypass(WithBaseURL(srv.URL))
	if _, err := p.Exchange(context.Background(), tenantauth.TokenRequest{Credentials: machineCreds}); err == nil {
		t.Fatal("untrusted certificate accepted")
	}
}

func TestProviderHoldsNoSecret(t *testing.T) {
	srv := newStandIn(t, 200, keycloakExample)
	p, _ := New(Config{BaseURL: srv.URL, Realm: "r", ClientAuth: ClientAuthBasic})
	if _, err := p.Exchange(context.Background(), tenantauth.TokenRequest{Credentials: passwordCreds}); err != nil {
		t.Fatal(err)
	}
	secretType := reflect.TypeOf(tenantauth.Secret(""))
	v := reflect.ValueOf(*p)
	for i := 0; i < v.NumField(); i++ {
		if v.Field(i).Type() == secretType {
			t.Errorf("field %s is a Secret", v.Type().Field(i).Name)
		}
	}
	dump := fmt.Sprintf("%#v %+v", *p, *p)
	for _, s := range secrets {
		if strings.Contains(dump, s) {
			t.Errorf("Provider %s contains %q", dump, s)
		}
	}
}

func TestExchangeConcurrent(t *testing.T) {
	srv := newStandIn(t, 200, keycloakExample)
	p, _ := New(Config{BaseURL: srv.URL, Realm: "r"})
	const workers, each = 32, 8
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				tok, err := p.Exchange(context.Background(), tenantauth.TokenRequest{Credentials: machineCreds})
				if err == nil && tok.AccessToken.Reveal() != accessToken {
					err = errors.New("wrong token")
				}
				if err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := srv.hits.Load(); n != workers*each {
		t.Errorf("server saw %d requests, want %d", n, workers*each)
	}
}

func TestClientAuthString(t *testing.T) {
	for a, want := range map[ClientAuth]string{ClientAuthBody: "body", ClientAuthBasic: "basic", 9: "ClientAuth(9)"} {
		if got := a.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", int(a), got, want)
		}
	}
}

func TestNoGoroutineLeak(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, keycloakExample)
	}))
	defer srv.Close()
	base := runtime.NumGoroutine()
	p, _ := New(Config{BaseURL: srv.URL, Realm: "r"})
	for i := 0; i < 5; i++ {
		if _, err := p.Exchange(context.Background(), tenantauth.TokenRequest{Credentials: machineCreds}); err != nil {
			t.Fatal(err)
		}
	}
	// Both ends of the kept-alive connection hold goroutines until the
	// Provider lets go of it; they exit asynchronously: wait, bounded.
	p.CloseIdleConnections()
	for i := 0; i < 500 && runtime.NumGoroutine() > base; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > base {
		t.Errorf("%d goroutines left, %d before", n, base)
	}
}

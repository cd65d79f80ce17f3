package passport

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
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

// Secrets used by the tests; no error may contain any of them.
const (
	clientSecret = "cs-ONe7Ns48Y30tB-x"
	password     = `pw-"quoted"\back<slash>`
	refreshToken = "def502007d459fb49e6b09071f127a0163714607233687eac066"
	accessToken  = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiIsImp0aSI6Ijg0MTM2O"
)

var secrets = []string{clientSecret, password, `pw-\"quoted\"\\back`, refreshToken, accessToken}

var creds = tenantauth.Credentials{ClientID: "3", ClientSecret: clientSecret, Username: "teste@teste.com", Password: password}

// What a HubSoft server sends (the document prints it without quotes and
// commas).
const hubsoftResponse = `{"token_type":"Bearer","expires_in":2592000,"access_token":"` + accessToken +
	`","refresh_token":"` + refreshToken + `"}`

// The document's example response as printed: not JSON.
const hubsoftExampleAsPrinted = `{
		access_token:"eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiIsImp0aSI6Ijg0MTM2O"
		expires_in:2592000
		refresh_token:"def502007d459fb49e6b09071f127a0163714607233687eac066
		token_type:"Bearer"
	}`

type request struct {
	method, path, contentType, accept, authorization, body string
}

// standIn is a stand-in Passport server on 127.0.0.1.
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

func TestNew(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		want    string
		wantErr error
	}{
		{"bare host", Config{BaseURL: "erp.customer.com"}, "https://erp.customer.com/oauth/token", nil},
		{"bare host with port", Config{BaseURL: "erp.customer.com:8443"}, "https://erp.customer.com:8443/oauth/token", nil},
		{"https", Config{BaseURL: "https://erp.customer.com"}, "https://erp.customer.com/oauth/token", nil},
		{"trailing slash", Config{BaseURL: "https://erp.customer.com/"}, "https://erp.customer.com/oauth/token", nil},
		{"path prefix", Config{BaseURL: "https://erp.customer.com:8443/api/"}, "https://erp.customer.com:8443/api/oauth/token", nil},
		{"spaces", Config{BaseURL: "  https://erp.customer.com \n"}, "https://erp.customer.com/oauth/token", nil},
		{"loopback http", Config{BaseURL: "http://127.0.0.1:8000"}, "http://127.0.0.1:8000/oauth/token", nil},
		{"insecure allowed", Config{BaseURL: "http://erp.lan", AllowInsecureHTTP: true}, "http://erp.lan/oauth/token", nil},
		{"insecure refused", Config{BaseURL: "http://erp.customer.com"}, "", tenantauth.ErrInsecureEndpoint},
		{"empty", Config{}, "", tokenclient.ErrInvalidEndpoint},
		{"user info", Config{BaseURL: "https://admin:" + clientSecret + "@erp.customer.com"}, "", tokenclient.ErrInvalidEndpoint},
		{"query", Config{BaseURL: "https://erp.customer.com/?client_secret=" + clientSecret}, "", tokenclient.ErrInvalidEndpoint},
		{"other scheme", Config{BaseURL: "ftp://erp.customer.com"}, "", tokenclient.ErrInvalidEndpoint},
		{"no host", Config{BaseURL: "https:///oauth"}, "", tokenclient.ErrInvalidEndpoint},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := New(tt.cfg)
			if tt.want == "" {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("New = %v, %v; want %v", p, err, tt.wantErr)
				}
				if !strings.HasPrefix(err.Error(), "passport: ") {
					t.Errorf("message %q lacks the package prefix", err)
				}
				checkNoSecret(t, err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.Endpoint() != tt.want {
				t.Errorf("Endpoint = %q, want %q", p.Endpoint(), tt.want)
			}
		})
	}
}

func TestHubSoft(t *testing.T) {
	p, err := HubSoft("api.cliente.hubsoft.com.br")
	if err != nil {
		t.Fatal(err)
	}
	if p.Endpoint() != "https://api.cliente.hubsoft.com.br/oauth/token" {
		t.Errorf("Endpoint = %q", p.Endpoint())
	}
	if _, err := HubSoft("http://api.cliente.hubsoft.com.br"); !errors.Is(err, tenantauth.ErrInsecureEndpoint) {
		t.Errorf("plain http: %v", err)
	}
}

func TestExchangeRequest(t *testing.T) {
	tests := []struct {
		name string
		req  tenantauth.TokenRequest
		want string // the exact JSON body
	}{
		{"hubsoft document", tenantauth.TokenRequest{Credentials: tenantauth.Credentials{
			ClientID: "3", ClientSecret: "ONe7Ns48Y30tB", Username: "teste@teste.com", Password: "1234"}},
			`{"grant_type":"password","client_id":"3","client_secret":"ONe7Ns48Y30tB","username":"teste@teste.com","password":"1234"}`},
		{"escaping", tenantauth.TokenRequest{Grant: tenantauth.GrantPassword, Credentials: creds},
			`{"grant_type":"password","client_id":"3","client_secret":"cs-ONe7Ns48Y30tB-x","username":"teste@teste.com","password":"pw-\"quoted\"\\back<slash>"}`},
		{"scopes", tenantauth.TokenRequest{Credentials: tenantauth.Credentials{
			ClientID: "3", ClientSecret: "s", Username: "u@x.com", Password: "p", Scopes: []string{"read", "write"}}},
			`{"grant_type":"password","client_id":"3","client_secret":"s","username":"u@x.com","password":"p","scope":"read write"}`},
		{"public client", tenantauth.TokenRequest{Credentials: tenantauth.Credentials{ClientID: "9", Username: "u@x.com", Password: "p"}},
			`{"grant_type":"password","client_id":"9","username":"u@x.com","password":"p"}`},
		{"refresh", tenantauth.TokenRequest{Grant: tenantauth.GrantRefreshToken, Credentials: creds, RefreshToken: refreshToken},
			`{"grant_type":"refresh_token","refresh_token":"` + refreshToken + `","client_id":"3","client_secret":"cs-ONe7Ns48Y30tB-x"}`},
		{"client credentials", tenantauth.TokenRequest{Credentials: tenantauth.Credentials{ClientID: "5", ClientSecret: "s", Scopes: []string{"*"}}},
			`{"grant_type":"client_credentials","client_id":"5","client_secret":"s","scope":"*"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newStandIn(t, 200, hubsoftResponse, "Content-Type", "application/json")
			p, err := HubSoft(srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := p.Exchange(context.Background(), tt.req); err != nil {
				t.Fatal(err)
			}
			got := srv.request()
			want := request{"POST", "/oauth/token", "application/json", "application/json", "", tt.want}
			if got != want {
				t.Errorf("request =\n%+v\nwant\n%+v", got, want)
			}
			if !json.Valid([]byte(got.body)) {
				t.Error("body is not valid JSON")
			}
		})
	}
}

func TestExchangeResponse(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		expires time.Duration
		refresh string
	}{
		{"hubsoft", hubsoftResponse, 30 * 24 * time.Hour, refreshToken},
		{"expires_in string", `{"token_type":"Bearer","expires_in":"31536000","access_token":"` + accessToken + `"}`, 365 * 24 * time.Hour, ""},
		{"lower-case bearer", `{"token_type":"bearer","expires_in":3600,"access_token":"` + accessToken + `"}`, time.Hour, ""},
		{"no token_type", `{"expires_in":3600,"access_token":"` + accessToken + `"}`, time.Hour, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newStandIn(t, 200, tt.body)
			p, _ := HubSoft(srv.URL)
			tok, err := p.Exchange(context.Background(), tenantauth.TokenRequest{Credentials: creds})
			if err != nil {
				t.Fatal(err)
			}
			if tok.AccessToken.Reveal() != accessToken || tok.RefreshToken.Reveal() != tt.refresh || tok.TokenType != "Bearer" {
				t.Errorf("token = %q %q %q", tok.AccessToken.Reveal(), tok.RefreshToken.Reveal(), tok.TokenType)
			}
			if got := tok.Expiry.Sub(tok.IssuedAt); got != tt.expires {
				t.Errorf("lifetime = %v, want %v", got, tt.expires)
			}
			// The document: Authorization is "{token_type} {access_token}".
			if got := tok.Authorization(); got != "Bearer "+accessToken {
				t.Errorf("Authorization = %q", got)
			}
		})
	}
}

func TestExchangeErrors(t *testing.T) {
	tests := []struct {
		name    string
		status  int
		body    string
		header  []string
		want    tenantauth.TokenError // Endpoint filled in
		invalid bool
	}{
		{name: "bad client", status: 401,
			body: `{"error":"invalid_client","error_description":"Client authentication failed","message":"Client authentication failed"}`,
			want: tenantauth.TokenError{StatusCode: 401, Code: "invalid_client", Description: "Client authentication failed",
				Message: "Client authentication failed"}, invalid: true},
		{name: "wrong password", status: 400,
			body: `{"error":"invalid_grant","error_description":"The user credentials were incorrect.","hint":"","message":"The user credentials were incorrect."}`,
			want: tenantauth.TokenError{StatusCode: 400, Code: "invalid_grant", Description: "The user credentials were incorrect.",
				Message: "The user credentials were incorrect."}, invalid: true},
		{name: "passport 12 password grant disabled", status: 400,
			body: `{"error":"unsupported_grant_type","error_description":"The authorization grant type is not supported by the authorization server.","hint":"Check that all required parameters have been provided","message":"The authorization grant type is not supported by the authorization server."}`,
			want: tenantauth.TokenError{StatusCode: 400, Code: "unsupported_grant_type",
				Description: "The authorization grant type is not supported by the authorization server.",
				Hint:        "Check that all required parameters have been provided",
				Message:     "The authorization grant type is not supported by the authorization server."}},
		{name: "empty 400", status: 400, want: tenantauth.TokenError{StatusCode: 400}},
		{name: "empty 403", status: 403, want: tenantauth.TokenError{StatusCode: 403}},
		{name: "html 502", status: 502, body: "<!DOCTYPE html>\n<title>Bad Gateway</title>",
			want: tenantauth.TokenError{StatusCode: 502, Body: "<!DOCTYPE html> <title>Bad Gateway</title>"}},
		{name: "429 seconds", status: 429, header: []string{"Retry-After", "60"}, body: `{"message":"Too Many Attempts."}`,
			want: tenantauth.TokenError{StatusCode: 429, Message: "Too Many Attempts.", RetryAfter: time.Minute}},
		{name: "503 date", status: 503, header: []string{"Retry-After", "Fri, 31 Dec 1999 23:59:59 GMT"},
			want: tenantauth.TokenError{StatusCode: 503}}, // a past date: no delay
		{name: "laravel debug page echoing the request", status: 500,
			body: "<pre>Illuminate\\Database\\QueryException: password=" + password + " client_secret=" + clientSecret + "</pre>",
			want: tenantauth.TokenError{StatusCode: 500, Body: `<pre>Illuminate\Database\QueryException: password=[REDACTED] client_secret=[REDACTED]</pre>`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newStandIn(t, tt.status, tt.body, tt.header...)
			p, _ := HubSoft(srv.URL)
			_, err := p.Exchange(context.Background(), tenantauth.TokenRequest{Credentials: creds})
			var te *tenantauth.TokenError
			if !errors.As(err, &te) {
				t.Fatalf("err = %v, want *TokenError", err)
			}
			want := tt.want
			want.Endpoint = srv.URL + "/oauth/token"
			if *te != want {
				t.Errorf("TokenError =\n%#v\nwant\n%#v", *te, want)
			}
			if got := errors.Is(err, tenantauth.ErrInvalidCredentials); got != tt.invalid {
				t.Errorf("Is(ErrInvalidCredentials) = %v, want %v", got, tt.invalid)
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
		{"hubsoft example as printed", hubsoftExampleAsPrinted},
		{"login page", "<html><form>login</form></html>"},
		{"array", `[]`},
		{"huge", strings.Repeat(" ", tokenclient.MaxBodySize) + hubsoftResponse},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newStandIn(t, 200, tt.body)
			p, _ := HubSoft(srv.URL)
			tok, err := p.Exchange(context.Background(), tenantauth.TokenRequest{Credentials: creds})
			if err == nil || tok != nil {
				t.Fatalf("Exchange = %v, %v; want error", tok, err)
			}
			if !errors.Is(err, tokenclient.ErrMalformedResponse) && !errors.Is(err, tokenclient.ErrBodyTooLarge) {
				t.Errorf("err = %v", err)
			}
			checkNoSecret(t, err)
		})
	}
}

func TestExchangeRefusedWithoutIO(t *testing.T) {
	tests := []struct {
		name string
		req  tenantauth.TokenRequest
		want error
	}{
		{"unknown grant", tenantauth.TokenRequest{Grant: "authorization_code", Credentials: creds}, ErrUnsupportedGrant},
		{"no username", tenantauth.TokenRequest{Grant: tenantauth.GrantPassword, Credentials: tenantauth.Credentials{ClientID: "3", ClientSecret: clientSecret}}, ErrIncompleteCredentials},
		{"no client id", tenantauth.TokenRequest{Credentials: tenantauth.Credentials{Username: "u@x.com", Password: password}}, ErrIncompleteCredentials},
		{"refresh without token", tenantauth.TokenRequest{Grant: tenantauth.GrantRefreshToken, Credentials: creds}, ErrIncompleteCredentials},
		{"password not UTF-8", tenantauth.TokenRequest{Credentials: tenantauth.Credentials{ClientID: "3", Username: "u@x.com", Password: password + "\xff"}}, nil},
		{"secret not UTF-8", tenantauth.TokenRequest{Credentials: tenantauth.Credentials{ClientID: "3", ClientSecret: clientSecret + "\xc3", Username: "u", Password: "p"}}, nil},
	}
	srv := newStandIn(t, 200, hubsoftResponse)
	p, _ := HubSoft(srv.URL)
	for _, tt := range tests {
		_, err := p.Exchange(context.Background(), tt.req)
		if err == nil || (tt.want != nil && !errors.Is(err, tt.want)) || !strings.HasPrefix(err.Error(), "passport: ") {
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
	p, _ := HubSoft(srv.URL)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := p.Exchange(ctx, tenantauth.TokenRequest{Credentials: creds})
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
	// A context that is already done sends nothing.
	s := newStandIn(t, 200, hubsoftResponse)
	p, _ = HubSoft(s.URL)
	if _, err := p.Exchange(ctx, tenantauth.TokenRequest{Credentials: creds}); !errors.Is(err, context.Canceled) || s.hits.Load() != 0 {
		t.Errorf("done context: %v, %d requests", err, s.hits.Load())
	}
}

func TestExchangeRefusesRedirect(t *testing.T) {
	second := newStandIn(t, 200, hubsoftResponse)
	first := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, second.URL+"/oauth/token", http.StatusTemporaryRedirect)
	}))
	defer first.Close()
	user := &http.Client{}
	for _, opts := range [][]Option{nil, {WithHTTPClient(user)}} {
		p, err := HubSoft(first.URL, opts...)
		if err != nil {
			t.Fatal(err)
		}
		tok, err := p.Exchange(context.Background(), tenantauth.TokenRequest{Credentials: creds})
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
		io.WriteString(w, hubsoftResponse)
	}))
	defer srv.Close()
	p, err := HubSoft(srv.URL, WithHTTPClient(srv.Client()))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := p.Exchange(context.Background(), tenantauth.TokenRequest{Credentials: creds})
	if err != nil || tok.AccessToken.Reveal() != accessToken {
		t.Fatalf("Exchange = %v, %v", tok, err)
	}
	p, _ = HubSoft(srv.URL)
	if _, err := p.Exchange(context.Background(), tenantauth.TokenRequest{Credentials: creds}); err == nil {
		t.Fatal("untrusted certificate accepted")
	}
}

func TestProviderHoldsNoSecret(t *testing.T) {
	srv := newStandIn(t, 200, hubsoftResponse)
	p, _ := HubSoft(srv.URL)
	if _, err := p.Exchange(context.Background(), tenantauth.TokenRequest{Credentials: creds}); err != nil {
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
	srv := newStandIn(t, 200, hubsoftResponse)
	p, _ := HubSoft(srv.URL)
	const workers, each = 32, 8
	var wg sync.WaitGroup
	var failures atomic.Int32
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				tok, err := p.Exchange(context.Background(), tenantauth.TokenRequest{Credentials: creds})
				if err != nil || tok.AccessToken.Reveal() != accessToken {
					failures.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if f := failures.Load(); f != 0 {
		t.Errorf("%d failed exchanges", f)
	}
	if n := srv.hits.Load(); n != workers*each {
		t.Errorf("server saw %d requests, want %d", n, workers*each)
	}
}

func TestNoGoroutineLeak(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, hubsoftResponse)
	}))
	defer srv.Close()
	base := runtime.NumGoroutine()
	p, _ := HubSoft(srv.URL)
	for i := 0; i < 5; i++ {
		if _, err := p.Exchange(context.Background(), tenantauth.TokenRequest{Credentials: creds}); err != nil {
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

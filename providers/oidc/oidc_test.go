package oidc

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tenantauth/tenantauth"
	"github.com/tenantauth/tenantauth/breaker"
	"github.com/tenantauth/tenantauth/clientauth"
	"github.com/tenantauth/tenantauth/providers/tokenclient"
	"github.com/tenantauth/tenantauth/tenantauthtest"
)

var ccRequest = tenantauth.TokenRequest{Credentials: testCreds}

func TestNewSendsNothing(t *testing.T) {
	s := newIDP(t)
	for _, cfg := range []Config{
		{Issuer: s.URL},
		{Issuer: s.URL + "/"},
		{TokenURL: s.URL + "/token"},
		{Issuer: s.URL, TokenURL: s.URL + "/token", AuthMethod: tokenclient.ClientSecretPost},
	} {
		p := mustNew(t, cfg)
		_ = p.Endpoint()
		p.CloseIdleConnections()
	}
	if n := s.discoveries.Load() + s.tokens.Load() + s.other.Load(); n != 0 {
		t.Fatalf("New sent %d requests", n)
	}
}

func TestNewConfig(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr error  // nil: no error
		wantEP  string // Endpoint, when no error
	}{
		{"issuer", Config{Issuer: "https://idp.example.com/"}, nil, "https://idp.example.com"},
		{"issuer with path", Config{Issuer: "https://idp.example.com/oauth2/default"}, nil, "https://idp.example.com/oauth2/default"},
		{"token URL", Config{TokenURL: "https://idp.example.com/token"}, nil, "https://idp.example.com/token"},
		{"token URL wins", Config{Issuer: "https://idp.example.com", TokenURL: "https://other.example.com/token"}, nil, "https://other.example.com/token"},
		{"loopback http", Config{Issuer: "http://127.0.0.1:8080"}, nil, "http://127.0.0.1:8080"},
		{"localhost http", Config{Issuer: "http://localhost:8080/realms/x"}, nil, "http://localhost:8080/realms/x"},
		{"insecure allowed", Config{Issuer: "http://idp.internal", AllowInsecureHTTP: true}, nil, "http://idp.internal"},
		{"none", Config{}, tokenclient.ErrInvalidEndpoint, ""},
		{"insecure issuer", Config{Issuer: "http://idp.example.com"}, tenantauth.ErrInsecureEndpoint, ""},
		{"insecure token URL", Config{TokenURL: "http://idp.example.com/token"}, tenantauth.ErrInsecureEndpoint, ""},
		{"insecure issuer with token URL", Config{Issuer: "http://idp.example.com", TokenURL: "https://idp.example.com/token"}, tenantauth.ErrInsecureEndpoint, ""},
		{"issuer with query", Config{Issuer: "https://idp.example.com/?tenant=1"}, tokenclient.ErrInvalidEndpoint, ""},
		{"issuer with user info", Config{Issuer: "https://u:p@idp.example.com"}, tokenclient.ErrInvalidEndpoint, ""},
		{"relative issuer", Config{Issuer: "idp.example.com"}, tokenclient.ErrInvalidEndpoint, ""},
		{"unknown auth method", Config{Issuer: "https://idp.example.com", AuthMethod: "private_key_jwt"}, errors.New(""), ""},
		{"negative timeout", Config{Issuer: "https://idp.example.com", DiscoveryTimeout: -1}, errors.New(""), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := New(tt.cfg)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				if got := p.Endpoint(); got != tt.wantEP {
					t.Errorf("Endpoint() = %q, want %q", got, tt.wantEP)
				}
				return
			}
			if err == nil {
				t.Fatal("New succeeded")
			}
			if tt.wantErr.Error() != "" && !errors.Is(err, tt.wantErr) {
				t.Errorf("err = %v, want %v", err, tt.wantErr)
			}
			if !strings.HasPrefix(err.Error(), "oidc: ") || strings.Contains(err.Error(), "u:p") {
				t.Errorf("err = %q", err)
			}
		})
	}
}

// TestAuthMethod checks which client authentication reaches the token
// endpoint, chosen by the discovery document or by Config.
func TestAuthMethod(t *testing.T) {
	tests := []struct {
		name    string
		methods []string // the document's list; nil: omitted
		config  tokenclient.AuthMethod
		direct  bool // Config.TokenURL instead of Issuer
		want    string
	}{
		{"document omits: basic", nil, "", false, "client_secret_basic"},
		{"document prefers nothing: basic first", []string{"client_secret_post", "client_secret_basic"}, "", false, "client_secret_basic"},
		{"document: post only", []string{"client_secret_post", "private_key_jwt"}, "", false, "client_secret_post"},
		{"config overrides document", []string{"client_secret_basic"}, tokenclient.ClientSecretPost, false, "client_secret_post"},
		{"token URL: basic", nil, "", true, "client_secret_basic"},
		{"token URL: post", nil, tokenclient.ClientSecretPost, true, "client_secret_post"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newIDP(t, tt.methods...)
			if tt.methods == nil {
				s.setDocument(s.document())
			}
			cfg := Config{Issuer: s.URL, AuthMethod: tt.config}
			if tt.direct {
				cfg = Config{TokenURL: s.URL + "/token", AuthMethod: tt.config}
			}
			p := mustNew(t, cfg)
			tok, err := p.Exchange(context.Background(), ccRequest)
			if err != nil {
				t.Fatalf("Exchange: %v", err)
			}
			if got := s.method(); got != tt.want {
				t.Errorf("client authenticated with %s, want %s", got, tt.want)
			}
			if tok.AccessToken.Reveal() != "at-"+tt.want || tok.TokenType != "Bearer" {
				t.Errorf("token %q %q", tok.AccessToken.Reveal(), tok.TokenType)
			}
			wantDisc := int64(1)
			if tt.direct {
				wantDisc = 0
			}
			if n := s.discoveries.Load(); n != wantDisc {
				t.Errorf("%d discovery requests, want %d", n, wantDisc)
			}
		})
	}
}

func TestDiscoveryUnsupportedMethods(t *testing.T) {
	s := newIDP(t, "PRIVATE_KEY_JWT", "bogus")
	p := mustNew(t, Config{Issuer: s.URL})
	_, err := p.Exchange(context.Background(), ccRequest)
	if !errors.Is(err, ErrDiscovery) || !strings.Contains(err.Error(), "Config.AuthMethod") {
		t.Fatalf("err = %v", err)
	}
	if s.tokens.Load() != 0 {
		t.Error("a token request was sent")
	}
	// Configured, the method is used although the document does not list it.
	p = mustNew(t, Config{Issuer: s.URL, AuthMethod: tokenclient.ClientSecretPost})
	if _, err := p.Exchange(context.Background(), ccRequest); err != nil {
		t.Fatalf("Exchange: %v", err)
	}
}

// TestDiscoveryAuthenticatorOnly: a server whose document lists only
// methods of Credentials.Auth (client_secret_jwt here) serves tenants that
// bring an Authenticator; a tenant without one is refused as incomplete
// (its record, not the endpoint, is at fault) before any token request.
func TestDiscoveryAuthenticatorOnly(t *testing.T) {
	const secret = "a-client-secret-of-32-bytes-or-more!"
	srv := tenantauthtest.NewStandard(tenantauthtest.Config{AuthMethod: "client_secret_jwt",
		Clients: map[string]string{"jwt-client": secret}})
	defer srv.Close()
	p := mustNew(t, Config{Issuer: srv.Issuer(), HTTPClient: srv.Client()})
	defer p.CloseIdleConnections()
	bare := tenantauth.TokenRequest{Credentials: tenantauth.Credentials{ClientID: "jwt-client", ClientSecret: secret}}
	if _, err := p.Exchange(context.Background(), bare); !errors.Is(err, tenantauth.ErrIncompleteCredentials) || errors.Is(err, ErrDiscovery) {
		t.Errorf("without Auth: err = %v; want ErrIncompleteCredentials", err)
	}
	withAuth := tenantauth.TokenRequest{Credentials: tenantauth.Credentials{ClientID: "jwt-client",
		Auth: clientauth.ClientSecretJWT{Secret: []byte(secret), Audience: srv.TokenURL()}}}
	if _, err := p.Exchange(context.Background(), withAuth); err != nil {
		t.Fatalf("with Auth: %v", err)
	}
	if st := srv.Stats(); st.TokenRequests != 1 || st.TokenErrors != 0 {
		t.Errorf("%d token requests, %d refused; want 1, 0", st.TokenRequests, st.TokenErrors)
	}
}

// TestDiscoveryCached checks that one discovery serves every later call,
// TokenURL and Exchange alike, and that Endpoint does not change.
func TestDiscoveryCached(t *testing.T) {
	s := newIDP(t)
	p := mustNew(t, Config{Issuer: s.URL + "/"})
	before := p.Endpoint()
	u, err := p.TokenURL(context.Background())
	if err != nil || u != s.URL+"/token" {
		t.Fatalf("TokenURL = %q, %v", u, err)
	}
	for range 5 {
		if _, err := p.Exchange(context.Background(), ccRequest); err != nil {
			t.Fatal(err)
		}
	}
	if n := s.discoveries.Load(); n != 1 {
		t.Errorf("%d discovery requests, want 1", n)
	}
	if after := p.Endpoint(); after != before || after != s.URL {
		t.Errorf("Endpoint %q before discovery, %q after; want %q", before, after, s.URL)
	}
}

func TestTokenURLNoDiscovery(t *testing.T) {
	s := newIDP(t)
	p := mustNew(t, Config{Issuer: "https://issuer.example.com", TokenURL: s.URL + "/token"})
	u, err := p.TokenURL(context.Background())
	if err != nil || u != s.URL+"/token" {
		t.Fatalf("TokenURL = %q, %v", u, err)
	}
	if _, err := p.Exchange(context.Background(), ccRequest); err != nil {
		t.Fatal(err)
	}
	if n := s.discoveries.Load(); n != 0 {
		t.Errorf("%d discovery requests with TokenURL set", n)
	}
}

func TestIssuerMismatch(t *testing.T) {
	tests := []struct {
		name, docIssuer string
		ok              bool
	}{
		{"same", "", true},
		{"document adds a slash", "/", true},
		{"other host", "https://evil.example.com", false},
		{"other path", "/tenant-2", false},
		{"long hostile", "https://evil.example.com/" + strings.Repeat("\n\x1b[31m", 5000), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newIDP(t)
			doc := s.document()
			if strings.HasPrefix(tt.docIssuer, "/") {
				doc["issuer"] = s.URL + tt.docIssuer
			} else if tt.docIssuer != "" {
				doc["issuer"] = tt.docIssuer
			}
			s.setDocument(doc)
			p := mustNew(t, Config{Issuer: s.URL})
			_, err := p.Exchange(context.Background(), ccRequest)
			if tt.ok {
				if err != nil {
					t.Fatalf("Exchange: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrIssuerMismatch) || !errors.Is(err, ErrDiscovery) {
				t.Fatalf("err = %v, want ErrIssuerMismatch and ErrDiscovery", err)
			}
			checkErrorText(t, err)
			if s.tokens.Load() != 0 {
				t.Error("a token request was sent")
			}
		})
	}
	t.Run("configured with a slash", func(t *testing.T) {
		s := newIDP(t)
		p := mustNew(t, Config{Issuer: s.URL + "/"})
		if _, err := p.Exchange(context.Background(), ccRequest); err != nil {
			t.Fatalf("Exchange: %v", err)
		}
	})
}

// checkErrorText checks that an error text is bounded and printable.
func checkErrorText(t *testing.T, err error) {
	t.Helper()
	text := err.Error()
	if len(text) > 1000 {
		t.Errorf("error text of %d bytes", len(text))
	}
	if strings.ContainsAny(text, "\n\r\x1b\x00") {
		t.Errorf("error text with control characters: %q", text)
	}
	if strings.Contains(text, testClientSecret) {
		t.Errorf("error text contains the secret: %q", text)
	}
}

func TestDiscoveryTimeout(t *testing.T) {
	s := newIDP(t)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	s.setDiscover(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	p := mustNew(t, Config{Issuer: s.URL, DiscoveryTimeout: 50 * time.Millisecond})
	_, err := p.Exchange(context.Background(), ccRequest)
	if !errors.Is(err, ErrDiscovery) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want ErrDiscovery and context.DeadlineExceeded", err)
	}
	if !strings.Contains(err.Error(), "DiscoveryTimeout") {
		t.Errorf("err = %q", err)
	}
	checkErrorText(t, err)
}

func TestDocumentSize(t *testing.T) {
	pad := func(s *testIDP, size int) []byte {
		doc := fmt.Sprintf(`{"issuer":%q,"token_endpoint":%q,"x":""}`, s.URL, s.URL+"/token")
		return []byte(doc[:len(doc)-2] + strings.Repeat(" ", size-len(doc)) + `"}`)
	}
	tests := []struct {
		name  string
		serve func(s *testIDP, w http.ResponseWriter)
		ok    bool
	}{
		{"exactly the limit", func(s *testIDP, w http.ResponseWriter) { w.Write(pad(s, MaxDocumentSize)) }, true},
		{"one byte more, chunked", func(s *testIDP, w http.ResponseWriter) {
			b := pad(s, MaxDocumentSize+1)
			w.Write(b[:100])
			w.(http.Flusher).Flush()
			w.Write(b[100:])
		}, false},
		{"announced by Content-Length", func(s *testIDP, w http.ResponseWriter) {
			w.Header().Set("Content-Length", strconv.Itoa(MaxDocumentSize+1))
			w.Write(pad(s, MaxDocumentSize+1))
		}, false},
		{"endless", func(s *testIDP, w http.ResponseWriter) {
			io.WriteString(w, `{"issuer":"`)
			chunk := []byte(strings.Repeat("a", 4096))
			for {
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newIDP(t)
			s.setDiscover(func(w http.ResponseWriter, r *http.Request) { tt.serve(s, w) })
			p := mustNew(t, Config{Issuer: s.URL})
			_, err := p.TokenURL(context.Background())
			if tt.ok {
				if err != nil {
					t.Fatalf("TokenURL: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrDocumentTooLarge) || !errors.Is(err, ErrDiscovery) {
				t.Fatalf("err = %v, want ErrDocumentTooLarge", err)
			}
			checkErrorText(t, err)
		})
	}
}

func TestDiscoveryRedirectRefused(t *testing.T) {
	s := newIDP(t)
	s.setDiscover(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/elsewhere/.well-known/openid-configuration", http.StatusFound)
	})
	p := mustNew(t, Config{Issuer: s.URL})
	_, err := p.Exchange(context.Background(), ccRequest)
	if !errors.Is(err, ErrDiscovery) || !errors.Is(err, tenantauth.ErrRedirect) {
		t.Fatalf("err = %v, want ErrDiscovery and ErrRedirect", err)
	}
	checkErrorText(t, err)
	if n := s.discoveries.Load(); n != 1 {
		t.Errorf("%d discovery requests: the redirect was followed", n)
	}
	// A redirect alone would make the Manager remember a tenant as refused;
	// as a discovery failure it is the endpoint's, not the tenant's.
	assertEndpointFault(t, err)
}

// assertEndpointFault checks that err counts against the endpoint and is
// no tenant's fault.
func assertEndpointFault(t *testing.T, err error) {
	t.Helper()
	if got := breaker.Classify(err); got != breaker.Failure {
		t.Errorf("breaker.Classify = %v, want failure", got)
	}
	var tf interface{ TenantFault() bool }
	if errors.As(err, &tf) && tf.TenantFault() {
		t.Error("TenantFault() = true")
	}
}

func TestInsecureTokenEndpointInDocument(t *testing.T) {
	for _, allow := range []bool{false, true} {
		t.Run(fmt.Sprint("AllowInsecureHTTP=", allow), func(t *testing.T) {
			s := newIDP(t)
			doc := s.document()
			doc["token_endpoint"] = "http://token.example.com/oauth2/token?x=" + strings.Repeat("y", 1000)
			s.setDocument(doc)
			p := mustNew(t, Config{Issuer: s.URL, AllowInsecureHTTP: allow})
			_, err := p.TokenURL(context.Background())
			// The query is refused either way; without it, plain http only when allowed.
			if !errors.Is(err, ErrDiscovery) || !errors.Is(err, tokenclient.ErrInvalidEndpoint) {
				t.Fatalf("err = %v", err)
			}
			checkErrorText(t, err)

			s = newIDP(t)
			doc = s.document()
			doc["token_endpoint"] = "http://token.example.com/oauth2/token"
			s.setDocument(doc)
			p = mustNew(t, Config{Issuer: s.URL, AllowInsecureHTTP: allow})
			u, err := p.TokenURL(context.Background())
			if allow {
				if err != nil || u != "http://token.example.com/oauth2/token" {
					t.Fatalf("TokenURL = %q, %v", u, err)
				}
				return
			}
			if !errors.Is(err, ErrDiscovery) || !errors.Is(err, tenantauth.ErrInsecureEndpoint) {
				t.Fatalf("err = %v, want ErrInsecureEndpoint", err)
			}
			assertEndpointFault(t, err)
		})
	}
}

func TestRFC8414Fallback(t *testing.T) {
	s := newIDP(t)
	issuer := s.URL + "/tenants/acme"
	var paths []string
	var mu sync.Mutex
	s.setDiscover(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.URL.Path)
		mu.Unlock()
		if r.URL.Path != "/.well-known/oauth-authorization-server/tenants/acme" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintf(w, `{"issuer":%q,"token_endpoint":%q}`, issuer, s.URL+"/token")
	})
	p := mustNew(t, Config{Issuer: issuer})
	u, err := p.TokenURL(context.Background())
	if err != nil || u != s.URL+"/token" {
		t.Fatalf("TokenURL = %q, %v", u, err)
	}
	want := []string{"/tenants/acme/.well-known/openid-configuration", "/.well-known/oauth-authorization-server/tenants/acme"}
	if fmt.Sprint(paths) != fmt.Sprint(want) {
		t.Errorf("requested %q, want %q", paths, want)
	}

	// Both 404: one error naming both URLs.
	s2 := newIDP(t)
	s2.setDiscover(http.NotFound)
	p = mustNew(t, Config{Issuer: s2.URL})
	_, err = p.TokenURL(context.Background())
	if !errors.Is(err, ErrDiscovery) || !strings.Contains(err.Error(), "openid-configuration: status 404") ||
		!strings.Contains(err.Error(), "oauth-authorization-server: status 404") {
		t.Fatalf("err = %v", err)
	}
	if n := s2.discoveries.Load(); n != 2 {
		t.Errorf("%d discovery requests, want 2", n)
	}
}

func TestNoFallbackOnOtherStatus(t *testing.T) {
	s := newIDP(t)
	s.setDiscover(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "down", http.StatusServiceUnavailable) })
	p := mustNew(t, Config{Issuer: s.URL})
	_, err := p.TokenURL(context.Background())
	if !errors.Is(err, ErrDiscovery) || !strings.Contains(err.Error(), "status 503") {
		t.Fatalf("err = %v", err)
	}
	if n := s.discoveries.Load(); n != 1 {
		t.Errorf("%d discovery requests, want 1", n)
	}
}

func TestMalformedDocument(t *testing.T) {
	tests := []struct {
		name, contentType, body, want string
	}{
		{"html login page", "text/html; charset=utf-8", "<!doctype html><title>Sign in</title>", `not a JSON object (Content-Type "text/html")`},
		{"truncated", "application/json", `{"issuer":"x",`, "not valid JSON"},
		{"no token endpoint", "application/json", `{"issuer":"ISSUER"}`, "no token_endpoint"},
		{"issuer is a number", "application/json", `{"issuer":5,"token_endpoint":"https://a/t"}`, "issuer is not a string"},
		{"binary", "application/octet-stream", "\x00\xff\xfe{", `not a JSON object (Content-Type "application/octet-stream")`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newIDP(t)
			s.setDiscover(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", tt.contentType)
				io.WriteString(w, strings.ReplaceAll(tt.body, "ISSUER", s.URL))
			})
			p := mustNew(t, Config{Issuer: s.URL})
			_, err := p.Exchange(context.Background(), ccRequest)
			if !errors.Is(err, ErrDiscovery) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want ErrDiscovery with %q", err, tt.want)
			}
			checkErrorText(t, err)
			assertEndpointFault(t, err)
		})
	}
}

func TestContentTypeTolerated(t *testing.T) {
	for _, ct := range []string{"", "application/json", "application/json; charset=UTF-8", "text/plain", "application/jrd+json", "nonsense;;"} {
		t.Run(ct, func(t *testing.T) {
			s := newIDP(t)
			s.setDiscover(func(w http.ResponseWriter, r *http.Request) {
				w.Header()["Content-Type"] = []string{ct}
				fmt.Fprintf(w, `{"issuer":%q,"token_endpoint":%q}`, s.URL, s.URL+"/token")
			})
			p := mustNew(t, Config{Issuer: s.URL})
			if _, err := p.TokenURL(context.Background()); err != nil {
				t.Fatalf("TokenURL: %v", err)
			}
		})
	}
}

// TestDiscoveryBackoff: while discovery fails, a storm of calls makes one
// request; the next one goes out only when the backoff has passed, which
// doubles per failure; a success is kept for good.
func TestDiscoveryBackoff(t *testing.T) {
	s := newIDP(t)
	good := s.document()
	var mu sync.Mutex
	failing := true
	gate := make(chan struct{})
	s.setDiscover(func(w http.ResponseWriter, r *http.Request) {
		<-gate
		mu.Lock()
		f := failing
		mu.Unlock()
		if f {
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"issuer":%q,"token_endpoint":%q}`, good["issuer"], good["token_endpoint"])
	})
	clk := newFakeClock()
	p := withClock(mustNew(t, Config{Issuer: s.URL}), clk)

	// A storm of 100 concurrent calls during the first, failing discovery.
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := p.Exchange(context.Background(), ccRequest)
			errs <- err
		}()
	}
	close(gate)
	wg.Wait()
	close(errs)
	for err := range errs {
		if !errors.Is(err, ErrDiscovery) || !strings.Contains(err.Error(), "status 500") {
			t.Fatalf("err = %v", err)
		}
	}
	expectDiscoveries := func(want int64) {
		t.Helper()
		if n := s.discoveries.Load(); n != want {
			t.Fatalf("%d discovery requests, want %d", n, want)
		}
	}
	expectDiscoveries(1)

	call := func() error {
		_, err := p.Exchange(context.Background(), ccRequest)
		return err
	}
	// In backoff (1 s after the first failure): fail fast with the last error.
	clk.Advance(time.Second - time.Nanosecond)
	if err := call(); !errors.Is(err, ErrDiscovery) {
		t.Fatalf("err = %v", err)
	}
	expectDiscoveries(1)

	// Backoff over: one more attempt, failing again; now 2 s.
	clk.Advance(time.Nanosecond)
	if err := call(); !errors.Is(err, ErrDiscovery) {
		t.Fatalf("err = %v", err)
	}
	expectDiscoveries(2)
	clk.Advance(time.Second)
	for range 10 {
		if err := call(); !errors.Is(err, ErrDiscovery) {
			t.Fatalf("err = %v", err)
		}
	}
	expectDiscoveries(2)

	// The server recovers; after the 2 s backoff discovery succeeds, for good.
	mu.Lock()
	failing = false
	mu.Unlock()
	clk.Advance(time.Second)
	if err := call(); err != nil {
		t.Fatalf("after recovery: %v", err)
	}
	expectDiscoveries(3)
	clk.Advance(24 * time.Hour)
	for range 10 {
		if err := call(); err != nil {
			t.Fatal(err)
		}
	}
	expectDiscoveries(3)
	if n := s.tokens.Load(); n != 11 {
		t.Errorf("%d token requests, want 11", n)
	}
}

// TestDiscoveryBackoffCapped checks the waits between discoveries of an
// issuer that keeps failing: 1 s doubling, capped at 5 min.
func TestDiscoveryBackoffCapped(t *testing.T) {
	s := newIDP(t)
	s.setDiscover(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "", http.StatusBadGateway) })
	clk := newFakeClock()
	p := withClock(mustNew(t, Config{Issuer: s.URL}), clk)
	for i := range 15 {
		start := clk.Now()
		if _, err := p.TokenURL(context.Background()); err == nil {
			t.Fatal("TokenURL succeeded")
		}
		p.mu.Lock()
		wait := p.retryAt.Sub(start)
		p.mu.Unlock()
		if want := backoffDelay(i + 1); wait != want {
			t.Fatalf("wait after failure %d = %v, want %v", i+1, wait, want)
		}
		clk.Advance(wait)
	}
	if n := s.discoveries.Load(); n != 15 {
		t.Errorf("%d discovery requests, want 15", n)
	}
}

// TestCallerGivesUp: a caller whose context ends stops waiting, but the
// discovery goes on and serves the next callers.
func TestCallerGivesUp(t *testing.T) {
	s := newIDP(t)
	gate := make(chan struct{})
	arrived := make(chan struct{}, 1)
	doc := s.document()
	s.setDiscover(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-gate
		fmt.Fprintf(w, `{"issuer":%q,"token_endpoint":%q}`, doc["issuer"], doc["token_endpoint"])
	})
	p := mustNew(t, Config{Issuer: s.URL})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := p.Exchange(ctx, ccRequest)
		done <- err
	}()
	<-arrived
	cancel()
	err := <-done
	if !errors.Is(err, context.Canceled) || errors.Is(err, ErrDiscovery) {
		t.Fatalf("err = %v, want context.Canceled only", err)
	}
	close(gate)
	if _, err := p.Exchange(context.Background(), ccRequest); err != nil {
		t.Fatalf("Exchange: %v", err)
	}
	if n := s.discoveries.Load(); n != 1 {
		t.Errorf("%d discovery requests, want 1", n)
	}
}

// TestIncompleteRequestNoDiscovery: a tenant record that cannot make a
// request fails without causing a discovery.
func TestIncompleteRequestNoDiscovery(t *testing.T) {
	s := newIDP(t)
	p := mustNew(t, Config{Issuer: s.URL})
	_, err := p.Exchange(context.Background(), tenantauth.TokenRequest{Credentials: tenantauth.Credentials{ClientID: "x"}})
	if !errors.Is(err, tenantauth.ErrIncompleteCredentials) {
		t.Fatalf("err = %v", err)
	}
	_, err = p.Exchange(context.Background(), tenantauth.TokenRequest{Grant: "urn:ietf:params:oauth:grant-type:jwt-bearer", Credentials: testCreds})
	if !errors.Is(err, tenantauth.ErrUnsupportedGrant) {
		t.Fatalf("err = %v", err)
	}
	if n := s.discoveries.Load(); n != 0 {
		t.Errorf("%d discovery requests", n)
	}
}

// TestEndpointParams: Credentials.EndpointParams reach the discovered token
// endpoint (Auth0's audience).
func TestEndpointParams(t *testing.T) {
	s := newIDP(t)
	p := mustNew(t, Config{Issuer: s.URL})
	req := ccRequest
	req.Credentials.EndpointParams = map[string][]string{"audience": {"https://api.example.com"}}
	tok, err := p.Exchange(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if tok.Scope != "aud:https://api.example.com" {
		t.Errorf("scope %q: audience not sent", tok.Scope)
	}
}

func TestExchangeRefused(t *testing.T) {
	s := newIDP(t)
	p := mustNew(t, Config{Issuer: s.URL})
	req := ccRequest
	req.Credentials.ClientSecret = "wrong"
	_, err := p.Exchange(context.Background(), req)
	var te *tenantauth.TokenError
	if !errors.As(err, &te) || te.Code != "invalid_client" || !errors.Is(err, tenantauth.ErrInvalidCredentials) {
		t.Fatalf("err = %v", err)
	}
	if te.Endpoint != s.URL+"/token" {
		t.Errorf("TokenError.Endpoint = %q", te.Endpoint)
	}
	if errors.Is(err, ErrDiscovery) {
		t.Error("a token endpoint refusal matches ErrDiscovery")
	}
}

// TestNoDowngradeFromHTTPS: an https issuer's document may not send token
// requests to plain http, not even on loopback, unless allowed.
func TestNoDowngradeFromHTTPS(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"issuer":"https://%s","token_endpoint":"http://127.0.0.1:9/token"}`, r.Host)
	}))
	defer srv.Close()
	p := mustNew(t, Config{Issuer: srv.URL, HTTPClient: srv.Client()})
	_, err := p.TokenURL(context.Background())
	if !errors.Is(err, tenantauth.ErrInsecureEndpoint) || !errors.Is(err, ErrDiscovery) {
		t.Fatalf("err = %v, want ErrInsecureEndpoint", err)
	}
	p = mustNew(t, Config{Issuer: srv.URL, HTTPClient: srv.Client(), AllowInsecureHTTP: true})
	if u, err := p.TokenURL(context.Background()); err != nil || u != "http://127.0.0.1:9/token" {
		t.Fatalf("TokenURL = %q, %v", u, err)
	}
}

// TestDiscoveryMTLSAlias: a document naming mtls_endpoint_aliases
// (RFC 8705 §5) sends the token requests of certificate tenants to the
// alias, a server that asks for client certificates, and every other
// tenant's to token_endpoint; an alias that is not a usable endpoint fails
// discovery.
func TestDiscoveryMTLSAlias(t *testing.T) {
	cert, leaf, err := tenantauthtest.NewClientCertificate("cert-client")
	if err != nil {
		t.Fatal(err)
	}
	ta, err := clientauth.NewTLSClientAuth(cert)
	if err != nil {
		t.Fatal(err)
	}
	mtls := tenantauthtest.NewStandard(tenantauthtest.Config{TLS: true, AuthMethod: "tls_client_auth",
		ClientCertificates: map[string][]*x509.Certificate{"cert-client": {leaf}}})
	defer mtls.Close()
	s := newIDP(t)
	doc := s.document()
	doc["mtls_endpoint_aliases"] = map[string]any{"token_endpoint": mtls.TokenURL()}
	s.setDocument(doc)
	p := mustNew(t, Config{Issuer: s.URL, HTTPClient: mtls.Client()})
	certReq := tenantauth.TokenRequest{Credentials: tenantauth.Credentials{ClientID: "cert-client", Auth: ta}}
	if _, err := p.Exchange(context.Background(), certReq); err != nil {
		t.Fatalf("certificate tenant: %v", err)
	}
	if _, err := p.Exchange(context.Background(), ccRequest); err != nil {
		t.Fatalf("secret tenant: %v", err)
	}
	if n, m := s.tokens.Load(), mtls.Stats().TokenRequests; n != 1 || m != 1 {
		t.Errorf("token_endpoint got %d requests, the alias %d; want 1 each", n, m)
	}

	bad := newIDP(t)
	doc = bad.document()
	doc["mtls_endpoint_aliases"] = map[string]any{"token_endpoint": "https://user:pw@mtls.example/token"}
	bad.setDocument(doc)
	p = mustNew(t, Config{Issuer: bad.URL})
	if _, err := p.Exchange(context.Background(), ccRequest); !errors.Is(err, ErrDiscovery) || strings.Contains(err.Error(), "pw") {
		t.Errorf("bad alias: err = %v; want ErrDiscovery without the password", err)
	}
}

package oidc

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tenantauth/tenantauth"
)

// Credentials the test servers know. The secret needs form-encoding in a
// Basic header (RFC 6749 §2.3.1).
const (
	testClientID     = "client:1"
	testClientSecret = "s3cret&=+ %"
)

var testCreds = tenantauth.Credentials{ClientID: testClientID, ClientSecret: testClientSecret}

// testIDP is an authorization server on 127.0.0.1 whose discovery answers the
// test controls. Its token endpoint, {URL}/token, accepts the test client by
// either method and records which it used.
type testIDP struct {
	*httptest.Server
	t *testing.T

	mu       sync.Mutex
	discover http.HandlerFunc // the answer at the well-known paths

	discoveries atomic.Int64 // requests to /.well-known/…
	tokens      atomic.Int64 // requests to /token
	other       atomic.Int64 // requests to anything else
	lastMethod  atomic.Value // "client_secret_basic" or "client_secret_post"
}

// newIDP starts a server whose discovery answers the standard document,
// listing methods as token_endpoint_auth_methods_supported (nil: omitted).
func newIDP(t *testing.T, methods ...string) *testIDP {
	t.Helper()
	s := &testIDP{t: t}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	s.setDocument(s.document(methods...))
	return s
}

// document returns the standard discovery document of s.
func (s *testIDP) document(methods ...string) map[string]any {
	doc := map[string]any{
		"issuer":                   s.URL,
		"token_endpoint":           s.URL + "/token",
		"grant_types_supported":    []string{"client_credentials", "password", "refresh_token"},
		"response_types_supported": []string{"code"},
	}
	if methods != nil {
		doc["token_endpoint_auth_methods_supported"] = methods
	}
	return doc
}

// setDocument makes discovery answer doc as JSON.
func (s *testIDP) setDocument(doc map[string]any) {
	b, err := json.Marshal(doc)
	if err != nil {
		s.t.Fatal(err)
	}
	s.setDiscover(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(b)
	})
}

// setDiscover makes discovery answer with h.
func (s *testIDP) setDiscover(h http.HandlerFunc) {
	s.mu.Lock()
	s.discover = h
	s.mu.Unlock()
}

func (s *testIDP) serve(w http.ResponseWriter, r *http.Request) {
	switch {
	case strings.Contains(r.URL.Path, "/.well-known/"):
		s.discoveries.Add(1)
		s.mu.Lock()
		h := s.discover
		s.mu.Unlock()
		h(w, r)
	case r.URL.Path == "/token":
		s.tokens.Add(1)
		s.token(w, r)
	default:
		s.other.Add(1)
		http.NotFound(w, r)
	}
}

// token answers a client_credentials request of the test client.
func (s *testIDP) token(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	body, _ := io.ReadAll(r.Body)
	form, _ := url.ParseQuery(string(body))
	id, secret, method := form.Get("client_id"), form.Get("client_secret"), "client_secret_post"
	if u, p, ok := r.BasicAuth(); ok {
		id, _ = url.QueryUnescape(u)
		secret, _ = url.QueryUnescape(p)
		method = "client_secret_basic"
	}
	s.lastMethod.Store(method)
	if id != testClientID || secret != testClientSecret {
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, `{"error":"invalid_client"}`)
		return
	}
	if form.Get("grant_type") != "client_credentials" {
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"error":"unsupported_grant_type"}`)
		return
	}
	resp := map[string]any{"access_token": "at-" + method, "token_type": "bearer", "expires_in": 3600}
	if aud := form.Get("audience"); aud != "" {
		resp["scope"] = "aud:" + aud
	}
	json.NewEncoder(w).Encode(resp)
}

// method returns the client authentication method of the last token request.
func (s *testIDP) method() string {
	m, _ := s.lastMethod.Load().(string)
	return m
}

// fakeClock is a settable clock for backoff tests.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// withClock makes p's discovery backoff use c, without jitter.
func withClock(p *Provider, c *fakeClock) *Provider {
	p.now = c.Now
	p.jitter = func(d time.Duration) time.Duration { return d }
	return p
}

// mustNew is New that fails the test on error.
func mustNew(t *testing.T, cfg Config) *Provider {
	t.Helper()
	p, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(p.CloseIdleConnections)
	return p
}

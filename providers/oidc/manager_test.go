package oidc_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"sync"
	"testing"

	"github.com/tenantauth/tenantauth"
	"github.com/tenantauth/tenantauth/providers/oidc"
	"github.com/tenantauth/tenantauth/tenantauthtest"
)

// TestManager runs a Manager on an oidc Provider that discovers a standard
// server's token endpoint: tenants get tokens the server's API accepts, the
// document is fetched once for all of them, and the Provider's Endpoint —
// the key of the Manager's breaker and admission limit — is the issuer
// before and after discovery.
func TestManager(t *testing.T) {
	s := tenantauthtest.NewStandard(tenantauthtest.Config{
		Clients:       map[string]string{"acme": "acme-secret", "globex": "globex-secret"},
		RequireParams: map[string]string{"audience": "https://api.example.com"},
	})
	defer s.Close()

	p, err := oidc.New(oidc.Config{Issuer: s.Issuer()})
	if err != nil {
		t.Fatal(err)
	}
	defer p.CloseIdleConnections()
	before := p.Endpoint()
	if before != s.Issuer() {
		t.Fatalf("Endpoint() = %q, want the issuer %q", before, s.Issuer())
	}

	aud := url.Values{"audience": {"https://api.example.com"}}
	m, err := tenantauth.New(tenantauth.Config{Tenants: tenantauth.Tenants{
		"acme":   {Provider: p, Credentials: tenantauth.Credentials{ClientID: "acme", ClientSecret: "acme-secret", EndpointParams: aud}, APIHosts: []string{"127.0.0.1"}},
		"globex": {Provider: p, Credentials: tenantauth.Credentials{ClientID: "globex", ClientSecret: "globex-secret", EndpointParams: aud}, APIHosts: []string{"127.0.0.1"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()

	var wg sync.WaitGroup
	for range 20 {
		for _, id := range []string{"acme", "globex"} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				tok, err := m.Token(context.Background(), id)
				if err != nil {
					t.Errorf("Token(%s): %v", id, err)
					return
				}
				if code := callAPI(s, tok); code != http.StatusOK {
					t.Errorf("Token(%s): the API answered %d", id, code)
				}
			}()
		}
	}
	wg.Wait()

	st := s.Stats()
	if st.Discovery != 1 {
		t.Errorf("%d discovery requests, want 1", st.Discovery)
	}
	if st.TokenRequests != 2 {
		t.Errorf("%d token requests, want 2 (one per tenant)", st.TokenRequests)
	}
	if after := p.Endpoint(); after != before {
		t.Errorf("Endpoint() = %q after discovery, %q before", after, before)
	}
	if u, err := p.TokenURL(context.Background()); err != nil || u != s.TokenURL() {
		t.Errorf("TokenURL = %q, %v; want %q", u, err, s.TokenURL())
	}
	for _, e := range m.Stats().Endpoints {
		if e.Endpoint != s.Issuer() {
			t.Errorf("the Manager tracks endpoint %q, want only the issuer %q", e.Endpoint, s.Issuer())
		}
	}
}

// TestManagerIssuerMismatch: a Manager reports a document naming another
// issuer as a discovery error, and no token request is sent.
func TestManagerIssuerMismatch(t *testing.T) {
	s := tenantauthtest.NewStandard(tenantauthtest.Config{
		Clients:         map[string]string{"acme": "acme-secret"},
		DiscoveryIssuer: "https://attacker.example.com",
	})
	defer s.Close()
	p, err := oidc.New(oidc.Config{Issuer: s.Issuer()})
	if err != nil {
		t.Fatal(err)
	}
	m, err := tenantauth.New(tenantauth.Config{Tenants: tenantauth.Tenants{
		"acme": {Provider: p, Credentials: tenantauth.Credentials{ClientID: "acme", ClientSecret: "acme-secret"}, APIHosts: []string{"127.0.0.1"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	_, err = m.Token(context.Background(), "acme")
	if !errors.Is(err, oidc.ErrIssuerMismatch) || !errors.Is(err, oidc.ErrDiscovery) {
		t.Fatalf("err = %v, want ErrIssuerMismatch", err)
	}
	if n := s.Stats().TokenRequests; n != 0 {
		t.Errorf("%d token requests", n)
	}
}

// TestManagerFallback: a plain OAuth 2.0 server (no OpenID Connect
// document) is found through RFC 8414.
func TestManagerFallback(t *testing.T) {
	s := tenantauthtest.NewStandard(tenantauthtest.Config{
		Clients:              map[string]string{"acme": "acme-secret"},
		DisableOIDCDiscovery: true,
		AuthMethod:           "client_secret_post",
	})
	defer s.Close()
	p, err := oidc.New(oidc.Config{Issuer: s.Issuer()})
	if err != nil {
		t.Fatal(err)
	}
	m, err := tenantauth.New(tenantauth.Config{Tenants: tenantauth.Tenants{
		"acme": {Provider: p, Credentials: tenantauth.Credentials{ClientID: "acme", ClientSecret: "acme-secret"}, APIHosts: []string{"127.0.0.1"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if _, err := m.Token(context.Background(), "acme"); err != nil {
		t.Fatal(err)
	}
	if n := s.Stats().Discovery; n != 2 {
		t.Errorf("%d discovery requests, want 2 (404, then RFC 8414)", n)
	}
}

// callAPI calls the server's API with tok and returns the status.
func callAPI(s *tenantauthtest.Server, tok *tenantauth.Token) int {
	req, err := http.NewRequest(http.MethodGet, s.APIURL()+"/whoami", nil)
	if err != nil {
		return 0
	}
	req.Header.Set("Authorization", tok.Authorization())
	resp, err := s.Client().Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

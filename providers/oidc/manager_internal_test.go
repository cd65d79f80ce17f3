package oidc

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/tenantauth/tenantauth"
)

// TestManagerDiscoveryFailureNotTenants: a discovery failure, even one
// caused by a redirect (which the Manager would remember as a tenant's
// refusal on its own), is the endpoint's: once the server is fixed and the
// backoff over, the same tenant gets its token at once.
func TestManagerDiscoveryFailureNotTenants(t *testing.T) {
	s := newIDP(t)
	good := s.document()
	s.setDiscover(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/login", http.StatusFound)
	})
	clk := newFakeClock()
	p := withClock(mustNew(t, Config{Issuer: s.URL}), clk)
	m, err := tenantauth.New(tenantauth.Config{
		Tenants: tenantauth.Tenants{"acme": {Provider: p, Credentials: testCreds, APIHosts: []string{"127.0.0.1"}}},
		// Remembered refusals would last an hour: the test would see one.
		BadCredentialsTTL: time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()

	_, err = m.Token(context.Background(), "acme")
	if !errors.Is(err, ErrDiscovery) || !errors.Is(err, tenantauth.ErrRedirect) {
		t.Fatalf("err = %v, want ErrDiscovery", err)
	}
	if errors.Is(err, tenantauth.ErrInvalidCredentials) {
		t.Fatalf("err = %v: reported as the tenant's refusal", err)
	}
	if n := s.discoveries.Load(); n != 1 {
		t.Errorf("%d discovery requests, want 1 (a redirect is not worth retrying)", n)
	}

	s.setDocument(good)
	clk.Advance(time.Second)
	tok, err := m.Token(context.Background(), "acme")
	if err != nil {
		t.Fatalf("after the fix: %v", err)
	}
	if tok.AccessToken.Reveal() != "at-client_secret_basic" {
		t.Errorf("token %q", tok.AccessToken.Reveal())
	}
	if n := s.discoveries.Load(); n != 2 {
		t.Errorf("%d discovery requests, want 2", n)
	}
}

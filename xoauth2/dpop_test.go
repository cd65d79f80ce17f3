package xoauth2

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/tenantauth/tenantauth"
	"github.com/tenantauth/tenantauth/clientauth"
	"github.com/tenantauth/tenantauth/providers/tokenclient"
	"github.com/tenantauth/tenantauth/tenantauthtest"
)

// TestDPoPTenant: for a tenant whose tokens are DPoP-bound, a TokenSource
// refuses with ErrDPoPBound (x/oauth2 would send the token without a
// proof, to be refused), while Client sends a proof with every request
// and the stand-in's API, which checks it, serves them.
func TestDPoPTenant(t *testing.T) {
	dp, err := clientauth.GenerateDPoP()
	if err != nil {
		t.Fatal(err)
	}
	idp := tenantauthtest.NewStandard(tenantauthtest.Config{DPoP: true})
	defer idp.Close()
	p, err := tokenclient.New(tokenclient.Config{TokenURL: idp.TokenURL(), AuthMethod: tokenclient.ClientSecretBasic, HTTPClient: idp.Client()})
	if err != nil {
		t.Fatal(err)
	}
	defer p.CloseIdleConnections()
	m, err := tenantauth.New(tenantauth.Config{Tenants: tenantauth.Tenants{"acme": {Provider: p,
		Credentials: tenantauth.Credentials{ClientID: tenantauthtest.DefaultClientID, ClientSecret: tenantauthtest.DefaultClientSecret, DPoP: dp},
		APIHosts:    []string{tenantauth.AnyHost}}}})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()

	if tok, err := TokenSource(context.Background(), m, "acme").Token(); !errors.Is(err, ErrDPoPBound) || tok != nil {
		t.Errorf("TokenSource.Token() = %v, %v; want ErrDPoPBound", tok, err)
	}
	hc := Client(m, "acme", idp.Client().Transport)
	defer hc.CloseIdleConnections()
	for i := range 3 {
		resp, err := hc.Get(idp.APIURL() + "/things")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("request %d: status %d", i, resp.StatusCode)
		}
	}
	if st := idp.Stats(); st.TokenRequests != 1 || st.APIRequests != 3 {
		t.Errorf("%d token requests, %d API requests; want 1, 3", st.TokenRequests, st.APIRequests)
	}
}

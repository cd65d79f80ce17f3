package httpauth

import (
	"context"
	"crypto/x509"
	"fmt"
	"net/http"
	"sync"
	"testing"

	"github.com/tenantauth/tenantauth"
	"github.com/tenantauth/tenantauth/clientauth"
	"github.com/tenantauth/tenantauth/providers/tokenclient"
	"github.com/tenantauth/tenantauth/tenantauthtest"
)

// TestTLSClientAuthEndToEnd: tenants that authenticate with their own TLS
// client certificates (tls_client_auth) through Manager, tokenclient and
// Transport against the stand-in, from many goroutines at once: one token
// request per tenant (single flight unchanged), every API call served, and
// after the server revokes every token, the 401 recovery fetches exactly
// one new token per tenant, each authenticated by the tenant's own
// certificate (the stand-in refuses a request that arrives on a
// connection opened with another tenant's).
func TestTLSClientAuthEndToEnd(t *testing.T) {
	const tenants = 4
	certs := map[string][]*x509.Certificate{}
	tenantCfg := tenantauth.Tenants{}
	var srv *tenantauthtest.Server
	auths := make([]*clientauth.TLSClientAuth, tenants)
	for i := range tenants {
		id := fmt.Sprintf("tenant-%d", i)
		cert, leaf, err := tenantauthtest.NewClientCertificate(id)
		if err != nil {
			t.Fatal(err)
		}
		if auths[i], err = clientauth.NewTLSClientAuth(cert); err != nil {
			t.Fatal(err)
		}
		certs[id] = []*x509.Certificate{leaf}
	}
	srv = tenantauthtest.NewStandard(tenantauthtest.Config{TLS: true, AuthMethod: "tls_client_auth", ClientCertificates: certs})
	defer srv.Close()
	p, err := tokenclient.New(tokenclient.Config{TokenURL: srv.TokenURL(), HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	defer p.CloseIdleConnections()
	for i := range tenants {
		id := fmt.Sprintf("tenant-%d", i)
		tenantCfg[id] = tenantauth.Tenant{Provider: p, APIHosts: []string{tenantauth.AnyHost},
			Credentials: tenantauth.Credentials{ClientID: id, Auth: auths[i]}}
	}
	m, err := tenantauth.New(tenantauth.Config{Tenants: tenantCfg})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	client := &http.Client{Transport: NewTransport(m, srv.Client().Transport)}
	defer client.CloseIdleConnections()

	burst := func(round int) {
		t.Helper()
		var wg sync.WaitGroup
		errs := make(chan error, 8*tenants*5)
		for g := range 8 * tenants {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx := tenantauth.WithTenant(context.Background(), fmt.Sprintf("tenant-%d", g%tenants))
				for range 5 {
					req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.APIURL()+"/items", nil)
					resp, err := client.Do(req)
					if err != nil {
						errs <- err
						continue
					}
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						errs <- fmt.Errorf("round %d: status %d", round, resp.StatusCode)
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	}
	burst(1)
	st := srv.Stats()
	for id := range certs {
		if st.ByClient[id] != 1 {
			t.Errorf("%s: %d token requests; want 1", id, st.ByClient[id])
		}
	}
	if st.TokenErrors != 0 {
		t.Errorf("%d token requests refused", st.TokenErrors)
	}

	srv.RevokeAll()
	burst(2)
	st = srv.Stats()
	for id := range certs {
		if st.ByClient[id] != 2 {
			t.Errorf("after revocation, %s: %d token requests; want 2", id, st.ByClient[id])
		}
	}
	if st.TokenErrors != 0 {
		t.Errorf("%d token requests refused", st.TokenErrors)
	}
}

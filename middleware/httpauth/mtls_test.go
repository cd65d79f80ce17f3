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

	ids := make([]string, 0, tenants)
	for i := range tenants {
		ids = append(ids, fmt.Sprintf("tenant-%d", i))
	}
	burst(t, client, srv.APIURL()+"/items", ids, 8*tenants, 5)
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
	burst(t, client, srv.APIURL()+"/items", ids, 8*tenants, 5)
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

// burst sends perCaller GET requests to url from callers goroutines, the
// i-th on behalf of tenants[i%len(tenants)], and fails t for every error
// and every status but 200.
func burst(t *testing.T, client *http.Client, url string, tenants []string, callers, perCaller int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, callers*perCaller)
	for g := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := tenantauth.WithTenant(context.Background(), tenants[g%len(tenants)])
			for range perCaller {
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
				resp, err := client.Do(req)
				if err != nil {
					errs <- err
					continue
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					errs <- fmt.Errorf("tenant %s: status %d", tenants[g%len(tenants)], resp.StatusCode)
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

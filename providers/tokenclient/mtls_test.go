package tokenclient_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tenantauth/tenantauth"
	"github.com/tenantauth/tenantauth/clientauth"
	"github.com/tenantauth/tenantauth/providers/tokenclient"
	"github.com/tenantauth/tenantauth/tenantauthtest"
)

// certTenant is one client of a tls_client_auth stand-in.
type certTenant struct {
	id   string
	auth *clientauth.TLSClientAuth
	leaf *x509.Certificate
}

func newCertTenant(t *testing.T, id string) certTenant {
	t.Helper()
	cert, leaf, err := tenantauthtest.NewClientCertificate(id)
	if err != nil {
		t.Fatal(err)
	}
	a, err := clientauth.NewTLSClientAuth(cert)
	if err != nil {
		t.Fatal(err)
	}
	return certTenant{id: id, auth: a, leaf: leaf}
}

// newCertServer starts a standard stand-in that accepts only the given
// clients' certificates.
func newCertServer(t *testing.T, clients ...certTenant) *tenantauthtest.Server {
	t.Helper()
	certs := map[string][]*x509.Certificate{}
	for _, c := range clients {
		certs[c.id] = append(certs[c.id], c.leaf)
	}
	srv := tenantauthtest.NewStandard(tenantauthtest.Config{TLS: true, AuthMethod: "tls_client_auth", ClientCertificates: certs})
	t.Cleanup(srv.Close)
	return srv
}

// TestExchangeTLSClientAuth: a tenant authenticated by its certificate
// gets a token with client_id and no secret; tenants with different
// certificates alternate on one Client without borrowing each other's
// connections (the stand-in checks each request's client against the
// certificate of the connection it came on, so a shared connection would
// be refused); a certificate presented for another client, and no
// certificate, are refused.
func TestExchangeTLSClientAuth(t *testing.T) {
	a, b := newCertTenant(t, "alpha"), newCertTenant(t, "beta")
	srv := newCertServer(t, a, b)
	c, err := tokenclient.New(tokenclient.Config{TokenURL: srv.TokenURL(), HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseIdleConnections()
	ctx := context.Background()
	for i := range 6 {
		tc := []certTenant{a, b}[i%2]
		tok, err := c.Exchange(ctx, tenantauth.TokenRequest{Credentials: tenantauth.Credentials{ClientID: tc.id, Auth: tc.auth}})
		if err != nil {
			t.Fatalf("exchange %d (%s): %v", i, tc.id, err)
		}
		if tok.AccessToken == "" {
			t.Fatalf("exchange %d: empty token", i)
		}
	}
	if st := srv.Stats(); st.ByClient["alpha"] != 3 || st.ByClient["beta"] != 3 || st.TokenErrors != 0 {
		t.Errorf("stats: by client %v, %d errors; want 3 each, none refused", st.ByClient, st.TokenErrors)
	}

	refused := []struct {
		name  string
		creds tenantauth.Credentials
	}{
		{"another client's certificate", tenantauth.Credentials{ClientID: "beta", Auth: a.auth}},
		{"an unregistered certificate", tenantauth.Credentials{ClientID: "alpha", Auth: newCertTenant(t, "alpha").auth}},
		{"no certificate", tenantauth.Credentials{ClientID: "alpha", ClientSecret: "secret"}},
	}
	for _, tc := range refused {
		_, err := c.Exchange(ctx, tenantauth.TokenRequest{Credentials: tc.creds})
		var te *tenantauth.TokenError
		if !errors.As(err, &te) || te.StatusCode != http.StatusUnauthorized || te.Code != "invalid_client" {
			t.Errorf("%s: err = %v; want 401 invalid_client", tc.name, err)
		}
	}
}

// countingTransport counts the requests of a non-*http.Transport
// RoundTripper.
type countingTransport struct{ n atomic.Int32 }

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return nil, errors.New("must not be called")
}

// TestTLSClientAuthNeedsHTTPTransport: a client certificate cannot be added
// to a transport the Client cannot copy: the tenant is refused as
// incomplete, before anything is sent, and the endpoint is not blamed.
func TestTLSClientAuthNeedsHTTPTransport(t *testing.T) {
	a := newCertTenant(t, "alpha")
	rt := &countingTransport{}
	c, err := tokenclient.New(tokenclient.Config{TokenURL: "https://token.example.com/token", HTTPClient: &http.Client{Transport: rt}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Exchange(context.Background(), tenantauth.TokenRequest{Credentials: tenantauth.Credentials{ClientID: "alpha", Auth: a.auth}})
	if !errors.Is(err, tokenclient.ErrCertificateTransport) || !errors.Is(err, tenantauth.ErrIncompleteCredentials) {
		t.Errorf("err = %v; want ErrCertificateTransport and ErrIncompleteCredentials", err)
	}
	if rt.n.Load() != 0 {
		t.Errorf("%d requests sent", rt.n.Load())
	}
}

// TestTLSClientAuthZeroValue: a TLSClientAuth not made by NewTLSClientAuth
// fails the request without I/O instead of sending no certificate.
func TestTLSClientAuthZeroValue(t *testing.T) {
	rt := &countingTransport{}
	c, _ := tokenclient.New(tokenclient.Config{TokenURL: "https://token.example.com/token", HTTPClient: &http.Client{Transport: rt}})
	_, err := c.Exchange(context.Background(), tenantauth.TokenRequest{Credentials: tenantauth.Credentials{ClientID: "alpha", Auth: &clientauth.TLSClientAuth{}}})
	if !errors.Is(err, clientauth.ErrIncompleteConfig) || rt.n.Load() != 0 {
		t.Errorf("err = %v, %d requests; want ErrIncompleteConfig and none", err, rt.n.Load())
	}
}

// TestTLSClientAuthPresentsUnlistedIssuer: the certificate is presented
// even when the server's list of acceptable CAs does not name its issuer
// (a self-signed certificate's never is), which Go's default selection
// from tls.Config.Certificates would not do.
func TestTLSClientAuthPresentsUnlistedIssuer(t *testing.T) {
	a := newCertTenant(t, "alpha")
	other := newCertTenant(t, "someone-else")
	cas := x509.NewCertPool()
	cas.AddCert(other.leaf)
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.TLS.PeerCertificates) == 0 || !r.TLS.PeerCertificates[0].Equal(a.leaf) {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":"invalid_client"}`))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"access_token":"at","token_type":"Bearer","expires_in":60}`))
	}))
	ts.TLS = &tls.Config{ClientAuth: tls.RequestClientCert, ClientCAs: cas}
	ts.StartTLS()
	defer ts.Close()
	c, err := tokenclient.New(tokenclient.Config{TokenURL: ts.URL + "/token", HTTPClient: ts.Client()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseIdleConnections()
	if _, err := c.Exchange(context.Background(), tenantauth.TokenRequest{Credentials: tenantauth.Credentials{ClientID: "alpha", Auth: a.auth}}); err != nil {
		t.Fatal(err)
	}
}

// TestTLSClientAuthSessionCacheNotShared: with a TLS session cache on the
// base transport (a common performance setting), a tenant's connection
// must not resume another certificate's session: a session resumes
// without a client certificate, and the server would take it for the
// first tenant's. Alternating tenants still authenticate as themselves,
// and a record with alpha's client ID and beta's certificate is refused.
func TestTLSClientAuthSessionCacheNotShared(t *testing.T) {
	a, b := newCertTenant(t, "alpha"), newCertTenant(t, "beta")
	srv := newCertServer(t, a, b)
	tr := srv.Client().Transport.(*http.Transport).Clone()
	tr.TLSClientConfig.ClientSessionCache = tls.NewLRUClientSessionCache(64)
	defer tr.CloseIdleConnections()
	c, err := tokenclient.New(tokenclient.Config{TokenURL: srv.TokenURL(), HTTPClient: &http.Client{Transport: tr}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseIdleConnections()
	ctx := context.Background()
	for i := range 4 {
		tc := []certTenant{a, b}[i%2]
		if _, err := c.Exchange(ctx, tenantauth.TokenRequest{Credentials: tenantauth.Credentials{ClientID: tc.id, Auth: tc.auth}}); err != nil {
			t.Fatalf("exchange %d (%s): %v", i, tc.id, err)
		}
		c.CloseIdleConnections() // the next request opens a connection: a resumption if it can
	}
	_, err = c.Exchange(ctx, tenantauth.TokenRequest{Credentials: tenantauth.Credentials{ClientID: "alpha", Auth: b.auth}})
	var te *tenantauth.TokenError
	if !errors.As(err, &te) || te.Code != "invalid_client" {
		t.Errorf("alpha's client ID with beta's certificate: err = %v; want invalid_client", err)
	}
}

// copiedCert is a CertificateAuthenticator that presents a certificate it
// copied, with a key that is not the certificate's.
type copiedCert struct{ cert *tls.Certificate }

func (c copiedCert) Method() string                               { return "tls_client_auth" }
func (c copiedCert) Params(string, time.Time) (url.Values, error) { return nil, nil }
func (c copiedCert) ClientCertificate() *tls.Certificate          { return c.cert }

// TestTLSClientAuthPoolNeedsTheKey: an authenticator that presents
// another tenant's certificate (public) with a key of its own does not get
// that tenant's pooled, already authenticated connections; its own
// handshake fails.
func TestTLSClientAuthPoolNeedsTheKey(t *testing.T) {
	a := newCertTenant(t, "alpha")
	srv := newCertServer(t, a)
	c, err := tokenclient.New(tokenclient.Config{TokenURL: srv.TokenURL(), HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseIdleConnections()
	ctx := context.Background()
	if _, err := c.Exchange(ctx, tenantauth.TokenRequest{Credentials: tenantauth.Credentials{ClientID: "alpha", Auth: a.auth}}); err != nil {
		t.Fatal(err)
	}
	other, _, err := tenantauthtest.NewClientCertificate("mallory")
	if err != nil {
		t.Fatal(err)
	}
	forged := *a.auth.ClientCertificate()
	forged.PrivateKey = other.PrivateKey
	forged.Leaf = nil
	_, err = c.Exchange(ctx, tenantauth.TokenRequest{Credentials: tenantauth.Credentials{ClientID: "alpha", Auth: copiedCert{&forged}}})
	if err == nil {
		t.Fatal("a copied certificate without its key got alpha's token")
	}
	if st := srv.Stats(); st.ByClient["alpha"] != 1 {
		t.Errorf("alpha's client authenticated %d times; want 1", st.ByClient["alpha"])
	}
	// alpha itself still works, on its own pool.
	if _, err := c.Exchange(ctx, tenantauth.TokenRequest{Credentials: tenantauth.Credentials{ClientID: "alpha", Auth: a.auth}}); err != nil {
		t.Fatal(err)
	}
}

// TestTLSClientAuthRefusesTLSDialer: a transport that dials TLS itself
// would not present the certificate: the tenant is refused before I/O.
func TestTLSClientAuthRefusesTLSDialer(t *testing.T) {
	a := newCertTenant(t, "alpha")
	dialed := false
	tr := &http.Transport{DialTLSContext: func(context.Context, string, string) (net.Conn, error) {
		dialed = true
		return nil, errors.New("must not dial")
	}}
	c, _ := tokenclient.New(tokenclient.Config{TokenURL: "https://token.example.com/token", HTTPClient: &http.Client{Transport: tr}})
	_, err := c.Exchange(context.Background(), tenantauth.TokenRequest{Credentials: tenantauth.Credentials{ClientID: "alpha", Auth: a.auth}})
	if !errors.Is(err, tokenclient.ErrCertificateTransport) || !errors.Is(err, tenantauth.ErrIncompleteCredentials) || dialed {
		t.Errorf("err = %v, dialed %v; want ErrCertificateTransport, no dial", err, dialed)
	}
}

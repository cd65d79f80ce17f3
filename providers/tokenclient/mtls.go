package tokenclient

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"sync"

	"github.com/hashicorp/golang-lru/v2/simplelru"
	"github.com/tenantauth/tenantauth"
	"github.com/tenantauth/tenantauth/clientauth"
)

// MaxCertificateClients bounds the HTTP clients a [Client] keeps for
// tenants that authenticate with a TLS client certificate: one per
// certificate, each with its own connection pool. Past it the least
// recently used is dropped and its idle connections closed; a tenant whose
// client was dropped gets a new one, and a new handshake, on its next token
// request.
const MaxCertificateClients = 1024

// ErrCertificateTransport means a tenant authenticates with a TLS client
// certificate ([clientauth.CertificateAuthenticator]) and the Client's
// HTTPClient has a transport that is not an *http.Transport, which the
// Client cannot copy to present the certificate. The error also matches
// ErrIncompleteCredentials, so that the Manager refuses the tenant instead
// of blaming the endpoint.
var ErrCertificateTransport = errors.New("tokenclient: a TLS client certificate needs an *http.Transport")

// certClients holds one HTTP client per client certificate, so that a
// connection authenticated with one tenant's certificate never carries
// another tenant's token request: TLS authenticates the connection, not
// the request.
type certClients struct {
	mu  sync.Mutex
	lru *simplelru.LRU[string, *http.Client]
}

func newCertClients() *certClients {
	l, err := simplelru.NewLRU[string, *http.Client](MaxCertificateClients, func(_ string, c *http.Client) {
		// In-use connections finish their request; idle ones go now.
		c.CloseIdleConnections()
	})
	if err != nil {
		panic(err) // only for a size ≤ 0
	}
	return &certClients{lru: l}
}

// client returns the HTTP client that presents a's certificate, built from
// base's transport and settings on first use.
func (cc *certClients) client(name string, base *http.Client, a clientauth.CertificateAuthenticator) (*http.Client, error) {
	id, cert := a.CertificateID(), a.ClientCertificate()
	if id == "" || cert == nil {
		return nil, fmt.Errorf("%s: %s authenticator has no certificate: %w", name, a.Method(), tenantauth.ErrIncompleteCredentials)
	}
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if c, ok := cc.lru.Get(id); ok {
		return c, nil
	}
	rt := base.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	t, ok := rt.(*http.Transport)
	if !ok {
		return nil, fmt.Errorf("%s: %w, not %T: %w", name, ErrCertificateTransport, rt, tenantauth.ErrIncompleteCredentials)
	}
	t = t.Clone() // a pool of its own; TLSClientConfig cloned too
	if t.TLSClientConfig == nil {
		t.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	// GetClientCertificate, not Certificates: Go would send nothing when
	// the server's list of acceptable CAs does not name the issuer, and a
	// self-signed certificate (self_signed_tls_client_auth) never is.
	t.TLSClientConfig.Certificates = nil
	t.TLSClientConfig.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
		return cert, nil
	}
	c := *base
	c.Transport = t
	cc.lru.Add(id, &c)
	return &c, nil
}

// closeIdle closes every certificate client's idle connections.
func (cc *certClients) closeIdle() {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	for _, c := range cc.lru.Values() {
		c.CloseIdleConnections()
	}
}

// len returns the number of certificate clients kept.
func (cc *certClients) len() int {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	return cc.lru.Len()
}

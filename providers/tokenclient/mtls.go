package tokenclient

import (
	"crypto"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"sync"
	"time"

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
// Client cannot copy to present the certificate, or one that dials TLS
// itself (DialTLS, DialTLSContext), which would not present it. The error
// also matches
// ErrIncompleteCredentials, so that the Manager refuses the tenant instead
// of blaming the endpoint.
var ErrCertificateTransport = errors.New("tokenclient: a TLS client certificate needs an *http.Transport")

// certClients holds one HTTP client per client certificate, so that a
// connection authenticated with one tenant's certificate never carries
// another tenant's token request: TLS authenticates the connection, not
// the request.
type certClients struct {
	mu  sync.Mutex
	lru *simplelru.LRU[string, *certClient]
}

// A certClient is the HTTP client of one certificate and what it presents.
type certClient struct {
	hc  *http.Client
	key crypto.PrivateKey
}

func newCertClients() *certClients {
	l, err := simplelru.NewLRU[string, *certClient](MaxCertificateClients, func(_ string, c *certClient) {
		// In-use connections finish their request; idle ones go now,
		// and any returned later close after the idle timeout.
		c.hc.CloseIdleConnections()
	})
	if err != nil {
		panic(err) // only for a size ≤ 0
	}
	return &certClients{lru: l}
}

// client returns the HTTP client that presents a's certificate, built from
// base's transport and settings on first use. Clients are pooled by the
// SHA-256 of the leaf certificate, computed here, and handed out only to
// an authenticator holding the same private key: the certificate is
// public, and a record that copied another tenant's must not get that
// tenant's authenticated connections.
func (cc *certClients) client(name string, base *http.Client, a clientauth.CertificateAuthenticator) (*http.Client, error) {
	cert := a.ClientCertificate()
	if cert == nil || len(cert.Certificate) == 0 || len(cert.Certificate[0]) == 0 || cert.PrivateKey == nil {
		return nil, fmt.Errorf("%s: %s authenticator has no certificate or key: %w", name, a.Method(), tenantauth.ErrIncompleteCredentials)
	}
	sum := sha256.Sum256(cert.Certificate[0])
	id := string(sum[:])
	cc.mu.Lock()
	defer cc.mu.Unlock()
	old, ok := cc.lru.Get(id)
	if ok && sameKey(old.key, cert.PrivateKey) {
		return old.hc, nil
	}
	t, err := certTransport(name, base, cert)
	if err != nil {
		return nil, err
	}
	c := *base
	c.Transport = t
	if ok {
		// The same certificate with another key object: not known to be
		// the same holder, so a client of its own replaces the old one.
		old.hc.CloseIdleConnections()
	}
	cc.lru.Add(id, &certClient{hc: &c, key: cert.PrivateKey})
	return &c, nil
}

// certTransport returns a transport of cert's own, cloned from base's, and
// cut off from everything a clone would still share with other transports.
func certTransport(name string, base *http.Client, cert *tls.Certificate) (*http.Transport, error) {
	rt := base.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	t, ok := rt.(*http.Transport)
	switch {
	case !ok:
		return nil, fmt.Errorf("%s: %w, not %T: %w", name, ErrCertificateTransport, rt, tenantauth.ErrIncompleteCredentials)
	case t.DialTLSContext != nil || t.DialTLS != nil: //lint:ignore SA1019 a deprecated dialer still dials
		// A TLS dialer of its own ignores TLSClientConfig: the
		// certificate would not be presented.
		return nil, fmt.Errorf("%s: %w without DialTLS or DialTLSContext: %w", name, ErrCertificateTransport, tenantauth.ErrIncompleteCredentials)
	}
	t = t.Clone() // a connection pool of its own; TLSClientConfig cloned too
	if t.TLSNextProto != nil {
		// The base was configured by golang.org/x/net/http2 (or HTTP/2
		// disabled): its "h2" upgrade hands connections to a pool the
		// clone shares with the base and every other certificate. Keep
		// HTTP/1.1 on this transport instead.
		t.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	}
	if t.IdleConnTimeout == 0 {
		t.IdleConnTimeout = 90 * time.Second // an evicted client's connections end
	}
	if t.TLSClientConfig == nil {
		t.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	if t.TLSClientConfig.ClientSessionCache != nil {
		// A session resumes without a new client certificate, and the
		// cache is keyed by server only: a shared one would let this
		// certificate's connections resume another's session.
		t.TLSClientConfig.ClientSessionCache = tls.NewLRUClientSessionCache(0)
	}
	// GetClientCertificate, not Certificates: Go would send nothing when
	// the server's list of acceptable CAs does not name the issuer, and a
	// self-signed certificate (self_signed_tls_client_auth) never is.
	t.TLSClientConfig.Certificates = nil
	t.TLSClientConfig.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
		return cert, nil
	}
	return t, nil
}

// sameKey reports whether a and b are the same private key: equal by the
// standard keys' Equal method, else the same object (a KMS signer, say).
func sameKey(a, b crypto.PrivateKey) bool {
	if e, ok := a.(interface{ Equal(crypto.PrivateKey) bool }); ok {
		return e.Equal(b)
	}
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	if va.Kind() == reflect.Pointer && vb.Kind() == reflect.Pointer {
		return va.Type() == vb.Type() && va.Pointer() == vb.Pointer()
	}
	return false
}

// closeIdle closes every certificate client's idle connections.
func (cc *certClients) closeIdle() {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	for _, c := range cc.lru.Values() {
		c.hc.CloseIdleConnections()
	}
}

// len returns the number of certificate clients kept.
func (cc *certClients) len() int {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	return cc.lru.Len()
}

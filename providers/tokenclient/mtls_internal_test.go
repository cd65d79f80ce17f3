package tokenclient

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/tenantauth/tenantauth/clientauth"
)

// TestCertClientsBounded: one HTTP client per certificate, the same one
// for the same certificate, and never more than MaxCertificateClients
// kept however many certificates pass through.
func TestCertClientsBounded(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	auth := func(i int) *clientauth.TLSClientAuth {
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(int64(i + 1)), Subject: pkix.Name{CommonName: "t" + strconv.Itoa(i)},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			t.Fatal(err)
		}
		a, err := clientauth.NewTLSClientAuth(tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key})
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	cc := newCertClients()
	base := NewHTTPClient()
	first := auth(0)
	c1, err := cc.client("t", base, first)
	if err != nil {
		t.Fatal(err)
	}
	if c2, _ := cc.client("t", base, first); c2 != c1 {
		t.Error("the same certificate got a second client")
	}
	if c1.Transport == base.Transport {
		t.Error("the certificate client shares the base transport")
	}
	for i := 1; i <= MaxCertificateClients+10; i++ {
		if _, err := cc.client("t", base, auth(i)); err != nil {
			t.Fatal(err)
		}
	}
	if n := cc.len(); n != MaxCertificateClients {
		t.Errorf("%d clients kept; want %d", n, MaxCertificateClients)
	}
	cc.closeIdle()
}

// TestCertTransportCutOff: a certificate's transport shares no HTTP/2
// connection pool (a base configured by x/net/http2 has TLSNextProto set,
// whose "h2" pool the clone would share) and no TLS session cache with
// the base, and its idle connections time out.
func TestCertTransportCutOff(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	shared := 0
	base := &http.Transport{
		TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{
			"h2": func(string, *tls.Conn) http.RoundTripper { shared++; return nil },
		},
		TLSClientConfig: &tls.Config{ClientSessionCache: tls.NewLRUClientSessionCache(8)},
	}
	cert := &tls.Certificate{Certificate: [][]byte{{1}}, PrivateKey: key}
	tr, err := certTransport("t", &http.Client{Transport: base}, cert)
	if err != nil {
		t.Fatal(err)
	}
	if tr.TLSNextProto == nil || len(tr.TLSNextProto) != 0 {
		t.Errorf("TLSNextProto = %v; want an empty map (HTTP/1.1 on a pool of its own)", tr.TLSNextProto)
	}
	if tr.TLSClientConfig.ClientSessionCache == nil || tr.TLSClientConfig.ClientSessionCache == base.TLSClientConfig.ClientSessionCache {
		t.Error("the session cache is shared with the base (or gone)")
	}
	if tr.IdleConnTimeout <= 0 {
		t.Error("no idle timeout")
	}
	if got, _ := tr.TLSClientConfig.GetClientCertificate(nil); got != cert {
		t.Error("GetClientCertificate does not present the certificate")
	}
	if base.TLSClientConfig.GetClientCertificate != nil || shared != 0 {
		t.Error("the base transport was changed")
	}
}

package clientauth

import (
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"
)

// testCertificate returns a self-signed client certificate for key.
func testCertificate(t *testing.T, key crypto.Signer) tls.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7),
		Subject:      pkix.Name{CommonName: "tenant-7", Organization: []string{"Acme"}},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func testTLSClientAuth(t *testing.T, key crypto.Signer) *TLSClientAuth {
	t.Helper()
	ta, err := NewTLSClientAuth(testCertificate(t, key))
	if err != nil {
		t.Fatal(err)
	}
	return ta
}

func TestNewTLSClientAuth(t *testing.T) {
	key := testECKey(t)
	cert := testCertificate(t, key)
	ta, err := NewTLSClientAuth(cert)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(cert.Certificate[0])
	if got, want := ta.CertificateID(), b64.EncodeToString(sum[:]); got != want {
		t.Errorf("CertificateID = %q; want %q", got, want)
	}
	if ta.Method() != "tls_client_auth" || ta.Subject() != "CN=tenant-7,O=Acme" {
		t.Errorf("Method %q, Subject %q", ta.Method(), ta.Subject())
	}
	if p, err := ta.Params("c", time.Now()); err != nil || len(p) != 0 {
		t.Errorf("Params = %v, %v; want none", p, err)
	}
	// The certificate is a copy: changing the caller's does not change it.
	got := ta.ClientCertificate()
	cert.Certificate[0][10] ^= 0xff
	if got.Certificate[0][10] == cert.Certificate[0][10] || got.Leaf == nil {
		t.Error("the certificate was not copied, or has no parsed leaf")
	}
	var _ CertificateAuthenticator = ta
}

func TestNewTLSClientAuthRefuses(t *testing.T) {
	key, other := testECKey(t), testEdKey(t)
	good := testCertificate(t, key)
	for _, tc := range []struct {
		name string
		cert tls.Certificate
		want error
	}{
		{"no leaf", tls.Certificate{PrivateKey: key}, ErrIncompleteConfig},
		{"garbage leaf", tls.Certificate{Certificate: [][]byte{[]byte("not DER")}, PrivateKey: key}, ErrIncompleteConfig},
		{"no key", tls.Certificate{Certificate: good.Certificate}, ErrIncompleteConfig},
		{"another key", tls.Certificate{Certificate: good.Certificate, PrivateKey: other}, ErrIncompleteConfig},
		{"not a signer", tls.Certificate{Certificate: good.Certificate, PrivateKey: "key"}, ErrUnsupportedKey},
	} {
		if _, err := NewTLSClientAuth(tc.cert); !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v; want %v", tc.name, err, tc.want)
		}
	}
	var zero TLSClientAuth
	if _, err := zero.Params("c", time.Now()); !errors.Is(err, ErrIncompleteConfig) {
		t.Errorf("zero value Params: %v", err)
	}
	var nilAuth *TLSClientAuth
	if nilAuth.ClientCertificate() != nil || nilAuth.CertificateID() != "" {
		t.Error("a nil TLSClientAuth has a certificate")
	}
}

func TestTLSClientAuthRenderings(t *testing.T) {
	ta := testTLSClientAuth(t, testEdKey(t))
	j, err := json.Marshal(ta)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]string
	if err := json.Unmarshal(j, &m); err != nil || m["x5t#S256"] != ta.CertificateID() || m["key"] != redacted || m["subject"] != ta.Subject() {
		t.Errorf("json %s: %v", j, err)
	}
	if s := ta.String(); !strings.Contains(s, ta.CertificateID()) || !strings.Contains(s, `"CN=tenant-7,O=Acme"`) {
		t.Errorf("String %s", s)
	}
}

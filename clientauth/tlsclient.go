package clientauth

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strconv"
	"time"
)

// A CertificateAuthenticator authenticates a client with a TLS client
// certificate (RFC 8705 §2) instead of form parameters: a token client
// presents ClientCertificate in the TLS handshake, on connections of its
// own that no client with another certificate (or another key) uses.
// [TLSClientAuth] implements it.
type CertificateAuthenticator interface {
	Authenticator
	// ClientCertificate returns the certificate chain and private key to
	// present. It must always return the same certificate.
	ClientCertificate() *tls.Certificate
}

var _ CertificateAuthenticator = (*TLSClientAuth)(nil)

// TLSClientAuth authenticates a client with its TLS client certificate:
// tls_client_auth (a certificate from a CA the server trusts, matched by
// subject) and self_signed_tls_client_auth (a certificate registered with
// the client) of RFC 8705 §2 look the same on the wire. The token request
// carries client_id and no secret. Create one with [NewTLSClientAuth].
//
// A TLSClientAuth is immutable and safe for concurrent use. Its renderings
// (fmt with any verb, log/slog, JSON, text, gob) show the method, the
// certificate's subject and its SHA-256 thumbprint, never the private key.
type TLSClientAuth struct {
	cert    *tls.Certificate
	subject string
	x5t     string // base64url SHA-256 of the leaf's DER (RFC 8705 §3.1)
}

// NewTLSClientAuth returns a TLSClientAuth presenting cert, which needs
// its leaf certificate (cert.Certificate[0], as [tls.X509KeyPair] and
// [tls.LoadX509KeyPair] return it) and a private key that is a
// crypto.Signer whose public key is the leaf's. A certificate without a
// leaf or key, a leaf that does not parse, or a key that does not match is
// an error wrapping [ErrIncompleteConfig] or [ErrUnsupportedKey]. The
// certificate is copied: changing cert afterwards has no effect.
func NewTLSClientAuth(cert tls.Certificate) (*TLSClientAuth, error) {
	if len(cert.Certificate) == 0 || len(cert.Certificate[0]) == 0 {
		return nil, fmt.Errorf("%w: the certificate has no leaf", ErrIncompleteConfig)
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		return nil, fmt.Errorf("%w: the leaf certificate does not parse", ErrIncompleteConfig)
	}
	if cert.PrivateKey == nil {
		return nil, fmt.Errorf("%w: the certificate has no private key", ErrIncompleteConfig)
	}
	key, ok := cert.PrivateKey.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%w: the private key is not a crypto.Signer", ErrUnsupportedKey)
	}
	// Matching keys are what makes CertificateID safe to pool by: only a
	// holder of the key can build a TLSClientAuth with this ID.
	want, err := x509.MarshalPKIXPublicKey(leaf.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("%w: the certificate's public key", ErrUnsupportedKey)
	}
	got, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil || !bytes.Equal(got, want) {
		return nil, fmt.Errorf("%w: the private key does not match the certificate", ErrIncompleteConfig)
	}
	c := cert
	c.Certificate = make([][]byte, len(cert.Certificate))
	for i, der := range cert.Certificate {
		c.Certificate[i] = bytes.Clone(der)
	}
	c.Leaf = leaf
	sum := sha256.Sum256(c.Certificate[0])
	return &TLSClientAuth{cert: &c, subject: leaf.Subject.String(), x5t: b64.EncodeToString(sum[:])}, nil
}

// Method returns "tls_client_auth".
func (t *TLSClientAuth) Method() string { return "tls_client_auth" }

// Params returns no parameters: the certificate authenticates the client
// in the handshake. The token client still sends client_id (RFC 8705 §2).
func (t *TLSClientAuth) Params(clientID string, now time.Time) (url.Values, error) {
	if t == nil || t.cert == nil {
		return nil, fmt.Errorf("%w: TLSClientAuth not made by NewTLSClientAuth", ErrIncompleteConfig)
	}
	return nil, nil
}

// ClientCertificate returns the certificate to present. Do not modify it.
func (t *TLSClientAuth) ClientCertificate() *tls.Certificate {
	if t == nil {
		return nil
	}
	return t.cert
}

// CertificateID returns the leaf certificate's SHA-256 thumbprint, base64url
// without padding: the x5t#S256 a server puts in the cnf claim of a
// certificate-bound token (RFC 8705 §3.1). Token clients do not pool
// connections by it: they compute their own key and check the private
// key too.
func (t *TLSClientAuth) CertificateID() string {
	if t == nil {
		return ""
	}
	return t.x5t
}

// Subject returns the leaf certificate's subject distinguished name, what a
// tls_client_auth client registers as tls_client_auth_subject_dn.
func (t *TLSClientAuth) Subject() string {
	if t == nil {
		return ""
	}
	return t.subject
}

// String describes t without its key.
func (t TLSClientAuth) String() string {
	return "clientauth.TLSClientAuth{Subject:" + strconv.Quote(t.subject) + ", x5t#S256:" + t.x5t + ", Key:" + redacted + "}"
}

// GoString implements [fmt.GoStringer] like String.
func (t TLSClientAuth) GoString() string { return t.String() }

// Format implements [fmt.Formatter]: every verb prints String.
func (t TLSClientAuth) Format(f fmt.State, verb rune) { _, _ = io.WriteString(f, t.String()) }

// LogValue implements [slog.LogValuer].
func (t TLSClientAuth) LogValue() slog.Value {
	return slog.GroupValue(slog.String("method", "tls_client_auth"), slog.String("subject", t.subject),
		slog.String("x5t#S256", t.x5t), slog.String("key", redacted))
}

// MarshalText implements [encoding.TextMarshaler] with String.
func (t TLSClientAuth) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

// MarshalJSON implements [encoding/json.Marshaler]: the method, subject and
// thumbprint, the key as "[REDACTED]".
func (t TLSClientAuth) MarshalJSON() ([]byte, error) {
	b := []byte(`{"method":"tls_client_auth"`)
	b = appendStringMember(b, "subject", t.subject)
	b = appendStringMember(b, "x5t#S256", t.x5t)
	b = appendStringMember(b, "key", redacted)
	return append(b, '}'), nil
}

// GobEncode refuses: a key must not be serialised by accident.
func (t TLSClientAuth) GobEncode() ([]byte, error) { return nil, errNoEncode }

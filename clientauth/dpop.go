package clientauth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// A DPoP makes the DPoP proofs of RFC 9449 with one key pair: the key a
// server binds the client's tokens to. Send one proof per request, in the
// request's DPoP header, made with that request's method and URL.
//
// A DPoP is immutable and safe for concurrent use (as long as its
// crypto.Signer is: the standard library's keys are). Its renderings (fmt,
// log/slog, JSON, text, gob) show the algorithm and thumbprint, never the key.
type DPoP struct {
	signer signer
	header string // base64url of the protected header, then '.'
	jkt    string
}

// NewDPoP returns a DPoP that signs with key: ES256 for an ECDSA P-256 key,
// EdDSA for an Ed25519 key, RS256 for an RSA key of 2048 bits or more. Keep
// the key for as long as tokens bound to it are in use.
func NewDPoP(key crypto.Signer) (*DPoP, error) {
	s, err := newSigner(key)
	if err != nil {
		return nil, err
	}
	jwk, err := appendPublicJWK(nil, key.Public())
	if err != nil {
		return nil, err
	}
	h := make([]byte, 0, 64+len(jwk))
	h = append(h, `{"typ":"dpop+jwt","alg":"`...)
	h = append(h, s.alg.String()...)
	h = append(h, `","jwk":`...)
	h = append(h, jwk...)
	h = append(h, '}')
	enc := b64.AppendEncode(make([]byte, 0, b64.EncodedLen(len(h))+1), h)
	return &DPoP{signer: s, header: string(append(enc, '.')), jkt: thumbprintOf(jwk)}, nil
}

// GenerateDPoP returns a DPoP with a fresh ECDSA P-256 key (ES256). The key
// lives only in memory: tokens bound to it are useless to another process.
func GenerateDPoP() (*DPoP, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("clientauth: generating DPoP key: %w", err)
	}
	return NewDPoP(key)
}

// Thumbprint returns the RFC 7638 thumbprint of the public key: the jkt the
// server binds tokens to (cnf.jkt), and the dpop_jkt of an authorization
// request (RFC 9449 §10).
func (d *DPoP) Thumbprint() string { return d.jkt }

// Algorithm returns the JWS algorithm of the proofs: "ES256", "EdDSA" or
// "RS256".
func (d *DPoP) Algorithm() string { return d.signer.alg.String() }

// Proof returns a DPoP proof for one request: method and rawURL are the
// request's (an empty method is GET; the URL's query and fragment are left
// out and it is normalised as RFC 9449 §4.3 describes), accessToken is the
// access token the request presents (empty for a token request: then the
// proof carries no ath), nonce the server's latest DPoP-Nonce (empty when it
// sent none). now is the proof's iat.
func (d *DPoP) Proof(method, rawURL, accessToken, nonce string, now time.Time) (string, error) {
	if method == "" {
		method = "GET"
	} else if !isToken(method) {
		return "", ErrInvalidMethod
	}
	if nonce != "" && !validNonce(nonce) {
		return "", ErrInvalidNonce
	}
	bp := getBuf()
	defer putBuf(bp)
	buf := (*bp)[:0]

	// The claims go first in buf, then the token is built after them and
	// copied out once.
	buf = append(buf, `{"jti":"`...)
	buf = appendJTI(buf)
	buf = append(buf, `","htm":"`...)
	buf = append(buf, method...) // a token needs no JSON escaping
	buf = append(buf, `","htu":"`...)
	var err error
	if buf, err = appendHTU(buf, rawURL); err != nil {
		*bp = buf
		return "", err
	}
	buf = append(buf, '"')
	buf = appendIntMember(buf, "iat", now.Unix())
	if accessToken != "" {
		// Hash a copy in the scratch buffer: []byte(accessToken) would
		// allocate.
		n := len(buf)
		buf = append(buf, accessToken...)
		sum := sha256.Sum256(buf[n:])
		clear(buf[n:]) // leave no copy of the token in the pooled buffer
		buf = append(buf[:n], `,"ath":"`...)
		buf = b64.AppendEncode(buf, sum[:])
		buf = append(buf, '"')
	}
	if nonce != "" {
		buf = append(buf, `,"nonce":"`...)
		buf = append(buf, nonce...) // NQCHAR needs no JSON escaping
		buf = append(buf, '"')
	}
	buf = append(buf, '}')

	claims := len(buf)
	buf = append(buf, d.header...)
	buf = b64.AppendEncode(buf, buf[:claims])
	input := buf[claims:] // stays valid if the append below reallocates
	buf, err = d.signer.appendSignature(append(buf, '.'), input)
	*bp = buf
	if err != nil {
		return "", err
	}
	return string(buf[claims:]), nil
}

// String returns a description without the key.
func (d DPoP) String() string {
	return "clientauth.DPoP{alg:" + d.signer.alg.String() + ", jkt:" + d.jkt + ", key:" + redacted + "}"
}

// GoString implements [fmt.GoStringer] like String.
func (d DPoP) GoString() string { return d.String() }

// Format implements [fmt.Formatter]: every verb prints String.
func (d DPoP) Format(f fmt.State, verb rune) { _, _ = io.WriteString(f, d.String()) }

// LogValue implements [slog.LogValuer].
func (d DPoP) LogValue() slog.Value {
	return slog.GroupValue(slog.String("alg", d.signer.alg.String()), slog.String("jkt", d.jkt),
		slog.String("key", redacted))
}

// MarshalText implements [encoding.TextMarshaler] with String.
func (d DPoP) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// MarshalJSON implements [encoding/json.Marshaler]: the algorithm and
// thumbprint, the key as "[REDACTED]".
func (d DPoP) MarshalJSON() ([]byte, error) {
	b := []byte(`{"alg":"` + d.signer.alg.String() + `","jkt":"` + d.jkt + `","key":"` + redacted + `"}`)
	return b, nil
}

// GobEncode refuses: a key must not be serialised by accident.
func (d DPoP) GobEncode() ([]byte, error) { return nil, errNoEncode }

// bufPool holds the scratch buffers of Proof. Buffers that grew past
// maxPooledBuf (a very long URL) are dropped rather than kept.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

const maxPooledBuf = 16 << 10

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

func putBuf(b *[]byte) {
	if cap(*b) <= maxPooledBuf {
		bufPool.Put(b)
	}
}

// isToken reports whether s is a non-empty token (RFC 9110 §5.6.2).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isTokenChar(s[i]) {
			return false
		}
	}
	return true
}

// isTokenChar reports whether c is a tchar (RFC 9110 §5.6.2).
func isTokenChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return c != 0 && strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

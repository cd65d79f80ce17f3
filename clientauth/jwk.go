package clientauth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
)

// PublicJWK returns the public JWK of a key (RFC 7517): an RSA key of 2048
// bits or more, an ECDSA P-256 key or an Ed25519 key, as a public key or as a
// crypto.Signer holding one. It holds only the members RFC 7638 §3.2 requires
// (kty and the key's public parameters, EC coordinates as 32 bytes each), in
// lexicographic order and without whitespace: the input of [Thumbprint].
// Add "kid", "use" or "alg" yourself when a registration needs them.
func PublicJWK(key crypto.PublicKey) ([]byte, error) {
	return appendPublicJWK(nil, publicOf(key))
}

// Thumbprint returns the RFC 7638 JWK SHA-256 thumbprint of a key's public
// JWK, base64url-encoded: the jkt of RFC 9449 and the value of a
// DPoP-bound token's cnf.jkt. key is as for [PublicJWK].
func Thumbprint(key crypto.PublicKey) (string, error) {
	jwk, err := PublicJWK(key)
	if err != nil {
		return "", err
	}
	return thumbprintOf(jwk), nil
}

func thumbprintOf(canonicalJWK []byte) string {
	sum := sha256.Sum256(canonicalJWK)
	return b64.EncodeToString(sum[:])
}

// publicOf lets the JWK functions take a signer where a public key is meant.
func publicOf(key crypto.PublicKey) crypto.PublicKey {
	if s, ok := key.(crypto.Signer); ok {
		return s.Public()
	}
	return key
}

// appendPublicJWK appends the canonical public JWK (RFC 7638 §3.2, RFC 8037
// §2) of pub.
func appendPublicJWK(dst []byte, pub crypto.PublicKey) ([]byte, error) {
	if _, err := algFor(pub); err != nil {
		return dst, err
	}
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if k.E < 2 {
			return dst, fmt.Errorf("%w: RSA exponent", ErrUnsupportedKey)
		}
		e := big.NewInt(int64(k.E)).Bytes()
		dst = append(dst, `{"e":"`...)
		dst = b64.AppendEncode(dst, e)
		dst = append(dst, `","kty":"RSA","n":"`...)
		dst = b64.AppendEncode(dst, k.N.Bytes())
		return append(dst, `"}`...), nil
	case *ecdsa.PublicKey:
		ek, err := k.ECDH() // validates the point; Bytes is 0x04 || x || y
		if err != nil {
			return dst, fmt.Errorf("%w: %v", ErrUnsupportedKey, err)
		}
		pt := ek.Bytes()
		dst = append(dst, `{"crv":"P-256","kty":"EC","x":"`...)
		dst = b64.AppendEncode(dst, pt[1:33])
		dst = append(dst, `","y":"`...)
		dst = b64.AppendEncode(dst, pt[33:65])
		return append(dst, `"}`...), nil
	case ed25519.PublicKey:
		dst = append(dst, `{"crv":"Ed25519","kty":"OKP","x":"`...)
		dst = b64.AppendEncode(dst, k)
		return append(dst, `"}`...), nil
	}
	return dst, ErrUnsupportedKey
}

// privateMembers are the JWK members that carry private or symmetric key
// material (RFC 7518 §6.2.2, §6.3.2, §6.4.1; RFC 8037 §2).
var privateMembers = [...]string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"}

// p256SPKIPrefix is the DER SubjectPublicKeyInfo of an uncompressed P-256
// point up to the point: x509 then validates the point without the
// deprecated big.Int fields of ecdsa.PublicKey.
var p256SPKIPrefix = []byte{
	0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01,
	0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00, 0x04,
}

var (
	errPrivateJWK = errors.New("private member")
	errBadJWK     = errors.New("bad jwk")
)

// parsePublicJWK reads a public JWK of the three supported key types and
// returns the key and its thumbprint. It refuses private members
// (errPrivateJWK) and any other irregularity (errBadJWK).
func parsePublicJWK(data []byte) (crypto.PublicKey, string, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, "", errBadJWK
	}
	for _, name := range privateMembers {
		if _, ok := m[name]; ok {
			return nil, "", errPrivateJWK
		}
	}
	str := func(name string) (string, bool) {
		var s string
		raw, ok := m[name]
		if !ok || json.Unmarshal(raw, &s) != nil {
			return "", false
		}
		return s, true
	}
	bin := func(name string) ([]byte, bool) {
		s, ok := str(name)
		if !ok {
			return nil, false
		}
		b, err := b64Strict.DecodeString(s)
		return b, err == nil
	}
	kty, _ := str("kty")
	var pub crypto.PublicKey
	switch kty {
	case "RSA":
		n, ok1 := bin("n")
		e, ok2 := bin("e")
		// Minimal encodings only (RFC 7518 §6.3.1): the thumbprint must be
		// that of the members as sent.
		if !ok1 || !ok2 || len(n) == 0 || n[0] == 0 || len(e) == 0 || e[0] == 0 || len(e) > 4 {
			return nil, "", errBadJWK
		}
		ev := new(big.Int).SetBytes(e).Int64()
		if ev < 3 || ev%2 == 0 || ev > 1<<31-1 {
			return nil, "", errBadJWK
		}
		pub = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(ev)}
	case "EC":
		crv, _ := str("crv")
		x, ok1 := bin("x")
		y, ok2 := bin("y")
		if crv != "P-256" || !ok1 || !ok2 || len(x) != 32 || len(y) != 32 {
			return nil, "", errBadJWK
		}
		der := make([]byte, 0, len(p256SPKIPrefix)+64)
		der = append(append(append(der, p256SPKIPrefix...), x...), y...)
		k, err := x509.ParsePKIXPublicKey(der)
		if err != nil {
			return nil, "", errBadJWK
		}
		pub = k
	case "OKP":
		crv, _ := str("crv")
		x, ok := bin("x")
		if crv != "Ed25519" || !ok || len(x) != ed25519.PublicKeySize {
			return nil, "", errBadJWK
		}
		pub = ed25519.PublicKey(x)
	default:
		return nil, "", errBadJWK
	}
	canonical, err := appendPublicJWK(nil, pub)
	if err != nil {
		return nil, "", errBadJWK
	}
	return pub, thumbprintOf(canonical), nil
}

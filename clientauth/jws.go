package clientauth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// b64 is base64url without padding (RFC 7515 §2). Decoding is strict: the
// unused bits of the last character must be zero, so every value has one
// encoding.
var (
	b64       = base64.RawURLEncoding
	b64Strict = base64.RawURLEncoding.Strict()
)

// alg is a JWS algorithm (RFC 7518 §3.1, RFC 8037 §3.1).
type alg uint8

const (
	algUnknown alg = iota
	algRS256
	algES256
	algEdDSA
	algHS256
)

func (a alg) String() string {
	switch a {
	case algRS256:
		return "RS256"
	case algES256:
		return "ES256"
	case algEdDSA:
		return "EdDSA"
	case algHS256:
		return "HS256"
	}
	return "unknown"
}

func parseAlg(s string) alg {
	switch s {
	case "RS256":
		return algRS256
	case "ES256":
		return algES256
	case "EdDSA":
		return algEdDSA
	case "HS256":
		return algHS256
	}
	return algUnknown
}

const (
	minRSABits   = 2048 // RFC 7518 §3.3
	minHMACBytes = 32   // RFC 7518 §3.2: at least the hash size
	es256SigLen  = 64   // r||s, 32 bytes each (RFC 7518 §3.4)
)

// algFor returns the asymmetric algorithm a public key signs with, or
// ErrUnsupportedKey / ErrWeakKey.
func algFor(pub crypto.PublicKey) (alg, error) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if k == nil || k.N == nil {
			return algUnknown, ErrUnsupportedKey
		}
		if k.N.BitLen() < minRSABits {
			return algUnknown, fmt.Errorf("%w: RSA key of %d bits, want %d or more", ErrWeakKey, k.N.BitLen(), minRSABits)
		}
		return algRS256, nil
	case *ecdsa.PublicKey:
		if k == nil || k.Curve != elliptic.P256() {
			return algUnknown, fmt.Errorf("%w: ECDSA keys must be on P-256", ErrUnsupportedKey)
		}
		return algES256, nil
	case ed25519.PublicKey:
		if len(k) != ed25519.PublicKeySize {
			return algUnknown, ErrUnsupportedKey
		}
		return algEdDSA, nil
	}
	return algUnknown, fmt.Errorf("%w: %T", ErrUnsupportedKey, pub)
}

// A signer signs JWS signing inputs with one asymmetric key.
type signer struct {
	key crypto.Signer
	ed  ed25519.PrivateKey // set when key is a plain ed25519.PrivateKey: signs without the interface call
	alg alg
}

func newSigner(key crypto.Signer) (signer, error) {
	if key == nil {
		return signer{}, fmt.Errorf("%w: no key", ErrIncompleteConfig)
	}
	a, err := algFor(key.Public())
	if err != nil {
		return signer{}, err
	}
	s := signer{key: key, alg: a}
	if ed, ok := key.(ed25519.PrivateKey); ok && len(ed) == ed25519.PrivateKeySize {
		s.ed = ed
	}
	return s, nil
}

// appendSignature signs input and appends the base64url signature to dst.
// input may alias dst.
func (s *signer) appendSignature(dst, input []byte) ([]byte, error) {
	switch s.alg {
	case algEdDSA:
		if s.ed != nil {
			return b64.AppendEncode(dst, ed25519.Sign(s.ed, input)), nil
		}
		sig, err := s.key.Sign(rand.Reader, input, crypto.Hash(0))
		if err != nil {
			return dst, fmt.Errorf("clientauth: signing: %w", err)
		}
		return b64.AppendEncode(dst, sig), nil
	case algES256:
		digest := sha256.Sum256(input)
		der, err := s.key.Sign(rand.Reader, digest[:], crypto.SHA256)
		if err != nil {
			return dst, fmt.Errorf("clientauth: signing: %w", err)
		}
		var raw [es256SigLen]byte
		if !derToRaw(der, &raw) {
			return dst, fmt.Errorf("clientauth: signing: signer returned a malformed ECDSA signature")
		}
		return b64.AppendEncode(dst, raw[:]), nil
	case algRS256:
		digest := sha256.Sum256(input)
		sig, err := s.key.Sign(rand.Reader, digest[:], crypto.SHA256)
		if err != nil {
			return dst, fmt.Errorf("clientauth: signing: %w", err)
		}
		return b64.AppendEncode(dst, sig), nil
	}
	return dst, ErrUnsupportedKey
}

func appendHS256(dst, key, input []byte) []byte {
	sum := hs256(key, input)
	return b64.AppendEncode(dst, sum[:])
}

func hs256(key, input []byte) (sum [sha256.Size]byte) {
	m := hmac.New(sha256.New, key)
	m.Write(input)
	m.Sum(sum[:0])
	return sum
}

// derToRaw converts an ASN.1 DER ECDSA-Sig-Value (SEQUENCE of two INTEGERs,
// as crypto.Signer returns it) to the fixed-size r||s of RFC 7518 §3.4.
func derToRaw(der []byte, out *[es256SigLen]byte) bool {
	body, rest, ok := derElement(der, 0x30)
	if !ok || len(rest) != 0 {
		return false
	}
	r, body, ok := derElement(body, 0x02)
	if !ok {
		return false
	}
	s, body, ok := derElement(body, 0x02)
	if !ok || len(body) != 0 {
		return false
	}
	return putScalar(out[:32], r) && putScalar(out[32:], s)
}

// derElement reads one element of the given tag with a definite length
// (short form, or long form with one or two length bytes).
func derElement(b []byte, tag byte) (content, rest []byte, ok bool) {
	if len(b) < 2 || b[0] != tag {
		return nil, nil, false
	}
	n, i := int(b[1]), 2
	switch {
	case n < 0x80:
	case n == 0x81 && len(b) >= 3:
		n, i = int(b[2]), 3
	case n == 0x82 && len(b) >= 4:
		n, i = int(b[2])<<8|int(b[3]), 4
	default:
		return nil, nil, false
	}
	if len(b)-i < n {
		return nil, nil, false
	}
	return b[i : i+n], b[i+n:], true
}

// putScalar writes a positive DER INTEGER right-aligned into out.
func putScalar(out, v []byte) bool {
	if len(v) == 0 || v[0]&0x80 != 0 {
		return false
	}
	for len(v) > 0 && v[0] == 0 {
		v = v[1:]
	}
	if len(v) > len(out) {
		return false
	}
	clear(out)
	copy(out[len(out)-len(v):], v)
	return true
}

// rawToDER converts r||s back to DER for ecdsa.VerifyASN1.
func rawToDER(raw []byte) []byte {
	r, s := derInteger(raw[:len(raw)/2]), derInteger(raw[len(raw)/2:])
	out := make([]byte, 0, 2+len(r)+len(s))
	out = append(out, 0x30, byte(len(r)+len(s)))
	out = append(out, r...)
	return append(out, s...)
}

func derInteger(v []byte) []byte {
	for len(v) > 1 && v[0] == 0 {
		v = v[1:]
	}
	out := []byte{0x02, byte(len(v))}
	if v[0]&0x80 != 0 {
		out = append(out, 0)
		out[1]++
	}
	return append(out, v...)
}

// verifySignature reports whether sig is a valid signature of input by key
// under a. key is a public key for the asymmetric algorithms and a []byte
// secret for HS256; a key of another type never verifies.
func verifySignature(a alg, key any, input, sig []byte) bool {
	switch a {
	case algRS256:
		k, ok := key.(*rsa.PublicKey)
		if !ok || k == nil || k.N == nil || k.N.BitLen() < minRSABits {
			return false
		}
		digest := sha256.Sum256(input)
		return rsa.VerifyPKCS1v15(k, crypto.SHA256, digest[:], sig) == nil
	case algES256:
		k, ok := key.(*ecdsa.PublicKey)
		if !ok || k == nil || k.Curve != elliptic.P256() || len(sig) != es256SigLen {
			return false
		}
		digest := sha256.Sum256(input)
		return ecdsa.VerifyASN1(k, digest[:], rawToDER(sig))
	case algEdDSA:
		k, ok := key.(ed25519.PublicKey)
		if !ok || len(k) != ed25519.PublicKeySize {
			return false
		}
		return ed25519.Verify(k, input, sig)
	case algHS256:
		k, ok := key.([]byte)
		if !ok || len(k) < minHMACBytes {
			return false
		}
		sum := hs256(k, input)
		return hmac.Equal(sum[:], sig)
	}
	return false
}

// appendJSONString appends s as a JSON string. Invalid UTF-8 becomes
// U+FFFD, as encoding/json does, so the output is always valid JSON.
func appendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// appendStringMember appends ,"name":"value" (without the comma right
// after the opening brace).
func appendStringMember(dst []byte, name, value string) []byte {
	if len(dst) > 0 && dst[len(dst)-1] != '{' {
		dst = append(dst, ',')
	}
	dst = append(dst, '"')
	dst = append(dst, name...)
	dst = append(dst, '"', ':')
	return appendJSONString(dst, value)
}

func appendIntMember(dst []byte, name string, v int64) []byte {
	if len(dst) > 0 && dst[len(dst)-1] != '{' {
		dst = append(dst, ',')
	}
	dst = append(dst, '"')
	dst = append(dst, name...)
	dst = append(dst, '"', ':')
	return strconv.AppendInt(dst, v, 10)
}

// appendJTI appends 128 random bits, base64url-encoded (22 characters).
func appendJTI(dst []byte) []byte {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (it crashes the program instead)
	return b64.AppendEncode(dst, b[:])
}

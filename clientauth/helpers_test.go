package clientauth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"
)

// testNow is a fixed instant: tests never depend on the wall clock.
var testNow = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

var (
	rsaKeyOnce sync.Once
	rsaKey     *rsa.PrivateKey
)

// testRSAKey returns one 2048-bit key for the whole run: generating one
// takes a while.
func testRSAKey(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	rsaKeyOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		rsaKey = k
	})
	return rsaKey
}

func testECKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func testEdKey(t testing.TB) ed25519.PrivateKey {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// signerOnly hides the concrete type of a key, as a KMS or HSM signer would.
type signerOnly struct{ s crypto.Signer }

func (s signerOnly) Public() crypto.PublicKey { return s.s.Public() }
func (s signerOnly) Sign(r io.Reader, d []byte, o crypto.SignerOpts) ([]byte, error) {
	return s.s.Sign(r, d, o)
}

type testAlg struct {
	name string
	key  crypto.Signer
}

// testKeys returns one key per algorithm, and a wrapped ECDSA and Ed25519
// key whose concrete type the package cannot see.
func testKeys(t testing.TB) []testAlg {
	return []testAlg{
		{"RS256", testRSAKey(t)},
		{"ES256", testECKey(t)},
		{"EdDSA", testEdKey(t)},
		{"ES256", signerOnly{testECKey(t)}},
		{"EdDSA", signerOnly{testEdKey(t)}},
	}
}

// decodeJWS splits a compact JWS into its decoded JSON header and claims
// (as maps) and raw signature, failing the test when it is malformed.
func decodeJWS(t testing.TB, tok string) (header, claims map[string]any, sig []byte) {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("%d parts, want 3", len(parts))
	}
	dec := func(s string, v any) {
		b, err := b64Strict.DecodeString(s)
		if err != nil {
			t.Fatalf("base64url: %v", err)
		}
		if v != nil {
			d := json.NewDecoder(strings.NewReader(string(b)))
			d.UseNumber()
			if err := d.Decode(v); err != nil {
				t.Fatalf("json %s: %v", b, err)
			}
		}
	}
	dec(parts[0], &header)
	dec(parts[1], &claims)
	sig, err := b64Strict.DecodeString(parts[2])
	if err != nil {
		t.Fatal(err)
	}
	return header, claims, sig
}

// reencode replaces the header or claims of a token (keeping its signature)
// by applying edit to the decoded JSON map.
func reencode(t testing.TB, tok string, part int, edit func(m map[string]any)) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	b, err := b64Strict.DecodeString(parts[part])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	d := json.NewDecoder(strings.NewReader(string(b)))
	d.UseNumber()
	if err := d.Decode(&m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	nb, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	parts[part] = b64.EncodeToString(nb)
	return strings.Join(parts, ".")
}

// resign builds a token from header and claims JSON, signed by key with alg
// (HS256: key is a []byte), for tests of the verifiers with hand-made tokens.
func resign(t testing.TB, header, claims string, a alg, key any) string {
	t.Helper()
	in := b64.EncodeToString([]byte(header)) + "." + b64.EncodeToString([]byte(claims))
	var out []byte
	if a == algHS256 {
		out = appendHS256([]byte(in+"."), key.([]byte), []byte(in))
	} else {
		s, err := newSigner(key.(crypto.Signer))
		if err != nil {
			t.Fatal(err)
		}
		if s.alg != a {
			s.alg = a // deliberately mismatched, for alg-confusion tests
		}
		out, err = s.appendSignature([]byte(in+"."), []byte(in))
		if err != nil {
			t.Fatal(err)
		}
	}
	return string(out)
}

// seenSet is a replay cache for tests.
type seenSet struct {
	mu sync.Mutex
	m  map[string]bool
}

func newSeenSet() *seenSet { return &seenSet{m: map[string]bool{}} }

func (s *seenSet) seen(jti string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m[jti] {
		return true
	}
	s.m[jti] = true
	return false
}

var (
	weakRSAOnce sync.Once
	weakRSAKey  *rsa.PrivateKey
)

// weakRSA returns a 1024-bit key, which the package must refuse (the
// standard library still makes and uses one).
func weakRSA(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	weakRSAOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 1024)
		if err != nil {
			panic(err)
		}
		weakRSAKey = k
	})
	return weakRSAKey
}

func p384() elliptic.Curve { return elliptic.P384() }

func errorsIs(err, target error) bool { return errors.Is(err, target) }

func mustP384(t testing.TB) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

package clientauth

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"strings"
	"testing"
)

// RFC 8037 Appendix A.4: Ed25519 is deterministic, so the whole JWS is fixed.
func TestEdDSARFC8037(t *testing.T) {
	d, err := b64Strict.DecodeString("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A")
	if err != nil {
		t.Fatal(err)
	}
	key := ed25519.NewKeyFromSeed(d)
	const input = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc"
	const want = input + ".hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg"
	for _, k := range []testAlg{{"plain", key}, {"wrapped", signerOnly{key}}} {
		s, err := newSigner(k.key)
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.appendSignature([]byte(input+"."), []byte(input))
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != want {
			t.Errorf("%s: got  %s\nwant %s", k.name, got, want)
		}
	}
	sig, _ := b64Strict.DecodeString(want[len(input)+1:])
	if !verifySignature(algEdDSA, key.Public(), []byte(input), sig) {
		t.Error("RFC 8037 signature does not verify")
	}
}

// RFC 7515 Appendix A.1: the HS256 example (its header has a CRLF inside).
func TestHS256RFC7515(t *testing.T) {
	k, err := b64Strict.DecodeString("AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow")
	if err != nil {
		t.Fatal(err)
	}
	const input = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9." +
		"eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
	const wantSig = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
	if got := string(appendHS256(nil, k, []byte(input))); got != wantSig {
		t.Errorf("got %s, want %s", got, wantSig)
	}
	sig, _ := b64Strict.DecodeString(wantSig)
	if !verifySignature(algHS256, k, []byte(input), sig) {
		t.Error("does not verify")
	}
	if verifySignature(algHS256, k[:31], []byte(input), sig) {
		t.Error("verified with a short key")
	}
}

func TestES256SignatureIsRawRS(t *testing.T) {
	for _, k := range []testAlg{{"plain", testECKey(t)}, {"wrapped", signerOnly{testECKey(t)}}} {
		s, err := newSigner(k.key)
		if err != nil {
			t.Fatal(err)
		}
		pub := k.key.Public().(*ecdsa.PublicKey)
		for i := range 300 { // enough for r or s to start with zero bytes now and then
			in := []byte{byte(i), byte(i >> 8)}
			out, err := s.appendSignature(nil, in)
			if err != nil {
				t.Fatal(err)
			}
			sig, err := b64Strict.DecodeString(string(out))
			if err != nil || len(sig) != es256SigLen {
				t.Fatalf("%s: signature of %d bytes (%v), want 64", k.name, len(sig), err)
			}
			digest := sha256.Sum256(in)
			if !ecdsa.VerifyASN1(pub, digest[:], rawToDER(sig)) || !verifySignature(algES256, pub, in, sig) {
				t.Fatalf("%s: signature %d does not verify", k.name, i)
			}
		}
	}
}

func TestDERConversion(t *testing.T) {
	for _, tc := range []struct {
		name string
		raw  [64]byte
	}{
		{"high bits", func() (r [64]byte) { r[0], r[32] = 0x80, 0xff; r[31], r[63] = 1, 2; return }()},
		{"leading zeros", func() (r [64]byte) { r[5], r[40] = 0x7f, 0x01; return }()},
		{"small", func() (r [64]byte) { r[31], r[63] = 1, 1; return }()},
		{"random", func() (r [64]byte) { _, _ = rand.Read(r[:]); return }()},
	} {
		der := rawToDER(tc.raw[:])
		var back [64]byte
		if !derToRaw(der, &back) || back != tc.raw {
			t.Errorf("%s: round trip through %x failed", tc.name, der)
		}
	}
	var out [64]byte
	for _, bad := range [][]byte{
		nil, {0x30}, {0x30, 0x00}, {0x31, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01},
		{0x30, 0x06, 0x02, 0x01, 0x81, 0x02, 0x01, 0x01},                                                 // negative r
		{0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01, 0x00},                                           // trailing byte
		{0x30, 0x07, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01, 0x00},                                           // trailing byte in the sequence
		{0x30, 0x05, 0x02, 0x00, 0x02, 0x01, 0x01},                                                       // empty integer
		append([]byte{0x30, 0x25, 0x02, 0x21}, append(bytes.Repeat([]byte{1}, 33), 0x02, 0x01, 0x01)...), // r too long
	} {
		if derToRaw(bad, &out) {
			t.Errorf("accepted %x", bad)
		}
	}
}

func TestAlgFor(t *testing.T) {
	small, err := ecdsa.GenerateKey(p384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		key  any
		want error
	}{
		{"P-384", small.Public(), ErrUnsupportedKey},
		{"nil", nil, ErrUnsupportedKey},
		{"short ed25519", ed25519.PublicKey(make([]byte, 31)), ErrUnsupportedKey},
		{"string", "key", ErrUnsupportedKey},
		{"rsa 1024", weakRSA(t).Public(), ErrWeakKey},
	} {
		if _, err := algFor(tc.key); !errorsIs(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	if _, err := NewDPoP(nil); !errorsIs(err, ErrIncompleteConfig) {
		t.Errorf("NewDPoP(nil): %v", err)
	}
	if _, err := NewDPoP(small); !errorsIs(err, ErrUnsupportedKey) {
		t.Errorf("NewDPoP(P-384): %v", err)
	}
	if _, err := NewDPoP(weakRSA(t)); !errorsIs(err, ErrWeakKey) {
		t.Errorf("NewDPoP(RSA-1024): %v", err)
	}
}

// appendJSONString must agree with encoding/json on every input.
func TestAppendJSONString(t *testing.T) {
	for _, s := range []string{"", "plain", `q"b\`, "\x00\x01\x1f\n\r\t", "é☃𝄞", "bad\xff\xfeutf8", "\u2028<>&", "a\xe2\x82"} {
		b := appendJSONString(nil, s)
		var back string
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("%q → %s: %v", s, b, err)
		}
		want, _ := json.Marshal(s)
		var wantBack string
		_ = json.Unmarshal(want, &wantBack)
		if back != wantBack {
			t.Errorf("%q: decodes to %q, encoding/json's to %q", s, back, wantBack)
		}
	}
}

func FuzzAppendJSONString(f *testing.F) {
	f.Add("a\"b\\c\x00\xff")
	f.Fuzz(func(t *testing.T, s string) {
		var back string
		if err := json.Unmarshal(appendJSONString(nil, s), &back); err != nil {
			t.Fatal(err)
		}
		want, _ := json.Marshal(s)
		var wantBack string
		_ = json.Unmarshal(want, &wantBack)
		if back != wantBack {
			t.Fatalf("%q: %q vs %q", s, back, wantBack)
		}
		if strings.ContainsRune(s, 0) && !strings.Contains(string(appendJSONString(nil, s)), `\u0000`) {
			t.Fatal("NUL not escaped")
		}
	})
}

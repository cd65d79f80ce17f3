package clientauth

import (
	"crypto"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strconv"
	"time"
)

// AssertionType is the client_assertion_type of a JWT client assertion
// (RFC 7523 §2.2).
const AssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// DefaultLifetime is the lifetime of an assertion whose Lifetime is zero.
// An assertion is made for one token request and used at once.
const DefaultLifetime = 60 * time.Second

// redacted is what every rendering prints in place of a key.
const redacted = "[REDACTED]"

var errNoEncode = errors.New("clientauth: refusing to serialise a key")

// An Authenticator authenticates a client at a token endpoint with form
// parameters that replace client_secret. [PrivateKeyJWT] and
// [ClientSecretJWT] implement it.
type Authenticator interface {
	// Method returns the token_endpoint_auth_method name (RFC 7591 §2).
	Method() string
	// Params returns the parameters to add to one token request's form.
	Params(clientID string, now time.Time) (url.Values, error)
}

var (
	_ Authenticator = PrivateKeyJWT{}
	_ Authenticator = ClientSecretJWT{}
)

// PrivateKeyJWT authenticates a client with an assertion signed by its
// private key (private_key_jwt: RFC 7523 §2.2, OpenID Connect Core §9). The
// server holds the public key, registered or published at the client's
// jwks_uri (see [PublicJWK]).
//
// The zero Lifetime is [DefaultLifetime]. A PrivateKeyJWT is safe for
// concurrent use when its Key is. Its renderings (fmt with any verb,
// log/slog, JSON, text, gob) never show the key; printing the Key field on
// its own, or the struct in an unexported field of yours, does.
type PrivateKeyJWT struct {
	// Key signs the assertions: *rsa.PrivateKey (2048 bits or more: RS256),
	// *ecdsa.PrivateKey on P-256 (ES256), ed25519.PrivateKey (EdDSA), or
	// any crypto.Signer, such as a KMS key, with such a public key.
	Key crypto.Signer
	// KeyID is the kid header: which of the client's registered keys
	// signed. Empty: no kid.
	KeyID string
	// Audience is the aud claim: the token endpoint URL (RFC 7523, OpenID
	// Connect) or the issuer identifier, as the server requires.
	Audience string
	// Lifetime is exp minus iat. Zero (or negative): DefaultLifetime.
	Lifetime time.Duration
}

// Method returns "private_key_jwt".
func (p PrivateKeyJWT) Method() string { return "private_key_jwt" }

// Assertion returns a signed client assertion for clientID, issued at now:
// header alg, typ "JWT" and kid; claims iss and sub (the client ID), aud,
// a random 128-bit jti, iat and exp.
func (p PrivateKeyJWT) Assertion(clientID string, now time.Time) (string, error) {
	s, err := newSigner(p.Key)
	if err != nil {
		return "", err
	}
	buf, claims, err := assertionInput(s.alg, p.KeyID, clientID, p.Audience, p.Lifetime, now)
	if err != nil {
		return "", err
	}
	input := buf[claims:]
	if buf, err = s.appendSignature(append(buf, '.'), input); err != nil {
		return "", err
	}
	return string(buf[claims:]), nil
}

// Params returns client_assertion_type and client_assertion for one token
// request. Add client_id yourself when the server wants it (RFC 7523 §3.1
// makes it optional).
func (p PrivateKeyJWT) Params(clientID string, now time.Time) (url.Values, error) {
	return assertionParams(p.Assertion(clientID, now))
}

// String describes p without its key.
func (p PrivateKeyJWT) String() string {
	return "clientauth.PrivateKeyJWT{KeyID:" + strconv.Quote(p.KeyID) + ", Audience:" + strconv.Quote(p.Audience) +
		", Lifetime:" + p.Lifetime.String() + ", Key:" + redacted + "}"
}

// GoString implements [fmt.GoStringer] like String.
func (p PrivateKeyJWT) GoString() string { return p.String() }

// Format implements [fmt.Formatter]: every verb prints String.
func (p PrivateKeyJWT) Format(f fmt.State, verb rune) { _, _ = io.WriteString(f, p.String()) }

// LogValue implements [slog.LogValuer].
func (p PrivateKeyJWT) LogValue() slog.Value {
	return slog.GroupValue(slog.String("method", p.Method()), slog.String("kid", p.KeyID),
		slog.String("audience", p.Audience), slog.Duration("lifetime", p.Lifetime), slog.String("key", redacted))
}

// MarshalText implements [encoding.TextMarshaler] with String.
func (p PrivateKeyJWT) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// MarshalJSON implements [encoding/json.Marshaler]: the method, kid,
// audience and lifetime, the key as "[REDACTED]".
func (p PrivateKeyJWT) MarshalJSON() ([]byte, error) {
	b := []byte(`{"method":"private_key_jwt"`)
	b = appendStringMember(b, "kid", p.KeyID)
	b = appendStringMember(b, "audience", p.Audience)
	b = appendStringMember(b, "lifetime", p.Lifetime.String())
	b = appendStringMember(b, "key", redacted)
	return append(b, '}'), nil
}

// GobEncode refuses: a key must not be serialised by accident.
func (p PrivateKeyJWT) GobEncode() ([]byte, error) { return nil, errNoEncode }

// ClientSecretJWT authenticates a client with an assertion MACed (HS256)
// with its client secret (client_secret_jwt: OpenID Connect Core §9): the
// secret proves the client without crossing the wire.
//
// The zero Lifetime is [DefaultLifetime]. A ClientSecretJWT is safe for
// concurrent use as long as Secret is not modified. Its renderings never
// show the secret (see [PrivateKeyJWT]).
type ClientSecretJWT struct {
	// Secret is the client secret as bytes (the UTF-8 of client_secret).
	// RFC 7518 §3.2 requires 32 bytes or more; shorter secrets are refused.
	Secret []byte
	// Audience is the aud claim, as for PrivateKeyJWT.
	Audience string
	// Lifetime is exp minus iat. Zero (or negative): DefaultLifetime.
	Lifetime time.Duration
}

// Method returns "client_secret_jwt".
func (c ClientSecretJWT) Method() string { return "client_secret_jwt" }

// Assertion returns a client assertion for clientID, issued at now, MACed
// with HS256: header alg and typ "JWT"; claims as for
// [PrivateKeyJWT.Assertion].
func (c ClientSecretJWT) Assertion(clientID string, now time.Time) (string, error) {
	switch {
	case len(c.Secret) == 0:
		return "", fmt.Errorf("%w: no secret", ErrIncompleteConfig)
	case len(c.Secret) < minHMACBytes:
		// The length is not secret enough to hide, but say nothing of it.
		return "", fmt.Errorf("%w: HS256 needs a secret of %d bytes or more", ErrWeakKey, minHMACBytes)
	}
	buf, claims, err := assertionInput(algHS256, "", clientID, c.Audience, c.Lifetime, now)
	if err != nil {
		return "", err
	}
	input := buf[claims:]
	buf = appendHS256(append(buf, '.'), c.Secret, input)
	return string(buf[claims:]), nil
}

// Params returns client_assertion_type and client_assertion, as
// [PrivateKeyJWT.Params] does.
func (c ClientSecretJWT) Params(clientID string, now time.Time) (url.Values, error) {
	return assertionParams(c.Assertion(clientID, now))
}

// String describes c without its secret.
func (c ClientSecretJWT) String() string {
	return "clientauth.ClientSecretJWT{Audience:" + strconv.Quote(c.Audience) +
		", Lifetime:" + c.Lifetime.String() + ", Secret:" + redacted + "}"
}

// GoString implements [fmt.GoStringer] like String.
func (c ClientSecretJWT) GoString() string { return c.String() }

// Format implements [fmt.Formatter]: every verb prints String.
func (c ClientSecretJWT) Format(f fmt.State, verb rune) { _, _ = io.WriteString(f, c.String()) }

// LogValue implements [slog.LogValuer].
func (c ClientSecretJWT) LogValue() slog.Value {
	return slog.GroupValue(slog.String("method", c.Method()), slog.String("audience", c.Audience),
		slog.Duration("lifetime", c.Lifetime), slog.String("secret", redacted))
}

// MarshalText implements [encoding.TextMarshaler] with String.
func (c ClientSecretJWT) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// MarshalJSON implements [encoding/json.Marshaler]: the method, audience
// and lifetime, the secret as "[REDACTED]".
func (c ClientSecretJWT) MarshalJSON() ([]byte, error) {
	b := []byte(`{"method":"client_secret_jwt"`)
	b = appendStringMember(b, "audience", c.Audience)
	b = appendStringMember(b, "lifetime", c.Lifetime.String())
	b = appendStringMember(b, "secret", redacted)
	return append(b, '}'), nil
}

// GobEncode refuses: a secret must not be serialised by accident.
func (c ClientSecretJWT) GobEncode() ([]byte, error) { return nil, errNoEncode }

// assertionInput returns a buffer holding the claims JSON followed by the
// JWS signing input (header.claims, base64url), and where the input starts.
func assertionInput(a alg, kid, clientID, audience string, lifetime time.Duration, now time.Time) (buf []byte, start int, err error) {
	switch {
	case clientID == "":
		return nil, 0, fmt.Errorf("%w: no client ID", ErrIncompleteConfig)
	case audience == "":
		return nil, 0, fmt.Errorf("%w: no audience", ErrIncompleteConfig)
	}
	if lifetime <= 0 {
		lifetime = DefaultLifetime
	}
	buf = make([]byte, 0, 512+3*(len(kid)+2*len(clientID)+len(audience)))
	buf = append(buf, '{')
	buf = appendStringMember(buf, "iss", clientID)
	buf = appendStringMember(buf, "sub", clientID)
	buf = appendStringMember(buf, "aud", audience)
	buf = append(buf, `,"jti":"`...)
	buf = appendJTI(buf)
	buf = append(buf, '"')
	buf = appendIntMember(buf, "iat", now.Unix())
	buf = appendIntMember(buf, "exp", now.Add(lifetime).Unix())
	buf = append(buf, '}')
	claims := len(buf)

	buf = append(buf, `{"alg":"`...)
	buf = append(buf, a.String()...)
	buf = append(buf, `","typ":"JWT"`...)
	if kid != "" {
		buf = appendStringMember(buf, "kid", kid)
	}
	buf = append(buf, '}')
	header := buf[claims:]
	start = len(buf)
	buf = b64.AppendEncode(buf, header)
	buf = append(buf, '.')
	buf = b64.AppendEncode(buf, buf[:claims])
	// Move the signing input down over the header JSON, so the buffer is
	// [claims][input].
	n := copy(buf[claims:], buf[start:])
	return buf[:claims+n], claims, nil
}

func assertionParams(assertion string, err error) (url.Values, error) {
	if err != nil {
		return nil, err
	}
	return url.Values{
		"client_assertion_type": {AssertionType},
		"client_assertion":      {assertion},
	}, nil
}

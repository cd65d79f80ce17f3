package clientauth

import (
	"errors"
	"strings"
)

// Errors of the signing side: an assertion or a proof could not be made.
var (
	// ErrUnsupportedKey means a key is of a type or curve the package does
	// not sign with: it takes *rsa.PrivateKey, *ecdsa.PrivateKey on P-256
	// and ed25519.PrivateKey, or any crypto.Signer whose public key is one of
	// those.
	ErrUnsupportedKey = errors.New("clientauth: unsupported key")

	// ErrWeakKey means a key is too small for its algorithm (RFC 7518 §3.2,
	// §3.3): an RSA key under 2048 bits or an HS256 secret under 32 bytes.
	ErrWeakKey = errors.New("clientauth: key too small")

	// ErrIncompleteConfig means a field an assertion needs is empty: the
	// client ID, the audience, the key or the secret.
	ErrIncompleteConfig = errors.New("clientauth: incomplete configuration")

	// ErrInvalidURL means a URL is not an absolute http or https URL with
	// a host, or has a bad percent-encoding or port.
	ErrInvalidURL = errors.New("clientauth: invalid URL")

	// ErrInvalidMethod means an HTTP method is not a token (RFC 9110 §9.1).
	ErrInvalidMethod = errors.New("clientauth: invalid HTTP method")

	// ErrInvalidNonce means a DPoP nonce is empty where one is required,
	// longer than [MaxNonceLen] or has a byte outside NQCHAR (RFC 9449 §8.1).
	ErrInvalidNonce = errors.New("clientauth: invalid DPoP nonce")
)

// Errors of the verifying side. A *[VerifyError] matches one of the first two
// (what was checked) and one of the others (why it was refused).
var (
	// ErrInvalidAssertion matches every error of [VerifyAssertion].
	ErrInvalidAssertion = errors.New("clientauth: invalid client assertion")

	// ErrInvalidProof matches every error of [VerifyProof].
	ErrInvalidProof = errors.New("clientauth: invalid DPoP proof")

	// ErrMalformed means the token is not a compact JWS with JSON header and
	// claims of the expected shape, a required claim is missing, or it uses
	// a header parameter the verifier does not understand (crit).
	ErrMalformed = errors.New("clientauth: malformed JWT")

	// ErrAlgorithm means the header's alg is refused: "none", an unknown
	// algorithm, HS256 in a DPoP proof, or an alg that does not fit the key.
	ErrAlgorithm = errors.New("clientauth: algorithm not allowed")

	// ErrSignature means no key verified the signature.
	ErrSignature = errors.New("clientauth: bad signature")

	// ErrType means the header's typ is wrong for the token: not "dpop+jwt"
	// in a proof, neither absent nor "JWT" in an assertion.
	ErrType = errors.New("clientauth: wrong token type")

	// ErrAudience means the assertion's aud does not name the audience.
	ErrAudience = errors.New("clientauth: audience mismatch")

	// ErrClientID means the assertion's iss or sub is not the client ID.
	ErrClientID = errors.New("clientauth: issuer or subject is not the client")

	// ErrExpired means the assertion's exp has passed (beyond the allowed
	// clock skew), its nbf is in the future, or its lifetime is too long.
	ErrExpired = errors.New("clientauth: token expired or not yet valid")

	// ErrIssuedAt means iat lies outside the accepted window: in the future
	// beyond the clock skew, or (for a proof) too far in the past.
	ErrIssuedAt = errors.New("clientauth: iat outside the accepted window")

	// ErrReplay means the seen callback reported the jti as used before.
	ErrReplay = errors.New("clientauth: jti replayed")

	// ErrMethodMismatch means the proof's htm is not the request's method.
	ErrMethodMismatch = errors.New("clientauth: htm does not match the request method")

	// ErrURLMismatch means the proof's htu is not the request's URL, or
	// carries a query or fragment.
	ErrURLMismatch = errors.New("clientauth: htu does not match the request URL")

	// ErrAccessTokenHash means the proof's ath is missing, wrong, or present
	// without an access token.
	ErrAccessTokenHash = errors.New("clientauth: ath does not match the access token")

	// ErrKeyMismatch means the proof was signed by a key other than the one
	// the token is bound to (its JWK thumbprint is not the expected jkt).
	ErrKeyMismatch = errors.New("clientauth: proof key does not match the bound key")

	// ErrPrivateKeyInJWK means the proof's jwk header carries private key
	// members (d, p, q, dp, dq, qi, oth, k).
	ErrPrivateKeyInJWK = errors.New("clientauth: private key material in jwk")

	// ErrNonce means the proof lacks the nonce the server requires or
	// carries another one: the server should answer use_dpop_nonce.
	ErrNonce = errors.New("clientauth: missing or wrong DPoP nonce")
)

// A VerifyError is the error [VerifyAssertion] and [VerifyProof] return.
// errors.Is matches both its Kind and its Reason. Its text names the failed
// check, never a token, key or claim value.
type VerifyError struct {
	Kind   error  // ErrInvalidAssertion or ErrInvalidProof
	Reason error  // ErrMalformed, ErrSignature, ErrAudience, …
	Detail string // which part failed, e.g. "header", "claims", "jwk"; may be empty
}

func (e *VerifyError) Error() string {
	var b strings.Builder
	b.WriteString(e.Kind.Error())
	b.WriteString(": ")
	b.WriteString(strings.TrimPrefix(e.Reason.Error(), "clientauth: "))
	if e.Detail != "" {
		b.WriteString(" (")
		b.WriteString(e.Detail)
		b.WriteString(")")
	}
	return b.String()
}

// Unwrap returns Kind and Reason, so that errors.Is matches both.
func (e *VerifyError) Unwrap() []error { return []error{e.Kind, e.Reason} }

func assertionError(reason error, detail string) error {
	return &VerifyError{Kind: ErrInvalidAssertion, Reason: reason, Detail: detail}
}

func proofError(reason error, detail string) error {
	return &VerifyError{Kind: ErrInvalidProof, Reason: reason, Detail: detail}
}

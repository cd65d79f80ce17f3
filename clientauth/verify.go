package clientauth

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"time"
)

// ClockSkew is the clock difference [VerifyAssertion] and [VerifyProof]
// tolerate: exp may have passed and iat may lie in the future by this much,
// and a proof's iat may be this old.
const ClockSkew = 60 * time.Second

// MaxAssertionLifetime is the longest exp − iat [VerifyAssertion] accepts:
// a server must remember an assertion's jti until it expires.
const MaxAssertionLifetime = time.Hour

// maxJWSLen bounds the tokens the verifiers read. Ours are well under 2 KiB
// (an RSA jwk header included).
const maxJWSLen = 16 << 10

// VerifyAssertion checks a client assertion (RFC 7523 §3, OpenID Connect
// Core §9) the way a token endpoint would. It is meant for stand-in servers
// and tests of clients, not for production authorization servers.
//
// keys are the client's keys: *rsa.PublicKey (RS256), *ecdsa.PublicKey on
// P-256 (ES256), ed25519.PublicKey (EdDSA), a crypto.Signer holding one of
// those, or a []byte client secret (HS256). The header's alg picks which
// keys are tried; a key never verifies under another algorithm, so an RSA
// public key cannot be abused as an HMAC secret.
//
// It accepts the assertion when a key verifies its signature, typ is
// absent or "JWT", iss and sub are wantClientID, aud (a string or an array)
// holds wantAudience, exp has not passed, iat is not in the future (both
// within [ClockSkew]), exp − iat is at most [MaxAssertionLifetime], nbf (if
// any) has come, and — last, so that forgeries never fill a replay cache —
// seen(jti) reports false. seen should record the jti and report whether it
// was recorded before; nil skips the replay check.
//
// The error is a *[VerifyError] matching [ErrInvalidAssertion] and the
// reason: [ErrMalformed], [ErrAlgorithm], [ErrSignature], [ErrType],
// [ErrClientID], [ErrAudience], [ErrExpired], [ErrIssuedAt] or [ErrReplay].
func VerifyAssertion(token string, keys []crypto.PublicKey, wantAudience, wantClientID string, now time.Time, seen func(jti string) bool) error {
	p, detail := parseJWS(token)
	if detail != "" {
		return assertionError(ErrMalformed, detail)
	}
	if p.alg == algUnknown {
		return assertionError(ErrAlgorithm, "alg")
	}
	if p.header.Typ != nil && !strings.EqualFold(*p.header.Typ, "JWT") {
		return assertionError(ErrType, "typ")
	}
	fits, verified := false, false
	for _, k := range keys {
		if s, ok := k.(crypto.Signer); ok {
			k = s.Public()
		}
		if !keyFits(p.alg, k) {
			continue
		}
		fits = true
		if verifySignature(p.alg, k, p.input, p.sig) {
			verified = true
			break
		}
	}
	switch {
	case !fits:
		return assertionError(ErrAlgorithm, "no key for alg")
	case !verified:
		return assertionError(ErrSignature, "")
	}

	var c struct {
		Iss, Sub, Jti *string
		Aud           json.RawMessage
		Iat, Exp, Nbf json.RawMessage
	}
	if err := json.Unmarshal(p.claims, &c); err != nil {
		return assertionError(ErrMalformed, "claims")
	}
	if c.Iss == nil || c.Sub == nil || c.Jti == nil || *c.Jti == "" || c.Aud == nil || c.Iat == nil || c.Exp == nil {
		return assertionError(ErrMalformed, "missing claim")
	}
	iat, ok1 := numericDate(c.Iat)
	exp, ok2 := numericDate(c.Exp)
	if !ok1 || !ok2 {
		return assertionError(ErrMalformed, "iat or exp")
	}
	if *c.Iss != wantClientID || *c.Sub != wantClientID || wantClientID == "" {
		return assertionError(ErrClientID, "")
	}
	if !audienceHolds(c.Aud, wantAudience) {
		return assertionError(ErrAudience, "")
	}
	switch {
	case now.After(exp.Add(ClockSkew)):
		return assertionError(ErrExpired, "exp")
	case !exp.After(iat) || exp.Sub(iat) > MaxAssertionLifetime:
		return assertionError(ErrExpired, "lifetime")
	case iat.After(now.Add(ClockSkew)):
		return assertionError(ErrIssuedAt, "")
	}
	if c.Nbf != nil {
		nbf, ok := numericDate(c.Nbf)
		if !ok {
			return assertionError(ErrMalformed, "nbf")
		}
		if nbf.After(now.Add(ClockSkew)) {
			return assertionError(ErrExpired, "nbf")
		}
	}
	if seen != nil && seen(*c.Jti) {
		return assertionError(ErrReplay, "")
	}
	return nil
}

// VerifyProof checks a DPoP proof (RFC 9449 §4.3) for a request with the
// given method and URL, the way a server would, and returns the thumbprint
// of its key. It is meant for stand-in servers and tests of clients, not for
// production servers.
//
// It accepts the proof when typ is "dpop+jwt", alg is RS256, ES256 or EdDSA
// and fits the jwk header, the jwk is a public key (no private members), it
// verifies the signature, the key's thumbprint is wantJKT (unless wantJKT is
// empty: a token request, before any binding), htm is method (empty: GET),
// htu is rawURL without query and fragment (both normalised; the claim may
// hold neither), iat is within [ClockSkew] of now, ath is the hash of
// accessToken (and absent when accessToken is empty), nonce is the given
// nonce (unless that is empty), and — last — seen(jti) reports false (nil
// skips the replay check).
//
// The error is a *[VerifyError] matching [ErrInvalidProof] and the reason:
// [ErrMalformed], [ErrAlgorithm], [ErrType], [ErrPrivateKeyInJWK],
// [ErrSignature], [ErrKeyMismatch], [ErrMethodMismatch], [ErrURLMismatch],
// [ErrIssuedAt], [ErrAccessTokenHash], [ErrNonce] or [ErrReplay]; or
// [ErrInvalidURL] when rawURL itself is not a valid URL.
func VerifyProof(proof, method, rawURL, accessToken, wantJKT, nonce string, now time.Time, seen func(jti string) bool) (jkt string, err error) {
	wantHTU, err := appendHTU(nil, rawURL)
	if err != nil {
		return "", err
	}
	if method == "" {
		method = "GET"
	}
	p, detail := parseJWS(proof)
	if detail != "" {
		return "", proofError(ErrMalformed, detail)
	}
	if p.header.Typ == nil || !strings.EqualFold(*p.header.Typ, "dpop+jwt") {
		return "", proofError(ErrType, "typ")
	}
	if p.alg == algUnknown || p.alg == algHS256 {
		return "", proofError(ErrAlgorithm, "alg")
	}
	if p.header.JWK == nil {
		return "", proofError(ErrMalformed, "no jwk")
	}
	pub, jkt, err := parsePublicJWK(p.header.JWK)
	switch {
	case err == errPrivateJWK:
		return "", proofError(ErrPrivateKeyInJWK, "jwk")
	case err != nil:
		return "", proofError(ErrMalformed, "jwk")
	}
	if !keyFits(p.alg, pub) {
		return "", proofError(ErrAlgorithm, "alg does not fit jwk")
	}
	if !verifySignature(p.alg, pub, p.input, p.sig) {
		return "", proofError(ErrSignature, "")
	}
	if wantJKT != "" && jkt != wantJKT {
		return "", proofError(ErrKeyMismatch, "")
	}

	var c struct {
		Jti, Htm, Htu, Ath, Nonce *string
		Iat                       json.RawMessage
	}
	if err := json.Unmarshal(p.claims, &c); err != nil {
		return "", proofError(ErrMalformed, "claims")
	}
	if c.Jti == nil || *c.Jti == "" || c.Htm == nil || c.Htu == nil || c.Iat == nil {
		return "", proofError(ErrMalformed, "missing claim")
	}
	iat, ok := numericDate(c.Iat)
	if !ok {
		return "", proofError(ErrMalformed, "iat")
	}
	if *c.Htm != method {
		return "", proofError(ErrMethodMismatch, "")
	}
	if strings.ContainsAny(*c.Htu, "?#") {
		return "", proofError(ErrURLMismatch, "query or fragment")
	}
	if gotHTU, err := appendHTU(nil, *c.Htu); err != nil || !bytes.Equal(gotHTU, wantHTU) {
		return "", proofError(ErrURLMismatch, "")
	}
	if d := now.Sub(iat); d > ClockSkew || d < -ClockSkew {
		return "", proofError(ErrIssuedAt, "")
	}
	switch {
	case accessToken == "" && c.Ath != nil:
		return "", proofError(ErrAccessTokenHash, "ath without access token")
	case accessToken != "":
		sum := sha256.Sum256([]byte(accessToken))
		want := b64.EncodeToString(sum[:])
		if c.Ath == nil || subtle.ConstantTimeCompare([]byte(*c.Ath), []byte(want)) != 1 {
			return "", proofError(ErrAccessTokenHash, "")
		}
	}
	if nonce != "" && (c.Nonce == nil || *c.Nonce != nonce) {
		return "", proofError(ErrNonce, "")
	}
	if seen != nil && seen(*c.Jti) {
		return "", proofError(ErrReplay, "")
	}
	return jkt, nil
}

type jwsHeader struct {
	Alg  string          `json:"alg"`
	Typ  *string         `json:"typ"`
	JWK  json.RawMessage `json:"jwk"`
	Crit json.RawMessage `json:"crit"`
}

type parsedJWS struct {
	header jwsHeader
	alg    alg
	claims []byte // decoded JSON
	input  []byte // header.claims as sent
	sig    []byte
}

// parseJWS splits and decodes a compact JWS. detail is non-empty when it is
// malformed and says which part.
func parseJWS(token string) (p parsedJWS, detail string) {
	if len(token) > maxJWSLen {
		return p, "too long"
	}
	h, rest, ok1 := strings.Cut(token, ".")
	c, s, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || strings.IndexByte(s, '.') >= 0 {
		return p, "not a compact JWS"
	}
	hdr, err := b64Strict.DecodeString(h)
	if err != nil {
		return p, "header"
	}
	if err := json.Unmarshal(hdr, &p.header); err != nil {
		return p, "header"
	}
	if p.header.Crit != nil {
		return p, "crit"
	}
	if p.claims, err = b64Strict.DecodeString(c); err != nil {
		return p, "claims"
	}
	if p.sig, err = b64Strict.DecodeString(s); err != nil {
		return p, "signature"
	}
	p.alg = parseAlg(p.header.Alg)
	p.input = []byte(token[:len(h)+1+len(c)])
	return p, ""
}

// keyFits reports whether key is of the type alg verifies with.
func keyFits(a alg, key crypto.PublicKey) bool {
	if a == algHS256 {
		_, ok := key.([]byte)
		return ok
	}
	b, err := algFor(key)
	return err == nil && a == b
}

// numericDate reads a NumericDate (RFC 7519 §2): a JSON number of seconds,
// possibly with a fraction, within a sane range. A quoted number is not one.
func numericDate(n json.RawMessage) (time.Time, bool) {
	if len(n) == 0 || (n[0] != '-' && (n[0] < '0' || n[0] > '9')) {
		return time.Time{}, false
	}
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil || math.IsNaN(f) || math.Abs(f) > 1e11 {
		return time.Time{}, false
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), true
}

// audienceHolds reports whether aud, a string or an array of strings,
// names want.
func audienceHolds(aud json.RawMessage, want string) bool {
	if want == "" {
		return false
	}
	var one string
	if json.Unmarshal(aud, &one) == nil {
		return one == want
	}
	var many []string
	if json.Unmarshal(aud, &many) != nil {
		return false
	}
	for _, a := range many {
		if a == want {
			return true
		}
	}
	return false
}

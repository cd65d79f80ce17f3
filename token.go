package tenantauth

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// A Token is an access token issued by a token endpoint.
//
// A Token returned by a [Manager] is shared by every caller that asked for the
// same tenant: treat it as read-only. Its secrets are of type [Secret], so a
// Token can be printed, logged and marshalled without leaking them.
type Token struct {
	// AccessToken is the token sent to the API.
	AccessToken Secret
	// TokenType is the canonical token type, e.g. "Bearer" (see [CanonicalTokenType]).
	TokenType string
	// RefreshToken, when not empty, can be exchanged for a new token with
	// GrantRefreshToken.
	RefreshToken Secret
	// Expiry is when the access token expires. Zero means the server gave no
	// lifetime; the Manager then keeps the token for Config.DefaultLifetime.
	Expiry time.Time
	// RefreshExpiry is when the refresh token expires. Zero means unknown or
	// no expiry (Keycloak's refresh_expires_in of 0).
	RefreshExpiry time.Time
	// Scope is the scope the server granted, as it sent it.
	Scope string
	// IssuedAt is when the token was received. Providers set it; the Manager
	// sets it to its clock's time when it is zero. Margins such as the expiry
	// skew are fractions of Expiry-IssuedAt.
	IssuedAt time.Time

	// authorization is "TokenType AccessToken" for the hot path, built once
	// by seal; AccessToken is then its suffix, so the token's bytes are
	// held once. fmt never reaches it: Token has its own Format method.
	authorization string
}

// Authorization returns the value of the Authorization header for this token:
// "{TokenType} {AccessToken}", e.g. "Bearer eyJ…", or "DPoP eyJ…" for a
// DPoP-bound token (which also needs a proof per request: see [Token.IsDPoP]). It reveals the access
// token; call it only to build a request. For a Token held by a Manager the
// value is built once and this call does not allocate.
func (t *Token) Authorization() string {
	if t.authorization != "" {
		return t.authorization
	}
	return t.buildAuthorization()
}

func (t *Token) buildAuthorization() string {
	typ := CanonicalTokenType(t.TokenType)
	if typ == "" {
		typ = "Bearer"
	}
	return typ + " " + string(t.AccessToken)
}

// seal precomputes the Authorization value. Called once, before the token is
// published to other goroutines.
func (t *Token) seal() {
	v := t.buildAuthorization()
	t.authorization = v
	// Share the bytes: the access token is the header's suffix.
	t.AccessToken = Secret(v[len(v)-len(t.AccessToken):])
}

// CanonicalTokenType returns the canonical spelling of an OAuth token type:
// "bearer" in any case becomes "Bearer" (RFC 6750 §4 says the type is case
// insensitive, and several servers send it in lower case), "dpop" in any
// case becomes "DPoP" (RFC 9449 §5). Other types are returned trimmed and
// otherwise unchanged.
func CanonicalTokenType(typ string) string {
	typ = strings.TrimSpace(typ)
	switch {
	case strings.EqualFold(typ, "bearer"):
		return "Bearer"
	case strings.EqualFold(typ, "dpop"):
		return "DPoP"
	}
	return typ
}

// IsDPoP reports whether t is a DPoP-bound token (RFC 9449): its TokenType
// is "DPoP" in any case. Such a token is sent as "Authorization: DPoP …"
// together with a DPoP proof made with the key it is bound to.
func (t *Token) IsDPoP() bool { return CanonicalTokenType(t.TokenType) == "DPoP" }

// A TokenRequest asks a Provider for a token.
type TokenRequest struct {
	// Grant is the grant to use: Credentials.EffectiveGrant() for a full
	// request, or GrantRefreshToken.
	Grant Grant
	// Credentials are the tenant's credentials. A refresh request carries
	// them too, because most servers want the client authenticated.
	Credentials Credentials
	// RefreshToken is the refresh token to exchange, for GrantRefreshToken.
	RefreshToken Secret
}

// A Provider speaks one token endpoint's dialect.
//
// Implementations must be safe for concurrent use, must not keep secrets in
// their own fields, and should return a *[TokenError] for every answer of the
// token endpoint that is not a token.
type Provider interface {
	// Endpoint returns the token endpoint URL. The Manager keeps one circuit
	// breaker per distinct endpoint.
	Endpoint() string
	// Exchange performs one token request. It must honour ctx.
	Exchange(ctx context.Context, req TokenRequest) (*Token, error)
}

// Format implements [fmt.Formatter]. Every verb prints the same safe summary
// with the secrets redacted: fmt's fallback for a verb a type does not
// support (%d of a struct, say) prints fields without calling their
// methods, which would bypass Secret's redaction.
func (t Token) Format(f fmt.State, verb rune) {
	var b strings.Builder
	b.WriteString("{AccessToken:")
	b.WriteString(redactedOrEmpty(t.AccessToken))
	b.WriteString(" TokenType:")
	b.WriteString(t.TokenType)
	b.WriteString(" RefreshToken:")
	b.WriteString(redactedOrEmpty(t.RefreshToken))
	writeTime(&b, " Expiry:", t.Expiry)
	writeTime(&b, " RefreshExpiry:", t.RefreshExpiry)
	writeTime(&b, " IssuedAt:", t.IssuedAt)
	if t.Scope != "" {
		b.WriteString(" Scope:")
		b.WriteString(strconv.Quote(t.Scope))
	}
	b.WriteString("}")
	_, _ = io.WriteString(f, b.String())
}

// redactedOrEmpty keeps "no refresh token" visible without revealing one.
func redactedOrEmpty(s Secret) string {
	if s == "" {
		return `""`
	}
	return redacted
}

func writeTime(b *strings.Builder, label string, t time.Time) {
	if t.IsZero() {
		return
	}
	b.WriteString(label)
	b.WriteString(t.Format(time.RFC3339))
}

package xoauth2

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"golang.org/x/oauth2"

	"github.com/tenantauth/tenantauth"
)

// errNoManager is returned by a TokenSource built without a Manager.
var errNoManager = errors.New("xoauth2: TokenSource has no Manager")

// ErrDPoPBound is the error of a TokenSource's Token for a tenant whose
// tokens are DPoP-bound (tenantauth.Credentials.DPoP): such a token is
// useless without a fresh proof for every request, which an
// oauth2.TokenSource cannot make and x/oauth2's Transport would not send.
// Use [Client], whose Transport makes the proofs.
var ErrDPoPBound = errors.New("xoauth2: the tenant's tokens are DPoP-bound and need a proof per request: use xoauth2.Client, not a TokenSource")

// TokenSource returns an [oauth2.TokenSource] of tenantID's access tokens,
// held by m.
//
// Every Token call asks m ([tenantauth.Manager.Token]): a cache hit costs
// tens of nanoseconds and allocates nothing, so there is nothing to gain
// from caching the result. The tokens are the Manager's: refresh-ahead,
// one token request per tenant however many callers wait, the circuit
// breaker, and [tenantauth.Manager.Invalidate] and
// [tenantauth.Manager.Forget] (seen on the very next call) all apply.
//
// Do not wrap the result in [oauth2.ReuseTokenSource], and do not keep the
// returned *oauth2.Token for later requests: that would be a second cache,
// which holds a token until its Expiry and so never sees an Invalidate
// (after an API's 401) or a Forget (after a tenant's credentials changed),
// nor the Manager's refresh ahead of expiry.
//
// ctx is used by every Token call, because [oauth2.TokenSource.Token] takes
// none: it bounds how long a call waits for a token fetch. The fetch itself
// runs on the Manager's context, bounded by Config.FetchTimeout, so a
// caller that gives up does not cancel it for the others. Pass a context that lives as long
// as the TokenSource, such as the service's: once ctx is done, every Token
// call fails with an error wrapping ctx.Err(). A nil ctx means
// [context.Background]; a wait is then bounded by Config.FetchTimeout.
//
// The token goes wherever the caller of Token sends it: the tenant's
// APIHosts are not checked. When the destination is known, as for a gRPC
// connection, use [TokenSourceForHost].
//
// While the Manager's token stays the same, Token returns the same
// *oauth2.Token to every caller, as oauth2.ReuseTokenSource and
// oauth2.StaticTokenSource do: treat it as read-only. A new token from the
// Manager is a new *oauth2.Token. Its fields:
//   - AccessToken is the access token in clear text: unlike
//     [tenantauth.Secret], an oauth2.Token prints, logs and marshals it, so
//     its holder now holds the secret.
//   - TokenType is the canonical type, "Bearer" for every token the
//     Manager accepts by default.
//   - Expiry is the token's real expiry, as the token endpoint gave it
//     (zero when it gave none; the Manager then replaces the token after
//     Config.DefaultLifetime). It is not the Manager's earlier deadline
//     for serving the token (Expiry minus its skew): the Manager refreshes
//     ahead of that deadline, so a token handed out normally has most of
//     its life left, and while the token endpoint is down the Manager
//     keeps serving a token past that deadline until it really expires,
//     which an earlier Expiry would make x/oauth2 call invalid. Like every
//     oauth2.Token, it is reported invalid ([oauth2.Token.Valid]) 10 s
//     before Expiry.
//   - RefreshToken is always empty. The Manager owns refresh; a refresh
//     token used by anyone else would break a rotating server's chain for
//     the tenant.
//
// Errors are the Manager's, unwrapped, so errors.Is and errors.As work as
// with [tenantauth.Manager.Token] (ErrUnknownTenant, ErrCircuitOpen,
// ErrInvalidCredentials, ErrClosed, …), and none contains a secret. Only an
// error caused by ctx being done is wrapped, to say so; it still matches
// context.Canceled or context.DeadlineExceeded.
//
// The TokenSource is safe for concurrent use. It starts no goroutine and
// needs no closing. A nil m makes every Token call fail.
func TokenSource(ctx context.Context, m *tenantauth.Manager, tenantID string) oauth2.TokenSource {
	return newTokenSource(ctx, m, tenantID, "", false)
}

// TokenSourceForHost is [TokenSource] for tokens sent to host (a host name
// or IP literal, with or without a port, as in a URL): Token fails with an
// error wrapping [tenantauth.ErrHostNotAllowed], and hands out no token,
// when the tenant's APIHosts do not allow host
// ([tenantauth.Manager.TokenForHost]). Use it when the destination is fixed,
// as the target of a gRPC connection or the API a generated client calls,
// so that a tenant's token goes only where its record says it may.
//
// The scheme is not checked: the TokenSource does not know it. Requiring
// transport security is the caller's part (gRPC's oauth credentials refuse
// a connection without it).
func TokenSourceForHost(ctx context.Context, m *tenantauth.Manager, tenantID, host string) oauth2.TokenSource {
	return newTokenSource(ctx, m, tenantID, host, true)
}

func newTokenSource(ctx context.Context, m *tenantauth.Manager, tenantID, host string, checkHost bool) *tokenSource {
	if ctx == nil {
		ctx = context.Background()
	}
	return &tokenSource{ctx: ctx, m: m, tenant: tenantID, host: host, checkHost: checkHost}
}

// tokenSource is the oauth2.TokenSource of one tenant. It decides nothing
// about tokens: the Manager's cache is the only cache.
type tokenSource struct {
	// ctx is stored because oauth2.TokenSource.Token takes no context; see
	// TokenSource for why and for what it bounds.
	ctx       context.Context
	m         *tenantauth.Manager
	tenant    string
	host      string
	checkHost bool
	// last is the conversion of the Manager's last token, so that a cache
	// hit allocates nothing. It is used only when the Manager hands out
	// that very token again (the same *tenantauth.Token: the Manager's
	// tokens are immutable, and a new token is a new pointer), so it never
	// outlives the Manager's decision to drop a token.
	last atomic.Pointer[converted]
}

// converted is an oauth2.Token and the Manager's token it was made from.
type converted struct {
	from *tenantauth.Token
	to   *oauth2.Token
}

// Token implements [oauth2.TokenSource].
func (s *tokenSource) Token() (*oauth2.Token, error) {
	if s.m == nil {
		return nil, errNoManager
	}
	// The Manager serves a cached token whatever ctx says; checked here, a
	// done ctx fails every call at once, not only the first one after the
	// token expires, an hour after the bug.
	if err := s.ctx.Err(); err != nil {
		return nil, &ctxError{tenant: s.tenant, err: err}
	}
	var (
		tok *tenantauth.Token
		err error
	)
	if s.checkHost {
		tok, err = s.m.TokenForHost(s.ctx, s.tenant, s.host)
	} else {
		tok, err = s.m.Token(s.ctx, s.tenant)
	}
	if err != nil {
		return nil, s.explain(err)
	}
	if tok.IsDPoP() {
		return nil, ErrDPoPBound
	}
	if c := s.last.Load(); c != nil && c.from == tok {
		return c.to, nil
	}
	c := &converted{from: tok, to: convert(tok)}
	s.last.Store(c)
	return c.to, nil
}

// convert returns the oauth2.Token for a Manager's token: the access token
// revealed, its canonical type and its real expiry; never the refresh
// token, which stays with the Manager, its only user.
func convert(tok *tenantauth.Token) *oauth2.Token {
	return &oauth2.Token{
		AccessToken: tok.AccessToken.Reveal(),
		TokenType:   tok.TokenType,
		Expiry:      tok.Expiry,
	}
}

// explain says so when an error comes from the context stored at
// construction, not from the Manager: "context canceled" from a TokenSource
// built with a request's context would otherwise puzzle its reader long
// after that request ended. Any other error is returned as it is.
func (s *tokenSource) explain(err error) error {
	if s.ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
		return &ctxError{tenant: s.tenant, err: err}
	}
	return err
}

// ctxError is a Token call that failed because the TokenSource's context is
// done.
type ctxError struct {
	tenant string
	err    error
}

func (e *ctxError) Error() string {
	return fmt.Sprintf("xoauth2: tenant %q: the context given to TokenSource is done "+
		"(give it one that lives as long as the TokenSource): %v", e.tenant, e.err)
}

func (e *ctxError) Unwrap() error { return e.err }

// Format implements [fmt.Formatter]. A tokenSource holds a Manager, and
// with it every tenant's credentials: printing it shows only the tenant.
func (s *tokenSource) Format(f fmt.State, _ rune) {
	_, _ = fmt.Fprintf(f, "xoauth2.TokenSource{tenant:%q}", s.tenant)
}

var _ fmt.Formatter = (*tokenSource)(nil)

package tenantauth

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tenantauth/tenantauth/breaker"
)

var (
	// ErrNoTenant means a request carried no tenant (see [WithTenant]).
	ErrNoTenant = errors.New("tenantauth: no tenant in request context")

	// ErrUnknownTenant means the TenantSource does not know the tenant ID.
	ErrUnknownTenant = errors.New("tenantauth: unknown tenant")

	// ErrCircuitOpen means the circuit breaker of the tenant's token endpoint
	// is open (or half-open and already probing): the token request was not
	// sent. Errors that match it also match gobreaker's ErrOpenState or
	// ErrTooManyRequests.
	ErrCircuitOpen = breaker.ErrOpen

	// ErrInvalidCredentials matches a *TokenError whose OAuth error code says
	// the tenant's credentials were refused (invalid_grant, invalid_client,
	// unauthorized_client), and the error the Manager returns while it
	// remembers such a refusal.
	ErrInvalidCredentials = errors.New("tenantauth: credentials refused by token endpoint")

	// ErrHostNotAllowed means a request would have sent a tenant's token to a
	// host outside the tenant's APIHosts. Nothing was sent.
	ErrHostNotAllowed = errors.New("tenantauth: host not in tenant's APIHosts")

	// ErrUnsupportedGrant means a provider does not implement the grant a
	// tenant's record asks for. Nothing was sent. It is the tenant's fault,
	// not the endpoint's: the circuit breaker does not count it, and the
	// Manager remembers it for Config.BadCredentialsTTL like a refusal.
	ErrUnsupportedGrant error = &recordError{"tenantauth: unsupported grant"}

	// ErrIncompleteCredentials means a tenant's credentials lack a field
	// its grant needs (a password grant without Username, say). Nothing was
	// sent. Like ErrUnsupportedGrant, it never counts against the endpoint.
	ErrIncompleteCredentials error = &recordError{"tenantauth: incomplete credentials"}

	// ErrTooManyLookups means no fetch was started for a tenant because
	// Config.MaxLookups TenantSource lookups were under way for as long as
	// the caller could wait (its context, at most Config.FetchTimeout): a
	// flood of tenant IDs waits in line instead of growing goroutines and
	// hammering the tenant store. When the caller's context ended, the
	// error matches its error too. Retry later.
	ErrTooManyLookups = errors.New("tenantauth: too many tenant lookups under way")

	// ErrClosed means the Manager was closed.
	ErrClosed = errors.New("tenantauth: manager closed")

	// ErrInsecureEndpoint means a URL is not https and not on a loopback
	// host, and plain HTTP was not explicitly allowed: a token endpoint
	// (nothing was sent), or an API a tenant's token was asked for
	// ([Manager.TokenForURL]: no token was handed out).
	ErrInsecureEndpoint = errors.New("tenantauth: https required (plain http only on loopback or by explicit opt-in)")

	// ErrMalformedResponse means a token endpoint answered 2xx with something
	// that is not a usable token: not a JSON object, no access_token, a
	// token type that is not Bearer, an already expired token. Unlike a
	// *TokenError it says the endpoint is broken, so it counts against the
	// endpoint's circuit breaker.
	ErrMalformedResponse = errors.New("tenantauth: malformed token response")

	// ErrBodyTooLarge means a token endpoint's response body exceeded the
	// providers' 1 MiB limit. It is an error, never a silent truncation.
	ErrBodyTooLarge = errors.New("tenantauth: token endpoint response body too large")

	// ErrRedirect means a token endpoint answered with a redirect. It is not
	// followed: credentials must not travel to another URL.
	ErrRedirect = errors.New("tenantauth: token endpoint redirected; not followed")
)

// A TokenError is a token endpoint's answer that is not a token: an RFC 6749
// §5.2 error response, an error in a 200 body, or a status the server sent
// with an empty or non-JSON body.
//
// Its texts are the library's own, never the server's. Error, Format (every
// fmt verb), LogValue (log/slog) and MarshalJSON print only the endpoint, the
// HTTP status, the OAuth error code when it is a registered one (see
// [TokenError.RegisteredCode]; any other shows as "non-standard error code"),
// an explanation of what happened and what to do, and RetryAfter. So no
// rendering of a TokenError depends on the value of a secret. The server's
// words would: redacting a secret that is also a word of them shows where it
// was (with the password "user", Keycloak's "Invalid user credentials" would
// print as "Invalid [REDACTED] credentials"), and a one-letter secret would
// garble every message.
//
// The server's own texts stay in Description, URI, Message, Hint, Body and a
// non-standard Code, with the request's secrets and the body's tokens
// redacted; [TokenError.ServerText] joins them for deliberate use.
type TokenError struct {
	// Endpoint is the token endpoint URL without query string or user info.
	Endpoint string
	// StatusCode is the HTTP status (200 for an error inside a 200 body).
	StatusCode int
	// Code is the OAuth error code ("invalid_grant", …), empty when the body
	// had none. A registered code ([TokenError.RegisteredCode]) is printed;
	// any other code is server text, like Description.
	Code string
	// Description is error_description.
	//
	// Server text: not printed by Error, Format, LogValue or MarshalJSON
	// because redaction of short secrets can reveal them; read it
	// deliberately when debugging (see [TokenError.ServerText]). The same
	// holds for URI, Message, Hint, Body and a non-standard Code.
	Description string
	// URI is error_uri. Server text, not printed (see Description).
	URI string
	// Message and Hint are Laravel Passport's extra fields. Server text, not
	// printed (see Description).
	Message, Hint string
	// RetryAfter is the delay the server asked for with Retry-After on a 429
	// or 5xx answer; zero when none.
	RetryAfter time.Duration
	// Body is a short, printable excerpt of a body that was not an OAuth
	// error document (an HTML error page, say); empty otherwise. Server
	// text, not printed (see Description).
	Body string
}

// Error implements error. It reads
//
//	tenantauth: token endpoint URL: status N[: CODE]: EXPLANATION[ (retry after D)]
//
// where CODE is a registered OAuth error code or the words "non-standard
// error code", and EXPLANATION is the library's: what the code or status
// means, what to check, and whether a [Manager] remembers the refusal or a
// later attempt may succeed. No text of the server's appears in it.
func (e *TokenError) Error() string {
	var b strings.Builder
	b.WriteString("tenantauth: token endpoint ")
	b.WriteString(RedactURL(e.Endpoint))
	b.WriteString(": status ")
	b.WriteString(strconv.Itoa(e.StatusCode))
	switch {
	case e.RegisteredCode():
		b.WriteString(": ")
		b.WriteString(e.Code)
	case e.Code != "":
		b.WriteString(": non-standard error code")
	}
	b.WriteString(": ")
	b.WriteString(e.explanation())
	switch {
	case e.TenantFault():
		b.WriteString("; the Manager remembers the refusal for Config.BadCredentialsTTL, Manager.Forget clears it")
	default:
		b.WriteString("; a later attempt may succeed")
	}
	if e.RetryAfter > 0 {
		b.WriteString(" (retry after ")
		b.WriteString(e.RetryAfter.String())
		b.WriteString(")")
	}
	return b.String()
}

// explanation says, in the library's words, what the code (when registered)
// or else the status means and what to check.
func (e *TokenError) explanation() string {
	if e.RegisteredCode() {
		switch e.Code {
		case "invalid_request":
			return "the token endpoint found the request malformed (a missing, repeated or invalid parameter; " +
				"Laravel Passport also answers so for a revoked refresh token): check the provider's settings and the tenant's credentials"
		case "invalid_client":
			return "the token endpoint refused the client credentials (client ID or secret): check them"
		case "invalid_grant":
			return "the token endpoint refused the grant (the username and password, or a refresh token that expired, " +
				"was revoked or was already used): check the credentials"
		case "unauthorized_client":
			return "the token endpoint refused the client or its use of this grant (Keycloak answers so for a wrong client " +
				"secret too; enable Direct Access Grants for the password grant, Service Accounts for client_credentials): " +
				"check the client's credentials and settings"
		case "unsupported_grant_type":
			return "the server does not allow this grant (Laravel Passport 12 disables the password grant by default; " +
				"Passport::enablePasswordGrant() enables it): use a grant the server allows"
		case "invalid_scope":
			return "the token endpoint refused the requested scope (Credentials.Scopes): ask only for scopes the client may have"
		case "invalid_token":
			return "the server refused a token the request carried (a refresh token or an assertion): it expired, was revoked or is malformed"
		case "insufficient_scope":
			return "the request needs a scope the client or its token does not have: check Credentials.Scopes and the client's settings"
		case "access_denied":
			return "the server denied the request: check the client's and the user's permissions"
		case "unsupported_response_type":
			return "the server does not support this response type: the URL is probably not a token endpoint; check the provider's base URL"
		case "server_error":
			return "the token endpoint failed while handling the request (an error on its side)"
		case "temporarily_unavailable":
			return "the token endpoint is temporarily unable to answer (overloaded or in maintenance)"
		case "authorization_pending":
			return "the device authorization is still pending (RFC 8628): the user has not approved it yet"
		case "slow_down":
			return "the token endpoint asks for fewer requests (RFC 8628): wait longer between them"
		case "expired_token":
			return "the device code expired (RFC 8628): start the device authorization again"
		case "invalid_target":
			return "the token endpoint refused the requested resource or audience (RFC 8707): check the target the client asks for"
		case "invalid_dpop_proof", "use_dpop_nonce":
			return "the token endpoint wants a valid DPoP proof (RFC 9449), or one with the nonce it sent: " +
				"set the tenant's Credentials.DPoP, or configure the client for Bearer tokens"
		}
	}
	switch s := e.StatusCode; {
	case s >= 200 && s < 300:
		return "the token endpoint answered with an error instead of a token"
	case s == 400:
		return "the token endpoint refused the request as malformed: check the provider's settings and the tenant's credentials"
	case s == 401:
		return "the token endpoint refused the client's authentication: check the client ID and secret " +
			"(and, for the password grant, the username and password)"
	case s == 403:
		return "the token endpoint, or a firewall in front of it, forbids this request: " +
			"check the client's permissions and that this service may reach the endpoint"
	case s == 404:
		return "no token endpoint at this URL: check the provider's base URL and (Keycloak) realm"
	case s == 405:
		return "this URL does not take POST requests, so it is not the token endpoint: check the provider's base URL"
	case s == 408:
		return "the token endpoint timed out waiting for the request"
	case s == 415:
		return "the token endpoint does not accept the request's media type: check that the provider matches the server"
	case s == 429:
		return "the token endpoint limits the rate of token requests"
	case s == 502 || s == 504:
		return "a proxy or gateway in front of the token endpoint got no usable answer from it"
	case s == 503:
		return "the token endpoint is unavailable (overloaded or in maintenance)"
	case s >= 500:
		return "the token endpoint failed (a server error)"
	case s >= 400:
		return "the token endpoint refused the request"
	}
	return "the token endpoint answered with an unexpected status"
}

// RegisteredCode reports whether Code is an OAuth error code registered for
// token endpoints and the resources they protect: RFC 6749 §5.2 and
// §4.1.2.1, RFC 6750 (invalid_token, insufficient_scope), RFC 8628 (the
// device grant), RFC 8707 (invalid_target) and RFC 9449 (DPoP). Such a code
// is the library's vocabulary and is printed; any other Code is the server's
// text and is not.
func (e *TokenError) RegisteredCode() bool {
	switch e.Code {
	case "invalid_request", "invalid_client", "invalid_grant", "unauthorized_client",
		"unsupported_grant_type", "invalid_scope", "access_denied", "unsupported_response_type",
		"server_error", "temporarily_unavailable", "invalid_token", "insufficient_scope",
		"authorization_pending", "slow_down", "expired_token", "invalid_target",
		"invalid_dpop_proof", "use_dpop_nonce":
		return true
	}
	return false
}

// ServerText returns the server's own texts — the error code, Description,
// URI, Message, Hint and Body — as error="…" error_description="…"
// error_uri="…" message="…" hint="…" body="…" (Go-quoted, empty ones left
// out), or "" when there are none.
//
// They are redacted of the request's secrets and the body's tokens, but
// redaction of a short secret can reveal it (a marker in a known sentence
// shows where the secret was), so no rendering of a TokenError includes
// them. Call ServerText deliberately, when debugging a refusal, and keep its
// result out of logs others read.
func (e *TokenError) ServerText() string {
	var b strings.Builder
	for _, f := range [...]struct{ name, text string }{
		{"error", e.Code}, {"error_description", e.Description}, {"error_uri", e.URI},
		{"message", e.Message}, {"hint", e.Hint}, {"body", e.Body},
	} {
		if f.text == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(f.name)
		b.WriteByte('=')
		b.WriteString(strconv.Quote(f.text))
	}
	return b.String()
}

// hasServerText reports whether e holds server text that its renderings
// leave out: a non-standard Code, Description, URI, Message, Hint or Body.
func (e *TokenError) hasServerText() bool {
	return e.Code != "" && !e.RegisteredCode() ||
		e.Description != "" || e.URI != "" || e.Message != "" || e.Hint != "" || e.Body != ""
}

// Format implements [fmt.Formatter], so that no verb prints the fields
// themselves. %v and %s print Error(), %q quotes it, %x and %X encode it in
// hex (width, precision and flags as fmt applies them to a string). %+v adds
// a note when the server's text was left out. %#v prints a Go-syntax summary
// of the printable fields: Endpoint, StatusCode, a registered Code and
// RetryAfter. Any other verb prints %!verb(*tenantauth.TokenError=Error()).
func (e *TokenError) Format(f fmt.State, verb rune) {
	if e == nil {
		_, _ = io.WriteString(f, "<nil>")
		return
	}
	switch verb {
	case 'v':
		if f.Flag('#') {
			_, _ = io.WriteString(f, e.goString())
			return
		}
		s := e.Error()
		if f.Flag('+') && e.hasServerText() {
			s += "; the server's own text is not printed (redaction could reveal a secret): TokenError.ServerText has it"
		}
		_, _ = fmt.Fprintf(f, fmt.FormatString(f, verb), s)
	case 's', 'q', 'x', 'X':
		_, _ = fmt.Fprintf(f, fmt.FormatString(f, verb), e.Error())
	default:
		_, _ = fmt.Fprintf(f, "%%!%c(*tenantauth.TokenError=%s)", verb, e.Error())
	}
}

// goString is %#v: the printable fields in Go syntax.
func (e *TokenError) goString() string {
	var b strings.Builder
	b.WriteString("&tenantauth.TokenError{Endpoint:")
	b.WriteString(strconv.Quote(RedactURL(e.Endpoint)))
	b.WriteString(", StatusCode:")
	b.WriteString(strconv.Itoa(e.StatusCode))
	if e.RegisteredCode() {
		b.WriteString(", Code:")
		b.WriteString(strconv.Quote(e.Code))
	}
	if e.RetryAfter != 0 {
		b.WriteString(", RetryAfter:")
		b.WriteString(strconv.FormatInt(int64(e.RetryAfter), 10))
	}
	if e.hasServerText() {
		b.WriteString(" /* server text not printed: see ServerText */")
	}
	b.WriteString("}")
	return b.String()
}

// LogValue implements [slog.LogValuer]: a group of message (Error()),
// endpoint, status, code (a registered one; nonstandard_code=true stands
// for any other) and retry_after when set. No server text.
func (e *TokenError) LogValue() slog.Value {
	if e == nil {
		return slog.StringValue("<nil>")
	}
	attrs := make([]slog.Attr, 0, 5)
	attrs = append(attrs,
		slog.String("message", e.Error()),
		slog.String("endpoint", RedactURL(e.Endpoint)),
		slog.Int("status", e.StatusCode))
	switch {
	case e.RegisteredCode():
		attrs = append(attrs, slog.String("code", e.Code))
	case e.Code != "":
		attrs = append(attrs, slog.Bool("nonstandard_code", true))
	}
	if e.RetryAfter > 0 {
		attrs = append(attrs, slog.Duration("retry_after", e.RetryAfter))
	}
	return slog.GroupValue(attrs...)
}

// MarshalJSON implements [encoding/json.Marshaler] with the fields LogValue
// logs: {"message":…,"endpoint":…,"status":…,"code":…,
// "nonstandard_code":true,"retry_after_seconds":…}, the last three only
// when set. No server text.
func (e *TokenError) MarshalJSON() ([]byte, error) {
	v := struct {
		Message         string  `json:"message"`
		Endpoint        string  `json:"endpoint"`
		Status          int     `json:"status"`
		Code            string  `json:"code,omitempty"`
		NonStandardCode bool    `json:"nonstandard_code,omitempty"`
		RetryAfter      float64 `json:"retry_after_seconds,omitempty"`
	}{Message: e.Error(), Endpoint: RedactURL(e.Endpoint), Status: e.StatusCode, RetryAfter: e.RetryAfter.Seconds()}
	if e.RegisteredCode() {
		v.Code = e.Code
	} else {
		v.NonStandardCode = e.Code != ""
	}
	return json.Marshal(v)
}

// Is makes errors.Is(err, ErrInvalidCredentials) true for a refusal of the
// tenant's credentials.
func (e *TokenError) Is(target error) bool {
	return target == ErrInvalidCredentials && e.InvalidCredentials()
}

// InvalidCredentials reports whether the endpoint refused the tenant's
// credentials: the OAuth codes invalid_grant, invalid_client and
// unauthorized_client, or a 401 without a code.
func (e *TokenError) InvalidCredentials() bool {
	switch e.Code {
	case "invalid_grant", "invalid_client", "unauthorized_client":
		return true
	case "":
		return e.StatusCode == 401
	}
	return false
}

// Temporary reports whether the failure is the endpoint's (429, 5xx, 408)
// and a later attempt may succeed.
func (e *TokenError) Temporary() bool {
	return e.StatusCode == 429 || e.StatusCode == 408 || e.StatusCode >= 500
}

// TenantFault reports whether the endpoint refused what one tenant sent
// (its credentials, its grant) rather than failing. The circuit breaker does
// not count such errors against the endpoint, so one tenant's bad password
// cannot cut off the others.
func (e *TokenError) TenantFault() bool { return !e.Temporary() }

// RedactURL returns u without user info, query and fragment, for errors and
// logs: query strings and user info may carry credentials.
func RedactURL(u string) string {
	if !strings.ContainsAny(u, "@?#") {
		// Nothing to redact: no user info, query or fragment. The common
		// case (every miss names its endpoint) costs no parse.
		return u
	}
	p, err := url.Parse(u)
	if err != nil || p.Host == "" {
		// Not an absolute URL with a host: what could be a secret is cut
		// by hand (a relative "secret@host" parses as a path).
		if i := strings.IndexAny(u, "?#"); i >= 0 {
			u = u[:i]
		}
		if i := strings.LastIndex(u, "@"); i >= 0 {
			u = u[i+1:]
		}
		return u
	}
	p.User = nil
	p.RawQuery = ""
	p.ForceQuery = false
	p.Fragment = ""
	p.RawFragment = ""
	return p.String()
}

// hostError refuses a destination: a host outside the tenant's APIHosts,
// or, when scheme is set, a plain-http URL.
type hostError struct{ tenant, host, scheme string }

func (e *hostError) Error() string {
	if e.scheme != "" {
		return fmt.Sprintf("tenantauth: tenant %q may not send its token over %q to host %q "+
			"(https is required off loopback unless the tenant or the middleware allows insecure http)",
			e.tenant, e.scheme, e.host)
	}
	return fmt.Sprintf("tenantauth: tenant %q may not send its token to host %q", e.tenant, e.host)
}

func (e *hostError) Unwrap() error {
	if e.scheme != "" {
		return ErrInsecureEndpoint
	}
	return ErrHostNotAllowed
}

// unknownTenantError is ErrUnknownTenant for one ID: the TenantSource does
// not know it (err, when it said more than ErrUnknownTenant), or returned
// a tenant whose ID is canonical instead.
type unknownTenantError struct {
	id, canonical string
	err           error
}

func (e *unknownTenantError) Error() string {
	switch {
	case e.canonical != "":
		return fmt.Sprintf("tenantauth: unknown tenant %q: the TenantSource returned tenant %q; "+
			"ask for a tenant by its own ID, spelled exactly", e.id, e.canonical)
	case e.err != nil && e.err != ErrUnknownTenant:
		return fmt.Sprintf("tenantauth: tenant %q: %v", e.id, e.err)
	}
	return fmt.Sprintf("tenantauth: unknown tenant %q", e.id)
}

func (e *unknownTenantError) Unwrap() []error {
	if e.err != nil && e.err != ErrUnknownTenant {
		return []error{ErrUnknownTenant, e.err}
	}
	return []error{ErrUnknownTenant}
}

// busyError says that a fetch was not started because Config.MaxLookups
// TenantSource lookups were under way for as long as the caller could wait.
type busyError struct {
	id    string
	limit int
	cause error // the caller's context error; nil when FetchTimeout ran out
}

func (e *busyError) Error() string {
	s := fmt.Sprintf("tenantauth: tenant %q: %d tenant lookups under way; not looked up (Config.MaxLookups)", e.id, e.limit)
	if e.cause != nil {
		s += ": " + e.cause.Error()
	}
	return s
}

func (e *busyError) Unwrap() []error {
	if e.cause != nil {
		return []error{ErrTooManyLookups, e.cause}
	}
	return []error{ErrTooManyLookups}
}

func errConfig(msg string) error { return &configError{msg} }

type configError struct{ msg string }

func (e *configError) Error() string { return "tenantauth: invalid config: " + e.msg }

// A refusedError is a remembered refusal: the tenant's credentials were
// refused (or the tenant is unknown) moments ago, so the token endpoint is
// not asked again before Config.BadCredentialsTTL has passed.
type refusedError struct {
	tenant    string
	err       error
	at, until time.Time // when it was refused, and until when that is remembered
}

func (e *refusedError) Error() string {
	return fmt.Sprintf("tenantauth: tenant %q: refused at %s and not asked again until %s "+
		"(Config.BadCredentialsTTL); after fixing the tenant, call Manager.Forget(%q): %v",
		e.tenant, e.at.Format(time.TimeOnly), e.until.Format(time.TimeOnly), e.tenant, e.err)
}

func (e *refusedError) Unwrap() error { return e.err }

// recordError is a tenant record that cannot make a request. TenantFault
// tells the breaker (and the Manager's memory of refusals) that it is the
// tenant's fault, not the endpoint's.
type recordError struct{ msg string }

func (e *recordError) Error() string { return e.msg }

// TenantFault reports true: see [ErrIncompleteCredentials].
func (e *recordError) TenantFault() bool { return true }

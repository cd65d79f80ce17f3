package oidc

import (
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"

	"github.com/tenantauth/tenantauth"
)

// Errors of discovery. Every error Exchange or TokenURL returns because the
// token endpoint could not be discovered matches ErrDiscovery, and also
// matches its cause: ErrIssuerMismatch, ErrDocumentTooLarge,
// tenantauth.ErrRedirect, tenantauth.ErrInsecureEndpoint,
// tokenclient.ErrInvalidEndpoint, context.DeadlineExceeded, a network error.
var (
	// ErrDiscovery means the token endpoint could not be discovered from
	// Config.Issuer. Nothing was sent to a token endpoint.
	//
	// The Manager treats it as the endpoint's failure, never as the
	// tenant's: its circuit breaker counts it and no tenant is remembered
	// as refused. The Provider itself asks again only after a backoff (1 s,
	// doubling to 5 min); until then every call fails fast with the last
	// discovery error, without a request.
	ErrDiscovery = errors.New("oidc: discovery failed")

	// ErrIssuerMismatch means the discovery document's issuer is not
	// Config.Issuer (OpenID Connect Discovery 1.0 §4.3, RFC 8414 §3.3): the
	// document describes another server, or the issuer was configured in
	// another spelling. Configure Issuer exactly as the document's issuer
	// value; a trailing slash is the only difference tolerated.
	ErrIssuerMismatch = errors.New("oidc: discovery document's issuer is not Config.Issuer")

	// ErrDocumentTooLarge means a discovery document exceeded
	// [MaxDocumentSize]. It is an error, never a silent truncation.
	ErrDocumentTooLarge = errors.New("oidc: discovery document too large")
)

// errAuthOnly refuses a tenant without Credentials.Auth at a server whose
// discovery document lists no secret method.
var errAuthOnly = fmt.Errorf("oidc: the server's token_endpoint_auth_methods_supported lists only "+
	"private_key_jwt, client_secret_jwt or tls_client_auth: set Credentials.Auth (package clientauth): %w",
	tenantauth.ErrIncompleteCredentials)

// A discoveryError is a failed discovery. Its text is the library's, with at
// most maxQuote bytes of any value the server sent; it matches ErrDiscovery
// and its cause.
type discoveryError struct {
	text  string
	cause error
}

func (e *discoveryError) Error() string { return e.text }

// Unwrap returns ErrDiscovery and the cause.
func (e *discoveryError) Unwrap() []error {
	if e.cause == nil {
		return []error{ErrDiscovery}
	}
	return []error{ErrDiscovery, e.cause}
}

// TenantFault reports false: a discovery failure is the endpoint's, never one
// tenant's. The Manager and its breaker ask the first error of the chain that
// has this method, so causes such as tenantauth.ErrRedirect (which alone
// would mark the tenant's record as refused) do not make the Manager remember
// every tenant of the issuer as refused.
func (e *discoveryError) TenantFault() bool { return false }

// discoveryErr builds a discoveryError: "oidc: discovery failed: " + detail.
func discoveryErr(cause error, detail string) error {
	return &discoveryError{text: ErrDiscovery.Error() + ": " + detail, cause: cause}
}

// maxQuote bounds how much of any server-provided value an error text quotes.
const maxQuote = 200

// quote returns s as a Go string literal, escaped as strconv.Quote does
// (control characters, invalid UTF-8), of at most maxQuote bytes between
// its quotes: cut after the last rune that fits and marked with "…" when
// cut. A hostile value can neither forge log lines nor fill them.
func quote(s string) string {
	b := make([]byte, 0, min(len(s), maxQuote)+8)
	b = append(b, '"')
	for i := 0; i < len(s); {
		_, size := utf8.DecodeRuneInString(s[i:])
		piece := strconv.Quote(s[i : i+size])
		piece = piece[1 : len(piece)-1]
		if len(b)-1+len(piece) > maxQuote {
			b = append(b, "…"...)
			break
		}
		b = append(b, piece...)
		i += size
	}
	return string(append(b, '"'))
}

// clip returns s cut to at most n bytes on a rune boundary, with "…"
// appended when it was cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := n
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "…"
}

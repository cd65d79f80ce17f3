// Package tokenclient talks to OAuth 2.0 token endpoints for tenantauth's
// providers, and for the ones you write: building the token request, sending
// it over a hardened HTTP client, and parsing the answer into a
// *tenantauth.Token or an error.
//
// Token endpoints differ in how they want the request (a form or a JSON
// document, the client's secret in the body or in an Authorization header)
// and hardly at all in how they answer. Everything after the request is
// built — refused redirects, a bounded response body, expires_in in its
// several spellings, an "error" member in a 200, RFC 6749 §5.2 error bodies
// as *tenantauth.TokenError, Laravel Passport's extra fields, Retry-After,
// the request's secrets redacted from every text an error keeps — is done
// here, once, so that a provider that uses this package gets all of it.
//
// There are two ways in:
//
//   - [Client] is a complete tenantauth.Provider for any token URL: pick the
//     [AuthMethod] and the [Encoding] in a [Config] and call [New]. The
//     keycloak and passport packages are presets over it.
//   - The pieces, for a provider whose requests [Client] cannot build:
//     [NewRequest] (or a request you build yourself), [Do] with a [Dialect],
//     and underneath it [Parse]. [CheckEndpoint] and [CheckRequest] refuse a
//     bad URL or an incomplete request before any I/O; [NewHTTPClient] and
//     [Harden] give clients that never follow a redirect.
//
// The files, one concern each: client.go ([Client]), request.go (building
// requests), body.go (form and JSON bodies), do.go (sending),
// parse.go and sanitize.go (reading answers, redacting what errors keep),
// retryafter.go, httpclient.go (HTTP clients and endpoint URL rules) and
// errors.go.
//
// Everything in the package is safe for concurrent use.
package tokenclient

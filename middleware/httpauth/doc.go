// Package httpauth is a net/http [http.RoundTripper] that sets each outgoing
// request's Authorization header from its tenant's token, held by a
// [tenantauth.Manager], and recovers once by itself when the API answers 401.
//
// Wrap any transport and hand the result to an [http.Client]; the tenant
// travels in the request's context ([tenantauth.WithTenant]):
//
//	client := &http.Client{Transport: httpauth.NewTransport(m, nil)}
//	req, _ := http.NewRequestWithContext(tenantauth.WithTenant(ctx, "acme"), "GET", url, nil)
//	resp, err := client.Do(req)
//
// What the Transport guarantees:
//
//   - The caller's request is never modified. The Transport sends a cheap
//     copy (the Request struct plus one header map whose values share one
//     backing array with room for Authorization), not [http.Request.Clone].
//   - A tenant's token goes only to the tenant's APIHosts
//     ([tenantauth.Manager.TokenForHost]); a refused request is not sent.
//   - Redirects: [http.Client] follows a redirect by calling RoundTrip again
//     with Request.Response set. When the redirect leaves the host of the
//     first request of the chain (host and port compared, case-insensitively,
//     with default ports made explicit), or downgrades https to http, the
//     Transport does not attach a token: the request goes out exactly as the
//     client built it. It is not refused, so redirects to a CDN or a signed
//     storage URL keep working; they simply carry no token. (golang.org/x/oauth2
//     attaches the token on every hop; see its issues #500 and #805.) A redirect
//     within the same host gets the token.
//   - A tenant's token goes only where the request's URL points: the
//     APIHosts check uses req.URL.Host, the address the connection is made
//     to, not a Host header override.
//   - A 401 — and, with [WithInvalidTokenOn403], a 403 whose WWW-Authenticate
//     says error="invalid_token" — makes the Transport invalidate exactly the
//     token it sent ([tenantauth.Manager.Invalidate]; a burst of 401s costs
//     one token request), even when the request itself cannot be retried, so
//     the next request gets a fresh token. It then takes a fresh token and
//     retries once, provided the body can be replayed (no body, [http.NoBody]
//     or GetBody set: http.NewRequest sets it for a bytes.Buffer,
//     bytes.Reader or strings.Reader), whatever the method: a 401 means the
//     API refused the credentials before serving the request. With
//     [WithIdempotentRetriesOnly], only idempotent requests are retried (GET,
//     HEAD, OPTIONS, TRACE, PUT, DELETE, or an Idempotency-Key header). The rejected response's body is drained (up to 4 KiB) and
//     closed before the retry. When the Manager hands back the same token
//     (its invalidate cooldown) or cannot fetch one, the original response is
//     returned untouched, body unread. There is never more than one retry.
//   - DPoP (RFC 9449): a token of type DPoP — fetched for a tenant whose
//     [tenantauth.Credentials].DPoP is set — goes out as "Authorization:
//     DPoP …" with a DPoP header holding a fresh proof made with the
//     tenant's key ([tenantauth.Manager.TokenForURLDPoP]): htm the method,
//     htu the URL without query and fragment, ath the token's hash, and the
//     last DPoP-Nonce the host sent. A 401 with a DPoP challenge
//     error="use_dpop_nonce" and a new DPoP-Nonce is retried once with a
//     proof carrying it (body replayable as above; the token is not
//     invalidated), before the 401 handling above. Each proof costs an
//     ES256 signature (tens of microseconds).
//   - RoundTrip returns a response or an error, never both, and closes the
//     request body on every path where it does not pass it on. It starts no
//     goroutine.
//
// A Transport is safe for concurrent use.
package httpauth

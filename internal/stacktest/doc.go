// Package stacktest holds tenantauth's whole-stack reliability and security
// tests; it has no code of its own besides this comment.
//
// Every test drives the real stack — an [net/http.Client] whose transport is
// middleware/httpauth's, a [tenantauth.Manager] with its circuit breakers,
// the keycloak and passport providers — against fault-injecting token servers
// written here (httptest on 127.0.0.1, one per dialect: Keycloak's form
// endpoint /realms/{realm}/protocol/openid-connect/token and Passport's JSON
// endpoint /oauth/token) and a protected API that checks every token it is
// sent. The test files, one concern each:
//
//   - server_test.go: the fault-injecting token servers and the registry of
//     the tokens they issued.
//   - apiserver_test.go: the tenants' API, which counts every request sent
//     without a token or with another tenant's.
//   - stack_test.go: building a stack, the goroutine and memory checks, and
//     the recorder that scans every error, log line and rendering for
//     secrets.
//   - matrix_test.go: the fault matrix — network failures, 5xx and 429 with
//     Retry-After, malformed 200 answers, redirects, OAuth refusals — each row
//     for both dialects, asserting a matchable error, the breaker's state,
//     bounded memory, no goroutine left and other tenants unaffected.
//   - apifault_test.go: the API side — 401 after revocation, 401 forever,
//     403 insufficient_scope.
//   - soak_test.go: 10 000 tenants, 2 s tokens, random token-endpoint faults
//     and API 401s under concurrent load, with continuous invariants. It runs
//     for -soak.duration (default 15 s, at most 60 s) and is skipped with
//     -short.
//   - fuzz_test.go: FuzzTokenResponse drives a whole Manager against a server
//     answering fuzzed statuses, headers and bodies.
//   - hygiene_test.go: secrets never appear in any rendering (every verb but
//     %p, JSON, slog) of the public values the stack hands out, nor in panic
//     messages; and the recorder's scan can fail (a canary of every
//     spelling it claims to catch).
//   - selfcheck_test.go: the API's and the token servers' detectors and the
//     goroutine check fire when fed a violation.
//
// The package is internal: it exists for its tests, which use only the
// standard library and tenantauth's own packages.
package stacktest

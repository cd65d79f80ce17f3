// Package tenantauthotel turns a tenantauth.Manager's events into
// OpenTelemetry metrics and traces. It is the nested module
// github.com/tenantauth/tenantauth/otel, so that the core does not depend
// on OpenTelemetry.
//
//	obs, err := tenantauthotel.New(tenantauthotel.Config{}) // the global providers
//	m, err := tenantauth.New(tenantauth.Config{Tenants: tenants, Observer: obs})
//	reg, err := obs.Register(m) // the figures read from m.Stats()
//	defer reg.Unregister()
//
// # Cost
//
// The Manager calls the Observer on its slow paths only: a token fetch
// (one per tenant, however many callers wait), each token request, a
// breaker change, an invalidation, a 401 recovery, a shared-store failure.
// A cache hit records nothing; with an Observer the core counts one hit in
// [tenantauth.HitSample] for the tenantauth.cache.hits estimate. Figures
// read from Manager.Stats are read at each metric collection, not kept
// up to date.
//
// # Metrics
//
// Per event (attributes in brackets; tenantauth.tenant.id too, with
// [Config].TenantAttributes):
//
//	tenantauth.token.fetches            counter    [endpoint grant outcome source background error_code]
//	tenantauth.token.fetch.duration     histogram s  (same attributes)
//	tenantauth.token.fetch.waiters      counter    callers served by fetches (same attributes)
//	tenantauth.token.requests           counter    [endpoint grant outcome background http.response.status_code error_code]
//	tenantauth.token.request.duration   histogram s  (same attributes)
//	tenantauth.admission.wait.duration  histogram s  [endpoint background]
//	tenantauth.breaker.transitions      counter    [endpoint breaker.to]
//	tenantauth.invalidations            counter    [remote]
//	tenantauth.recoveries               counter    [recovered]
//	tenantauth.shared.errors            counter    [operation]
//
// Read from Manager.Stats at each collection, once [Observer.Register] ran:
//
//	tenantauth.cache.tenants            up-down counter  tenants with a cached token
//	tenantauth.cache.hits               counter    estimate: 64 × the sampled hits
//	tenantauth.cache.evictions          counter
//	tenantauth.token.refreshes          counter    refresh-ahead fetches started
//	tenantauth.breaker.state            gauge      [endpoint] 0 closed, 1 half-open, 2 open
//	tenantauth.admission.limit          gauge      [endpoint]
//	tenantauth.admission.in_flight      up-down counter [endpoint]
//	tenantauth.admission.queued         up-down counter [endpoint]
//	tenantauth.admission.overloads      counter    [endpoint]
//	tenantauth.admission.rejected       counter    [endpoint]
//	tenantauth.admission.pauses         counter    [endpoint]
//	tenantauth.admission.paused         gauge      [endpoint] 1 while a Retry-After pauses it
//	tenantauth.shared.hits, .misses, .stored, .waited, .unreadable, .invalidations.received
//	                                    counters   (only with a shared store)
//
// Attribute keys are the Attr constants (tenantauth.endpoint,
// tenantauth.outcome, …); outcomes are the Outcome constants. A fetch's
// tenantauth.source is endpoint, shared (another replica's token, from the
// shared store), elsewhere (a refresh-ahead that found another replica
// refreshing: nothing sent, outcome success) or none (it failed). The endpoint
// is the token endpoint's URL as its Provider names it, without user info
// or query: one value per identity provider, not per tenant. The breaker
// state comes from the Manager's BreakerChange events; an open breaker
// turns half-open lazily, when a call finds its timeout passed, so the
// gauge may show "open" until the next fetch to that endpoint.
//
// A Prometheus exporter names them with underscores and unit suffixes:
// tenantauth_token_fetches_total, tenantauth_token_fetch_duration_seconds,
// tenantauth_breaker_state, … The dashboard in dashboard/tenantauth.json
// plots them.
//
// # Traces
//
// Each token fetch is a span named "tenantauth.fetch" ([SpanName]). A
// fetch a caller waits on is a child of the span in the caller's context
// (the first caller's, when a herd waits on one fetch: the others find
// it through tenantauth.waiters). A refresh-ahead fetch, which no caller
// waits on, is the root of a new trace, linked to the span of the call
// whose cache hit started it. The span carries endpoint, grant, source,
// attempts, waiters, background, refresh_ahead and outcome, and on
// failure the HTTP status, the registered OAuth error code and
// error.type; its status description is the library's own words
// ("tenantauth: token fetch failed: refused, status 401,
// unauthorized_client"), never the error's text, which names the tenant.
// Each token request adds a "tenantauth.token_request" event (attempt
// number, outcome, status, time queued for admission, duration).
//
// The context the Observer returns for the fetch carries its span, and
// the Manager passes it to the Provider: a provider whose HTTP client is
// instrumented with otelhttp (keycloak.Config.HTTPClient with an
// otelhttp.NewTransport) makes each token request a client span under
// the fetch span. No request body or header is recorded by otelhttp, so
// neither the form (client secret, password) nor a token is.
//
// # otelhttp and httpauth
//
// Compose them with httpauth outside:
//
//	client := &http.Client{Transport: httpauth.NewTransport(m, otelhttp.NewTransport(base))}
//
// Each request on the wire is then a client span with its own status and
// traceparent: a request an API rejects with 401 and its retry with a new
// token are two spans (401, then the retry's status), as OpenTelemetry's
// HTTP conventions ask for re-sent requests, and the token fetch is a
// sibling under the caller's span. The other order,
// otelhttp.NewTransport(httpauth.NewTransport(m, base)), makes one span of
// the whole exchange, with the final status only: the 401 disappears, the
// token fetch becomes a child of the API request's span (its duration
// includes the fetch), and both requests on the wire carry the same
// traceparent. TestOtelhttpOrder shows both.
//
// # Logs
//
// The core logs with log/slog (tenantauth.Config.Logger) under the keys
// tenant, endpoint, grant, status and error_code. Records logged with the
// fetch's context (the debug record of a fetched token) carry its span, so
// a slog handler that adds trace and span IDs from the context links them
// to the fetch spans.
package tenantauthotel

package tenantauth

import (
	"log/slog"
	"time"

	"github.com/tenantauth/tenantauth/admission"
	"github.com/tenantauth/tenantauth/breaker"
)

// Config configures a [Manager]. Only Tenants is required; every zero value
// is a documented default.
type Config struct {
	// Tenants looks tenants up. Required.
	Tenants TenantSource

	// CacheSize bounds how many tenants' tokens are cached; beyond it the
	// least recently used tenant is evicted. Zero means 10 000.
	CacheSize int

	// Skew is the safety margin before Expiry after which a cached token is
	// no longer used. It is capped at a quarter of the token's lifetime, so a
	// 3 s token is still cached and reused. Zero means 30 s; negative means
	// no margin.
	Skew time.Duration

	// RefreshAhead is how long before the skew margin a token is refreshed in
	// the background while it keeps being served. It is capped at half of the
	// token's lifetime. Zero means a tenth of the lifetime, at most 5 minutes;
	// negative disables refresh-ahead (tokens are then fetched on demand).
	RefreshAhead time.Duration

	// DefaultLifetime is how long a token is kept when the server gave no
	// expiry. Zero means 5 minutes. A token is never kept forever.
	DefaultLifetime time.Duration

	// FetchTimeout bounds one shared token fetch, retries included. The fetch
	// runs on its own context: a caller that gives up does not cancel it for
	// the others. Zero means 30 s.
	FetchTimeout time.Duration

	// Retries is how many times a transient failure (network error, timeout,
	// connection closed, 408, 429, 502, 503, 504) is retried within one
	// fetch, with exponential backoff and full jitter, honouring Retry-After.
	// A refresh-token request is never retried (a rotating server may have
	// used it already); the full grant is tried instead. Zero means 2;
	// negative means none.
	Retries int

	// RetryBackoff is the first retry's maximum delay; it doubles per retry up
	// to 5 s. Zero means 100 ms.
	RetryBackoff time.Duration

	// BadCredentialsTTL is how long a refusal of a tenant's request is
	// remembered: its credentials (ErrInvalidCredentials), its grant or
	// scope (any 4xx but 408 and 429), a record that cannot make a request,
	// or a TenantSource's ErrUnknownTenant. Calls for that tenant fail at
	// once instead of hammering the token endpoint or the tenant store.
	// Transient failures (408, 429, 5xx, network) are never remembered this
	// way. Unknown IDs are remembered apart from known tenants, so that a
	// flood of them cannot make the Manager forget a known tenant's refusal.
	// Zero means 30 s; negative disables it. [Manager.Forget] clears it
	// (call it when you add a tenant or change its credentials).
	BadCredentialsTTL time.Duration

	// MaxLookups bounds how many TenantSource lookups run at once, one per
	// tenant whose token is being fetched. Past it, a caller waits for a
	// slot in line (first come first served, as long as its context allows
	// and at most FetchTimeout; a token past its margin but not expired is
	// served at once instead) and then fails with an error wrapping
	// ErrTooManyLookups, starting nothing: a flood of distinct tenant IDs
	// cannot grow goroutines or hammer the tenant store, and a cold start
	// of more tenants than MaxLookups queues rather than fails.
	// A static [Tenants] map is looked up in the caller and needs no bound
	// (an unknown ID then costs no goroutine at all). Zero means 1 024;
	// negative means no bound.
	MaxLookups int

	// InvalidateCooldown limits forced refreshes ([Manager.Invalidate]) to one
	// per tenant per period, so an API that rejects every fresh token cannot
	// turn each request into a token request. Zero means 1 s; negative
	// disables the limit.
	InvalidateCooldown time.Duration

	// Breaker configures the per-endpoint circuit breakers. Its zero value is
	// usable; see [breaker.Config]. A breaker counts one failure per fetch,
	// whatever its retries; refusals the admission limiter is handling (429
	// and 503 under load) are not counted until the limit is at its minimum.
	Breaker breaker.Config

	// Admission bounds the concurrent token requests of all tenants of one
	// endpoint with a limit that adapts (AIMD) to overload signals — 429,
	// 503, connections refused while others are in flight — and pauses the
	// endpoint on Retry-After; callers wait in a fair, bounded queue, before
	// background refreshes. So a cold start of thousands of tenants on one
	// busy identity provider learns its capacity instead of opening the
	// breaker. Its zero value is on with the defaults of [admission.Config];
	// set Disabled to turn it off.
	Admission admission.Config

	// Shared connects the Manager to a store shared by the replicas of a
	// service (Redis: the nested module shared/redis), so that each token
	// is fetched once in the cluster, a rotating refresh token is used by
	// one replica, and an invalidation reaches every replica. Its zero
	// value shares nothing. See [SharedConfig].
	Shared SharedConfig

	// Logger receives debug and warning records (token fetches, refreshes,
	// breaker trips). Secrets never reach it. Nil means no logging.
	Logger *slog.Logger

	// OnFetch, when set, is called after every token endpoint attempt, outside
	// any lock, for metrics. It must not block.
	OnFetch func(FetchEvent)

	// Observer receives the Manager's events (fetches, attempts, breaker
	// changes, invalidations, 401 recoveries, shared-store failures) for
	// metrics and traces; the nested module tenantauth/otel provides one
	// for OpenTelemetry. Nil (the default) costs nothing. See [Observer].
	Observer Observer

	// Clock tells the time. Nil means the system clock, read on the hot path
	// through a coarse clock that a single goroutine updates every 20 ms
	// while the Manager is busy. Tests set a fake clock; it is then read on
	// every call. Deadlines use the monotonic clock, which stops while a
	// machine is suspended: after a resume a token may look fresh past its
	// expiry until the API's 401 makes the Manager replace it.
	Clock Clock
}

// A Clock tells the time. The system clock is the default; tests
// use a fake one. Now must be safe for concurrent use.
type Clock interface {
	Now() time.Time
}

// A FetchEvent describes one token endpoint attempt, for [Config.OnFetch].
// It carries no secret.
type FetchEvent struct {
	TenantID string
	Endpoint string
	Grant    Grant
	// Background is true for a refresh-ahead fetch no caller waits on.
	Background bool
	// Attempt counts from 1 within one fetch.
	Attempt int
	// Queued is how long the attempt waited for its admission slot (see
	// Config.Admission) before the request was sent.
	Queued time.Duration
	// Duration is the token request's own time, from sending to answer.
	Duration time.Duration
	// Err is nil on success.
	Err error
}

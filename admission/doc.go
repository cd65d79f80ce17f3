// Package admission bounds and adapts how many token requests run at once
// against each token endpoint, so that thousands of tenants starting together
// on one identity provider queue politely on the client side instead of
// pushing the provider into refusals, and the circuit breaker behind this
// package sees a working endpoint rather than a wall of 503s.
//
// # Concepts
//
// An endpoint is a token endpoint URL (one string, already redacted by the
// caller: it appears in errors). Each endpoint has:
//
//   - a limit: how many token requests may be in flight at once. It starts at
//     [Config].InitialLimit and adapts between MinLimit and MaxLimit;
//   - in-flight permits: [Group.Acquire] hands out a [Permit] for each
//     admitted request, and [Permit.Release] gives it back with the request's
//     [Outcome];
//   - a bounded wait queue ([Config].QueueSize) in two priorities:
//     [Foreground] (a caller is waiting for the token) before [Background]
//     (refresh ahead, nobody waits), first come first served within a
//     priority. A released slot is handed directly to the next waiter: one
//     waiter wakes per slot, never a herd;
//   - a pause: an Overload with a Retry-After stops all grants for that
//     endpoint until min(Retry-After, MaxPause) has passed.
//
// Acquire never waits past its context's deadline: when the endpoint is
// paused for longer than the time left, or the queue ahead of the caller is
// expected (from the smoothed latency) to take longer, it fails at once with
// an error matching [ErrOverloaded], and waiters whose deadline falls inside
// a new pause are failed when the pause starts. A queue that is full fails
// at once too, except that a Foreground arrival takes the place of the
// newest Background waiter.
//
// The package starts no goroutine of its own. A waiter blocks on a channel
// and on its context; the only timer is one per paused endpoint that has
// waiters (to wake them when the pause ends), and [Group.Close] stops it.
//
// # Algorithm: AIMD on explicit overload signals, with a latency guard
//
// Each endpoint's limit follows additive increase, multiplicative decrease
// (AIMD), the rule of TCP congestion control:
//
//   - Success (the endpoint answered) adds 1/limit, so about one per round of
//     limit requests, i.e. one per round trip when the limit is in use. It
//     grows only while the limit is actually used (at least half of it in
//     flight, or waiters queued): an idle endpoint does not drift up to
//     MaxLimit and then hit a provider with a burst on the next cold start.
//   - Overload (503, 429, a refused or reset connection, a timeout) multiplies
//     the limit by 0.75 (and takes at least 1 off), never below MinLimit. It
//     does so at most once per round trip: every permit remembers when it was
//     granted, and an Overload from a permit granted before the last decrease
//     changes nothing, since that decrease already answered the same
//     congestion. So a burst of 50 simultaneous 503s cuts once, not 50 times
//     (TCP NewReno's recovery rule; it needs no clock). Successes of such
//     permits do not grow the limit either.
//   - A Retry-After pauses the whole endpoint (see above).
//   - When the limit falls below the permits in flight, nothing is granted
//     until enough of them come back.
//   - The latency guard: a Success whose latency exceeds twice the endpoint's
//     baseline (a minimum of the observed latencies that follows a lasting
//     rise slowly, over a few hundred samples) does not grow the limit. A
//     provider that queues requests silently instead of refusing them thus
//     stops the growth by its rising latency, before its clients time out.
//   - Failure (other errors) and Ignore (the caller gave up, a tenant's
//     credentials were refused) leave the limit alone: they say nothing about
//     the endpoint's capacity, and a dead endpoint is the circuit breaker's
//     business, not the limiter's.
//
// # Why this algorithm
//
// Netflix's concurrency-limits library (github.com/Netflix/concurrency-limits)
// offers loss-based AIMDLimit (multiply by a backoff ratio, default 0.9, on
// each drop or timeout; add 1 per sample while inflight*2 >= limit) and
// delay-based VegasLimit (queue estimate limit*(1-minRTT/RTT), ±1 per window)
// and Gradient2Limit (gradient = long-term EWMA RTT / short-term RTT, clamped
// to [0.5, 1]; new limit = gradient*limit + queueSize, smoothed). Its README
// recommends a delay-based limit on servers and a loss-based (AIMD) or
// combined one on clients. Envoy's adaptive concurrency filter (a gradient
// controller) periodically re-measures its ideal minRTT by pinning the
// concurrency to a very low value for a while.
//
// This limiter is on the client side of a token endpoint, where the provider
// says explicitly when it is overloaded (Keycloak and Passport behind a proxy
// answer 503 or 429 with Retry-After), and where latency is a poor congestion
// signal on its own: a token request's time is dominated by password hashing,
// which differs by grant (client_credentials is cheap, password is not) and
// by tenant, so a delay-based limit would read a change in the mix of grants
// as queueing. Envoy's minRTT probing pins the concurrency low exactly when a
// cold start needs it, and both delay-based controllers want many samples or
// a sampling timer (a goroutine). AIMD on the explicit signals learns the
// provider's capacity from the refusals it was built to send, is a handful of
// numbers per endpoint updated under one lock, needs no timer and is
// deterministic to test; the latency guard keeps Gradient2's useful half
// (stop growing when the latency rises) without letting latency alone shrink
// the limit. The backoff factor 0.75 sits between Netflix's gentle 0.9 (more
// refusals, since several replicas of a service grow back into the provider's
// limit quickly) and TCP Reno's 0.5 (half the throughput after each refusal).
//
// With a provider that serves 16 requests at once and refuses the rest, the
// limit climbs from 8 to 17, takes one refusal, falls to 12 and climbs again:
// a few refusals per hundred requests, never a storm, and a circuit breaker
// that does not count refusals never opens.
//
// # Use
//
// Acquire before each attempt of a token request (outside the circuit
// breaker, so that queueing is not counted as a failure), Release right
// after the answer (before any backoff sleep), then retry with a new
// Acquire: the retry then waits out the pause and the queue like everyone
// else. Errors from Acquire ([ErrOverloaded], [ErrClosed], the context's)
// mean the request was not sent; they are not the endpoint's failures.
package admission

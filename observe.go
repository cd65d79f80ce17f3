package tenantauth

// This file is what the Manager tells an Observer (Config.Observer): the
// events of its slow paths, for metrics, traces and logs. The nested module
// github.com/tenantauth/tenantauth/otel turns them into OpenTelemetry
// metrics and spans.

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/tenantauth/tenantauth/breaker"
)

// An Observer receives the Manager's events. Every method is called
// outside the Manager's locks, may be called concurrently, and must not
// block: a slow Observer slows token fetches. Events carry no secret; they
// carry tenant IDs, which an Observer should not turn into metric labels
// unless asked (cardinality).
//
// Embed [NopObserver] to implement only some methods. With no Observer
// (the default) the Manager builds no event at all, and a cache hit does
// nothing more than without one; with one, a hit costs a few ns more (5 ns measured)
// (one in [HitSample] hits is counted, see [Stats].Hits).
type Observer interface {
	// FetchStart is called when a fetch of a tenant's token starts (one
	// per tenant however many callers wait). caller is the context of the
	// call that started it: the first caller waiting for the token, or,
	// for a refresh-ahead fetch that nobody waits on, the call whose hit
	// claimed it. fetch is the fetch's own context (it outlives callers
	// that give up). The context returned is used for the fetch from then
	// on, for its attempts and FetchDone: a tracer returns fetch with a
	// span in it, a child of the caller's span or linked to it.
	FetchStart(caller, fetch context.Context, e FetchStart) context.Context
	// FetchDone is called when that fetch ends, with FetchStart's context.
	FetchDone(ctx context.Context, e FetchDone)
	// Attempt is called after every token request (the same event as
	// Config.OnFetch), with the fetch's context.
	Attempt(ctx context.Context, e FetchEvent)
	// BreakerChange is called on every state change of a token endpoint's
	// circuit breaker, and of the shared store's (Endpoint
	// SharedStoreEndpoint).
	BreakerChange(e BreakerChange)
	// Invalidated is called when a tenant's token is dropped because an API
	// rejected it: by Manager.Invalidate on this replica, or announced by
	// another replica through the shared store.
	Invalidated(e Invalidation)
	// Recovery is called by the middleware (httpauth, fiberauth) after a
	// request that an API rejected with 401 was retried with a new token:
	// whether the retry was accepted.
	Recovery(e Recovery)
	// SharedStore is called when a call to the shared store fails, runs
	// out of its budget, is refused by the store's breaker, or reads a
	// value that does not open.
	SharedStore(e SharedStoreEvent)
}

// NopObserver implements every Observer method by doing nothing: embed it
// in an Observer that needs only some of them.
type NopObserver struct{}

func (NopObserver) FetchStart(_, fetch context.Context, _ FetchStart) context.Context { return fetch }
func (NopObserver) FetchDone(context.Context, FetchDone)                              {}
func (NopObserver) Attempt(context.Context, FetchEvent)                               {}
func (NopObserver) BreakerChange(BreakerChange)                                       {}
func (NopObserver) Invalidated(Invalidation)                                          {}
func (NopObserver) Recovery(Recovery)                                                 {}
func (NopObserver) SharedStore(SharedStoreEvent)                                      {}

// FetchStart describes a fetch that starts.
type FetchStart struct {
	TenantID string
	// Background is true for a refresh-ahead fetch that no caller waits
	// on (yet: a caller may join it later; see FetchDone.Background).
	Background bool
}

// FetchSource says where a fetch found the token.
type FetchSource string

const (
	// SourceEndpoint: the tenant's token endpoint issued it.
	SourceEndpoint FetchSource = "endpoint"
	// SourceShared: another replica's token, read from the shared store.
	SourceShared FetchSource = "shared"
	// SourceNone: the fetch failed.
	SourceNone FetchSource = "none"
	// SourceElsewhere: a refresh-ahead fetch found another replica
	// refreshing the token (shared store): it sent nothing, and the
	// replica gets that token through the store.
	SourceElsewhere FetchSource = "elsewhere"
)

// FetchDone describes a fetch that ended.
type FetchDone struct {
	TenantID string
	// Endpoint is the token endpoint (as Provider.Endpoint, redacted);
	// empty when the fetch failed before knowing it (unknown tenant).
	Endpoint string
	// Grant is the grant of the last token request; empty when none was
	// sent.
	Grant Grant
	// Source is where the token came from.
	Source FetchSource
	// Background is true when nobody waited on the fetch to its end.
	Background bool
	// Waiters counts the callers that waited on the fetch (0 for a
	// refresh-ahead fetch nobody joined).
	Waiters int
	// Attempts counts the token requests sent.
	Attempts int
	// Duration is the fetch's time, from start to end.
	Duration time.Duration
	// Err is nil on success. Match it with errors.Is (ErrCircuitOpen,
	// ErrInvalidCredentials, admission.ErrOverloaded, …) and errors.As
	// (*TokenError).
	Err error
}

// SharedStoreEndpoint is the Endpoint of the shared store's breaker in
// BreakerChange events.
const SharedStoreEndpoint = sharedBreakerKey

// BreakerChange describes a circuit breaker's state change.
type BreakerChange struct {
	Endpoint string
	From, To breaker.State
}

// Invalidation describes a token dropped because an API rejected it.
type Invalidation struct {
	TenantID string
	// Remote is true when another replica announced it.
	Remote bool
}

// Recovery describes the outcome of a request retried after a 401.
type Recovery struct {
	TenantID string
	// Recovered is true when the retry was not rejected.
	Recovered bool
}

// SharedStoreEvent describes a failed shared-store call or an unreadable
// value.
type SharedStoreEvent struct {
	// Op is "get", "set", "delete", "lock", "unlock", "publish",
	// "subscribe" or "open" (a value that does not open).
	Op string
	// Err says why; never nil.
	Err error
}

// HitSample is how many cache hits one counted hit stands for: with an
// Observer, each hit is counted with probability 1/HitSample, so that
// counting costs no shared write on most hits (see Stats.Hits).
const HitSample = 64

// countHit counts a sampled hit; only called with an Observer.
func (m *Manager) countHit() {
	if rand.Uint32()%HitSample == 0 {
		m.hitSamples.Add(1)
	}
}

// ReportRecovery tells the Manager's Observer the outcome of a request
// retried after an API rejected it with 401. The middleware call it; a
// client of Manager.Invalidate of its own may too.
func (m *Manager) ReportRecovery(tenantID string, recovered bool) {
	if m.obs != nil {
		m.obs.Recovery(Recovery{TenantID: tenantID, Recovered: recovered})
	}
}

// errorAttrs are the stable log keys that describe a fetch error: the
// token endpoint's status and RFC 6749 error code when it answered.
func errorAttrs(err error) []slog.Attr {
	attrs := []slog.Attr{slog.String("error", err.Error())}
	var te *TokenError
	if errors.As(err, &te) {
		if te.StatusCode != 0 {
			attrs = append(attrs, slog.Int("status", te.StatusCode))
		}
		if te.RegisteredCode() { // an unregistered code is the server's own text
			attrs = append(attrs, slog.String("error_code", te.Code))
		}
	}
	return attrs
}

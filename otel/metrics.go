package tenantauthotel

import (
	"context"
	"errors"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/embedded"

	"github.com/tenantauth/tenantauth"
	"github.com/tenantauth/tenantauth/breaker"
)

// durationBuckets are the histogram boundaries, in seconds, of token
// fetches and requests: a token endpoint answers in milliseconds when
// well, in seconds when loaded, and a fetch ends by Config.FetchTimeout
// (30 s by default).
var durationBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}

// instruments are an Observer's instruments: synchronous ones recorded on
// events, observable ones read from Manager.Stats at each collection.
type instruments struct {
	// Events.
	fetches            metric.Int64Counter
	fetchDuration      metric.Float64Histogram
	fetchWaiters       metric.Int64Counter
	requests           metric.Int64Counter
	requestDuration    metric.Float64Histogram
	admissionWait      metric.Float64Histogram
	breakerTransitions metric.Int64Counter
	invalidations      metric.Int64Counter
	recoveries         metric.Int64Counter
	sharedErrors       metric.Int64Counter

	// Manager.Stats and the breaker states.
	cacheTenants       metric.Int64ObservableUpDownCounter
	cacheHits          metric.Int64ObservableCounter
	cacheEvictions     metric.Int64ObservableCounter
	refreshes          metric.Int64ObservableCounter
	breakerState       metric.Int64ObservableGauge
	admissionLimit     metric.Int64ObservableGauge
	admissionInFlight  metric.Int64ObservableUpDownCounter
	admissionQueued    metric.Int64ObservableUpDownCounter
	admissionOverloads metric.Int64ObservableCounter
	admissionRejected  metric.Int64ObservableCounter
	admissionPauses    metric.Int64ObservableCounter
	admissionPaused    metric.Int64ObservableGauge
	sharedHits         metric.Int64ObservableCounter
	sharedMisses       metric.Int64ObservableCounter
	sharedStored       metric.Int64ObservableCounter
	sharedWaited       metric.Int64ObservableCounter
	sharedUnreadable   metric.Int64ObservableCounter
	sharedReceived     metric.Int64ObservableCounter
}

// create makes every instrument with m, joining the errors.
func (in *instruments) create(m metric.Meter) error {
	var errs []error
	counter := func(name, unit, desc string) metric.Int64Counter {
		c, err := m.Int64Counter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return c
	}
	histogram := func(name, desc string) metric.Float64Histogram {
		h, err := m.Float64Histogram(name, metric.WithUnit("s"), metric.WithDescription(desc),
			metric.WithExplicitBucketBoundaries(durationBuckets...))
		errs = append(errs, err)
		return h
	}
	obsCounter := func(name, unit, desc string) metric.Int64ObservableCounter {
		c, err := m.Int64ObservableCounter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return c
	}
	obsUpDown := func(name, unit, desc string) metric.Int64ObservableUpDownCounter {
		c, err := m.Int64ObservableUpDownCounter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return c
	}
	obsGauge := func(name, unit, desc string) metric.Int64ObservableGauge {
		g, err := m.Int64ObservableGauge(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return g
	}

	in.fetches = counter("tenantauth.token.fetches", "{fetch}",
		"Token fetches ended, one per tenant however many callers waited, by outcome.")
	in.fetchDuration = histogram("tenantauth.token.fetch.duration",
		"Duration of token fetches, retries and admission waits included.")
	in.fetchWaiters = counter("tenantauth.token.fetch.waiters", "{caller}",
		"Callers that waited on a token fetch (a herd of callers of one tenant is one fetch).")
	in.requests = counter("tenantauth.token.requests", "{request}",
		"Token requests sent to token endpoints, retries included, by outcome and HTTP status.")
	in.requestDuration = histogram("tenantauth.token.request.duration",
		"Duration of token requests, from sending to answer.")
	in.admissionWait = histogram("tenantauth.admission.wait.duration",
		"Time token requests waited for an admission slot of their endpoint.")
	in.breakerTransitions = counter("tenantauth.breaker.transitions", "{transition}",
		"Circuit breaker state changes, by endpoint and new state.")
	in.invalidations = counter("tenantauth.invalidations", "{invalidation}",
		"Tokens dropped because an API rejected them, here or announced by another replica (remote).")
	in.recoveries = counter("tenantauth.recoveries", "{recovery}",
		"Requests retried with a new token after an API answered 401, by whether the retry was accepted.")
	in.sharedErrors = counter("tenantauth.shared.errors", "{error}",
		"Failed shared-store calls (or calls its breaker refused, or values that do not open), by operation.")

	in.cacheTenants = obsUpDown("tenantauth.cache.tenants", "{tenant}",
		"Tenants with a cached token.")
	in.cacheHits = obsCounter("tenantauth.cache.hits", "{hit}",
		"Cache hits, estimated: one hit in 64 is counted (tenantauth.HitSample).")
	in.cacheEvictions = obsCounter("tenantauth.cache.evictions", "{eviction}",
		"Tokens the cache dropped to make room (Config.CacheSize).")
	in.refreshes = obsCounter("tenantauth.token.refreshes", "{refresh}",
		"Refresh-ahead fetches started in the background.")
	in.breakerState = obsGauge("tenantauth.breaker.state", "{state}",
		"Circuit breaker state per endpoint: 0 closed, 1 half-open, 2 open.")
	in.admissionLimit = obsGauge("tenantauth.admission.limit", "{request}",
		"Adaptive concurrency limit of token requests per endpoint.")
	in.admissionInFlight = obsUpDown("tenantauth.admission.in_flight", "{request}",
		"Token requests in flight per endpoint.")
	in.admissionQueued = obsUpDown("tenantauth.admission.queued", "{request}",
		"Token requests waiting for an admission slot per endpoint.")
	in.admissionOverloads = obsCounter("tenantauth.admission.overloads", "{response}",
		"Overload signals (429, 503, refused connections under load) per endpoint.")
	in.admissionRejected = obsCounter("tenantauth.admission.rejected", "{request}",
		"Token requests refused because the endpoint's admission queue was full.")
	in.admissionPauses = obsCounter("tenantauth.admission.pauses", "{pause}",
		"Times a Retry-After paused an endpoint.")
	in.admissionPaused = obsGauge("tenantauth.admission.paused", "",
		"1 while an endpoint is paused by a Retry-After, else 0.")
	in.sharedHits = obsCounter("tenantauth.shared.hits", "{read}",
		"Local cache misses served from the shared store.")
	in.sharedMisses = obsCounter("tenantauth.shared.misses", "{read}",
		"Shared-store reads that found no usable token.")
	in.sharedStored = obsCounter("tenantauth.shared.stored", "{write}",
		"Tokens written to the shared store.")
	in.sharedWaited = obsCounter("tenantauth.shared.waited", "{fetch}",
		"Fetches that waited for another replica's token.")
	in.sharedUnreadable = obsCounter("tenantauth.shared.unreadable", "{read}",
		"Shared values that did not open (tampered, truncated, unknown key); each was a miss.")
	in.sharedReceived = obsCounter("tenantauth.shared.invalidations.received", "{message}",
		"Invalidation messages received from the shared store.")
	return errors.Join(errs...)
}

// observables lists the instruments the Register callback observes.
func (in *instruments) observables() []metric.Observable {
	return []metric.Observable{
		in.cacheTenants, in.cacheHits, in.cacheEvictions, in.refreshes, in.breakerState,
		in.admissionLimit, in.admissionInFlight, in.admissionQueued, in.admissionOverloads,
		in.admissionRejected, in.admissionPauses, in.admissionPaused,
		in.sharedHits, in.sharedMisses, in.sharedStored, in.sharedWaited, in.sharedUnreadable, in.sharedReceived,
	}
}

// Register makes the Observer report m's figures (Manager.Stats: cached
// tenants, the hit estimate, evictions, refresh-aheads, every endpoint's
// admission state and breaker state, the shared store's counters) at each
// metric collection. m must be the Manager built with this Observer as its
// Config.Observer. Unregister the returned Registration before closing m,
// or when the Manager is dropped; after that the Observer may be
// registered again.
//
// It fails with [ErrRegistered] when the Observer is registered already.
func (o *Observer) Register(m *tenantauth.Manager) (metric.Registration, error) {
	if m == nil {
		return nil, errors.New("tenantauthotel: Register with a nil Manager")
	}
	o.regMu.Lock()
	defer o.regMu.Unlock()
	if o.registered {
		return nil, ErrRegistered
	}
	reg, err := o.meter.RegisterCallback(func(_ context.Context, ob metric.Observer) error {
		o.observe(ob, m.Stats(), time.Now())
		return nil
	}, o.inst.observables()...)
	if err != nil {
		return nil, err
	}
	o.registered = true
	return &registration{o: o, reg: reg}, nil
}

// registration undoes a Register.
type registration struct {
	embedded.Registration
	o   *Observer
	reg metric.Registration
}

// Unregister implements [metric.Registration].
func (r *registration) Unregister() error {
	r.o.regMu.Lock()
	defer r.o.regMu.Unlock()
	if r.reg == nil {
		return nil
	}
	err := r.reg.Unregister()
	r.reg = nil
	r.o.registered = false
	return err
}

// observe reports s, and the breaker states, to ob.
func (o *Observer) observe(ob metric.Observer, s tenantauth.Stats, now time.Time) {
	in := &o.inst
	ob.ObserveInt64(in.cacheTenants, int64(s.Cached))
	ob.ObserveInt64(in.cacheHits, int64(s.Hits))
	ob.ObserveInt64(in.cacheEvictions, int64(s.Evictions))
	ob.ObserveInt64(in.refreshes, int64(s.Refreshes))

	o.mu.Lock()
	states := make(map[string]breaker.State, len(o.breakers)+len(s.Endpoints))
	for ep, st := range o.breakers {
		states[ep] = st
	}
	o.mu.Unlock()
	for _, e := range s.Endpoints {
		if _, ok := states[e.Endpoint]; !ok {
			states[e.Endpoint] = breaker.Closed // no change seen: closed
		}
		set := metric.WithAttributeSet(attribute.NewSet(AttrEndpoint.String(e.Endpoint)))
		ob.ObserveInt64(in.admissionLimit, int64(e.Limit), set)
		ob.ObserveInt64(in.admissionInFlight, int64(e.InFlight), set)
		ob.ObserveInt64(in.admissionQueued, int64(e.Queued), set)
		ob.ObserveInt64(in.admissionOverloads, int64(e.Overloads), set)
		ob.ObserveInt64(in.admissionRejected, int64(e.Rejected), set)
		ob.ObserveInt64(in.admissionPauses, int64(e.Pauses), set)
		paused := int64(0)
		if e.PausedUntil.After(now) {
			paused = 1
		}
		ob.ObserveInt64(in.admissionPaused, paused, set)
	}
	for ep, st := range states {
		ob.ObserveInt64(in.breakerState, int64(st), metric.WithAttributeSet(attribute.NewSet(AttrEndpoint.String(ep))))
	}

	if sh := s.Shared; sh != (tenantauth.SharedStats{}) { // no series without a shared store
		ob.ObserveInt64(in.sharedHits, int64(sh.Hits))
		ob.ObserveInt64(in.sharedMisses, int64(sh.Misses))
		ob.ObserveInt64(in.sharedStored, int64(sh.Stored))
		ob.ObserveInt64(in.sharedWaited, int64(sh.Waited))
		ob.ObserveInt64(in.sharedUnreadable, int64(sh.Unreadable))
		ob.ObserveInt64(in.sharedReceived, int64(sh.Received))
	}
}

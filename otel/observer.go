package tenantauthotel

import (
	"context"
	"errors"
	"strconv"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/tenantauth/tenantauth"
	"github.com/tenantauth/tenantauth/breaker"
)

// Span and span event names.
const (
	// SpanName names the span of one token fetch: one per tenant however
	// many callers wait on it.
	SpanName = "tenantauth.fetch"
	// EventTokenRequest names the fetch span's event for each token
	// request sent (each attempt, retries included).
	EventTokenRequest = "tenantauth.token_request"
)

// Attribute keys. Every value is a closed set or a configured name (the
// token endpoint, as the Provider names it without query or user info),
// except the tenant ID, which only [Config].TenantAttributes adds.
const (
	AttrEndpoint     = attribute.Key("tenantauth.endpoint")      // token endpoint URL (redacted), or "shared store"
	AttrGrant        = attribute.Key("tenantauth.grant")         // grant of the last token request
	AttrOutcome      = attribute.Key("tenantauth.outcome")       // see the Outcome constants
	AttrSource       = attribute.Key("tenantauth.source")        // endpoint, shared, elsewhere (another replica refreshes) or none
	AttrBackground   = attribute.Key("tenantauth.background")    // nobody waited on the fetch to its end
	AttrRefreshAhead = attribute.Key("tenantauth.refresh_ahead") // the fetch started as a refresh-ahead
	AttrAttempts     = attribute.Key("tenantauth.attempts")      // token requests sent by the fetch
	AttrWaiters      = attribute.Key("tenantauth.waiters")       // callers that waited on the fetch
	AttrAttempt      = attribute.Key("tenantauth.attempt")       // a token request's number within its fetch, from 1
	AttrQueued       = attribute.Key("tenantauth.queued")        // seconds a token request waited for admission
	AttrDuration     = attribute.Key("tenantauth.duration")      // seconds a token request took
	AttrErrorCode    = attribute.Key("tenantauth.error_code")    // a registered OAuth error code, never the server's own text
	AttrStatusCode   = attribute.Key("http.response.status_code")
	AttrErrorType    = attribute.Key("error.type")            // the outcome of a failed fetch, on spans
	AttrTenant       = attribute.Key("tenantauth.tenant.id")  // only with Config.TenantAttributes
	AttrRemote       = attribute.Key("tenantauth.remote")     // an invalidation announced by another replica
	AttrRecovered    = attribute.Key("tenantauth.recovered")  // a retry after 401 was accepted
	AttrOperation    = attribute.Key("tenantauth.operation")  // a shared-store operation
	AttrBreakerTo    = attribute.Key("tenantauth.breaker.to") // a transition's new state: closed, half_open or open
)

// ErrRegistered is returned by [Observer.Register] for an Observer that
// already observes a Manager.
var ErrRegistered = errors.New("tenantauthotel: Observer already registered with a Manager")

// An Observer turns a Manager's events into OpenTelemetry metrics and
// spans. Pass it as tenantauth.Config.Observer, then call
// [Observer.Register] with the Manager, for the metrics read from
// Manager.Stats. One Observer serves one Manager.
//
// It records nothing on a cache hit: the Manager calls it on its slow
// paths only. No secret reaches it, and it exports no error text: a
// failed fetch's span status describes the failure in the library's own
// words (outcome, HTTP status, registered OAuth error code).
//
// An Observer is safe for concurrent use.
type Observer struct {
	tenantAttrs bool
	tracer      trace.Tracer
	meter       metric.Meter
	inst        instruments

	mu       sync.Mutex
	breakers map[string]breaker.State // last state per endpoint, from BreakerChange

	// regMu guards registered. It is not mu: the SDK calls the Register
	// callback, which takes mu, under its own lock, and Unregister takes
	// that lock too.
	regMu      sync.Mutex
	registered bool
}

var _ tenantauth.Observer = (*Observer)(nil)

// New returns an Observer with cfg's providers. It fails when an
// instrument cannot be created.
func New(cfg Config) (*Observer, error) {
	cfg = configDefault(cfg)
	o := &Observer{
		tenantAttrs: cfg.TenantAttributes,
		tracer:      cfg.TracerProvider.Tracer(ScopeName),
		meter:       cfg.MeterProvider.Meter(ScopeName),
		breakers:    make(map[string]breaker.State),
	}
	if err := o.inst.create(o.meter); err != nil {
		return nil, err
	}
	return o, nil
}

// fetchKey marks the context FetchStart returns, so that FetchDone and
// Attempt know the span in it is the fetch's.
type fetchKey struct{}

// FetchStart implements [tenantauth.Observer]: it starts the fetch's span.
// A fetch a caller waits on is a child of the caller's span; a
// refresh-ahead fetch is a new trace, linked to the span of the call whose
// cache hit started it (that call did not wait for it).
func (o *Observer) FetchStart(caller, fetch context.Context, e tenantauth.FetchStart) context.Context {
	var parent trace.SpanContext
	if caller != nil {
		parent = trace.SpanContextFromContext(caller)
	}
	opts := []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindInternal)}
	ctx := fetch
	switch {
	case e.Background:
		opts = append(opts, trace.WithNewRoot())
		if parent.IsValid() {
			opts = append(opts, trace.WithLinks(trace.Link{SpanContext: parent}))
		}
	case parent.IsValid():
		ctx = trace.ContextWithSpanContext(fetch, parent)
	}
	attrs := []attribute.KeyValue{AttrRefreshAhead.Bool(e.Background)}
	if o.tenantAttrs {
		attrs = append(attrs, AttrTenant.String(e.TenantID))
	}
	opts = append(opts, trace.WithAttributes(attrs...))
	ctx, _ = o.tracer.Start(ctx, SpanName, opts...)
	return context.WithValue(ctx, fetchKey{}, true)
}

// FetchDone implements [tenantauth.Observer]: it records the fetch's
// metrics and ends its span.
func (o *Observer) FetchDone(ctx context.Context, e tenantauth.FetchDone) {
	oc := outcome(e.Err)
	status, code := tokenError(e.Err)
	attrs := make([]attribute.KeyValue, 0, 8)
	attrs = append(attrs,
		AttrEndpoint.String(e.Endpoint),
		AttrGrant.String(string(e.Grant)),
		AttrOutcome.String(oc),
		AttrSource.String(string(e.Source)),
		AttrBackground.Bool(e.Background))
	if code != "" {
		attrs = append(attrs, AttrErrorCode.String(code))
	}
	// An unknown tenant's ID is whatever a caller sent: never a label.
	if o.tenantAttrs && oc != OutcomeUnknownTenant {
		attrs = append(attrs, AttrTenant.String(e.TenantID))
	}
	set := metric.WithAttributeSet(attribute.NewSet(attrs...))
	o.inst.fetches.Add(ctx, 1, set)
	o.inst.fetchDuration.Record(ctx, e.Duration.Seconds(), set)
	if e.Waiters > 0 {
		o.inst.fetchWaiters.Add(ctx, int64(e.Waiters), set)
	}

	if ctx.Value(fetchKey{}) == nil {
		return // not a context FetchStart returned: not our span
	}
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		span.End()
		return
	}
	attrs = append(attrs, AttrAttempts.Int(e.Attempts), AttrWaiters.Int(e.Waiters))
	if status != 0 {
		attrs = append(attrs, AttrStatusCode.Int(status))
	}
	if e.Err != nil {
		attrs = append(attrs, AttrErrorType.String(oc))
		span.SetStatus(codes.Error, describe(oc, status, code))
	}
	span.SetAttributes(attrs...)
	span.End()
}

// describe is a failed fetch's span status description: the library's
// words only (the error's own text names the tenant, and a server's text
// may echo what it was sent).
func describe(outcome string, status int, code string) string {
	s := "tenantauth: token fetch failed: " + outcome
	if status != 0 {
		s += ", status " + strconv.Itoa(status)
	}
	if code != "" {
		s += ", " + code
	}
	return s
}

// Attempt implements [tenantauth.Observer]: it records the token request's
// metrics and adds an event to the fetch's span.
func (o *Observer) Attempt(ctx context.Context, e tenantauth.FetchEvent) {
	oc := outcome(e.Err)
	status, code := tokenError(e.Err)
	attrs := make([]attribute.KeyValue, 0, 8)
	attrs = append(attrs,
		AttrEndpoint.String(e.Endpoint),
		AttrGrant.String(string(e.Grant)),
		AttrOutcome.String(oc),
		AttrBackground.Bool(e.Background))
	if status != 0 {
		attrs = append(attrs, AttrStatusCode.Int(status))
	}
	if code != "" {
		attrs = append(attrs, AttrErrorCode.String(code))
	}
	if o.tenantAttrs {
		attrs = append(attrs, AttrTenant.String(e.TenantID))
	}
	set := metric.WithAttributeSet(attribute.NewSet(attrs...))
	o.inst.requests.Add(ctx, 1, set)
	o.inst.requestDuration.Record(ctx, e.Duration.Seconds(), set)
	o.inst.admissionWait.Record(ctx, e.Queued.Seconds(), metric.WithAttributeSet(attribute.NewSet(
		AttrEndpoint.String(e.Endpoint), AttrBackground.Bool(e.Background))))

	if ctx.Value(fetchKey{}) == nil {
		return
	}
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	ev := make([]attribute.KeyValue, 0, 7)
	ev = append(ev,
		AttrAttempt.Int(e.Attempt),
		AttrGrant.String(string(e.Grant)),
		AttrOutcome.String(oc),
		AttrQueued.Float64(e.Queued.Seconds()),
		AttrDuration.Float64(e.Duration.Seconds()))
	if status != 0 {
		ev = append(ev, AttrStatusCode.Int(status))
	}
	if code != "" {
		ev = append(ev, AttrErrorCode.String(code))
	}
	span.AddEvent(EventTokenRequest, trace.WithAttributes(ev...))
}

// BreakerChange implements [tenantauth.Observer]: it counts the transition
// and remembers the state for the tenantauth.breaker.state gauge.
func (o *Observer) BreakerChange(e tenantauth.BreakerChange) {
	o.mu.Lock()
	o.breakers[e.Endpoint] = e.To
	o.mu.Unlock()
	o.inst.breakerTransitions.Add(context.Background(), 1, metric.WithAttributeSet(attribute.NewSet(
		AttrEndpoint.String(e.Endpoint), AttrBreakerTo.String(stateName(e.To)))))
}

// stateName is a breaker state as an attribute value.
func stateName(s breaker.State) string {
	switch s {
	case breaker.Closed:
		return "closed"
	case breaker.HalfOpen:
		return "half_open"
	case breaker.Open:
		return "open"
	}
	return "unknown"
}

// Invalidated implements [tenantauth.Observer]: it counts the invalidation.
func (o *Observer) Invalidated(e tenantauth.Invalidation) {
	attrs := []attribute.KeyValue{AttrRemote.Bool(e.Remote)}
	if o.tenantAttrs {
		attrs = append(attrs, AttrTenant.String(e.TenantID))
	}
	o.inst.invalidations.Add(context.Background(), 1, metric.WithAttributeSet(attribute.NewSet(attrs...)))
}

// Recovery implements [tenantauth.Observer]: it counts the retry after a
// 401 and whether it was accepted.
func (o *Observer) Recovery(e tenantauth.Recovery) {
	attrs := []attribute.KeyValue{AttrRecovered.Bool(e.Recovered)}
	if o.tenantAttrs {
		attrs = append(attrs, AttrTenant.String(e.TenantID))
	}
	o.inst.recoveries.Add(context.Background(), 1, metric.WithAttributeSet(attribute.NewSet(attrs...)))
}

// SharedStore implements [tenantauth.Observer]: it counts the failed
// shared-store call by operation. The error's text is not exported.
func (o *Observer) SharedStore(e tenantauth.SharedStoreEvent) {
	o.inst.sharedErrors.Add(context.Background(), 1, metric.WithAttributeSet(attribute.NewSet(
		AttrOperation.String(e.Op))))
}

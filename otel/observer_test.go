package tenantauthotel_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/tenantauth/tenantauth"
	"github.com/tenantauth/tenantauth/breaker"
	"github.com/tenantauth/tenantauth/middleware/httpauth"
	tenantauthotel "github.com/tenantauth/tenantauth/otel"
	"github.com/tenantauth/tenantauth/tenantauthtest"
)

var (
	success = tenantauthotel.AttrOutcome.String(tenantauthotel.OutcomeSuccess)
	refused = tenantauthotel.AttrOutcome.String(tenantauthotel.OutcomeRefused)
)

// TestColdFetch: a cold fetch is one span, a child of the caller's, with
// the provider's HTTP request (otelhttp) as its child and one event for
// the token request; the metrics count it and report the cache, the
// admission limit and a closed breaker.
func TestColdFetch(t *testing.T) {
	e := newEnv(t, envConfig{})
	ctx, caller := e.tp.Tracer("test").Start(context.Background(), "caller")
	if _, err := e.token(ctx, tenantA); err != nil {
		t.Fatal(err)
	}
	caller.End()

	fs := e.fetchSpans()
	if len(fs) != 1 {
		t.Fatalf("%d fetch spans, want 1", len(fs))
	}
	f := fs[0]
	if f.Parent().SpanID() != caller.SpanContext().SpanID() || f.SpanContext().TraceID() != caller.SpanContext().TraceID() {
		t.Errorf("fetch span's parent %v, want the caller's span %v", f.Parent().SpanID(), caller.SpanContext().SpanID())
	}
	wantAttr(t, f,
		tenantauthotel.AttrEndpoint.String(e.endpoint),
		tenantauthotel.AttrGrant.String("client_credentials"),
		tenantauthotel.AttrSource.String("endpoint"),
		success,
		tenantauthotel.AttrBackground.Bool(false),
		tenantauthotel.AttrRefreshAhead.Bool(false),
		tenantauthotel.AttrAttempts.Int(1),
		tenantauthotel.AttrWaiters.Int(1))
	if f.Status().Code == codes.Error {
		t.Errorf("status %v", f.Status())
	}
	if evs := f.Events(); len(evs) != 1 || evs[0].Name != tenantauthotel.EventTokenRequest {
		t.Errorf("events %+v, want one %s", evs, tenantauthotel.EventTokenRequest)
	}
	var http1 int
	for _, s := range e.spans.Ended() {
		if s.SpanKind() == trace.SpanKindClient && s.Parent().SpanID() == f.SpanContext().SpanID() {
			http1++
		}
	}
	if http1 != 1 {
		t.Errorf("%d otelhttp spans under the fetch span, want 1", http1)
	}

	rm := e.collect()
	ep := tenantauthotel.AttrEndpoint.String(e.endpoint)
	for _, c := range []struct {
		name  string
		attrs []attribute.KeyValue
		want  int64
	}{
		{"tenantauth.token.fetches", []attribute.KeyValue{ep, success}, 1},
		{"tenantauth.token.fetch.duration", []attribute.KeyValue{ep, success}, 1},
		{"tenantauth.token.fetch.waiters", nil, 1},
		{"tenantauth.token.requests", []attribute.KeyValue{ep, success}, 1},
		{"tenantauth.token.request.duration", nil, 1},
		{"tenantauth.admission.wait.duration", []attribute.KeyValue{ep}, 1},
		{"tenantauth.cache.tenants", nil, 1},
		{"tenantauth.admission.limit", []attribute.KeyValue{ep}, 8},
		{"tenantauth.admission.in_flight", []attribute.KeyValue{ep}, 0},
		{"tenantauth.breaker.state", []attribute.KeyValue{ep}, 0},
	} {
		if got, ok := value(rm, c.name, c.attrs...); !ok || got != c.want {
			t.Errorf("%s%v = %d (found %t), want %d", c.name, c.attrs, got, ok, c.want)
		}
	}
	if _, ok := value(rm, "tenantauth.shared.hits"); ok {
		t.Error("shared-store series without a shared store")
	}

	// Hits: nothing is recorded per hit but the core's sampled count.
	for range 20 * tenantauth.HitSample {
		if _, err := e.m.Token(ctx, tenantA); err != nil {
			t.Fatal(err)
		}
	}
	if h, _ := value(e.collect(), "tenantauth.cache.hits"); h == 0 {
		t.Error("tenantauth.cache.hits = 0 after many hits")
	}
	if n := len(e.fetchSpans()); n != 1 {
		t.Errorf("%d fetch spans after hits, want still 1", n)
	}
}

// TestHerd: many callers of one cold tenant are one fetch, one span, with
// every caller counted as a waiter.
func TestHerd(t *testing.T) {
	const n = 20
	e := newEnv(t, envConfig{server: tenantauthtest.Config{Latency: 300 * time.Millisecond}})
	start := make(chan struct{})
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			<-start
			if _, err := e.token(ctx, tenantA); err != nil {
				t.Error(err)
			}
		}()
	}
	close(start)
	wg.Wait()
	fs := e.fetchSpans()
	if len(fs) != 1 {
		t.Fatalf("%d fetch spans, want 1", len(fs))
	}
	wantAttr(t, fs[0], tenantauthotel.AttrWaiters.Int(n), tenantauthotel.AttrAttempts.Int(1))
	rm := e.collect()
	if got, _ := value(rm, "tenantauth.token.fetches"); got != 1 {
		t.Errorf("fetches = %d, want 1", got)
	}
	if got, _ := value(rm, "tenantauth.token.fetch.waiters"); got != n {
		t.Errorf("fetch.waiters = %d, want %d", got, n)
	}
}

// TestRefreshAhead: a refresh-ahead fetch is a new trace, linked to the
// span of the call whose hit started it, not its child.
func TestRefreshAhead(t *testing.T) {
	clock := newFakeClock()
	e := newEnv(t, envConfig{server: tenantauthtest.Config{Clock: clock}, manager: tenantauth.Config{Clock: clock}})
	tr := e.tp.Tracer("test")
	ctx, first := tr.Start(context.Background(), "first")
	if _, err := e.token(ctx, tenantA); err != nil {
		t.Fatal(err)
	}
	first.End()
	clock.Advance(57 * time.Minute) // a one-hour token, in its refresh window
	ctx, hit := tr.Start(context.Background(), "hit")
	if _, err := e.token(ctx, tenantA); err != nil {
		t.Fatal(err)
	}
	hit.End()
	waitFor(t, "the refresh's span", func() bool { return len(e.fetchSpans()) == 2 })

	r := e.fetchSpans()[1]
	if r.Parent().IsValid() {
		t.Errorf("refresh span has parent %v; want a root span", r.Parent().SpanID())
	}
	if r.SpanContext().TraceID() == hit.SpanContext().TraceID() {
		t.Error("refresh span is in the caller's trace")
	}
	if l := r.Links(); len(l) != 1 || l[0].SpanContext.SpanID() != hit.SpanContext().SpanID() {
		t.Errorf("links %+v, want one to the hit's span %v", l, hit.SpanContext().SpanID())
	}
	wantAttr(t, r, tenantauthotel.AttrRefreshAhead.Bool(true), tenantauthotel.AttrBackground.Bool(true),
		tenantauthotel.AttrWaiters.Int(0), success)
	rm := e.collect()
	if got, _ := value(rm, "tenantauth.token.refreshes"); got != 1 {
		t.Errorf("refreshes = %d, want 1", got)
	}
	if got, _ := value(rm, "tenantauth.token.fetches", tenantauthotel.AttrBackground.Bool(true)); got != 1 {
		t.Errorf("background fetches = %d, want 1", got)
	}
	// The new token, for the leak scan. (The provider dates it by the real
	// clock, so with the fake clock 57 minutes ahead this hit claims
	// another refresh: not asserted.)
	if _, err := e.token(context.Background(), tenantA); err != nil {
		t.Fatal(err)
	}
}

// TestRefused: a tenant whose credentials are refused is one failed fetch
// (outcome refused, the registered OAuth code, the HTTP status), with an
// error status in the library's words; the remembered refusal fetches
// nothing more.
func TestRefused(t *testing.T) {
	e := newEnv(t, envConfig{})
	if _, err := e.token(context.Background(), tenantA); err != nil { // a token, for the leak scan
		t.Fatal(err)
	}
	for range 3 {
		if _, err := e.token(context.Background(), tenantBad); !errors.Is(err, tenantauth.ErrInvalidCredentials) {
			t.Fatalf("bad credentials: %v", err)
		}
	}
	fs := e.fetchSpans()
	if len(fs) != 2 {
		t.Fatalf("%d fetch spans, want 2 (the refusal is remembered)", len(fs))
	}
	f := fs[1]
	wantAttr(t, f, refused, tenantauthotel.AttrSource.String("none"),
		tenantauthotel.AttrErrorCode.String("unauthorized_client"),
		tenantauthotel.AttrStatusCode.Int(401),
		tenantauthotel.AttrErrorType.String(tenantauthotel.OutcomeRefused))
	if st := f.Status(); st.Code != codes.Error || st.Description != "tenantauth: token fetch failed: refused, status 401, unauthorized_client" {
		t.Errorf("status %+v", st)
	}
	rm := e.collect()
	if got, _ := value(rm, "tenantauth.token.fetches", refused,
		tenantauthotel.AttrErrorCode.String("unauthorized_client")); got != 1 {
		t.Errorf("refused fetches = %d, want 1", got)
	}
	if got, _ := value(rm, "tenantauth.token.requests", refused, tenantauthotel.AttrStatusCode.Int(401)); got != 1 {
		t.Errorf("refused requests = %d, want 1", got)
	}
}

// TestBreaker: the breaker state gauge follows an endpoint's breaker as it
// opens and recovers, and the transitions are counted.
func TestBreaker(t *testing.T) {
	e := newEnv(t, envConfig{manager: tenantauth.Config{Retries: -1,
		Breaker: breaker.Config{ConsecutiveFailures: 2, OpenTimeout: 100 * time.Millisecond}}})
	ep := tenantauthotel.AttrEndpoint.String(e.endpoint)
	state := func() int64 {
		v, ok := value(e.collect(), "tenantauth.breaker.state", ep)
		if !ok {
			t.Fatal("no breaker state")
		}
		return v
	}
	ctx := context.Background()
	e.kc.FailNext(2, tenantauthtest.Failure{Status: http.StatusInternalServerError})
	for range 2 {
		if _, err := e.token(ctx, tenantA); err == nil {
			t.Fatal("a token through a failing endpoint")
		}
	}
	if s := state(); s != 2 {
		t.Fatalf("breaker state %d after two failures, want 2 (open)", s)
	}
	if _, err := e.token(ctx, tenantA); !errors.Is(err, tenantauth.ErrCircuitOpen) {
		t.Fatalf("with the breaker open: %v", err)
	}
	time.Sleep(150 * time.Millisecond)
	if _, err := e.token(ctx, tenantA); err != nil {
		t.Fatalf("after the open timeout: %v", err)
	}
	if s := state(); s != 0 {
		t.Fatalf("breaker state %d after a successful probe, want 0 (closed)", s)
	}
	rm := e.collect()
	for st, want := range map[string]int64{"open": 1, "half_open": 1, "closed": 1} {
		if got, _ := value(rm, "tenantauth.breaker.transitions", ep, tenantauthotel.AttrBreakerTo.String(st)); got != want {
			t.Errorf("transitions to %s = %d, want %d", st, got, want)
		}
	}
	for oc, want := range map[string]int64{tenantauthotel.OutcomeUnavailable: 2, tenantauthotel.OutcomeCircuitOpen: 1, tenantauthotel.OutcomeSuccess: 1} {
		if got, _ := value(rm, "tenantauth.token.fetches", tenantauthotel.AttrOutcome.String(oc)); got != want {
			t.Errorf("fetches with outcome %s = %d, want %d", oc, got, want)
		}
	}
}

// TestRecovery: an API's 401 through httpauth's Transport is an
// invalidation, a new fetch and a counted recovery.
func TestRecovery(t *testing.T) {
	e := newEnv(t, envConfig{})
	ctx := context.Background()
	tok, err := e.token(ctx, tenantA)
	if err != nil {
		t.Fatal(err)
	}
	if !e.kc.Revoke(tok.AccessToken.Reveal()) {
		t.Fatal("Revoke: not a valid token")
	}
	client := &http.Client{Transport: httpauth.NewTransport(e.m, nil)}
	req, _ := http.NewRequestWithContext(tenantauth.WithTenant(ctx, tenantA), http.MethodGet, e.apiURL("orders"), nil)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d after the retry", resp.StatusCode)
	}
	if _, err := e.token(ctx, tenantA); err != nil { // the new token, for the leak scan
		t.Fatal(err)
	}
	rm := e.collect()
	if got, _ := value(rm, "tenantauth.recoveries", tenantauthotel.AttrRecovered.Bool(true)); got != 1 {
		t.Errorf("recoveries = %d, want 1", got)
	}
	if got, _ := value(rm, "tenantauth.invalidations", tenantauthotel.AttrRemote.Bool(false)); got != 1 {
		t.Errorf("invalidations = %d, want 1", got)
	}
	if got, _ := value(rm, "tenantauth.token.fetches", success); got != 2 {
		t.Errorf("fetches = %d, want 2", got)
	}
}

// TestTenantAttributes: with TenantAttributes the tenant ID is on the
// spans and the per-event metrics, except for an unknown tenant, whose ID
// is whatever a caller sent. (Without it, every test's leak scan checks
// that no tenant ID appears anywhere.)
func TestTenantAttributes(t *testing.T) {
	e := newEnv(t, envConfig{tenantAttr: true})
	ctx := context.Background()
	if _, err := e.token(ctx, tenantA); err != nil {
		t.Fatal(err)
	}
	wantAttr(t, e.fetchSpans()[0], tenantauthotel.AttrTenant.String(tenantA))
	if got, _ := value(e.collect(), "tenantauth.token.fetches", tenantauthotel.AttrTenant.String(tenantA)); got != 1 {
		t.Errorf("fetches of %s = %d, want 1", tenantA, got)
	}

	// A static Tenants map refuses an unknown ID before any fetch; a
	// TenantSource reports it through a fetch.
	const stranger = "no-such-tenant-x9"
	fctx := e.obs.FetchStart(ctx, ctx, tenantauth.FetchStart{TenantID: stranger})
	e.obs.FetchDone(fctx, tenantauth.FetchDone{TenantID: stranger, Source: tenantauth.SourceNone,
		Err: fmt.Errorf("tenantauth: unknown tenant %q: %w", stranger, tenantauth.ErrUnknownTenant)})
	rm := e.collect()
	if got, _ := value(rm, "tenantauth.token.fetches", tenantauthotel.AttrOutcome.String(tenantauthotel.OutcomeUnknownTenant)); got != 1 {
		t.Errorf("unknown-tenant fetches = %d, want 1", got)
	}
	if _, ok := value(rm, "tenantauth.token.fetches", tenantauthotel.AttrTenant.String(stranger)); ok {
		t.Error("an unknown tenant's ID is a metric label")
	}
}

// TestRegister: one Manager per Observer; Unregister frees it.
func TestRegister(t *testing.T) {
	e := newEnv(t, envConfig{})
	if _, err := e.token(context.Background(), tenantA); err != nil {
		t.Fatal(err)
	}
	if _, err := e.obs.Register(e.m); !errors.Is(err, tenantauthotel.ErrRegistered) {
		t.Fatalf("second Register: %v, want ErrRegistered", err)
	}
	if _, err := e.obs.Register(nil); err == nil {
		t.Fatal("Register(nil) succeeded")
	}
}

// TestNoRecordingSpan: with sampling off, fetches still count and nothing
// fails.
func TestNoRecordingSpan(t *testing.T) {
	e := newEnv(t, envConfig{})
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.NeverSample()))
	obs, err := tenantauthotel.New(tenantauthotel.Config{TracerProvider: tp})
	if err != nil {
		t.Fatal(err)
	}
	ctx := obs.FetchStart(context.Background(), context.Background(), tenantauth.FetchStart{TenantID: tenantA})
	obs.Attempt(ctx, tenantauth.FetchEvent{TenantID: tenantA, Attempt: 1})
	obs.FetchDone(ctx, tenantauth.FetchDone{TenantID: tenantA, Err: errors.New("x")})
	// Events with a context FetchStart did not return touch no span.
	obs.FetchDone(context.Background(), tenantauth.FetchDone{TenantID: tenantA})
	if _, err := e.token(context.Background(), tenantA); err != nil {
		t.Fatal(err)
	}
}

// TestUnregisterWhileCollecting: Unregister and Register while metrics
// are collected do not deadlock (the SDK runs the callback under its own
// lock, which Unregister takes too).
func TestUnregisterWhileCollecting(t *testing.T) {
	e := newEnv(t, envConfig{})
	if _, err := e.token(context.Background(), tenantA); err != nil {
		t.Fatal(err)
	}
	reader := sdkmetric.NewManualReader()
	obs, err := tenantauthotel.New(tenantauthotel.Config{MeterProvider: sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 200 {
			var rm metricdata.ResourceMetrics
			_ = reader.Collect(context.Background(), &rm)
		}
	}()
	for range 200 {
		obs.BreakerChange(tenantauth.BreakerChange{Endpoint: e.endpoint, To: breaker.Open})
		reg, err := obs.Register(e.m)
		if err != nil {
			t.Fatal(err)
		}
		if err := reg.Unregister(); err != nil {
			t.Fatal(err)
		}
	}
	<-done
}

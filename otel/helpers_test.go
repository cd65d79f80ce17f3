package tenantauthotel_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/tenantauth/tenantauth"
	tenantauthotel "github.com/tenantauth/tenantauth/otel"
	"github.com/tenantauth/tenantauth/providers/keycloak"
	"github.com/tenantauth/tenantauth/tenantauthtest"
)

// The tenants of the tests, their credentials at the Keycloak stand-in,
// and the secrets that must never appear in telemetry. The IDs are
// distinctive so that a scan for them cannot match anything else.
const (
	tenantA   = "tenant-acme-4711"    // client_credentials
	tenantB   = "tenant-globex-0815"  // password grant, with refresh tokens
	tenantBad = "tenant-initech-1999" // a wrong client secret

	clientA, secretA = "client-acme", "cs-Acme-5ecr3t-q1w2"
	clientB, secretB = "client-globex", "cs-Globex-5ecr3t-e3r4"
	clientBad        = "client-initech"
	secretBadReal    = "cs-Initech-real-t5y6"
	secretBadWrong   = "cs-Initech-WRONG-u7i8"
	userB, passwordB = "ops@globex.example", "pw-Globex-o9p0"
)

// fakeClock is a settable clock for the Manager and the stand-in.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Now()} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// env is a Manager with an Observer on an SDK meter and tracer, for
// tenants at a Keycloak stand-in.
type env struct {
	t        *testing.T
	kc       *tenantauthtest.Server
	reader   *sdkmetric.ManualReader
	spans    *tracetest.SpanRecorder
	tp       *sdktrace.TracerProvider
	obs      *tenantauthotel.Observer
	m        *tenantauth.Manager
	endpoint string

	mu     sync.Mutex
	tokens []string // every token value the test saw, for the leak scan
}

type envConfig struct {
	manager    tenantauth.Config // Tenants and Observer are set by newEnv
	server     tenantauthtest.Config
	tenantAttr bool
}

func newEnv(t *testing.T, ec envConfig) *env {
	t.Helper()
	sc := ec.server
	sc.Clients = map[string]string{clientA: secretA, clientB: secretB, clientBad: secretBadReal}
	sc.Users = map[string]string{userB: passwordB}
	sc.RefreshTokens = true
	kc := tenantauthtest.NewKeycloak(sc)
	t.Cleanup(kc.Close)

	e := &env{t: t, kc: kc, reader: sdkmetric.NewManualReader(), spans: tracetest.NewSpanRecorder()}
	e.tp = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(e.spans))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(e.reader))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()); _ = e.tp.Shutdown(context.Background()) })

	obs, err := tenantauthotel.New(tenantauthotel.Config{MeterProvider: mp, TracerProvider: e.tp, TenantAttributes: ec.tenantAttr})
	if err != nil {
		t.Fatal(err)
	}
	e.obs = obs
	// The provider's HTTP client is instrumented too: its requests are
	// child spans of the fetch span.
	hc := &http.Client{Transport: otelhttp.NewTransport(http.DefaultTransport,
		otelhttp.WithTracerProvider(e.tp), otelhttp.WithMeterProvider(metricnoop.NewMeterProvider()))}
	p, err := keycloak.New(keycloak.Config{BaseURL: kc.URL, Realm: "fluencypass", HTTPClient: hc})
	if err != nil {
		t.Fatal(err)
	}
	e.endpoint = p.Endpoint()
	host := strings.TrimPrefix(kc.URL, "http://")
	cfg := ec.manager
	cfg.Observer = obs
	cfg.Tenants = tenantauth.Tenants{
		tenantA: {Provider: p, APIHosts: []string{host},
			Credentials: tenantauth.Credentials{ClientID: clientA, ClientSecret: secretA}},
		tenantB: {Provider: p, APIHosts: []string{host},
			Credentials: tenantauth.Credentials{ClientID: clientB, ClientSecret: secretB, Username: userB, Password: passwordB}},
		tenantBad: {Provider: p, APIHosts: []string{host},
			Credentials: tenantauth.Credentials{ClientID: clientBad, ClientSecret: secretBadWrong}},
	}
	m, err := tenantauth.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.m = m
	reg, err := obs.Register(m)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = reg.Unregister()
		_ = m.Close()
		e.checkNoLeak(ec.tenantAttr)
	})
	return e
}

// token gets a tenant's token and remembers its values for the leak scan.
func (e *env) token(ctx context.Context, id string) (*tenantauth.Token, error) {
	tok, err := e.m.Token(ctx, id)
	if tok != nil {
		e.mu.Lock()
		e.tokens = append(e.tokens, tok.AccessToken.Reveal())
		if !tok.RefreshToken.IsZero() {
			e.tokens = append(e.tokens, tok.RefreshToken.Reveal())
		}
		e.mu.Unlock()
	}
	return tok, err
}

// collect reads the metrics.
func (e *env) collect() metricdata.ResourceMetrics {
	e.t.Helper()
	var rm metricdata.ResourceMetrics
	if err := e.reader.Collect(context.Background(), &rm); err != nil {
		e.t.Fatal(err)
	}
	return rm
}

// value sums the data points of the named metric (a sum or a gauge, or a
// histogram's count) whose attributes include want.
func value(rm metricdata.ResourceMetrics, name string, want ...attribute.KeyValue) (int64, bool) {
	var total int64
	found := false
	match := func(s attribute.Set) bool {
		for _, kv := range want {
			if v, ok := s.Value(kv.Key); !ok || v != kv.Value {
				return false
			}
		}
		return true
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					if match(p.Attributes) {
						total, found = total+p.Value, true
					}
				}
			case metricdata.Gauge[int64]:
				for _, p := range d.DataPoints {
					if match(p.Attributes) {
						total, found = total+p.Value, true
					}
				}
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					if match(p.Attributes) {
						total, found = total+int64(p.Count), true
					}
				}
			}
		}
	}
	return total, found
}

// fetchSpans returns the ended fetch spans, in order of ending.
func (e *env) fetchSpans() []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range e.spans.Ended() {
		if s.Name() == tenantauthotel.SpanName {
			out = append(out, s)
		}
	}
	return out
}

// attr returns a span's attribute.
func attr(s sdktrace.ReadOnlySpan, k attribute.Key) (attribute.Value, bool) {
	for _, kv := range s.Attributes() {
		if kv.Key == k {
			return kv.Value, true
		}
	}
	return attribute.Value{}, false
}

func wantAttr(t *testing.T, s sdktrace.ReadOnlySpan, want ...attribute.KeyValue) {
	t.Helper()
	for _, kv := range want {
		if v, ok := attr(s, kv.Key); !ok || v != kv.Value {
			t.Errorf("span %s: %s = %v (present %t), want %v", s.Name(), kv.Key, v.String(), ok, kv.Value.String())
		}
	}
}

// waitFor polls cond for up to 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// telemetry renders everything the test exported, metrics and spans, as
// strings: names, descriptions, every attribute key and value, events,
// links, statuses, and the JSON and %+v renderings of the whole for what
// a walk might miss.
func (e *env) telemetry() []string {
	rm := e.collect()
	var out []string
	kvs := func(set []attribute.KeyValue) {
		for _, kv := range set {
			out = append(out, string(kv.Key), kv.Value.String())
		}
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			out = append(out, m.Name, m.Description, m.Unit)
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					kvs(p.Attributes.ToSlice())
				}
			case metricdata.Gauge[int64]:
				for _, p := range d.DataPoints {
					kvs(p.Attributes.ToSlice())
				}
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					kvs(p.Attributes.ToSlice())
					for _, x := range p.Exemplars {
						kvs(x.FilteredAttributes)
					}
				}
			default:
				out = append(out, fmt.Sprintf("unexpected data %T", d))
			}
		}
	}
	spans := e.spans.Ended()
	for _, s := range spans {
		out = append(out, s.Name(), s.Status().Description)
		kvs(s.Attributes())
		for _, ev := range s.Events() {
			out = append(out, ev.Name)
			kvs(ev.Attributes)
		}
		for _, l := range s.Links() {
			kvs(l.Attributes)
		}
	}
	stubs := tracetest.SpanStubsFromReadOnlySpans(spans)
	js, err := json.Marshal(struct {
		M metricdata.ResourceMetrics
		S tracetest.SpanStubs
	}{rm, stubs})
	if err != nil {
		e.t.Fatal(err)
	}
	out = append(out, string(js), fmt.Sprintf("%+v %+v", rm, stubs))
	return out
}

// checkNoLeak fails the test if any secret, token value or (without
// TenantAttributes) tenant ID appears in the telemetry. The otelhttp
// spans of the provider's token requests are included: they must not
// carry the form or the Authorization header either.
func (e *env) checkNoLeak(tenantAttrs bool) {
	t := e.t
	e.mu.Lock()
	needles := append([]string{secretA, secretB, secretBadReal, secretBadWrong, passwordB}, e.tokens...)
	e.mu.Unlock()
	if len(e.tokens) == 0 && !t.Failed() && !t.Skipped() {
		t.Error("the leak scan saw no token: the test fetched none?")
	}
	ids := []string{tenantA, tenantB, tenantBad}
	if !tenantAttrs {
		needles = append(needles, ids...)
	}
	tel := e.telemetry()
	for _, n := range needles {
		for _, s := range tel {
			if strings.Contains(s, n) {
				i := strings.Index(s, n)
				t.Errorf("telemetry contains %q: …%s…", n, s[max(0, i-80):min(len(s), i+len(n)+40)])
				break
			}
		}
	}
	if tenantAttrs && !slices.ContainsFunc(tel, func(s string) bool { return s == tenantA }) {
		t.Error("TenantAttributes is on, but no attribute holds a tenant ID")
	}
}

// apiURL is the stand-in's API URL for a path.
func (e *env) apiURL(path string) string {
	u, _ := url.JoinPath(e.kc.APIURL(), path)
	return u
}

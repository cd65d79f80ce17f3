package tenantauthotel_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/tenantauth/tenantauth"
	"github.com/tenantauth/tenantauth/middleware/httpauth"
)

// wire records the traceparent header of every request it sends.
type wire struct {
	mu      sync.Mutex
	parents []string
}

func (w *wire) RoundTrip(req *http.Request) (*http.Response, error) {
	w.mu.Lock()
	w.parents = append(w.parents, req.Header.Get("traceparent"))
	w.mu.Unlock()
	return http.DefaultTransport.RoundTrip(req)
}

// TestOtelhttpOrder shows the two ways to compose httpauth's Transport
// with otelhttp's on a request the API rejects once (401, then the retry
// with a new token is accepted):
//
//   - httpauth outside, otelhttp.NewTransport as its base (recommended):
//     each request on the wire is its own client span, with its own
//     traceparent and status — the rejected one shows as a 401 — and the
//     token fetches are children of the caller's span, beside them.
//   - otelhttp outside: one client span for the whole exchange, with the
//     final status; the 401 and the retry carry the same traceparent, and
//     the token fetches are children of that client span.
func TestOtelhttpOrder(t *testing.T) {
	for _, c := range []struct {
		name          string
		outside       bool // otelhttp outside httpauth
		wantAPISpans  int
		wantStatuses  []int64
		fetchUnderAPI bool
	}{
		{"httpauth(otelhttp(base))", false, 2, []int64{401, 200}, false},
		{"otelhttp(httpauth(base))", true, 1, []int64{200}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, envConfig{})
			w := &wire{}
			opts := []otelhttp.Option{otelhttp.WithTracerProvider(e.tp), otelhttp.WithMeterProvider(metricnoop.NewMeterProvider()),
				otelhttp.WithPropagators(propagation.TraceContext{})}
			var rt http.RoundTripper
			if c.outside {
				rt = otelhttp.NewTransport(httpauth.NewTransport(e.m, w), opts...)
			} else {
				rt = httpauth.NewTransport(e.m, otelhttp.NewTransport(w, opts...))
			}
			ctx, caller := e.tp.Tracer("test").Start(context.Background(), "caller")
			e.kc.RejectAPI(1)
			req, _ := http.NewRequestWithContext(tenantauth.WithTenant(ctx, tenantA), http.MethodGet, e.apiURL("orders"), nil)
			resp, err := (&http.Client{Transport: rt}).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			caller.End()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d", resp.StatusCode)
			}
			if _, err := e.token(context.Background(), tenantA); err != nil { // for the leak scan
				t.Fatal(err)
			}

			var api []sdktrace.ReadOnlySpan
			for _, s := range e.spans.Ended() {
				if u, ok := attr(s, "url.full"); s.SpanKind() == trace.SpanKindClient && ok && strings.Contains(u.AsString(), "/api/") {
					api = append(api, s)
				}
			}
			if len(api) != c.wantAPISpans {
				t.Fatalf("%d API client spans, want %d", len(api), c.wantAPISpans)
			}
			for i, s := range api {
				if v, _ := attr(s, "http.response.status_code"); v.AsInt64() != c.wantStatuses[i] {
					t.Errorf("API span %d: status %d, want %d", i, v.AsInt64(), c.wantStatuses[i])
				}
				if s.Parent().SpanID() != caller.SpanContext().SpanID() {
					t.Errorf("API span %d is not the caller's child", i)
				}
			}
			w.mu.Lock()
			parents := w.parents
			w.mu.Unlock()
			if len(parents) != 2 {
				t.Fatalf("%d requests on the wire, want 2", len(parents))
			}
			if same := parents[0] == parents[1]; same != c.outside {
				t.Errorf("traceparents %q: same = %t, want %t", parents, same, c.outside)
			}
			for i, p := range parents {
				if span := api[min(i, len(api)-1)]; !strings.Contains(p, span.SpanContext().SpanID().String()) {
					t.Errorf("wire request %d: traceparent %q does not name its client span %v", i, p, span.SpanContext().SpanID())
				}
			}

			fs := e.fetchSpans()
			if len(fs) != 2 {
				t.Fatalf("%d fetch spans, want 2 (cold, and after the 401)", len(fs))
			}
			want := caller.SpanContext().SpanID()
			if c.fetchUnderAPI {
				want = api[0].SpanContext().SpanID()
			}
			for i, f := range fs[:2] {
				if f.Parent().SpanID() != want {
					t.Errorf("fetch span %d: parent %v, want %v", i, f.Parent().SpanID(), want)
				}
			}
		})
	}
}

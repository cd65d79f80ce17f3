package tenantauthotel_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/tenantauth/tenantauth"
	"github.com/tenantauth/tenantauth/middleware/httpauth"
	tenantauthotel "github.com/tenantauth/tenantauth/otel"
)

// staticProvider issues one-hour tokens without I/O.
type staticProvider struct{}

func (staticProvider) Endpoint() string { return "https://idp.example/token" }

func (staticProvider) Exchange(context.Context, tenantauth.TokenRequest) (*tenantauth.Token, error) {
	return &tenantauth.Token{AccessToken: "bench-token", TokenType: "Bearer", Expiry: time.Now().Add(time.Hour)}, nil
}

// benchObserver is an Observer on SDK providers that record (a manual
// reader; spans sampled, with no exporter), as in production.
func benchObserver(b *testing.B) (*tenantauthotel.Observer, *sdkmetric.MeterProvider, *sdktrace.TracerProvider) {
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	tp := sdktrace.NewTracerProvider()
	b.Cleanup(func() { _ = mp.Shutdown(context.Background()); _ = tp.Shutdown(context.Background()) })
	obs, err := tenantauthotel.New(tenantauthotel.Config{MeterProvider: mp, TracerProvider: tp})
	if err != nil {
		b.Fatal(err)
	}
	return obs, mp, tp
}

func benchManager(b *testing.B, obs tenantauth.Observer) *tenantauth.Manager {
	m, err := tenantauth.New(tenantauth.Config{
		Tenants: tenantauth.Tenants{"t": {Provider: staticProvider{}, APIHosts: []string{"api.example"}}},
		// Observer is an interface: a nil *Observer would not be "none".
		Observer: obs,
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = m.Close() })
	if _, err := m.Token(context.Background(), "t"); err != nil {
		b.Fatal(err)
	}
	return m
}

// BenchmarkTokenHit is Manager.Token on a cached token: without an
// Observer, with one that does nothing, and with this package's. The
// Observer is not called on a hit; the Manager only samples one hit in
// tenantauth.HitSample for Stats.Hits.
func BenchmarkTokenHit(b *testing.B) {
	obs, _, _ := benchObserver(b)
	for _, c := range []struct {
		name string
		obs  tenantauth.Observer
	}{{"without", nil}, {"nop", tenantauth.NopObserver{}}, {"otel", obs}} {
		b.Run(c.name, func(b *testing.B) {
			m := benchManager(b, c.obs)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := m.Token(ctx, "t"); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(c.name+"/parallel", func(b *testing.B) {
			m := benchManager(b, c.obs)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				ctx := context.Background()
				for pb.Next() {
					if _, err := m.Token(ctx, "t"); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// okTransport answers every request 200 without I/O.
type okTransport struct{}

func (okTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		_ = req.Body.Close()
	}
	return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody, Header: http.Header{}, Request: req}, nil
}

// BenchmarkRoundTrip is httpauth's Transport on a base that answers at
// once: without an Observer, with this package's, and composed with
// otelhttp either way (spans recorded, no exporter).
func BenchmarkRoundTrip(b *testing.B) {
	obs, mp, tp := benchObserver(b)
	hopts := []otelhttp.Option{otelhttp.WithTracerProvider(tp), otelhttp.WithMeterProvider(mp),
		otelhttp.WithPropagators(propagation.TraceContext{})}
	for _, c := range []struct {
		name string
		obs  tenantauth.Observer
		rt   func(m *tenantauth.Manager) http.RoundTripper
	}{
		{"without", nil, func(m *tenantauth.Manager) http.RoundTripper { return httpauth.NewTransport(m, okTransport{}) }},
		{"otel", obs, func(m *tenantauth.Manager) http.RoundTripper { return httpauth.NewTransport(m, okTransport{}) }},
		{"otel/httpauth(otelhttp)", obs, func(m *tenantauth.Manager) http.RoundTripper {
			return httpauth.NewTransport(m, otelhttp.NewTransport(okTransport{}, hopts...))
		}},
		{"otel/otelhttp(httpauth)", obs, func(m *tenantauth.Manager) http.RoundTripper {
			return otelhttp.NewTransport(httpauth.NewTransport(m, okTransport{}), hopts...)
		}},
	} {
		b.Run(c.name, func(b *testing.B) {
			rt := c.rt(benchManager(b, c.obs))
			req, _ := http.NewRequestWithContext(tenantauth.WithTenant(context.Background(), "t"),
				http.MethodGet, "https://api.example/orders", nil)
			b.ReportAllocs()
			for b.Loop() {
				resp, err := rt.RoundTrip(req)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
			}
		})
	}
}

// BenchmarkFetchEvents is the Observer's cost per token fetch of one
// attempt (FetchStart, Attempt, FetchDone): a span with an event, and the
// fetch and request metrics. A fetch is a network round trip, thousands
// of times this.
func BenchmarkFetchEvents(b *testing.B) {
	obs, _, _ := benchObserver(b)
	ctx := context.Background()
	ep := staticProvider{}.Endpoint()
	for _, c := range []struct {
		name string
		err  error
	}{{"success", nil}, {"refused", &tenantauth.TokenError{Endpoint: ep, StatusCode: 401, Code: "invalid_client"}}, {"network", errors.New("x")}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				fctx := obs.FetchStart(ctx, ctx, tenantauth.FetchStart{TenantID: "t"})
				obs.Attempt(fctx, tenantauth.FetchEvent{TenantID: "t", Endpoint: ep, Grant: tenantauth.GrantClientCredentials,
					Attempt: 1, Duration: time.Millisecond, Err: c.err})
				obs.FetchDone(fctx, tenantauth.FetchDone{TenantID: "t", Endpoint: ep, Grant: tenantauth.GrantClientCredentials,
					Source: tenantauth.SourceEndpoint, Waiters: 1, Attempts: 1, Duration: time.Millisecond, Err: c.err})
			}
		})
	}
}

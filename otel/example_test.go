package tenantauthotel_test

import (
	"context"
	"fmt"
	"log"
	"net/http"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/tenantauth/tenantauth"
	"github.com/tenantauth/tenantauth/middleware/httpauth"
	tenantauthotel "github.com/tenantauth/tenantauth/otel"
	"github.com/tenantauth/tenantauth/providers/keycloak"
	"github.com/tenantauth/tenantauth/tenantauthtest"
)

// The Observer goes into the Manager's Config; Register then hands it the
// Manager for the figures read from Manager.Stats. API requests go
// through httpauth's Transport with otelhttp's as its base, so that each
// request on the wire is its own client span.
func Example() {
	idp := tenantauthtest.NewKeycloak(tenantauthtest.Config{}) // a stand-in Keycloak and API
	defer idp.Close()

	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))

	obs, err := tenantauthotel.New(tenantauthotel.Config{MeterProvider: mp, TracerProvider: tp})
	if err != nil {
		log.Fatal(err)
	}
	kc, err := keycloak.New(keycloak.Config{BaseURL: idp.URL, Realm: "fluencypass"})
	if err != nil {
		log.Fatal(err)
	}
	m, err := tenantauth.New(tenantauth.Config{
		Tenants: tenantauth.Tenants{"acme": {Provider: kc, APIHosts: []string{tenantauth.AnyHost},
			Credentials: tenantauth.Credentials{ClientID: tenantauthtest.DefaultClientID, ClientSecret: tenantauthtest.DefaultClientSecret}}},
		Observer: obs,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	reg, err := obs.Register(m)
	if err != nil {
		log.Fatal(err)
	}
	defer reg.Unregister()

	client := &http.Client{Transport: httpauth.NewTransport(m,
		otelhttp.NewTransport(http.DefaultTransport, otelhttp.WithTracerProvider(tp), otelhttp.WithMeterProvider(mp)))}
	for range 3 {
		req, _ := http.NewRequestWithContext(tenantauth.WithTenant(context.Background(), "acme"),
			http.MethodGet, idp.APIURL()+"/orders", nil)
		resp, err := client.Do(req)
		if err != nil {
			log.Fatal(err)
		}
		resp.Body.Close()
	}

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		log.Fatal(err)
	}
	for _, sm := range rm.ScopeMetrics {
		for _, mt := range sm.Metrics {
			if s, ok := mt.Data.(metricdata.Sum[int64]); ok && (mt.Name == "tenantauth.token.fetches" || mt.Name == "tenantauth.cache.tenants") {
				for _, p := range s.DataPoints {
					if oc, ok := p.Attributes.Value(tenantauthotel.AttrOutcome); ok {
						fmt.Printf("%s{outcome=%s} %d\n", mt.Name, oc.AsString(), p.Value)
					} else {
						fmt.Println(mt.Name, p.Value)
					}
				}
			}
		}
	}
	for _, s := range spans.Ended() {
		if s.Name() == tenantauthotel.SpanName {
			fmt.Println("span", s.Name())
		}
	}
	// Output:
	// tenantauth.token.fetches{outcome=success} 1
	// tenantauth.cache.tenants 1
	// span tenantauth.fetch
}

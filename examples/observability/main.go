// Command observability shows tenantauth's OpenTelemetry metrics and traces
// (the nested module github.com/tenantauth/tenantauth/otel), on this machine
// only:
//
//	go run .
//
// It starts two stand-in token servers with their protected APIs (package
// tenantauthtest: a Keycloak for four tenants, one of them with a wrong
// client secret, and a Laravel Passport for two), and a small service on
// 127.0.0.1 that calls a tenant's API for each request it gets, through
// httpauth's Transport with otelhttp's as its base. Its Manager has a
// tenantauthotel.Observer. Metrics are exported in the Prometheus format
// on http://127.0.0.1:PORT/metrics (go.opentelemetry.io/otel/exporters/
// prometheus and promhttp); spans are written by the stdout exporter, one
// JSON object a line, to a file (-traces; "-" for standard output).
//
// Then it drives traffic for about seven seconds: a warm-up, an outage of
// the Keycloak (every token request answers 500), its recovery, and the
// revocation of every Keycloak token (the APIs answer 401 until httpauth
// has fetched new ones). It scrapes its own /metrics once and prints a
// short summary: fetches by outcome, the cache hit estimate, the breaker
// of each token endpoint, the 401 recoveries.
//
// With -samples FILE it also scrapes /metrics every 250 ms and writes the
// tenantauth series to FILE as CSV (seconds, metric, labels, value), with
// the phases as rows named "phase". go run ./cmd/dashboard renders them as
// the panels of the Grafana dashboard (otel/dashboard/tenantauth.json).
//
// Everything it starts is stopped before it exits, within 10 seconds. It
// exits 1 when a figure is not what the phases should produce.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	promexporter "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/tenantauth/tenantauth"
	"github.com/tenantauth/tenantauth/breaker"
	"github.com/tenantauth/tenantauth/middleware/httpauth"
	tenantauthotel "github.com/tenantauth/tenantauth/otel"
	"github.com/tenantauth/tenantauth/providers/keycloak"
	"github.com/tenantauth/tenantauth/providers/passport"
	"github.com/tenantauth/tenantauth/tenantauthtest"
)

// timeLimit bounds the whole run.
const timeLimit = 10 * time.Second

// options are the command line's.
type options struct {
	traces  string        // file for the spans; "-" for w
	samples string        // CSV of metric samples; "" for none
	addr    string        // listen address of /metrics
	scale   float64       // multiplies the phases' durations (tests shorten them)
	every   time.Duration // sampling interval for samples
}

func main() {
	o := options{scale: 1, every: 250 * time.Millisecond}
	flag.StringVar(&o.traces, "traces", filepath.Join(os.TempDir(), "tenantauth-observability-traces.jsonl"),
		`file the spans are written to, one JSON object a line; "-" for standard output`)
	flag.StringVar(&o.samples, "samples", "", "write metric samples over time to this CSV file (for cmd/dashboard)")
	flag.StringVar(&o.addr, "metrics-addr", "127.0.0.1:0", "listen address of the Prometheus /metrics endpoint (loopback)")
	flag.Parse()

	ctx, cancel := context.WithTimeout(context.Background(), timeLimit)
	_, err := run(ctx, os.Stdout, o)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "observability: FAILED:", err)
		os.Exit(1)
	}
}

// tenantAPI is where a tenant's API is, for the service.
type tenantAPI map[string]string

// run is the whole demo. It prints to w and returns the final scrape's
// summary, and an error when a figure is not what the phases promise.
func run(ctx context.Context, w io.Writer, o options) (_ *summary, err error) {
	if host, _, err := net.SplitHostPort(o.addr); err != nil || !isLoopback(host) {
		return nil, fmt.Errorf("-metrics-addr %q: want a loopback address, such as 127.0.0.1:9464", o.addr)
	}

	// Telemetry: a Prometheus registry for the metrics, a file for spans.
	reg := prometheus.NewRegistry()
	exp, err := promexporter.New(promexporter.WithRegisterer(reg))
	if err != nil {
		return nil, err
	}
	res := resource.NewSchemaless(attribute.String("service.name", "tenantauth-observability-example"))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp), sdkmetric.WithResource(res))
	defer mp.Shutdown(context.Background())

	spanOut := &lineCounter{w: w}
	if o.traces != "-" {
		f, err := os.Create(o.traces)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		spanOut.w = f
	}
	texp, err := stdouttrace.New(stdouttrace.WithWriter(spanOut)) // one JSON object a line
	if err != nil {
		return nil, err
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(texp), sdktrace.WithResource(res))
	defer tp.Shutdown(context.Background())

	// The Manager, with the Observer.
	obs, err := tenantauthotel.New(tenantauthotel.Config{MeterProvider: mp, TracerProvider: tp})
	if err != nil {
		return nil, err
	}
	kc := tenantauthtest.NewKeycloak(tenantauthtest.Config{
		Clients:       map[string]string{"acme": "acme-secret", "globex": "globex-secret", "umbrella": "umbrella-secret", "initech": "initech-secret"},
		TokenLifetime: 2 * time.Second, Latency: 5 * time.Millisecond,
	})
	defer kc.Close()
	pp := tenantauthtest.NewPassport(tenantauthtest.Config{
		Clients:       map[string]string{"1": "hooli-secret", "2": "piedpiper-secret"},
		Users:         map[string]string{"api@hooli.example": "hooli-password", "api@piedpiper.example": "piedpiper-password"},
		TokenLifetime: 3 * time.Second, Latency: 5 * time.Millisecond,
	})
	defer pp.Close()
	tenants, apis, err := tenantsOf(kc, pp, tp, mp)
	if err != nil {
		return nil, err
	}
	m, err := tenantauth.New(tenantauth.Config{
		Tenants:  tenants,
		Observer: obs,
		// Short, for the demo: the defaults are 5 failed fetches and 30 s.
		Breaker: breaker.Config{ConsecutiveFailures: 3, OpenTimeout: time.Second},
	})
	if err != nil {
		return nil, err
	}
	defer m.Close()
	registration, err := obs.Register(m)
	if err != nil {
		return nil, err
	}
	defer registration.Unregister()

	// The service and /metrics, on loopback.
	hopts := []otelhttp.Option{otelhttp.WithTracerProvider(tp), otelhttp.WithMeterProvider(mp),
		otelhttp.WithPropagators(propagation.TraceContext{})}
	upstream := &http.Client{Transport: httpauth.NewTransport(m, otelhttp.NewTransport(http.DefaultTransport, hopts...)),
		Timeout: 5 * time.Second}
	svc, err := serve("127.0.0.1:0", otelhttp.NewHandler(service(upstream, apis), "orders", hopts...))
	if err != nil {
		return nil, err
	}
	defer svc.close()
	metrics, err := serve(o.addr, promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	if err != nil {
		return nil, err
	}
	defer metrics.close()
	metricsURL := "http://" + metrics.addr + "/metrics"
	fmt.Fprintf(w, "tenantauth observability: token servers %s (Keycloak) and %s (Passport), service http://%s, metrics %s\n",
		kc.URL, pp.URL, svc.addr, metricsURL)

	// Samples over time, for the dashboard picture.
	var smp *sampler
	if o.samples != "" {
		if smp, err = startSampler(o.samples, metricsURL, o.every); err != nil {
			return nil, err
		}
		defer func() {
			if cerr := smp.stop(); err == nil && cerr != nil {
				err = cerr
			}
		}()
		smp.sampleNow() // before any traffic: counters start from here
	}

	// Traffic through the phases.
	d := func(s float64) time.Duration { return time.Duration(s * o.scale * float64(time.Second)) }
	tr := startTraffic(ctx, "http://"+svc.addr+"/orders", tenants)
	phases := []struct {
		name  string
		d     time.Duration
		start func()
	}{
		{"warm-up", d(1.5), func() {}},
		{"outage", d(2.5), func() { kc.FailNext(1<<30, tenantauthtest.Failure{Status: http.StatusInternalServerError}) }},
		{"recovery", d(1.5), func() { kc.FailNext(0, tenantauthtest.Failure{}) }},
		{"revocation", d(1.5), func() { kc.RevokeAll() }},
	}
	for _, p := range phases {
		p.start()
		smp.phase(p.name)
		fmt.Fprintf(w, "  %-10s %v\n", p.name, p.d)
		select {
		case <-time.After(p.d):
		case <-ctx.Done():
			tr.stop()
			return nil, fmt.Errorf("%s: %w", p.name, ctx.Err())
		}
	}
	ok, failed := tr.stop()
	smp.phase("end")
	smp.sampleNow()

	// One scrape, as Prometheus would, and its summary.
	s, err := scrape(ctx, metricsURL)
	if err != nil {
		return nil, err
	}
	if err := tp.ForceFlush(ctx); err != nil {
		return nil, err
	}
	s.requestsOK, s.requestsFailed, s.spans = ok, failed, int(spanOut.lines.Load())
	s.print(w, kc.TokenURL(), o.traces)
	return s, s.check(kc.TokenURL(), pp.TokenURL())
}

// tenantsOf describes the tenants of the two stand-ins: four at the
// Keycloak (initech with a wrong client secret), two at the Passport.
// Their token requests go through otelhttp too, as child spans of the
// fetch spans.
func tenantsOf(kc, pp *tenantauthtest.Server, tp *sdktrace.TracerProvider, mp *sdkmetric.MeterProvider) (tenantauth.Tenants, tenantAPI, error) {
	hc := &http.Client{Transport: otelhttp.NewTransport(http.DefaultTransport,
		otelhttp.WithTracerProvider(tp), otelhttp.WithMeterProvider(mp))}
	kp, err := keycloak.New(keycloak.Config{BaseURL: kc.URL, Realm: "fluencypass", HTTPClient: hc})
	if err != nil {
		return nil, nil, err
	}
	hp, err := passport.New(passport.Config{BaseURL: pp.URL, HTTPClient: hc})
	if err != nil {
		return nil, nil, err
	}
	host := func(s *tenantauthtest.Server) []string { return []string{strings.TrimPrefix(s.URL, "http://")} }
	ts, apis := tenantauth.Tenants{}, tenantAPI{}
	for _, id := range []string{"acme", "globex", "umbrella", "initech"} {
		secret := tenantauth.Secret(id + "-secret")
		if id == "initech" {
			secret = "initech-old-secret" // rotated at the IdP, not here
		}
		ts[id] = tenantauth.Tenant{Provider: kp, APIHosts: host(kc),
			Credentials: tenantauth.Credentials{ClientID: id, ClientSecret: secret}}
		apis[id] = kc.APIURL()
	}
	for i, id := range []string{"hooli", "piedpiper"} {
		ts[id] = tenantauth.Tenant{Provider: hp, APIHosts: host(pp),
			Credentials: tenantauth.Credentials{ClientID: fmt.Sprint(i + 1), ClientSecret: tenantauth.Secret(id + "-secret"),
				Username: "api@" + id + ".example", Password: tenantauth.Secret(id + "-password")}}
		apis[id] = pp.APIURL()
	}
	return ts, apis, nil
}

// service answers GET /orders for the tenant named by X-Tenant by calling
// that tenant's API with its token.
func service(upstream *http.Client, apis tenantAPI) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /orders", func(w http.ResponseWriter, r *http.Request) {
		tenant := r.Header.Get("X-Tenant")
		api, ok := apis[tenant]
		if !ok {
			http.Error(w, "unknown tenant", http.StatusNotFound)
			return
		}
		req, err := http.NewRequestWithContext(tenantauth.WithTenant(r.Context(), tenant), http.MethodGet, api+"/orders", nil)
		if err != nil {
			http.Error(w, "bad request", http.StatusInternalServerError)
			return
		}
		resp, err := upstream.Do(req)
		if err != nil {
			// The error names the tenant and the cause, for our logs; the
			// caller gets the status only.
			http.Error(w, "upstream unavailable", http.StatusBadGateway)
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		w.WriteHeader(resp.StatusCode)
	})
	return mux
}

// server is an HTTP server on a loopback listener.
type server struct {
	addr string
	srv  *http.Server
	done chan struct{}
}

func serve(addr string, h http.Handler) (*server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := &server{addr: ln.Addr().String(), srv: &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		_ = s.srv.Serve(ln)
	}()
	return s, nil
}

func (s *server) close() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if s.srv.Shutdown(ctx) != nil {
		_ = s.srv.Close()
	}
	<-s.done
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// lineCounter counts the lines (spans) written through it.
type lineCounter struct {
	mu    sync.Mutex
	w     io.Writer
	lines atomic.Int64
}

func (c *lineCounter) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lines.Add(int64(strings.Count(string(p), "\n")))
	return c.w.Write(p)
}

// traffic is the workers that call the service.
type traffic struct {
	cancel     context.CancelFunc
	wg         sync.WaitGroup
	ok, failed atomic.Int64
}

// workers call the service this often each; with 4 of them, about 160
// requests a second.
const (
	workers = 4
	pace    = 25 * time.Millisecond
)

func startTraffic(ctx context.Context, url string, tenants tenantauth.Tenants) *traffic {
	ctx, cancel := context.WithCancel(ctx)
	t := &traffic{cancel: cancel}
	ids := make([]string, 0, len(tenants))
	for id := range tenants {
		ids = append(ids, id)
	}
	client := &http.Client{Timeout: 5 * time.Second}
	for i := range workers {
		t.wg.Add(1)
		go func() {
			defer t.wg.Done()
			tick := time.NewTicker(pace)
			defer tick.Stop()
			for n := i; ; n += workers {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
				req.Header.Set("X-Tenant", ids[n%len(ids)])
				resp, err := client.Do(req)
				if err != nil {
					if ctx.Err() == nil {
						t.failed.Add(1)
					}
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					t.ok.Add(1)
				} else {
					t.failed.Add(1)
				}
			}
		}()
	}
	return t
}

// stop ends the traffic and returns the service's answers: 200 and not.
func (t *traffic) stop() (ok, failed int64) {
	t.cancel()
	t.wg.Wait()
	return t.ok.Load(), t.failed.Load()
}

var errFigures = errors.New("unexpected figures")

package tenantauthotel

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/tenantauth/tenantauth"
	"github.com/tenantauth/tenantauth/admission"
	"github.com/tenantauth/tenantauth/breaker"
)

// exportedNames records every event and observes Stats with every figure
// set, and returns the Prometheus names of all the Observer's series, as
// the Prometheus exporter names them: dots to underscores, _seconds for
// unit s, _total for counters, _bucket, _sum and _count for histograms.
func exportedNames(t *testing.T) []string {
	t.Helper()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	o, err := New(Config{MeterProvider: mp})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ep := "https://idp.example/token"
	fctx := o.FetchStart(ctx, ctx, tenantauth.FetchStart{TenantID: "t"})
	o.Attempt(fctx, tenantauth.FetchEvent{TenantID: "t", Endpoint: ep, Attempt: 1})
	o.FetchDone(fctx, tenantauth.FetchDone{TenantID: "t", Endpoint: ep, Waiters: 1})
	o.BreakerChange(tenantauth.BreakerChange{Endpoint: ep, To: breaker.Open})
	o.Invalidated(tenantauth.Invalidation{TenantID: "t"})
	o.Recovery(tenantauth.Recovery{TenantID: "t", Recovered: true})
	o.SharedStore(tenantauth.SharedStoreEvent{Op: "get", Err: errors.New("x")})
	stats := tenantauth.Stats{Cached: 1, Hits: 64, Evictions: 1, Refreshes: 1,
		Endpoints: []admission.EndpointStats{{Endpoint: ep, Limit: 8}},
		Shared:    tenantauth.SharedStats{Hits: 1}}
	if _, err := o.meter.RegisterCallback(func(_ context.Context, ob metric.Observer) error {
		o.observe(ob, stats, time.Now())
		return nil
	}, o.inst.observables()...); err != nil {
		t.Fatal(err)
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			base := strings.ReplaceAll(m.Name, ".", "_")
			if m.Unit == "s" {
				base += "_seconds"
			}
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				if d.IsMonotonic {
					base += "_total"
				}
				names = append(names, base)
			case metricdata.Gauge[int64]:
				names = append(names, base)
			case metricdata.Histogram[float64]:
				names = append(names, base+"_bucket", base+"_sum", base+"_count")
			default:
				t.Fatalf("%s: unexpected data %T", m.Name, d)
			}
		}
	}
	sort.Strings(names)
	return names
}

// TestDashboard: every series the Grafana dashboard queries is one the
// Observer exports, and every instrument is on the dashboard.
func TestDashboard(t *testing.T) {
	raw, err := os.ReadFile("dashboard/tenantauth.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("dashboard/tenantauth.json: %v", err)
	}
	exported := exportedNames(t)
	labels := map[string]bool{}
	for _, k := range []string{string(AttrEndpoint), string(AttrGrant), string(AttrOutcome), string(AttrSource),
		string(AttrBackground), string(AttrErrorCode), string(AttrStatusCode), string(AttrTenant), string(AttrRemote),
		string(AttrRecovered), string(AttrOperation), string(AttrBreakerTo)} {
		labels[strings.ReplaceAll(k, ".", "_")] = true
	}
	used := map[string]bool{}
	re := regexp.MustCompile(`tenantauth_[a-z_]+`)
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			for _, name := range re.FindAllString(tg.Expr, -1) {
				if labels[name] {
					continue
				}
				if !slices.Contains(exported, name) {
					t.Errorf("panel %q queries %s, which the Observer does not export", p.Title, name)
				}
				used[strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_sum"), "_count")] = true
			}
		}
	}
	missing := map[string]bool{}
	for _, name := range exported {
		base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_sum"), "_count")
		if !used[base] && !missing[base] {
			missing[base] = true
			t.Errorf("no panel shows %s", base)
		}
	}
}

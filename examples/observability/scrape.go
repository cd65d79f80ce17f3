package main

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// A sample is one series' value in one scrape, named as Prometheus names
// it: histograms as _bucket (with le), _sum and _count series.
type sample struct {
	name   string
	labels map[string]string
	value  float64
}

// labelString renders labels as {k="v",…}, sorted.
func (s sample) labelString() string {
	keys := make([]string, 0, len(s.labels))
	for k := range s.labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%s=%q", k, s.labels[k])
	}
	return "{" + b.String() + "}"
}

// get fetches and parses a Prometheus text exposition.
func get(ctx context.Context, url string) ([]sample, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/plain; version=0.0.4")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("parsing %s: %w", url, err)
	}
	var out []sample
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				out = append(out, sample{name, labels, m.GetCounter().GetValue()})
			case dto.MetricType_GAUGE:
				out = append(out, sample{name, labels, m.GetGauge().GetValue()})
			case dto.MetricType_HISTOGRAM:
				h := m.GetHistogram()
				out = append(out, sample{name + "_count", labels, float64(h.GetSampleCount())},
					sample{name + "_sum", labels, h.GetSampleSum()})
				for _, b := range h.GetBucket() {
					bl := map[string]string{"le": formatLE(b.GetUpperBound())}
					for k, v := range labels {
						bl[k] = v
					}
					out = append(out, sample{name + "_bucket", bl, float64(b.GetCumulativeCount())})
				}
				inf := map[string]string{"le": "+Inf"}
				for k, v := range labels {
					inf[k] = v
				}
				out = append(out, sample{name + "_bucket", inf, float64(h.GetSampleCount())})
			}
		}
	}
	return out, nil
}

func formatLE(v float64) string {
	if math.IsInf(v, 1) {
		return "+Inf"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// summary is what one scrape of /metrics says, and the traffic's figures.
type summary struct {
	fetches        map[string]float64 // by outcome
	hits           float64
	cached         float64
	state          map[string]float64 // breaker state by endpoint
	opened         map[string]float64 // transitions to open by endpoint
	recovered      float64
	notRecovered   float64
	invalidations  float64
	limit          map[string]float64 // admission limit by endpoint
	requestsOK     int64
	requestsFailed int64
	spans          int
}

// The Prometheus names of the Observer's metrics used here.
const (
	mFetches       = "tenantauth_token_fetches_total"
	mHits          = "tenantauth_cache_hits_total"
	mTenants       = "tenantauth_cache_tenants"
	mBreakerState  = "tenantauth_breaker_state"
	mTransitions   = "tenantauth_breaker_transitions_total"
	mRecoveries    = "tenantauth_recoveries_total"
	mInvalidations = "tenantauth_invalidations_total"
	mLimit         = "tenantauth_admission_limit"
)

func scrape(ctx context.Context, url string) (*summary, error) {
	ss, err := get(ctx, url)
	if err != nil {
		return nil, err
	}
	s := &summary{fetches: map[string]float64{}, state: map[string]float64{}, opened: map[string]float64{}, limit: map[string]float64{}}
	for _, x := range ss {
		ep := x.labels["tenantauth_endpoint"]
		switch x.name {
		case mFetches:
			s.fetches[x.labels["tenantauth_outcome"]] += x.value
		case mHits:
			s.hits += x.value
		case mTenants:
			s.cached += x.value
		case mBreakerState:
			s.state[ep] = x.value
		case mTransitions:
			if x.labels["tenantauth_breaker_to"] == "open" {
				s.opened[ep] += x.value
			}
		case mRecoveries:
			if x.labels["tenantauth_recovered"] == "true" {
				s.recovered += x.value
			} else {
				s.notRecovered += x.value
			}
		case mInvalidations:
			s.invalidations += x.value
		case mLimit:
			s.limit[ep] = x.value
		}
	}
	if len(s.fetches) == 0 {
		return nil, fmt.Errorf("%s has no %s: is the Observer registered?", url, mFetches)
	}
	return s, nil
}

var stateNames = map[float64]string{0: "closed", 1: "half-open", 2: "open"}

// print writes the summary. keycloak is the Keycloak's token endpoint,
// named as such.
func (s *summary) print(w io.Writer, keycloak, traces string) {
	outcomes := make([]string, 0, len(s.fetches))
	for oc := range s.fetches {
		outcomes = append(outcomes, oc)
	}
	slices.SortFunc(outcomes, func(a, b string) int { // most first
		if c := -cmpFloat(s.fetches[a], s.fetches[b]); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	var parts []string
	for _, oc := range outcomes {
		parts = append(parts, fmt.Sprintf("%s %.0f", oc, s.fetches[oc]))
	}
	fmt.Fprintln(w, "\nsummary (one scrape of /metrics):")
	fmt.Fprintf(w, "  %-26s %s\n", "token fetches by outcome", strings.Join(parts, ", "))
	fmt.Fprintf(w, "  %-26s ~%.0f hits (estimate, 1 in 64 counted), %.0f tenants cached\n", "cache", s.hits, s.cached)
	eps := make([]string, 0, len(s.state))
	for ep := range s.state {
		eps = append(eps, ep)
	}
	sort.Strings(eps)
	for _, ep := range eps {
		name := "passport"
		if ep == keycloak {
			name = "keycloak"
		}
		fmt.Fprintf(w, "  %-26s %s now, opened %.0f times, admission limit %.0f\n", "breaker "+name, stateNames[s.state[ep]], s.opened[ep], s.limit[ep])
	}
	fmt.Fprintf(w, "  %-26s %.0f recovered, %.0f not; %.0f invalidations\n", "401 recoveries", s.recovered, s.notRecovered, s.invalidations)
	fmt.Fprintf(w, "  %-26s %d answered 200, %d not (initech's refused credentials, the outage)\n", "service requests", s.requestsOK, s.requestsFailed)
	where := traces
	if traces == "-" {
		where = "standard output"
	}
	fmt.Fprintf(w, "  %-26s %d spans written to %s\n", "traces", s.spans, where)
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// check says what is not as the phases should make it.
func (s *summary) check(keycloak, passport string) error {
	var problems []string
	want := func(ok bool, format string, args ...any) {
		if !ok {
			problems = append(problems, fmt.Sprintf(format, args...))
		}
	}
	want(s.fetches["success"] > 0, "no successful fetch")
	want(s.fetches["refused"] == 1, "%.0f refused fetches, want 1 (initech, then remembered)", s.fetches["refused"])
	want(s.fetches["unavailable"]+s.fetches["circuit_open"] > 0, "no failed fetch during the outage")
	want(s.opened[keycloak] >= 1, "the Keycloak's breaker never opened")
	want(s.state[keycloak] == 0, "the Keycloak's breaker is %s at the end, want closed", stateNames[s.state[keycloak]])
	want(s.opened[passport] == 0, "the Passport's breaker opened")
	want(s.recovered >= 1, "no 401 recovered after the revocation")
	want(s.hits > 0, "no cache hit counted")
	want(s.spans > 0, "no span written")
	if len(problems) > 0 {
		return fmt.Errorf("%w: %s", errFigures, strings.Join(problems, "; "))
	}
	return nil
}

// sampler scrapes /metrics at an interval and writes the tenantauth
// series, and the phases, to a CSV file. A nil *sampler does nothing.
type sampler struct {
	url   string
	start time.Time
	stopc chan struct{}
	done  chan struct{}

	mu  sync.Mutex
	f   *os.File
	csv *csv.Writer
	err error
}

func startSampler(path, url string, every time.Duration) (*sampler, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	s := &sampler{url: url, start: time.Now(), stopc: make(chan struct{}), done: make(chan struct{}), f: f, csv: csv.NewWriter(f)}
	_ = s.csv.Write([]string{"seconds", "metric", "labels", "value"})
	go func() {
		defer close(s.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-s.stopc:
				return
			case <-t.C:
				s.sampleNow()
			}
		}
	}()
	return s, nil
}

func (s *sampler) since() string {
	return strconv.FormatFloat(time.Since(s.start).Seconds(), 'f', 3, 64)
}

// sampleNow scrapes once.
func (s *sampler) sampleNow() {
	if s == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	ss, err := get(ctx, s.url)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.err = err
		return
	}
	at := s.since()
	rows := make([][]string, 0, len(ss))
	for _, x := range ss {
		if strings.HasPrefix(x.name, "tenantauth_") {
			rows = append(rows, []string{at, x.name, x.labelString(), strconv.FormatFloat(x.value, 'g', -1, 64)})
		}
	}
	slices.SortFunc(rows, func(a, b []string) int {
		if c := strings.Compare(a[1], b[1]); c != 0 {
			return c
		}
		return strings.Compare(a[2], b[2])
	})
	_ = s.csv.WriteAll(rows)
}

// phase marks the start of a phase.
func (s *sampler) phase(name string) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	_ = s.csv.Write([]string{s.since(), "phase", fmt.Sprintf("{name=%q}", name), "1"})
}

func (s *sampler) stop() error {
	close(s.stopc)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	s.csv.Flush()
	err := s.err
	if err == nil {
		err = s.csv.Error()
	}
	if cerr := s.f.Close(); err == nil {
		err = cerr
	}
	return err
}

package load

import (
	"bytes"
	"context"
	"encoding/csv"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tenantauth/tenantauth/benchmarks/internal/contender"
	"github.com/tenantauth/tenantauth/benchmarks/internal/standin"
)

func TestValidate(t *testing.T) {
	good := Scenario{Name: "x", Tenants: 10, Workers: 2, Traffic: Zipf, ZipfS: 1.1, Duration: time.Second}
	tests := []struct {
		name   string
		modify func(*Scenario)
		ok     bool
	}{
		{"good", func(*Scenario) {}, true},
		{"no name", func(s *Scenario) { s.Name = "" }, false},
		{"no tenants", func(s *Scenario) { s.Tenants = 0 }, false},
		{"workers from GOMAXPROCS", func(s *Scenario) { s.Workers = 0 }, true},
		{"negative workers", func(s *Scenario) { s.Workers = -1 }, false},
		{"unbounded", func(s *Scenario) { s.Duration = 0 }, false},
		{"zipf s = 1", func(s *Scenario) { s.ZipfS = 1 }, false},
		{"fault rate 2", func(s *Scenario) { s.FaultRate = 2 }, false},
		{"negative latency", func(s *Scenario) { s.IdPLatency = -1 }, false},
		{"unknown traffic", func(s *Scenario) { s.Traffic = "burst" }, false},
		{"herd without requests", func(s *Scenario) { s.Traffic = Herd }, false},
		{"herd", func(s *Scenario) { s.Traffic, s.Requests = Herd, 100 }, true},
		{"fill", func(s *Scenario) { s.Traffic, s.Lookups, s.Rounds = Fill, 100, 3 }, true},
		{"fill with default lookups", func(s *Scenario) { s.Traffic = Fill }, true},
		{"negative lookups", func(s *Scenario) { s.Traffic, s.Lookups = Fill, -1 }, false},
		{"negative rounds", func(s *Scenario) { s.Traffic, s.Rounds = Fill, -1 }, false},
		{"warm fill", func(s *Scenario) { s.Traffic, s.Warm = Fill, true }, false},
		{"fill with revocation", func(s *Scenario) { s.Traffic, s.RevokeAt = Fill, time.Second }, false},
		{"coldstart", func(s *Scenario) {
			s.Traffic, s.Capacity, s.RefusalStatus, s.RetryAfter = ColdStart, 4, 429, time.Second
		}, true},
		{"coldstart without capacity", func(s *Scenario) { s.Traffic = ColdStart }, true},
		{"warm coldstart", func(s *Scenario) { s.Traffic, s.Warm = ColdStart, true }, false},
		{"coldstart with outage", func(s *Scenario) { s.Traffic, s.OutageUntil = ColdStart, time.Second }, false},
		{"negative capacity", func(s *Scenario) { s.Capacity = -1 }, false},
		{"negative Retry-After", func(s *Scenario) { s.RetryAfter = -1 }, false},
		{"refusal status 500", func(s *Scenario) { s.Capacity, s.RefusalStatus = 4, 500 }, false},
	}
	for _, tt := range tests {
		s := good
		tt.modify(&s)
		if err := s.Validate(); (err == nil) != tt.ok {
			t.Errorf("%s: Validate() = %v, want ok=%v", tt.name, err, tt.ok)
		}
	}
	for _, s := range append(All(), Smoke()...) {
		if err := s.Validate(); err != nil {
			t.Errorf("built-in scenario: %v", err)
		}
	}
}

func TestFillScenarios(t *testing.T) {
	want := map[string]int{"fill-1k": 1000, "fill-10k": 10_000, "fill-100k": 100_000, "fill-1m": 1_000_000}
	for _, s := range All() {
		if s.Family != FillFamily {
			continue
		}
		n, ok := want[s.Name]
		if !ok || s.Tenants != n || s.Traffic != Fill || s.Rounds*s.Tenants < fillInserts || s.Lookups != DefaultLookups {
			t.Errorf("fill scenario %+v", s)
		}
		delete(want, s.Name)
	}
	if len(want) != 0 {
		t.Errorf("All lacks %v", want)
	}
	if _, err := Find(Defaults(), []string{"fill-1m"}); err == nil {
		t.Error("fill-1m is in the default set")
	}
	fills := 0
	for _, s := range Smoke() {
		if s.Family == FillFamily {
			fills++
		}
	}
	if fills != 1 {
		t.Errorf("smoke has %d fill scenarios, want 1", fills)
	}
	if got := shortCount(1_000_000) + shortCount(10_000) + shortCount(1500); got != "1m10k1500" {
		t.Errorf("shortCount: %q", got)
	}
	if got := spaced(1_234_567) + "|" + spaced(999); got != "1 234 567|999" {
		t.Errorf("spaced: %q", got)
	}
}

func TestColdStartScenarios(t *testing.T) {
	var names []string
	for _, s := range Defaults() {
		if s.Family != ColdStartFamily {
			continue
		}
		names = append(names, s.Name)
		if s.Traffic != ColdStart || s.Tenants != 3000 || s.Capacity != 16 || s.IdPLatency != 20*time.Millisecond {
			t.Errorf("cold start %+v", s)
		}
		if got := s.IdealColdStart(); got != 3750*time.Millisecond {
			t.Errorf("%s: ideal %v, want 3.75s (3 000 ÷ 16 × 20 ms)", s.Name, got)
		}
		if r := s.Resolved(); r.Workers != s.Tenants {
			t.Errorf("%s: %d workers, want one per tenant", s.Name, r.Workers)
		}
		if sc := s.Scaled(2); sc.RetryAfter != s.RetryAfter || sc.Duration != 2*s.Duration {
			t.Errorf("%s: Scaled(2) = %+v", s.Name, sc)
		}
	}
	if strings.Join(names, " ") != "coldstart-503 coldstart-429" {
		t.Errorf("default cold starts %v", names)
	}
	for _, s := range Smoke() {
		if s.Family == ColdStartFamily && (s.Tenants > 200 || s.RetryAfter > 50*time.Millisecond || s.Duration > 10*time.Second) {
			t.Errorf("smoke cold start too large: %+v", s)
		}
	}
	if got := (Scenario{IdPLatency: time.Second}).IdealColdStart(); got != time.Second {
		t.Errorf("ideal without capacity %v, want one latency", got)
	}
}

func TestScaled(t *testing.T) {
	s := Scenario{Traffic: Zipf, Requests: 100, Duration: time.Second, Lifetime: 2 * time.Second,
		IdPLatency: time.Millisecond, RevokeAt: 300 * time.Millisecond, OutageFrom: time.Second, OutageUntil: 2 * time.Second}
	got := s.Scaled(2)
	want := Scenario{Traffic: Zipf, Requests: 200, Duration: 2 * time.Second, Lifetime: 4 * time.Second,
		IdPLatency: time.Millisecond, RevokeAt: 600 * time.Millisecond, OutageFrom: 2 * time.Second, OutageUntil: 4 * time.Second}
	if got != want {
		t.Errorf("Scaled(2) = %+v\nwant %+v", got, want)
	}
	if s.Scaled(1) != s || s.Scaled(0) != s {
		t.Error("Scaled(1) or Scaled(0) changed the scenario")
	}
	fill := Scenario{Traffic: Fill, Lookups: 1000, Rounds: 10, Duration: time.Second}
	if got := fill.Scaled(2); got.Lookups != 2000 || got.Rounds != 20 || got.Duration != 2*time.Second {
		t.Errorf("fill Scaled(2) = %+v", got)
	}
	fill.Rounds = 1 // one fill of many tenants: scaling would double a long run
	if got := fill.Scaled(2); got.Rounds != 1 {
		t.Errorf("fill of one round Scaled(2) has %d rounds", got.Rounds)
	}
}

func TestResolved(t *testing.T) {
	if got := (Scenario{}).Resolved().Workers; got != runtime.GOMAXPROCS(0) {
		t.Errorf("Workers 0 resolves to %d, want GOMAXPROCS %d", got, runtime.GOMAXPROCS(0))
	}
	if got := (Scenario{Workers: 7}).Resolved().Workers; got != 7 {
		t.Errorf("Workers 7 resolves to %d", got)
	}
}

func TestFind(t *testing.T) {
	all := Defaults()
	got, err := Find(all, []string{"expiry", "cold-herd"})
	if err != nil || len(got) != 2 || got[0].Name != "expiry" || got[1].Name != "cold-herd" {
		t.Fatalf("Find = %v, %v", got, err)
	}
	if got, _ := Find(all, nil); len(got) != len(all) {
		t.Errorf("Find(nil) returned %d scenarios, want %d", len(got), len(all))
	}
	if _, err := Find(all, []string{"nope"}); err == nil {
		t.Error("unknown scenario accepted")
	}
}

func TestTrackerIdeal(t *testing.T) {
	const life = 100
	tests := []struct {
		name    string
		touches [][3]int64 // epoch, tenant, time
		ideal   uint64
		touched int
	}{
		{"nothing", nil, 0, 0},
		{"one touch", [][3]int64{{0, 0, 5}}, 1, 1},
		{"within a lifetime", [][3]int64{{0, 0, 5}, {0, 0, 104}}, 1, 1},
		{"crosses one lifetime", [][3]int64{{0, 0, 5}, {0, 0, 105}}, 2, 1},
		{"three lifetimes", [][3]int64{{0, 1, 1}, {0, 1, 150}, {0, 1, 250}}, 3, 1},
		{"two tenants", [][3]int64{{0, 0, 1}, {0, 1, 1}}, 2, 2},
		{"revocation adds a token", [][3]int64{{0, 0, 1}, {1, 0, 50}}, 2, 1},
		{"touched only after revocation", [][3]int64{{1, 2, 50}}, 1, 1},
	}
	for _, tt := range tests {
		tr := newTracker(3, 1)
		for _, tc := range tt.touches {
			tr.touch(int(tc[0]), int(tc[1]), tc[2])
		}
		ideal, touched := tr.ideal(life)
		if ideal != tt.ideal || touched != tt.touched {
			t.Errorf("%s: ideal, touched = %d, %d; want %d, %d", tt.name, ideal, touched, tt.ideal, tt.touched)
		}
	}
}

func TestTrackerGranularity(t *testing.T) {
	tr := newTracker(1, 10)
	tr.touch(0, 0, 1)
	tr.touch(0, 0, 5) // within the granularity of the last stored touch
	if got := tr.last[0][0].Load(); got != 1 {
		t.Errorf("last = %d, want 1 (not rewritten within granularity)", got)
	}
	tr.touch(0, 0, 11)
	if got := tr.last[0][0].Load(); got != 11 {
		t.Errorf("last = %d, want 11", got)
	}
}

// TestRunSmallScenarios runs a small version of every default scenario
// against every contender and checks what does not depend on timing.
func TestRunSmallScenarios(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the load tool")
	}
	for _, s := range Smoke() {
		if s.Traffic == Zipf {
			// The herd and the fill are bounded by their request counts
			// (and seconds); cutting their time would make the exact
			// counts below flaky.
			s.Duration = min(s.Duration, 100*time.Millisecond)
		}
		s.Tenants = min(s.Tenants, 200)
		for _, name := range contender.Names() {
			t.Run(s.Name+"/"+strings.ReplaceAll(name, "/", "-"), func(t *testing.T) {
				res, err := Run(context.Background(), s, name, Options{Seed: 1})
				if err != nil {
					t.Fatal(err)
				}
				if res.Requests == 0 || res.Requests != res.OK+res.Unauthorized+res.Forbidden+res.OtherStatus+res.Errors {
					t.Errorf("requests %d do not add up: %+v", res.Requests, res)
				}
				if res.WrongTenant != 0 || res.Forbidden != 0 || res.ExpiredOK != 0 {
					t.Errorf("wrong tenant %d, forbidden %d, expired accepted %d", res.WrongTenant, res.Forbidden, res.ExpiredOK)
				}
				if res.P50 <= 0 || res.P50 > res.P99 || res.P99 > res.P999 || res.P999 > res.Max {
					t.Errorf("percentiles out of order: %d %d %d %d", res.P50, res.P99, res.P999, res.Max)
				}
				if res.IdealTokenRequests == 0 || res.TenantsTouched == 0 || res.TenantsTouched > res.Tenants {
					t.Errorf("ideal %d, touched %d of %d", res.IdealTokenRequests, res.TenantsTouched, res.Tenants)
				}
				if s.Warm && res.TenantsTouched != res.Tenants {
					t.Errorf("warm start touched %d of %d tenants", res.TenantsTouched, res.Tenants)
				}
				switch {
				case s.Traffic == Herd && name != contender.NameNaive:
					if res.TokenRequests != uint64(s.Tenants) || res.PeakTokenRequestsPerTenant != 1 {
						t.Errorf("cold herd: %d token requests (peak %d per tenant) for %d tenants, want one each",
							res.TokenRequests, res.PeakTokenRequestsPerTenant, s.Tenants)
					}
					if res.Requests != uint64(s.Requests) {
						t.Errorf("cold herd sent %d requests, want %d", res.Requests, s.Requests)
					}
				case s.Traffic == Fill:
					checkFill(t, s, res)
				case s.Traffic == ColdStart:
					checkColdStart(t, name, res)
				case s.Name == "steady":
					if res.Errors != 0 || res.Unauthorized != 0 || res.Waited != 0 || res.TokenRequests != uint64(s.Tenants) {
						t.Errorf("steady: errors %d, 401s %d, waited %d, token requests %d (want 0, 0, 0, %d)",
							res.Errors, res.Unauthorized, res.Waited, res.TokenRequests, s.Tenants)
					}
				}
			})
		}
	}
}

// checkFill checks what a fill must always show.
func checkFill(t *testing.T, s Scenario, res Result) {
	t.Helper()
	rounds := max(s.Rounds, 1)
	if res.FillTenants != s.Tenants || res.FillRounds != rounds || res.Requests != uint64(rounds*s.Tenants) || res.OK != res.Requests {
		t.Errorf("fill: %d tenants in %d rounds, %d requests, %d ok; want %d in %d, one ok request each",
			res.FillTenants, res.FillRounds, res.Requests, res.OK, s.Tenants, rounds)
	}
	if res.TokenRequests != res.Requests || res.IdealTokenRequests != res.Requests || res.PeakTokenRequestsPerTenant != 1 {
		t.Errorf("fill: %d token requests (ideal %d, peak %d per tenant) for %d requests",
			res.TokenRequests, res.IdealTokenRequests, res.PeakTokenRequestsPerTenant, res.Requests)
	}
	if res.Lookups != uint64(s.Lookups) || res.LookupFetches != 0 || res.LookupErrors != 0 || !(res.LookupCPUNs >= 0) {
		t.Errorf("lookups: %d (want %d), %d fetched, %d failed, %.1f ns", res.Lookups, s.Lookups,
			res.LookupFetches, res.LookupErrors, res.LookupCPUNs)
	}
	if res.FillSeconds <= 0 || res.Seconds < res.FillSeconds || res.TotalBytesPerTenant != res.BytesPerTenant+standin.TokenSize {
		t.Errorf("fill: %.3f s per fill, %.3f s in all, %.0f B and %.0f B total per tenant",
			res.FillSeconds, res.Seconds, res.BytesPerTenant, res.TotalBytesPerTenant)
	}
	if runtime.GOOS == "linux" && (res.FillCPUSeconds <= 0 || res.FillCPUPerTenant <= 0) {
		t.Errorf("fill: CPU %.6f s, %.0f ns per tenant", res.FillCPUSeconds, res.FillCPUPerTenant)
	}
}

// checkColdStart checks what a cold start must always show: one request
// per tenant, whose failures add up; tenantauth gets every caller its token
// with fewer IdP refusals than tenants; x/oauth2 and naive, which fetch
// once per caller and do not retry, make exactly one token request per
// tenant, and every refusal is a failed call.
func checkColdStart(t *testing.T, name string, res Result) {
	t.Helper()
	if res.Requests != uint64(res.Tenants) || res.Workers != res.Tenants || res.IdealTokenRequests != uint64(res.Tenants) {
		t.Errorf("cold start: %d requests from %d workers, ideal %d, for %d tenants", res.Requests, res.Workers, res.IdealTokenRequests, res.Tenants)
	}
	if res.NoToken != int(res.FailedCalls()) || res.FailedCalls() != res.Errors+res.Unauthorized+res.Forbidden+res.OtherStatus ||
		res.Errors < res.FailedRefused+res.FailedQueue+res.FailedLookups+res.FailedBreaker+res.FailedTimeout {
		t.Errorf("failures do not add up: %+v", res)
	}
	if !(res.IdealSeconds > 0) || res.LastTokenSeconds > res.Seconds || (res.OK > 0) != (res.LastTokenSeconds > 0) {
		t.Errorf("ideal %.3fs, last token %.3fs, ended %.3fs", res.IdealSeconds, res.LastTokenSeconds, res.Seconds)
	}
	if res.Capacity > 0 && res.RefusalStatus != 503 && res.RefusalStatus != 429 {
		t.Errorf("refusal status %d", res.RefusalStatus)
	}
	switch name {
	case contender.NameTenantauth:
		if res.OK != uint64(res.Tenants) || res.NoToken != 0 {
			t.Errorf("tenantauth: %d of %d callers got a token (refused %d, queue %d, lookups %d, breaker %d, timeout %d)",
				res.OK, res.Tenants, res.FailedRefused, res.FailedQueue, res.FailedLookups, res.FailedBreaker, res.FailedTimeout)
		}
		if _, ok := res.AllTokensSeconds(); !ok || res.Refusals >= uint64(res.Tenants) || res.TokenRequests != uint64(res.Tenants)+res.Refusals {
			t.Errorf("tenantauth: %d IdP refusals, %d token requests for %d tenants", res.Refusals, res.TokenRequests, res.Tenants)
		}
	default:
		if res.TokenRequests != uint64(res.Tenants) || res.FailedCalls() != res.Refusals || res.FailedRefused != res.Refusals {
			t.Errorf("%s: %d token requests for %d tenants, %d failed calls (%d refused) for %d IdP refusals",
				name, res.TokenRequests, res.Tenants, res.FailedCalls(), res.FailedRefused, res.Refusals)
		}
	}
}

// TestColdStart: a cold start on an IdP whose capacity is far below the
// tenants. tenantauth's admission limit learns the capacity: every caller
// gets its token, in both refusal dialects. x/oauth2 and the naive map push
// every caller's token request at once: the IdP refuses most, and each
// refusal is a caller without a token. (100 callers would have to arrive
// over 5 s for 2 slots of 100 ms to serve them all; they arrive together.)
func TestColdStart(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the load tool")
	}
	base := Scenario{Family: ColdStartFamily, Tenants: 100, Traffic: ColdStart, Duration: time.Minute,
		Lifetime: time.Hour, Capacity: 2, IdPLatency: 100 * time.Millisecond}
	dialects := []struct {
		status     int
		retryAfter time.Duration
	}{{503, 0}, {429, 20 * time.Millisecond}}
	for _, d := range dialects {
		for _, name := range contender.Names() {
			s := base
			s.Name, s.RefusalStatus, s.RetryAfter = "cold-"+strconv.Itoa(d.status), d.status, d.retryAfter
			if name == contender.NameTenantauth {
				// 100 tokens, 2 at a time: 50 rounds; keep them short.
				s.IdPLatency = 5 * time.Millisecond
			}
			t.Run(s.Name+"/"+strings.ReplaceAll(name, "/", "-"), func(t *testing.T) {
				res, err := Run(context.Background(), s, name, Options{})
				if err != nil {
					t.Fatal(err)
				}
				checkColdStart(t, name, res)
				if name != contender.NameTenantauth && (res.FailedCalls() == 0 || res.NoToken == 0) {
					t.Errorf("%s: no failed call with 100 callers at once on 2 slots", name)
				}
			})
		}
	}
}

// TestColdStartDeadline: callers whose deadline (Duration) passes before
// the IdP answers fail with a timeout, and the run ends.
func TestColdStartDeadline(t *testing.T) {
	s := Scenario{Name: "cold-deadline", Family: ColdStartFamily, Tenants: 20, Traffic: ColdStart,
		Duration: 50 * time.Millisecond, IdPLatency: time.Hour}
	for _, name := range contender.Names() {
		if name == contender.NameOAuth2 {
			continue // x/oauth2's TokenSource has no context: it would wait the hour
		}
		res, err := Run(context.Background(), s, name, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if res.OK != 0 || res.NoToken != s.Tenants || res.FailedTimeout != uint64(s.Tenants) || res.LastTokenSeconds != 0 {
			t.Errorf("%s: %d ok, %d without token, %d timeouts, last token %.3fs; want every caller timed out",
				name, res.OK, res.NoToken, res.FailedTimeout, res.LastTokenSeconds)
		}
		if _, ok := res.AllTokensSeconds(); ok {
			t.Errorf("%s: AllTokensSeconds ok with no token", name)
		}
	}
}

// TestFillDeadline cuts a fill short: the result says how far it got, the
// per-tenant figures divide by that, and the lookups cycle through the
// tenants it reached.
func TestFillDeadline(t *testing.T) {
	s := Scenario{Name: "fill-cut", Family: FillFamily, Tenants: 50_000, Workers: 1, Traffic: Fill,
		Lookups: 5000, Rounds: 3, Duration: 10 * time.Millisecond}
	res, err := Run(context.Background(), s, contender.NameNaive, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.FillTenants == 0 || res.FillTenants >= s.Tenants || res.FillRounds != 1 {
		t.Fatalf("filled %d of %d tenants in %d rounds; want a part, in one round", res.FillTenants, s.Tenants, res.FillRounds)
	}
	if res.Requests != uint64(res.FillTenants) || res.TokenRequests != res.Requests || res.LookupFetches != 0 || res.Lookups == 0 {
		t.Errorf("requests %d, token requests %d, lookups %d (fetched %d) for %d tenants",
			res.Requests, res.TokenRequests, res.Lookups, res.LookupFetches, res.FillTenants)
	}
}

func TestRunRejectsBadInput(t *testing.T) {
	if _, err := Run(context.Background(), Scenario{Name: "bad"}, contender.NameNaive, Options{}); err == nil {
		t.Error("invalid scenario accepted")
	}
	s := Defaults()[1]
	if _, err := Run(context.Background(), s, "nope", Options{}); err == nil {
		t.Error("unknown contender accepted")
	}
}

func TestRunStopsOnCancel(t *testing.T) {
	s := Scenario{Name: "long", Tenants: 5, Workers: 2, Traffic: Zipf, ZipfS: 1.1, Duration: time.Hour}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	done := make(chan error, 1)
	go func() {
		_, err := Run(ctx, s, contender.NameNaive, Options{})
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not stop after its context was cancelled")
	}
}

func TestReportRoundTrip(t *testing.T) {
	rep := &Report{
		Machine:   ThisMachine(),
		Command:   "tokenload -x",
		Scenarios: Defaults()[:2],
		Results: []Result{
			{Scenario: "steady", Family: "steady", Contender: "tenantauth", Tenants: 1000, Requests: 10, RPS: 5, P50: 300, P99: 4000, P999: 90000},
			{Scenario: "steady", Family: "steady", Contender: "x/oauth2", Tenants: 1000, Requests: 7},
		},
	}
	var buf bytes.Buffer
	if err := rep.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	got, err := ReadReport(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Results) != 2 || got.Results[0] != rep.Results[0] || got.Scenarios[1] != rep.Scenarios[1] || got.Machine != rep.Machine {
		t.Errorf("JSON round trip changed the report:\n%+v\n%+v", got, rep)
	}
	if _, err := ReadReport(strings.NewReader("{")); err == nil {
		t.Error("truncated JSON accepted")
	}

	buf.Reset()
	if err := rep.WriteCSV(&buf); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 || len(rows[0]) != len(csvHeader) || len(rows[1]) != len(csvHeader) || rows[2][2] != "x/oauth2" {
		t.Errorf("CSV rows %v", rows)
	}

	buf.Reset()
	if err := rep.WriteTable(&buf); err != nil {
		t.Fatal(err)
	}
	if out := buf.String(); !strings.Contains(out, "tenantauth") || !strings.Contains(out, "4.00µs") || strings.Count(out, "\n") != 3 {
		t.Errorf("table:\n%s", out)
	}

	// Fill results: their fields survive JSON and CSV, and they get a
	// table of their own after the load scenarios'.
	fill := Result{Scenario: "fill-1k", Family: FillFamily, Contender: "naive", Tenants: 1000, FillTenants: 1000,
		FillRounds: 100, FillSeconds: 0.002, FillCPUSeconds: 0.003, FillCPUPerTenant: 3210, BytesPerTenant: 132,
		TotalBytesPerTenant: 196, Lookups: 2_000_000, LookupSeconds: 0.1, LookupCPUNs: 23.45}
	rep.Results = append(rep.Results, fill)
	buf.Reset()
	if err := rep.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	if js := buf.String(); !strings.Contains(js, `"fill_cpu_ns_per_tenant": 3210`) || !strings.Contains(js, `"lookup_cpu_ns": 23.45`) ||
		strings.Count(js, "bytes_per_tenant") != 2 {
		t.Errorf("fill fields missing from the JSON (or written for load results):\n%s", js)
	}
	if got, err := ReadReport(&buf); err != nil || got.Results[2] != fill {
		t.Errorf("fill result after a JSON round trip: %+v, %v", got.Results[2], err)
	}
	buf.Reset()
	if err := rep.WriteTable(&buf); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if !strings.Contains(out, "\n\n") || !strings.Contains(out, "CPU/tenant") || !strings.Contains(out, "3.21µs") ||
		!strings.Contains(out, "23.4ns") || strings.Count(out, "\n") != 6 {
		t.Errorf("table with a fill:\n%s", out)
	}
	rep.Results = rep.Results[2:] // fills only: one table
	buf.Reset()
	if err := rep.WriteTable(&buf); err != nil {
		t.Fatal(err)
	}
	if out := buf.String(); strings.Contains(out, "req/s") || strings.Count(out, "\n") != 2 {
		t.Errorf("fill-only table:\n%s", out)
	}
}

func TestFormatting(t *testing.T) {
	tests := []struct{ got, want string }{
		{Nanos(0), "0ns"},
		{Nanos(999), "999ns"},
		{Nanos(1000), "1.00µs"},
		{Nanos(12_345), "12.3µs"},
		{Nanos(2_050_000), "2.05ms"},
		{Nanos(1_200_000_000), "1.20s"},
		{Count(950), "950"},
		{Count(12_345), "12.3k"},
		{Count(1_450_000), "1.45M"},
		{Bytes(512), "512B"},
		{Bytes(3 << 10), "3.00KiB"},
		{Bytes(12 << 20), "12.0MiB"},
		{Bytes(2 << 30), "2.00GiB"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}

func TestCPUModel(t *testing.T) {
	if got := cpuModel("/nonexistent"); got != "" {
		t.Errorf("cpuModel of a missing file = %q", got)
	}
}

func TestRunLeavesNoGoroutines(t *testing.T) {
	outage, err := Find(Smoke(), []string{"idp-outage"}) // timers, a breaker, refresh flights
	if err != nil {
		t.Fatal(err)
	}
	before := runtime.NumGoroutine()
	for _, name := range contender.Names() {
		s := outage[0]
		s.Duration = 80 * time.Millisecond
		if _, err := Run(context.Background(), s, name, Options{}); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines before, %d after:\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(5 * time.Millisecond)
	}
}

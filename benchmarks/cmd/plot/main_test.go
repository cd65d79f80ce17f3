package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/tenantauth/tenantauth/benchmarks/internal/load"
)

func sampleReport() *load.Report {
	rep := &load.Report{Machine: load.Machine{NumCPU: 2, GoVersion: "go1.26", CPUModel: "Test CPU"}}
	for i, c := range []string{"tenantauth", "x/oauth2", "naive"} {
		f := float64(i + 1)
		for _, n := range []int{1000, 10_000, 100_000} {
			name := "steady"
			if n != 1000 {
				name = "tenants-" + itoa(n/1000) + "k"
			}
			rep.Results = append(rep.Results, load.Result{Scenario: name, Family: "steady", Contender: c, Tenants: n,
				Requests: 1000, RPS: 1e6 / f, TokenRequests: uint64(n), IdealTokenRequests: uint64(n),
				P50: int64(300 * f), P99: int64(5000 * f), P999: int64(100000 * f)})
		}
		rep.Results = append(rep.Results, load.Result{Scenario: "cold-herd", Contender: c, Tenants: 1000, Requests: 10000,
			TokenRequests: uint64(1000 * f * f), IdealTokenRequests: 1000, P50: 2e6, P99: 3e6, P999: 4e6})
	}
	rep.Results = append(rep.Results, fillResults()...)
	rep.Results = append(rep.Results, coldStartResults()...)
	rep.Scenarios = append(rep.Scenarios, load.Scenario{Name: "coldstart-503", Tenants: 3000, Capacity: 16, IdPLatency: 20e6})
	return rep
}

// coldStartResults are two cold starts of three contenders: tenantauth
// gets every tenant a token, x/oauth2 and naive leave most without one.
func coldStartResults() []load.Result {
	var out []load.Result
	for _, s := range []string{"coldstart-503", "coldstart-429"} {
		out = append(out,
			load.Result{Scenario: s, Family: load.ColdStartFamily, Contender: "tenantauth", Tenants: 3000, Requests: 3000, OK: 3000,
				TokenRequests: 3005, Refusals: 5, LastTokenSeconds: 4.1, Seconds: 4.1, IdealSeconds: 3.75, Capacity: 16,
				P50: 2e9, P99: 4e9, P999: 4e9},
			load.Result{Scenario: s, Family: load.ColdStartFamily, Contender: "x/oauth2", Tenants: 3000, Requests: 3000, OK: 16,
				Errors: 2984, FailedRefused: 2984, NoToken: 2984, TokenRequests: 3000, Refusals: 2984, LastTokenSeconds: 0.02,
				Seconds: 0.03, IdealSeconds: 3.75, Capacity: 16, P50: 500, P99: 2e7, P999: 2e7},
			load.Result{Scenario: s, Family: load.ColdStartFamily, Contender: "naive", Tenants: 3000, Requests: 3000, OK: 16,
				Errors: 2984, FailedRefused: 2984, NoToken: 2984, TokenRequests: 3000, Refusals: 2984, LastTokenSeconds: 0.02,
				Seconds: 0.03, IdealSeconds: 3.75, Capacity: 16, P50: 500, P99: 2e7, P999: 2e7})
	}
	return out
}

// fillResults are the fill family's results of three contenders.
func fillResults() []load.Result {
	var out []load.Result
	for i, c := range []string{"tenantauth", "x/oauth2", "naive"} {
		f := float64(i + 1)
		for _, n := range []int{1000, 10_000, 100_000, 1_000_000} {
			out = append(out, load.Result{Scenario: "fill-" + itoa(n), Family: load.FillFamily, Contender: c, Tenants: n,
				FillTenants: n, FillRounds: 1, Requests: uint64(n), TokenRequests: uint64(n), IdealTokenRequests: uint64(n),
				FillCPUPerTenant: 2000 * f, BytesPerTenant: 100 * f, LookupCPUNs: 30 * f, P50: 1000, P99: 2000, P999: 3000})
		}
	}
	return out
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestRender(t *testing.T) {
	formats := []string{"svg", "png"}
	if raceEnabled {
		// Rasterising fonts under the race detector takes seconds, and the
		// PNG path differs from SVG only inside gonum.
		formats = formats[:1]
	}
	for _, format := range formats {
		dir := t.TempDir()
		files, err := render(sampleReport(), dir, format)
		if err != nil {
			t.Fatalf("%s: %v", format, err)
		}
		if len(files) != 5 {
			t.Fatalf("%s: wrote %v, want 5 charts", format, files)
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			magic := map[string]string{"svg": "<?xml", "png": "\x89PNG"}[format]
			if !bytes.HasPrefix(b, []byte(magic)) || len(b) < 1000 {
				t.Errorf("%s: %d bytes starting %q", f, len(b), b[:min(len(b), 8)])
			}
		}
	}
}

func TestRenderSkipsMissingFamily(t *testing.T) {
	rep := sampleReport()
	var kept []load.Result
	for _, r := range rep.Results {
		if r.Family == "" {
			kept = append(kept, r)
		}
	}
	rep.Results = kept
	files, err := render(rep, t.TempDir(), "svg")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 2 || strings.Contains(strings.Join(files, " "), "throughput") {
		t.Errorf("files %v: want the two per-scenario charts only", files)
	}
}

// TestRenderFill renders a report of fill results only: the fill chart,
// with both panels, and none of the load scenarios' charts (which leave the
// fill scenarios out).
func TestRenderFill(t *testing.T) {
	rep := &load.Report{Machine: load.Machine{NumCPU: 2, GoVersion: "go1.26"}, Results: fillResults()}
	dir := t.TempDir()
	files, err := render(rep, dir, "svg")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 1 || filepath.Base(files[0]) != "fill-vs-tenants.svg" {
		t.Fatalf("wrote %v, want fill-vs-tenants.svg only", files)
	}
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<?xml", "bytes per tenant", "CPU ns per tenant", "tenantauth", "x/oauth2", "naive"} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("chart lacks %q", want)
		}
	}

	// Without CPU figures (no getrusage) only the memory panel is left;
	// without either, no chart.
	for i := range rep.Results {
		rep.Results[i].FillCPUPerTenant = 0
	}
	if ch, err := fillChart(rep); err != nil || len(ch.plots) != 1 {
		t.Errorf("fill chart without CPU figures: %d panels, err %v; want 1", len(ch.plots), err)
	}
	for i := range rep.Results {
		rep.Results[i].BytesPerTenant = 0
	}
	if _, err := fillChart(rep); err != errNoData {
		t.Errorf("fill chart without figures: err = %v, want errNoData", err)
	}
}

// TestRenderColdStart renders a report of cold-start results only: the
// cold-start chart with its three panels, labelled, and none of the
// per-scenario charts (which leave the cold starts out).
func TestRenderColdStart(t *testing.T) {
	rep := &load.Report{Machine: load.Machine{NumCPU: 2, GoVersion: "go1.26"}, Results: coldStartResults(),
		Scenarios: []load.Scenario{{Name: "coldstart-503", Tenants: 3000, Capacity: 16, IdPLatency: 20e6}}}
	files, err := render(rep, t.TempDir(), "svg")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 1 || filepath.Base(files[0]) != "coldstart.svg" {
		t.Fatalf("wrote %v, want coldstart.svg only", files)
	}
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"3 000 tenants at once", "16 token requests at a time (20ms each)", "failed calls", "IdP refusals",
		"2 984", "4.10 s", "never", "ideal", "= 3.75 s", "faint", "coldstart-503", "coldstart-429", "tenantauth", "x/oauth2", "naive"} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("chart lacks %q", want)
		}
	}
	if ch, err := coldStartChart(rep); err != nil || len(ch.plots) != 3 {
		t.Errorf("cold-start chart: %d panels, err %v; want 3", len(ch.plots), err)
	}
	// Without the scenarios, a generic title; without cold starts, no chart.
	rep.Scenarios = nil
	if got := coldStartTitle(rep, coldStarts(rep)); got != "Cold start on one shared IdP" {
		t.Errorf("title without scenarios: %q", got)
	}
	if _, err := coldStartChart(&load.Report{Results: fillResults()}); err != errNoData {
		t.Errorf("cold-start chart of fills: err = %v, want errNoData", err)
	}
	// The per-scenario charts leave the cold starts out.
	if got := scenarios(sampleReport()); strings.Contains(strings.Join(got, " "), "coldstart") {
		t.Errorf("per-scenario charts include cold starts: %v", got)
	}
}

func TestRunArguments(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "r.json")
	f, err := os.Create(in)
	if err != nil {
		t.Fatal(err)
	}
	if err := sampleReport().WriteJSON(f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	var out, errOut bytes.Buffer
	if err := run([]string{"-in", in, "-out", filepath.Join(dir, "charts")}, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	if strings.Count(out.String(), ".svg") != 5 {
		t.Errorf("stdout %q", out.String())
	}
	empty := filepath.Join(dir, "empty.json")
	if err := os.WriteFile(empty, []byte(`{"results":[]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"-in", filepath.Join(dir, "missing.json")},
		{"-in", empty, "-out", dir},
		{"-in", in, "-format", "gif"},
	} {
		if err := run(args, &out, &errOut); err == nil {
			t.Errorf("run(%q) succeeded", args)
		}
	}
}

func TestTicks125(t *testing.T) {
	var labels []string
	for _, tk := range (ticks125{}).Ticks(0.8, 60) {
		if tk.Label != "" {
			labels = append(labels, tk.Label)
		}
	}
	if got := strings.Join(labels, " "); got != "1 2 5 10 20 50" {
		t.Errorf("labels %q", got)
	}
	if (ticks125{}).Ticks(0, 10) != nil || (ticks125{}).Ticks(5, 5) != nil {
		t.Error("degenerate ranges should give no ticks")
	}
}

// raceEnabled is set by race_test.go under -race.
var raceEnabled bool

package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tenantauth/tenantauth/benchmarks/internal/load"
)

func TestList(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"-list"}, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	for _, s := range load.All() {
		if !strings.Contains(out.String(), s.Name) {
			t.Errorf("-list does not mention %s:\n%s", s.Name, out.String())
		}
	}
	if !strings.Contains(out.String(), "fill-1m") || strings.Count(out.String(), "not in the default set") != 1 {
		t.Errorf("-list should mark fill-1m, and only it, as left out of the default set:\n%s", out.String())
	}
}

func TestRunFill(t *testing.T) {
	dir := t.TempDir()
	var out, errOut bytes.Buffer
	args := []string{"-scenarios", "fill-1k", "-tenants", "40", "-lookups", "500", "-out", dir}
	if err := run(context.Background(), args, &out, &errOut); err != nil {
		t.Fatalf("%v\n%s", err, errOut.String())
	}
	for _, want := range []string{"CPU/tenant", "B/tenant", "lookup CPU", "fill CPU ×", "tenantauth", "x/oauth2", "naive"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "req/s") {
		t.Errorf("a fill-only run printed the load table:\n%s", out.String())
	}
	f, err := os.Open(filepath.Join(dir, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rep, err := load.ReadReport(f)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Results) != 3 {
		t.Fatalf("%d results, want 3", len(rep.Results))
	}
	for _, r := range rep.Results {
		if errs := checkFill(r.Contender, r); len(errs) != 0 || r.Lookups != 500 || r.FillRounds != 100 {
			t.Errorf("%s: %v; %d lookups, %d rounds", r.Contender, errs, r.Lookups, r.FillRounds)
		}
	}
}

func TestRunWritesReport(t *testing.T) {
	dir := t.TempDir()
	var out, errOut bytes.Buffer
	args := []string{"-scenarios", "steady,cold-herd", "-duration", "40ms", "-tenants", "6", "-workers", "3",
		"-latency", "100us", "-out", dir}
	if err := run(context.Background(), args, &out, &errOut); err != nil {
		t.Fatalf("%v\n%s", err, errOut.String())
	}
	for _, want := range []string{"tenantauth", "x/oauth2", "naive", "steady", "cold-herd", "relative to x/oauth2"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if !strings.Contains(errOut.String(), "done:") {
		t.Errorf("no progress on stderr: %q", errOut.String())
	}
	f, err := os.Open(filepath.Join(dir, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rep, err := load.ReadReport(f)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Results) != 6 || rep.Results[0].Tenants != 6 || rep.Machine.NumCPU == 0 {
		t.Errorf("report: %d results, first %+v, machine %+v", len(rep.Results), rep.Results[0], rep.Machine)
	}
	csv, err := os.ReadFile(filepath.Join(dir, "results.csv"))
	if err != nil || strings.Count(string(csv), "\n") != 7 {
		t.Errorf("results.csv: %v\n%s", err, csv)
	}
}

func TestRunWritesSingleFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "r.csv")
	var out, errOut bytes.Buffer
	args := []string{"-q", "-scenarios", "steady", "-contenders", "naive", "-duration", "20ms", "-tenants", "3", "-workers", "1", "-out", path}
	if err := run(context.Background(), args, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	if errOut.Len() != 0 {
		t.Errorf("-q still wrote %q", errOut.String())
	}
	if b, err := os.ReadFile(path); err != nil || !strings.HasPrefix(string(b), "scenario,") {
		t.Errorf("%s: %v %q", path, err, b)
	}
}

// TestRunMerge: -merge puts a rerun's results into the report at -out,
// replacing those of the same scenario and contender and keeping the
// others; the cold-start table and ratio line are printed.
func TestRunMerge(t *testing.T) {
	dir := t.TempDir()
	runArgs := func(args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		if err := run(context.Background(), append([]string{"-q", "-out", dir}, args...), &out, &errOut); err != nil {
			t.Fatalf("%q: %v\n%s", args, err, errOut.String())
		}
		return out.String()
	}
	readReport := func() *load.Report {
		t.Helper()
		f, err := os.Open(filepath.Join(dir, "results.json"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		rep, err := load.ReadReport(f)
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}
	runArgs("-scenarios", "steady", "-duration", "20ms", "-tenants", "4", "-workers", "1")
	cold := []string{"-merge", "-scenarios", "coldstart-503", "-tenants", "40", "-latency", "1ms"}
	out := runArgs(cold...)
	for _, want := range []string{"cold start", "IdP refusals", "all tokens", "coldstart-503", "failed calls", "every tenant a token"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "steady") {
		t.Errorf("the merged run printed the earlier results:\n%s", out)
	}
	rep := readReport()
	if len(rep.Results) != 6 || len(rep.Scenarios) != 2 || len(rep.Merged) != 1 || !strings.Contains(rep.Merged[0].Command, "coldstart-503") {
		t.Fatalf("after one merge: %d results, %d scenarios, merged %+v", len(rep.Results), len(rep.Scenarios), rep.Merged)
	}
	first := rep.Results[3]
	runArgs(cold...)
	rep = readReport()
	if len(rep.Results) != 6 || len(rep.Scenarios) != 2 || len(rep.Merged) != 2 || rep.Results[0].Scenario != "steady" {
		t.Fatalf("after a second merge: %d results, %d scenarios, %d merges", len(rep.Results), len(rep.Scenarios), len(rep.Merged))
	}
	if rep.Results[3] == first && first.Seconds != 0 {
		t.Error("the second merge did not replace the cold-start results")
	}
	for _, r := range rep.Results[3:] {
		if r.Scenario != "coldstart-503" || r.Tenants != 40 {
			t.Errorf("merged result %s/%s with %d tenants", r.Scenario, r.Contender, r.Tenants)
		}
	}
	csv, err := os.ReadFile(filepath.Join(dir, "results.csv"))
	if err != nil || strings.Count(string(csv), "\n") != 7 {
		t.Errorf("results.csv after merging: %v\n%s", err, csv)
	}

	// Merging into nothing writes the run's report as it is; a report of
	// another machine is not merged.
	fresh := filepath.Join(t.TempDir(), "r.json")
	var o, e bytes.Buffer
	if err := run(context.Background(), []string{"-q", "-merge", "-out", fresh, "-scenarios", "steady", "-contenders", "naive",
		"-duration", "10ms", "-tenants", "2", "-workers", "1"}, &o, &e); err != nil {
		t.Fatal(err)
	}
	rep = readReportFile(t, fresh)
	if len(rep.Results) != 1 || len(rep.Merged) != 0 {
		t.Errorf("merge into nothing: %d results, merged %+v", len(rep.Results), rep.Merged)
	}
	rep.Machine.NumCPU++
	f, err := os.Create(fresh)
	if err != nil {
		t.Fatal(err)
	}
	if err := rep.WriteJSON(f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := run(context.Background(), []string{"-q", "-merge", "-out", fresh, "-scenarios", "steady", "-contenders", "naive",
		"-duration", "10ms", "-tenants", "2", "-workers", "1"}, &o, &e); err == nil || !strings.Contains(err.Error(), "another machine") {
		t.Errorf("merge into another machine's report: err = %v", err)
	}
}

func readReportFile(t *testing.T, path string) *load.Report {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rep, err := load.ReadReport(f)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func TestRunRejectsBadArguments(t *testing.T) {
	tests := [][]string{
		{"-scenarios", "nope"},
		{"-contenders", "nope", "-scenarios", "steady"},
		{"-zipf", "0.5", "-scenarios", "steady"},
		{"-workers", "x"},
		{"-duration", "0s", "-scenarios", "steady"},
		{"-merge", "-scenarios", "steady"},
		{"-merge", "-out", "r.csv", "-scenarios", "steady"},
		{"extra"},
	}
	for _, args := range tests {
		var out, errOut bytes.Buffer
		if err := run(context.Background(), args, &out, &errOut); err == nil {
			t.Errorf("run(%q) succeeded", args)
		}
	}
}

func TestCheckSmoke(t *testing.T) {
	ok := load.Result{Scenario: "steady", Contender: "tenantauth", Tenants: 5, Requests: 10, OK: 10, TokenRequests: 5}
	herd := load.Result{Scenario: "cold-herd", Contender: "tenantauth", Tenants: 5, Requests: 50, OK: 50, TokenRequests: 5}
	naiveHerd := herd
	naiveHerd.Contender, naiveHerd.TokenRequests = "naive", 40
	fill := load.Result{Scenario: "fill-1k", Family: load.FillFamily, Contender: "naive", Tenants: 5, FillTenants: 5,
		FillRounds: 2, Requests: 10, OK: 10, TokenRequests: 10, IdealTokenRequests: 10, Lookups: 100}
	cold := load.Result{Scenario: "coldstart-503", Family: load.ColdStartFamily, Contender: "tenantauth", Tenants: 5,
		Requests: 5, OK: 5, TokenRequests: 7, Refusals: 2}
	oauth2Cold := load.Result{Scenario: "coldstart-503", Family: load.ColdStartFamily, Contender: "x/oauth2", Tenants: 5,
		Requests: 5, OK: 3, Errors: 2, FailedRefused: 2, NoToken: 2, TokenRequests: 5, Refusals: 2}
	tests := []struct {
		name   string
		modify func(*load.Result)
		base   load.Result
		ok     bool
	}{
		{"clean cold start", func(*load.Result) {}, cold, true},
		{"cold start: a caller without token", func(r *load.Result) { r.OK, r.Errors, r.NoToken = 4, 1, 1 }, cold, false},
		{"cold start: refusals ≥ tenants", func(r *load.Result) { r.Refusals, r.TokenRequests = 5, 10 }, cold, false},
		{"cold start: a request missing", func(r *load.Result) { r.Requests, r.OK = 4, 4 }, cold, false},
		{"x/oauth2 cold start fails calls", func(*load.Result) {}, oauth2Cold, true},
		{"x/oauth2 cold start: failures without refusals", func(r *load.Result) { r.Refusals = 1 }, oauth2Cold, false},
		{"x/oauth2 cold start: two token requests for a tenant", func(r *load.Result) { r.TokenRequests = 6 }, oauth2Cold, false},
		{"clean", func(*load.Result) {}, ok, true},
		{"clean herd", func(*load.Result) {}, herd, true},
		{"naive herd may over-fetch", func(*load.Result) {}, naiveHerd, true},
		{"wrong tenant", func(r *load.Result) { r.WrongTenant = 1 }, ok, false},
		{"expired accepted", func(r *load.Result) { r.ExpiredOK = 1 }, ok, false},
		{"no requests", func(r *load.Result) { r.Requests = 0 }, ok, false},
		{"herd over-fetch", func(r *load.Result) { r.TokenRequests = 6 }, herd, false},
		{"steady errors", func(r *load.Result) { r.Errors = 1 }, ok, false},
		{"clean fill", func(*load.Result) {}, fill, true},
		{"fill cut short", func(r *load.Result) { r.FillTenants = 4 }, fill, false},
		{"fill over-fetch", func(r *load.Result) { r.TokenRequests = 11 }, fill, false},
		{"fill error", func(r *load.Result) { r.OK, r.Errors = 9, 1 }, fill, false},
		{"fill lookup fetched", func(r *load.Result) { r.LookupFetches = 1 }, fill, false},
		{"fill without lookups", func(r *load.Result) { r.Lookups = 0 }, fill, false},
	}
	for _, tt := range tests {
		r := tt.base
		tt.modify(&r)
		err := checkSmoke(&load.Report{Results: []load.Result{r}})
		if (err == nil) != tt.ok {
			t.Errorf("%s: checkSmoke = %v, want ok=%v", tt.name, err, tt.ok)
		}
	}
}

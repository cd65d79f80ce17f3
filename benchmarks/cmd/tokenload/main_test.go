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

func TestRunRejectsBadArguments(t *testing.T) {
	tests := [][]string{
		{"-scenarios", "nope"},
		{"-contenders", "nope", "-scenarios", "steady"},
		{"-zipf", "0.5", "-scenarios", "steady"},
		{"-workers", "x"},
		{"-duration", "0s", "-scenarios", "steady"},
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
	tests := []struct {
		name   string
		modify func(*load.Result)
		base   load.Result
		ok     bool
	}{
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

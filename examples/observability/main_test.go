package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRun runs the demo as `go run .` does, with its phases shortened, and
// checks the summary it prints (run itself checks the figures), the spans
// it wrote and the samples.
func TestRun(t *testing.T) {
	dir := t.TempDir()
	o := options{traces: filepath.Join(dir, "traces.jsonl"), samples: filepath.Join(dir, "samples.csv"),
		addr: "127.0.0.1:0", scale: 0.6, every: 250 * time.Millisecond}
	// More than timeLimit: the race detector slows everything down.
	ctx, cancel := context.WithTimeout(context.Background(), 3*timeLimit)
	defer cancel()
	var out bytes.Buffer
	start := time.Now()
	s, err := run(ctx, &out, o)
	if err != nil {
		t.Fatalf("run: %v\noutput:\n%s", err, out.String())
	}
	t.Logf("in %v:\n%s", time.Since(start).Round(time.Millisecond), out.String())

	for _, want := range []string{
		"token fetches by outcome", "refused 1", "breaker keycloak", "breaker passport",
		"401 recoveries", "spans written to " + o.traces,
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}

	// Every line of the traces file is a span; the fetch spans are there,
	// and no secret of the demo's tenants is.
	f, err := os.Open(o.traces)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	lines, fetches := 0, 0
	for sc.Scan() {
		lines++
		line := sc.Text()
		if strings.Contains(line, `"Name":"tenantauth.fetch"`) {
			fetches++
		}
		for _, secret := range []string{"-secret", "-password"} {
			if strings.Contains(line, secret) {
				t.Fatalf("a span holds a secret (%q): %.300s", secret, line)
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if lines != s.spans || fetches == 0 {
		t.Errorf("%d lines (summary: %d spans), %d fetch spans", lines, s.spans, fetches)
	}

	// The samples have the phases and the series the dashboard plots.
	cf, err := os.Open(o.samples)
	if err != nil {
		t.Fatal(err)
	}
	defer cf.Close()
	rows, err := csv.NewReader(cf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, r := range rows[1:] {
		seen[r[1]] = true
		if r[1] == "phase" {
			seen[r[2]] = true
		}
	}
	for _, want := range []string{"phase", `{name="outage"}`, `{name="end"}`, mFetches, mBreakerState, mHits,
		"tenantauth_token_fetch_duration_seconds_bucket", "tenantauth_admission_in_flight"} {
		if !seen[want] {
			t.Errorf("samples lack %s", want)
		}
	}
}

// TestLoopbackOnly: /metrics is served on loopback only.
func TestLoopbackOnly(t *testing.T) {
	if _, err := run(context.Background(), &bytes.Buffer{}, options{addr: "0.0.0.0:0", scale: 0.1}); err == nil {
		t.Fatal("run listened on every interface")
	}
}

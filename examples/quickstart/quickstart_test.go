package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestRun runs the demo exactly as `go run ./examples/quickstart` does, so
// that it cannot rot, and checks its promises and the report's shape.
func TestRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), timeLimit)
	defer cancel()
	var out bytes.Buffer
	if err := run(ctx, &out); err != nil {
		t.Fatalf("run: %v\noutput:\n%s", err, out.String())
	}
	report := out.String()
	t.Logf("\n%s", report)
	for _, want := range []string{
		"fluencypass-acme", "hubsoft-alpha", "hubsoft-beta",
		fmt.Sprintf("%d calls, %d succeeded", 3*callsPerTenant, 3*callsPerTenant),
		"4 token requests in all",
		"\nOK\n",
	} {
		if !strings.Contains(report, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if n := strings.Count(report, "\n"); n > 25 {
		t.Errorf("report has %d lines; want at most 25", n)
	}
	if strings.Contains(report, "secret") || strings.Contains(report, "password\t") {
		t.Errorf("report mentions a secret")
	}
}

// TestRunCancelled: a run whose context ends early stops promptly and
// reports failure instead of hanging or claiming success.
func TestRunCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out bytes.Buffer
	if err := run(ctx, &out); err == nil {
		t.Fatalf("run with a cancelled context succeeded:\n%s", out.String())
	}
}

// TestMain checks that run leaves no goroutine of its servers, clients or
// Manager behind.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if err := checkNoLeaks(5 * time.Second); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	os.Exit(code)
}

func checkNoLeaks(within time.Duration) error {
	if tr, ok := http.DefaultTransport.(*http.Transport); ok {
		tr.CloseIdleConnections()
	}
	deadline := time.Now().Add(within)
	for {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		var leaked []string
		for _, g := range strings.Split(string(buf), "\n\n") {
			if strings.Contains(g, "checkNoLeaks") {
				continue
			}
			if strings.Contains(g, "net/http.") || strings.Contains(g, "tenantauth") {
				leaked = append(leaked, g)
			}
		}
		if len(leaked) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("goroutine leak: %d left:\n\n%s", len(leaked), strings.Join(leaked, "\n\n"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tenantauth/tenantauth/shared/redis/redistest"
)

// needRedis skips the test without redis-server, or fails it under CI and
// TENANTAUTH_REQUIRE_ALL, as the shared/redis tests do.
func needRedis(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		msg := "redis-server not found in PATH (install it: " + redistest.InstallHint + ")"
		if redistest.Required() {
			t.Fatalf("%s; CI or TENANTAUTH_REQUIRE_ALL is set, so this is a failure", msg)
		}
		t.Skip(msg)
	}
}

// TestRun runs the demo exactly as `go run .` does, so that it cannot rot,
// and checks the figures it prints.
func TestRun(t *testing.T) {
	needRedis(t)
	// The figures, not the speed: under the race detector every call is
	// many times slower, and a second's budget may run out. 10 s is
	// reached only by a store that does not answer.
	defer func(b time.Duration) { budget = b }(budget)
	budget = 10 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), timeLimit)
	defer cancel()
	var out bytes.Buffer
	start := time.Now()
	if err := run(ctx, &out); err != nil {
		t.Fatalf("run: %v\noutput:\n%s", err, out.String())
	}
	report := out.String()
	t.Logf("in %v:\n%s", time.Since(start).Round(time.Millisecond), report)

	for _, c := range []struct {
		phase             string
		requests, perMost int
	}{
		{"without the shared cache", replicas * tenants, replicas},
		{"with the shared cache (Redis)", tenants, 1},
	} {
		m := regexp.MustCompile(regexp.QuoteMeta(c.phase) + `\s+(\d+)\s+(\d+)\s+\S+\n`).FindStringSubmatch(report)
		if m == nil {
			t.Errorf("no line for %q", c.phase)
			continue
		}
		requests, _ := strconv.Atoi(m[1])
		most, _ := strconv.Atoi(m[2])
		if requests != c.requests || most != c.perMost {
			t.Errorf("%s: %d token requests, at most %d for one tenant; want %d and %d", c.phase, requests, most, c.requests, c.perMost)
		}
	}
	if !regexp.MustCompile(`no replica of 5 sent the revoked token \S+ after the 401; 1 new token request for the cluster`).MatchString(report) {
		t.Errorf("the revocation line is missing or says otherwise")
	}
	if !strings.HasSuffix(report, "\nOK\n") {
		t.Errorf("report does not end with OK")
	}
	for _, secret := range []string{"-client-secret", "-password", string(sealingKey)} {
		if strings.Contains(report, secret) {
			t.Errorf("report shows a secret (%q)", secret)
		}
	}
}

// TestRunCancelled: a run whose context ends early stops promptly and
// reports failure instead of hanging or claiming success.
func TestRunCancelled(t *testing.T) {
	needRedis(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out bytes.Buffer
	if err := run(ctx, &out); err == nil {
		t.Fatalf("run with a cancelled context succeeded:\n%s", out.String())
	}
}

// TestNoRedis: without redis-server in PATH, run says how to install it.
func TestNoRedis(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	err := run(context.Background(), new(bytes.Buffer))
	if !errors.Is(err, errNoRedis) || !strings.Contains(err.Error(), "apt-get install redis-server") {
		t.Fatalf("run without redis-server: %v", err)
	}
}

// TestMain checks that run leaves nothing behind: no goroutine of its
// servers, clients, Managers or Stores, and no redis-server.
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
			if strings.Contains(g, "net/http.") || strings.Contains(g, "tenantauth") ||
				strings.Contains(g, "rueidis") || strings.Contains(g, "os/exec.") {
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

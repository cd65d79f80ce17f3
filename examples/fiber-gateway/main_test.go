package main

import (
	"bytes"
	"context"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestRun(t *testing.T) {
	before := goroutines()
	var out bytes.Buffer
	if err := run(context.Background(), &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	t.Log("\n" + out.String())
	for _, want := range []string{
		`GET /api/students X-Tenant-ID="fluencypass" -> 200`,
		`client_id="gateway"`,
		`-> 200 (API /api/clientes called by client_id="3" username="ops@acme.example")`,
		`X-Tenant-ID="" -> 400 {"error":"missing tenant"}`,
		`X-Tenant-ID="nobody" -> 403 {"error":"unknown tenant"}`,
		"Passport: 2 token request(s)",
		"\nok\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}
	checkNoLeak(t, before)
}

func TestRunStopsWithContext(t *testing.T) {
	before := goroutines()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out bytes.Buffer
	if err := run(ctx, &out); err == nil {
		t.Fatalf("run with a cancelled context succeeded:\n%s", out.String())
	}
	checkNoLeak(t, before)
}

// processWide are goroutines fasthttp starts once per process and never
// stops (its server date clock and its default dialer's DNS cache cleaner):
// not the demo's to end.
var processWide = []string{"fasthttp.updateServerDate", "fasthttp.(*TCPDialer).tcpAddrsClean"}

// goroutines returns the stacks of the running goroutines by their header
// line ("goroutine 7 [running]:" without the state), leaving out
// process-wide ones.
func goroutines() map[string]string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	gs := map[string]string{}
next:
	for _, g := range strings.Split(string(buf), "\n\n") {
		for _, p := range processWide {
			if strings.Contains(g, p) {
				continue next
			}
		}
		id, _, _ := strings.Cut(g, " [")
		gs[id] = g
	}
	return gs
}

// checkNoLeak fails t if goroutines that were not running before are still
// running once the demo returned. Connection cleaners end on their own
// within a few seconds; the check polls for a bounded time, it asserts no
// timing.
func checkNoLeak(t *testing.T, before map[string]string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var leaked []string
		for id, g := range goroutines() {
			if _, ok := before[id]; !ok && !strings.Contains(g, "checkNoLeak") {
				leaked = append(leaked, g)
			}
		}
		if len(leaked) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutine(s) left running:\n%s", len(leaked), strings.Join(leaked, "\n\n"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

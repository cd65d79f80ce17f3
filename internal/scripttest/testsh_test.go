package scripttest

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// hidden are the commands a "machine without Node" lacks.
var hidden = map[string]bool{"node": true, "npm": true, "npx": true, "corepack": true}

// noNodePath returns a PATH with every command of the current PATH except
// node and npm: a directory of symlinks, first occurrence wins, as in a
// PATH lookup. go (which go test puts first in PATH), bash and coreutils
// stay reachable.
func noNodePath(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		t.Fatalf("go not in PATH: %v", err)
	}
	dir := t.TempDir()
	for _, d := range filepath.SplitList(os.Getenv("PATH")) {
		if d == "" {
			continue
		}
		entries, err := os.ReadDir(d)
		if err != nil {
			continue
		}
		for _, e := range entries {
			name := e.Name()
			if hidden[name] || e.IsDir() {
				continue
			}
			if _, err := os.Lstat(filepath.Join(dir, name)); err == nil {
				continue // an earlier PATH entry has it
			}
			_ = os.Symlink(filepath.Join(d, name), filepath.Join(dir, name))
		}
	}
	return dir
}

// fakeBin writes executable shell scripts into a new directory, to put in
// front of PATH: name -> script body.
func fakeBin(t *testing.T, scripts map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range scripts {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// dryRun runs scripts/test.sh with TENANTAUTH_TEST_DRYRUN=1, PATH set to
// path and the variables in env (which replace inherited ones), and returns
// its combined output and exit code.
func dryRun(t *testing.T, path string, env ...string) (string, int) {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("scripts/test.sh is a bash script")
	}
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Fatalf("bash not in PATH: %v", err)
	}
	script, err := filepath.Abs(filepath.Join("..", "..", "scripts", "test.sh"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bash, script)
	// The inherited environment without anything that steers the script
	// (CI sets TENANTAUTH_REQUIRE_ALL for the whole run, this test included).
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if k == "PATH" || k == "CI" || k == "INTEROP_NODE" || strings.HasPrefix(k, "TENANTAUTH_") {
			continue
		}
		cmd.Env = append(cmd.Env, kv)
	}
	cmd.Env = append(cmd.Env, "PATH="+path, "TENANTAUTH_TEST_DRYRUN=1")
	cmd.Env = append(cmd.Env, env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	code := 0
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil:
		t.Fatalf("run %s: %v\n%s", script, err, out.String())
	}
	if strings.Contains(out.String(), "== go test") || strings.Contains(out.String(), "\n== gofmt") {
		t.Errorf("the dry run ran checks:\n%s", out.String())
	}
	return out.String(), code
}

// withCC makes the race detector's needs hold whatever the machine has: cgo
// on and a "C compiler" that is a stub in bin.
func withCC(bin string) []string {
	return []string{"CGO_ENABLED=1", "CC=" + filepath.Join(bin, "fakecc")}
}

func wantLines(t *testing.T, out string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
}

// Without node the interop suite is skipped, said so, and the run (which
// runs every other suite) exits 0.
func TestNoNodeSkipsInterop(t *testing.T) {
	t.Parallel()
	bin := fakeBin(t, map[string]string{"fakecc": "exit 0"})
	out, code := dryRun(t, noNodePath(t), withCC(bin)...)
	if code != 0 {
		t.Fatalf("exit %d, want 0:\n%s", code, out)
	}
	wantLines(t, out,
		"go test -race: root module", // the Go suites still run
		"go test -race: benchmarks module",
		"interop module (real OAuth2 servers)    SKIP: node not found in PATH",
		"interop: node not found in PATH",
		"to run it: install Node.js >= 20 and npm",
		"skipped suites: interop\n",
	)
}

// Under TENANTAUTH_REQUIRE_ALL=1 (CI), the same machine fails the run, and
// says why and how to fix it.
func TestNoNodeFailsUnderRequireAll(t *testing.T) {
	t.Parallel()
	bin := fakeBin(t, map[string]string{"fakecc": "exit 0"})
	out, code := dryRun(t, noNodePath(t), append(withCC(bin), "TENANTAUTH_REQUIRE_ALL=1")...)
	if code == 0 {
		t.Fatalf("exit 0, want a failure:\n%s", out)
	}
	wantLines(t, out,
		"FAIL: TENANTAUTH_REQUIRE_ALL=1 and these cannot run on this machine:",
		"interop: node not found in PATH",
		"to run it: install Node.js >= 20",
	)
	if strings.Contains(out, "skipped suites:") {
		t.Errorf("a failed run reports skipped suites as if it had run:\n%s", out)
	}
}

// TENANTAUTH_REQUIRE_ALL=0 is off, like unset.
func TestRequireAllZeroIsOff(t *testing.T) {
	t.Parallel()
	bin := fakeBin(t, map[string]string{"fakecc": "exit 0"})
	out, code := dryRun(t, noNodePath(t), append(withCC(bin), "TENANTAUTH_REQUIRE_ALL=0")...)
	if code != 0 {
		t.Fatalf("exit %d, want 0:\n%s", code, out)
	}
	wantLines(t, out, "skipped suites: interop\n")
}

// An old node or a node without npm is not enough either.
func TestNodeTooOldOrNoNpm(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		scripts map[string]string
		reason  string
	}{
		{"node18", map[string]string{"node": "echo v18.19.1", "npm": "echo 10.2.4"}, "Node.js >= 20 required, found v18.19.1"},
		{"no npm", map[string]string{"node": "echo v22.11.0"}, "npm not found in PATH (node v22.11.0 is)"},
		{"broken node", map[string]string{"node": "exit 1", "npm": "echo 10.2.4"}, "cannot tell the version of"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.scripts["fakecc"] = "exit 0"
			bin := fakeBin(t, tc.scripts)
			path := bin + string(os.PathListSeparator) + noNodePath(t)
			out, code := dryRun(t, path, withCC(bin)...)
			if code != 0 {
				t.Fatalf("exit %d, want 0:\n%s", code, out)
			}
			wantLines(t, out, "interop: "+tc.reason, "skipped suites: interop\n")

			out, code = dryRun(t, path, append(withCC(bin), "TENANTAUTH_REQUIRE_ALL=1")...)
			if code == 0 {
				t.Fatalf("under TENANTAUTH_REQUIRE_ALL=1: exit 0, want a failure:\n%s", out)
			}
			wantLines(t, out, "interop: "+tc.reason)
		})
	}
}

// With node >= 20 and npm, nothing is skipped, and TENANTAUTH_REQUIRE_ALL=1
// passes the detection.
func TestNodePresentRunsEverything(t *testing.T) {
	t.Parallel()
	bin := fakeBin(t, map[string]string{"node": "echo v20.11.1", "npm": "echo 10.2.4", "fakecc": "exit 0"})
	path := bin + string(os.PathListSeparator) + noNodePath(t)
	out, code := dryRun(t, path, append(withCC(bin), "TENANTAUTH_REQUIRE_ALL=1")...)
	if code != 0 {
		t.Fatalf("exit %d, want 0:\n%s", code, out)
	}
	wantLines(t, out, "run (node v20.11.1; npm ci first)", "skipped suites: none\n")
	if strings.Contains(out, "SKIP") {
		t.Errorf("something was skipped:\n%s", out)
	}
}

// Without cgo the tests run without -race, and the race detector is named
// as skipped (a failure under TENANTAUTH_REQUIRE_ALL=1).
func TestNoCgoSkipsRaceDetector(t *testing.T) {
	t.Parallel()
	bin := fakeBin(t, map[string]string{"node": "echo v22.11.0", "npm": "echo 10.2.4"})
	path := bin + string(os.PathListSeparator) + noNodePath(t)
	out, code := dryRun(t, path, "CGO_ENABLED=0")
	if code != 0 {
		t.Fatalf("exit %d, want 0:\n%s", code, out)
	}
	wantLines(t, out, "go test (no -race): root module", "race detector: CGO_ENABLED=0", "skipped suites: race detector\n")

	out, code = dryRun(t, path, "CGO_ENABLED=0", "TENANTAUTH_REQUIRE_ALL=1")
	if code == 0 {
		t.Fatalf("under TENANTAUTH_REQUIRE_ALL=1: exit 0, want a failure:\n%s", out)
	}
	wantLines(t, out, "race detector: CGO_ENABLED=0")
}

package interop

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Limits of the harness. Every wait is bounded.
const (
	setupTimeout   = 5 * time.Minute  // npm ci on a cold cache
	startTimeout   = 60 * time.Second // node start until "LISTENING <port>"
	stopTimeout    = 5 * time.Second  // SIGTERM until SIGKILL
	stderrTailSize = 64 << 10         // bytes of a server's stderr kept for failure logs
)

// The servers every test shares, started once by TestMain. Tests do not run
// in parallel: some reset a server's counters or revoke all its tokens.
var (
	kcMain    *server // keycloak.mjs, 5 min tokens, rotation on, the private_key_jwt client (kcAssertionArgs)
	kcShort   *server // keycloak.mjs, 3 s tokens, rotation on
	ppMain    *server // passport.mjs, 5 min tokens
	ppShort   *server // passport.mjs, 3 s tokens
	ppNoPass  *server // passport.mjs with the password grant disabled (Passport 12's default)
	allServer []*server

	// unavailable is why the servers could not start; the tests then skip
	// (or TestMain fails under CI or TENANTAUTH_REQUIRE_ALL, see mustRun).
	unavailable error
)

// serverSpec names a server process: which script and which flags.
type serverSpec struct {
	dst    **server
	kind   string // "keycloak" or "passport"
	script string
	args   []string
}

func TestMain(m *testing.M) { os.Exit(run(m)) }

// mustRun reports whether unavailable servers are a failure rather than a
// reason to skip: under CI (any value of CI) and when TENANTAUTH_REQUIRE_ALL
// is set to anything but "" or "0" (.ci/run sets it, scripts/test.sh passes
// it on), so that a run without node never passes by skipping every test.
func mustRun() bool {
	req := os.Getenv("TENANTAUTH_REQUIRE_ALL")
	return os.Getenv("CI") != "" || (req != "" && req != "0")
}

func run(m *testing.M) int {
	must := mustRun()
	if err := setup(); err != nil {
		unavailable = err
	} else {
		start := time.Now()
		unavailable = startAll([]serverSpec{
			{&kcMain, "keycloak", "keycloak.mjs", kcAssertionArgs()},
			{&kcShort, "keycloak", "keycloak.mjs", []string{"--access-ttl", "3", "--refresh-ttl", "60"}},
			{&ppMain, "passport", "passport.mjs", nil},
			{&ppShort, "passport", "passport.mjs", []string{"--access-ttl", "3", "--refresh-ttl", "60"}},
			{&ppNoPass, "passport", "passport.mjs", []string{"--no-password"}},
		})
		if unavailable == nil {
			fmt.Fprintf(os.Stderr, "interop: %d servers listening after %v\n", len(allServer), time.Since(start).Round(time.Millisecond))
		}
	}
	if unavailable != nil {
		stopAll()
		if must {
			// CI must fail, not skip: a broken install is a broken build.
			fmt.Fprintf(os.Stderr, "interop: FAIL: OAuth2 servers unavailable and CI or TENANTAUTH_REQUIRE_ALL is set "+
				"(needs Node.js >= 20, npm and the npm registry; see interop/README.md): %v\n", unavailable)
			return 1
		}
		fmt.Fprintf(os.Stderr, "interop: OAuth2 servers unavailable, tests will be skipped: %v\n", unavailable)
	}
	code := m.Run()
	stopAll()
	if code == 0 {
		if leaked := waitNoLeaks(3 * time.Second); len(leaked) > 0 {
			fmt.Fprintf(os.Stderr, "interop: FAIL: %d tenantauth goroutine(s) still running after every Manager was closed:\n%s\n",
				len(leaked), strings.Join(leaked, "\n\n"))
			return 1
		}
	}
	return code
}

// setup runs setup.sh, which installs the servers with npm ci unless
// node_modules already matches package-lock.json.
func setup() error {
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "setup.sh")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("setup.sh: %w\n%s", err, tail(out.Bytes(), 4<<10))
	}
	return nil
}

func startAll(specs []serverSpec) error {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for _, sp := range specs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := startServer(sp.kind, sp.script, sp.args...)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			*sp.dst = s
			allServer = append(allServer, s)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func stopAll() {
	for _, s := range allServer {
		s.stop()
	}
	allServer = nil
}

// requireServers skips (or, under CI or TENANTAUTH_REQUIRE_ALL, fails) a
// test when the servers did not start. TestMain already failed then, so
// Fatal is a second guard.
func requireServers(t *testing.T) {
	t.Helper()
	if unavailable == nil {
		return
	}
	if mustRun() {
		t.Fatalf("OAuth2 servers unavailable: %v", unavailable)
	}
	t.Skipf("OAuth2 servers unavailable (run `bash interop/setup.sh`; needs node >= 20 and the npm registry): %v", unavailable)
}

// A server is one running node process.
type server struct {
	kind   string
	name   string // script and flags, for messages
	base   string // http://127.0.0.1:PORT
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	cancel context.CancelFunc
	stderr *tailBuffer
	exited chan struct{}
	once   sync.Once
}

// startServer starts servers/<script> on a free loopback port and waits for
// its "LISTENING <port>" line. The process gets its own process group and
// a stdin pipe: it exits when the pipe closes, so it cannot outlive this
// test binary even if the binary is killed.
func startServer(kind, script string, args ...string) (*server, error) {
	name := strings.TrimSpace(script + " " + strings.Join(args, " "))
	ctx, cancel := context.WithCancel(context.Background())
	node := os.Getenv("INTEROP_NODE") // another node binary; "node" from PATH by default
	if node == "" {
		node = "node"
	}
	cmd := exec.CommandContext(ctx, node, append([]string{script, "--port", "0"}, args...)...)
	cmd.Dir = "servers"
	cmd.Env = append(os.Environ(), "INTEROP_WATCH_STDIN=1", "NODE_ENV=production")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }
	cmd.WaitDelay = stopTimeout
	s := &server{kind: kind, name: name, cmd: cmd, cancel: cancel, stderr: &tailBuffer{max: stderrTailSize}, exited: make(chan struct{})}
	cmd.Stderr = s.stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		cancel()
		return nil, err
	}
	if s.stdin, err = cmd.StdinPipe(); err != nil {
		cancel()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		cancel()
		return nil, fmt.Errorf("%s: start node: %w", name, err)
	}
	go func() {
		_ = cmd.Wait()
		close(s.exited)
	}()

	port := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if p, ok := strings.CutPrefix(sc.Text(), "LISTENING "); ok {
				select {
				case port <- strings.TrimSpace(p):
				default:
				}
			}
		}
		// Keep draining until the process ends so it never blocks on stdout.
		_, _ = io.Copy(io.Discard, stdout)
	}()

	timer := time.NewTimer(startTimeout)
	defer timer.Stop()
	select {
	case p := <-port:
		s.base = "http://127.0.0.1:" + p
		return s, nil
	case <-s.exited:
		s.stop()
		return nil, fmt.Errorf("%s exited before listening: %v\n%s", name, cmd.ProcessState, s.stderr.String())
	case <-timer.C:
		s.stop()
		return nil, fmt.Errorf("%s did not print LISTENING within %v\n%s", name, startTimeout, s.stderr.String())
	}
}

// stop ends the process group: SIGTERM, then SIGKILL after stopTimeout.
func (s *server) stop() {
	s.once.Do(func() {
		_ = s.stdin.Close()
		s.cancel()
		select {
		case <-s.exited:
		case <-time.After(stopTimeout + time.Second):
			_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
			<-s.exited
		}
	})
}

// attach logs the server's stderr into t's log if t fails.
func (s *server) attach(t *testing.T) {
	t.Helper()
	mark := s.stderr.Len()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("stderr of %s (since the test started):\n%s", s.name, s.stderr.Since(mark))
		}
	})
}

// serverStats is the body of GET /admin/stats.
type serverStats struct {
	Tokens map[string]struct {
		OK    int `json:"ok"`
		Error int `json:"error"`
	} `json:"tokens"`
	Errors          map[string]int `json:"errors"`
	Details         map[string]int `json:"details"` // the server's reasons for refusals (keycloak.mjs only)
	RefreshReuse    int            `json:"refresh_reuse"`
	APIOK           int            `json:"api_ok"`
	APIUnauthorized int            `json:"api_unauthorized"`
}

// issued is the number of tokens the server issued, all grants together.
func (st serverStats) issued() int {
	n := 0
	for _, g := range st.Tokens {
		n += g.OK
	}
	return n
}

// requests is the number of token requests, successful or not.
func (st serverStats) requests() int {
	n := 0
	for _, g := range st.Tokens {
		n += g.OK + g.Error
	}
	return n
}

func (s *server) stats(t *testing.T) serverStats {
	t.Helper()
	var st serverStats
	s.admin(t, http.MethodGet, "/admin/stats", &st)
	return st
}

func (s *server) reset(t *testing.T) { t.Helper(); s.admin(t, http.MethodPost, "/admin/reset", nil) }
func (s *server) revokeAll(t *testing.T) {
	t.Helper()
	s.admin(t, http.MethodPost, "/admin/revoke-all", nil)
}

func (s *server) admin(t *testing.T, method, path string, into any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, s.base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := adminClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %s: status %d: %s", method, path, resp.StatusCode, body)
	}
	if into != nil {
		if err := json.Unmarshal(body, into); err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
	}
}

var adminClient = &http.Client{Timeout: 10 * time.Second}

// tailBuffer keeps the last max bytes written to it; safe for concurrent use.
type tailBuffer struct {
	mu      sync.Mutex
	buf     []byte
	max     int
	dropped int // bytes dropped from the front so far
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - b.max; over > 0 {
		b.buf = append(b.buf[:0], b.buf[over:]...)
		b.dropped += over
	}
	return len(p), nil
}

// Len is the total number of bytes ever written.
func (b *tailBuffer) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.dropped + len(b.buf)
}

// Since returns what was written after Len returned mark, as far as kept.
func (b *tailBuffer) Since(mark int) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	i := mark - b.dropped
	if i < 0 {
		i = 0
	}
	if i > len(b.buf) {
		i = len(b.buf)
	}
	return string(b.buf[i:])
}

func (b *tailBuffer) String() string { return b.Since(0) }

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// waitNoLeaks waits up to d for goroutines running tenantauth code (not this
// package's) to end, and returns the stacks of those still running.
func waitNoLeaks(d time.Duration) []string {
	deadline := time.Now().Add(d)
	for {
		leaked := tenantauthGoroutines()
		if len(leaked) == 0 || time.Now().After(deadline) {
			return leaked
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func tenantauthGoroutines() []string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		frames := g
		if i := strings.Index(g, "\ncreated by "); i >= 0 {
			frames = g[:i]
		}
		if strings.Contains(frames, "github.com/tenantauth/tenantauth") &&
			!strings.Contains(frames, "github.com/tenantauth/tenantauth/interop") {
			out = append(out, g)
		}
	}
	return out
}

// testdataPath returns a path under testdata/.
func testdataPath(parts ...string) string {
	return filepath.Join(append([]string{"testdata"}, parts...)...)
}

// Package redistest runs a real redis-server for tests: one private server
// per call of Start, on 127.0.0.1 and a free port, without persistence,
// stopped when the test ends. A test can kill and restart it on the same
// port (Redis down, then back) and pause and resume it with SIGSTOP and
// SIGCONT (Redis hung: connections stay open, nothing answers).
//
// redis-server is looked up in PATH. When it is missing, Start skips the
// test with the command that installs it (apt-get install redis-server),
// except under CI (any value of the CI variable) or TENANTAUTH_REQUIRE_ALL
// (any value but "" and "0"), where a missing server fails the test: a run
// that cannot reach Redis must not pass by skipping.
//
// The package speaks RESP itself (PING, SCAN, GET, FLUSHALL) and needs no
// Redis client, so it serves tests of any client.
package redistest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// InstallHint is how to get redis-server on Debian and Ubuntu, the
// machines CI runs on.
const InstallHint = "apt-get install redis-server"

// startTimeout bounds how long Start and Restart wait for the server to
// answer PING.
const startTimeout = 10 * time.Second

// A Server is a running redis-server owned by one test. Its methods may be
// called from any goroutine, but Kill, Restart, Pause and Resume are meant
// to be called from the test's own goroutine, one at a time.
type Server struct {
	t    testing.TB
	path string
	port int
	dir  string
	args []string

	password string // from --requirepass: the helpers send AUTH

	mu     sync.Mutex
	cmd    *exec.Cmd     // nil while killed
	exited chan struct{} // closed when cmd has been waited for
}

// Required reports whether a missing redis-server fails a test rather than
// skipping it: under CI (any value) and when TENANTAUTH_REQUIRE_ALL is set
// to anything but "" or "0".
func Required() bool {
	req := os.Getenv("TENANTAUTH_REQUIRE_ALL")
	return os.Getenv("CI") != "" || (req != "" && req != "0")
}

// Start starts a redis-server for t and waits until it answers PING. It
// stops the server (SIGKILL) when t and its subtests end. Without
// redis-server in PATH it skips t, or fails it when Required.
//
// args are more options for redis-server, after Start's own, such as
// "--requirepass", "secret"; they apply after Restart too.
func Start(t testing.TB, args ...string) *Server {
	t.Helper()
	path, err := exec.LookPath("redis-server")
	if err != nil {
		msg := fmt.Sprintf("redistest: redis-server not found in PATH (install it: %s)", InstallHint)
		if Required() {
			t.Fatalf("%s; CI or TENANTAUTH_REQUIRE_ALL is set, so this is a failure", msg)
		}
		t.Skip(msg)
	}
	s := &Server{t: t, path: path, dir: t.TempDir(), args: args}
	for i, a := range args {
		if a == "--requirepass" && i+1 < len(args) {
			s.password = args[i+1]
		}
	}
	t.Cleanup(s.stop)

	// A free port found by listening on :0 can be taken by someone else
	// before redis-server binds it: try a few.
	var lastErr error
	for range 5 {
		s.port, err = freePort()
		if err != nil {
			t.Fatalf("redistest: %v", err)
		}
		if lastErr = s.start(); lastErr == nil {
			return s
		}
	}
	t.Fatalf("redistest: %v", lastErr)
	return nil
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// start runs redis-server on s.port and waits until it answers PING.
func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	args := []string{
		"--save", "",
		"--appendonly", "no",
		"--port", strconv.Itoa(s.port),
		"--bind", "127.0.0.1",
		"--dir", s.dir,
		"--daemonize", "no",
		"--logfile", "",
	}
	cmd := exec.Command(s.path, append(args, s.args...)...)
	// The server's output, shown when it fails to start.
	w := new(lockedWriter)
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", s.path, err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait() // the exit status says nothing new: the server is killed
		close(exited)
	}()
	s.cmd, s.exited = cmd, exited

	deadline := time.Now().Add(startTimeout)
	for {
		err := s.ping()
		if err == nil {
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("redis-server on port %d exited at start: %v\n%s", s.port, err, w.String())
		default:
		}
		if time.Now().After(deadline) {
			s.killLocked()
			return fmt.Errorf("redis-server on port %d did not answer PING within %v: %v\n%s", s.port, startTimeout, err, w.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ping sends one PING and expects PONG, within a second.
func (s *Server) ping() error {
	c, err := s.dial(time.Second)
	if err != nil {
		return err
	}
	defer c.close()
	v, err := c.do("PING")
	if err != nil {
		return err
	}
	if v != "PONG" {
		return fmt.Errorf("PING answered %q", v)
	}
	return nil
}

// Addr is the server's host:port, 127.0.0.1 and its port. It stays the
// same across Restart.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// Port is the server's TCP port.
func (s *Server) Port() int { return s.port }

// Kill kills the server (SIGKILL) and waits until it has exited: from then
// on connections are refused and open ones are closed. Killing a killed
// server does nothing.
func (s *Server) Kill() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.killLocked()
}

func (s *Server) killLocked() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill() // a paused process dies of SIGKILL too
	<-s.exited
	s.cmd = nil
}

// Restart starts the server again on the same port, killing it first if it
// runs, and waits until it answers PING. The new server is empty.
func (s *Server) Restart() {
	s.t.Helper()
	s.mu.Lock()
	s.killLocked()
	s.mu.Unlock()
	// The port was ours a moment ago; retry briefly in case the kernel
	// has not let go of it yet.
	var err error
	deadline := time.Now().Add(startTimeout)
	for {
		if err = s.start(); err == nil {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("redistest: restart: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Pause stops the server with SIGSTOP: connections stay open and the
// kernel still accepts new ones, but nothing answers until Resume. A test
// that pauses need not resume: Kill and the cleanup work on a paused
// server.
func (s *Server) Pause() {
	s.t.Helper()
	s.signal(syscall.SIGSTOP)
}

// Resume continues a paused server with SIGCONT.
func (s *Server) Resume() {
	s.t.Helper()
	s.signal(syscall.SIGCONT)
}

func (s *Server) signal(sig syscall.Signal) {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		s.t.Fatalf("redistest: %v: the server is not running", sig)
	}
	if err := s.cmd.Process.Signal(sig); err != nil {
		s.t.Fatalf("redistest: %v: %v", sig, err)
	}
}

// Keys returns every key of database 0 (the default of every client),
// scanned with SCAN, in no particular order. It fails the test when the
// server does not answer within a few seconds.
func (s *Server) Keys() []string {
	s.t.Helper()
	c := s.mustDial()
	defer c.close()
	var keys []string
	cursor := "0"
	for {
		v, err := c.do("SCAN", cursor, "COUNT", "1000")
		if err != nil {
			s.t.Fatalf("redistest: SCAN: %v", err)
		}
		reply, ok := v.([]any)
		if !ok || len(reply) != 2 {
			s.t.Fatalf("redistest: SCAN answered %#v", v)
		}
		cursor, _ = reply[0].(string)
		batch, _ := reply[1].([]any)
		for _, k := range batch {
			keys = append(keys, k.(string))
		}
		if cursor == "0" {
			return keys
		}
	}
}

// Dump returns the raw bytes stored under key in database 0 (GET), or nil
// when the key does not exist: what anyone with access to the server reads.
// It fails the test when the key holds something other than a string.
func (s *Server) Dump(key string) []byte {
	s.t.Helper()
	c := s.mustDial()
	defer c.close()
	v, err := c.do("GET", key)
	if err != nil {
		s.t.Fatalf("redistest: GET %q: %v", key, err)
	}
	if v == nil {
		return nil
	}
	return []byte(v.(string))
}

// FlushAll deletes every key of every database.
func (s *Server) FlushAll() {
	s.t.Helper()
	c := s.mustDial()
	defer c.close()
	if _, err := c.do("FLUSHALL"); err != nil {
		s.t.Fatalf("redistest: FLUSHALL: %v", err)
	}
}

// Do sends one command and returns its reply: nil, a string (simple,
// bulk), an int64, or a []any of those. A Redis error reply is returned as
// an error. It fails the test when the server cannot be reached.
func (s *Server) Do(args ...string) (any, error) {
	s.t.Helper()
	c := s.mustDial()
	defer c.close()
	return c.do(args...)
}

func (s *Server) mustDial() *conn {
	s.t.Helper()
	c, err := s.dial(5 * time.Second)
	if err != nil {
		s.t.Fatalf("redistest: %v", err)
	}
	return c
}

// stop kills the server at the end of the test.
func (s *Server) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.killLocked()
}

// conn is a minimal RESP2 connection, enough for the commands above.
type conn struct {
	nc net.Conn
	r  *bufio.Reader
}

// dial connects with every read and write bounded by timeout in total.
func (s *Server) dial(timeout time.Duration) (*conn, error) {
	nc, err := net.DialTimeout("tcp", s.Addr(), timeout)
	if err != nil {
		return nil, err
	}
	nc.SetDeadline(time.Now().Add(timeout))
	c := &conn{nc: nc, r: bufio.NewReader(nc)}
	if s.password != "" {
		if _, err := c.do("AUTH", s.password); err != nil {
			nc.Close()
			return nil, fmt.Errorf("AUTH: %w", err)
		}
	}
	return c, nil
}

func (c *conn) close() { c.nc.Close() }

func (c *conn) do(args ...string) (any, error) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := c.nc.Write(b.Bytes()); err != nil {
		return nil, err
	}
	return c.read()
}

// redisError is an error reply.
type redisError string

func (e redisError) Error() string { return string(e) }

func (c *conn) read() (any, error) {
	line, err := c.r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	if len(line) < 3 || line[len(line)-2] != '\r' {
		return nil, fmt.Errorf("malformed reply %q", line)
	}
	kind, body := line[0], line[1:len(line)-2]
	switch kind {
	case '+':
		return body, nil
	case '-':
		return nil, redisError(body)
	case ':':
		return strconv.ParseInt(body, 10, 64)
	case '$':
		n, err := strconv.Atoi(body)
		if err != nil {
			return nil, err
		}
		if n < 0 {
			return nil, nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(c.r, buf); err != nil {
			return nil, err
		}
		return string(buf[:n]), nil
	case '*':
		n, err := strconv.Atoi(body)
		if err != nil {
			return nil, err
		}
		if n < 0 {
			return nil, nil
		}
		items := make([]any, n)
		for i := range items {
			if items[i], err = c.read(); err != nil {
				var re redisError
				if !errors.As(err, &re) {
					return nil, err
				}
				items[i] = re
			}
		}
		return items, nil
	}
	return nil, fmt.Errorf("unknown reply type %q", line)
}

// lockedWriter collects the server's output from two pipes.
type lockedWriter struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

func (w *lockedWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

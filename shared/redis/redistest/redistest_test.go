package redistest

import (
	"fmt"
	"net"
	"os"
	"sort"
	"strings"
	"testing"
	"time"
)

func TestServer(t *testing.T) {
	s := Start(t)
	if keys := s.Keys(); len(keys) != 0 {
		t.Fatalf("a new server has keys %q", keys)
	}
	for i := range 2500 { // more than one SCAN batch
		if _, err := s.Do("SET", fmt.Sprintf("k%04d", i), "v\x00\xff"); err != nil {
			t.Fatal(err)
		}
	}
	keys := s.Keys()
	sort.Strings(keys)
	if len(keys) != 2500 || keys[0] != "k0000" || keys[2499] != "k2499" {
		t.Fatalf("Keys = %d keys, %q…", len(keys), keys[:min(3, len(keys))])
	}
	if got := s.Dump("k0001"); string(got) != "v\x00\xff" {
		t.Errorf("Dump = %q", got)
	}
	if got := s.Dump("missing"); got != nil {
		t.Errorf("Dump(missing) = %q; want nil", got)
	}
	if _, err := s.Do("NOSUCHCOMMAND"); err == nil {
		t.Error("an unknown command succeeded")
	}
	s.FlushAll()
	if keys := s.Keys(); len(keys) != 0 {
		t.Errorf("keys after FlushAll: %d", len(keys))
	}

	// Paused: connections are accepted, nothing answers.
	s.Pause()
	c, err := s.dial(200 * time.Millisecond)
	if err != nil {
		t.Fatalf("dial a paused server: %v", err)
	}
	if _, err := c.do("PING"); err == nil {
		t.Error("a paused server answered PING")
	}
	c.close()
	s.Resume()
	if err := s.ping(); err != nil {
		t.Fatalf("PING after Resume: %v", err)
	}

	// Killed: connections are refused; restarted: the same port, empty.
	s.Do("SET", "k", "v")
	addr := s.Addr()
	s.Kill()
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Error("a killed server accepted a connection")
	}
	s.Kill() // again: nothing
	s.Restart()
	if s.Addr() != addr {
		t.Errorf("Addr after Restart = %s; want %s", s.Addr(), addr)
	}
	if keys := s.Keys(); len(keys) != 0 {
		t.Errorf("a restarted server has keys %q", keys)
	}
	s.Pause()
	s.Restart() // from paused
	if err := s.ping(); err != nil {
		t.Fatalf("PING after Restart of a paused server: %v", err)
	}
}

func TestPassword(t *testing.T) {
	s := Start(t, "--requirepass", "s3cret")
	if _, err := s.Do("SET", "k", "v"); err != nil {
		t.Fatal(err)
	}
	if keys := s.Keys(); len(keys) != 1 {
		t.Errorf("Keys = %q", keys)
	}
	c, err := net.DialTimeout("tcp", s.Addr(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("GET k\r\n"))
	buf := make([]byte, 64)
	n, _ := c.Read(buf)
	if !strings.HasPrefix(string(buf[:n]), "-NOAUTH") {
		t.Errorf("GET without AUTH answered %q", buf[:n])
	}
}

// stop ends a fake test's goroutine as Skip and Fatal end a real one's.
type stop struct{}

// fakeTB records what Start does when redis-server is missing.
type fakeTB struct {
	testing.TB
	skipped, failed string
}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Skip(args ...any) {
	f.skipped = fmt.Sprint(args...)
	panic(stop{})
}
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.failed = fmt.Sprintf(format, args...)
	panic(stop{})
}

func startMissing(t *testing.T) *fakeTB {
	f := &fakeTB{TB: t}
	func() {
		defer func() {
			if r := recover(); r != nil && r != (stop{}) {
				panic(r)
			}
		}()
		Start(f)
		t.Fatal("Start without redis-server returned")
	}()
	return f
}

func TestMissingServer(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	for _, tc := range []struct {
		ci, require string
		fails       bool
	}{
		{"", "", false},
		{"", "0", false},
		{"", "1", true},
		{"true", "", true},
	} {
		t.Setenv("CI", tc.ci)
		if tc.ci == "" {
			os.Unsetenv("CI")
		}
		t.Setenv("TENANTAUTH_REQUIRE_ALL", tc.require)
		f := startMissing(t)
		msg := f.skipped
		if tc.fails {
			msg = f.failed
		}
		if msg == "" || !strings.Contains(msg, InstallHint) {
			t.Errorf("CI=%q TENANTAUTH_REQUIRE_ALL=%q: skipped %q, failed %q; want to %s with the install hint",
				tc.ci, tc.require, f.skipped, f.failed, map[bool]string{false: "skip", true: "fail"}[tc.fails])
		}
	}
}

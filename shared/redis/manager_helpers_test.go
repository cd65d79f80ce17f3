package redis_test

// Helpers of the Manager-level tests (manager_test.go) and benchmarks
// (bench_manager_test.go): replicas, each a Manager with a Store of its
// own, sharing one redistest server.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tenantauth/tenantauth"
	"github.com/tenantauth/tenantauth/shared/redis"
	"github.com/tenantauth/tenantauth/shared/redis/redistest"
)

const (
	// patience bounds every wait for something that must happen; it is
	// reached only when a test fails.
	patience = 15 * time.Second
	// channel is the Store's default Pub/Sub channel.
	channel = redis.DefaultChannel
)

var (
	keyA = tenantauth.SharedKey{ID: "2026-12", Secret: tenantauth.Secret(strings.Repeat("a", 32))}
	keyB = tenantauth.SharedKey{ID: "2027-01", Secret: tenantauth.Secret(strings.Repeat("b", 32))}
)

// countingProvider issues one-hour tokens on the real clock (only tokens
// with an expiry are shared), named after the tenant's ClientID, each
// request taking latency, and counts what it was asked.
type countingProvider struct {
	latency time.Duration
	seq     atomic.Int64
	total   atomic.Int64

	mu    sync.Mutex
	calls map[string]int // ClientID → token requests
}

func newCountingProvider(latency time.Duration) *countingProvider {
	return &countingProvider{latency: latency, calls: map[string]int{}}
}

func (p *countingProvider) Endpoint() string { return "https://idp.example/token" }

func (p *countingProvider) Exchange(ctx context.Context, req tenantauth.TokenRequest) (*tenantauth.Token, error) {
	p.total.Add(1)
	p.mu.Lock()
	p.calls[req.Credentials.ClientID]++
	p.mu.Unlock()
	if p.latency > 0 {
		t := time.NewTimer(p.latency)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		}
	}
	now := time.Now()
	return &tenantauth.Token{
		AccessToken:  tenantauth.Secret(fmt.Sprintf("at-%s-%d", req.Credentials.ClientID, p.seq.Add(1))),
		RefreshToken: tenantauth.Secret(fmt.Sprintf("rt-%s-%d", req.Credentials.ClientID, p.seq.Add(1))),
		TokenType:    "Bearer", IssuedAt: now, Expiry: now.Add(time.Hour),
	}, nil
}

// Total is the number of token requests so far.
func (p *countingProvider) Total() int { return int(p.total.Load()) }

// Calls is the number of token requests for clientID.
func (p *countingProvider) Calls(clientID string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls[clientID]
}

// MaxCalls is the largest number of token requests of any client.
func (p *countingProvider) MaxCalls() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	m := 0
	for _, n := range p.calls {
		m = max(m, n)
	}
	return m
}

// tenantID is the ID of tenant i: long enough that finding it in a sealed
// value by chance is out of the question.
func tenantID(i int) string { return fmt.Sprintf("tenant-%05d", i) }

// tenantsFor builds tenants 0..n-1 on p; ClientID is the tenant ID.
func tenantsFor(p tenantauth.Provider, n int) tenantauth.Tenants {
	ts := make(tenantauth.Tenants, n)
	for i := range n {
		id := tenantID(i)
		ts[id] = tenantauth.Tenant{Provider: p, APIHosts: []string{tenantauth.AnyHost}, Credentials: tenantauth.Credentials{
			ClientID: id, ClientSecret: tenantauth.Secret("cs-" + id + "-SECRET")}}
	}
	return ts
}

// tokenBelongs reports whether tok was issued by countingProvider for id.
func tokenBelongs(tok *tenantauth.Token, id string) bool {
	return tok != nil && strings.HasPrefix(tok.AccessToken.Reveal(), "at-"+id+"-")
}

// replicaOptions are what replicas varies.
type replicaOptions struct {
	// store configures each replica's Store; Addr is set by replicas.
	store redis.Config
	// idle are closed (their idle connections) after the Managers, before
	// the goroutine check: HTTP clients of providers and of the API.
	idle []interface{ CloseIdleConnections() }
}

// replicas returns n Managers configured with cfg, each sharing tokens
// through a Store of its own on srv (Keys default to keyA), closed when
// the test ends, and then checked for leaked goroutines.
func replicas(t testing.TB, srv *redistest.Server, n int, cfg tenantauth.Config, opts replicaOptions) []*tenantauth.Manager {
	t.Helper()
	before := runtime.NumGoroutine()
	ms := make([]*tenantauth.Manager, 0, n)
	stores := make([]*redis.Store, 0, n)
	t.Cleanup(func() {
		closeAll(ms, stores)
		for _, c := range opts.idle {
			c.CloseIdleConnections()
		}
		checkNoLeak(t, before)
	})
	for range n {
		rc := opts.store
		rc.Addr = srv.Addr()
		s, err := redis.New(rc)
		if err != nil {
			t.Fatal(err)
		}
		stores = append(stores, s)
		c := cfg
		c.Shared.Store = s
		if c.Shared.Keys == nil {
			c.Shared.Keys = []tenantauth.SharedKey{keyA}
		}
		m, err := tenantauth.New(c)
		if err != nil {
			t.Fatal(err)
		}
		ms = append(ms, m)
	}
	return ms
}

// closeAll closes the Managers, then their Stores; nil ones are skipped.
func closeAll(ms []*tenantauth.Manager, stores []*redis.Store) {
	for _, m := range ms {
		if m != nil {
			m.Close()
		}
	}
	for _, s := range stores {
		if s != nil {
			s.Close()
		}
	}
}

// checkNoLeak fails when more goroutines run than before: it waits,
// bounded, for those that are ending.
func checkNoLeak(t testing.TB, before int) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for {
		n := runtime.NumGoroutine()
		if n <= before {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("goroutines: %d before, %d after Close\n%s", before, n, buf)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitFor polls cond until it holds or patience runs out; it asserts on
// the state reached, not on how long it took.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(patience); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", patience, what)
		}
	}
}

// fakeClock is a Clock that moves only when told.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Now()} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// subscriber listens on a Redis channel with a connection of its own,
// speaking RESP itself: what anyone allowed to SUBSCRIBE sees.
type subscriber struct {
	conn net.Conn
	done chan struct{}

	mu   sync.Mutex
	msgs [][]byte
}

// subscribe subscribes to ch on srv (with AUTH password when not empty)
// and returns once the server confirmed it. It stops when the test ends.
func subscribe(t testing.TB, srv *redistest.Server, password, ch string) *subscriber {
	t.Helper()
	conn, err := net.DialTimeout("tcp", srv.Addr(), patience)
	if err != nil {
		t.Fatal(err)
	}
	s := &subscriber{conn: conn, done: make(chan struct{})}
	t.Cleanup(func() {
		conn.Close()
		<-s.done
	})
	r := bufio.NewReader(conn)
	conn.SetDeadline(time.Now().Add(patience))
	if password != "" {
		writeCommand(conn, "AUTH", password)
		if v, err := readReply(r); err != nil || v != "OK" {
			close(s.done)
			t.Fatalf("AUTH: %v %v", v, err)
		}
	}
	writeCommand(conn, "SUBSCRIBE", ch)
	if v, err := readReply(r); err != nil || fmt.Sprint(v) != fmt.Sprint([]any{"subscribe", ch, int64(1)}) {
		close(s.done)
		t.Fatalf("SUBSCRIBE: %v %v", v, err)
	}
	conn.SetDeadline(time.Time{})
	go func() {
		defer close(s.done)
		for {
			v, err := readReply(r)
			if err != nil {
				return
			}
			if a, ok := v.([]any); ok && len(a) == 3 && a[0] == "message" {
				msg, _ := a[2].(string)
				s.mu.Lock()
				s.msgs = append(s.msgs, []byte(msg))
				s.mu.Unlock()
			}
		}
	}()
	return s
}

// messages returns the messages received so far.
func (s *subscriber) messages() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]byte(nil), s.msgs...)
}

// flush publishes a marker and waits until it arrives: every message
// published before it has been received.
func (s *subscriber) flush(t testing.TB, srv *redistest.Server, ch string) {
	t.Helper()
	marker := "marker-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	if _, err := srv.Do("PUBLISH", ch, marker); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the marker message", func() bool {
		msgs := s.messages()
		return len(msgs) > 0 && string(msgs[len(msgs)-1]) == marker
	})
}

func writeCommand(w io.Writer, args ...string) {
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	io.WriteString(w, b.String())
}

// readReply reads one RESP2 reply: a string, an int64, nil, or a []any.
func readReply(r *bufio.Reader) (any, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	if len(line) < 3 {
		return nil, fmt.Errorf("malformed reply %q", line)
	}
	body := line[1 : len(line)-2]
	switch line[0] {
	case '+':
		return body, nil
	case '-':
		return nil, errors.New(body)
	case ':':
		return strconv.ParseInt(body, 10, 64)
	case '$':
		n, err := strconv.Atoi(body)
		if err != nil || n < 0 {
			return nil, err
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, err
		}
		return string(buf[:n]), nil
	case '*':
		n, err := strconv.Atoi(body)
		if err != nil || n < 0 {
			return nil, err
		}
		items := make([]any, n)
		for i := range items {
			if items[i], err = readReply(r); err != nil {
				return nil, err
			}
		}
		return items, nil
	}
	return nil, fmt.Errorf("unknown reply %q", line)
}

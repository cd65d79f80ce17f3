package tenantauth

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tenantauth/tenantauth/admission"
)

// orderProvider issues tokens that expire an hour after the clock's now,
// records the order of the token requests, and blocks "blocker" until
// release is closed.
type orderProvider struct {
	clock   *manualClock
	release chan struct{}

	mu    sync.Mutex
	order []string
	seq   int
}

type manualClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *manualClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func (p *orderProvider) Endpoint() string { return "https://idp.example/token" }

func (p *orderProvider) Exchange(ctx context.Context, req TokenRequest) (*Token, error) {
	id := req.Credentials.ClientID
	if id == "blocker" {
		select {
		case <-p.release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	p.mu.Lock()
	p.order = append(p.order, id)
	p.seq++
	n := p.seq
	p.mu.Unlock()
	now := p.clock.Now()
	return &Token{AccessToken: Secret(fmt.Sprintf("at-%s-%d", id, n)), IssuedAt: now, Expiry: now.Add(time.Hour)}, nil
}

// TestCallerPromotesQueuedRefresh: a refresh-ahead fetch waits for its
// admission slot behind callers' fetches, until a caller starts waiting on
// it (its token went stale meanwhile); then it waits as a caller's fetch,
// ahead of the refresh-ahead fetches queued before it.
func TestCallerPromotesQueuedRefresh(t *testing.T) {
	clock := &manualClock{t: time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)}
	p := &orderProvider{clock: clock, release: make(chan struct{})}
	tenants := Tenants{}
	for _, id := range []string{"blocker", "t0", "t1"} {
		tenants[id] = Tenant{ID: id, Provider: p, Credentials: Credentials{ClientID: id}, APIHosts: []string{"api.example"}}
	}
	var evMu sync.Mutex
	var events []FetchEvent
	m, err := New(Config{Tenants: tenants, Clock: clock, Admission: admission.Config{InitialLimit: 1, MaxLimit: 1},
		OnFetch: func(e FetchEvent) { evMu.Lock(); events = append(events, e); evMu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ctx := context.Background()
	for _, id := range []string{"t0", "t1"} {
		if _, err := m.Token(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	ep := p.Endpoint()
	clock.Advance(50 * time.Minute) // the blocker's token would be fresh for the rest of the test
	blocked := make(chan error, 1)
	go func() {
		_, err := m.Token(context.Background(), "blocker")
		blocked <- err
	}()
	waitFor(t, "the blocker to hold the only slot", func() bool { return m.Admission(ep).InFlight == 1 })

	clock.Advance(7 * time.Minute) // inside the refresh window, whatever the jitter
	for _, id := range []string{"t0", "t1"} {
		if _, err := m.Token(ctx, id); err != nil { // served from cache; claims a refresh
			t.Fatal(err)
		}
	}
	waitFor(t, "both refreshes to queue", func() bool { return m.Admission(ep).Queued == 2 })

	clock.Advance(2*time.Minute + 45*time.Second) // past the 30 s margin: t1 is stale
	got := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		tok, err := m.Token(ctx, "t1")
		if err == nil && tok.AccessToken.Reveal() != "at-t1-4" {
			err = fmt.Errorf("t1 got %q, want the refreshed at-t1-4", tok.AccessToken.Reveal())
		}
		got <- err
	}()
	waitFor(t, "the caller to join t1's refresh", func() bool {
		st := m.stripe("t1")
		st.mu.Lock()
		defer st.mu.Unlock()
		f := st.flights["t1"]
		return f != nil && f.promoted.Load()
	})
	if f := func() *flight { st := m.stripe("t0"); st.mu.Lock(); defer st.mu.Unlock(); return st.flights["t0"] }(); f == nil || !f.background() {
		t.Fatal("t0's refresh is not a queued background flight")
	}
	close(p.release)
	if err := <-blocked; err != nil {
		t.Fatal(err)
	}
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	waitFor(t, "t0's refresh", func() bool { p.mu.Lock(); defer p.mu.Unlock(); return len(p.order) == 5 })
	p.mu.Lock()
	order := fmt.Sprint(p.order)
	p.mu.Unlock()
	if want := "[t0 t1 blocker t1 t0]"; order != want {
		t.Fatalf("token requests in order %s, want %s (the joined refresh first)", order, want)
	}
	// The provider records a request before the Manager reports it: wait
	// for the last event too.
	waitFor(t, "five fetch events", func() bool { evMu.Lock(); defer evMu.Unlock(); return len(events) >= 5 })
	evMu.Lock()
	defer evMu.Unlock()
	if len(events) != 5 {
		t.Fatalf("%d fetch events, want 5", len(events))
	}
	// The events of the two refreshes: t1's was joined, t0's nobody's; both
	// waited for the blocker's slot.
	for _, e := range events[3:] {
		if e.Background != (e.TenantID == "t0") || e.Queued <= 0 || e.Endpoint != ep || e.Err != nil {
			t.Errorf("refresh event %+v", e)
		}
	}
	if st := m.Stats().Endpoints; len(st) != 1 || st[0].Endpoint != ep || st[0].Limit != 1 || st[0].InFlight != 0 {
		t.Fatalf("Stats().Endpoints = %+v", st)
	}
}

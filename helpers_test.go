package tenantauth_test

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tenantauth/tenantauth"
	"github.com/tenantauth/tenantauth/breaker"
)

// fakeClock is a Clock that moves only when told.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)} }

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

// fakeProvider issues tokens named after the tenant's ClientID and counts
// what it was asked.
type fakeProvider struct {
	endpoint string
	clock    *fakeClock    // nil: no expiry set
	lifetime time.Duration // with clock
	refresh  bool          // issue refresh tokens

	// hook, when set, decides the answer; nil result and nil error mean
	// "issue a token".
	hook func(ctx context.Context, req tenantauth.TokenRequest) (*tenantauth.Token, error)

	seq      atomic.Int64
	inflight atomic.Int64
	maxIn    atomic.Int64

	mu          sync.Mutex
	calls       map[string]int // ClientID → calls
	grants      map[tenantauth.Grant]int
	refreshUses map[string]int // refresh token → uses
}

func newFakeProvider(endpoint string) *fakeProvider {
	return &fakeProvider{endpoint: endpoint, calls: map[string]int{}, grants: map[tenantauth.Grant]int{}, refreshUses: map[string]int{}}
}

func (p *fakeProvider) Endpoint() string { return p.endpoint }

func (p *fakeProvider) Exchange(ctx context.Context, req tenantauth.TokenRequest) (*tenantauth.Token, error) {
	n := p.inflight.Add(1)
	defer p.inflight.Add(-1)
	for {
		old := p.maxIn.Load()
		if n <= old || p.maxIn.CompareAndSwap(old, n) {
			break
		}
	}
	p.mu.Lock()
	p.calls[req.Credentials.ClientID]++
	p.grants[req.Grant]++
	if req.Grant == tenantauth.GrantRefreshToken {
		p.refreshUses[req.RefreshToken.Reveal()]++
	}
	p.mu.Unlock()
	if p.hook != nil {
		tok, err := p.hook(ctx, req)
		if tok != nil || err != nil {
			return tok, err
		}
	}
	tok := &tenantauth.Token{
		AccessToken: tenantauth.Secret(fmt.Sprintf("at-%s-%d", req.Credentials.ClientID, p.seq.Add(1))),
		TokenType:   "bearer",
	}
	if p.refresh {
		tok.RefreshToken = tenantauth.Secret(fmt.Sprintf("rt-%s-%d", req.Credentials.ClientID, p.seq.Add(1)))
	}
	if p.clock != nil {
		now := p.clock.Now()
		tok.IssuedAt = now
		tok.Expiry = now.Add(p.lifetime)
	}
	return tok, nil
}

func (p *fakeProvider) Calls(clientID string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls[clientID]
}

func (p *fakeProvider) TotalCalls() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, c := range p.calls {
		n += c
	}
	return n
}

func (p *fakeProvider) Grants(g tenantauth.Grant) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.grants[g]
}

func (p *fakeProvider) MaxRefreshUses() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	m := 0
	for _, n := range p.refreshUses {
		m = max(m, n)
	}
	return m
}

// tenantsFor builds n tenants "t0".."t(n-1)" on p; ClientID = tenant ID.
func tenantsFor(p tenantauth.Provider, n int) tenantauth.Tenants {
	ts := tenantauth.Tenants{}
	for i := range n {
		id := fmt.Sprintf("t%d", i)
		ts[id] = tenantauth.Tenant{Provider: p, APIHosts: []string{tenantauth.AnyHost}, Credentials: tenantauth.Credentials{
			ClientID: id, ClientSecret: tenantauth.Secret("cs-" + id + "-SECRET")}}
	}
	return ts
}

func mustManager(t testing.TB, cfg tenantauth.Config) *tenantauth.Manager {
	t.Helper()
	m, err := tenantauth.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// tokenBelongs reports whether tok was issued for tenant id by fakeProvider.
func tokenBelongs(tok *tenantauth.Token, id string) bool {
	return strings.HasPrefix(tok.AccessToken.Reveal(), "at-"+id+"-")
}

// checkNoLeak fails when goroutines started during the test are still
// running: it waits (bounded) for the count to return to before.
func checkNoLeak(t *testing.T, before int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		n := runtime.NumGoroutine()
		if n <= before {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("goroutines: %d before, %d after Close\n%s", before, n, buf)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// breakerWatch is a breaker config whose state changes call f with the new
// state.
func breakerWatch(f func(to string)) breaker.Config {
	return breaker.Config{OnStateChange: func(_ string, _, to breaker.State) { f(to.String()) }}
}

// waitFor polls cond, which other goroutines make true, until it holds or a
// generous deadline passes; it asserts on the state reached, not on how
// long it took.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

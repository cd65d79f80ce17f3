package tenantauth_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/tenantauth/tenantauth"
	"github.com/tenantauth/tenantauth/admission"
	"github.com/tenantauth/tenantauth/breaker"
)

func TestNewRequiresTenants(t *testing.T) {
	if _, err := tenantauth.New(tenantauth.Config{}); err == nil {
		t.Fatal("New without Tenants: want error")
	}
	if _, err := tenantauth.New(tenantauth.Config{Tenants: tenantauth.Tenants{}, CacheSize: -1}); err == nil {
		t.Fatal("negative CacheSize: want error")
	}
}

func TestTokenCachesAndReuses(t *testing.T) {
	p := newFakeProvider("https://idp.example/token")
	m := mustManager(t, tenantauth.Config{Tenants: tenantsFor(p, 1)})
	ctx := context.Background()
	first, err := m.Token(ctx, "t0")
	if err != nil {
		t.Fatal(err)
	}
	for range 100 {
		tok, err := m.Token(ctx, "t0")
		if err != nil || tok != first {
			t.Fatalf("Token = %p, %v; want the cached %p", tok, err, first)
		}
	}
	if got := p.Calls("t0"); got != 1 {
		t.Fatalf("provider calls = %d, want 1", got)
	}
	if got, want := first.Authorization(), "Bearer "+first.AccessToken.Reveal(); got != want {
		t.Fatalf("Authorization() = %q, want %q (canonical type)", got, want)
	}
}

func TestTokenErrors(t *testing.T) {
	p := newFakeProvider("https://idp.example/token")
	m := mustManager(t, tenantauth.Config{Tenants: tenantsFor(p, 1)})
	ctx := context.Background()
	if _, err := m.Token(ctx, ""); !errors.Is(err, tenantauth.ErrNoTenant) {
		t.Errorf("empty tenant: %v, want ErrNoTenant", err)
	}
	if _, err := m.Token(ctx, "nobody"); !errors.Is(err, tenantauth.ErrUnknownTenant) {
		t.Errorf("unknown tenant: %v, want ErrUnknownTenant", err)
	}
	if got := p.TotalCalls(); got != 0 {
		t.Errorf("provider called %d times for bad tenants", got)
	}
	m.Close()
	if _, err := m.Token(ctx, "t0"); !errors.Is(err, tenantauth.ErrClosed) {
		t.Errorf("after Close: %v, want ErrClosed", err)
	}
}

func TestShortLivedTokenIsCached(t *testing.T) {
	clock := newFakeClock()
	p := newFakeProvider("https://idp.example/token")
	p.clock, p.lifetime = clock, 3*time.Second
	m := mustManager(t, tenantauth.Config{Tenants: tenantsFor(p, 1), Clock: clock, RefreshAhead: -1})
	ctx := context.Background()
	first, err := m.Token(ctx, "t0")
	if err != nil {
		t.Fatal(err)
	}
	// The default 30 s skew is capped at a quarter of the 3 s lifetime.
	clock.Advance(2 * time.Second)
	if tok, _ := m.Token(ctx, "t0"); tok != first {
		t.Fatal("3 s token not reused after 2 s: the skew swallowed it")
	}
	clock.Advance(300 * time.Millisecond) // 2.3 s: inside the 750 ms margin
	if tok, _ := m.Token(ctx, "t0"); tok == first {
		t.Fatal("token inside its safety margin was served")
	}
	if got := p.Calls("t0"); got != 2 {
		t.Fatalf("provider calls = %d, want 2", got)
	}
}

func TestHerdOneFetchPerTenant(t *testing.T) {
	p := newFakeProvider("https://idp.example/token")
	gate := make(chan struct{})
	p.hook = func(ctx context.Context, _ tenantauth.TokenRequest) (*tenantauth.Token, error) {
		<-gate // hold every fetch until all callers are waiting
		return nil, nil
	}
	const tenants, callers = 100, 1000
	// Admission off: this holds all 100 fetches in flight at once.
	m := mustManager(t, tenantauth.Config{Tenants: tenantsFor(p, tenants), Admission: admission.Config{Disabled: true}})
	var wg sync.WaitGroup
	var bad atomic.Int64
	var started sync.WaitGroup
	started.Add(callers)
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("t%d", i%tenants)
			started.Done()
			tok, err := m.Token(context.Background(), id)
			if err != nil || !tokenBelongs(tok, id) {
				bad.Add(1)
			}
		}()
	}
	started.Wait()
	// Hold the gate until every tenant's fetch is inside the provider, so
	// that callers pile up behind fetches in flight.
	for deadline := time.Now().Add(10 * time.Second); p.inflight.Load() < tenants; {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d fetches started", p.inflight.Load(), tenants)
		}
		runtime.Gosched()
	}
	close(gate)
	wg.Wait()
	if bad.Load() != 0 {
		t.Fatalf("%d callers got an error or another tenant's token", bad.Load())
	}
	if got := p.TotalCalls(); got != tenants {
		t.Fatalf("provider calls = %d, want exactly %d (one per tenant)", got, tenants)
	}
	for i := range tenants {
		if c := p.Calls(fmt.Sprintf("t%d", i)); c != 1 {
			t.Fatalf("tenant t%d: %d calls", i, c)
		}
	}
}

func TestCallerCancelDoesNotCancelSharedFetch(t *testing.T) {
	p := newFakeProvider("https://idp.example/token")
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	var fetchCtxErr atomic.Value
	p.hook = func(ctx context.Context, _ tenantauth.TokenRequest) (*tenantauth.Token, error) {
		entered <- struct{}{}
		<-release
		if ctx.Err() != nil {
			fetchCtxErr.Store(ctx.Err())
		}
		return nil, nil
	}
	m := mustManager(t, tenantauth.Config{Tenants: tenantsFor(p, 1)})

	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { _, err := m.Token(ctx, "t0"); errc <- err }()
	<-entered
	other := make(chan *tenantauth.Token, 1)
	go func() { tok, _ := m.Token(context.Background(), "t0"); other <- tok }()
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled caller got %v, want context.Canceled", err)
	}
	close(release)
	tok := <-other
	if tok == nil || !tokenBelongs(tok, "t0") {
		t.Fatal("the other caller did not get the token")
	}
	if v := fetchCtxErr.Load(); v != nil {
		t.Fatalf("shared fetch saw its context cancelled: %v", v)
	}
	if got := p.Calls("t0"); got != 1 {
		t.Fatalf("provider calls = %d, want 1", got)
	}
}

func TestFetchTimeoutBoundsSharedFetch(t *testing.T) {
	p := newFakeProvider("https://idp.example/token")
	p.hook = func(ctx context.Context, _ tenantauth.TokenRequest) (*tenantauth.Token, error) {
		<-ctx.Done() // a server that never answers
		return nil, ctx.Err()
	}
	m := mustManager(t, tenantauth.Config{Tenants: tenantsFor(p, 1), FetchTimeout: 20 * time.Millisecond, Retries: -1})
	_, err := m.Token(context.Background(), "t0")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want DeadlineExceeded from the fetch's own deadline", err)
	}
}

func TestRefreshAheadServesOldTokenWhileOneRefreshRuns(t *testing.T) {
	clock := newFakeClock()
	p := newFakeProvider("https://idp.example/token")
	p.clock, p.lifetime = clock, 100*time.Second
	m := mustManager(t, tenantauth.Config{Tenants: tenantsFor(p, 1), Clock: clock, Skew: time.Second, RefreshAhead: 10 * time.Second})
	ctx := context.Background()
	old, err := m.Token(ctx, "t0")
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	refreshing := make(chan struct{}, 1)
	p.hook = func(ctx context.Context, _ tenantauth.TokenRequest) (*tenantauth.Token, error) {
		refreshing <- struct{}{}
		<-release
		return nil, nil
	}
	clock.Advance(95 * time.Second) // inside the refresh window, before the 1 s skew
	var wg sync.WaitGroup
	var notOld atomic.Int64
	for range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if tok, err := m.Token(ctx, "t0"); err != nil || tok != old {
				notOld.Add(1)
			}
		}()
	}
	wg.Wait() // every caller returned while the refresh is still blocked
	if notOld.Load() != 0 {
		t.Fatalf("%d callers did not get the old token at once", notOld.Load())
	}
	<-refreshing
	close(release)
	// Wait (bounded) for the background refresh to land.
	deadline := time.Now().Add(5 * time.Second)
	for {
		tok, _ := m.Token(ctx, "t0")
		if tok != old {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("refresh never replaced the token")
		}
		runtime.Gosched()
	}
	if got := p.Calls("t0"); got != 2 {
		t.Fatalf("provider calls = %d, want 2 (one initial, exactly one refresh)", got)
	}
}

func TestRefreshTokenUsedThenFullGrantFallback(t *testing.T) {
	clock := newFakeClock()
	p := newFakeProvider("https://idp.example/token")
	p.clock, p.lifetime, p.refresh = clock, 10*time.Second, true
	m := mustManager(t, tenantauth.Config{Tenants: tenantsFor(p, 1), Clock: clock, RefreshAhead: -1})
	ctx := context.Background()
	if _, err := m.Token(ctx, "t0"); err != nil {
		t.Fatal(err)
	}
	clock.Advance(9 * time.Second) // stale
	if _, err := m.Token(ctx, "t0"); err != nil {
		t.Fatal(err)
	}
	if g := p.Grants(tenantauth.GrantRefreshToken); g != 1 {
		t.Fatalf("refresh_token grants = %d, want 1", g)
	}
	// Now the server refuses refresh tokens: fall back to the full grant.
	p.hook = func(_ context.Context, req tenantauth.TokenRequest) (*tenantauth.Token, error) {
		if req.Grant == tenantauth.GrantRefreshToken {
			return nil, &tenantauth.TokenError{Endpoint: p.endpoint, StatusCode: 400, Code: "invalid_grant"}
		}
		return nil, nil
	}
	clock.Advance(9 * time.Second)
	tok, err := m.Token(ctx, "t0")
	if err != nil || !tokenBelongs(tok, "t0") {
		t.Fatalf("fallback: %v", err)
	}
	if g := p.Grants(tenantauth.GrantClientCredentials); g != 2 {
		t.Fatalf("client_credentials grants = %d, want 2 (initial + fallback)", g)
	}
	if p.MaxRefreshUses() != 1 {
		t.Fatalf("a refresh token was used %d times", p.MaxRefreshUses())
	}
}

func TestRefreshTokenNeverUsedTwiceConcurrently(t *testing.T) {
	clock := newFakeClock()
	p := newFakeProvider("https://idp.example/token")
	p.clock, p.lifetime, p.refresh = clock, 10*time.Second, true
	// Slow refreshes down so that callers, invalidations and expiry all
	// happen while one is in flight.
	p.hook = func(_ context.Context, req tenantauth.TokenRequest) (*tenantauth.Token, error) {
		if req.Grant == tenantauth.GrantRefreshToken {
			time.Sleep(time.Millisecond)
		}
		return nil, nil
	}
	m := mustManager(t, tenantauth.Config{Tenants: tenantsFor(p, 1), Clock: clock, InvalidateCooldown: -1})
	ctx := context.Background()
	for round := range 20 {
		var wg sync.WaitGroup
		for range 50 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				tok, err := m.Token(ctx, "t0")
				if err != nil {
					t.Error(err)
					return
				}
				if round%3 == 0 {
					m.Invalidate("t0", tok)
				}
			}()
			if round%2 == 0 {
				clock.Advance(100 * time.Millisecond)
			}
		}
		wg.Wait()
		clock.Advance(time.Duration(5+round%5) * time.Second)
	}
	if n := p.MaxRefreshUses(); n > 1 {
		t.Fatalf("a refresh token was used %d times", n)
	}
	if n := p.maxIn.Load(); n > 1 {
		t.Fatalf("%d concurrent token requests for one tenant", n)
	}
}

func TestInvalidateStormCostsOneFetch(t *testing.T) {
	p := newFakeProvider("https://idp.example/token")
	m := mustManager(t, tenantauth.Config{Tenants: tenantsFor(p, 1)})
	ctx := context.Background()
	old, err := m.Token(ctx, "t0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var bad atomic.Int64
	for range 1000 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m.Invalidate("t0", old) // the API said 401 to the old token
			tok, err := m.Token(ctx, "t0")
			if err != nil || tok == old {
				bad.Add(1)
			}
		}()
	}
	wg.Wait()
	if bad.Load() != 0 {
		t.Fatalf("%d callers got an error or the rejected token", bad.Load())
	}
	if got := p.Calls("t0"); got != 2 {
		t.Fatalf("provider calls = %d, want 2 (initial + one after the storm)", got)
	}
}

func TestInvalidateCooldown(t *testing.T) {
	clock := newFakeClock()
	p := newFakeProvider("https://idp.example/token")
	m := mustManager(t, tenantauth.Config{Tenants: tenantsFor(p, 1), Clock: clock, InvalidateCooldown: time.Second})
	ctx := context.Background()
	tok, _ := m.Token(ctx, "t0")
	// An API that rejects every token: each 401 invalidates what it got.
	for range 50 {
		m.Invalidate("t0", tok)
		tok, _ = m.Token(ctx, "t0")
	}
	if got := p.Calls("t0"); got != 2 {
		t.Fatalf("within one cooldown: provider calls = %d, want 2", got)
	}
	clock.Advance(1100 * time.Millisecond)
	m.Invalidate("t0", tok)
	if _, err := m.Token(ctx, "t0"); err != nil {
		t.Fatal(err)
	}
	if got := p.Calls("t0"); got != 3 {
		t.Fatalf("after the cooldown: provider calls = %d, want 3", got)
	}
	// A stale pointer never drops the current token.
	cur, _ := m.Token(ctx, "t0")
	clock.Advance(2 * time.Second)
	m.Invalidate("t0", &tenantauth.Token{AccessToken: cur.AccessToken})
	if again, _ := m.Token(ctx, "t0"); again != cur {
		t.Fatal("Invalidate with another *Token dropped the cached one")
	}
}

func TestBadCredentialsRemembered(t *testing.T) {
	clock := newFakeClock()
	p := newFakeProvider("https://idp.example/token")
	p.hook = func(_ context.Context, req tenantauth.TokenRequest) (*tenantauth.Token, error) {
		if req.Credentials.ClientID == "t0" {
			return nil, &tenantauth.TokenError{Endpoint: p.endpoint, StatusCode: 401, Code: "invalid_client", Description: "Client authentication failed"}
		}
		return nil, nil
	}
	m := mustManager(t, tenantauth.Config{Tenants: tenantsFor(p, 2), Clock: clock, BadCredentialsTTL: 30 * time.Second})
	ctx := context.Background()
	for range 20 {
		_, err := m.Token(ctx, "t0")
		var te *tenantauth.TokenError
		if !errors.Is(err, tenantauth.ErrInvalidCredentials) || !errors.As(err, &te) || te.Code != "invalid_client" {
			t.Fatalf("err = %v, want ErrInvalidCredentials with the TokenError", err)
		}
	}
	if got := p.Calls("t0"); got != 1 {
		t.Fatalf("broken tenant hit the endpoint %d times in its TTL, want 1", got)
	}
	if _, err := m.Token(ctx, "t1"); err != nil {
		t.Fatalf("other tenant: %v", err)
	}
	clock.Advance(31 * time.Second)
	m.Token(ctx, "t0")
	if got := p.Calls("t0"); got != 2 {
		t.Fatalf("after the TTL: calls = %d, want 2", got)
	}
	m.Forget("t0")
	m.Token(ctx, "t0")
	if got := p.Calls("t0"); got != 3 {
		t.Fatalf("after Forget: calls = %d, want 3", got)
	}
}

// errUnavailable is a dead endpoint's answer: a 502 counts against the breaker at once
// (a 503 is an overload refusal the admission limiter handles first).
var errUnavailable = &tenantauth.TokenError{Endpoint: "https://idp.example/token", StatusCode: 502}

func TestBreakerOpensFailsFastServesCachedAndRecovers(t *testing.T) {
	p := newFakeProvider("https://idp.example/token")
	var down atomic.Bool
	p.hook = func(_ context.Context, req tenantauth.TokenRequest) (*tenantauth.Token, error) {
		if down.Load() && req.Credentials.ClientID != "t0" {
			return nil, errUnavailable
		}
		return nil, nil
	}
	var transitions []string
	var tmu sync.Mutex
	m := mustManager(t, tenantauth.Config{
		Tenants: tenantsFor(p, 20),
		Retries: -1,
		Breaker: breaker.Config{ConsecutiveFailures: 3, OpenTimeout: 50 * time.Millisecond,
			OnStateChange: func(_ string, from, to breaker.State) {
				tmu.Lock()
				transitions = append(transitions, from.String()+">"+to.String())
				tmu.Unlock()
			}},
	})
	ctx := context.Background()
	cached, err := m.Token(ctx, "t0")
	if err != nil {
		t.Fatal(err)
	}
	down.Store(true)
	for i := 1; i <= 3; i++ {
		if _, err := m.Token(ctx, fmt.Sprintf("t%d", i)); !errors.Is(err, errUnavailable) {
			t.Fatalf("t%d: %v, want the 503", i, err)
		}
	}
	before := p.TotalCalls()
	for i := 4; i < 20; i++ {
		_, err := m.Token(ctx, fmt.Sprintf("t%d", i))
		if !errors.Is(err, tenantauth.ErrCircuitOpen) || !errors.Is(err, gobreaker.ErrOpenState) {
			t.Fatalf("t%d: %v, want ErrCircuitOpen", i, err)
		}
	}
	if p.TotalCalls() != before {
		t.Fatal("open breaker let requests through")
	}
	if tok, err := m.Token(ctx, "t0"); err != nil || tok != cached {
		t.Fatalf("cached token not served while open: %v", err)
	}
	down.Store(false)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := m.Token(ctx, "t5"); err == nil {
			break
		} else if !errors.Is(err, tenantauth.ErrCircuitOpen) {
			t.Fatalf("while recovering: %v", err)
		}
		if time.Now().After(deadline) {
			t.Fatal("breaker never recovered through half-open")
		}
		time.Sleep(5 * time.Millisecond)
	}
	tmu.Lock()
	defer tmu.Unlock()
	want := []string{"closed>open", "open>half-open", "half-open>closed"}
	if fmt.Sprint(transitions) != fmt.Sprint(want) {
		t.Fatalf("transitions = %v, want %v", transitions, want)
	}
}

func TestBadCredentialsDoNotOpenBreaker(t *testing.T) {
	p := newFakeProvider("https://idp.example/token")
	p.hook = func(_ context.Context, req tenantauth.TokenRequest) (*tenantauth.Token, error) {
		if req.Credentials.ClientID != "good" {
			return nil, &tenantauth.TokenError{Endpoint: p.endpoint, StatusCode: 400, Code: "invalid_grant"}
		}
		return nil, nil
	}
	ts := tenantsFor(p, 50)
	ts["good"] = tenantauth.Tenant{Provider: p, APIHosts: []string{"*"}, Credentials: tenantauth.Credentials{ClientID: "good"}}
	m := mustManager(t, tenantauth.Config{Tenants: ts, Breaker: breaker.Config{ConsecutiveFailures: 2}})
	ctx := context.Background()
	for i := range 50 {
		if _, err := m.Token(ctx, fmt.Sprintf("t%d", i)); !errors.Is(err, tenantauth.ErrInvalidCredentials) {
			t.Fatalf("t%d: %v", i, err)
		}
	}
	if _, err := m.Token(ctx, "good"); err != nil {
		t.Fatalf("good tenant after 50 bad ones: %v (breaker tripped by other tenants' credentials?)", err)
	}
}

func TestTransientFailuresRetried(t *testing.T) {
	p := newFakeProvider("https://idp.example/token")
	var n atomic.Int64
	p.hook = func(_ context.Context, _ tenantauth.TokenRequest) (*tenantauth.Token, error) {
		switch n.Add(1) {
		case 1:
			return nil, &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
		case 2:
			return nil, &tenantauth.TokenError{Endpoint: p.endpoint, StatusCode: 429, RetryAfter: time.Millisecond}
		}
		return nil, nil
	}
	var events []tenantauth.FetchEvent
	var mu sync.Mutex
	m := mustManager(t, tenantauth.Config{Tenants: tenantsFor(p, 1), Retries: 2, RetryBackoff: time.Millisecond,
		OnFetch: func(e tenantauth.FetchEvent) { mu.Lock(); events = append(events, e); mu.Unlock() }})
	if _, err := m.Token(context.Background(), "t0"); err != nil {
		t.Fatalf("after two transient failures: %v", err)
	}
	if got := n.Load(); got != 3 {
		t.Fatalf("attempts = %d, want 3", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(events) != 3 || events[2].Err != nil || events[2].Attempt != 3 {
		t.Fatalf("OnFetch events = %+v", events)
	}
	// A 500 or a refusal is not retried.
	p2 := newFakeProvider("https://idp2.example/token")
	p2.hook = func(context.Context, tenantauth.TokenRequest) (*tenantauth.Token, error) {
		return nil, &tenantauth.TokenError{Endpoint: p2.endpoint, StatusCode: 500}
	}
	m2 := mustManager(t, tenantauth.Config{Tenants: tenantsFor(p2, 1), Retries: 5, RetryBackoff: time.Millisecond})
	m2.Token(context.Background(), "t0")
	if got := p2.TotalCalls(); got != 1 {
		t.Fatalf("500 was attempted %d times, want 1", got)
	}
}

func TestStaleTokenServedWhileEndpointDown(t *testing.T) {
	clock := newFakeClock()
	p := newFakeProvider("https://idp.example/token")
	p.clock, p.lifetime = clock, 100*time.Second
	m := mustManager(t, tenantauth.Config{Tenants: tenantsFor(p, 1), Clock: clock, Skew: 10 * time.Second, RefreshAhead: -1, Retries: -1})
	ctx := context.Background()
	old, _ := m.Token(ctx, "t0")
	p.hook = func(context.Context, tenantauth.TokenRequest) (*tenantauth.Token, error) { return nil, errUnavailable }
	clock.Advance(95 * time.Second) // inside the skew, not expired
	before := p.TotalCalls()
	for range 100 {
		if tok, err := m.Token(ctx, "t0"); err != nil || tok != old {
			t.Fatalf("endpoint down, token not expired: got %v, want the old token", err)
		}
	}
	// The first caller found the endpoint down; the others within the
	// hold-off are served without a fetch (and a tenant lookup) each.
	if got := p.TotalCalls() - before; got != 1 {
		t.Fatalf("100 requests while down made %d token requests, want 1", got)
	}
	clock.Advance(10 * time.Second) // expired
	if _, err := m.Token(ctx, "t0"); !errors.Is(err, errUnavailable) {
		t.Fatalf("expired token while down: %v, want the endpoint's error", err)
	}
}

func TestProviderPanicBecomesError(t *testing.T) {
	p := newFakeProvider("https://idp.example/token")
	p.hook = func(context.Context, tenantauth.TokenRequest) (*tenantauth.Token, error) { panic("boom cs-t0-SECRET") }
	m := mustManager(t, tenantauth.Config{Tenants: tenantsFor(p, 1)})
	_, err := m.Token(context.Background(), "t0")
	if err == nil {
		t.Fatal("want an error from a panicking provider")
	}
	if s := err.Error(); strings.Contains(s, "SECRET") {
		t.Fatalf("panic value leaked into the error: %s", s)
	}
}

func TestTokenForHost(t *testing.T) {
	p := newFakeProvider("https://idp.example/token")
	ts := tenantauth.Tenants{"acme": {Provider: p, Credentials: tenantauth.Credentials{ClientID: "acme"},
		APIHosts: []string{"api.acme.example", "*.acme.test", "127.0.0.1:8443"}}}
	m := mustManager(t, tenantauth.Config{Tenants: ts})
	ctx := context.Background()
	for host, ok := range map[string]bool{
		"api.acme.example": true, "API.ACME.EXAMPLE:443": true, "x.acme.test": true, "acme.test": false,
		"127.0.0.1:8443": true, "127.0.0.1:9000": false, "evil.example": false, "api.acme.example.evil": false,
	} {
		_, err := m.TokenForHost(ctx, "acme", host)
		if ok && err != nil || !ok && !errors.Is(err, tenantauth.ErrHostNotAllowed) {
			t.Errorf("host %q: err = %v, allowed = %v", host, err, ok)
		}
	}
}

func TestEvictionAtCapacity(t *testing.T) {
	p := newFakeProvider("https://idp.example/token")
	m := mustManager(t, tenantauth.Config{Tenants: tenantsFor(p, 100), CacheSize: 10})
	ctx := context.Background()
	for i := range 100 {
		if _, err := m.Token(ctx, fmt.Sprintf("t%d", i)); err != nil {
			t.Fatal(err)
		}
		if n := m.Stats().Cached; n > 10 {
			t.Fatalf("cached %d tenants, capacity 10", n)
		}
	}
	// The most recent tenants are still cached, the first ones were evicted.
	m.Token(ctx, "t99")
	if p.Calls("t99") != 1 {
		t.Fatal("most recent tenant was evicted")
	}
	m.Token(ctx, "t0")
	if p.Calls("t0") != 2 {
		t.Fatal("least recently used tenant was not evicted")
	}
}

func TestTenantIsolationUnderConcurrency(t *testing.T) {
	clock := newFakeClock()
	p := newFakeProvider("https://idp.example/token")
	p.clock, p.lifetime = clock, 4*time.Second
	const tenants, workers, perWorker = 500, 16, 7000 // 112 000 requests
	m := mustManager(t, tenantauth.Config{Tenants: tenantsFor(p, tenants), Clock: clock, CacheSize: 300})
	var wg sync.WaitGroup
	var wrong, failed atomic.Int64
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 7))
			for i := range perWorker {
				id := fmt.Sprintf("t%d", r.IntN(tenants))
				tok, err := m.Token(context.Background(), id)
				switch {
				case err != nil:
					failed.Add(1)
				case !tokenBelongs(tok, id):
					wrong.Add(1)
				}
				if w == 0 && i%500 == 0 {
					clock.Advance(300 * time.Millisecond)
				}
				if i%97 == 0 && tok != nil {
					m.Invalidate(id, tok)
				}
			}
		}()
	}
	wg.Wait()
	if wrong.Load() != 0 || failed.Load() != 0 {
		t.Fatalf("%d requests got another tenant's token, %d failed", wrong.Load(), failed.Load())
	}
}

func TestCloseLeavesNoGoroutine(t *testing.T) {
	before := runtime.NumGoroutine()
	p := newFakeProvider("https://idp.example/token")
	p.hook = func(ctx context.Context, req tenantauth.TokenRequest) (*tenantauth.Token, error) {
		if req.Credentials.ClientID == "hang" {
			<-ctx.Done() // a fetch still running at Close
			return nil, ctx.Err()
		}
		return nil, nil
	}
	ts := tenantsFor(p, 64)
	ts["hang"] = tenantauth.Tenant{Provider: p, APIHosts: []string{"*"}, Credentials: tenantauth.Credentials{ClientID: "hang"}}
	m, err := tenantauth.New(tenantauth.Config{Tenants: ts}) // real (coarse) clock
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				m.Token(context.Background(), fmt.Sprintf("t%d", i))
			}
		}()
	}
	wg.Wait()
	errc := make(chan error, 1)
	entered := make(chan struct{})
	p2hook := p.hook
	p.hook = func(ctx context.Context, req tenantauth.TokenRequest) (*tenantauth.Token, error) {
		close(entered)
		return p2hook(ctx, req)
	}
	go func() { _, err := m.Token(context.Background(), "hang"); errc <- err }()
	<-entered
	m.Close()
	if err := <-errc; !errors.Is(err, tenantauth.ErrClosed) {
		t.Fatalf("waiter of a fetch cut by Close got %v, want ErrClosed", err)
	}
	checkNoLeak(t, before)
}

// TestInvalidateThenTokenUnderContention is the Transport's 401 path done
// by hand: every goroutine that holds the rejected token invalidates it and
// asks again. Exactly one new token may be fetched, and nobody may be handed
// the rejected token after invalidating it.
func TestInvalidateThenTokenUnderContention(t *testing.T) {
	for round := range 20 {
		p := newFakeProvider("https://idp.example/token")
		m := mustManager(t, tenantauth.Config{Tenants: tenantsFor(p, 1)})
		ctx := context.Background()
		old, err := m.Token(ctx, "t0")
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var gotOld atomic.Int64
		start := make(chan struct{})
		for range 500 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				tok, _ := m.Token(ctx, "t0")
				if tok == old {
					m.Invalidate("t0", tok)
					if again, _ := m.Token(ctx, "t0"); again == old {
						gotOld.Add(1)
					}
				}
			}()
		}
		close(start)
		wg.Wait()
		if n := gotOld.Load(); n != 0 {
			t.Fatalf("round %d: %d callers got the rejected token back after Invalidate", round, n)
		}
		if got := p.Calls("t0"); got != 2 {
			t.Fatalf("round %d: provider calls = %d, want 2", round, got)
		}
		m.Close()
	}
}

// A Provider that ends its goroutine with runtime.Goexit (t.FailNow in a
// test double) must not leave the tenant's waiters hanging.
func TestProviderGoexitReleasesWaiters(t *testing.T) {
	p := newFakeProvider("https://idp.example/token")
	var first atomic.Bool
	first.Store(true)
	p.hook = func(context.Context, tenantauth.TokenRequest) (*tenantauth.Token, error) {
		if first.CompareAndSwap(true, false) {
			runtime.Goexit()
		}
		return nil, nil
	}
	m := mustManager(t, tenantauth.Config{Tenants: tenantsFor(p, 1)})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := m.Token(ctx, "t0"); err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("first call: %v, want the provider failure at once", err)
	}
	if tok, err := m.Token(ctx, "t0"); err != nil || !tokenBelongs(tok, "t0") {
		t.Fatalf("second call: %v; the tenant stayed stuck behind the dead fetch", err)
	}
}

// A token issued some time before it reached the Manager keeps only what
// is left of its life.
func TestTokenNeverServedPastExpiry(t *testing.T) {
	clock := newFakeClock()
	p := newFakeProvider("https://idp.example/token")
	p.hook = func(context.Context, tenantauth.TokenRequest) (*tenantauth.Token, error) {
		now := clock.Now()
		return &tenantauth.Token{AccessToken: tenantauth.Secret(fmt.Sprintf("at-t0-%d", p.seq.Add(1))),
			IssuedAt: now.Add(-50 * time.Minute), Expiry: now.Add(10 * time.Minute)}, nil
	}
	m := mustManager(t, tenantauth.Config{Tenants: tenantsFor(p, 1), Clock: clock})
	ctx := context.Background()
	tok, err := m.Token(ctx, "t0")
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(9*time.Minute + 30*time.Second) // inside the 30 s skew of the real expiry
	if again, _ := m.Token(ctx, "t0"); again == tok {
		t.Fatalf("token served %v before its expiry, inside the skew margin", tok.Expiry.Sub(clock.Now()))
	}
	// An already expired token is an error, not a token.
	p.hook = func(context.Context, tenantauth.TokenRequest) (*tenantauth.Token, error) {
		return &tenantauth.Token{AccessToken: "at-t0-x", Expiry: clock.Now().Add(-time.Second)}, nil
	}
	m.Forget("t0")
	if _, err := m.Token(ctx, "t0"); err == nil {
		t.Fatal("expired token accepted")
	}
}

// After Forget (credentials rotated), callers must not join a fetch made
// with the old credentials.
func TestForgetStartsFreshFetch(t *testing.T) {
	p := newFakeProvider("https://idp.example/token")
	release := make(chan struct{})
	started := make(chan struct{})
	p.hook = func(_ context.Context, req tenantauth.TokenRequest) (*tenantauth.Token, error) {
		if req.Credentials.ClientID == "old" {
			close(started)
			<-release
		}
		return nil, nil
	}
	var rotated atomic.Bool
	src := tenantauth.TenantFunc(func(_ context.Context, id string) (tenantauth.Tenant, error) {
		client := "old"
		if rotated.Load() {
			client = "new"
		}
		return tenantauth.Tenant{ID: id, Provider: p, Credentials: tenantauth.Credentials{ClientID: client}}, nil
	})
	m := mustManager(t, tenantauth.Config{Tenants: src})
	oldDone := make(chan *tenantauth.Token, 1)
	go func() { tok, _ := m.Token(context.Background(), "t0"); oldDone <- tok }()
	<-started
	rotated.Store(true)
	m.Forget("t0")
	tok, err := m.Token(context.Background(), "t0")
	if err != nil || !tokenBelongs(tok, "new") {
		t.Fatalf("after Forget: %v, token %v; want one fetched with the new credentials", err, tok)
	}
	close(release)
	if old := <-oldDone; old == nil || !tokenBelongs(old, "old") {
		t.Fatal("the caller that asked before Forget lost its result")
	}
	if again, _ := m.Token(context.Background(), "t0"); again != tok {
		t.Fatal("the old fetch's token replaced the new one in the cache")
	}
}

func TestTokenHitDoesNotAllocate(t *testing.T) {
	p := newFakeProvider("https://idp.example/token")
	m := mustManager(t, tenantauth.Config{Tenants: tenantsFor(p, 10)})
	ctx := context.Background()
	m.Token(ctx, "t3")
	if n := testing.AllocsPerRun(1000, func() { m.TokenForHost(ctx, "t3", "api.example") }); n != 0 {
		t.Fatalf("cache hit allocates %v times", n)
	}
}

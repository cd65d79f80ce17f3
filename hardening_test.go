package tenantauth_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/tenantauth/tenantauth"
	"github.com/tenantauth/tenantauth/breaker"
)

// TestNonTransientRefusalsRemembered: every refusal of a tenant's request
// that asking again cannot change is remembered like bad credentials, with
// Forget as the way out; transient failures are not.
func TestNonTransientRefusalsRemembered(t *testing.T) {
	refusals := map[string]error{
		"invalid_scope":          &tenantauth.TokenError{StatusCode: 400, Code: "invalid_scope"},
		"unsupported_grant_type": &tenantauth.TokenError{StatusCode: 400, Code: "unsupported_grant_type"},
		"403":                    &tenantauth.TokenError{StatusCode: 403},
		"realm does not exist":   &tenantauth.TokenError{StatusCode: 404, Code: "Realm does not exist"},
		"error in a 200":         &tenantauth.TokenError{StatusCode: 200, Code: "invalid_request"},
	}
	for name, refusal := range refusals {
		t.Run(name, func(t *testing.T) {
			p := newFakeProvider("https://idp.example/token")
			p.hook = func(context.Context, tenantauth.TokenRequest) (*tenantauth.Token, error) { return nil, refusal }
			m := mustManager(t, tenantauth.Config{Tenants: tenantsFor(p, 1), Retries: -1})
			for range 200 {
				if _, err := m.Token(context.Background(), "t0"); !errors.Is(err, refusal) {
					t.Fatalf("err = %v; want the refusal", err)
				}
			}
			if n := p.TotalCalls(); n != 1 {
				t.Fatalf("200 calls cost %d token requests; want 1", n)
			}
			m.Forget("t0")
			m.Token(context.Background(), "t0")
			if n := p.TotalCalls(); n != 2 {
				t.Fatalf("after Forget: %d token requests; want 2", n)
			}
		})
	}
	t.Run("transient is not remembered", func(t *testing.T) {
		p := newFakeProvider("https://idp.example/token")
		p.hook = func(context.Context, tenantauth.TokenRequest) (*tenantauth.Token, error) {
			return nil, &tenantauth.TokenError{StatusCode: 503}
		}
		m := mustManager(t, tenantauth.Config{Tenants: tenantsFor(p, 1), Retries: -1})
		for range 3 {
			m.Token(context.Background(), "t0")
		}
		if n := p.TotalCalls(); n != 3 {
			t.Fatalf("3 calls on a 503 cost %d token requests; want 3 (not remembered)", n)
		}
	})
}

// TestDoneContextStartsNothing: a caller that has already left costs no
// tenant lookup and no goroutine.
func TestDoneContextStartsNothing(t *testing.T) {
	before := runtime.NumGoroutine()
	var lookups atomic.Int64
	m := mustManager(t, tenantauth.Config{Tenants: tenantauth.TenantFunc(func(ctx context.Context, id string) (tenantauth.Tenant, error) {
		lookups.Add(1)
		<-ctx.Done()
		return tenantauth.Tenant{}, ctx.Err()
	})})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for i := range 5000 {
		if _, err := m.Token(ctx, fmt.Sprintf("id-%d", i)); !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v; want context.Canceled", err)
		}
	}
	if n := lookups.Load(); n != 0 {
		t.Fatalf("%d tenant lookups for callers already gone; want 0", n)
	}
	if n := runtime.NumGoroutine(); n > before+2 {
		t.Fatalf("goroutines grew from %d to %d", before, n)
	}
}

// TestLookupsBounded: a flood of distinct tenant IDs runs at most
// MaxLookups tenant lookups, and starts at most MaxLookups flights, at
// once; the other callers wait in line without a goroutine of their own and
// are served when slots come back. A caller whose context ends in line
// fails with ErrTooManyLookups and its context's error. Closing leaves no
// goroutine.
func TestLookupsBounded(t *testing.T) {
	before := runtime.NumGoroutine()
	const limit, flood = 8, 500
	var inLookup, maxIn atomic.Int64
	release := make(chan struct{})
	p := newFakeProvider("https://idp.example/token")
	m, err := tenantauth.New(tenantauth.Config{MaxLookups: limit, Tenants: tenantauth.TenantFunc(func(ctx context.Context, id string) (tenantauth.Tenant, error) {
		n := inLookup.Add(1)
		defer inLookup.Add(-1)
		for {
			old := maxIn.Load()
			if n <= old || maxIn.CompareAndSwap(old, n) {
				break
			}
		}
		<-release
		return tenantauth.Tenant{Provider: p, Credentials: tenantauth.Credentials{ClientID: id}}, nil
	})})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var failed, ok atomic.Int64
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := range flood {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := m.Token(ctx, fmt.Sprintf("flood-%d", i)); err != nil {
				failed.Add(1)
				t.Errorf("flood-%d: %v", i, err)
				return
			}
			ok.Add(1)
		}()
	}
	waitFor(t, "every slot to be taken", func() bool { return inLookup.Load() == limit })
	// The rest wait in line: a caller whose context ends there leaves.
	short, cancelShort := context.WithTimeout(context.Background(), time.Millisecond)
	_, err = m.Token(short, "impatient")
	cancelShort()
	if !errors.Is(err, tenantauth.ErrTooManyLookups) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("waiting past its deadline: %v, want ErrTooManyLookups and DeadlineExceeded", err)
	}
	// Flights (goroutines) beyond the callers': at most one per slot.
	if n := runtime.NumGoroutine() - before - flood; n > limit+4 {
		t.Fatalf("%d goroutines beyond the %d callers; want at most %d flights and a few", n, flood, limit)
	}
	close(release)
	wg.Wait()
	if got := maxIn.Load(); got > limit {
		t.Fatalf("%d lookups at once; want at most %d", got, limit)
	}
	if ok.Load() != flood || failed.Load() != 0 {
		t.Fatalf("ok=%d failed=%d; want every caller served once slots came back", ok.Load(), failed.Load())
	}
	if _, err := m.Token(context.Background(), "later"); err != nil {
		t.Fatalf("after the flood: %v", err)
	}
	m.Close()
	checkNoLeak(t, before)
}

// TestStaticUnknownIDCostsNothing: with a Tenants map, an unknown ID is
// refused in the caller: no goroutine, nothing remembered.
func TestStaticUnknownIDCostsNothing(t *testing.T) {
	before := runtime.NumGoroutine()
	m := mustManager(t, tenantauth.Config{Tenants: tenantsFor(newFakeProvider("https://idp.example/token"), 1)})
	for i := range 10_000 {
		if _, err := m.Token(context.Background(), fmt.Sprintf("stranger-%d", i)); !errors.Is(err, tenantauth.ErrUnknownTenant) {
			t.Fatalf("err = %v; want ErrUnknownTenant", err)
		}
	}
	if n := runtime.NumGoroutine(); n > before+2 {
		t.Fatalf("goroutines grew from %d to %d", before, n)
	}
}

// TestTenantIDSpelling: one tenant, one entry. A TenantSource that answers
// for another spelling of an ID (a case-insensitive store) is refused, so
// spellings cannot multiply token requests or outlive Forget.
func TestTenantIDSpelling(t *testing.T) {
	p := newFakeProvider("https://idp.example/token")
	src := tenantauth.TenantFunc(func(_ context.Context, id string) (tenantauth.Tenant, error) {
		if strings.ToLower(id) != "acmecorp" {
			return tenantauth.Tenant{}, tenantauth.ErrUnknownTenant
		}
		return tenantauth.Tenant{ID: "acmecorp", Provider: p, Credentials: tenantauth.Credentials{ClientID: "acmecorp"}}, nil
	})
	m := mustManager(t, tenantauth.Config{Tenants: src})
	if _, err := m.Token(context.Background(), "acmecorp"); err != nil {
		t.Fatal(err)
	}
	for _, spelling := range []string{"ACMECORP", "AcmeCorp", "acmecorP"} {
		_, err := m.Token(context.Background(), spelling)
		if !errors.Is(err, tenantauth.ErrUnknownTenant) || !strings.Contains(err.Error(), `"acmecorp"`) {
			t.Fatalf("Token(%q) err = %v; want ErrUnknownTenant naming the canonical ID", spelling, err)
		}
	}
	if n := p.TotalCalls(); n != 1 {
		t.Fatalf("%d token requests; want 1", n)
	}
	if s := m.Stats(); s.Cached != 1 {
		t.Fatalf("%d cache entries; want 1", s.Cached)
	}
	// A static map whose key and ID differ is refused at New.
	_, err := tenantauth.New(tenantauth.Config{Tenants: tenantauth.Tenants{"key": {ID: "other", Provider: p}}})
	if err == nil || !strings.Contains(err.Error(), `"key"`) {
		t.Fatalf("New with key ≠ ID: err = %v; want a config error naming the key", err)
	}
}

// TestStrangersCannotEvictRefusals: a flood of unknown IDs cannot make the
// Manager forget a known tenant's remembered refusal or its cooldown.
func TestStrangersCannotEvictRefusals(t *testing.T) {
	p := newFakeProvider("https://idp.example/token")
	p.hook = func(_ context.Context, req tenantauth.TokenRequest) (*tenantauth.Token, error) {
		if req.Credentials.ClientID == "bad" {
			return nil, &tenantauth.TokenError{StatusCode: 400, Code: "invalid_grant"}
		}
		return nil, nil
	}
	src := tenantauth.TenantFunc(func(_ context.Context, id string) (tenantauth.Tenant, error) {
		if id != "bad" && id != "good" {
			return tenantauth.Tenant{}, tenantauth.ErrUnknownTenant
		}
		return tenantauth.Tenant{Provider: p, Credentials: tenantauth.Credentials{ClientID: id}}, nil
	})
	m := mustManager(t, tenantauth.Config{Tenants: src, CacheSize: 100, InvalidateCooldown: time.Hour})
	ctx := context.Background()
	m.Token(ctx, "bad")
	good, err := m.Token(ctx, "good")
	if err != nil {
		t.Fatal(err)
	}
	m.Invalidate("good", good) // starts good's cooldown
	fresh, _ := m.Token(ctx, "good")
	for i := range 10_001 {
		m.Token(ctx, fmt.Sprintf("stranger-%d", i))
	}
	if _, err := m.Token(ctx, "bad"); !errors.Is(err, tenantauth.ErrInvalidCredentials) {
		t.Fatalf("err = %v", err)
	}
	if n := p.Calls("bad"); n != 1 {
		t.Fatalf("the bad password reached the IdP %d times; want 1 (refusal forgotten)", n)
	}
	m.Invalidate("good", fresh) // inside the cooldown: kept
	if again, _ := m.Token(ctx, "good"); again != fresh {
		t.Fatal("cooldown forgotten after a flood of unknown IDs")
	}
}

// TestEmptyAPIHostsMeansNone: a tenant without APIHosts sends its token
// nowhere — refused at New for a Tenants map, and at the request for any
// other TenantSource — and AnyHost is the explicit way to allow every host.
func TestEmptyAPIHostsMeansNone(t *testing.T) {
	p := newFakeProvider("https://idp.example/token")
	_, err := tenantauth.New(tenantauth.Config{Tenants: tenantauth.Tenants{"acme": {Provider: p}}})
	if err == nil || !strings.Contains(err.Error(), "APIHosts") {
		t.Fatalf("New with no APIHosts: err = %v; want a config error naming APIHosts", err)
	}
	hosts := map[string][]string{"none": nil, "any": {tenantauth.AnyHost}}
	m := mustManager(t, tenantauth.Config{Tenants: tenantauth.TenantFunc(func(_ context.Context, id string) (tenantauth.Tenant, error) {
		return tenantauth.Tenant{Provider: p, Credentials: tenantauth.Credentials{ClientID: id}, APIHosts: hosts[id]}, nil
	})})
	if _, err := m.TokenForHost(context.Background(), "none", "api.example"); !errors.Is(err, tenantauth.ErrHostNotAllowed) {
		t.Fatalf("no APIHosts: err = %v; want ErrHostNotAllowed", err)
	}
	if _, err := m.TokenForHost(context.Background(), "any", "api.example"); err != nil {
		t.Fatalf("AnyHost: %v", err)
	}
}

// TestErrorsNameTenantAndKeepCause: every fetch error names the tenant and
// the endpoint and keeps its cause reachable; a remembered refusal says
// until when and how to clear it; an open breaker says when it probes
// again and why it opened; an empty ID says so.
func TestErrorsNameTenantAndKeepCause(t *testing.T) {
	netErr := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	p := newFakeProvider("https://idp.example/realms/acme/token")
	var fail atomic.Pointer[error]
	p.hook = func(context.Context, tenantauth.TokenRequest) (*tenantauth.Token, error) {
		return nil, *fail.Load()
	}
	m := mustManager(t, tenantauth.Config{Tenants: tenantsFor(p, 2), Retries: -1,
		Breaker: breaker.Config{ConsecutiveFailures: 1, OpenTimeout: time.Minute}})
	ctx := context.Background()

	refusal := error(&tenantauth.TokenError{Endpoint: p.endpoint, StatusCode: 401, Code: "invalid_client"})
	fail.Store(&refusal)
	_, err := m.Token(ctx, "t0")
	var te *tenantauth.TokenError
	if !errors.As(err, &te) || !strings.Contains(err.Error(), `tenant "t0"`) {
		t.Fatalf("err = %v; want the tenant named and the *TokenError reachable", err)
	}
	_, err = m.Token(ctx, "t0")
	if !errors.As(err, &te) || !strings.Contains(err.Error(), "Forget") || !strings.Contains(err.Error(), "not asked again until") {
		t.Fatalf("remembered refusal: %v; want until when and Forget", err)
	}

	down := error(netErr)
	fail.Store(&down)
	_, err = m.Token(ctx, "t1")
	var ne net.Error
	if !errors.As(err, &ne) || !strings.Contains(err.Error(), `tenant "t1"`) || !strings.Contains(err.Error(), p.endpoint) {
		t.Fatalf("network failure: %v; want tenant, endpoint and the net.Error reachable", err)
	}
	_, err = m.Token(ctx, "t1") // the breaker opened on that failure
	if !errors.Is(err, tenantauth.ErrCircuitOpen) || !strings.Contains(err.Error(), `tenant "t1"`) ||
		!strings.Contains(err.Error(), "probes again at") || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("open breaker: %v; want tenant, next probe and last failure", err)
	}

	_, err = m.Token(ctx, "")
	if !errors.Is(err, tenantauth.ErrNoTenant) || !strings.Contains(err.Error(), "empty") {
		t.Fatalf("empty ID: %v; want ErrNoTenant saying the ID is empty", err)
	}
}

// TestBreakerCountsFetchesNotAttempts: a dead endpoint opens the breaker
// after ConsecutiveFailures fetches, however many attempts each made.
func TestBreakerCountsFetchesNotAttempts(t *testing.T) {
	p := newFakeProvider("https://idp.example/token")
	p.hook = func(context.Context, tenantauth.TokenRequest) (*tenantauth.Token, error) {
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	}
	m := mustManager(t, tenantauth.Config{Tenants: tenantsFor(p, 4), Retries: 2, RetryBackoff: time.Microsecond,
		Breaker: breaker.Config{ConsecutiveFailures: 3, OpenTimeout: time.Hour}})
	ctx := context.Background()
	for i := range 2 {
		if _, err := m.Token(ctx, fmt.Sprintf("t%d", i)); errors.Is(err, tenantauth.ErrCircuitOpen) {
			t.Fatalf("fetch %d: breaker open after %d attempts of %d fetches; want it closed", i+1, p.TotalCalls(), i+1)
		}
	}
	if n := p.TotalCalls(); n != 6 {
		t.Fatalf("%d attempts; want 3 per fetch", n)
	}
	m.Token(ctx, "t2") // the third failed fetch opens it
	before := p.TotalCalls()
	if _, err := m.Token(ctx, "t3"); !errors.Is(err, tenantauth.ErrCircuitOpen) || p.TotalCalls() != before {
		t.Fatalf("after 3 failed fetches: err = %v, %d new attempts; want a fast ErrCircuitOpen", err, p.TotalCalls()-before)
	}
}

// TestBrokenRecordsDoNotOpenBreaker: tenants whose records cannot make a
// request, and tenants whose credentials are refused, requested in a loop,
// neither open the shared endpoint's breaker nor keep a healthy tenant of
// that endpoint from its token; each is remembered after one try.
func TestBrokenRecordsDoNotOpenBreaker(t *testing.T) {
	p := newFakeProvider("https://idp.example/token")
	p.hook = func(_ context.Context, req tenantauth.TokenRequest) (*tenantauth.Token, error) {
		switch {
		case strings.HasPrefix(req.Credentials.ClientID, "broken"):
			return nil, fmt.Errorf("passport: password grant needs Username: %w", tenantauth.ErrIncompleteCredentials)
		case strings.HasPrefix(req.Credentials.ClientID, "unsupported"):
			return nil, fmt.Errorf("keycloak: grant %q: %w", "magic", tenantauth.ErrUnsupportedGrant)
		case strings.HasPrefix(req.Credentials.ClientID, "refused"):
			return nil, &tenantauth.TokenError{StatusCode: 401, Code: "invalid_client"}
		}
		return nil, nil
	}
	ts := tenantauth.Tenants{}
	for _, prefix := range []string{"broken", "unsupported", "refused"} {
		for i := range 10 {
			id := fmt.Sprintf("%s-%d", prefix, i)
			ts[id] = tenantauth.Tenant{Provider: p, APIHosts: []string{"*"}, Credentials: tenantauth.Credentials{ClientID: id}}
		}
	}
	ts["healthy"] = tenantauth.Tenant{Provider: p, APIHosts: []string{"*"}, Credentials: tenantauth.Credentials{ClientID: "healthy"}}
	m := mustManager(t, tenantauth.Config{Tenants: ts, Retries: -1, Breaker: breaker.Config{ConsecutiveFailures: 2}})
	ctx := context.Background()
	for range 5 {
		for id := range ts {
			if id == "healthy" {
				continue
			}
			if _, err := m.Token(ctx, id); errors.Is(err, tenantauth.ErrCircuitOpen) {
				t.Fatalf("%s: breaker opened: %v", id, err)
			}
		}
		m.Forget("healthy")
		if _, err := m.Token(ctx, "healthy"); err != nil {
			t.Fatalf("healthy tenant: %v", err)
		}
	}
	if n := p.TotalCalls() - p.Calls("healthy"); n != 30 {
		t.Fatalf("broken tenants made %d token requests in 5 rounds; want 30 (each remembered after one)", n)
	}
}

// TestRefreshesNotSynchronised: tokens issued at once with the same
// lifetime start their refresh-ahead at spread-out points of the window,
// not all at its start.
func TestRefreshesNotSynchronised(t *testing.T) {
	clock := newFakeClock()
	p := newFakeProvider("https://idp.example/token")
	p.clock, p.lifetime = clock, time.Hour
	const n = 1000
	m := mustManager(t, tenantauth.Config{Tenants: tenantsFor(p, n), Clock: clock, CacheSize: n})
	ctx := context.Background()
	for i := range n {
		if _, err := m.Token(ctx, fmt.Sprintf("t%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	// One hour, 30 s skew, a 5 min window: refreshes are due from 54 min
	// 30 s, spread over the window's first half. A quarter in, about half
	// of them are due.
	clock.Advance(54*time.Minute + 30*time.Second + 75*time.Second)
	for i := range n {
		m.Token(ctx, fmt.Sprintf("t%d", i))
	}
	if got := m.Stats().Refreshes; got < n/10 || got > n*9/10 {
		t.Fatalf("%d of %d refreshes due a quarter into the window; want them spread (about half)", got, n)
	}
}

// TestRefreshClaimReleasedWhenNotStarted: a hit that claims a token's
// refresh while no refresh can start (the lookups are saturated) releases
// the claim, so a later hit starts the refresh instead of the tenant
// waiting on a blocking miss when the token goes stale.
func TestRefreshClaimReleasedWhenNotStarted(t *testing.T) {
	clock := newFakeClock()
	p := newFakeProvider("https://idp.example/token")
	p.clock, p.lifetime = clock, time.Hour
	release := make(chan struct{})
	m := mustManager(t, tenantauth.Config{Tenants: blockingSource(p, release), Clock: clock, MaxLookups: 1})
	ctx := context.Background()
	if _, err := m.Token(ctx, "t0"); err != nil {
		t.Fatal(err)
	}
	blocked := holdLookupSlot(t, m)
	clock.Advance(57 * time.Minute) // inside the refresh window, whatever the jitter
	m.Token(ctx, "t0")              // claims the refresh; no slot to start it
	if got := m.Stats().Refreshes; got != 0 {
		t.Fatalf("%d refreshes started without a lookup slot", got)
	}
	close(release)
	<-blocked
	clock.Advance(31 * time.Second) // past the hold-off, still before stale
	m.Token(ctx, "t0")
	if got := m.Stats().Refreshes; got != 1 {
		t.Fatalf("%d refreshes after the slot came back; want 1 (the claim was not released)", got)
	}
}

// TestBusyLookupsServeStaleToken: when no lookup slot is free, a tenant
// whose token is past its margin but not expired gets that token rather
// than ErrTooManyLookups.
func TestBusyLookupsServeStaleToken(t *testing.T) {
	clock := newFakeClock()
	p := newFakeProvider("https://idp.example/token")
	p.clock, p.lifetime = clock, time.Hour
	release := make(chan struct{})
	m := mustManager(t, tenantauth.Config{Tenants: blockingSource(p, release), Clock: clock, MaxLookups: 1})
	ctx := context.Background()
	first, err := m.Token(ctx, "t0")
	if err != nil {
		t.Fatal(err)
	}
	blocked := holdLookupSlot(t, m)
	clock.Advance(59*time.Minute + 45*time.Second) // past the 30 s margin, before expiry
	got, err := m.Token(ctx, "t0")
	if err != nil || got != first {
		t.Fatalf("stale but valid token: %v, %v; want the cached token", got, err)
	}
	close(release)
	<-blocked
}

// blockingSource is a TenantSource whose lookup of "blocker" waits for
// release; every other ID is a tenant of p.
func blockingSource(p *fakeProvider, release <-chan struct{}) tenantauth.TenantFunc {
	return func(ctx context.Context, id string) (tenantauth.Tenant, error) {
		if id == "blocker" {
			<-release
		}
		return tenantauth.Tenant{Provider: p, APIHosts: []string{"*"}, Credentials: tenantauth.Credentials{ClientID: id}}, nil
	}
}

// holdLookupSlot starts a call for "blocker" and returns once its lookup
// holds m's only lookup slot (other lookups wait, then fail with
// ErrTooManyLookups).
// The returned channel closes when that call returns.
func holdLookupSlot(t *testing.T, m *tenantauth.Manager) <-chan struct{} {
	t.Helper()
	ctx := context.Background()
	blocked := make(chan struct{})
	go func() {
		defer close(blocked)
		m.Token(ctx, "blocker") // waits in line if a probe holds the slot
	}()
	for deadline := time.Now().Add(5 * time.Second); ; {
		// A probe waits in line for a slot: a short deadline ends its
		// wait when the blocker holds the slot.
		probe, cancel := context.WithTimeout(ctx, time.Millisecond)
		_, err := m.Token(probe, "probe")
		cancel()
		if errors.Is(err, tenantauth.ErrTooManyLookups) {
			return blocked
		}
		if time.Now().After(deadline) {
			t.Fatal("the blocker never took the lookup slot")
		}
		m.Forget("probe")
		runtime.Gosched()
	}
}

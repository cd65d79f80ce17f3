package tenantauth_test

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tenantauth/tenantauth"
	"github.com/tenantauth/tenantauth/breaker"
	"github.com/tenantauth/tenantauth/shared"
)

// recordingStore is a shared.Memory that remembers every key, value and
// message written to it, for the secrecy checks, and can hand out a
// replacement value for a key (a tampering attacker).
type recordingStore struct {
	*shared.Memory
	mu       sync.Mutex
	written  map[string][]byte
	messages [][]byte
}

func newRecordingStore() *recordingStore {
	return &recordingStore{Memory: shared.NewMemory(shared.MemoryConfig{}), written: map[string][]byte{}}
}

func (s *recordingStore) Set(ctx context.Context, key string, v []byte, ttl time.Duration, f shared.Fence) error {
	s.mu.Lock()
	s.written[key] = bytes.Clone(v)
	s.mu.Unlock()
	return s.Memory.Set(ctx, key, v, ttl, f)
}

func (s *recordingStore) Publish(ctx context.Context, msg []byte) error {
	s.mu.Lock()
	s.messages = append(s.messages, bytes.Clone(msg))
	s.mu.Unlock()
	return s.Memory.Publish(ctx, msg)
}

func (s *recordingStore) keys() map[string][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string][]byte, len(s.written))
	for k, v := range s.written {
		out[k] = v
	}
	return out
}

var (
	keyA = tenantauth.SharedKey{ID: "2026-12", Secret: tenantauth.Secret(strings.Repeat("a", 32))}
	keyB = tenantauth.SharedKey{ID: "2027-01", Secret: tenantauth.Secret(strings.Repeat("b", 32))}
)

// realTimeTokens is a fakeProvider hook issuing one-hour tokens named
// after the tenant on the real clock (only tokens with an expiry are
// shared), each request taking latency, as a real one takes a while.
func realTimeTokens(p *fakeProvider, latency time.Duration) func(context.Context, tenantauth.TokenRequest) (*tenantauth.Token, error) {
	return func(ctx context.Context, req tenantauth.TokenRequest) (*tenantauth.Token, error) {
		time.Sleep(latency)
		now := time.Now()
		return &tenantauth.Token{
			AccessToken:  tenantauth.Secret(fmt.Sprintf("at-%s-%d", req.Credentials.ClientID, p.seq.Add(1))),
			RefreshToken: tenantauth.Secret(fmt.Sprintf("rt-%s-%d", req.Credentials.ClientID, p.seq.Add(1))),
			TokenType:    "bearer", IssuedAt: now, Expiry: now.Add(time.Hour),
		}, nil
	}
}

// replicas returns n Managers over p's tenants sharing store, closed (and
// checked for leaked goroutines) when the test ends.
func replicas(t *testing.T, n int, p *fakeProvider, tenants int, store shared.Store, cfg tenantauth.Config) []*tenantauth.Manager {
	t.Helper()
	before := runtime.NumGoroutine()
	ms := make([]*tenantauth.Manager, n)
	for i := range ms {
		c := cfg
		c.Tenants = tenantsFor(p, tenants)
		c.CacheSize = max(tenants, 16)
		if c.Shared.Store == nil {
			c.Shared.Store = store
		}
		if c.Shared.Keys == nil {
			c.Shared.Keys = []tenantauth.SharedKey{keyA}
		}
		m, err := tenantauth.New(c)
		if err != nil {
			t.Fatal(err)
		}
		ms[i] = m
	}
	t.Cleanup(func() {
		for _, m := range ms {
			m.Close()
		}
		checkNoLeak(t, before)
	})
	return ms
}

// TestReplicasFetchEachTokenOnce: 10 replicas, 500 cold tenants, every
// replica asking for every tenant at once: one token request per tenant in
// the whole cluster. (The 1 000-tenant version runs against a real Redis
// in shared/redis; here the CPU burst of 10 000 goroutines under -race
// would starve the packages tested beside it.)
func TestReplicasFetchEachTokenOnce(t *testing.T) {
	const n, tenants = 10, 500
	p := newFakeProvider("https://idp.example/token")
	p.hook = realTimeTokens(p, 2*time.Millisecond)
	// 10 000 callers at once under the race detector on a loaded machine
	// make every call slow (this test has taken 15 s in CI): a budget, lock
	// and wait that large test the protocol, not the store's or the
	// scheduler's speed (a lock that expires mid-fetch lets a waiter fetch
	// too, by design).
	ms := replicas(t, n, p, tenants, shared.NewMemory(shared.MemoryConfig{}),
		tenantauth.Config{FetchTimeout: 5 * time.Minute, Shared: tenantauth.SharedConfig{
			Budget: time.Minute, LockTTL: 2 * time.Minute, Wait: 2 * time.Minute}})
	var wg sync.WaitGroup
	errs := make(chan error, n*tenants)
	for _, m := range ms {
		for i := range tenants {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				id := fmt.Sprintf("t%d", i)
				tok, err := m.Token(ctx, id)
				if err == nil && !tokenBelongs(tok, id) {
					err = fmt.Errorf("%s got %q", id, tok.AccessToken.Reveal())
				}
				if err != nil {
					errs <- err
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got := p.TotalCalls(); got != tenants {
		var sum tenantauth.SharedStats
		for _, m := range ms {
			st := m.Stats().Shared
			sum.Waited += st.Waited
			sum.Hits += st.Hits
			sum.Errors += st.Errors
		}
		t.Fatalf("%d token requests for %d tenants on %d replicas (%+v); want one per tenant", got, tenants, n, sum)
	}
}

// TestReplicasRefreshOnceWithRotatingTokens: across many refresh cycles on
// 10 replicas, each refresh token is used once (a rotating server would
// refuse a second use and end the session), and each cycle costs one token
// request in the cluster.
func TestReplicasRefreshOnceWithRotatingTokens(t *testing.T) {
	const n, cycles = 10, 20
	clock := newFakeClock()
	p := newFakeProvider("https://idp.example/token")
	p.clock, p.lifetime, p.refresh = clock, time.Hour, true
	store := shared.NewMemory(shared.MemoryConfig{Now: clock.Now})
	ms := replicas(t, n, p, 1, store, tenantauth.Config{Clock: clock,
		Shared: tenantauth.SharedConfig{Budget: 10 * time.Second}})
	ctx := context.Background()
	get := func() {
		var wg sync.WaitGroup
		for _, m := range ms {
			for range 5 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if tok, err := m.Token(ctx, "t0"); err != nil || !tokenBelongs(tok, "t0") {
						t.Errorf("Token: %v", err)
					}
				}()
			}
		}
		wg.Wait()
	}
	get()
	for range cycles {
		// Past the margin: every replica's copy is stale at once.
		clock.Advance(59*time.Minute + 45*time.Second)
		get()
	}
	if got := p.MaxRefreshUses(); got > 1 {
		t.Fatalf("a refresh token was used %d times", got)
	}
	if got, want := p.TotalCalls(), 1+cycles; got != want {
		t.Fatalf("%d token requests over %d cycles on %d replicas; want %d", got, cycles, n, want)
	}
	if got := p.Grants(tenantauth.GrantRefreshToken); got != cycles {
		t.Fatalf("%d refresh grants, want %d (one per cycle, under the lock)", got, cycles)
	}
}

// TestReplicasInvalidationReachesEveryReplica: a 401 handled on one replica
// drops that token on every replica (they all stop sending it), and the
// cluster makes exactly one new token request.
func TestReplicasInvalidationReachesEveryReplica(t *testing.T) {
	const n = 5
	p := newFakeProvider("https://idp.example/token")
	p.hook = realTimeTokens(p, 0)
	ms := replicas(t, n, p, 1, shared.NewMemory(shared.MemoryConfig{}),
		tenantauth.Config{Shared: tenantauth.SharedConfig{Budget: 10 * time.Second}})
	ctx := context.Background()
	var old *tenantauth.Token
	for _, m := range ms {
		tok, err := m.Token(ctx, "t0")
		if err != nil {
			t.Fatal(err)
		}
		if old != nil && tok.AccessToken != old.AccessToken {
			t.Fatalf("replicas hold different tokens: %q, %q", old.AccessToken.Reveal(), tok.AccessToken.Reveal())
		}
		old = tok
	}
	if p.TotalCalls() != 1 {
		t.Fatalf("%d token requests to warm %d replicas, want 1", p.TotalCalls(), n)
	}
	// Invalidate takes the token as the replica handed it out.
	mine, err := ms[0].Token(ctx, "t0")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	ms[0].Invalidate("t0", mine)
	// Every replica stops sending the rejected token. (Asserted on state,
	// not time: how long it took is logged.)
	for i, m := range ms {
		waitFor(t, fmt.Sprintf("replica %d to drop the token", i), func() bool {
			tok, err := m.Token(ctx, "t0")
			return err == nil && tok.AccessToken != old.AccessToken
		})
	}
	t.Logf("every replica dropped the rejected token %v after Invalidate", time.Since(start))
	if got := p.TotalCalls(); got != 2 {
		t.Fatalf("%d token requests after the invalidation, want 2 (one new token for the cluster)", got)
	}
}

// TestReplicasForgetPropagates: Forget on one replica drops the tenant
// everywhere.
func TestReplicasForgetPropagates(t *testing.T) {
	p := newFakeProvider("https://idp.example/token")
	p.hook = realTimeTokens(p, 0)
	ms := replicas(t, 3, p, 1, shared.NewMemory(shared.MemoryConfig{}),
		tenantauth.Config{Shared: tenantauth.SharedConfig{Budget: 10 * time.Second}})
	ctx := context.Background()
	old, _ := ms[0].Token(ctx, "t0")
	for _, m := range ms[1:] {
		m.Token(ctx, "t0")
	}
	ms[0].Forget("t0")
	for i, m := range ms {
		waitFor(t, fmt.Sprintf("replica %d to forget", i), func() bool {
			tok, err := m.Token(ctx, "t0")
			return err == nil && tok.AccessToken != old.AccessToken
		})
	}
}

// TestReplicasStoreDownOrSlow: a store that is down or hangs never fails a
// request and never holds one past its budget for long; the Manager shares
// again once the store is back.
func TestReplicasStoreDownOrSlow(t *testing.T) {
	p := newFakeProvider("https://idp.example/token")
	p.hook = realTimeTokens(p, 0)
	store := shared.NewMemory(shared.MemoryConfig{})
	ms := replicas(t, 2, p, 2000, store, tenantauth.Config{Shared: tenantauth.SharedConfig{
		Budget: 20 * time.Millisecond, Breaker: breakerWithOpenTimeout(200 * time.Millisecond)}})
	ctx := context.Background()
	store.SetDown(true)
	for i := range 10 {
		if _, err := ms[0].Token(ctx, fmt.Sprintf("t%d", i)); err != nil {
			t.Fatalf("store down: %v", err)
		}
	}
	store.SetDown(false)
	store.SetDelay(time.Hour) // hangs: every call ends at its budget
	for i := 10; i < 20; i++ {
		if _, err := ms[0].Token(ctx, fmt.Sprintf("t%d", i)); err != nil {
			t.Fatalf("store hanging: %v", err)
		}
	}
	if ms[0].Stats().Shared.Errors == 0 {
		t.Fatal("no store errors counted while it was down and hanging")
	}
	store.SetDelay(0)
	// Back: after the breaker's open timeout, a token one replica fetches
	// is found by the other.
	next := 20
	waitFor(t, "sharing to resume", func() bool {
		id := fmt.Sprintf("t%d", next)
		next++
		before := p.TotalCalls()
		ms[0].Token(ctx, id)
		ms[1].Token(ctx, id)
		time.Sleep(10 * time.Millisecond) // a new tenant per try: do not run out of them
		return p.TotalCalls() == before+1
	})
}

// TestReplicasLockHolderDies: a replica holding a tenant's lock that never
// stores a token nor unlocks holds the others up at most SharedConfig.Wait.
func TestReplicasLockHolderDies(t *testing.T) {
	p := newFakeProvider("https://idp.example/token")
	p.hook = realTimeTokens(p, 0)
	store := shared.NewMemory(shared.MemoryConfig{})
	ms := replicas(t, 1, p, 1, store, tenantauth.Config{Shared: tenantauth.SharedConfig{
		Budget: 10 * time.Second, LockTTL: time.Hour / 2, Wait: 100 * time.Millisecond}, FetchTimeout: time.Hour})
	// The dead replica's lock, taken under the name the Manager uses.
	if _, ok, err := store.Lock(context.Background(), "tenantauth:lock:t0", time.Hour/2); !ok || err != nil {
		t.Fatal(ok, err)
	}
	tok, err := ms[0].Token(context.Background(), "t0")
	if err != nil || !tokenBelongs(tok, "t0") {
		t.Fatalf("with the lock held by a dead replica: %v", err)
	}
	if st := ms[0].Stats().Shared; st.Waited != 1 {
		t.Fatalf("%+v: want one wait for the lock holder", st)
	}
}

// TestReplicasSealedValues: nothing in the store or on its channel shows a
// token or (with NameKey) a tenant ID; tampered, moved, unknown-key values
// are misses, never a wrong token; after a key rotation old values are
// still read.
func TestReplicasSealedValues(t *testing.T) {
	p := newFakeProvider("https://idp.example/token")
	p.hook = realTimeTokens(p, 0)
	store := newRecordingStore()
	cfg := tenantauth.Config{Shared: tenantauth.SharedConfig{Budget: 10 * time.Second,
		NameKey: "names-are-hashed-under-this-key"}}
	ms := replicas(t, 1, p, 3, store, cfg)
	ctx := context.Background()
	tokens := map[string]string{}
	for _, id := range []string{"t0", "t1"} {
		tok, err := ms[0].Token(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		tokens[id] = tok.AccessToken.Reveal()
	}
	ms[0].Invalidate("t1", nil) // nothing
	// Tokens are stored in the background, after the callers have them.
	waitFor(t, "both values stored", func() bool { return len(store.keys()) == 2 })
	written := store.keys()
	if len(written) != 2 {
		t.Fatalf("%d values written, want 2", len(written))
	}
	store.mu.Lock()
	messages := store.messages
	store.mu.Unlock()
	for k, v := range written {
		for id, tok := range tokens {
			// Key names are text: no tenant ID in them. Values and
			// messages are ciphertext, in which a two-byte ID like "t0"
			// turns up by chance; the tokens are long enough not to.
			if strings.Contains(k, id) {
				t.Fatalf("key name %q shows tenant %q in clear", k, id)
			}
			for _, b := range append([][]byte{[]byte(k), v}, messages...) {
				if bytes.Contains(b, []byte(tok)) || bytes.Contains(b, []byte("rt-"+id+"-")) {
					t.Fatalf("the store or its channel shows %q (or its refresh token) in clear: %q", tok, b)
				}
			}
		}
	}

	// A second replica with other settings reads these values.
	read := func(cfg tenantauth.SharedConfig, id string) (*tenantauth.Token, tenantauth.SharedStats) {
		t.Helper()
		p2 := newFakeProvider("https://idp.example/token")
		p2.hook = func(context.Context, tenantauth.TokenRequest) (*tenantauth.Token, error) {
			return &tenantauth.Token{AccessToken: "fresh-from-idp", Expiry: time.Now().Add(time.Hour)}, nil
		}
		cfg.Budget, cfg.NameKey = 10*time.Second, "names-are-hashed-under-this-key"
		r := replicas(t, 1, p2, 3, store, tenantauth.Config{Shared: cfg})[0]
		tok, err := r.Token(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return tok, r.Stats().Shared
	}
	// Rotated keys: the new key first, the old one still listed.
	if tok, st := read(tenantauth.SharedConfig{Keys: []tenantauth.SharedKey{keyB, keyA}}, "t0"); tok.AccessToken.Reveal() != tokens["t0"] || st.Hits != 1 {
		t.Fatalf("after rotation: %q (%+v), want the stored token", tok.AccessToken.Reveal(), st)
	}
	// Unknown key: a miss.
	if tok, st := read(tenantauth.SharedConfig{Keys: []tenantauth.SharedKey{keyB}}, "t0"); tok.AccessToken != "fresh-from-idp" || st.Unreadable == 0 {
		t.Fatalf("unknown key: %q (%+v), want a miss", tok.AccessToken.Reveal(), st)
	}
	// Tampering: flip one byte of every stored value.
	for k, v := range written {
		bad := bytes.Clone(v)
		bad[len(bad)-1] ^= 1
		if err := store.Memory.Set(ctx, k, bad, time.Hour, shared.Fence{}); err != nil {
			t.Fatal(err)
		}
	}
	if tok, st := read(tenantauth.SharedConfig{Keys: []tenantauth.SharedKey{keyA}}, "t0"); tok.AccessToken != "fresh-from-idp" || st.Unreadable == 0 {
		t.Fatalf("tampered: %q (%+v), want a miss", tok.AccessToken.Reveal(), st)
	}
}

// TestReplicasMovedValue: a value copied under another tenant's key does
// not open for that tenant (the tenant ID is bound to the ciphertext).
func TestReplicasMovedValue(t *testing.T) {
	p := newFakeProvider("https://idp.example/token")
	p.hook = realTimeTokens(p, 0)
	store := shared.NewMemory(shared.MemoryConfig{})
	m := replicas(t, 1, p, 3, store, tenantauth.Config{Shared: tenantauth.SharedConfig{Budget: 10 * time.Second}})[0]
	ctx := context.Background()
	if _, err := m.Token(ctx, "t0"); err != nil {
		t.Fatal(err)
	}
	var v []byte
	waitFor(t, "t0's value stored", func() bool {
		var err error
		v, err = store.Get(ctx, "tenantauth:token:t0")
		return err == nil
	})
	if err := store.Set(ctx, "tenantauth:token:t2", v, time.Hour, shared.Fence{}); err != nil {
		t.Fatal(err)
	}
	tok, err := m.Token(ctx, "t2")
	if err != nil || !tokenBelongs(tok, "t2") {
		t.Fatalf("t2 with t0's value under its key: %v, %v; want t2's own token", tok, err)
	}
	if st := m.Stats().Shared; st.Unreadable == 0 {
		t.Fatalf("%+v: want the moved value counted unreadable", st)
	}
}

func breakerWithOpenTimeout(d time.Duration) breaker.Config {
	return breaker.Config{OpenTimeout: d}
}

// TestReplicasDoNotShareDPoPTokens: a DPoP-bound token is bound to the key
// of the replica that fetched it, so it is not shared: each replica fetches
// its own.
func TestReplicasDoNotShareDPoPTokens(t *testing.T) {
	p := newFakeProvider("https://idp.example/token")
	realTime := realTimeTokens(p, 0)
	p.hook = func(ctx context.Context, req tenantauth.TokenRequest) (*tenantauth.Token, error) {
		tok, err := realTime(ctx, req)
		if tok != nil {
			tok.TokenType = "DPoP"
		}
		return tok, err
	}
	store := newRecordingStore()
	ms := replicas(t, 2, p, 1, store, tenantauth.Config{Shared: tenantauth.SharedConfig{Budget: 10 * time.Second}})
	ctx := context.Background()
	for _, m := range ms {
		if tok, err := m.Token(ctx, "t0"); err != nil || !tok.IsDPoP() {
			t.Fatalf("Token: %v, %v", tok, err)
		}
	}
	if got := p.TotalCalls(); got != 2 {
		t.Fatalf("%d token requests for two replicas' DPoP-bound tokens, want 2 (one each)", got)
	}
	ms[0].Close()
	ms[1].Close() // waits for background writes, if any were made
	if n := len(store.keys()); n != 0 {
		t.Fatalf("%d values written; DPoP-bound tokens must not be shared", n)
	}
}

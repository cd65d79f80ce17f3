package tenantauth_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tenantauth/tenantauth"
	"github.com/tenantauth/tenantauth/breaker"
	"github.com/tenantauth/tenantauth/middleware/httpauth"
)

// recorder is an Observer that keeps every event.
type recorder struct {
	mu       sync.Mutex
	starts   []tenantauth.FetchStart
	callers  []context.Context
	dones    []tenantauth.FetchDone
	doneCtx  []context.Context
	attempts []tenantauth.FetchEvent
	breakers []tenantauth.BreakerChange
	invalid  []tenantauth.Invalidation
	recov    []tenantauth.Recovery
	shared   []tenantauth.SharedStoreEvent
}

type fetchKey struct{}

func (r *recorder) FetchStart(caller, fetch context.Context, e tenantauth.FetchStart) context.Context {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.starts = append(r.starts, e)
	r.callers = append(r.callers, caller)
	return context.WithValue(fetch, fetchKey{}, e.TenantID)
}

func (r *recorder) FetchDone(ctx context.Context, e tenantauth.FetchDone) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.dones = append(r.dones, e)
	r.doneCtx = append(r.doneCtx, ctx)
}

func (r *recorder) Attempt(ctx context.Context, e tenantauth.FetchEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if ctx.Value(fetchKey{}) != e.TenantID {
		panic("Attempt without FetchStart's context")
	}
	r.attempts = append(r.attempts, e)
}

func (r *recorder) BreakerChange(e tenantauth.BreakerChange) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.breakers = append(r.breakers, e)
}

func (r *recorder) Invalidated(e tenantauth.Invalidation) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.invalid = append(r.invalid, e)
}

func (r *recorder) Recovery(e tenantauth.Recovery) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recov = append(r.recov, e)
}

func (r *recorder) SharedStore(e tenantauth.SharedStoreEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.shared = append(r.shared, e)
}

type callerKey struct{}

// TestObserverHerd: a herd of callers of one cold tenant is one fetch: one
// FetchStart (with the first caller's context), one attempt, one FetchDone
// counting every waiter, with the FetchStart context passed on.
func TestObserverHerd(t *testing.T) {
	p := newFakeProvider("https://idp.example/token")
	release := make(chan struct{})
	p.hook = func(ctx context.Context, _ tenantauth.TokenRequest) (*tenantauth.Token, error) {
		<-release
		return nil, nil
	}
	rec := &recorder{}
	m := mustManager(t, tenantauth.Config{Tenants: tenantsFor(p, 1), Observer: rec})
	const n = 50
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.WithValue(context.Background(), callerKey{}, i), time.Minute)
			defer cancel()
			if _, err := m.Token(ctx, "t0"); err != nil {
				t.Error(err)
			}
		}()
	}
	waitFor(t, "the herd to wait", func() bool {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		return len(rec.starts) == 1 && p.inflight.Load() == 1
	})
	close(release)
	wg.Wait()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.starts) != 1 || len(rec.dones) != 1 || len(rec.attempts) != 1 {
		t.Fatalf("%d starts, %d dones, %d attempts; want 1 each", len(rec.starts), len(rec.dones), len(rec.attempts))
	}
	if rec.callers[0].Value(callerKey{}) == nil {
		t.Fatal("FetchStart's caller context is not a caller's")
	}
	d := rec.dones[0]
	if d.TenantID != "t0" || d.Endpoint != "https://idp.example/token" || d.Grant != tenantauth.GrantClientCredentials ||
		d.Source != tenantauth.SourceEndpoint || d.Background || d.Attempts != 1 || d.Err != nil || d.Waiters < 1 || d.Waiters > n {
		t.Fatalf("FetchDone = %+v", d)
	}
	if rec.doneCtx[0].Value(fetchKey{}) != "t0" {
		t.Fatal("FetchDone did not get FetchStart's context")
	}
}

// TestObserverEvents: a refresh-ahead fetch is reported as background, a
// refused tenant's fetch with its error, a breaker's opening, an
// invalidation and a 401 recovered through httpauth; and hits are counted
// (sampled) only with an Observer.
func TestObserverEvents(t *testing.T) {
	clock := newFakeClock()
	p := newFakeProvider("https://idp.example/token")
	p.clock, p.lifetime = clock, time.Hour
	rec := &recorder{}
	ts := tenantsFor(p, 2)
	bad := ts["t1"]
	bad.Credentials.ClientID = "bad"
	ts["t1"] = bad
	p.hook = func(_ context.Context, req tenantauth.TokenRequest) (*tenantauth.Token, error) {
		if req.Credentials.ClientID == "bad" {
			return nil, &tenantauth.TokenError{Endpoint: p.endpoint, StatusCode: 401, Code: "invalid_client"}
		}
		return nil, nil
	}
	m := mustManager(t, tenantauth.Config{Tenants: ts, Clock: clock, Observer: rec})
	ctx := context.Background()
	tok, err := m.Token(ctx, "t0")
	if err != nil {
		t.Fatal(err)
	}
	for range 10 * tenantauth.HitSample {
		m.Token(ctx, "t0")
	}
	if h := m.Stats().Hits; h == 0 || h > 10*tenantauth.HitSample+tenantauth.HitSample*20 {
		t.Fatalf("Stats().Hits = %d after %d hits", h, 10*tenantauth.HitSample)
	}
	if _, err := m.Token(ctx, "t1"); !errors.Is(err, tenantauth.ErrInvalidCredentials) {
		t.Fatalf("bad credentials: %v", err)
	}
	clock.Advance(57 * time.Minute) // in the refresh window
	m.Token(ctx, "t0")
	waitFor(t, "the refresh", func() bool { rec.mu.Lock(); defer rec.mu.Unlock(); return len(rec.dones) == 3 })
	// FetchDone comes before the token is cached: wait for the new token
	// too, or the rejection below would be staged on the old one while the
	// request carries the new.
	waitFor(t, "the refreshed token", func() bool {
		cur, err := m.Token(ctx, "t0")
		return err == nil && cur.AccessToken != tok.AccessToken
	})

	// A 401 recovered through httpauth.
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == tok.Authorization() {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer api.Close()
	// The refreshed token replaced tok; put tok's kind of rejection on the
	// current one instead.
	cur, _ := m.Token(ctx, "t0")
	tok = cur
	client := &http.Client{Transport: httpauth.NewTransport(m, nil, httpauth.WithTenantFunc(func(*http.Request) (string, bool) { return "t0", true }))}
	resp, err := client.Get(api.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("status %d after the retry", resp.StatusCode)
	}

	rec.mu.Lock()
	defer rec.mu.Unlock()
	var background, refused bool
	for _, d := range rec.dones {
		background = background || (d.Background && d.TenantID == "t0" && d.Err == nil && d.Waiters == 0)
		refused = refused || (d.TenantID == "t1" && errors.Is(d.Err, tenantauth.ErrInvalidCredentials) && d.Source == tenantauth.SourceNone)
	}
	if !background || !refused {
		t.Fatalf("dones %+v: want a background refresh and a refused fetch", rec.dones)
	}
	if len(rec.invalid) != 1 || rec.invalid[0] != (tenantauth.Invalidation{TenantID: "t0"}) {
		t.Fatalf("invalidations %+v", rec.invalid)
	}
	if len(rec.recov) != 1 || rec.recov[0] != (tenantauth.Recovery{TenantID: "t0", Recovered: true}) {
		t.Fatalf("recoveries %+v", rec.recov)
	}
	for _, e := range rec.attempts {
		if s := fmt.Sprintf("%+v", e); strings.Contains(s, "cs-") || strings.Contains(s, "SECRET") {
			t.Fatalf("attempt event shows a secret: %s", s)
		}
	}
}

// TestObserverBreaker: a breaker's state changes reach the Observer.
func TestObserverBreaker(t *testing.T) {
	p := newFakeProvider("https://idp.example/token")
	p.hook = func(context.Context, tenantauth.TokenRequest) (*tenantauth.Token, error) { return nil, errUnavailable }
	rec := &recorder{}
	m := mustManager(t, tenantauth.Config{Tenants: tenantsFor(p, 1), Observer: rec, Retries: -1,
		Breaker: breaker.Config{ConsecutiveFailures: 2}})
	for range 3 {
		m.Token(context.Background(), "t0")
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.breakers) == 0 || rec.breakers[0].To != breaker.Open || rec.breakers[0].Endpoint != "https://idp.example/token" {
		t.Fatalf("breaker events %+v", rec.breakers)
	}
}

// TestNoObserverNoHitCount: without an Observer, hits are not counted.
func TestNoObserverNoHitCount(t *testing.T) {
	p := newFakeProvider("https://idp.example/token")
	m := mustManager(t, tenantauth.Config{Tenants: tenantsFor(p, 1)})
	for range 1000 {
		m.Token(context.Background(), "t0")
	}
	if h := m.Stats().Hits; h != 0 {
		t.Fatalf("Hits = %d without an Observer", h)
	}
}

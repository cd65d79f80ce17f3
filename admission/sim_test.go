package admission

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeIdP is a token endpoint that serves capacity requests at once and
// refuses the rest, like a Keycloak whose worker pool is full behind a proxy
// that answers 503 (or 429 with Retry-After).
type fakeIdP struct {
	capacity   int32
	retryAfter time.Duration // sent with each refusal; zero: none

	active    atomic.Int32
	peak      atomic.Int32
	served    atomic.Int32
	refusals  atomic.Int32
	mu        sync.Mutex
	run, runs int // consecutive refusals in completion order, and the longest run
}

// token performs one request: it reports whether the request was served.
func (s *fakeIdP) token() bool {
	n := s.active.Add(1)
	defer s.active.Add(-1)
	if n > s.capacity {
		s.refusals.Add(1)
		s.mu.Lock()
		s.run++
		s.runs = max(s.runs, s.run)
		s.mu.Unlock()
		return false
	}
	for p := s.peak.Load(); n > p && !s.peak.CompareAndSwap(p, n); p = s.peak.Load() {
	}
	time.Sleep(200 * time.Microsecond) // the work: lets requests overlap
	s.served.Add(1)
	s.mu.Lock()
	s.run = 0
	s.mu.Unlock()
	return true
}

// coldStart has n tenants fetch one token each at once through g, each
// making up to maxAttempts attempts, and returns how many succeeded.
func coldStart(t *testing.T, g *Group, s *fakeIdP, n, maxAttempts int) int {
	t.Helper()
	var wg sync.WaitGroup
	var ok atomic.Int32
	start := make(chan struct{})
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for attempt := 0; attempt < maxAttempts; attempt++ {
				p, err := g.Acquire(context.Background(), ep, Foreground)
				if err != nil {
					t.Errorf("Acquire: %v", err)
					return
				}
				if s.token() {
					// Latency passed explicitly: the guard sees a steady
					// endpoint whatever the machine's scheduling.
					p.Release(Success, 100*time.Millisecond, 0)
					ok.Add(1)
					return
				}
				p.Release(Overload, 0, s.retryAfter)
			}
		}()
	}
	close(start)
	wg.Wait()
	return int(ok.Load())
}

// TestColdStartLearnsCapacity is the scenario the package exists for: 3000
// tenants start at once on one identity provider that serves 16 token
// requests at a time and refuses the rest.
func TestColdStartLearnsCapacity(t *testing.T) {
	for _, tc := range []struct {
		name       string
		retryAfter time.Duration
	}{
		{"503", 0},
		{"429+Retry-After", 2 * time.Millisecond}, // real pauses, real timers
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, err := New(Config{})
			if err != nil {
				t.Fatal(err)
			}
			defer g.Close()
			idp := &fakeIdP{capacity: 16, retryAfter: tc.retryAfter}
			const tenants = 3000
			if got := coldStart(t, g, idp, tenants, 50); got != tenants {
				t.Fatalf("%d of %d tenants got a token", got, tenants)
			}
			st := g.Stats(ep)
			t.Logf("refusals %d for %d tokens (longest run %d), peak concurrency %d, final %+v",
				idp.refusals.Load(), tenants, idp.runs, idp.peak.Load(), st)
			if r := idp.refusals.Load(); r >= tenants/10 {
				t.Errorf("%d refusals for %d tokens: the limiter pushed instead of learning", r, tenants)
			}
			if int(idp.refusals.Load()) != int(st.Overloads) {
				t.Errorf("Stats.Overloads %d, refusals %d", st.Overloads, idp.refusals.Load())
			}
			// A breaker that trips after 5 consecutive failures would never
			// see them, even if it counted refusals.
			if idp.runs >= 5 {
				t.Errorf("%d consecutive refusals", idp.runs)
			}
			if st.Limit < 10 || st.Limit > 20 {
				t.Errorf("final limit %d, want near the capacity 16", st.Limit)
			}
			if st.InFlight != 0 || st.Queued != 0 {
				t.Errorf("%+v", st)
			}
		})
	}
}

// TestColdStartWithoutAdmission shows what the limiter saves: the same
// cold start with admission disabled, one attempt per tenant (retrying
// would only spin). It asserts nothing: the count depends on scheduling.
func TestColdStartWithoutAdmission(t *testing.T) {
	g, err := New(Config{Disabled: true})
	if err != nil {
		t.Fatal(err)
	}
	idp := &fakeIdP{capacity: 16}
	served := coldStart(t, g, idp, 3000, 1)
	t.Logf("without admission: %d of 3000 first attempts refused, %d served", idp.refusals.Load(), served)
}

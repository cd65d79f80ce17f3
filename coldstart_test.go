package tenantauth_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tenantauth/tenantauth"
	"github.com/tenantauth/tenantauth/admission"
	"github.com/tenantauth/tenantauth/providers/keycloak"
	"github.com/tenantauth/tenantauth/providers/passport"
	"github.com/tenantauth/tenantauth/tenantauthtest"
)

// TestColdStartOnBusyIdP: thousands of tenants on one identity provider
// that serves 16 token requests at once and refuses the rest (503, or 429
// with Retry-After), one caller per tenant at once. Every caller gets its
// own tenant's token, no breaker opens, and the provider refuses far fewer
// requests than there are tenants: the admission limit learns its capacity
// instead of pushing. Both providers, both refusal dialects.
func TestColdStartOnBusyIdP(t *testing.T) {
	tenants := 3000
	if testing.Short() {
		tenants = 500
	}
	const capacity = 16
	for _, dialect := range []string{"keycloak", "passport"} {
		for _, refusal := range []tenantauthtest.Capacity{
			{Max: capacity, Status: http.StatusServiceUnavailable},
			{Max: capacity, Status: http.StatusTooManyRequests, RetryAfter: time.Millisecond},
		} {
			t.Run(fmt.Sprintf("%s/%d", dialect, refusal.Status), func(t *testing.T) {
				cfg := tenantauthtest.Config{Latency: 2 * time.Millisecond, Capacity: refusal}
				var srv *tenantauthtest.Server
				var prov tenantauth.Provider
				var creds tenantauth.Credentials
				var err error
				if dialect == "keycloak" {
					srv = tenantauthtest.NewKeycloak(cfg)
					prov, err = keycloak.New(keycloak.Config{BaseURL: srv.URL, Realm: "fluencypass"})
					creds = tenantauth.Credentials{ClientID: tenantauthtest.DefaultClientID, ClientSecret: tenantauthtest.DefaultClientSecret}
				} else {
					srv = tenantauthtest.NewPassport(cfg)
					prov, err = passport.New(passport.Config{BaseURL: srv.URL})
					creds = tenantauth.Credentials{ClientID: tenantauthtest.DefaultClientID, ClientSecret: tenantauthtest.DefaultClientSecret,
						Username: tenantauthtest.DefaultUsername, Password: tenantauthtest.DefaultPassword}
				}
				defer srv.Close()
				if err != nil {
					t.Fatal(err)
				}
				ts := tenantauth.Tenants{}
				for i := range tenants {
					ts[fmt.Sprint("t", i)] = tenantauth.Tenant{Provider: prov, Credentials: creds, APIHosts: []string{"api.example"}}
				}
				var opened sync.Once
				var openedTo string
				m := mustManager(t, tenantauth.Config{Tenants: ts, CacheSize: tenants,
					Breaker: breakerWatch(func(to string) { opened.Do(func() { openedTo = to }) })})

				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
				defer cancel()
				start := time.Now()
				var wg sync.WaitGroup
				errs := make(chan error, tenants)
				toks := make([]*tenantauth.Token, tenants)
				for i := range tenants {
					wg.Add(1)
					go func() {
						defer wg.Done()
						tok, err := m.Token(ctx, fmt.Sprint("t", i))
						if err != nil {
							errs <- err
							return
						}
						toks[i] = tok
					}()
				}
				wg.Wait()
				close(errs)
				elapsed := time.Since(start)
				failed := 0
				for err := range errs {
					if failed == 0 {
						t.Errorf("first failure: %v", err)
					}
					failed++
				}
				seen := map[tenantauth.Secret]bool{}
				for i, tok := range toks {
					if tok != nil && seen[tok.AccessToken] {
						t.Fatalf("t%d got a token another tenant has", i)
					}
					if tok != nil {
						seen[tok.AccessToken] = true
					}
				}
				st := srv.Stats()
				adm := m.Admission(prov.Endpoint())
				t.Logf("%d tenants: %d failed, %d refusals by the server, peak %d in service, limit now %d, %v (ideal %v)",
					tenants, failed, st.CapacityRefusals, st.MaxInService, adm.Limit, elapsed.Round(time.Millisecond),
					time.Duration(tenants/capacity)*2*time.Millisecond)
				if failed != 0 {
					t.Fatalf("%d of %d callers failed", failed, tenants)
				}
				if openedTo != "" {
					t.Fatalf("a breaker changed state to %s", openedTo)
				}
				if st.CapacityRefusals >= tenants/4 {
					t.Fatalf("%d refusals for %d tenants: the limiter pushed instead of learning", st.CapacityRefusals, tenants)
				}
			})
		}
	}
}

// TestSynchronisedExpiry: 20 000 tokens issued at once with the same
// lifetime all come due for refresh: no caller waits (each is served its
// still-valid token), and the refreshes reach the token endpoint at most
// the admission limit at a time.
func TestSynchronisedExpiry(t *testing.T) {
	n := 20_000
	if testing.Short() {
		n = 2_000
	}
	clock := newFakeClock()
	p := newFakeProvider("https://idp.example/token")
	p.clock, p.lifetime = clock, time.Hour
	var refreshing atomic.Bool
	p.hook = func(ctx context.Context, _ tenantauth.TokenRequest) (*tenantauth.Token, error) {
		if refreshing.Load() {
			time.Sleep(time.Millisecond) // a real endpoint takes a while
		}
		return nil, nil
	}
	const maxLimit = 64
	m := mustManager(t, tenantauth.Config{Tenants: tenantsFor(p, n), Clock: clock, CacheSize: n,
		Admission: admission.Config{MaxLimit: maxLimit, QueueSize: n}})
	ctx := context.Background()
	old := make([]*tenantauth.Token, n)
	for i := range n {
		tok, err := m.Token(ctx, fmt.Sprint("t", i))
		if err != nil {
			t.Fatal(err)
		}
		old[i] = tok
	}
	p.maxIn.Store(0)
	refreshing.Store(true)
	clock.Advance(59 * time.Minute) // every refresh due, none stale yet
	for i := range n {
		tok, err := m.Token(ctx, fmt.Sprint("t", i))
		if err != nil || tok != old[i] {
			t.Fatalf("t%d: %v; want its current token at once (no caller waits on a refresh)", i, err)
		}
	}
	for deadline := time.Now().Add(time.Minute); p.TotalCalls() < 2*n; {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d refreshes done", p.TotalCalls()-n, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if peak := p.maxIn.Load(); peak > maxLimit {
		t.Fatalf("%d refreshes at once; the admission limit is at most %d", peak, maxLimit)
	}
	t.Logf("%d refreshes, peak %d at once, limit now %d", n, p.maxIn.Load(), m.Admission(p.endpoint).Limit)
}

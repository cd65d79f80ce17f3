package contender

import (
	"context"
	"errors"
	"net/http"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/tenantauth/tenantauth"
	"github.com/tenantauth/tenantauth/benchmarks/internal/standin"
)

// world is an IdP and an API sharing a clock.
type world struct {
	idp *standin.IdP
	api *standin.API
}

func newWorld(cfg standin.IdPConfig) world {
	clock := standin.NewClock()
	return world{idp: standin.NewIdP(cfg, clock), api: standin.NewAPI(clock)}
}

func (w world) contender(t *testing.T, name string, tenants int) Contender {
	t.Helper()
	c, err := New(name, Config{IdP: w.idp, Base: w.api, Tenants: tenants})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func requestFor(t testing.TB, id string) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(tenantauth.WithTenant(context.Background(), id),
		http.MethodGet, "https://"+standin.TenantHost(id)+"/v1/ping", nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// sentToken returns the token a response's request carried.
func sentToken(resp *http.Response) (standin.TokenInfo, bool) {
	if resp.Request == nil {
		return standin.TokenInfo{}, false
	}
	return standin.ParseAuthorization(resp.Request.Header.Get("Authorization"))
}

func TestNew(t *testing.T) {
	w := newWorld(standin.IdPConfig{})
	for _, name := range Names() {
		c, err := New(name, Config{IdP: w.idp, Base: w.api})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if c.Name() != name {
			t.Errorf("Name() = %q, want %q", c.Name(), name)
		}
		c.Close()
		if _, err := New(name, Config{}); err == nil {
			t.Errorf("%s: New without IdP and Base succeeded", name)
		}
	}
	if _, err := New("nope", Config{IdP: w.idp, Base: w.api}); err == nil {
		t.Error("unknown contender accepted")
	}
}

func TestDefaultMargin(t *testing.T) {
	tests := []struct{ lifetime, want time.Duration }{
		{time.Second, 250 * time.Millisecond},
		{20 * time.Second, 5 * time.Second},
		{time.Hour, 10 * time.Second},
	}
	for _, tt := range tests {
		if got := DefaultMargin(tt.lifetime); got != tt.want {
			t.Errorf("DefaultMargin(%v) = %v, want %v", tt.lifetime, got, tt.want)
		}
	}
}

// TestEveryRequestCarriesItsTenantsToken sends the same shared requests
// from many goroutines (so -race catches a contender that modifies them) and
// checks that every one reached the API with its own tenant's live token.
func TestEveryRequestCarriesItsTenantsToken(t *testing.T) {
	const tenants, goroutines, perGoroutine = 40, 16, 150
	for _, name := range Names() {
		t.Run(name, func(t *testing.T) {
			w := newWorld(standin.IdPConfig{Tenants: tenants, Latency: 200 * time.Microsecond})
			c := w.contender(t, name, tenants)
			reqs := make([]*http.Request, tenants)
			for i := range reqs {
				reqs[i] = requestFor(t, standin.TenantID(i))
			}
			var wg sync.WaitGroup
			for g := range goroutines {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for k := range perGoroutine {
						i := (g*31 + k*7) % tenants
						resp, err := c.RoundTrip(reqs[i])
						if err != nil {
							t.Errorf("tenant %d: %v", i, err)
							return
						}
						ti, ok := sentToken(resp)
						if resp.StatusCode != http.StatusOK || !ok || ti.Tenant != standin.TenantID(i) {
							t.Errorf("tenant %d: status %d, token of %q", i, resp.StatusCode, ti.Tenant)
							return
						}
						resp.Body.Close()
					}
				}()
			}
			wg.Wait()
			if n := w.api.WrongTenant(); n != 0 {
				t.Errorf("%d requests carried another tenant's token", n)
			}
			for i, req := range reqs {
				if len(req.Header) != 0 {
					t.Errorf("request %d was modified: header %v", i, req.Header)
				}
			}
			for i := range tenants {
				tok, err := c.Lookup(context.Background(), standin.TenantID(i))
				if ti, ok := standin.ParseToken(tok); err != nil || !ok || ti.Tenant != standin.TenantID(i) {
					t.Errorf("Lookup(t%d) = token of %q, %v", i, ti.Tenant, err)
				}
			}
		})
	}
}

// TestColdHerd: many callers of a cold tenant at once. tenantauth and
// x/oauth2 fetch once per tenant; the naive map fetches once per caller that
// missed.
func TestColdHerd(t *testing.T) {
	const tenants, callers = 10, 8
	for _, name := range Names() {
		t.Run(name, func(t *testing.T) {
			w := newWorld(standin.IdPConfig{Tenants: tenants, Latency: 20 * time.Millisecond})
			c := w.contender(t, name, tenants)
			gate := make(chan struct{})
			var wg sync.WaitGroup
			for i := range tenants {
				req := requestFor(t, standin.TenantID(i))
				for range callers {
					wg.Add(1)
					go func() {
						defer wg.Done()
						<-gate
						resp, err := c.RoundTrip(req)
						if err != nil || resp.StatusCode != http.StatusOK {
							t.Errorf("RoundTrip: %v %v", resp, err)
						}
					}()
				}
			}
			close(gate)
			wg.Wait()
			st := w.idp.Stats()
			if name == NameNaive {
				if st.Requests < tenants {
					t.Errorf("naive: %d token requests for %d tenants", st.Requests, tenants)
				}
				return
			}
			if st.Requests != tenants || st.PeakPerTenant != 1 {
				t.Errorf("%d token requests (want %d), at most %d at once per tenant (want 1)", st.Requests, tenants, st.PeakPerTenant)
			}
		})
	}
}

// TestRecoversFromRevocation: after the API revokes every token, the next
// request of each tenant still succeeds (one retry with a fresh token), and
// a sequential caller costs exactly one new token per tenant.
func TestRecoversFromRevocation(t *testing.T) {
	const tenants = 5
	for _, name := range Names() {
		t.Run(name, func(t *testing.T) {
			w := newWorld(standin.IdPConfig{Tenants: tenants})
			c := w.contender(t, name, tenants)
			reqs := make([]*http.Request, tenants)
			for i := range reqs {
				reqs[i] = requestFor(t, standin.TenantID(i))
				if resp, err := c.RoundTrip(reqs[i]); err != nil || resp.StatusCode != http.StatusOK {
					t.Fatalf("warm: %v %v", resp, err)
				}
			}
			w.api.RevokeAll()
			for round := range 3 {
				for i, req := range reqs {
					resp, err := c.RoundTrip(req)
					if err != nil || resp.StatusCode != http.StatusOK {
						t.Fatalf("round %d tenant %d after revocation: %v %v", round, i, resp, err)
					}
				}
			}
			if got := w.idp.Stats().Requests; got != 2*tenants {
				t.Errorf("%d token requests, want %d (one per tenant before and after)", got, 2*tenants)
			}
		})
	}
}

func TestNoTenant(t *testing.T) {
	for _, name := range Names() {
		w := newWorld(standin.IdPConfig{})
		c := w.contender(t, name, 1)
		req, _ := http.NewRequest(http.MethodGet, "http://t0.api.test/", http.NoBody)
		resp, err := c.RoundTrip(req)
		if err == nil || resp != nil {
			t.Errorf("%s: request without tenant: resp %v, err %v", name, resp, err)
		}
		if w.idp.Stats().Requests != 0 {
			t.Errorf("%s: fetched a token for no tenant", name)
		}
	}
}

func TestFetchErrorsSurface(t *testing.T) {
	for _, name := range Names() {
		w := newWorld(standin.IdPConfig{})
		w.idp.SetDown(true)
		c := w.contender(t, name, 1)
		resp, err := c.RoundTrip(requestFor(t, "t0"))
		if err == nil || resp != nil {
			t.Errorf("%s: IdP down: resp %v, err %v", name, resp, err)
		}
		if _, err := c.Lookup(context.Background(), "t0"); err == nil {
			t.Errorf("%s: Lookup with IdP down succeeded", name)
		}
	}
	// tenantauth sees the outage as a 503 TokenError, as from a real server.
	w := newWorld(standin.IdPConfig{})
	w.idp.SetDown(true)
	c := w.contender(t, NameTenantauth, 1)
	_, err := c.Lookup(context.Background(), "t0")
	var te *tenantauth.TokenError
	if !errors.As(err, &te) || te.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("tenantauth error %v, want a 503 TokenError", err)
	}
}

func TestTenantauthCloseLeavesNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	w := newWorld(standin.IdPConfig{Tenants: 20, Latency: time.Millisecond})
	c, err := NewTenantauth(Config{IdP: w.idp, Base: w.api, Tenants: 20})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = c.Lookup(context.Background(), standin.TenantID(i))
		}()
	}
	wg.Wait()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines before, %d after Close:\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestRefusalsSurface: a refusal for capacity reaches tenantauth's Provider
// as a TokenError with the refusal's status and Retry-After (what the real
// providers parse), and the other contenders' callers as an error matching
// standin.ErrOverloaded.
func TestRefusalsSurface(t *testing.T) {
	for _, status := range []int{http.StatusServiceUnavailable, http.StatusTooManyRequests} {
		w := newWorld(standin.IdPConfig{Tenants: 2, Latency: time.Hour, Capacity: 1, RefusalStatus: status, RetryAfter: time.Second})
		ctx, cancel := context.WithCancel(context.Background())
		held := make(chan struct{})
		go func() {
			defer close(held)
			_, _ = w.idp.Issue(ctx, "t0") // holds the only slot until cancel
		}()
		for w.idp.Stats().PeakConcurrent < 1 {
			time.Sleep(time.Millisecond)
		}
		_, err := (&provider{idp: w.idp}).Exchange(context.Background(), tenantauth.TokenRequest{Credentials: tenantauth.Credentials{ClientID: "t1"}})
		var te *tenantauth.TokenError
		if !errors.As(err, &te) || te.StatusCode != status || te.RetryAfter != time.Second || te.Endpoint != endpoint {
			t.Errorf("%d: tenantauth provider error %#v, want a TokenError{%d, RetryAfter 1s}", status, err, status)
		}
		for _, name := range []string{NameOAuth2, NameNaive} {
			c := w.contender(t, name, 2)
			resp, err := c.RoundTrip(requestFor(t, "t1"))
			if !errors.Is(err, standin.ErrOverloaded) || resp != nil {
				t.Errorf("%d: %s: resp %v, err %v; want the refusal", status, name, resp, err)
			}
		}
		cancel()
		<-held
	}
}

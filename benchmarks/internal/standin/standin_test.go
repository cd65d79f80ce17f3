package standin

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestTokenRoundTrip(t *testing.T) {
	tests := []struct {
		tenant         string
		seq            uint64
		issued, expiry int64
	}{
		{"t0", 1, 1, 2},
		{"t99999", 1 << 40, 123456789012, 987654321098},
		{"a-tenant-with-a-rather-long-identifier-that-does-not-fit-the-size", 7, 5, 6},
	}
	for _, tt := range tests {
		s := formatToken(tt.tenant, tt.seq, tt.issued, tt.expiry)
		if len(s) < TokenSize {
			t.Errorf("%q: length %d < TokenSize", s, len(s))
		}
		if len(tt.tenant) < 30 && len(s) != TokenSize {
			t.Errorf("%q: length %d, want exactly %d", s, len(s), TokenSize)
		}
		ti, ok := ParseToken(s)
		if !ok || ti.Tenant != tt.tenant || ti.Seq != tt.seq || ti.IssuedAt != tt.issued || ti.Expiry != tt.expiry {
			t.Errorf("ParseToken(%q) = %+v, %v", s, ti, ok)
		}
		if ti2, ok := ParseAuthorization("bearer " + s); !ok || ti2 != ti {
			t.Errorf("ParseAuthorization(bearer …) = %+v, %v", ti2, ok)
		}
	}
}

func TestParseRejects(t *testing.T) {
	for _, s := range []string{"", "t1", "t1.2", "t1.2.3", ".1.2.3.", "t1.x.2.3.", "t1.2.x.3.", "t1.2.3.x.", "t1.-2.3.4."} {
		if ti, ok := ParseToken(s); ok {
			t.Errorf("ParseToken(%q) = %+v, want failure", s, ti)
		}
	}
	good := formatToken("t1", 1, 2, 3)
	for _, s := range []string{"", "Bearer", "Bearer ", "Basic " + good, good} {
		if _, ok := ParseAuthorization(s); ok {
			t.Errorf("ParseAuthorization(%q) succeeded", s)
		}
	}
}

func FuzzParseToken(f *testing.F) {
	f.Add(formatToken("t1", 1, 2, 3))
	f.Add("t1.2.3.4.")
	f.Add("...")
	f.Fuzz(func(t *testing.T, s string) {
		ti, ok := ParseToken(s)
		if !ok {
			return
		}
		if !strings.HasPrefix(s, ti.Tenant+".") {
			t.Fatalf("tenant %q is not the prefix of %q", ti.Tenant, s)
		}
	})
}

func TestTenantIDs(t *testing.T) {
	for i, id := range TenantIDs(1200) {
		if got, ok := TenantIndex(id); !ok || got != i {
			t.Fatalf("TenantIndex(%q) = %d, %v; want %d", id, got, ok, i)
		}
	}
	for _, bad := range []string{"", "t", "x1", "t01", "t-1", "t1a", "t99999999999999999999"} {
		if i, ok := TenantIndex(bad); ok {
			t.Errorf("TenantIndex(%q) = %d, want failure", bad, i)
		}
	}
	if TenantHost("t3") != "t3.api.test" {
		t.Errorf("TenantHost = %q", TenantHost("t3"))
	}
}

func TestIdPIssues(t *testing.T) {
	clock := NewClock()
	idp := NewIdP(IdPConfig{Tenants: 3, Lifetime: time.Minute}, clock)
	before := clock.Now()
	tok, err := idp.Issue(context.Background(), "t2")
	if err != nil {
		t.Fatal(err)
	}
	ti, ok := ParseToken(tok.Access)
	if !ok || ti.Tenant != "t2" || ti.IssuedAt != tok.IssuedAt || ti.Expiry != tok.Expiry {
		t.Fatalf("token %q parses as %+v, %v; Token %+v", tok.Access, ti, ok, tok)
	}
	if tok.IssuedAt < before || tok.Expiry-tok.IssuedAt != int64(time.Minute) {
		t.Errorf("issued %d (before %d), lifetime %v", tok.IssuedAt, before, time.Duration(tok.Expiry-tok.IssuedAt))
	}
	if _, err := idp.Issue(context.Background(), "nobody"); !errors.Is(err, ErrUnknownTenant) {
		t.Errorf("unknown tenant: err = %v", err)
	}
	st := idp.Stats()
	if st.Requests != 2 || st.Failures != 1 || idp.TenantRequests(2) != 1 || idp.TenantRequests(0) != 0 || idp.TenantRequests(-1) != 0 {
		t.Errorf("stats %+v, t2 %d", st, idp.TenantRequests(2))
	}
}

func TestIdPFailures(t *testing.T) {
	clock := NewClock()
	tests := []struct {
		name  string
		cfg   IdPConfig
		setup func(*IdP)
		ctx   func() context.Context
		want  error
	}{
		{"down", IdPConfig{}, func(p *IdP) { p.SetDown(true) }, context.Background, ErrUnavailable},
		{"always faulty", IdPConfig{FaultRate: 1}, nil, context.Background, ErrUnavailable},
		{"cancelled while waiting", IdPConfig{Latency: time.Hour}, nil, func() context.Context {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx
		}, context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := NewIdP(tt.cfg, clock)
			if tt.setup != nil {
				tt.setup(p)
			}
			if _, err := p.Issue(tt.ctx(), "t1"); !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if st := p.Stats(); st.Requests != 1 || st.Failures != 1 {
				t.Errorf("stats %+v, want 1 request, 1 failure", st)
			}
		})
	}
	p := NewIdP(IdPConfig{}, clock)
	p.SetDown(true)
	p.SetDown(false)
	if _, err := p.Issue(context.Background(), "t1"); err != nil {
		t.Errorf("after recovery: %v", err)
	}
}

func TestIdPPeakPerTenant(t *testing.T) {
	p := NewIdP(IdPConfig{Tenants: 2, Latency: 20 * time.Millisecond}, NewClock())
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := p.Issue(context.Background(), "t1"); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	// The four requests overlap in their 20 ms unless the scheduler is
	// extremely slow; the counter must at least have seen one, and never
	// more than four.
	if st := p.Stats(); st.PeakPerTenant < 1 || st.PeakPerTenant > 4 || st.Requests != 4 {
		t.Errorf("stats %+v", st)
	}
}

func TestAPIVerdicts(t *testing.T) {
	clock := NewClock()
	idp := NewIdP(IdPConfig{Lifetime: time.Hour}, clock)
	api := NewAPI(clock)
	issue := func(tenant string) string {
		tok, err := idp.Issue(context.Background(), tenant)
		if err != nil {
			t.Fatal(err)
		}
		return tok.Access
	}
	good := issue("t1")
	other := issue("t2")
	expired := formatToken("t1", 99, 1, 2)
	send := func(host, auth string) *http.Response {
		req, _ := http.NewRequest(http.MethodGet, "https://"+host+"/v1/ping", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := api.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.Request != req {
			t.Error("response does not carry the request")
		}
		return resp
	}
	tests := []struct {
		name, host, auth string
		want             int
	}{
		{"valid", "t1.api.test", "Bearer " + good, 200},
		{"lower-case scheme", "t1.api.test", "bearer " + good, 200},
		{"missing", "t1.api.test", "", 401},
		{"garbage", "t1.api.test", "Bearer nope", 401},
		{"expired", "t1.api.test", "Bearer " + expired, 401},
		{"other tenant's token", "t1.api.test", "Bearer " + other, 403},
		{"host of no tenant", "example.com", "Bearer " + good, 403},
	}
	for _, tt := range tests {
		if got := send(tt.host, tt.auth); got.StatusCode != tt.want {
			t.Errorf("%s: status %d, want %d", tt.name, got.StatusCode, tt.want)
		} else if tt.want == 401 && got.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("%s: 401 without WWW-Authenticate", tt.name)
		}
	}
	if got := api.WrongTenant(); got != 2 {
		t.Errorf("WrongTenant = %d, want 2", got)
	}

	api.RevokeAll()
	if got := send("t1.api.test", "Bearer "+good); got.StatusCode != 401 {
		t.Errorf("revoked token: status %d, want 401", got.StatusCode)
	}
	if got := send("t1.api.test", "Bearer "+issue("t1")); got.StatusCode != 200 {
		t.Errorf("token issued after revocation: status %d, want 200", got.StatusCode)
	}
	if api.Rejected() == 0 {
		t.Error("Rejected not counted")
	}
}

func TestNoop(t *testing.T) {
	n := NewNoop()
	resp, err := n.RoundTrip(nil)
	if err != nil || resp.StatusCode != 200 || resp.Body == nil {
		t.Fatalf("Noop: %v %v", resp, err)
	}
}

func TestClockTime(t *testing.T) {
	c := NewClock()
	ns := c.Now()
	if ns <= 0 {
		t.Fatalf("Now = %d, want > 0", ns)
	}
	at := c.Time(ns)
	if d := time.Since(at); d < 0 || d > time.Minute {
		t.Errorf("Time(Now()) is %v from now", d)
	}
}

// TestIdPCapacity: with Capacity requests in service, the next one is
// refused at once with the configured status and Retry-After, counted as a
// refusal and a failure; a slot freed (here by a cancelled request) serves
// again. Unknown tenants and the per-tenant counters still work.
func TestIdPCapacity(t *testing.T) {
	tests := []struct {
		name       string
		cfg        IdPConfig
		status     int
		retryAfter time.Duration
	}{
		{"503 by default", IdPConfig{Capacity: 2}, http.StatusServiceUnavailable, 0},
		{"503 with Retry-After", IdPConfig{Capacity: 2, RefusalStatus: 503, RetryAfter: time.Second}, http.StatusServiceUnavailable, time.Second},
		{"429 with Retry-After", IdPConfig{Capacity: 2, RefusalStatus: 429, RetryAfter: 1500 * time.Millisecond}, http.StatusTooManyRequests, 1500 * time.Millisecond},
		{"other status means 503", IdPConfig{Capacity: 2, RefusalStatus: 418}, http.StatusServiceUnavailable, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.Tenants, tt.cfg.Latency = 3, time.Hour
			p := NewIdP(tt.cfg, NewClock())
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			for _, id := range []string{"t0", "t1"} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if _, err := p.Issue(ctx, id); !errors.Is(err, context.Canceled) {
						t.Errorf("held request: err = %v, want context.Canceled", err)
					}
				}()
			}
			for p.Stats().PeakConcurrent < 2 { // both slots taken
				time.Sleep(time.Millisecond)
			}
			_, err := p.Issue(context.Background(), "t2")
			var oe *OverloadError
			if !errors.Is(err, ErrOverloaded) || !errors.As(err, &oe) || oe.StatusCode != tt.status || oe.RetryAfter != tt.retryAfter {
				t.Fatalf("at capacity: err = %#v, want an OverloadError{%d, %v}", err, tt.status, tt.retryAfter)
			}
			if !strings.Contains(err.Error(), "over capacity") {
				t.Errorf("message %q", err)
			}
			if _, err := p.Issue(context.Background(), "nobody"); !errors.Is(err, ErrOverloaded) {
				t.Errorf("unknown tenant at capacity: err = %v, want a refusal", err)
			}
			cancel()
			wg.Wait()
			p.SetLatency(0)
			if _, err := p.Issue(context.Background(), "t2"); err != nil {
				t.Errorf("after the slots were freed: %v", err)
			}
			if _, err := p.Issue(context.Background(), "nobody"); !errors.Is(err, ErrUnknownTenant) {
				t.Errorf("unknown tenant below capacity: err = %v", err)
			}
			st := p.Stats()
			want := IdPStats{Requests: 6, Failures: 5, Refusals: 2, PeakConcurrent: 2, PeakPerTenant: 1}
			if st != want || p.TenantRequests(2) != 2 {
				t.Errorf("stats %+v, t2 %d requests; want %+v, 2", st, p.TenantRequests(2), want)
			}
		})
	}
}

// TestIdPCapacityUnderLoad: many concurrent requests never put more than
// Capacity in service, and every request is either served or refused.
func TestIdPCapacityUnderLoad(t *testing.T) {
	const capacity, callers = 3, 200
	p := NewIdP(IdPConfig{Tenants: callers, Latency: time.Millisecond, Capacity: capacity}, NewClock())
	var wg sync.WaitGroup
	var served, refused sync.Map
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			switch _, err := p.Issue(context.Background(), TenantID(i)); {
			case err == nil:
				served.Store(i, true)
			case errors.Is(err, ErrOverloaded):
				refused.Store(i, true)
			default:
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	n := 0
	served.Range(func(any, any) bool { n++; return true })
	st := p.Stats()
	if st.PeakConcurrent < 1 || st.PeakConcurrent > capacity || st.Requests != callers ||
		st.Refusals != st.Failures || int(st.Refusals)+n != callers {
		t.Errorf("stats %+v, %d served", st, n)
	}
}

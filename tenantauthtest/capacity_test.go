package tenantauthtest_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tenantauth/tenantauth/tenantauthtest"
)

// passwordRequest is a valid password grant request in the dialect's body.
func passwordRequest(ctx context.Context, d dialectCase, srv *tenantauthtest.Server) request {
	r := d.build(srv, passwordKV...)
	r.ctx = ctx
	return r
}

// A held token request: sent in the background, it stays in service (a long
// latency or a hang) until cancel.
type held struct {
	cancel context.CancelFunc
	errc   chan error
}

func hold(hc *http.Client, d dialectCase, srv *tenantauthtest.Server) *held {
	ctx, cancel := context.WithCancel(context.Background())
	h := &held{cancel: cancel, errc: make(chan error, 1)}
	go func() {
		r, err := doErr(hc, passwordRequest(ctx, d, srv))
		if err == nil {
			err = fmt.Errorf("answered: %d %s", r.status, r.body)
		}
		h.errc <- err
	}()
	return h
}

// stop cancels the held request and checks that it got no answer.
func (h *held) stop(t testing.TB) {
	t.Helper()
	h.cancel()
	if err := <-h.errc; !errors.Is(err, context.Canceled) {
		t.Errorf("held request ended with %v, want context.Canceled", err)
	}
}

// refused sends a token request that must be refused at once. The 10 s
// bound turns a refusal wrongly delayed by the server's hour of latency into
// a failure instead of a hung test; it is not a timing assertion.
func refused(t testing.TB, hc *http.Client, d dialectCase, srv *tenantauthtest.Server) reply {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := doErr(hc, passwordRequest(ctx, d, srv))
	if err != nil {
		t.Fatalf("a request beyond capacity got no immediate answer: %v", err)
	}
	return r
}

func inService(t testing.TB, srv *tenantauthtest.Server, n int) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d token requests in service", n), func() bool { return srv.Stats().InService == n })
}

// 200 concurrent requests against a capacity of 8, every one held in
// service: exactly 8 are admitted and 192 refused, and the counters say so.
func TestCapacityAdmitsExactlyMax(t *testing.T) {
	const (
		clients  = 200
		capacity = 8
	)
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			srv := d.start(tenantauthtest.Config{
				Latency:  time.Hour,
				Capacity: tenantauthtest.Capacity{Max: capacity, RetryAfter: 2 * time.Second},
			})
			defer srv.Close()
			tr := &http.Transport{MaxIdleConnsPerHost: clients}
			defer tr.CloseIdleConnections()
			hc := &http.Client{Transport: tr}

			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			type result struct {
				r   reply
				err error
			}
			results := make(chan result, clients)
			var answered atomic.Int64
			var wg sync.WaitGroup
			for range clients {
				wg.Add(1)
				go func() {
					defer wg.Done()
					r, err := doErr(hc, passwordRequest(ctx, d, srv))
					if err == nil {
						answered.Add(1)
					}
					results <- result{r, err}
				}()
			}
			waitFor(t, "every request to arrive", func() bool { return srv.Stats().TokenRequests == clients })
			st := srv.Stats()
			if st.InService != capacity || st.MaxInService != capacity || st.CapacityRefusals != clients-capacity ||
				st.TokenErrors != clients-capacity || st.ByGrant["password"] != clients {
				t.Errorf("with every slot held: %+v; want %d in service (and at peak), %d refused and errors", st, capacity, clients-capacity)
			}
			if st.MaxConcurrentTokenRequests < capacity || st.MaxConcurrentTokenRequests > clients {
				t.Errorf("MaxConcurrentTokenRequests = %d, want between %d and %d", st.MaxConcurrentTokenRequests, capacity, clients)
			}

			// The refusals are sent; wait until the clients have read them
			// before cancelling the held requests.
			waitFor(t, "the refusals to reach their clients", func() bool { return answered.Load() >= clients-capacity })
			cancel()
			wg.Wait()
			close(results)
			var refusals, canceled int
			for res := range results {
				switch {
				case errors.Is(res.err, context.Canceled):
					canceled++
				case res.err != nil:
					t.Errorf("unexpected error: %v", res.err)
				case res.r.status == http.StatusServiceUnavailable && res.r.header.Get("Retry-After") == "2" &&
					res.r.str("error") == "temporarily_unavailable":
					refusals++
				default:
					t.Errorf("unexpected answer: %d %v %s", res.r.status, res.r.header, res.r.body)
				}
			}
			if refusals != clients-capacity || canceled != capacity {
				t.Errorf("%d refused, %d held until cancelled; want %d, %d", refusals, canceled, clients-capacity, capacity)
			}
			inService(t, srv, 0)
		})
	}
}

// 200 concurrent clients retry until served by a server of capacity 8 with
// a short latency: slots are taken and freed all the time, and the peak in
// service never exceeds 8. Run with -race.
func TestCapacityUnderChurn(t *testing.T) {
	const (
		clients     = 200
		capacity    = 8
		maxAttempts = 5000 // per client; bounds the loop, never reached in practice
	)
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			srv := d.start(tenantauthtest.Config{
				Latency:  time.Millisecond,
				Capacity: tenantauthtest.Capacity{Max: capacity, Status: http.StatusTooManyRequests, RetryAfter: time.Second},
			})
			defer srv.Close()
			tr := &http.Transport{MaxIdleConnsPerHost: clients}
			defer tr.CloseIdleConnections()
			hc := &http.Client{Transport: tr}

			var served, refusedSeen, failures atomic.Int64
			var wg sync.WaitGroup
			for range clients {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range maxAttempts {
						r, err := doErr(hc, passwordRequest(context.Background(), d, srv))
						switch {
						case err != nil:
							failures.Add(1)
							return
						case r.status == http.StatusOK && r.str("access_token") != "":
							served.Add(1)
							return
						case r.status == http.StatusTooManyRequests && r.header.Get("Retry-After") == "1" && r.body == "":
							refusedSeen.Add(1)
							// Back off a little instead of spinning; the
							// test asserts nothing about time.
							time.Sleep(time.Millisecond)
						default:
							failures.Add(1)
							return
						}
					}
					failures.Add(1) // never served
				}()
			}
			wg.Wait()
			if n := failures.Load(); n != 0 {
				t.Fatalf("%d clients got an unexpected answer or were never served", n)
			}
			inService(t, srv, 0) // a handler frees its slot just after its answer
			st := srv.Stats()
			if served.Load() != clients || st.TokenRequests != clients+int(refusedSeen.Load()) ||
				st.CapacityRefusals != int(refusedSeen.Load()) || st.TokenErrors != st.CapacityRefusals ||
				st.ByGrant["password"] != st.TokenRequests {
				t.Errorf("stats %+v; clients saw %d served, %d refused", st, served.Load(), refusedSeen.Load())
			}
			if st.MaxInService < 1 || st.MaxInService > capacity {
				t.Errorf("MaxInService = %d, want 1 to %d", st.MaxInService, capacity)
			}
			t.Logf("%d refusals, peak %d in service, %d sent at once", st.CapacityRefusals, st.MaxInService, st.MaxConcurrentTokenRequests)
		})
	}
}

func TestCapacityRefusal(t *testing.T) {
	const overloaded = `{"error":"temporarily_unavailable","error_description":"The server is overloaded; try again later."}`
	tests := []struct {
		status     int
		retryAfter time.Duration
		wantStatus int
		wantRetry  string
		wantBody   string
	}{
		{0, 0, 503, "", overloaded},
		{503, 1500 * time.Millisecond, 503, "2", overloaded},
		{429, time.Second, 429, "1", ""},
		{429, time.Nanosecond, 429, "1", ""},
		{429, 30*time.Second + time.Nanosecond, 429, "31", ""},
		{429, 0, 429, "", ""},
		{429, -time.Second, 429, "", ""},
		{502, 0, 502, "", ""},
		{200, 0, 503, "", overloaded},
		{600, time.Minute, 503, "60", overloaded},
	}
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			srv := d.start(tenantauthtest.Config{Latency: time.Hour, Capacity: tenantauthtest.Capacity{Max: 1}})
			defer srv.Close()
			h := hold(srv.Client(), d, srv)
			inService(t, srv, 1)
			// Refusals do not use up injected failures: this one is for
			// the first request served after the held one.
			srv.FailNext(1, tenantauthtest.Failure{Status: 500})

			for _, tt := range tests {
				srv.SetCapacity(tenantauthtest.Capacity{Max: 1, Status: tt.status, RetryAfter: tt.retryAfter})
				r := refused(t, srv.Client(), d, srv)
				ctype := r.header.Get("Content-Type")
				if r.status != tt.wantStatus || r.header.Get("Retry-After") != tt.wantRetry || r.body != tt.wantBody ||
					(tt.wantBody != "" && ctype != "application/json") || r.header.Get("Cache-Control") != "no-store" {
					t.Errorf("Status %d, RetryAfter %v: got %d, Retry-After %q, Content-Type %q, Cache-Control %q, body %q; want %d, %q, %q",
						tt.status, tt.retryAfter, r.status, r.header.Get("Retry-After"), ctype, r.header.Get("Cache-Control"), r.body,
						tt.wantStatus, tt.wantRetry, tt.wantBody)
				}
			}

			h.stop(t)
			inService(t, srv, 0)
			srv.SetLatency(0)
			if r := d.token(t, srv); r.status != http.StatusInternalServerError {
				t.Errorf("first request served: status %d, want the injected 500", r.status)
			}
			if r := d.token(t, srv); r.status != http.StatusOK {
				t.Errorf("then: status %d, want 200", r.status)
			}
			st := srv.Stats()
			if n := len(tests); st.TokenRequests != n+3 || st.CapacityRefusals != n || st.TokenErrors != n+1 || st.MaxInService != 1 {
				t.Errorf("stats %+v; want %d requests, %d refusals, %d errors, peak 1", st, n+3, n, n+1)
			}
		})
	}
}

func TestSetCapacity(t *testing.T) {
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			srv := d.start(tenantauthtest.Config{Latency: time.Hour})
			defer srv.Close()
			hc := srv.Client()
			var holds []*held
			defer func() {
				for _, h := range holds {
					h.stop(t)
				}
			}()

			// No capacity: three requests in service at once.
			for range 3 {
				holds = append(holds, hold(hc, d, srv))
			}
			inService(t, srv, 3)

			// Lowered below the number in service: those keep their
			// slots, new requests are refused.
			srv.SetCapacity(tenantauthtest.Capacity{Max: 2})
			if r := refused(t, hc, d, srv); r.status != http.StatusServiceUnavailable {
				t.Errorf("Max 2 with 3 in service: status %d, want 503", r.status)
			}

			// Raised: one more is admitted, then the next refused with the
			// new status.
			srv.SetCapacity(tenantauthtest.Capacity{Max: 4, Status: http.StatusTooManyRequests, RetryAfter: time.Second})
			holds = append(holds, hold(hc, d, srv))
			inService(t, srv, 4)
			if r := refused(t, hc, d, srv); r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") != "1" {
				t.Errorf("Max 4 with 4 in service: status %d, Retry-After %q; want 429, \"1\"", r.status, r.header.Get("Retry-After"))
			}

			// Removed: no limit again.
			srv.SetCapacity(tenantauthtest.Capacity{})
			holds = append(holds, hold(hc, d, srv))
			inService(t, srv, 5)

			st := srv.Stats()
			if st.TokenRequests != 7 || st.CapacityRefusals != 2 || st.TokenErrors != 2 || st.MaxInService != 5 {
				t.Errorf("stats %+v; want 7 requests, 2 refusals, 2 errors, peak 5", st)
			}
			srv.ResetStats()
			if st := srv.Stats(); st.TokenRequests != 0 || st.CapacityRefusals != 0 || st.MaxInService != 5 || st.InService != 5 {
				t.Errorf("after ResetStats: %+v; want the peak to restart from the 5 in service", st)
			}
		})
	}
}

// A client that gives up frees its slot: during the latency, during an
// injected hang, and when the server closes.
func TestCapacityCancelledClientFreesSlot(t *testing.T) {
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			srv := d.start(tenantauthtest.Config{Latency: time.Hour, Capacity: tenantauthtest.Capacity{Max: 1}})
			defer srv.Close()
			hc := srv.Client()

			a := hold(hc, d, srv)
			inService(t, srv, 1)
			if r := refused(t, hc, d, srv); r.status != http.StatusServiceUnavailable {
				t.Fatalf("second request: status %d, want 503", r.status)
			}
			a.stop(t)
			inService(t, srv, 0)

			// The freed slot is taken by the next request, not refused.
			b := hold(hc, d, srv)
			inService(t, srv, 1)
			if st := srv.Stats(); st.TokenRequests != 3 || st.CapacityRefusals != 1 {
				t.Errorf("after the slot was freed: %+v; want 3 requests, 1 refusal", st)
			}
			b.stop(t)
			inService(t, srv, 0)

			// An injected hang holds its slot too, until the client gives up.
			srv.SetLatency(0)
			srv.FailNext(1, tenantauthtest.Failure{Hang: true})
			c := hold(hc, d, srv)
			inService(t, srv, 1)
			if r := refused(t, hc, d, srv); r.status != http.StatusServiceUnavailable {
				t.Errorf("next to a hung request: status %d, want 503", r.status)
			}
			c.stop(t)
			inService(t, srv, 0)
			if r := d.token(t, srv); r.status != http.StatusOK {
				t.Errorf("after the hung client gave up: status %d, want 200", r.status)
			}

			// Close ends the request in service and frees its slot.
			srv.SetLatency(time.Hour)
			e := hold(hc, d, srv)
			inService(t, srv, 1)
			srv.Close()
			if err := <-e.errc; err == nil || errors.Is(err, context.Canceled) {
				t.Errorf("request in service at Close: %v, want a connection error", err)
			}
			e.cancel()
			if st := srv.Stats(); st.InService != 0 || st.CapacityRefusals != 2 || st.TokenRequests != 7 {
				t.Errorf("after Close: %+v; want nothing in service, 2 refusals, 7 requests", st)
			}
		})
	}
}

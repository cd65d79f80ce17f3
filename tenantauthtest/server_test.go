package tenantauthtest_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tenantauth/tenantauth/tenantauthtest"
)

func TestAPI(t *testing.T) {
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			srv := d.start(tenantauthtest.Config{})
			defer srv.Close()
			other := d.start(tenantauthtest.Config{})
			defer other.Close()
			tok := mustToken(t, d, srv)
			foreign := mustToken(t, d, other)

			unauthorized := map[string]string{"keycloak": `{"error":"invalid_token"}`, "passport": `{"message":"Unauthenticated."}`, "standard": ``}[d.name]
			tests := []struct {
				name      string
				method    string
				path      string
				auth      string
				body      string
				status    int
				challenge string
			}{
				{"GET", http.MethodGet, "/api/v1/items", "Bearer " + tok, "", 200, ""},
				{"POST with body", http.MethodPost, "/api/v1/items/7", "Bearer " + tok, `{"name":"x"}`, 200, ""},
				{"DELETE on /api itself", http.MethodDelete, "/api", "Bearer " + tok, "", 200, ""},
				{"scheme in lower case", http.MethodGet, "/api/x", "bearer " + tok, "", 200, ""},
				{"scheme in upper case", http.MethodPut, "/api/x", "BEARER " + tok, "", 200, ""},
				{"no token", http.MethodGet, "/api/x", "", "", 401, `Bearer`},
				{"other scheme", http.MethodGet, "/api/x", "Basic " + tok, "", 401, `Bearer`},
				{"unknown token", http.MethodGet, "/api/x", "Bearer forged", "", 401, `Bearer error="invalid_token"`},
				{"token of another server", http.MethodGet, "/api/x", "Bearer " + foreign, "", 401, `Bearer error="invalid_token"`},
				{"outside /api", http.MethodGet, "/apix", "Bearer " + tok, "", 404, ""},
			}
			for _, tt := range tests {
				r := do(t, srv.Client(), request{method: tt.method, url: srv.URL + tt.path, auth: tt.auth, body: tt.body})
				if r.status != tt.status {
					t.Errorf("%s: status %d, want %d: %s", tt.name, r.status, tt.status, r.body)
					continue
				}
				switch tt.status {
				case 200:
					sum := sha256.Sum256([]byte(tt.body))
					if r.str("client_id") != "client" || r.str("username") != "user@example.com" || r.str("path") != tt.path ||
						r.str("method") != tt.method || r.str("body_sha256") != hex.EncodeToString(sum[:]) {
						t.Errorf("%s: body %s", tt.name, r.body)
					}
				case 401:
					if got := r.header.Get("WWW-Authenticate"); got != tt.challenge {
						t.Errorf("%s: WWW-Authenticate %q, want %q", tt.name, got, tt.challenge)
					}
					if strings.TrimSpace(r.body) != unauthorized {
						t.Errorf("%s: body %s, want %s", tt.name, r.body, unauthorized)
					}
				}
			}
			st := srv.Stats()
			if st.APIRequests != len(tests)-1 || st.APIUnauthorized != 4 {
				t.Errorf("API stats %d requests, %d unauthorized; want %d, 4", st.APIRequests, st.APIUnauthorized, len(tests)-1)
			}
		})
	}
}

func TestTokensAreUniqueAndOpaque(t *testing.T) {
	for _, d := range dialects {
		srv := d.start(tenantauthtest.Config{RefreshTokens: true})
		seen := map[string]bool{}
		for range 200 {
			r := d.token(t, srv)
			for _, k := range []string{"access_token", "refresh_token"} {
				tok := r.str(k)
				if len(tok) != 43 || strings.ContainsAny(tok, "+/=") || seen[tok] {
					t.Fatalf("%s: %s %q: want 43 base64url characters, never seen before", d.name, k, tok)
				}
				seen[tok] = true
			}
		}
		srv.Close()
	}
}

func TestTokenLifetime(t *testing.T) {
	tests := []struct {
		lifetime time.Duration
		want     int64
	}{
		{0, 3600},
		{90 * time.Second, 90},
		{1500 * time.Millisecond, 1},
		{500 * time.Millisecond, 1},
		{-time.Second, 1},
		{24 * time.Hour, 86400},
		{30 * 24 * time.Hour, 2592000},
	}
	for _, d := range dialects {
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%s/%v", d.name, tt.lifetime), func(t *testing.T) {
				clock := newFakeClock()
				srv := d.start(tenantauthtest.Config{TokenLifetime: tt.lifetime, Clock: clock})
				defer srv.Close()
				r := d.token(t, srv)
				if got := r.num("expires_in"); got != tt.want {
					t.Fatalf("expires_in = %d, want %d", got, tt.want)
				}
				// The server enforces exactly what it announced.
				clock.Advance(time.Duration(tt.want)*time.Second - time.Nanosecond)
				if a := api(t, srv, r.str("access_token")); a.status != http.StatusOK {
					t.Errorf("just before expiry: status %d", a.status)
				}
				clock.Advance(time.Nanosecond)
				if a := api(t, srv, r.str("access_token")); a.status != http.StatusUnauthorized {
					t.Errorf("at expiry: status %d, want 401", a.status)
				}
			})
		}
	}
}

func TestSetTokenLifetime(t *testing.T) {
	for _, d := range dialects {
		clock := newFakeClock()
		srv := d.start(tenantauthtest.Config{Clock: clock})
		old := d.token(t, srv)
		srv.SetTokenLifetime(10 * time.Second)
		fresh := d.token(t, srv)
		if old.num("expires_in") != 3600 || fresh.num("expires_in") != 10 {
			t.Errorf("%s: expires_in %d then %d, want 3600 then 10", d.name, old.num("expires_in"), fresh.num("expires_in"))
		}
		clock.Advance(10 * time.Second)
		if a := api(t, srv, fresh.str("access_token")); a.status != http.StatusUnauthorized {
			t.Errorf("%s: 10 s token after 10 s: status %d", d.name, a.status)
		}
		if a := api(t, srv, old.str("access_token")); a.status != http.StatusOK {
			t.Errorf("%s: earlier token keeps its lifetime: status %d", d.name, a.status)
		}
		srv.Close()
	}
}

func TestRevoke(t *testing.T) {
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			srv := d.start(tenantauthtest.Config{})
			defer srv.Close()
			a, b := mustToken(t, d, srv), mustToken(t, d, srv)
			if !srv.Revoke(a) {
				t.Error("Revoke(valid) = false")
			}
			if srv.Revoke(a) || srv.Revoke("forged") {
				t.Error("Revoke of a revoked or unknown token = true")
			}
			if r := api(t, srv, a); r.status != http.StatusUnauthorized {
				t.Errorf("revoked token: status %d", r.status)
			}
			if r := api(t, srv, b); r.status != http.StatusOK {
				t.Errorf("other token: status %d", r.status)
			}
		})
	}
}

func TestRevokeAll(t *testing.T) {
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			clock := newFakeClock()
			srv := d.start(tenantauthtest.Config{Clock: clock})
			defer srv.Close()
			srv.SetTokenLifetime(time.Second)
			expired := mustToken(t, d, srv)
			clock.Advance(time.Second)
			srv.SetTokenLifetime(0)
			var toks []string
			for range 5 {
				toks = append(toks, mustToken(t, d, srv))
			}
			if n := srv.RevokeAll(); n != 5 {
				t.Errorf("RevokeAll = %d, want 5 (the expired token does not count)", n)
			}
			for _, tok := range append(toks, expired) {
				if r := api(t, srv, tok); r.status != http.StatusUnauthorized {
					t.Errorf("after RevokeAll: status %d", r.status)
				}
			}
			// A new login works at once.
			if r := api(t, srv, mustToken(t, d, srv)); r.status != http.StatusOK {
				t.Errorf("new token after RevokeAll: status %d", r.status)
			}
			if n := srv.RevokeAll(); n != 1 {
				t.Errorf("second RevokeAll = %d, want 1", n)
			}
		})
	}
}

func TestRejectAPI(t *testing.T) {
	for _, d := range dialects {
		srv := d.start(tenantauthtest.Config{})
		tok := mustToken(t, d, srv)
		srv.RejectAPI(2)
		var got []int
		for range 3 {
			got = append(got, api(t, srv, tok).status)
		}
		if fmt.Sprint(got) != "[401 401 200]" {
			t.Errorf("%s: statuses %v, want [401 401 200]", d.name, got)
		}
		srv.RejectAPI(5)
		srv.RejectAPI(0)
		if s := api(t, srv, tok).status; s != http.StatusOK {
			t.Errorf("%s: RejectAPI(0) did not cancel: status %d", d.name, s)
		}
		if st := srv.Stats(); st.APIRequests != 4 || st.APIUnauthorized != 2 {
			t.Errorf("%s: stats %d API requests, %d unauthorized; want 4, 2", d.name, st.APIRequests, st.APIUnauthorized)
		}
		srv.Close()
	}
}

func TestFailNext(t *testing.T) {
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			srv := d.start(tenantauthtest.Config{})
			defer srv.Close()
			srv.FailNext(1, tenantauthtest.Failure{Status: 429, Header: http.Header{"Retry-After": {"7"}}})
			srv.FailNext(2, tenantauthtest.Failure{Status: 500, Body: `{"error":"server_error"}`})
			srv.FailNext(1, tenantauthtest.Failure{})
			srv.FailNext(1, tenantauthtest.Failure{Status: 502, Body: "<html>Bad Gateway</html>"})
			want := []struct {
				status int
				header string
				ctype  string
				body   string
			}{
				{429, "7", "", ""},
				{500, "", "application/json", `{"error":"server_error"}`},
				{500, "", "application/json", `{"error":"server_error"}`},
				{503, "", "", ""},
				{502, "", "text/html; charset=utf-8", "<html>Bad Gateway</html>"},
			}
			for i, w := range want {
				r := d.token(t, srv)
				if r.status != w.status || r.header.Get("Retry-After") != w.header || r.body != w.body ||
					(w.ctype != "" && r.header.Get("Content-Type") != w.ctype) {
					t.Errorf("request %d: status %d, Retry-After %q, Content-Type %q, body %q; want %+v",
						i, r.status, r.header.Get("Retry-After"), r.header.Get("Content-Type"), r.body, w)
				}
			}
			if r := d.token(t, srv); r.status != http.StatusOK {
				t.Errorf("after the failures: status %d", r.status)
			}
			srv.FailNext(3, tenantauthtest.Failure{Status: 500})
			srv.FailNext(0, tenantauthtest.Failure{})
			if r := d.token(t, srv); r.status != http.StatusOK {
				t.Errorf("FailNext(0) did not cancel: status %d", r.status)
			}
			st := srv.Stats()
			if st.TokenRequests != 7 || st.TokenErrors != 5 || st.ByGrant["password"] != 7 || st.ByClient["client"] != 7 {
				t.Errorf("stats %+v; want 7 requests (all counted by grant and client), 5 errors", st)
			}
		})
	}
}

func TestFailNextCloseConn(t *testing.T) {
	for _, d := range dialects {
		for _, tls := range []bool{false, true} {
			srv := d.start(tenantauthtest.Config{TLS: tls})
			srv.FailNext(1, tenantauthtest.Failure{CloseConn: true, Status: 200, Body: "ignored"})
			r, err := doErr(srv.Client(), request{url: srv.TokenURL(), contentType: "application/json", body: ppPasswordBody})
			if err == nil {
				t.Errorf("%s tls=%v: CloseConn: got an answer: %d %s", d.name, tls, r.status, r.body)
			}
			if r := d.token(t, srv); r.status != http.StatusOK {
				t.Errorf("%s tls=%v: after CloseConn: status %d", d.name, tls, r.status)
			}
			if st := srv.Stats(); st.TokenRequests != 2 || st.TokenErrors != 1 {
				t.Errorf("%s tls=%v: stats %+v", d.name, tls, st)
			}
			srv.Close()
		}
	}
}

func TestFailNextHang(t *testing.T) {
	for _, d := range dialects {
		srv := d.start(tenantauthtest.Config{})
		srv.FailNext(1, tenantauthtest.Failure{Hang: true, Status: 200, Body: "ignored"})
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() {
			_, err := doErr(srv.Client(), request{ctx: ctx, url: srv.TokenURL(), contentType: formType})
			errc <- err
		}()
		waitFor(t, "the hung request to arrive", func() bool { return srv.Stats().TokenRequests == 1 })
		// Another request is answered meanwhile; the hung one still is not.
		if r := d.token(t, srv); r.status != http.StatusOK {
			t.Errorf("%s: request next to a hung one: status %d", d.name, r.status)
		}
		select {
		case err := <-errc:
			t.Fatalf("%s: hung request answered: %v", d.name, err)
		default:
		}
		cancel()
		if err := <-errc; !errors.Is(err, context.Canceled) {
			t.Errorf("%s: hung request ended with %v, want context.Canceled", d.name, err)
		}
		srv.Close()
	}
}

func TestLatency(t *testing.T) {
	const latency = 30 * time.Millisecond
	for _, d := range dialects {
		srv := d.start(tenantauthtest.Config{Latency: latency})
		start := time.Now()
		r := d.token(t, srv)
		// A lower bound only: a timer never fires early.
		if elapsed := time.Since(start); r.status != http.StatusOK || elapsed < latency {
			t.Errorf("%s: status %d after %v, want 200 after at least %v", d.name, r.status, elapsed, latency)
		}

		// A client that gives up during the latency gets its error, and
		// the server does not answer it.
		srv.SetLatency(time.Hour)
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() {
			_, err := doErr(srv.Client(), request{ctx: ctx, url: srv.TokenURL(), contentType: formType})
			errc <- err
		}()
		waitFor(t, "the slow request to arrive", func() bool { return srv.Stats().TokenRequests == 2 })
		cancel()
		if err := <-errc; !errors.Is(err, context.Canceled) {
			t.Errorf("%s: cancelled request ended with %v", d.name, err)
		}
		srv.SetLatency(0)
		if r := d.token(t, srv); r.status != http.StatusOK {
			t.Errorf("%s: SetLatency(0): status %d", d.name, r.status)
		}
		srv.Close()
	}
}

// 50 concurrent clients; every counter must come out exact.
func TestStatsUnderConcurrency(t *testing.T) {
	const (
		clients = 50
		rounds  = 10
		tenants = 5
	)
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			cfg := tenantauthtest.Config{Clients: map[string]string{}, Users: map[string]string{}}
			for i := range tenants {
				cfg.Clients[fmt.Sprint("c", i)] = fmt.Sprint("s", i)
				cfg.Users[fmt.Sprint("u", i, "@example.com")] = fmt.Sprint("p", i)
			}
			srv := d.start(cfg)
			defer srv.Close()
			hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
			defer hc.CloseIdleConnections()

			tokenRequest := func(grant string, i int, password string) request {
				c, s, u := fmt.Sprint("c", i), fmt.Sprint("s", i), fmt.Sprint("u", i, "@example.com")
				kv := []string{"grant_type", grant, "client_id", c, "client_secret", s}
				if grant == "password" {
					kv = append(kv, "username", u, "password", password)
				}
				return d.build(srv, kv...)
			}

			var mu sync.Mutex
			seen := map[string]bool{}
			var failures atomic.Int64
			var wg sync.WaitGroup
			for g := range clients {
				wg.Add(1)
				go func() {
					defer wg.Done()
					i := g % tenants
					check := func(rq request, want int) reply {
						r, err := doErr(hc, rq)
						if err != nil || r.status != want {
							failures.Add(1)
						}
						return r
					}
					for range rounds {
						r := check(tokenRequest("password", i, fmt.Sprint("p", i)), 200)
						tok := r.str("access_token")
						cc := check(tokenRequest("client_credentials", i, ""), 200)
						check(tokenRequest("password", i, "wrong"), map[string]int{"keycloak": 401, "passport": 400, "standard": 400}[d.name])
						a := check(request{method: http.MethodGet, url: srv.APIURL() + "/me", auth: "Bearer " + tok}, 200)
						if a.str("client_id") != fmt.Sprint("c", i) || a.str("username") != fmt.Sprint("u", i, "@example.com") {
							failures.Add(1)
						}
						check(request{method: http.MethodGet, url: srv.APIURL() + "/me", auth: "Bearer x" + tok}, 401)
						mu.Lock()
						for _, tk := range []string{tok, cc.str("access_token")} {
							if tk == "" || seen[tk] {
								failures.Add(1)
							}
							seen[tk] = true
						}
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			if n := failures.Load(); n != 0 {
				t.Fatalf("%d requests got an unexpected answer", n)
			}
			st := srv.Stats()
			perTenant := clients / tenants * rounds
			if st.TokenRequests != clients*rounds*3 || st.TokenErrors != clients*rounds ||
				st.ByGrant["password"] != clients*rounds*2 || st.ByGrant["client_credentials"] != clients*rounds ||
				st.APIRequests != clients*rounds*2 || st.APIUnauthorized != clients*rounds || len(st.ByGrant) != 2 {
				t.Errorf("stats %+v", st)
			}
			for i := range tenants {
				if st.ByClient[fmt.Sprint("c", i)] != perTenant*3 || st.ByUser[fmt.Sprint("u", i, "@example.com")] != perTenant*2 {
					t.Errorf("tenant %d: %d client requests, %d user requests; want %d, %d",
						i, st.ByClient[fmt.Sprint("c", i)], st.ByUser[fmt.Sprint("u", i, "@example.com")], perTenant*3, perTenant*2)
				}
			}
			if st.MaxConcurrentTokenRequests < 1 || st.MaxConcurrentTokenRequests > clients {
				t.Errorf("MaxConcurrentTokenRequests = %d", st.MaxConcurrentTokenRequests)
			}
		})
	}
}

func TestMaxConcurrentTokenRequests(t *testing.T) {
	const n = 50
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			srv := d.start(tenantauthtest.Config{})
			defer srv.Close()
			// Sequential requests never overlap.
			for range 3 {
				d.token(t, srv)
			}
			if got := srv.Stats().MaxConcurrentTokenRequests; got != 1 {
				t.Errorf("sequential: MaxConcurrentTokenRequests = %d, want 1", got)
			}

			// n hung requests are all in flight at once.
			srv.ResetStats()
			srv.FailNext(n, tenantauthtest.Failure{Hang: true})
			hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n}}
			defer hc.CloseIdleConnections()
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			var canceled atomic.Int64
			for range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, err := doErr(hc, request{ctx: ctx, url: srv.TokenURL(), contentType: formType})
					if errors.Is(err, context.Canceled) {
						canceled.Add(1)
					}
				}()
			}
			waitFor(t, "all requests to arrive", func() bool { return srv.Stats().TokenRequests == n })
			st := srv.Stats()
			cancel()
			wg.Wait()
			if st.MaxConcurrentTokenRequests != n || st.TokenErrors != n {
				t.Errorf("MaxConcurrentTokenRequests = %d, TokenErrors = %d; want %d, %d", st.MaxConcurrentTokenRequests, st.TokenErrors, n, n)
			}
			if canceled.Load() != n {
				t.Errorf("%d of %d hung requests ended with context.Canceled", canceled.Load(), n)
			}
		})
	}
}

func TestResetStats(t *testing.T) {
	srv := tenantauthtest.NewKeycloak(tenantauthtest.Config{})
	defer srv.Close()
	tok := kcPassword(t, srv).str("access_token")
	api(t, srv, tok)
	snap := srv.Stats()
	snap.ByGrant["password"] = 99 // a snapshot is a copy
	srv.ResetStats()
	st := srv.Stats()
	if st.TokenRequests != 0 || st.APIRequests != 0 || len(st.ByGrant) != 0 || len(st.ByClient) != 0 ||
		len(st.ByUser) != 0 || st.MaxConcurrentTokenRequests != 0 {
		t.Errorf("after ResetStats: %+v", st)
	}
	if r := api(t, srv, tok); r.status != http.StatusOK {
		t.Errorf("ResetStats dropped tokens: status %d", r.status)
	}
	kcPassword(t, srv)
	if got := srv.Stats().ByGrant["password"]; got != 1 {
		t.Errorf("ByGrant[password] = %d, want 1", got)
	}
}

func TestTLS(t *testing.T) {
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			srv := d.start(tenantauthtest.Config{TLS: true})
			defer srv.Close()
			if !strings.HasPrefix(srv.URL, "https://127.0.0.1:") || !strings.HasPrefix(srv.TokenURL(), "https://") {
				t.Errorf("URL %q, TokenURL %q", srv.URL, srv.TokenURL())
			}
			if r := api(t, srv, mustToken(t, d, srv)); r.status != http.StatusOK {
				t.Errorf("API over TLS: status %d", r.status)
			}
			// A client that does not trust the certificate fails.
			tr := &http.Transport{}
			defer tr.CloseIdleConnections()
			_, err := doErr(&http.Client{Transport: tr}, request{url: srv.TokenURL(), contentType: formType})
			if err == nil || !strings.Contains(err.Error(), "certificate") {
				t.Errorf("untrusting client: err = %v, want a certificate error", err)
			}
		})
	}
}

func TestConfigIsCopied(t *testing.T) {
	clients := map[string]string{"a": "1"}
	srv := tenantauthtest.NewKeycloak(tenantauthtest.Config{Clients: clients})
	defer srv.Close()
	clients["a"] = "2"
	if r := kcPost(t, srv, "grant_type", "client_credentials", "client_id", "a", "client_secret", "1"); r.status != http.StatusOK {
		t.Errorf("the server saw a change to the caller's map: status %d", r.status)
	}
}

func TestNotFound(t *testing.T) {
	srv := tenantauthtest.NewKeycloak(tenantauthtest.Config{})
	defer srv.Close()
	for _, p := range []string{"/", "/realms/other/protocol/openid-connect/token", "/oauth/token"} {
		if r := do(t, srv.Client(), request{url: srv.URL + p, contentType: formType}); r.status != http.StatusNotFound {
			t.Errorf("POST %s: status %d, want 404", p, r.status)
		}
	}
	if st := srv.Stats(); st.TokenRequests != 0 {
		t.Errorf("404s counted as token requests: %d", st.TokenRequests)
	}
}

// No client secret or password ever comes back, whatever the request.
func TestNoSecretsInResponses(t *testing.T) {
	const secret, password = "Sekr1t-client-value", "Pa55-user-value"
	cfg := tenantauthtest.Config{
		Clients:       map[string]string{"c": secret},
		Users:         map[string]string{"u@example.com": password},
		RefreshTokens: true,
	}
	for _, d := range dialects {
		srv := d.start(cfg)
		var bodies []string
		for _, grant := range []string{"password", "client_credentials", "refresh_token", "bogus"} {
			for _, sec := range []string{secret, "wrong"} {
				for _, pw := range []string{password, "wrong"} {
					r := do(t, srv.Client(), d.build(srv, "grant_type", grant, "client_id", "c", "client_secret", sec,
						"username", "u@example.com", "password", pw, "refresh_token", "x"))
					bodies = append(bodies, r.body, fmt.Sprint(r.header))
					if tok := r.str("access_token"); tok != "" {
						a := api(t, srv, tok)
						bodies = append(bodies, a.body, fmt.Sprint(a.header))
					}
				}
			}
		}
		for _, b := range bodies {
			if strings.Contains(b, secret) || strings.Contains(b, password) {
				t.Errorf("%s: a secret leaked: %s", d.name, b)
			}
		}
		srv.Close()
	}
}

// Close ends hung and slow requests and leaves no goroutine behind.
func TestCloseLeavesNoGoroutine(t *testing.T) {
	for _, d := range dialects {
		for _, tls := range []bool{false, true} {
			for _, how := range []string{"hang", "latency"} {
				t.Run(fmt.Sprintf("%s/tls=%v/%s", d.name, tls, how), func(t *testing.T) {
					before := runtime.NumGoroutine()
					srv := d.start(tenantauthtest.Config{TLS: tls})
					if how == "hang" {
						srv.FailNext(1, tenantauthtest.Failure{Hang: true})
					} else {
						srv.SetLatency(time.Hour)
					}
					errc := make(chan error, 1)
					go func() {
						_, err := doErr(srv.Client(), request{url: srv.TokenURL(), contentType: formType})
						errc <- err
					}()
					waitFor(t, "the request to arrive", func() bool { return srv.Stats().TokenRequests == 1 })

					closed := make(chan struct{})
					go func() {
						srv.Close()
						srv.Close() // idempotent
						close(closed)
					}()
					select {
					case <-closed:
					case <-time.After(10 * time.Second):
						t.Fatal("Close blocked on a request in progress")
					}
					if err := <-errc; err == nil {
						t.Error("the request in progress got an answer")
					}
					waitFor(t, fmt.Sprintf("goroutines to drop to %d", before), func() bool {
						return runtime.NumGoroutine() <= before
					})
				})
			}
		}
	}
}

// reentrantClock calls back into the server from Now, as a test's clock
// that logs the server's state might. The server must never hold its lock
// while it asks the clock.
type reentrantClock struct {
	fake *fakeClock
	srv  atomic.Pointer[tenantauthtest.Server]
}

func (c *reentrantClock) Now() time.Time {
	if s := c.srv.Load(); s != nil {
		_ = s.Stats()
	}
	return c.fake.Now()
}

func TestClockIsNotCalledUnderLock(t *testing.T) {
	for _, d := range dialects {
		clock := &reentrantClock{fake: newFakeClock()}
		srv := d.start(tenantauthtest.Config{Clock: clock, RefreshTokens: true})
		clock.srv.Store(srv)
		// A deadlock would hang the test goroutine; the watchdog turns it
		// into a crash that prints every goroutine's stack.
		watchdog := time.AfterFunc(10*time.Second, func() {
			_ = pprof.Lookup("goroutine").WriteTo(os.Stderr, 2)
			panic(d.name + ": deadlock: the server called the clock under its lock")
		})
		r := d.token(t, srv)
		api(t, srv, r.str("access_token"))
		if rr := do(t, srv.Client(), d.build(srv, "grant_type", "refresh_token", "client_id", "client", "client_secret", "secret",
			"refresh_token", r.str("refresh_token"))); rr.status != http.StatusOK {
			t.Errorf("%s: refresh: status %d: %s", d.name, rr.status, rr.body)
		}
		srv.Revoke(r.str("access_token"))
		srv.RevokeAll()
		watchdog.Stop()
		if st := srv.Stats(); st.TokenRequests != 2 || st.TokenErrors != 0 || st.APIUnauthorized != 0 {
			t.Errorf("%s: stats %+v", d.name, st)
		}
		srv.Close()
	}
}

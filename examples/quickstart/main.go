// Command quickstart shows tenantauth end to end, on this machine only: one
// http.Client calls the APIs of three tenants with each tenant's own token,
// and recovers by itself when one of them revokes every token mid-run.
//
//	go run ./examples/quickstart
//
// It starts three stand-in token servers on 127.0.0.1 (package
// tenantauthtest), each with a protected API:
//
//   - a Keycloak for the Fluencypass tenant "fluencypass-acme"
//     (client_credentials grant, form body, realm "fluencypass");
//   - two Laravel Passport servers for the HubSoft customers "hubsoft-alpha"
//     and "hubsoft-beta" (password grant, JSON body, each on its own port).
//
// Workers then make concurrent API calls for the three tenants through one
// Manager and one http.Client whose Transport is httpauth's. Halfway through,
// hubsoft-beta's server drops every token, as HubSoft does after an upgrade;
// the Transport sees the 401s, the Manager fetches one new token, and the
// calls are retried once. The report shows that ~450 calls cost one token
// request per tenant, plus one for the revocation. The program exits 1 when
// a call fails or a tenant used more token requests than that.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/tenantauth/tenantauth"
	"github.com/tenantauth/tenantauth/middleware/httpauth"
	"github.com/tenantauth/tenantauth/providers/keycloak"
	"github.com/tenantauth/tenantauth/providers/passport"
	"github.com/tenantauth/tenantauth/tenantauthtest"
)

const (
	workers        = 8
	callsPerTenant = 450
	// revokedTenant loses every token once half of the calls were handed out.
	revokedTenant = "hubsoft-beta"
	// timeLimit bounds the whole run.
	timeLimit = 30 * time.Second
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), timeLimit)
	err := run(ctx, os.Stdout)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "quickstart: FAILED:", err)
		os.Exit(1)
	}
}

// tenant is one demo tenant: its stand-in server and what happened to it.
type tenant struct {
	id     string
	kind   string // "keycloak" or "passport"
	srv    *tenantauthtest.Server
	config tenantauth.Tenant

	calls, ok atomic.Int64
	firstErr  atomic.Pointer[error]
}

func (t *tenant) fail(err error) { t.firstErr.CompareAndSwap(nil, &err) }

// run is the whole demo; it writes the report to w and returns an error
// when something did not go as promised.
func run(ctx context.Context, w io.Writer) error {
	tenants, err := startTenants()
	defer func() {
		for _, t := range tenants {
			t.srv.Close()
		}
	}()
	if err != nil {
		return err
	}

	ts := tenantauth.Tenants{}
	for _, t := range tenants {
		ts[t.id] = t.config
	}
	m, err := tenantauth.New(tenantauth.Config{Tenants: ts})
	if err != nil {
		return err
	}
	defer m.Close()

	base := &http.Transport{MaxIdleConnsPerHost: workers}
	client := &http.Client{Transport: httpauth.NewTransport(m, base), Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()

	start := time.Now()
	calls(ctx, client, tenants)
	elapsed := time.Since(start)

	return report(w, tenants, elapsed)
}

// startTenants starts the three stand-in servers and describes the tenants
// that use them. The credentials are made up; the servers know them.
func startTenants() ([]*tenant, error) {
	kc := tenantauthtest.NewKeycloak(tenantauthtest.Config{
		Realm:   "fluencypass",
		Clients: map[string]string{"acme-integration": "acme-client-secret"},
	})
	tenants := []*tenant{{id: "fluencypass-acme", kind: "keycloak", srv: kc}}
	for _, id := range []string{"hubsoft-alpha", "hubsoft-beta"} {
		srv := tenantauthtest.NewPassport(tenantauthtest.Config{
			Clients:       map[string]string{"3": id + "-client-secret"},
			Users:         map[string]string{"integration@" + id + ".example": id + "-password"},
			RefreshTokens: true,
			TokenLifetime: 30 * 24 * time.Hour, // HubSoft's 30 days
		})
		tenants = append(tenants, &tenant{id: id, kind: "passport", srv: srv})
	}

	for _, t := range tenants {
		u, err := url.Parse(t.srv.APIURL())
		if err != nil {
			return tenants, err
		}
		var p tenantauth.Provider
		var cred tenantauth.Credentials
		if t.kind == "keycloak" {
			p, err = keycloak.New(keycloak.Config{BaseURL: t.srv.URL, Realm: "fluencypass"})
			cred = tenantauth.Credentials{ClientID: "acme-integration", ClientSecret: "acme-client-secret"}
		} else {
			p, err = passport.HubSoft(t.srv.URL)
			cred = tenantauth.Credentials{
				ClientID: "3", ClientSecret: tenantauth.Secret(t.id + "-client-secret"),
				Username: "integration@" + t.id + ".example", Password: tenantauth.Secret(t.id + "-password"),
			}
		}
		if err != nil {
			return tenants, fmt.Errorf("provider for %s: %w", t.id, err)
		}
		// The tenant's token may go to its own API's host:port only.
		t.config = tenantauth.Tenant{Provider: p, Credentials: cred, APIHosts: []string{u.Host}}
	}
	return tenants, nil
}

// calls hands callsPerTenant calls per tenant, interleaved, to the workers,
// and revokes revokedTenant's tokens halfway. The job channel is unbuffered,
// so every call handed out after RevokeAll starts after it: the revocation
// is certain to be noticed.
func calls(ctx context.Context, client *http.Client, tenants []*tenant) {
	type job struct {
		t *tenant
		n int
	}
	jobs := make(chan job)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				call(ctx, client, j.t, j.n)
			}
		}()
	}

	total := callsPerTenant * len(tenants)
	for i := 0; i < total && ctx.Err() == nil; i++ {
		if i == total/2 {
			for _, t := range tenants {
				if t.id == revokedTenant {
					t.srv.RevokeAll() // "after an upgrade all tokens are dropped"
				}
			}
		}
		select {
		case jobs <- job{t: tenants[i%len(tenants)], n: i}:
		case <-ctx.Done():
		}
	}
	close(jobs)
	wg.Wait()
}

// call makes one API call for t.
func call(ctx context.Context, client *http.Client, t *tenant, n int) {
	t.calls.Add(1)
	ctx = tenantauth.WithTenant(ctx, t.id)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/orders/%d", t.srv.APIURL(), n), nil)
	if err != nil {
		t.fail(err)
		return
	}
	resp, err := client.Do(req)
	if err != nil {
		t.fail(err)
		return
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.fail(fmt.Errorf("GET %s: %s", req.URL.Path, resp.Status))
		return
	}
	t.ok.Add(1)
}

// report prints the table and checks the promises: every call succeeded,
// each 401 was retried exactly once, and each tenant cost one token request
// (two for the one whose tokens were revoked).
func report(w io.Writer, tenants []*tenant, elapsed time.Duration) error {
	var problems []string
	var calls, ok, recovered, tokens int64
	fmt.Fprintf(w, "tenantauth quickstart: %d tenants, one http.Client, %d workers\n\n", len(tenants), workers)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "tenant\tserver\tcalls\tok\t401s recovered\ttoken requests")
	for _, t := range tenants {
		st := t.srv.Stats()
		wantTokens := 1
		note := ""
		if t.id == revokedTenant {
			wantTokens = 2
			note = "  <- all tokens revoked halfway"
		}
		fmt.Fprintf(tw, "%s\t%s %s\t%d\t%d\t%d\t%d (%s)%s\n", t.id, t.kind, strings.TrimPrefix(t.srv.URL, "http://"),
			t.calls.Load(), t.ok.Load(), st.APIUnauthorized, st.TokenRequests, grants(st.ByGrant), note)

		calls += t.calls.Load()
		ok += t.ok.Load()
		recovered += int64(st.APIUnauthorized)
		tokens += int64(st.TokenRequests)
		if e := t.firstErr.Load(); e != nil {
			problems = append(problems, fmt.Sprintf("%s: %d of %d calls failed, first: %v", t.id, t.calls.Load()-t.ok.Load(), t.calls.Load(), *e))
		}
		if t.calls.Load() != callsPerTenant {
			problems = append(problems, fmt.Sprintf("%s: %d calls made, want %d", t.id, t.calls.Load(), callsPerTenant))
		}
		if st.TokenRequests > wantTokens {
			problems = append(problems, fmt.Sprintf("%s: %d token requests, want at most %d", t.id, st.TokenRequests, wantTokens))
		}
		if int64(st.APIRequests) != t.calls.Load()+int64(st.APIUnauthorized) {
			problems = append(problems, fmt.Sprintf("%s: %d API requests for %d calls and %d 401s, want one retry per 401",
				t.id, st.APIRequests, t.calls.Load(), st.APIUnauthorized))
		}
		if t.id == revokedTenant && st.APIUnauthorized == 0 {
			problems = append(problems, t.id+": the revocation was never noticed")
		}
	}
	_ = tw.Flush()
	fmt.Fprintf(w, "\n%d calls, %d succeeded; %d rejected tokens recovered with one retry each;\n", calls, ok, recovered)
	fmt.Fprintf(w, "%d token requests in all; %s elapsed.\n", tokens, elapsed.Round(time.Millisecond))
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	explain(w, tenants)
	fmt.Fprintln(w, "OK")
	return nil
}

// explain says what the figures of a successful run mean, with the run's own
// numbers.
func explain(w io.Writer, tenants []*tenant) {
	rejected := 0
	for _, t := range tenants {
		if t.id == revokedTenant {
			rejected = t.srv.Stats().APIUnauthorized
		}
	}
	fmt.Fprintf(w, "\nWhy so few token requests:\n")
	fmt.Fprintf(w, "- %d calls per tenant, 1 token request each: the first calls of a tenant wait for one\n", callsPerTenant)
	fmt.Fprintf(w, "  shared fetch; every later call reuses the cached token, valid for the whole run.\n")
	if rejected == 1 {
		fmt.Fprintf(w, "- %s's server dropped every token halfway. The next call, sent with the cached token,\n", revokedTenant)
		fmt.Fprintf(w, "  got 401: the Transport dropped that token, the Manager fetched a new one, and the call\n")
		fmt.Fprintf(w, "  was retried once with it: 1 rejected token cost 1 token request; the caller saw 200.\n")
		return
	}
	fmt.Fprintf(w, "- %s's server dropped every token halfway. The %d calls that still carried the cached\n", revokedTenant, rejected)
	fmt.Fprintf(w, "  token got 401. The first 401 dropped that token (the others found it gone already:\n")
	fmt.Fprintf(w, "  compare-and-drop), one new token was fetched for all of them, and each call was retried\n")
	fmt.Fprintf(w, "  once with it: %d rejected tokens cost 1 token request, and no caller saw a 401.\n", rejected)
}

// grants renders a server's token requests by grant, e.g. "password".
func grants(by map[string]int) string {
	var parts []string
	for g, n := range by {
		if n == 1 {
			parts = append(parts, g)
		} else {
			parts = append(parts, fmt.Sprintf("%s x%d", g, n))
		}
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

package xoauth2_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/tenantauth/tenantauth"
	"github.com/tenantauth/tenantauth/breaker"
	"github.com/tenantauth/tenantauth/tenantauthtest"
	"github.com/tenantauth/tenantauth/xoauth2"
)

// A cold tenant, 100 goroutines asking a TokenSource and 100 sending
// requests through a Client at once: one token request, one token for
// all, and nothing left running after Close.
func TestHerdOneTokenRequest(t *testing.T) {
	before := runtime.NumGoroutine()
	idp := newIdP(t, tenantauthtest.Config{Latency: 100 * time.Millisecond})
	m, provider := newManager(t, idp, tenantauth.Config{})
	tr := &http.Transport{MaxIdleConnsPerHost: 100}
	client := xoauth2.Client(m, "acme", tr)
	ts := xoauth2.TokenSource(context.Background(), m, "acme")

	const n = 100
	var (
		start   = make(chan struct{})
		wg      sync.WaitGroup
		mu      sync.Mutex
		tokens  = map[string]int{}
		clients = map[string]int{}
		errs    []error
	)
	fail := func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
	}
	for range n {
		wg.Go(func() {
			<-start
			tok, err := ts.Token()
			if err != nil {
				fail(err)
				return
			}
			mu.Lock()
			tokens[tok.AccessToken]++
			mu.Unlock()
		})
		wg.Go(func() {
			<-start
			resp, err := client.Get(idp.APIURL() + "/herd")
			if err != nil {
				fail(err)
				return
			}
			defer resp.Body.Close()
			var who struct {
				ClientID string `json:"client_id"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&who); err != nil || resp.StatusCode != http.StatusOK {
				fail(fmt.Errorf("API answered %s (decoding: %v)", resp.Status, err))
				return
			}
			mu.Lock()
			clients[who.ClientID]++
			mu.Unlock()
		})
	}
	close(start)
	wg.Wait()

	for _, err := range errs {
		t.Error(err)
	}
	st := idp.Stats()
	if st.TokenRequests != 1 || st.MaxConcurrentTokenRequests != 1 {
		t.Errorf("token requests = %d (at most %d at once), want 1", st.TokenRequests, st.MaxConcurrentTokenRequests)
	}
	if st.APIUnauthorized != 0 {
		t.Errorf("API answered 401 %d times", st.APIUnauthorized)
	}
	if len(tokens) != 1 {
		t.Errorf("TokenSource callers got %d distinct tokens, want 1", len(tokens))
	}
	if clients[acmeClient] != n {
		t.Errorf("API requests made as %v, want %d as %s", clients, n, acmeClient)
	}
	if got := m.Stats().Fetches; got != 1 {
		t.Errorf("Manager fetches = %d, want 1", got)
	}

	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	tr.CloseIdleConnections()
	provider.CloseIdleConnections()
	idp.Close()
	checkNoLeak(t, before)
}

// What the Manager does to a tenant's token is seen by the TokenSource on
// its next call: there is no second cache.
func TestManagerChangesSeenAtOnce(t *testing.T) {
	tests := []struct {
		name string
		// replace makes the Manager drop the token it gave as old.
		replace func(t *testing.T, m *tenantauth.Manager, idp *tenantauthtest.Server, client *http.Client, old *oauth2.Token)
	}{
		{"Invalidate", func(t *testing.T, m *tenantauth.Manager, _ *tenantauthtest.Server, _ *http.Client, old *oauth2.Token) {
			cur, err := m.Token(context.Background(), "acme")
			if err != nil {
				t.Fatal(err)
			}
			if cur.AccessToken.Reveal() != old.AccessToken {
				t.Fatal("the TokenSource's token is not the Manager's")
			}
			m.Invalidate("acme", cur)
		}},
		{"Forget", func(t *testing.T, m *tenantauth.Manager, _ *tenantauthtest.Server, _ *http.Client, _ *oauth2.Token) {
			m.Forget("acme")
		}},
		{"401 through Client", func(t *testing.T, _ *tenantauth.Manager, idp *tenantauthtest.Server, client *http.Client, old *oauth2.Token) {
			if !idp.Revoke(old.AccessToken) {
				t.Fatal("the identity provider does not know the TokenSource's token")
			}
			resp, err := client.Get(idp.APIURL() + "/after-revoke")
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("API answered %s after the retry, want 200", resp.Status)
			}
			if got := idp.Stats().APIUnauthorized; got != 1 {
				t.Fatalf("API answered 401 %d times, want 1", got)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			idp := newIdP(t, tenantauthtest.Config{})
			m, _ := newManager(t, idp, tenantauth.Config{})
			tr := &http.Transport{}
			t.Cleanup(tr.CloseIdleConnections)
			client := xoauth2.Client(m, "acme", tr)
			ts := xoauth2.TokenSource(context.Background(), m, "acme")

			old, err := ts.Token()
			if err != nil {
				t.Fatal(err)
			}
			if again, err := ts.Token(); err != nil || again.AccessToken != old.AccessToken {
				t.Fatalf("second Token() = %v, %v; want the cached token", again != nil && again.AccessToken == old.AccessToken, err)
			}
			tt.replace(t, m, idp, client, old)
			fresh, err := ts.Token()
			if err != nil {
				t.Fatal(err)
			}
			if fresh.AccessToken == old.AccessToken {
				t.Fatal("the TokenSource still hands out the dropped token")
			}
			if who, err := whoIs(context.Background(), idp, fresh.Type()+" "+fresh.AccessToken); err != nil || who != acmeClient {
				t.Fatalf("the new token is refused by the API: %q, %v", who, err)
			}
			if got := idp.Stats().TokenRequests; got != 2 {
				t.Errorf("token requests = %d, want 2 (one per token, shared by Client and TokenSource)", got)
			}
		})
	}
}

// A token close to its expiry is still served while the Manager replaces
// it in the background; the TokenSource then hands out the new one. No
// Token call waits on the token endpoint.
func TestRefreshAhead(t *testing.T) {
	clock := newFakeClock()
	idp := newIdP(t, tenantauthtest.Config{Clock: clock, TokenLifetime: 10 * time.Minute})
	p, err := newKeycloak(idp)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := newManager(t, idp, tenantauth.Config{Clock: clock, Tenants: tenantauth.Tenants{"acme": {
		Provider:    onClock{p, clock},
		APIHosts:    []string{"127.0.0.1"},
		Credentials: tenantauth.Credentials{ClientID: acmeClient, ClientSecret: acmeSecret},
	}}})
	ts := xoauth2.TokenSource(context.Background(), m, "acme")
	old, err := ts.Token()
	if err != nil {
		t.Fatal(err)
	}
	// Defaults: a 30 s skew and a one-minute refresh window before it,
	// so the refresh is due between 8m30s and 9m, the token stale at 9m30s.
	clock.Advance(9*time.Minute + 5*time.Second)
	served, err := ts.Token()
	if err != nil {
		t.Fatal(err)
	}
	if served.AccessToken != old.AccessToken {
		t.Fatal("the token due for refresh was not served while it is replaced")
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		tok, err := ts.Token()
		if err != nil {
			t.Fatal(err)
		}
		if tok.AccessToken != old.AccessToken {
			if !tok.Expiry.After(old.Expiry) {
				t.Errorf("the new token expires at %v, not after the old one's %v", tok.Expiry, old.Expiry)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the background refresh never reached the TokenSource")
		}
		time.Sleep(time.Millisecond)
	}
	if st := m.Stats(); st.Refreshes != 1 || idp.Stats().TokenRequests != 2 {
		t.Errorf("refreshes = %d, token requests = %d; want 1 and 2", st.Refreshes, idp.Stats().TokenRequests)
	}
}

// The circuit breaker of the tenant's token endpoint works through the
// TokenSource: once open, Token fails fast with ErrCircuitOpen.
func TestBreaker(t *testing.T) {
	idp := newIdP(t, tenantauthtest.Config{})
	m, _ := newManager(t, idp, tenantauth.Config{
		Retries: -1,
		Breaker: breaker.Config{ConsecutiveFailures: 2, OpenTimeout: time.Hour},
	})
	idp.FailNext(2, tenantauthtest.Failure{Status: http.StatusInternalServerError})
	ts := xoauth2.TokenSource(context.Background(), m, "acme")
	for range 2 {
		if _, err := ts.Token(); err == nil || errors.Is(err, tenantauth.ErrCircuitOpen) {
			t.Fatalf("Token() = %v, want the endpoint's failure", err)
		}
	}
	if _, err := ts.Token(); !errors.Is(err, tenantauth.ErrCircuitOpen) {
		t.Fatalf("Token() = %v, want an error matching ErrCircuitOpen", err)
	}
	if got := idp.Stats().TokenRequests; got != 2 {
		t.Errorf("token requests = %d, want 2 (none while the circuit is open)", got)
	}
}

// Errors are the Manager's typed errors, matched with errors.Is, and carry
// no secret.
func TestErrors(t *testing.T) {
	idp := newIdP(t, tenantauthtest.Config{})
	m, p := newManager(t, idp, tenantauth.Config{})
	wrong, _ := newManager(t, idp, tenantauth.Config{Tenants: tenantauth.Tenants{"acme": {
		Provider:    p,
		APIHosts:    []string{"127.0.0.1"},
		Credentials: tenantauth.Credentials{ClientID: acmeClient, ClientSecret: "wrong-SECRET-must-not-leak"},
	}}})
	closed, _ := newManager(t, idp, tenantauth.Config{})
	closed.Close()
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()

	tests := []struct {
		name string
		ts   oauth2.TokenSource
		want error
	}{
		{"unknown tenant", xoauth2.TokenSource(context.Background(), m, "globex"), tenantauth.ErrUnknownTenant},
		{"empty tenant ID", xoauth2.TokenSource(context.Background(), m, ""), tenantauth.ErrNoTenant},
		{"host not in APIHosts", xoauth2.TokenSourceForHost(context.Background(), m, "acme", "evil.example:443"), tenantauth.ErrHostNotAllowed},
		{"credentials refused", xoauth2.TokenSource(context.Background(), wrong, "acme"), tenantauth.ErrInvalidCredentials},
		{"Manager closed", xoauth2.TokenSource(context.Background(), closed, "acme"), tenantauth.ErrClosed},
		{"context done", xoauth2.TokenSource(cancelled, m, "acme"), context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := tt.ts.Token()
			if tok != nil || !errors.Is(err, tt.want) {
				t.Fatalf("Token() = %v, %v; want nil, an error matching %v", tok, err, tt.want)
			}
			for _, text := range []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)} {
				if strings.Contains(text, "SECRET") {
					t.Errorf("error shows a secret: %s", text)
				}
			}
		})
	}

	t.Run("context done is explained", func(t *testing.T) {
		_, err := xoauth2.TokenSource(cancelled, m, "acme").Token()
		if !strings.Contains(fmt.Sprint(err), "context given to TokenSource is done") {
			t.Errorf("error does not say which context: %v", err)
		}
	})
	t.Run("host in APIHosts", func(t *testing.T) {
		if _, err := xoauth2.TokenSourceForHost(context.Background(), m, "acme", "127.0.0.1:8443").Token(); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("nil Manager", func(t *testing.T) {
		if tok, err := xoauth2.TokenSource(context.Background(), nil, "acme").Token(); tok != nil || err == nil {
			t.Fatalf("Token() = %v, %v; want an error", tok, err)
		}
	})
	t.Run("Client, unknown tenant", func(t *testing.T) {
		resp, err := xoauth2.Client(m, "globex", nil).Get(idp.APIURL())
		if resp != nil {
			resp.Body.Close()
		}
		if !errors.Is(err, tenantauth.ErrUnknownTenant) {
			t.Fatalf("Get: %v; want an error matching ErrUnknownTenant", err)
		}
	})
	t.Run("Client, tenant in context ignored", func(t *testing.T) {
		ctx := tenantauth.WithTenant(context.Background(), "globex")
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, idp.APIURL()+"/x", nil)
		client := xoauth2.Client(m, "acme", nil)
		defer client.CloseIdleConnections()
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("API answered %s", resp.Status)
		}
	})
	if got := idp.Stats().TokenRequests; got > 2 {
		t.Errorf("token requests = %d, want at most 2 (acme's, and the refused one)", got)
	}
}

// The oauth2.Token carries the access token, its type and its expiry, and
// never the refresh token, even when the Manager holds one.
func TestTokenFields(t *testing.T) {
	idp := newIdP(t, tenantauthtest.Config{RefreshTokens: true, TokenLifetime: 10 * time.Minute})
	p, err := newKeycloak(idp)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := newManager(t, idp, tenantauth.Config{Tenants: tenantauth.Tenants{"acme": {
		Provider: p,
		APIHosts: []string{"127.0.0.1"},
		Credentials: tenantauth.Credentials{ClientID: acmeClient, ClientSecret: acmeSecret,
			Username: tenantauthtest.DefaultUsername, Password: tenantauthtest.DefaultPassword},
	}}})
	ts := xoauth2.TokenSource(context.Background(), m, "acme")
	tok, err := ts.Token()
	if err != nil {
		t.Fatal(err)
	}
	held, err := m.Token(context.Background(), "acme")
	if err != nil {
		t.Fatal(err)
	}
	if held.RefreshToken == "" {
		t.Fatal("the stand-in issued no refresh token: the test proves nothing")
	}
	refresh := held.RefreshToken.Reveal()

	if tok.AccessToken != held.AccessToken.Reveal() || tok.TokenType != "Bearer" || !tok.Expiry.Equal(held.Expiry) {
		t.Errorf("Token() = {type %q, expiry %v}, want the Manager's token {type Bearer, expiry %v}", tok.TokenType, tok.Expiry, held.Expiry)
	}
	if life := time.Until(tok.Expiry); life < 9*time.Minute || life > 10*time.Minute {
		t.Errorf("Expiry in %v, want the real expiry, about 10 minutes away", life)
	}
	if !tok.Valid() {
		t.Error("oauth2 reports the token invalid")
	}
	if tok.RefreshToken != "" {
		t.Error("RefreshToken is set")
	}
	js, err := json.Marshal(tok)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(js), refresh) || strings.Contains(string(js), "refresh_token") {
		t.Errorf("the marshalled token holds a refresh token: %s", js)
	}
	if s := fmt.Sprintf("%v %+v %#v", ts, ts, ts); strings.Contains(s, tok.AccessToken) || strings.Contains(s, "SECRET") {
		t.Errorf("printing the TokenSource shows a secret: %s", s)
	}

	// While the Manager's token is the same, so is the oauth2.Token: a
	// cache hit allocates nothing.
	again, err := ts.Token()
	if err != nil {
		t.Fatal(err)
	}
	if again != tok {
		t.Error("a second call for the same Manager token returned another *oauth2.Token")
	}
	if allocs := testing.AllocsPerRun(100, func() { _, _ = ts.Token() }); allocs != 0 {
		t.Errorf("Token() on a cache hit allocates %v times, want 0", allocs)
	}
}

// golang.org/x/oauth2 stays out of the core module: only this nested
// module requires it.
func TestCoreModuleDoesNotRequireOAuth2(t *testing.T) {
	f, err := os.Open("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	module := ""
	for line := 1; sc.Scan(); line++ {
		text, _, _ := strings.Cut(sc.Text(), "//")
		if fields := strings.Fields(text); len(fields) == 2 && fields[0] == "module" {
			module = fields[1]
		}
		if strings.Contains(text, "golang.org/x/oauth2") {
			t.Errorf("../go.mod:%d: %s", line, strings.TrimSpace(sc.Text()))
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if module != "github.com/tenantauth/tenantauth" {
		t.Fatalf("../go.mod is module %q, not the core module", module)
	}
}

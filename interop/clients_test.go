package interop

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tenantauth/tenantauth"
	"github.com/tenantauth/tenantauth/middleware/httpauth"
	"github.com/tenantauth/tenantauth/providers/keycloak"
	"github.com/tenantauth/tenantauth/providers/passport"
)

// Credentials known to the servers (servers/keycloak.mjs, servers/passport.mjs).
// They exist only in these throwaway, loopback-only test servers.
const (
	kcRealm        = "fluencypass"
	kcPostID       = "tenantauth-post"
	kcPostSecret   = "post-secret-0123456789"
	kcBasicID      = "tenantauth-basic"
	kcBasicSecret  = "basic-secret-0123456789"
	kcUser         = "ana@fluencypass.test"
	kcUserSub      = "user-ana"
	kcUserPassword = "ana-password"

	ppClientID     = "3"
	ppClientSecret = "hubsoft-client-secret-0123456789"
	ppUser         = "ops@hubsoft.test"
	ppUserPassword = "ops-password"

	wrongSecret   = "wrong-secret-NEVER-IN-ERRORS"
	wrongPassword = "wrong-password-NEVER-IN-ERRORS"
)

func kcPasswordCreds(clientID, secret string) tenantauth.Credentials {
	return tenantauth.Credentials{
		ClientID: clientID, ClientSecret: tenantauth.Secret(secret),
		Username: kcUser, Password: kcUserPassword,
	}
}

func kcClientCreds(clientID, secret string) tenantauth.Credentials {
	return tenantauth.Credentials{
		Grant: tenantauth.GrantClientCredentials, ClientID: clientID, ClientSecret: tenantauth.Secret(secret),
	}
}

func ppPasswordCreds() tenantauth.Credentials {
	return tenantauth.Credentials{
		ClientID: ppClientID, ClientSecret: ppClientSecret, Username: ppUser, Password: ppUserPassword,
	}
}

func ppClientCreds() tenantauth.Credentials {
	return tenantauth.Credentials{
		Grant: tenantauth.GrantClientCredentials, ClientID: ppClientID, ClientSecret: ppClientSecret,
	}
}

// newKeycloak returns a keycloak provider for s whose token requests pass
// through a recorder. Plain http is accepted because the host is loopback;
// AllowInsecureHTTP stays false on purpose.
func newKeycloak(t *testing.T, s *server, auth keycloak.ClientAuth) (*keycloak.Provider, *recorder) {
	t.Helper()
	rec := newRecorder(t)
	p, err := keycloak.New(keycloak.Config{
		BaseURL: s.base, Realm: kcRealm, HTTPClient: rec.client(), ClientAuth: auth,
	})
	if err != nil {
		t.Fatalf("keycloak.New: %v", err)
	}
	return p, rec
}

func newPassport(t *testing.T, s *server) (*passport.Provider, *recorder) {
	t.Helper()
	rec := newRecorder(t)
	p, err := passport.New(passport.Config{BaseURL: s.base, HTTPClient: rec.client()})
	if err != nil {
		t.Fatalf("passport.New: %v", err)
	}
	return p, rec
}

// fetchLog counts the Manager's token endpoint attempts (Config.OnFetch).
type fetchLog struct {
	mu     sync.Mutex
	ok     map[string]int // "tenant/grant" → successful attempts
	failed map[string]int
}

func (f *fetchLog) record(e tenantauth.FetchEvent) {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := e.TenantID + "/" + string(e.Grant)
	if e.Err == nil {
		f.ok[k]++
	} else {
		f.failed[k]++
	}
}

func (f *fetchLog) String() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return fmt.Sprintf("ok=%v failed=%v", f.ok, f.failed)
}

// okFor returns the successful attempts of tenant, all grants together.
func (f *fetchLog) okFor(tenant string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for k, v := range f.ok {
		if strings.HasPrefix(k, tenant+"/") {
			n += v
		}
	}
	return n
}

// newManager builds a Manager over tenants, closed when t ends. Every
// tenant's token may go only to 127.0.0.1.
func newManager(t *testing.T, tenants tenantauth.Tenants, adjust func(*tenantauth.Config)) (*tenantauth.Manager, *fetchLog) {
	t.Helper()
	for id, tn := range tenants {
		if tn.APIHosts == nil {
			tn.APIHosts = []string{"127.0.0.1"}
		}
		tenants[id] = tn
	}
	log := &fetchLog{ok: map[string]int{}, failed: map[string]int{}}
	cfg := tenantauth.Config{Tenants: tenants, OnFetch: log.record}
	if adjust != nil {
		adjust(&cfg)
	}
	m, err := tenantauth.New(cfg)
	if err != nil {
		t.Fatalf("tenantauth.New: %v", err)
	}
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Errorf("Manager.Close: %v", err)
		}
	})
	return m, log
}

// apiClient is an http.Client whose requests carry their tenant's token
// through httpauth's Transport.
func apiClient(t *testing.T, m *tenantauth.Manager) *http.Client {
	t.Helper()
	base := &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: 30 * time.Second}
	t.Cleanup(base.CloseIdleConnections)
	return &http.Client{Transport: httpauth.NewTransport(m, base), Timeout: 15 * time.Second}
}

// apiGet calls GET url as tenant through c and returns status and body.
func apiGet(ctx context.Context, c *http.Client, tenant, url string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(tenantauth.WithTenant(ctx, tenant), http.MethodGet, url, nil)
	if err != nil {
		return 0, nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, body, err
}

// getWithToken calls the server's protected resource with tok, without
// the middleware, and decodes the JSON answer.
func getWithToken(t *testing.T, s *server, tok *tenantauth.Token) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, s.base+"/api/me", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", tok.Authorization())
	resp, err := adminClient.Do(req)
	if err != nil {
		t.Fatalf("GET /api/me: %v", err)
	}
	defer resp.Body.Close()
	var v map[string]any
	_ = json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&v)
	return resp.StatusCode, v
}

// A recorder is the RoundTripper under a provider's http.Client. It keeps
// the last token exchange: the response body as the server sent it, and the
// shape (never the values) of the request.
type recorder struct {
	base *http.Transport
	mu   sync.Mutex
	last exchange
	n    atomic.Int64
}

type exchange struct {
	Status      int
	ContentType string
	Body        []byte
	BasicAuth   bool     // the request carried Authorization: Basic
	Fields      []string // names of the request's form or JSON members, sorted
}

func newRecorder(t *testing.T) *recorder {
	r := &recorder{base: &http.Transport{MaxIdleConnsPerHost: 16, IdleConnTimeout: 30 * time.Second}}
	t.Cleanup(r.base.CloseIdleConnections)
	return r
}

func (r *recorder) client() *http.Client {
	return &http.Client{Transport: r, Timeout: 15 * time.Second}
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	var ex exchange
	if req.Body != nil {
		b, err := io.ReadAll(io.LimitReader(req.Body, 1<<20))
		_ = req.Body.Close()
		if err != nil {
			return nil, err
		}
		ex.Fields = fieldNames(req.Header.Get("Content-Type"), b)
		req = req.Clone(req.Context())
		req.Body = io.NopCloser(bytes.NewReader(b))
	}
	ex.BasicAuth = strings.HasPrefix(req.Header.Get("Authorization"), "Basic ")
	resp, err := r.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	_ = resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(b))
	ex.Status, ex.ContentType, ex.Body = resp.StatusCode, resp.Header.Get("Content-Type"), b
	r.mu.Lock()
	r.last = ex
	r.mu.Unlock()
	r.n.Add(1)
	return resp, nil
}

// take returns the last exchange.
func (r *recorder) take() exchange {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last
}

func fieldNames(contentType string, body []byte) []string {
	var names []string
	if strings.HasPrefix(contentType, "application/json") {
		var m map[string]json.RawMessage
		if json.Unmarshal(body, &m) == nil {
			for k := range m {
				names = append(names, k)
			}
		}
	} else if v, err := url.ParseQuery(string(body)); err == nil {
		for k := range v {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	return names
}

// loadResult sums up runLoad.
type loadResult struct {
	calls, failures atomic.Int64
	mu              sync.Mutex
	firstFailure    string
}

func (r *loadResult) fail(msg string) {
	r.failures.Add(1)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.firstFailure == "" {
		r.firstFailure = msg
	}
}

// runLoad has workers goroutines call url through c for at most dur and at
// most maxCalls calls each, every worker cycling through tenants, pausing
// pause between calls. It returns when every worker has stopped.
func runLoad(ctx context.Context, c *http.Client, url string, tenants []string, workers int, dur time.Duration, maxCalls int, pause time.Duration) *loadResult {
	res := &loadResult{}
	ctx, cancel := context.WithTimeout(ctx, dur)
	defer cancel()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < maxCalls && ctx.Err() == nil; i++ {
				tenant := tenants[(w+i)%len(tenants)]
				// Each call has its own deadline, not the load's: a call that
				// starts just before the end must still be able to finish.
				callCtx, callCancel := context.WithTimeout(context.Background(), 10*time.Second)
				status, body, err := apiGet(callCtx, c, tenant, url)
				callCancel()
				res.calls.Add(1)
				switch {
				case err != nil:
					res.fail(fmt.Sprintf("tenant %s: %v", tenant, err))
				case status != http.StatusOK:
					res.fail(fmt.Sprintf("tenant %s: status %d: %s", tenant, status, body))
				}
				select {
				case <-ctx.Done():
				case <-time.After(pause):
				}
			}
		}()
	}
	wg.Wait()
	return res
}

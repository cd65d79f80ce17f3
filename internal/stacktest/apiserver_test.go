package stacktest

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// apiServer is the tenants' protected API on 127.0.0.1: GET /t/{tenant}/…
// answers 200 only to a valid, unexpired, unrevoked token issued for that
// very tenant. It counts every violation of the invariants.
type apiServer struct {
	srv *httptest.Server
	reg *registry

	// reject, when set, may force a status for a tenant's request that
	// carries a valid token (an API that revoked it, refuses it forever, or
	// lacks the scope).
	reject atomic.Pointer[func(tenant string) int]

	requests, ok                        atomic.Int64
	noToken, wrongTenant, unknownToken  atomic.Int64
	expired, revoked, forced, malformed atomic.Int64

	mu        sync.Mutex
	perTenant map[string]*apiCounts
}

type apiCounts struct{ requests, unauthorized int }

func newAPIServer(t testing.TB, reg *registry) *apiServer {
	t.Helper()
	a := &apiServer{reg: reg, perTenant: make(map[string]*apiCounts)}
	mux := http.NewServeMux()
	mux.HandleFunc("/t/{tenant}/{rest...}", a.serve)
	a.srv = httptest.NewServer(mux)
	t.Cleanup(a.srv.Close)
	return a
}

func (a *apiServer) setReject(f func(tenant string) int) {
	if f == nil {
		a.reject.Store(nil)
		return
	}
	a.reject.Store(&f)
}

// host is the API's host:port, the tenants' APIHosts entry.
func (a *apiServer) host() string { return strings.TrimPrefix(a.srv.URL, "http://") }

func (a *apiServer) url(tenant string) string { return a.srv.URL + "/t/" + tenant + "/data" }

func (a *apiServer) counts(tenant string) apiCounts {
	a.mu.Lock()
	defer a.mu.Unlock()
	if c := a.perTenant[tenant]; c != nil {
		return *c
	}
	return apiCounts{}
}

func (a *apiServer) serve(w http.ResponseWriter, r *http.Request) {
	a.requests.Add(1)
	tenant := r.PathValue("tenant")
	status := a.check(tenant, r.Header.Values("Authorization"))
	a.mu.Lock()
	c := a.perTenant[tenant]
	if c == nil {
		c = &apiCounts{}
		a.perTenant[tenant] = c
	}
	c.requests++
	if status == http.StatusUnauthorized {
		c.unauthorized++
	}
	a.mu.Unlock()
	switch status {
	case http.StatusOK:
		a.ok.Add(1)
		writeRaw(w, http.StatusOK, nil, `{"tenant":"`+tenant+`"}`)
	case http.StatusForbidden:
		writeRaw(w, status, http.Header{"Www-Authenticate": {`Bearer error="insufficient_scope", scope="admin"`}},
			`{"error":"insufficient_scope"}`)
	default:
		writeRaw(w, status, http.Header{"Www-Authenticate": {`Bearer error="invalid_token"`}}, `{"error":"invalid_token"}`)
	}
}

// check returns the status the API answers a tenant's request with.
func (a *apiServer) check(tenant string, auth []string) int {
	if len(auth) == 0 {
		a.noToken.Add(1)
		return http.StatusUnauthorized
	}
	scheme, tok, found := strings.Cut(auth[0], " ")
	if len(auth) != 1 || !found || scheme != "Bearer" || tok == "" {
		a.malformed.Add(1)
		return http.StatusUnauthorized
	}
	it, ok := a.reg.lookup(tok)
	switch {
	case !ok:
		a.unknownToken.Add(1)
		return http.StatusUnauthorized
	case it.tenant != tenant:
		a.wrongTenant.Add(1)
		return http.StatusUnauthorized
	case it.revoked:
		a.revoked.Add(1)
		return http.StatusUnauthorized
	case time.Now().After(it.expiry):
		a.expired.Add(1)
		return http.StatusUnauthorized
	}
	if f := a.reject.Load(); f != nil {
		if st := (*f)(tenant); st != 0 {
			a.forced.Add(1)
			return st
		}
	}
	return http.StatusOK
}

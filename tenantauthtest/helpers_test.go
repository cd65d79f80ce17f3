package tenantauthtest_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"runtime/pprof"
	"sync"
	"testing"
	"time"

	"github.com/tenantauth/tenantauth/tenantauthtest"
)

// reply is one HTTP answer, read completely.
type reply struct {
	status int
	header http.Header
	body   string
	json   map[string]any // nil when the body is not a JSON object
}

// str returns a string field of the JSON body ("" when absent).
func (r reply) str(key string) string {
	s, _ := r.json[key].(string)
	return s
}

// num returns a numeric field of the JSON body (-1 when absent).
func (r reply) num(key string) int64 {
	f, ok := r.json[key].(float64)
	if !ok {
		return -1
	}
	return int64(f)
}

func (r reply) has(key string) bool {
	_, ok := r.json[key]
	return ok
}

// request describes a raw HTTP request for do.
type request struct {
	method      string // zero: POST
	url         string
	contentType string
	body        string
	auth        string // Authorization header
	ctx         context.Context
}

func do(t testing.TB, c *http.Client, rq request) reply {
	t.Helper()
	r, err := doErr(c, rq)
	if err != nil {
		t.Fatalf("%s %s: %v", rq.method, rq.url, err)
	}
	return r
}

func doErr(c *http.Client, rq request) (reply, error) {
	if rq.method == "" {
		rq.method = http.MethodPost
	}
	ctx := rq.ctx
	if ctx == nil {
		ctx = context.Background()
	}
	req, err := http.NewRequestWithContext(ctx, rq.method, rq.url, bytes.NewReader([]byte(rq.body)))
	if err != nil {
		return reply{}, err
	}
	if rq.contentType != "" {
		req.Header.Set("Content-Type", rq.contentType)
	}
	if rq.auth != "" {
		req.Header.Set("Authorization", rq.auth)
	}
	resp, err := c.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return reply{}, err
	}
	r := reply{status: resp.StatusCode, header: resp.Header, body: string(b)}
	var m map[string]any
	if json.Unmarshal(b, &m) == nil {
		r.json = m
	}
	return r, nil
}

const formType = "application/x-www-form-urlencoded"

// form encodes key, value pairs in order, repeated keys allowed.
func form(kv ...string) string {
	var b bytes.Buffer
	for i := 0; i+1 < len(kv); i += 2 {
		if b.Len() > 0 {
			b.WriteByte('&')
		}
		b.WriteString(url.QueryEscape(kv[i]) + "=" + url.QueryEscape(kv[i+1]))
	}
	return b.String()
}

// kcPost sends a form to a Keycloak stand-in's token endpoint.
func kcPost(t testing.TB, srv *tenantauthtest.Server, kv ...string) reply {
	t.Helper()
	return do(t, srv.Client(), request{url: srv.TokenURL(), contentType: formType, body: form(kv...)})
}

// kcPassword is a successful-by-default Keycloak password grant.
func kcPassword(t testing.TB, srv *tenantauthtest.Server) reply {
	t.Helper()
	return kcPost(t, srv, "grant_type", "password", "client_id", "client", "client_secret", "secret",
		"username", "user@example.com", "password", "password")
}

// ppPost sends a JSON body to a Passport stand-in's token endpoint.
func ppPost(t testing.TB, srv *tenantauthtest.Server, jsonBody string) reply {
	t.Helper()
	return do(t, srv.Client(), request{url: srv.TokenURL(), contentType: "application/json", body: jsonBody})
}

const ppPasswordBody = `{"grant_type":"password","client_id":"client","client_secret":"secret",` +
	`"username":"user@example.com","password":"password"}`

// api calls the stand-in's API with a bearer token.
func api(t testing.TB, srv *tenantauthtest.Server, token string) reply {
	t.Helper()
	auth := ""
	if token != "" {
		auth = "Bearer " + token
	}
	return do(t, srv.Client(), request{method: http.MethodGet, url: srv.APIURL() + "/v1/items", auth: auth})
}

// stdPost sends a form to a standard stand-in's token endpoint, the client
// authenticated with client_secret_basic.
func stdPost(t testing.TB, srv *tenantauthtest.Server, client, secret string, kv ...string) reply {
	t.Helper()
	return do(t, srv.Client(), request{url: srv.TokenURL(), contentType: formType, body: form(kv...), auth: basicAuth(client, secret)})
}

// basicAuth is client_secret_basic's header: each part form-encoded
// (RFC 6749 §2.3.1), then HTTP Basic.
func basicAuth(client, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(client)+":"+url.QueryEscape(secret)))
}

// stdPassword is a successful-by-default standard password grant.
func stdPassword(t testing.TB, srv *tenantauthtest.Server) reply {
	t.Helper()
	return stdPost(t, srv, "client", "secret", "grant_type", "password", "username", "user@example.com", "password", "password")
}

// dialects runs a test against every stand-in; token fetches a token with
// the default credentials and returns the answer; build makes a token
// request of key, value pairs in the dialect's body, client_id and
// client_secret included (the standard one moves them to HTTP Basic).
type dialectCase struct {
	name  string
	start func(tenantauthtest.Config) *tenantauthtest.Server
	token func(testing.TB, *tenantauthtest.Server) reply
	build func(srv *tenantauthtest.Server, kv ...string) request
}

var dialects = []dialectCase{
	{"keycloak", tenantauthtest.NewKeycloak, kcPassword, func(srv *tenantauthtest.Server, kv ...string) request {
		return request{url: srv.TokenURL(), contentType: formType, body: form(kv...)}
	}},
	{"passport", tenantauthtest.NewPassport, func(t testing.TB, s *tenantauthtest.Server) reply {
		t.Helper()
		return ppPost(t, s, ppPasswordBody)
	}, func(srv *tenantauthtest.Server, kv ...string) request {
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		b, _ := json.Marshal(m)
		return request{url: srv.TokenURL(), contentType: "application/json", body: string(b)}
	}},
	{"standard", tenantauthtest.NewStandard, stdPassword, func(srv *tenantauthtest.Server, kv ...string) request {
		var rest []string
		var client, secret string
		for i := 0; i+1 < len(kv); i += 2 {
			switch kv[i] {
			case "client_id":
				client = kv[i+1]
			case "client_secret":
				secret = kv[i+1]
			default:
				rest = append(rest, kv[i], kv[i+1])
			}
		}
		return request{url: srv.TokenURL(), contentType: formType, body: form(rest...), auth: basicAuth(client, secret)}
	}},
}

// passwordKV are the default credentials' password grant parameters.
var passwordKV = []string{"grant_type", "password", "client_id", "client", "client_secret", "secret",
	"username", "user@example.com", "password", "password"}

// mustToken fetches a token and fails the test unless it got one.
func mustToken(t testing.TB, d dialectCase, srv *tenantauthtest.Server) string {
	t.Helper()
	r := d.token(t, srv)
	if r.status != http.StatusOK || r.str("access_token") == "" {
		t.Fatalf("token request: status %d, body %s", r.status, r.body)
	}
	return r.str("access_token")
}

// fakeClock is a settable clock, safe for concurrent use.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// waitFor polls cond until it holds, for at most 10 s. It is not a timing
// assertion: it only bounds how long the test waits for something that
// must happen.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			_ = pprof.Lookup("goroutine").WriteTo(os.Stderr, 1)
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

package httpauth

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tenantauth/tenantauth"
)

// snapshot is what a caller can observe of its request: every exported
// field, deep-copied, with pointers and functions compared by identity.
type snapshot struct {
	Method           string
	URL              url.URL
	URLPtr           *url.URL
	Proto            string
	Header           http.Header
	HeaderPtr        uintptr
	Body             string // identity
	GetBody          uintptr
	ContentLength    int64
	TransferEncoding []string
	Close            bool
	Host             string
	Form             url.Values
	Trailer          http.Header
	RemoteAddr       string
	RequestURI       string
	Response         *http.Response
	Ctx              context.Context
}

func takeSnapshot(r *http.Request) snapshot {
	s := snapshot{
		Method:           r.Method,
		URLPtr:           r.URL,
		Proto:            r.Proto,
		Header:           r.Header.Clone(),
		HeaderPtr:        reflect.ValueOf(r.Header).Pointer(),
		Body:             fmt.Sprintf("%T %p", r.Body, r.Body),
		ContentLength:    r.ContentLength,
		TransferEncoding: append([]string(nil), r.TransferEncoding...),
		Close:            r.Close,
		Host:             r.Host,
		Form:             r.Form,
		Trailer:          r.Trailer.Clone(),
		RemoteAddr:       r.RemoteAddr,
		RequestURI:       r.RequestURI,
		Response:         r.Response,
		Ctx:              r.Context(),
	}
	if r.URL != nil {
		s.URL = *r.URL
	}
	if r.GetBody != nil {
		s.GetBody = reflect.ValueOf(r.GetBody).Pointer()
	}
	return s
}

// mutatingBase modifies everything it can reach of the request it is given
// before passing it on, as a careless base transport might.
type mutatingBase struct{ next http.RoundTripper }

func (b mutatingBase) RoundTrip(req *http.Request) (*http.Response, error) {
	for k := range req.Header {
		req.Header.Add(k, "appended") // must not write into the caller's value slices
		if vv := req.Header[k]; len(vv) > 0 {
			vv[0] = "overwritten" // writes into the copy's backing array only
		}
	}
	req.Header.Set("X-Added", "1")
	req.Header.Del("Accept")
	req.Method = "MUTATED"
	req.Host = "mutated.example"
	return b.next.RoundTrip(req)
}

func TestRequestNotModified(t *testing.T) {
	many := http.Header{}
	for i := range 2 * inlineValues {
		many.Add(fmt.Sprintf("X-H%d", i), "v")
	}
	tests := []struct {
		name   string
		method string
		body   string
		header http.Header
		opts   []Option
		reject bool // the first token gets a 401: the retry path runs too
	}{
		{name: "GET", method: "GET", header: http.Header{"Accept": {"application/json"}, "X-Multi": {"1", "2"}}},
		{name: "GET nil header", method: "GET", header: nil},
		{name: "GET nil value", method: "GET", header: http.Header{"X-Nil": nil, "Accept": {"a"}}},
		{name: "caller Authorization", method: "GET", header: http.Header{"Authorization": {"Basic dXNlcjpwYXNz"}, "Accept": {"a"}}},
		{name: "non-canonical authorization", method: "GET", header: http.Header{"authorization": {"Basic x"}}},
		{name: "many headers", method: "GET", header: many},
		{name: "GET retried", method: "GET", header: http.Header{"Accept": {"a"}}, reject: true},
		{name: "PUT retried", method: "PUT", body: `{"a":1}`, header: http.Header{"Content-Type": {"application/json"}}, reject: true},
		{name: "POST retried", method: "POST", body: "x=1", header: http.Header{"X-Multi": {"1", "2", "3"}}, reject: true},
		{name: "POST not retried", method: "POST", body: "x=1", header: http.Header{"Accept": {"a"}}, reject: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &fakeProvider{}
			h := &rejecting{reject: map[string]bool{}}
			if tt.reject {
				h.reject["Bearer tok-1"] = true
			}
			base := &fakeBase{handler: h}
			tr := NewTransport(newManager(t, p), mutatingBase{base}, tt.opts...)

			var body io.Reader
			if tt.body != "" {
				body = strings.NewReader(tt.body)
			}
			req, err := http.NewRequestWithContext(acmeCtx(), tt.method, "https://api.example.com/v1/things?q=1", body)
			if err != nil {
				t.Fatal(err)
			}
			req.Header = tt.header
			before := takeSnapshot(req)

			resp, err := roundTrip(t, tr, req)
			if err != nil {
				t.Fatalf("RoundTrip: %v", err)
			}
			readBody(t, resp)

			if after := takeSnapshot(req); !reflect.DeepEqual(before, after) {
				t.Errorf("request modified:\nbefore %+v\nafter  %+v", before, after)
			}
			if resp.Request == req {
				t.Error("the response's Request is the caller's request; want the authenticated copy")
			}
		})
	}
}

func TestAuthorizationSet(t *testing.T) {
	p := &fakeProvider{}
	seen := make(chan seenRequest, 10)
	base := &fakeBase{handler: &rejecting{seen: seen}}
	tr := NewTransport(newManager(t, p), base)

	req, _ := http.NewRequestWithContext(acmeCtx(), "GET", "https://api.example.com/", nil)
	req.Header.Set("Authorization", "Basic caller")
	resp, err := roundTrip(t, tr, req)
	if err != nil {
		t.Fatal(err)
	}
	readBody(t, resp)
	got := drainSeen(seen)
	if len(got) != 1 || got[0].auth != "Bearer tok-1" {
		t.Fatalf("API saw %+v; want one request with Bearer tok-1", got)
	}
	if n := p.requests.Load(); n != 1 {
		t.Errorf("token requests = %d; want 1", n)
	}
}

func TestRetryReplaysBody(t *testing.T) {
	payload := strings.Repeat("0123456789", 1000)
	tests := []struct {
		name   string
		method string
		body   func() io.Reader
		header http.Header
		opts   []Option
	}{
		{name: "PUT strings.Reader", method: "PUT", body: func() io.Reader { return strings.NewReader(payload) }},
		{name: "DELETE bytes.Reader", method: "DELETE", body: func() io.Reader { return bytes.NewReader([]byte(payload)) }},
		{name: "POST bytes.Buffer", method: "POST", body: func() io.Reader { return bytes.NewBufferString(payload) }},
		{name: "POST bytes.Reader", method: "POST", body: func() io.Reader { return bytes.NewReader([]byte(payload)) }},
		{name: "POST Idempotency-Key, idempotent only", method: "POST", body: func() io.Reader { return strings.NewReader(payload) }, header: http.Header{"Idempotency-Key": {"k2"}}, opts: []Option{WithIdempotentRetriesOnly()}},
		{name: "PUT, idempotent only", method: "PUT", body: func() io.Reader { return strings.NewReader(payload) }, opts: []Option{WithIdempotentRetriesOnly()}},
		{name: "POST Idempotency-Key", method: "POST", body: func() io.Reader { return strings.NewReader(payload) }, header: http.Header{"Idempotency-Key": {"k1"}}},
		{name: "PATCH", method: "PATCH", body: func() io.Reader { return strings.NewReader(payload) }},
		{name: "GET no body", method: "GET", body: func() io.Reader { return nil }},
		{name: "POST empty body is NoBody", method: "POST", body: func() io.Reader { return strings.NewReader("") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &fakeProvider{}
			seen := make(chan seenRequest, 10)
			base := &fakeBase{handler: &rejecting{reject: map[string]bool{"Bearer tok-1": true}, seen: seen}}
			tr := NewTransport(newManager(t, p), base, tt.opts...)

			req, _ := http.NewRequestWithContext(acmeCtx(), tt.method, "https://api.example.com/", tt.body())
			for k, v := range tt.header {
				req.Header[k] = v
			}
			resp, err := roundTrip(t, tr, req)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != 200 {
				t.Fatalf("status %d; want 200 after the retry", resp.StatusCode)
			}
			readBody(t, resp)

			got := drainSeen(seen)
			if len(got) != 2 {
				t.Fatalf("API saw %d requests; want 2 (the rejected one and one retry)", len(got))
			}
			if got[0].auth != "Bearer tok-1" || got[1].auth != "Bearer tok-2" {
				t.Errorf("Authorization sent: %q then %q; want tok-1 then tok-2", got[0].auth, got[1].auth)
			}
			if !bytes.Equal(got[0].body, got[1].body) {
				t.Errorf("retry body differs: %d bytes then %d bytes", len(got[0].body), len(got[1].body))
			}
			if want := tt.body(); want != nil {
				wb, _ := io.ReadAll(want)
				if !bytes.Equal(got[1].body, wb) {
					t.Errorf("retry body is not the caller's body")
				}
			}
			if n := p.requests.Load(); n != 2 {
				t.Errorf("token requests = %d; want 2", n)
			}
		})
	}
}

func TestNotRetried(t *testing.T) {
	tests := []struct {
		name       string
		method     string
		body       func() io.Reader
		getBodyNil bool
		opts       []Option
	}{
		{name: "PUT non-replayable body", method: "PUT", body: func() io.Reader { return io.MultiReader(strings.NewReader("payload")) }},
		{name: "PUT GetBody removed", method: "PUT", body: func() io.Reader { return strings.NewReader("payload") }, getBodyNil: true},
		{name: "POST non-replayable", method: "POST", body: func() io.Reader { return io.MultiReader(strings.NewReader("payload")) }},
		{name: "POST replayable, idempotent only", method: "POST", body: func() io.Reader { return strings.NewReader("payload") }, opts: []Option{WithIdempotentRetriesOnly()}},
		{name: "PATCH replayable, idempotent only", method: "PATCH", body: func() io.Reader { return strings.NewReader("payload") }, opts: []Option{WithIdempotentRetriesOnly()}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &fakeProvider{}
			seen := make(chan seenRequest, 10)
			base := &fakeBase{handler: &rejecting{reject: map[string]bool{"Bearer tok-1": true}, seen: seen}}
			tr := NewTransport(newManager(t, p), base, tt.opts...)

			req, _ := http.NewRequestWithContext(acmeCtx(), tt.method, "https://api.example.com/", tt.body())
			if tt.getBodyNil {
				req.GetBody = nil
			}
			resp, err := roundTrip(t, tr, req)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("status %d; want the 401 returned", resp.StatusCode)
			}
			if got := readBody(t, resp); got != "revoked" {
				t.Errorf("401 body = %q; want it intact (%q)", got, "revoked")
			}
			if got := drainSeen(seen); len(got) != 1 {
				t.Fatalf("API saw %d requests; want 1 (no retry)", len(got))
			}

			// The rejected token was still invalidated: the next request
			// gets a fresh token at once instead of another 401.
			req2, _ := http.NewRequestWithContext(acmeCtx(), "GET", "https://api.example.com/", nil)
			resp2, err := roundTrip(t, tr, req2)
			if err != nil {
				t.Fatal(err)
			}
			readBody(t, resp2)
			got := drainSeen(seen)
			if resp2.StatusCode != 200 || len(got) != 1 || got[0].auth != "Bearer tok-2" {
				t.Errorf("next request: status %d, API saw %+v; want 200 with tok-2 in one request", resp2.StatusCode, got)
			}
		})
	}
}

// TestConcurrent401 sends 1 000 concurrent requests for one tenant whose
// first token the API has revoked: they must cost exactly one extra token
// request, and every request must succeed after at most one retry.
func TestConcurrent401(t *testing.T) {
	const n = 1000
	p := &fakeProvider{}
	var rejected atomic.Int64
	start := make(chan struct{})
	base := &fakeBase{handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "Bearer tok-1" {
			rejected.Add(1)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		_, _ = io.WriteString(w, "ok")
	})}
	tr := NewTransport(newManager(t, p), base)

	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			req, _ := http.NewRequestWithContext(acmeCtx(), "GET", "https://api.example.com/", nil)
			resp, err := tr.RoundTrip(req)
			if err != nil {
				errs <- err
				return
			}
			_ = resp.Body.Close()
			if resp.StatusCode != 200 {
				errs <- fmt.Errorf("status %d", resp.StatusCode)
			}
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("request failed: %v", err)
	}
	if got := p.requests.Load(); got != 2 {
		t.Errorf("token requests = %d; want 2 (the first token and exactly one replacement)", got)
	}
	if calls, r := base.calls.Load(), rejected.Load(); calls != n+r {
		t.Errorf("API calls = %d with %d rejected; want %d (each rejected request retried once)", calls, r, n+r)
	}
	if o, c := base.opened.Load(), base.closed.Load(); o != c {
		t.Errorf("response bodies: %d opened, %d closed", o, c)
	}
}

// TestRejectsEveryToken: an API that refuses every token costs one
// replacement token per cooldown, and each request is retried at most once.
func TestRejectsEveryToken(t *testing.T) {
	p := &fakeProvider{}
	base := &fakeBase{handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, "no")
	})}
	m := newManagerConfig(t, tenantauth.Config{InvalidateCooldown: time.Hour}, p)
	tr := NewTransport(m, base)

	wantCalls := []int64{2, 1, 1, 1} // first request: one retry; then the Manager's cooldown returns the same token
	var total int64
	for i, want := range wantCalls {
		req, _ := http.NewRequestWithContext(acmeCtx(), "GET", "https://api.example.com/", nil)
		resp, err := roundTrip(t, tr, req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 401 {
			t.Fatalf("request %d: status %d; want 401", i, resp.StatusCode)
		}
		if b := readBody(t, resp); b != "no" {
			t.Errorf("request %d: body %q; want the API's body intact", i, b)
		}
		total += want
		if got := base.calls.Load(); got != total {
			t.Fatalf("after request %d: API calls = %d; want %d", i, got, total)
		}
	}
	if got := p.requests.Load(); got != 2 {
		t.Errorf("token requests = %d; want 2", got)
	}
	if o, c := base.opened.Load(), base.closed.Load(); o != c {
		t.Errorf("response bodies: %d opened, %d closed", o, c)
	}
}

func TestResponseBodiesClosed(t *testing.T) {
	tests := []struct {
		name        string
		failRefresh bool
		reject      map[string]bool
		wantStatus  int
		wantOpened  int64
		wantClosed  int64 // before the caller closes the returned body
		wantDrained bool  // the discarded 401's body was read before Close
	}{
		{name: "success", reject: nil, wantStatus: 200, wantOpened: 1, wantClosed: 0},
		{name: "401 then retry", reject: map[string]bool{"Bearer tok-1": true}, wantStatus: 200, wantOpened: 2, wantClosed: 1, wantDrained: true},
		{name: "401 fetch fails", reject: map[string]bool{"Bearer tok-1": true}, failRefresh: true, wantStatus: 401, wantOpened: 1, wantClosed: 0},
		{name: "401 twice", reject: map[string]bool{"Bearer tok-1": true, "Bearer tok-2": true}, wantStatus: 401, wantOpened: 2, wantClosed: 1, wantDrained: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &fakeProvider{}
			base := &fakeBase{handler: &rejecting{reject: tt.reject}}
			tr := NewTransport(newManager(t, p), base)
			// Fetch the first token, then break the endpoint if asked.
			if _, err := tr.m.Token(context.Background(), "acme"); err != nil {
				t.Fatal(err)
			}
			if tt.failRefresh {
				p.fail(errTokenEndpointDown)
			}
			req, _ := http.NewRequestWithContext(acmeCtx(), "GET", "https://api.example.com/", nil)
			resp, err := roundTrip(t, tr, req)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("status %d; want %d", resp.StatusCode, tt.wantStatus)
			}
			if o, c := base.opened.Load(), base.closed.Load(); o != tt.wantOpened || c != tt.wantClosed {
				t.Errorf("bodies opened/closed = %d/%d; want %d/%d", o, c, tt.wantOpened, tt.wantClosed)
			}
			if drained := base.drained.Load() > 0; drained != tt.wantDrained {
				t.Errorf("discarded body drained = %v; want %v", drained, tt.wantDrained)
			}
			body := readBody(t, resp)
			if tt.wantStatus == 401 && body != "revoked" {
				t.Errorf("returned 401 body = %q; want it unread (%q)", body, "revoked")
			}
			if o, c := base.opened.Load(), base.closed.Load(); o != c {
				t.Errorf("after the caller's Close: %d opened, %d closed", o, c)
			}
		})
	}
}

// TestRequestBodyClosedOnError covers every path that returns an error
// without passing the request on: the body must be closed, nothing sent.
func TestRequestBodyClosedOnError(t *testing.T) {
	tests := []struct {
		name    string
		ctx     context.Context
		url     string
		nilMgr  bool
		nilURL  bool
		fail    bool
		wantErr error
	}{
		{name: "no tenant", ctx: context.Background(), url: "https://api.example.com/", wantErr: tenantauth.ErrNoTenant},
		{name: "host not allowed", ctx: acmeCtx(), url: "https://evil.example.net/", wantErr: tenantauth.ErrHostNotAllowed},
		{name: "token fetch fails", ctx: acmeCtx(), url: "https://api.example.com/", fail: true, wantErr: errTokenEndpointDown},
		{name: "no manager", ctx: acmeCtx(), url: "https://api.example.com/", nilMgr: true, wantErr: errNoManager},
		{name: "no URL", ctx: acmeCtx(), url: "https://api.example.com/", nilURL: true, wantErr: errNilURL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &fakeProvider{}
			if tt.fail {
				p.fail(errTokenEndpointDown)
			}
			base := &fakeBase{handler: &rejecting{}}
			m := newManager(t, p, "api.example.com")
			if tt.nilMgr {
				m = nil
			}
			tr := NewTransport(m, base)
			var closes atomic.Int64
			req, _ := http.NewRequestWithContext(tt.ctx, "PUT", tt.url, newBody("payload", &closes))
			if tt.nilURL {
				req.URL = nil
			}

			_, err := roundTrip(t, tr, req)
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("err = %v; want it to wrap %v", err, tt.wantErr)
			}
			if got := closes.Load(); got != 1 {
				t.Errorf("request body closed %d times; want 1", got)
			}
			if got := base.calls.Load(); got != 0 {
				t.Errorf("base called %d times; want 0 (nothing sent)", got)
			}
			if strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "tok-") {
				t.Errorf("error leaks a secret: %v", err)
			}
		})
	}
}

// TestThroughClient checks the errors as http.Client users see them: inside
// a *url.Error, still matching with errors.Is.
func TestThroughClient(t *testing.T) {
	p := &fakeProvider{}
	base := &fakeBase{handler: &rejecting{}}
	client := &http.Client{Transport: NewTransport(newManager(t, p, "api.example.com"), base)}

	tests := []struct {
		name    string
		ctx     context.Context
		url     string
		wantErr error
	}{
		{name: "no tenant", ctx: context.Background(), url: "https://api.example.com/", wantErr: tenantauth.ErrNoTenant},
		{name: "host not allowed", ctx: acmeCtx(), url: "https://other.example.com/", wantErr: tenantauth.ErrHostNotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var closes atomic.Int64
			req, _ := http.NewRequestWithContext(tt.ctx, "POST", tt.url, newBody("x", &closes))
			resp, err := client.Do(req)
			if resp != nil {
				t.Fatalf("got a response (%d); want an error", resp.StatusCode)
			}
			var uerr *url.Error
			if !errors.As(err, &uerr) {
				t.Fatalf("err = %T %v; want a *url.Error", err, err)
			}
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("errors.Is(%v, %v) = false", err, tt.wantErr)
			}
			if closes.Load() != 1 {
				t.Errorf("request body closed %d times; want 1", closes.Load())
			}
		})
	}
	if got := base.calls.Load(); got != 0 {
		t.Errorf("base called %d times; want 0", got)
	}
}

func TestPassThrough(t *testing.T) {
	p := &fakeProvider{}
	seen := make(chan seenRequest, 10)
	var got *http.Request
	base := &fakeBase{handler: &rejecting{seen: seen}}
	spy := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		got = r
		return base.RoundTrip(r)
	})
	tr := NewTransport(newManager(t, p), spy, WithPassThrough())

	req, _ := http.NewRequest("GET", "https://public.example.com/", nil)
	resp, err := roundTrip(t, tr, req)
	if err != nil {
		t.Fatal(err)
	}
	readBody(t, resp)
	if got != req {
		t.Error("pass-through did not send the caller's request as is")
	}
	if s := drainSeen(seen); len(s) != 1 || s[0].auth != "" {
		t.Errorf("API saw %+v; want one request without Authorization", s)
	}
	if n := p.requests.Load(); n != 0 {
		t.Errorf("token requests = %d; want 0", n)
	}

	// A request with a tenant is still authenticated.
	req2, _ := http.NewRequestWithContext(acmeCtx(), "GET", "https://api.example.com/", nil)
	resp2, err := roundTrip(t, tr, req2)
	if err != nil {
		t.Fatal(err)
	}
	readBody(t, resp2)
	if s := drainSeen(seen); len(s) != 1 || s[0].auth != "Bearer tok-1" {
		t.Errorf("API saw %+v; want Bearer tok-1", s)
	}
}

func TestWithTenantFunc(t *testing.T) {
	p := &fakeProvider{}
	seen := make(chan seenRequest, 10)
	base := &fakeBase{handler: &rejecting{seen: seen}}
	tr := NewTransport(newManager(t, p), base, WithTenantFunc(func(r *http.Request) (string, bool) {
		id := r.Header.Get("X-Tenant")
		return id, id != ""
	}))
	req, _ := http.NewRequest("GET", "https://api.example.com/", nil)
	req.Header.Set("X-Tenant", "acme")
	resp, err := roundTrip(t, tr, req)
	if err != nil {
		t.Fatal(err)
	}
	readBody(t, resp)
	if s := drainSeen(seen); len(s) != 1 || s[0].auth != "Bearer tok-1" {
		t.Errorf("API saw %+v; want Bearer tok-1", s)
	}
	req.Header.Del("X-Tenant")
	if _, err := roundTrip(t, tr, req); !errors.Is(err, tenantauth.ErrNoTenant) {
		t.Errorf("err = %v; want ErrNoTenant", err)
	}
}

func TestInvalidTokenOn403(t *testing.T) {
	tests := []struct {
		name      string
		opt       bool
		challenge string
		wantRetry bool
	}{
		{name: "option, invalid_token", opt: true, challenge: `Bearer realm="api", error="invalid_token", error_description="revoked"`, wantRetry: true},
		{name: "option, unquoted", opt: true, challenge: `Bearer error=invalid_token`, wantRetry: true},
		{name: "option, insufficient_scope", opt: true, challenge: `Bearer error="insufficient_scope"`, wantRetry: false},
		{name: "option, no challenge", opt: true, challenge: "", wantRetry: false},
		{name: "no option, invalid_token", opt: false, challenge: `Bearer error="invalid_token"`, wantRetry: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &fakeProvider{}
			base := &fakeBase{handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Header.Get("Authorization") == "Bearer tok-1" {
					if tt.challenge != "" {
						w.Header().Set("WWW-Authenticate", tt.challenge)
					}
					w.WriteHeader(http.StatusForbidden)
					return
				}
				_, _ = io.WriteString(w, "ok")
			})}
			var opts []Option
			if tt.opt {
				opts = append(opts, WithInvalidTokenOn403())
			}
			tr := NewTransport(newManager(t, p), base, opts...)
			req, _ := http.NewRequestWithContext(acmeCtx(), "GET", "https://api.example.com/", nil)
			resp, err := roundTrip(t, tr, req)
			if err != nil {
				t.Fatal(err)
			}
			readBody(t, resp)
			wantStatus, wantCalls, wantTokens := 403, int64(1), int64(1)
			if tt.wantRetry {
				wantStatus, wantCalls, wantTokens = 200, 2, 2
			}
			if resp.StatusCode != wantStatus || base.calls.Load() != wantCalls || p.requests.Load() != wantTokens {
				t.Errorf("status %d, API calls %d, token requests %d; want %d, %d, %d",
					resp.StatusCode, base.calls.Load(), p.requests.Load(), wantStatus, wantCalls, wantTokens)
			}
		})
	}
}

func TestFaultyBase(t *testing.T) {
	var closes atomic.Int64
	tests := []struct {
		name string
		base roundTripFunc
	}{
		{name: "nil, nil", base: func(*http.Request) (*http.Response, error) { return nil, nil }},
		{name: "response and error", base: func(*http.Request) (*http.Response, error) {
			return &http.Response{StatusCode: 200, Body: newBody("", &closes)}, errors.New("boom")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := NewTransport(newManager(t, &fakeProvider{}), tt.base)
			req, _ := http.NewRequestWithContext(acmeCtx(), "GET", "https://api.example.com/", nil)
			if _, err := roundTrip(t, tr, req); err == nil {
				t.Error("want an error")
			}
		})
	}
	if closes.Load() != 1 {
		t.Errorf("response body of the faulty (resp, err) closed %d times; want 1", closes.Load())
	}
}

func TestCloseIdleConnections(t *testing.T) {
	b := &idleCounter{}
	NewTransport(nil, b).CloseIdleConnections()
	if b.n != 1 {
		t.Errorf("base CloseIdleConnections called %d times; want 1", b.n)
	}
	NewTransport(nil, roundTripFunc(nil)).CloseIdleConnections() // no such method: no panic
	if NewTransport(nil, nil).base != http.DefaultTransport {
		t.Error("nil base is not http.DefaultTransport")
	}
}

type idleCounter struct {
	roundTripFunc
	n int
}

func (c *idleCounter) CloseIdleConnections() { c.n++ }

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// newClient returns an http.Client over the Transport and base, with its
// idle connections closed at the end of the test.
func newClient(t *testing.T, tr *Transport) *http.Client {
	c := &http.Client{Transport: tr}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// apiServer starts a 127.0.0.1 test server with h, closed at the end of the test.
func apiServer(t *testing.T, h http.Handler) *httptest.Server {
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	return s
}

package httpauth

// Tests over real 127.0.0.1 connections: redirects through http.Client,
// HTTP/2, Expect: 100-continue, streaming bodies and cancellation.

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// recorder is a handler that records the Authorization and body of every
// request on its channel, then answers as next does (200 "ok" when nil).
func recorder(seen chan seenRequest, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		seen <- seenRequest{method: r.Method, auth: r.Header.Get("Authorization"), body: body}
		if next != nil {
			next.ServeHTTP(w, r)
			return
		}
		_, _ = io.WriteString(w, "ok")
	})
}

func TestRedirects(t *testing.T) {
	otherSeen := make(chan seenRequest, 10)
	other := apiServer(t, recorder(otherSeen, nil))

	originSeen := make(chan seenRequest, 10)
	var origin, bounce *httptest.Server
	origin = apiServer(t, recorder(originSeen, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/same":
			http.Redirect(w, r, "/final", http.StatusFound)
		case "/same-307":
			http.Redirect(w, r, origin.URL+"/final", http.StatusTemporaryRedirect)
		case "/other":
			http.Redirect(w, r, other.URL+"/final", http.StatusFound)
		case "/other-307":
			http.Redirect(w, r, other.URL+"/final", http.StatusTemporaryRedirect)
		case "/bounce":
			// other host, then back to the origin: the origin gets the token again.
			http.Redirect(w, r, bounce.URL+"/back", http.StatusFound)
		default:
			_, _ = io.WriteString(w, "ok")
		}
	})))
	// bounce, another host, redirects back to the origin.
	bounce = apiServer(t, recorder(otherSeen, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, origin.URL+"/final", http.StatusFound)
	})))

	originHost := strings.TrimPrefix(origin.URL, "http://")
	tests := []struct {
		name        string
		path        string
		method      string
		body        string
		apiHosts    []string
		wantOrigin  []string // Authorization values the origin saw
		wantOther   []string // Authorization values the other host saw
		wantBodyOth string
	}{
		{name: "same host", path: "/same", method: "GET", wantOrigin: []string{"Bearer tok-1", "Bearer tok-1"}},
		{name: "same host 307 with body", path: "/same-307", method: "PUT", body: "payload", wantOrigin: []string{"Bearer tok-1", "Bearer tok-1"}},
		{name: "other host", path: "/other", method: "GET", wantOrigin: []string{"Bearer tok-1"}, wantOther: []string{""}},
		{name: "other host 307 with body", path: "/other-307", method: "PUT", body: "payload", wantOrigin: []string{"Bearer tok-1"}, wantOther: []string{""}, wantBodyOth: "payload"},
		{name: "other host and back", path: "/bounce", method: "GET", wantOrigin: []string{"Bearer tok-1", "Bearer tok-1"}, wantOther: []string{""}},
		{name: "other host not in APIHosts", path: "/other", method: "GET", apiHosts: []string{originHost}, wantOrigin: []string{"Bearer tok-1"}, wantOther: []string{""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &fakeProvider{}
			client := newClient(t, NewTransport(newManager(t, p, tt.apiHosts...), nil))
			var body io.Reader
			if tt.body != "" {
				body = strings.NewReader(tt.body)
			}
			req, _ := http.NewRequestWithContext(acmeCtx(), tt.method, origin.URL+tt.path, body)
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			readBody(t, resp)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			gotOrigin, gotOther := auths(drainSeen(originSeen)), drainSeen(otherSeen)
			if !equal(gotOrigin, tt.wantOrigin) {
				t.Errorf("origin saw Authorization %q; want %q", gotOrigin, tt.wantOrigin)
			}
			if !equal(auths(gotOther), tt.wantOther) {
				t.Errorf("other host saw Authorization %q; want %q", auths(gotOther), tt.wantOther)
			}
			if tt.wantBodyOth != "" && (len(gotOther) != 1 || string(gotOther[0].body) != tt.wantBodyOth) {
				t.Errorf("other host did not get the replayed body")
			}
		})
	}
}

func TestLeavesOrigin(t *testing.T) {
	chain := func(urls ...string) *http.Request {
		var prev *http.Request
		for _, u := range urls {
			r, _ := http.NewRequest("GET", u, nil)
			if prev != nil {
				r.Response = &http.Response{Request: prev}
			}
			prev = r
		}
		return prev
	}
	broken, _ := http.NewRequest("GET", "https://a.example/", nil)
	broken.Response = &http.Response{}

	tests := []struct {
		name string
		req  *http.Request
		want bool
	}{
		{"not a redirect", chain("https://a.example/x"), false},
		{"same host", chain("https://a.example/x", "https://a.example/y"), false},
		{"same host, case and default port", chain("https://A.example/x", "https://a.EXAMPLE:443/y"), false},
		{"http to https same host", chain("http://a.example/x", "https://a.example:80/y"), false},
		{"other host", chain("https://a.example/x", "https://b.example/y"), true},
		{"subdomain", chain("https://a.example/x", "https://api.a.example/y"), true},
		{"other port", chain("http://127.0.0.1:8080/x", "http://127.0.0.1:8081/y"), true},
		{"https to http same host", chain("https://a.example/x", "http://a.example:443/y"), true},
		{"back to origin after another host", chain("https://a.example/x", "https://b.example/y", "https://a.example/z"), false},
		{"first hop compared, not previous", chain("https://a.example/x", "https://b.example/y", "https://b.example/z"), true},
		{"broken chain", broken, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := leavesOrigin(tt.req); got != tt.want {
				t.Errorf("leavesOrigin = %v; want %v", got, tt.want)
			}
		})
	}
}

func TestHTTP2(t *testing.T) {
	seen := make(chan seenRequest, 10)
	srv := httptest.NewUnstartedServer(recorder(seen, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor != 2 {
			http.Error(w, "want HTTP/2", http.StatusHTTPVersionNotSupported)
			return
		}
		if r.Header.Get("Authorization") == "Bearer tok-1" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		_, _ = io.WriteString(w, "ok")
	})))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)

	p := &fakeProvider{}
	client := newClient(t, NewTransport(newManager(t, p), srv.Client().Transport))
	payload := bytes.Repeat([]byte("h2"), 50_000)
	req, _ := http.NewRequestWithContext(acmeCtx(), "PUT", srv.URL+"/", bytes.NewReader(payload))
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	readBody(t, resp)
	if resp.ProtoMajor != 2 || resp.StatusCode != 200 {
		t.Fatalf("proto %s status %d; want HTTP/2 200", resp.Proto, resp.StatusCode)
	}
	got := drainSeen(seen)
	if len(got) != 2 || !bytes.Equal(got[0].body, payload) || !bytes.Equal(got[1].body, payload) {
		t.Errorf("server saw %d requests; want 2 with the full body each", len(got))
	}
}

// TestExpectContinue: the server refuses the token without reading the
// body, so the transport never sends it; the retry sends it once.
func TestExpectContinue(t *testing.T) {
	var bodies atomic.Int64
	var got []byte
	srv := apiServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok-2" {
			w.WriteHeader(http.StatusUnauthorized) // body not read: no 100 Continue
			return
		}
		bodies.Add(1)
		got, _ = io.ReadAll(r.Body)
		_, _ = io.WriteString(w, "ok")
	}))
	base := &http.Transport{ExpectContinueTimeout: 10 * time.Second}
	t.Cleanup(base.CloseIdleConnections)
	client := newClient(t, NewTransport(newManager(t, &fakeProvider{}), base))

	payload := strings.Repeat("x", 100_000)
	req, _ := http.NewRequestWithContext(acmeCtx(), "PUT", srv.URL+"/", strings.NewReader(payload))
	req.Header.Set("Expect", "100-continue")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	readBody(t, resp)
	if resp.StatusCode != 200 || bodies.Load() != 1 || string(got) != payload {
		t.Errorf("status %d, bodies read %d, body intact %v; want 200, 1, true", resp.StatusCode, bodies.Load(), string(got) == payload)
	}
}

func TestStreamingBodies(t *testing.T) {
	srv := apiServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok-1" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		// Echo the request body back chunk by chunk, flushing each one;
		// HTTP/1 needs full duplex to read after writing.
		_ = http.NewResponseController(w).EnableFullDuplex()
		buf := make([]byte, 1024)
		for {
			n, err := r.Body.Read(buf)
			if n > 0 {
				_, _ = w.Write(buf[:n])
				w.(http.Flusher).Flush()
			}
			if err != nil {
				return
			}
		}
	}))
	client := newClient(t, NewTransport(newManager(t, &fakeProvider{}), nil))

	pr, pw := io.Pipe()
	writerDone := make(chan error, 1)
	go func() {
		for i := range 100 {
			if _, err := pw.Write(bytes.Repeat([]byte{byte('a' + i%26)}, 512)); err != nil {
				writerDone <- err
				return
			}
		}
		writerDone <- pw.Close()
	}()
	req, _ := http.NewRequestWithContext(acmeCtx(), "POST", srv.URL+"/", pr)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	if err != nil || n != 100*512 {
		t.Errorf("streamed back %d bytes (err %v); want %d", n, err, 100*512)
	}
	if err := <-writerDone; err != nil {
		t.Errorf("body writer: %v", err)
	}
}

func TestCancelledContext(t *testing.T) {
	var hits atomic.Int64
	started := make(chan struct{}, 1)
	srv := apiServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.URL.Path == "/slow" {
			started <- struct{}{}
			<-r.Context().Done() // until the client gives up
			return
		}
		_, _ = io.WriteString(w, "ok")
	}))

	t.Run("before sending", func(t *testing.T) {
		client := newClient(t, NewTransport(newManager(t, &fakeProvider{}), nil))
		ctx, cancel := context.WithCancel(acmeCtx())
		cancel()
		var closes atomic.Int64
		req, _ := http.NewRequestWithContext(ctx, "PUT", srv.URL+"/", newBody("x", &closes))
		resp, err := client.Do(req)
		if resp != nil || !errors.Is(err, context.Canceled) {
			t.Fatalf("resp %v, err %v; want no response and context.Canceled", resp != nil, err)
		}
		if hits.Load() != 0 {
			t.Errorf("server got %d requests; want 0", hits.Load())
		}
		if closes.Load() != 1 {
			t.Errorf("request body closed %d times; want 1", closes.Load())
		}
	})
	t.Run("in flight", func(t *testing.T) {
		client := newClient(t, NewTransport(newManager(t, &fakeProvider{}), nil))
		ctx, cancel := context.WithCancel(acmeCtx())
		defer cancel()
		go func() {
			<-started
			cancel()
		}()
		req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/slow", nil)
		resp, err := client.Do(req)
		if resp != nil || !errors.Is(err, context.Canceled) {
			t.Fatalf("resp %v, err %v; want no response and context.Canceled", resp != nil, err)
		}
		var uerr *url.Error
		if !errors.As(err, &uerr) {
			t.Errorf("err %T; want *url.Error", err)
		}
	})
}

func auths(s []seenRequest) []string {
	var out []string
	for _, r := range s {
		out = append(out, r.auth)
	}
	return out
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

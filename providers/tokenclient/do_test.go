package tokenclient

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tenantauth/tenantauth"
)

// newServer starts an httptest server on 127.0.0.1 and stops it at cleanup.
func newServer(t *testing.T, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func post(t *testing.T, endpoint, body string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, endpoint, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return req
}

var testDialect = Dialect{Name: "test", Now: func() time.Time { return testNow }}

func TestDoSuccess(t *testing.T) {
	var gotBody string
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		gotBody = string(b)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, keycloakExample)
	})
	tok, err := Do(context.Background(), NewHTTPClient(), post(t, srv.URL+"/token", "grant_type=x"), testDialect)
	if err != nil {
		t.Fatal(err)
	}
	checkToken(t, tok, wantToken{access: "<ACCESS_TOKEN>", scope: "profile email", expiresIn: 24 * time.Hour})
	if gotBody != "grant_type=x" {
		t.Errorf("server got body %q", gotBody)
	}
	// A nil client means the shared default one.
	if _, err := Do(context.Background(), nil, post(t, srv.URL+"/token", ""), testDialect); err != nil {
		t.Errorf("nil client: %v", err)
	}
}

func TestDoErrorStatus(t *testing.T) {
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "3")
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, htmlBadGateway)
	})
	_, err := Do(context.Background(), nil, post(t, srv.URL+"/token", ""), testDialect)
	var te *tenantauth.TokenError
	if !errors.As(err, &te) || te.StatusCode != 503 || te.RetryAfter != 3*time.Second || te.Endpoint != srv.URL+"/token" {
		t.Fatalf("err = %#v", err)
	}
}

func TestDoBodyLimit(t *testing.T) {
	tests := []struct {
		name    string
		size    int
		chunked bool
		wantErr bool
	}{
		{"exactly 1 MiB", MaxBodySize, false, false},
		{"exactly 1 MiB chunked", MaxBodySize, true, false},
		{"1 MiB + 1 with length", MaxBodySize + 1, false, true},
		{"1 MiB + 1 chunked", MaxBodySize + 1, true, true},
		{"8 MiB chunked", 8 * MaxBodySize, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prefix := `{"access_token":"tok-big","pad":"`
			body := prefix + strings.Repeat("x", tt.size-len(prefix)-2) + `"}`
			srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
				if !tt.chunked {
					w.Header().Set("Content-Length", fmt.Sprint(len(body)))
				}
				// Written in pieces so that no Content-Length is inferred.
				for b := []byte(body); len(b) > 0; {
					n := min(len(b), 64<<10)
					w.Write(b[:n])
					w.(http.Flusher).Flush()
					b = b[n:]
				}
			})
			tok, err := Do(context.Background(), nil, post(t, srv.URL, ""), testDialect)
			if !tt.wantErr {
				if err != nil || tok.AccessToken.Reveal() != "tok-big" {
					t.Fatalf("Do = %v, %v", tok, err)
				}
				return
			}
			if !errors.Is(err, ErrBodyTooLarge) || tok != nil {
				t.Fatalf("Do = %v, %v; want ErrBodyTooLarge", tok, err)
			}
			if strings.Contains(err.Error(), "tok-big") {
				t.Errorf("error %q contains the token", err)
			}
		})
	}
}

func TestDoRefusesRedirects(t *testing.T) {
	for _, code := range []int{301, 302, 303, 307, 308} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			var second atomic.Int32
			target := newServer(t, func(w http.ResponseWriter, r *http.Request) {
				second.Add(1)
				io.WriteString(w, `{"access_token":"stolen"}`)
			})
			first := newServer(t, func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, target.URL+"/token?x=1", code)
			})
			user := &http.Client{} // follows redirects on its own
			for _, c := range []*http.Client{NewHTTPClient(), Harden(user), Harden(first.Client())} {
				tok, err := Do(context.Background(), c, post(t, first.URL+"/token", "client_secret=s3cret"), testDialect)
				if !errors.Is(err, tenantauth.ErrRedirect) || tok != nil {
					t.Fatalf("Do = %v, %v; want ErrRedirect", tok, err)
				}
				msg := err.Error()
				if !strings.HasPrefix(msg, "test: token request to "+first.URL+"/token: ") || strings.Contains(msg, "s3cret") || strings.Contains(msg, "x=1") {
					t.Errorf("message %q", msg)
				}
			}
			if n := second.Load(); n != 0 {
				t.Fatalf("redirect target received %d requests", n)
			}
		})
	}
	// A 3xx without Location is returned by net/http as is; Parse refuses it.
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(307) })
	if _, err := Do(context.Background(), nil, post(t, srv.URL, ""), testDialect); !errors.Is(err, tenantauth.ErrRedirect) {
		t.Errorf("307 without Location: %v", err)
	}
}

func TestDoContext(t *testing.T) {
	arrived := make(chan struct{})
	release := make(chan struct{})
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	defer close(release) // runs before srv.Close: the handler must return
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-arrived; cancel() }()
	done := make(chan error, 1)
	go func() {
		_, err := Do(ctx, nil, post(t, srv.URL, "password=hunter2"), testDialect)
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
		var ue *url.Error
		if !errors.As(err, &ue) {
			t.Errorf("err %v does not wrap *url.Error", err)
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("error %q leaks the body", err)
		}
	case <-time.After(10 * time.Second): // a hang guard, not a timing assertion
		t.Fatal("Do did not return after cancel")
	}
}

func TestDoContextDoneBeforeSend(t *testing.T) {
	var hits atomic.Int32
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) { hits.Add(1) })
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Do(ctx, nil, post(t, srv.URL, ""), testDialect)
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "not sent") {
		t.Fatalf("err = %v", err)
	}
	if hits.Load() != 0 {
		t.Fatal("request sent with a done context")
	}
}

func TestDoCancelWhileReadingBody(t *testing.T) {
	wrote := make(chan struct{})
	release := make(chan struct{})
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"access_token":"partial`)
		w.(http.Flusher).Flush()
		close(wrote)
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	defer close(release)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-wrote; cancel() }()
	_, err := Do(ctx, nil, post(t, srv.URL, ""), testDialect)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if strings.Contains(err.Error(), "partial") {
		t.Errorf("error %q quotes the partial body", err)
	}
}

func TestDoTLS(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"access_token":"tls-ok","token_type":"bearer"}`)
	}))
	defer srv.Close()
	tok, err := Do(context.Background(), Harden(srv.Client()), post(t, srv.URL, ""), testDialect)
	if err != nil || tok.AccessToken.Reveal() != "tls-ok" {
		t.Fatalf("with the server's client: %v, %v", tok, err)
	}
	// The default client verifies certificates: the test CA is unknown.
	_, err = Do(context.Background(), NewHTTPClient(), post(t, srv.URL, ""), testDialect)
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("default client accepted an unknown CA: %v", err)
	}
}

func TestDoNetworkError(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	_, err = Do(context.Background(), nil, post(t, "http://"+addr+"/token", "client_secret=s3cret"), testDialect)
	var ne net.Error
	if err == nil || !errors.As(err, &ne) {
		t.Fatalf("err = %v, want a net.Error", err)
	}
	if strings.Contains(err.Error(), "s3cret") || !strings.HasPrefix(err.Error(), "test: token request to http://"+addr) {
		t.Errorf("message %q", err)
	}
}

func TestDoResponseBodyClosed(t *testing.T) {
	var closed atomic.Int32
	rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: 200, Header: http.Header{},
			Body: &closeCounter{Reader: bytes.NewReader([]byte(`{"access_token":"a"}`)), n: &closed}}, nil
	})
	for i := 0; i < 3; i++ {
		if _, err := Do(context.Background(), &http.Client{Transport: rt}, post(t, "https://x.example/t", ""), testDialect); err != nil {
			t.Fatal(err)
		}
	}
	if closed.Load() != 3 {
		t.Errorf("bodies closed %d times, want 3", closed.Load())
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

type closeCounter struct {
	io.Reader
	n *atomic.Int32
}

func (c *closeCounter) Close() error { c.n.Add(1); return nil }

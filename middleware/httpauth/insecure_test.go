package httpauth

import (
	"errors"
	"net/http"
	"testing"

	"github.com/tenantauth/tenantauth"
)

// TestPlainHTTPRefused: a bearer token is not sent over plain http off
// loopback unless the Transport or the tenant opts in.
func TestPlainHTTPRefused(t *testing.T) {
	for _, tc := range []struct {
		name, url string
		opts      []Option
		tenantOK  bool
		want      bool // sent with a token
	}{
		{"https", "https://api.example.com/x", nil, false, true},
		{"http off loopback", "http://api.example.com/x", nil, false, false},
		{"http upper-case scheme", "HTTP://api.example.com/x", nil, false, false},
		{"ws off loopback", "ws://api.example.com/x", nil, false, false},
		{"unknown scheme", "gopher://api.example.com/x", nil, false, false},
		{"http to 127.0.0.1", "http://127.0.0.1:8080/x", nil, false, true},
		{"http to [::1]", "http://[::1]:8080/x", nil, false, true},
		{"http to localhost", "http://localhost:8080/x", nil, false, true},
		{"http to a name ending in localhost", "http://evil.localhost.example.com/x", nil, false, false},
		{"transport opt-in", "http://api.example.com/x", []Option{WithInsecureHTTP()}, false, true},
		{"tenant opt-in", "http://api.example.com/x", nil, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &fakeProvider{}
			cfg := tenantauth.Config{Retries: -1, Tenants: tenantauth.Tenants{"acme": {
				Provider: p, Credentials: tenantauth.Credentials{ClientID: "acme"}, AllowInsecureHTTP: tc.tenantOK,
				APIHosts: []string{tenantauth.AnyHost},
			}}}
			m, err := tenantauth.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			seen := make(chan seenRequest, 2)
			base := &fakeBase{handler: &rejecting{seen: seen}}
			tr := NewTransport(m, base, tc.opts...)
			req, _ := http.NewRequestWithContext(acmeCtx(), "GET", tc.url, nil)
			resp, err := roundTrip(t, tr, req)
			if !tc.want {
				if !errors.Is(err, tenantauth.ErrInsecureEndpoint) {
					t.Fatalf("err = %v; want ErrInsecureEndpoint", err)
				}
				if n := base.calls.Load(); n != 0 {
					t.Fatalf("base called %d times; want nothing sent", n)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			readBody(t, resp)
			if got := drainSeen(seen); len(got) != 1 || got[0].auth != "Bearer tok-1" {
				t.Fatalf("API saw %+v; want one request with Bearer tok-1", got)
			}
		})
	}
}

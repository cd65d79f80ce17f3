package tokenclient

import (
	"crypto/tls"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/tenantauth/tenantauth"
)

func TestNewHTTPClient(t *testing.T) {
	c := NewHTTPClient()
	if c.Timeout != ClientTimeout || ClientTimeout.Seconds() != 30 {
		t.Errorf("Timeout = %v, want 30s", c.Timeout)
	}
	tr, ok := c.Transport.(*http.Transport)
	if !ok {
		t.Fatalf("Transport is %T, want its own *http.Transport", c.Transport)
	}
	if tr == http.DefaultTransport {
		t.Fatal("client shares http.DefaultTransport")
	}
	if tr.TLSHandshakeTimeout.Seconds() != 10 || tr.ResponseHeaderTimeout.Seconds() != 15 {
		t.Errorf("TLSHandshakeTimeout %v, ResponseHeaderTimeout %v; want 10s, 15s", tr.TLSHandshakeTimeout, tr.ResponseHeaderTimeout)
	}
	if tr.DialContext == nil || DialTimeout.Seconds() != 10 {
		t.Error("no bounded DialContext")
	}
	if tr.TLSClientConfig == nil || tr.TLSClientConfig.MinVersion != tls.VersionTLS12 || tr.TLSClientConfig.InsecureSkipVerify {
		t.Errorf("TLSClientConfig = %+v, want MinVersion TLS 1.2 and verification", tr.TLSClientConfig)
	}
	if !tr.ForceAttemptHTTP2 {
		t.Error("HTTP/2 not attempted")
	}
	if tr.Proxy == nil {
		t.Error("proxy settings from the environment lost")
	}
	if c.CheckRedirect == nil {
		t.Fatal("CheckRedirect is nil: redirects would be followed")
	}
	if NewHTTPClient().Transport == tr {
		t.Error("two clients share a transport")
	}
}

// TestRefuseRedirect: a redirect is an error wrapping ErrRedirect whose text
// says where it led in fixed words only: the Location is the server's text
// and may echo a secret.
func TestRefuseRedirect(t *testing.T) {
	const from = "https://sso.example.com/realms/r/token"
	tests := []struct{ to, want string }{
		{"https://evil.example.com/steal-hunter2?code=x", "another host"},
		{"https://sso.example.com:8443/realms/r/token", "another port of the same host"},
		{"https://sso.example.com/realms/r/token/", "the same path with a trailing slash"},
		{"https://sso.example.com/realms/r/tok", "another path on the same host"},
		{"https://sso.example.com/login/hunter2", "another path on the same host"},
		{"https://sso.example.com/realms/r/token?hunter2", "the same path on the same host"},
		{"http://sso.example.com/realms/r/token", "another scheme on the same host"},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest("POST", tt.to, nil)
		req.Response = &http.Response{StatusCode: 307}
		orig, _ := http.NewRequest("POST", from, nil)
		err := NewHTTPClient().CheckRedirect(req, []*http.Request{orig})
		if !errors.Is(err, tenantauth.ErrRedirect) {
			t.Fatalf("err = %v, want ErrRedirect", err)
		}
		if errors.Is(err, http.ErrUseLastResponse) {
			t.Fatal("redirect silently turned into the 3xx response")
		}
		msg := err.Error()
		if !strings.HasPrefix(msg, tenantauth.ErrRedirect.Error()+" (status 307 to "+tt.want) {
			t.Errorf("to %s: message %q; want status 307 and %q", tt.to, msg, tt.want)
		}
		for _, s := range []string{"evil", "steal", "hunter2", "code=x", "login", "8443"} {
			if strings.Contains(msg, s) {
				t.Errorf("to %s: message %q quotes the Location (%q)", tt.to, msg, s)
			}
		}
	}
	// From http to https on the same host: the common misconfiguration.
	req, _ := http.NewRequest("POST", "https://127.0.0.1/token", nil)
	orig, _ := http.NewRequest("POST", "http://127.0.0.1/token", nil)
	if msg := refuseRedirect(req, []*http.Request{orig}).Error(); !strings.Contains(msg, "status 0 to https on the same host") {
		t.Errorf("http to https: %q", msg)
	}
	if msg := refuseRedirect(req, nil).Error(); !strings.Contains(msg, "to another URL") {
		t.Errorf("without via: %q", msg)
	}
}

func TestHarden(t *testing.T) {
	called := false
	user := &http.Client{
		Timeout:       1234,
		CheckRedirect: func(*http.Request, []*http.Request) error { called = true; return nil },
	}
	h := Harden(user)
	if h == user {
		t.Fatal("Harden returned the user's client")
	}
	if h.Timeout != 1234 || h.Transport != user.Transport {
		t.Error("Harden changed more than CheckRedirect")
	}
	req, _ := http.NewRequest("GET", "https://a.example/", nil)
	if err := h.CheckRedirect(req, nil); !errors.Is(err, tenantauth.ErrRedirect) {
		t.Errorf("hardened CheckRedirect = %v, want ErrRedirect", err)
	}
	if called {
		t.Error("user's CheckRedirect was called")
	}
	if err := user.CheckRedirect(req, nil); err != nil || !called {
		t.Error("user's client was modified")
	}
	if n := Harden(nil); n == nil || n.CheckRedirect == nil || n.Timeout != ClientTimeout {
		t.Error("Harden(nil) is not NewHTTPClient()")
	}
}

func TestCheckEndpoint(t *testing.T) {
	tests := []struct {
		raw      string
		insecure bool
		want     error // nil: accepted
	}{
		{"https://sso.example.com/realms/x", false, nil},
		{"https://sso.example.com:8443", false, nil},
		{"HTTPS://SSO.example.com", false, nil},
		{"http://localhost:8080/token", false, nil},
		{"http://LOCALHOST/token", false, nil},
		{"http://localhost./token", false, nil},
		{"http://127.0.0.1:1/token", false, nil},
		{"http://127.8.9.10/token", false, nil},
		{"http://[::1]:80/token", false, nil},
		{"http://[::ffff:127.0.0.1]/token", false, nil},
		{"http://sso.example.com/token", false, tenantauth.ErrInsecureEndpoint},
		{"http://sso.example.com/token", true, nil},
		{"http://localhost.evil.com/token", false, tenantauth.ErrInsecureEndpoint},
		{"http://127.0.0.1.nip.io/token", false, tenantauth.ErrInsecureEndpoint},
		{"http://10.0.0.1/token", false, tenantauth.ErrInsecureEndpoint},
		{"http://[::2]/token", false, tenantauth.ErrInsecureEndpoint},
		{"ftp://sso.example.com/token", true, ErrInvalidEndpoint},
		{"https://user:pw@sso.example.com/token", false, ErrInvalidEndpoint},
		{"https://sso.example.com/token?client_secret=x", false, ErrInvalidEndpoint},
		{"https://sso.example.com/token#x", false, ErrInvalidEndpoint},
		{"https://sso.example.com/token?", false, ErrInvalidEndpoint},
		{"/realms/x", false, ErrInvalidEndpoint},
		{"sso.example.com", false, ErrInvalidEndpoint},
		{"https://", false, ErrInvalidEndpoint},
		{"https://:443/x", false, ErrInvalidEndpoint},
		{"https:opaque", false, ErrInvalidEndpoint},
		{"https://sso.example.com/%zz", false, ErrInvalidEndpoint},
		{"https://pw:secret@[::1/x", false, ErrInvalidEndpoint},
		{"", false, ErrInvalidEndpoint},
	}
	for _, tt := range tests {
		u, err := CheckEndpoint(tt.raw, tt.insecure)
		if tt.want == nil {
			if err != nil || u == nil {
				t.Errorf("CheckEndpoint(%q, %v) = %v, %v; want accepted", tt.raw, tt.insecure, u, err)
			}
			continue
		}
		if !errors.Is(err, tt.want) {
			t.Errorf("CheckEndpoint(%q, %v) = %v, %v; want %v", tt.raw, tt.insecure, u, err, tt.want)
			continue
		}
		if msg := err.Error(); strings.Contains(msg, "secret") || strings.Contains(msg, "pw") {
			t.Errorf("CheckEndpoint(%q) error %q leaks user info or query", tt.raw, msg)
		}
	}
}

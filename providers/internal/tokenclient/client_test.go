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

func TestRefuseRedirect(t *testing.T) {
	req, _ := http.NewRequest("POST", "https://evil.example.com/steal?code=x", nil)
	req.Response = &http.Response{StatusCode: 307}
	err := NewHTTPClient().CheckRedirect(req, nil)
	if !errors.Is(err, tenantauth.ErrRedirect) {
		t.Fatalf("err = %v, want ErrRedirect", err)
	}
	if errors.Is(err, http.ErrUseLastResponse) {
		t.Fatal("redirect silently turned into the 3xx response")
	}
	if msg := err.Error(); !strings.Contains(msg, "307") || !strings.Contains(msg, "https://evil.example.com/steal") || strings.Contains(msg, "code=x") {
		t.Errorf("message %q: want status and redacted target", msg)
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

package breaker_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"syscall"
	"testing"

	"github.com/tenantauth/tenantauth/breaker"
)

// tenantFault stands in for *tenantauth.TokenError, which breaker cannot
// import: TenantFault reports fault.
type tenantFault struct {
	status int
	fault  bool
}

func (e *tenantFault) Error() string     { return fmt.Sprintf("token endpoint: status %d", e.status) }
func (e *tenantFault) TenantFault() bool { return e.fault }

// temporary has a Temporary method but no TenantFault: Classify must ignore
// Temporary.
type temporary struct{ temp bool }

func (e temporary) Error() string   { return "temporary" }
func (e temporary) Temporary() bool { return e.temp }

func connRefused() error {
	return &url.Error{Op: "Post", URL: "https://sso.example.com/token", Err: &net.OpError{
		Op: "dial", Net: "tcp",
		Addr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9},
		Err:  os.NewSyscallError("connect", syscall.ECONNREFUSED),
	}}
}

func TestClassify(t *testing.T) {
	refused := connRefused()
	if !errors.Is(refused, syscall.ECONNREFUSED) {
		t.Fatal("test setup: connRefused does not match ECONNREFUSED")
	}
	tests := []struct {
		name string
		err  error
		want breaker.Outcome
	}{
		{"nil", nil, breaker.Success},
		{"canceled", context.Canceled, breaker.Excluded},
		{"canceled wrapped", fmt.Errorf("fetch: %w", context.Canceled), breaker.Excluded},
		{"canceled in url.Error", &url.Error{Op: "Post", URL: "u", Err: context.Canceled}, breaker.Excluded},
		{"deadline exceeded", context.DeadlineExceeded, breaker.Failure},
		{"deadline exceeded wrapped", fmt.Errorf("fetch: %w", context.DeadlineExceeded), breaker.Failure},
		{"connection refused", refused, breaker.Failure},
		{"connection refused wrapped", fmt.Errorf("fetch: %w", refused), breaker.Failure},
		{"400 invalid_grant", &tenantFault{400, true}, breaker.Excluded},
		{"401 invalid_client wrapped", fmt.Errorf("fetch: %w", &tenantFault{401, true}), breaker.Excluded},
		{"twice wrapped tenant fault", fmt.Errorf("a: %w", fmt.Errorf("b: %w", &tenantFault{400, true})), breaker.Excluded},
		{"503", &tenantFault{503, false}, breaker.Failure},
		{"429 wrapped", fmt.Errorf("fetch: %w", &tenantFault{429, false}), breaker.Failure},
		{"408", &tenantFault{408, false}, breaker.Failure},
		{"joined: first TenantFault decides", errors.Join(&tenantFault{400, true}, refused), breaker.Excluded},
		{"Temporary true ignored", temporary{true}, breaker.Failure},
		{"Temporary false ignored", temporary{false}, breaker.Failure},
		{"plain error", errors.New("boom"), breaker.Failure},
		{"ErrOpen itself", breaker.ErrOpen, breaker.Failure},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := breaker.Classify(tt.err); got != tt.want {
				t.Errorf("Classify(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

// A real refused connection on the loopback interface classifies like the
// constructed one.
func TestClassifyRealConnectionRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c, err := net.Dial("tcp", addr)
	if err == nil {
		c.Close()
		t.Skip("port was reused; cannot provoke a refused connection")
	}
	err = &url.Error{Op: "Post", URL: "http://" + addr + "/token", Err: err}
	if got := breaker.Classify(err); got != breaker.Failure {
		t.Errorf("Classify(%v) = %v, want failure", err, got)
	}
}

func TestOutcomeString(t *testing.T) {
	tests := []struct {
		o    breaker.Outcome
		want string
	}{
		{breaker.Success, "success"},
		{breaker.Failure, "failure"},
		{breaker.Excluded, "excluded"},
		{breaker.Outcome(9), "Outcome(9)"},
	}
	for _, tt := range tests {
		if got := tt.o.String(); got != tt.want {
			t.Errorf("Outcome(%d).String() = %q, want %q", int8(tt.o), got, tt.want)
		}
	}
}

package breaker_test

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/tenantauth/tenantauth/breaker"
)

func Example() {
	g, err := breaker.New(breaker.Config{
		ConsecutiveFailures: 2,
		OnStateChange: func(endpoint string, from, to breaker.State) {
			fmt.Printf("breaker %s: %s -> %s\n", endpoint, from, to)
		},
	})
	if err != nil {
		panic(err)
	}
	const endpoint = "https://sso.example.com/oauth/token"
	refused := errors.New("dial tcp: connection refused")
	for i := 0; i < 3; i++ {
		err := g.Do(endpoint, func() error { return refused })
		// The open breaker's message also says when it probes again (a
		// clock time) and its last failure: cut here to keep the output
		// stable.
		msg, _, _ := strings.Cut(err.Error(), ": failing fast")
		fmt.Printf("call %d: %v (open: %v)\n", i+1, msg, errors.Is(err, breaker.ErrOpen))
	}
	fmt.Println(g.State(endpoint))
	// Output:
	// call 1: dial tcp: connection refused (open: false)
	// breaker https://sso.example.com/oauth/token: closed -> open
	// call 2: dial tcp: connection refused (open: false)
	// call 3: tenantauth: circuit breaker open for https://sso.example.com/oauth/token (open: true)
	// open
}

// badCredentials stands in for *tenantauth.TokenError refusing a tenant's
// credentials (invalid_grant).
type badCredentials struct{}

func (badCredentials) Error() string     { return "token endpoint: status 400: invalid_grant" }
func (badCredentials) TenantFault() bool { return true }

func ExampleClassify() {
	for _, err := range []error{
		nil,
		errors.New("dial tcp: connection refused"),
		context.DeadlineExceeded,
		context.Canceled,
		fmt.Errorf("tenant acme: %w", badCredentials{}),
	} {
		fmt.Printf("%v: %v\n", err, breaker.Classify(err))
	}
	// Output:
	// <nil>: success
	// dial tcp: connection refused: failure
	// context deadline exceeded: failure
	// context canceled: excluded
	// tenant acme: token endpoint: status 400: invalid_grant: excluded
}

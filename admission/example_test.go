package admission_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tenantauth/tenantauth/admission"
)

const endpoint = "https://sso.example.com/realms/acme/protocol/openid-connect/token"

func Example() {
	g, err := admission.New(admission.Config{InitialLimit: 2, MaxPause: 10 * time.Second})
	if err != nil {
		panic(err)
	}
	defer g.Close()
	ctx := context.Background()

	a, _ := g.Acquire(ctx, endpoint, admission.Foreground)
	b, _ := g.Acquire(ctx, endpoint, admission.Background)
	s := g.Stats(endpoint)
	fmt.Printf("limit %d, in flight %d\n", s.Limit, s.InFlight)

	// The endpoint refuses one request (503) and serves the other.
	a.Release(admission.Overload, 0, 0)
	b.Release(admission.Success, 120*time.Millisecond, 0)
	s = g.Stats(endpoint)
	fmt.Printf("after a 503: limit %d, in flight %d\n", s.Limit, s.InFlight)

	// A 429 asking for an hour pauses the endpoint for MaxPause (10 s).
	c, _ := g.Acquire(ctx, endpoint, admission.Foreground)
	c.Release(admission.Overload, 0, time.Hour)
	s = g.Stats(endpoint)
	fmt.Printf("paused: %v (%d pause)\n", !s.PausedUntil.IsZero(), s.Pauses)

	// A caller with one second left does not wait for a 10 s pause.
	short, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	_, err = g.Acquire(short, endpoint, admission.Foreground)
	fmt.Println("overloaded:", errors.Is(err, admission.ErrOverloaded))
	// Output:
	// limit 2, in flight 2
	// after a 503: limit 1, in flight 0
	// paused: true (1 pause)
	// overloaded: true
}

// A token fetch acquires a slot before each attempt and releases it as soon
// as the answer is in, before retrying: the retry queues (and waits out a
// Retry-After pause) like every other request.
func Example_retries() {
	g, err := admission.New(admission.Config{})
	if err != nil {
		panic(err)
	}
	defer g.Close()

	// A token endpoint that is busy twice, then serves.
	answers := []int{503, 429, 200}
	send := func(attempt int) (status int, retryAfter time.Duration) {
		if answers[attempt] == 429 {
			return 429, 20 * time.Millisecond
		}
		return answers[attempt], 0
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second) // the fetch's deadline
	defer cancel()
	for attempt := 0; ; attempt++ {
		p, err := g.Acquire(ctx, endpoint, admission.Foreground)
		if err != nil {
			fmt.Println("not sent:", err) // not the endpoint's failure: do not count it
			return
		}
		start := time.Now()
		status, retryAfter := send(attempt)
		switch status {
		case 200:
			p.Release(admission.Success, time.Since(start), 0)
			fmt.Printf("token after %d attempts\n", attempt+1)
			return
		case 429, 503:
			p.Release(admission.Overload, 0, retryAfter)
			fmt.Printf("%d: retrying\n", status)
		default:
			p.Release(admission.Failure, 0, 0)
			return
		}
	}
	// Output:
	// 503: retrying
	// 429: retrying
	// token after 3 attempts
}

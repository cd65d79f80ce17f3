package admission

import "time"

// clock is the time source of a Group: the system clock in production, a
// fake one in tests that drive pauses and latencies deterministically.
type clock interface {
	now() time.Time
	// elapsed is the time since some fixed moment, for measuring latency:
	// the system clock reads only its monotonic clock, half the cost of
	// now.
	elapsed() time.Duration
	// afterFunc calls f, in its own goroutine or not, once d has passed,
	// unless the returned timer is stopped first.
	afterFunc(d time.Duration, f func()) stopper
}

// stopper is the part of *time.Timer a Group uses. Stop reports whether it
// prevented the call.
type stopper interface{ Stop() bool }

type systemClock struct{}

func (systemClock) now() time.Time { return time.Now() }

// processStart is systemClock's fixed moment.
var processStart = time.Now()

func (systemClock) elapsed() time.Duration { return time.Since(processStart) }

func (systemClock) afterFunc(d time.Duration, f func()) stopper { return time.AfterFunc(d, f) }

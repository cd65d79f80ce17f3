package standin

import "time"

// A Clock is the time base shared by the IdP, the API and the load tool:
// monotonic nanoseconds since the clock was made. Sharing one clock lets
// token times be compared with request start times without wall-clock
// jumps.
type Clock struct {
	epoch time.Time
}

// NewClock returns a clock that starts at zero now.
func NewClock() *Clock { return &Clock{epoch: time.Now()} }

// Now returns nanoseconds since the clock was made. It is always positive.
func (c *Clock) Now() int64 { return int64(time.Since(c.epoch)) + 1 }

// Time converts a reading of Now to a time.Time that keeps the monotonic
// reading, so comparisons with time.Now are exact.
func (c *Clock) Time(ns int64) time.Time { return c.epoch.Add(time.Duration(ns - 1)) }

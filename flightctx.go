package tenantauth

import (
	"context"
	"sync"
	"time"
)

// A flightCtx is the context of one flight: done when the Manager closes
// (its parent, which carries no values), when the flight's deadline
// (Config.FetchTimeout) passes, or when the flight ends (release).
//
// It is context.WithTimeout(parent, …) made lazy: a timer and a
// registration with the parent are made only when someone asks for Done or
// derives a cancellable context from it. Err reads the clock instead. A
// provider that answers from memory, and the Manager's own code (which
// reads only Err, and Done only while it waits), make neither, so a miss
// costs one allocation here instead of four, and flights do not contend
// on the parent's lock. A provider that does I/O asks for Done and pays
// what WithTimeout costs.
type flightCtx struct {
	parent   context.Context
	deadline time.Time

	mu         sync.Mutex
	err        error
	done       chan struct{} // made by the first Done or AfterFunc; closed when err is set
	timer      *time.Timer   // fires at deadline, once armed
	stopParent func() bool   // unregisters from parent, once armed
	funcs      []*func()     // AfterFunc callbacks not run yet
}

var _ context.Context = (*flightCtx)(nil)

func newFlightCtx(parent context.Context, deadline time.Time) *flightCtx {
	c := new(flightCtx)
	c.init(parent, deadline)
	return c
}

// init sets up a zero flightCtx in place (a flight holds its own).
func (c *flightCtx) init(parent context.Context, deadline time.Time) {
	c.parent, c.deadline = parent, deadline
}

// Deadline implements context.Context.
func (c *flightCtx) Deadline() (time.Time, bool) { return c.deadline, true }

// Value implements context.Context. The parent carries no values; not
// asking it keeps context.Cause(c) from finding the parent's cancelCtx and
// reporting its cause for c.
func (c *flightCtx) Value(any) any { return nil }

// Err implements context.Context.
func (c *flightCtx) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.checkLocked()
	return c.err
}

// checkLocked ends c when its parent is done or its deadline has passed,
// for an unarmed context, which no timer ends.
func (c *flightCtx) checkLocked() {
	if c.err != nil {
		return
	}
	if err := c.parent.Err(); err != nil {
		c.cancelLocked(err)
	} else if time.Until(c.deadline) <= 0 { // the monotonic reading: half a time.Now
		c.cancelLocked(context.DeadlineExceeded)
	}
}

// Done implements context.Context. The first call arms the timer and the
// parent's callback.
func (c *flightCtx) Done() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.armLocked()
	return c.done
}

// armLocked makes the done channel and what closes it, once.
func (c *flightCtx) armLocked() {
	if c.done != nil {
		return
	}
	c.done = make(chan struct{})
	c.checkLocked()
	if c.err != nil {
		close(c.done)
		return
	}
	c.timer = time.AfterFunc(time.Until(c.deadline), func() { c.cancel(context.DeadlineExceeded) })
	c.stopParent = context.AfterFunc(c.parent, func() { c.cancel(context.Canceled) })
}

// AfterFunc arranges for f to run in its own goroutine once c is done, as
// context.AfterFunc does; the context package calls it when a context is
// derived from c (context.WithCancel(c)), which then needs no goroutine
// of its own to follow c. stop unregisters f, reporting whether it did.
func (c *flightCtx) AfterFunc(f func()) (stop func() bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.armLocked()
	if c.err != nil {
		go f()
		return func() bool { return false }
	}
	p := &f
	c.funcs = append(c.funcs, p)
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		for i, q := range c.funcs {
			if q == p {
				c.funcs = append(c.funcs[:i], c.funcs[i+1:]...)
				return true
			}
		}
		return false
	}
}

// release ends c (context.Canceled) when its flight is over, and stops
// its timer and parent callback: nothing of c outlives the flight.
func (c *flightCtx) release() { c.cancel(context.Canceled) }

func (c *flightCtx) cancel(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cancelLocked(err)
}

// cancelLocked ends c with err, once: it closes done, stops the timer and
// the parent's callback, and starts the AfterFunc callbacks.
func (c *flightCtx) cancelLocked(err error) {
	if c.err != nil {
		return
	}
	c.err = err
	if c.done != nil {
		close(c.done)
	}
	if c.timer != nil {
		c.timer.Stop()
	}
	if c.stopParent != nil {
		c.stopParent()
	}
	for _, f := range c.funcs {
		go (*f)()
	}
	c.funcs = nil
}

// String describes c, as the context package's contexts do.
func (c *flightCtx) String() string { return "tenantauth.flightCtx" }

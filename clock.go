package tenantauth

import (
	"sync"
	"sync/atomic"
	"time"
)

// Reading the system clock costs ~28 ns here (more than the whole cache hit
// should), so the hot path reads a coarse clock instead: one goroutine stores
// the time every coarseTick while the Manager is in use, and parks itself
// after coarseIdle ticks without a reader. An idle Manager thus costs no CPU,
// and the clock lags real time by at most about one tick, far less than any
// token's expiry margin (a quarter of its lifetime).
const (
	coarseTick = 20 * time.Millisecond
	coarseIdle = 50 // ticks without a reader before parking (1 s)
)

// coarseClock returns nanoseconds since its epoch.
type coarseClock struct {
	epoch time.Time
	now   atomic.Int64 // nanoseconds since epoch, +1 so that 0 means "parked"
	used  atomic.Bool  // read since the last tick
	floor atomic.Int64 // the latest time returned: Now never goes below it
	// running is true while the ticking goroutine exists.
	running atomic.Bool

	mu     sync.Mutex // guards starting the goroutine against stop
	closed bool
	done   chan struct{}
	wg     sync.WaitGroup
}

func newCoarseClock() *coarseClock {
	return &coarseClock{epoch: time.Now(), done: make(chan struct{})}
}

// Now returns the coarse time. It allocates nothing and, while the clock
// runs, takes no lock and writes shared memory at most once per tick.
func (c *coarseClock) Now() int64 {
	var v int64
	if n := c.now.Load(); n != 0 {
		if !c.used.Load() {
			c.used.Store(true)
		}
		v = n - 1
	} else {
		v = c.wake()
	}
	return c.monotone(v)
}

// monotone returns v, or the latest time any reader was given when that is
// later. While the goroutine (re)starts, one reader may be given the
// system clock a moment after the starter read it for the coarse value;
// without this, that reader's next read would go backwards. The floor is
// written once per tick at most (by the first reader to see a new value).
func (c *coarseClock) monotone(v int64) int64 {
	for {
		f := c.floor.Load()
		if v <= f {
			return f
		}
		if c.floor.CompareAndSwap(f, v) {
			return v
		}
	}
}

// precise reads the system clock.
func (c *coarseClock) precise() int64 { return int64(time.Since(c.epoch)) }

func (c *coarseClock) wake() int64 {
	n := c.precise()
	if !c.running.CompareAndSwap(false, true) {
		return n // another goroutine is starting or stopping it
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		c.running.Store(false)
		return n
	}
	c.now.Store(n + 1)
	c.used.Store(true)
	c.wg.Add(1)
	go c.tick()
	return n
}

func (c *coarseClock) tick() {
	defer c.wg.Done()
	t := time.NewTicker(coarseTick)
	defer t.Stop()
	idle := 0
	for {
		select {
		case <-c.done:
			c.now.Store(0)
			return
		case <-t.C:
			c.now.Store(c.precise() + 1)
			if c.used.Swap(false) {
				idle = 0
				continue
			}
			if idle++; idle >= coarseIdle {
				// Park: readers see 0 and read the system clock until one
				// of them restarts the goroutine.
				c.now.Store(0)
				c.running.Store(false)
				return
			}
		}
	}
}

// stop ends the goroutine and waits for it.
func (c *coarseClock) stop() {
	c.mu.Lock()
	if !c.closed {
		c.closed = true
		close(c.done)
	}
	c.mu.Unlock()
	c.wg.Wait()
}

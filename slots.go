package tenantauth

import (
	"sync"
	"sync/atomic"
)

// slots is a counting semaphore for the TenantSource lookups under way
// (Config.MaxLookups), served first come first served.
//
// Taking and giving back a free slot is one atomic operation each, with no
// lock: every cache miss of every tenant does both, and a channel (the
// obvious semaphore) takes its runtime lock for each, so misses on several
// CPUs queued on it. Only callers that have to wait take mu: they queue in
// order, and a slot given back while anyone waits goes to the first of
// them; callers that find anyone waiting queue behind, they do not barge in.
type slots struct {
	max     int64
	used    atomic.Int64 // slots taken
	waiting atomic.Int64 // callers queued

	mu         sync.Mutex // guards the queue
	head, tail *slotWaiter
}

// slotWaiter is a caller queued for a slot.
type slotWaiter struct {
	ready      chan struct{} // closed when granted
	granted    bool          // guarded by slots.mu
	prev, next *slotWaiter
}

func newSlots(n int) *slots { return &slots{max: int64(n)} }

// tryTake takes a slot if one is free and nobody waits for one.
func (s *slots) tryTake() bool {
	if s.waiting.Load() != 0 {
		return false
	}
	for {
		n := s.used.Load()
		if n >= s.max {
			return false
		}
		if s.used.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// give gives a slot back.
func (s *slots) give() {
	s.used.Add(-1)
	// A caller that queued before the slot came back gets it. One that
	// queues after this decrement finds it free itself (see queue): each
	// side writes before it reads the other's counter, so at least one of
	// them sees the other.
	if s.waiting.Load() != 0 {
		s.mu.Lock()
		s.grantLocked()
		s.mu.Unlock()
	}
}

// queue queues a caller for a slot and returns its waiter, granted at once
// if a slot is free. The caller waits for ready, or leaves with drop.
func (s *slots) queue() *slotWaiter {
	w := &slotWaiter{ready: make(chan struct{})}
	s.mu.Lock()
	w.prev = s.tail
	if s.tail != nil {
		s.tail.next = w
	} else {
		s.head = w
	}
	s.tail = w
	s.waiting.Add(1)
	s.grantLocked()
	s.mu.Unlock()
	return w
}

// drop takes w, which gave up waiting, out of the queue; a slot granted
// meanwhile is given back.
func (s *slots) drop(w *slotWaiter) {
	s.mu.Lock()
	if w.granted {
		s.mu.Unlock()
		s.give()
		return
	}
	s.unlinkLocked(w)
	s.mu.Unlock()
}

// grantLocked gives free slots to the queued callers, in order.
func (s *slots) grantLocked() {
	for s.head != nil {
		n := s.used.Load()
		if n >= s.max {
			return
		}
		if !s.used.CompareAndSwap(n, n+1) {
			continue
		}
		w := s.head
		s.unlinkLocked(w)
		w.granted = true
		close(w.ready)
	}
}

func (s *slots) unlinkLocked(w *slotWaiter) {
	if w.prev != nil {
		w.prev.next = w.next
	} else {
		s.head = w.next
	}
	if w.next != nil {
		w.next.prev = w.prev
	} else {
		s.tail = w.prev
	}
	w.prev, w.next = nil, nil
	s.waiting.Add(-1)
}

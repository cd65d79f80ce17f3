package tenantauth

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Callers that queue are served in the order they queued, and one that
// finds others queued does not take a slot ahead of them.
func TestSlotsFirstComeFirstServed(t *testing.T) {
	s := newSlots(2)
	for range 2 {
		if !s.tryTake() {
			t.Fatal("tryTake refused a free slot")
		}
	}
	if s.tryTake() {
		t.Fatal("tryTake took a third slot of two")
	}
	var ws []*slotWaiter
	for range 5 {
		ws = append(ws, s.queue())
	}
	for i, w := range ws {
		select {
		case <-w.ready:
			t.Fatalf("waiter %d granted while every slot was taken", i)
		default:
		}
	}
	for i, w := range ws {
		s.give()
		if s.tryTake() {
			t.Fatalf("tryTake barged ahead of %d queued callers", len(ws)-i)
		}
		select {
		case <-w.ready:
		default:
			t.Fatalf("waiter %d not granted the slot given back", i)
		}
		for j, later := range ws[i+1:] {
			select {
			case <-later.ready:
				t.Fatalf("waiter %d granted before its turn", i+1+j)
			default:
			}
		}
	}
	s.give()
	s.give()
	if s.used.Load() != 0 || s.waiting.Load() != 0 {
		t.Fatalf("used %d, waiting %d after every slot came back; want 0, 0", s.used.Load(), s.waiting.Load())
	}
}

// A caller that queues while a slot is free gets it at once: nobody else
// would give a slot back to wake it.
func TestSlotsQueueWhenFree(t *testing.T) {
	s := newSlots(1)
	w := s.queue()
	select {
	case <-w.ready:
	default:
		t.Fatal("a caller queued with a slot free was not granted it")
	}
	if s.tryTake() {
		t.Fatal("tryTake took the slot granted to the queued caller")
	}
	s.give()
}

// A waiter that gives up leaves the queue; one granted meanwhile gives its
// slot to the next.
func TestSlotsDrop(t *testing.T) {
	s := newSlots(1)
	if !s.tryTake() {
		t.Fatal("tryTake refused a free slot")
	}
	a, b, c := s.queue(), s.queue(), s.queue()
	s.drop(a) // never granted: leaves the queue
	s.give()  // goes to b
	select {
	case <-b.ready:
	default:
		t.Fatal("b not granted after a left")
	}
	s.drop(b) // granted: its slot goes on to c
	select {
	case <-c.ready:
	default:
		t.Fatal("c not granted the slot b gave up")
	}
	s.give()
	if s.used.Load() != 0 || s.waiting.Load() != 0 || s.head != nil || s.tail != nil {
		t.Fatalf("used %d, waiting %d, queue empty %v; want 0, 0, true", s.used.Load(), s.waiting.Load(), s.head == nil && s.tail == nil)
	}
}

// Many goroutines take slots at once, queueing when none is free and
// sometimes giving up; at no time are more than max slots held, no waiter
// is forgotten (every goroutine ends), and all slots come back. Run under
// -race.
func TestSlotsConcurrent(t *testing.T) {
	const max, workers, rounds = 4, 32, 2000
	s := newSlots(max)
	var held, peak atomic.Int64
	hold := func() {
		n := held.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		held.Add(-1)
		s.give()
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range rounds {
				if s.tryTake() {
					hold()
					continue
				}
				q := s.queue()
				if (w+i)%7 == 0 {
					s.drop(q) // gives up at once, granted or not
					continue
				}
				select {
				case <-q.ready:
					hold()
				case <-time.After(time.Minute):
					t.Error("a queued caller was never granted a slot")
					return
				}
			}
		}()
	}
	wg.Wait()
	if p := peak.Load(); p > max {
		t.Errorf("%d slots held at once, max %d", p, max)
	}
	if s.used.Load() != 0 || s.waiting.Load() != 0 || s.head != nil {
		t.Errorf("used %d, waiting %d, queue empty %v after every caller ended; want 0, 0, true",
			s.used.Load(), s.waiting.Load(), s.head == nil)
	}
}

func BenchmarkSlotsParallel(b *testing.B) {
	s := newSlots(1 << 20)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if s.tryTake() {
				s.give()
			}
		}
	})
}

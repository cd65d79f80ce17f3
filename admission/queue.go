package admission

import "time"

// A waiter is one Acquire call waiting for a slot. Its fields other than
// ready are guarded by Group.mu until ready is closed; after that they are
// read-only.
type waiter struct {
	p        Permit // the permit handed out when granted
	prio     Priority
	deadline time.Time // the context's deadline; zero when it has none

	ready chan struct{} // closed when granted (err == nil) or failed
	err   error
	done  bool // granted or failed: no longer in a queue

	prev, next *waiter
}

// waitQueue is an intrusive FIFO of waiters: pushing, popping and removing
// (a cancelled waiter) take constant time and allocate nothing.
type waitQueue struct {
	head, tail *waiter
	n          int
}

func (q *waitQueue) push(w *waiter) {
	w.prev, w.next = q.tail, nil
	if q.tail == nil {
		q.head = w
	} else {
		q.tail.next = w
	}
	q.tail = w
	q.n++
}

func (q *waitQueue) remove(w *waiter) {
	if w.prev == nil {
		q.head = w.next
	} else {
		w.prev.next = w.next
	}
	if w.next == nil {
		q.tail = w.prev
	} else {
		w.next.prev = w.prev
	}
	w.prev, w.next = nil, nil
	q.n--
}

// endpoints maps endpoint names to their state and keeps them in least
// recently used order (an intrusive list: front is the most recent).
type endpoints struct {
	m    map[string]*endpoint
	root endpoint // sentinel: root.next is the front, root.prev the back
}

func (l *endpoints) init() {
	l.m = make(map[string]*endpoint)
	l.root.next, l.root.prev = &l.root, &l.root
}

func (l *endpoints) pushFront(e *endpoint) {
	e.prev, e.next = &l.root, l.root.next
	e.next.prev = e
	l.root.next = e
}

func (l *endpoints) unlink(e *endpoint) {
	e.prev.next = e.next
	e.next.prev = e.prev
	e.prev, e.next = nil, nil
}

func (l *endpoints) moveToFront(e *endpoint) {
	if l.root.next == e {
		return
	}
	l.unlink(e)
	l.pushFront(e)
}

// evictionScan bounds how many least recently used endpoints are examined
// for an idle one to drop when the bound is reached.
const evictionScan = 16

package shared

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// ErrUnavailable is the error, wrapped, of every call to a [Memory] that is
// down ([Memory.SetDown]) or closed, and the Err of the subscriptions it
// ends, like a Store whose connection is lost.
var ErrUnavailable = errors.New("shared: store unavailable")

// MemoryConfig configures [NewMemory]. The zero MemoryConfig is ready to use.
type MemoryConfig struct {
	// Now is the clock that TTLs are measured by, for tests that move time
	// by hand; nil means time.Now. It is called without Memory's lock held
	// and must be safe for concurrent use. SetDelay waits in real time.
	Now func() time.Time

	// SubscriberBuffer is how many messages a subscriber may fall behind
	// its publishers: a subscriber whose callback is slower than that is
	// disconnected (its Subscription's Done closes, with an Err wrapping
	// ErrUnavailable), as Redis drops a client whose output buffer
	// overflows. Zero means 1024.
	SubscriberBuffer int

	// MaxValues bounds how many values are stored: setting a new key when
	// the store is full evicts the value that expires first, as a Redis
	// with maxmemory-policy volatile-ttl does. Zero means no bound other
	// than the TTLs. Locks are bounded by their TTLs only: evicting one
	// would break its exclusion.
	MaxValues int
}

const (
	defaultSubscriberBuffer = 1024
	// sweepMin is the fewest writes between two sweeps of expired entries.
	sweepMin = 64
)

// Memory is a [Store] held in the memory of one process: for tests, and
// for several Managers in one process (each one its own replica). It is
// safe for concurrent use.
//
// Expired values and locks are dropped when read, and by a sweep that runs
// after as many writes as there were entries left by the previous one, so
// that the store never holds more than about twice its live entries and
// each write costs O(1) amortised. Memory starts no goroutine of its own;
// each subscription runs one, which ends when the subscription does.
//
// Memory also injects faults, for tests of code that uses a Store:
// [Memory.SetDown] makes it unreachable, [Memory.SetDelay] slow, and
// [Memory.Stats] counts the calls it answered.
type Memory struct {
	now       func() time.Time
	buffer    int
	maxValues int
	instance  string // random, begins every Fence.Value of this Memory

	delay  atomic.Int64 // time.Duration that every call waits
	fences atomic.Uint64
	stats  memoryCounters

	mu     sync.Mutex
	down   bool
	closed bool
	values map[string]valueEntry
	locks  map[string]lockEntry
	subs   map[*memorySubscription]struct{}
	// writes since the last sweep, and entries that sweep left
	valueWrites, valuesSwept int
	lockWrites, locksSwept   int
}

var _ Store = (*Memory)(nil)

type valueEntry struct {
	value   []byte
	expires time.Time
}

type lockEntry struct {
	fence   string
	expires time.Time
}

// NewMemory returns an empty Memory configured by cfg.
func NewMemory(cfg MemoryConfig) *Memory {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.SubscriberBuffer <= 0 {
		cfg.SubscriberBuffer = defaultSubscriberBuffer
	}
	if cfg.MaxValues < 0 {
		cfg.MaxValues = 0
	}
	return &Memory{
		now:       cfg.Now,
		buffer:    cfg.SubscriberBuffer,
		maxValues: cfg.MaxValues,
		instance:  rand.Text(),
		values:    make(map[string]valueEntry),
		locks:     make(map[string]lockEntry),
		subs:      make(map[*memorySubscription]struct{}),
	}
}

// Get implements [Store.Get]. The value returned is the caller's.
func (m *Memory) Get(ctx context.Context, key string) ([]byte, error) {
	m.stats.gets.Add(1)
	if err := m.begin(ctx, "get"); err != nil {
		return nil, err
	}
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.availableLocked(); err != nil {
		return nil, err
	}
	e, ok := m.values[key]
	if ok && expired(e.expires, now) {
		delete(m.values, key)
		ok = false
	}
	if !ok {
		return nil, ErrNotFound
	}
	m.stats.hits.Add(1)
	v := make([]byte, len(e.value))
	copy(v, e.value)
	return v, nil
}

// Set implements [Store.Set]. Memory keeps a copy of value. A ttl that is
// not positive is an error.
func (m *Memory) Set(ctx context.Context, key string, value []byte, ttl time.Duration, fence Fence) error {
	m.stats.sets.Add(1)
	if ttl <= 0 {
		return m.failed(fmt.Errorf("shared: memory set: ttl %v is not positive", ttl))
	}
	if err := m.begin(ctx, "set"); err != nil {
		return err
	}
	now := m.now()
	v := bytes.Clone(value)
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.availableLocked(); err != nil {
		return err
	}
	if !fence.IsZero() && !m.holdsLocked(fence, now) {
		m.stats.locksLost.Add(1)
		return ErrLockLost
	}
	if _, ok := m.values[key]; !ok && m.maxValues > 0 && len(m.values) >= m.maxValues {
		m.sweepValuesLocked(now)
		if len(m.values) >= m.maxValues {
			m.evictLocked()
		}
	}
	m.values[key] = valueEntry{value: v, expires: now.Add(ttl)}
	if m.valueWrites++; m.valueWrites >= max(m.valuesSwept, sweepMin) {
		m.sweepValuesLocked(now)
	}
	return nil
}

// DeleteIfPrefix implements [Store.DeleteIfPrefix].
func (m *Memory) DeleteIfPrefix(ctx context.Context, key string, prefix []byte) (bool, error) {
	m.stats.deletes.Add(1)
	if err := m.begin(ctx, "delete"); err != nil {
		return false, err
	}
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.availableLocked(); err != nil {
		return false, err
	}
	e, ok := m.values[key]
	if !ok {
		return false, nil
	}
	if expired(e.expires, now) {
		delete(m.values, key)
		return false, nil
	}
	if !bytes.HasPrefix(e.value, prefix) {
		return false, nil
	}
	delete(m.values, key)
	m.stats.deleted.Add(1)
	return true, nil
}

// Lock implements [Store.Lock]. Fence values are a random string drawn
// when the Memory is made and a counter. A ttl that is not positive is an
// error.
func (m *Memory) Lock(ctx context.Context, lock string, ttl time.Duration) (Fence, bool, error) {
	m.stats.locks.Add(1)
	if ttl <= 0 {
		return Fence{}, false, m.failed(fmt.Errorf("shared: memory lock: ttl %v is not positive", ttl))
	}
	if err := m.begin(ctx, "lock"); err != nil {
		return Fence{}, false, err
	}
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.availableLocked(); err != nil {
		return Fence{}, false, err
	}
	if l, ok := m.locks[lock]; ok && !expired(l.expires, now) {
		return Fence{}, false, nil
	}
	f := Fence{Lock: lock, Value: m.instance + "-" + strconv.FormatUint(m.fences.Add(1), 10)}
	m.locks[lock] = lockEntry{fence: f.Value, expires: now.Add(ttl)}
	if m.lockWrites++; m.lockWrites >= max(m.locksSwept, sweepMin) {
		m.sweepLocksLocked(now)
	}
	m.stats.locksTaken.Add(1)
	return f, true, nil
}

// Unlock implements [Store.Unlock]. Unlocking the zero Fence does nothing.
func (m *Memory) Unlock(ctx context.Context, f Fence) error {
	m.stats.unlocks.Add(1)
	if err := m.begin(ctx, "unlock"); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.availableLocked(); err != nil {
		return err
	}
	if l, ok := m.locks[f.Lock]; ok && l.fence == f.Value && !f.IsZero() {
		delete(m.locks, f.Lock)
	}
	return nil
}

// Publish implements [Store.Publish]: it queues a copy of msg for every
// live subscription of this Memory, and disconnects those whose queue is
// full (see MemoryConfig.SubscriberBuffer). Each subscription receives the
// messages in the order their Publish calls took Memory's lock.
func (m *Memory) Publish(ctx context.Context, msg []byte) error {
	m.stats.publishes.Add(1)
	if err := m.begin(ctx, "publish"); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.availableLocked(); err != nil {
		return err
	}
	for s := range m.subs {
		select {
		case s.queue <- bytes.Clone(msg):
		default:
			delete(m.subs, s)
			s.end(fmt.Errorf("%w: memory subscriber fell more than %d messages behind", ErrUnavailable, m.buffer))
			m.stats.dropped.Add(1)
		}
	}
	return nil
}

// Subscribe implements [Store.Subscribe]. fn runs on a goroutine of its
// own, which ends when the subscription does; fn owns each msg it is given.
func (m *Memory) Subscribe(ctx context.Context, fn func(msg []byte)) (Subscription, error) {
	m.stats.subscribes.Add(1)
	if fn == nil {
		return nil, m.failed(errors.New("shared: memory subscribe: nil fn"))
	}
	if err := m.begin(ctx, "subscribe"); err != nil {
		return nil, err
	}
	s := &memorySubscription{
		queue: make(chan []byte, m.buffer),
		ended: make(chan struct{}),
		done:  make(chan struct{}),
	}
	m.mu.Lock()
	if err := m.availableLocked(); err != nil {
		m.mu.Unlock()
		return nil, err
	}
	m.subs[s] = struct{}{}
	m.mu.Unlock()
	go m.deliver(ctx, s, fn)
	return s, nil
}

// deliver calls fn with s's messages until ctx ends or s is ended.
func (m *Memory) deliver(ctx context.Context, s *memorySubscription, fn func([]byte)) {
	defer close(s.done)
	defer func() {
		m.mu.Lock()
		delete(m.subs, s)
		m.mu.Unlock()
	}()
	for {
		select {
		case <-ctx.Done():
			s.end(ctx.Err())
			return
		case <-s.ended:
			return
		case msg := <-s.queue:
			// select picks at random among ready cases: an ended
			// subscription must not deliver what is still queued.
			if err := ctx.Err(); err != nil {
				s.end(err)
				return
			}
			select {
			case <-s.ended:
				return
			default:
			}
			fn(msg)
		}
	}
}

// SetDown makes the Memory unreachable (down true) or reachable again. While
// it is down every call fails with an error wrapping [ErrUnavailable];
// taking it down ends every subscription with such an Err, as a lost
// connection does. Stored values and locks survive (and keep expiring).
func (m *Memory) SetDown(down bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.down = down
	if down {
		m.endAllLocked(fmt.Errorf("%w: memory store is down", ErrUnavailable))
	}
}

// SetDelay makes every later call wait d before it acts, or return the
// context's error (wrapped) if its context ends first; then the call has no
// effect. Zero, or a negative d, removes the delay.
func (m *Memory) SetDelay(d time.Duration) {
	m.delay.Store(int64(max(d, 0)))
}

// Close ends every subscription (with an Err wrapping [ErrUnavailable]),
// drops every value and lock, and makes every later call fail with an
// error wrapping ErrUnavailable. Each subscription's Done closes once its
// callback returns. Close always returns nil; calling it again does nothing.
func (m *Memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil
	}
	m.closed = true
	m.endAllLocked(fmt.Errorf("%w: memory store is closed", ErrUnavailable))
	clear(m.values)
	clear(m.locks)
	return nil
}

// MemoryStats are a [Memory]'s counters since it was made, and its sizes.
type MemoryStats struct {
	// Calls received per method, including those that failed.
	Gets, Sets, Deletes, Locks, Unlocks, Publishes, Subscribes uint64
	// Failures counts the calls that failed because their context ended,
	// the store was down or closed, or an argument was invalid; not the
	// ErrNotFound and ErrLockLost answers.
	Failures uint64
	// Hits counts the Gets that found a value.
	Hits uint64
	// LocksTaken counts the Locks that returned ok; LocksLost the fenced
	// Sets refused with ErrLockLost; Deleted the DeleteIfPrefix calls that
	// deleted.
	LocksTaken, LocksLost, Deleted uint64
	// Evicted counts the values dropped to respect MaxValues; Dropped the
	// subscribers disconnected for falling behind.
	Evicted, Dropped uint64

	// Values and HeldLocks are the entries stored now, including expired
	// ones not yet swept; Subscribers the live subscriptions.
	Values, HeldLocks, Subscribers int
}

// Stats returns m's counters and sizes.
func (m *Memory) Stats() MemoryStats {
	m.mu.Lock()
	values, locks, subs := len(m.values), len(m.locks), len(m.subs)
	m.mu.Unlock()
	c := &m.stats
	return MemoryStats{
		Gets: c.gets.Load(), Sets: c.sets.Load(), Deletes: c.deletes.Load(), Locks: c.locks.Load(),
		Unlocks: c.unlocks.Load(), Publishes: c.publishes.Load(), Subscribes: c.subscribes.Load(),
		Failures: c.failures.Load(), Hits: c.hits.Load(), LocksTaken: c.locksTaken.Load(),
		LocksLost: c.locksLost.Load(), Deleted: c.deleted.Load(), Evicted: c.evicted.Load(),
		Dropped: c.dropped.Load(),
		Values:  values, HeldLocks: locks, Subscribers: subs,
	}
}

type memoryCounters struct {
	gets, sets, deletes, locks, unlocks, publishes, subscribes atomic.Uint64
	failures, hits, locksTaken, locksLost, deleted, evicted    atomic.Uint64
	dropped                                                    atomic.Uint64
}

// begin fails a call whose context has ended, and waits the delay set by
// SetDelay.
func (m *Memory) begin(ctx context.Context, op string) error {
	if err := ctx.Err(); err != nil {
		return m.failed(fmt.Errorf("shared: memory %s: %w", op, err))
	}
	d := time.Duration(m.delay.Load())
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return m.failed(fmt.Errorf("shared: memory %s: %w", op, ctx.Err()))
	case <-t.C:
		return nil
	}
}

// availableLocked fails a call while the store is down or closed.
func (m *Memory) availableLocked() error {
	switch {
	case m.closed:
		return m.failed(fmt.Errorf("%w: memory store is closed", ErrUnavailable))
	case m.down:
		return m.failed(fmt.Errorf("%w: memory store is down", ErrUnavailable))
	}
	return nil
}

func (m *Memory) failed(err error) error {
	m.stats.failures.Add(1)
	return err
}

func (m *Memory) holdsLocked(f Fence, now time.Time) bool {
	l, ok := m.locks[f.Lock]
	return ok && l.fence == f.Value && !expired(l.expires, now)
}

func (m *Memory) endAllLocked(err error) {
	for s := range m.subs {
		delete(m.subs, s)
		s.end(err)
	}
}

func (m *Memory) sweepValuesLocked(now time.Time) {
	for k, e := range m.values {
		if expired(e.expires, now) {
			delete(m.values, k)
		}
	}
	m.valueWrites, m.valuesSwept = 0, len(m.values)
}

func (m *Memory) sweepLocksLocked(now time.Time) {
	for k, l := range m.locks {
		if expired(l.expires, now) {
			delete(m.locks, k)
		}
	}
	m.lockWrites, m.locksSwept = 0, len(m.locks)
}

// evictLocked drops the value that expires first: O(n), but only on a full
// store, which a test store should rarely be.
func (m *Memory) evictLocked() {
	var victim string
	var first time.Time
	found := false
	for k, e := range m.values {
		if !found || e.expires.Before(first) {
			victim, first, found = k, e.expires, true
		}
	}
	delete(m.values, victim)
	m.stats.evicted.Add(1)
}

func expired(expires, now time.Time) bool { return !now.Before(expires) }

// memorySubscription is a Memory's [Subscription].
type memorySubscription struct {
	queue chan []byte
	ended chan struct{} // closed by end
	done  chan struct{} // closed when deliver returns
	once  sync.Once
	err   error // set by end, read after done
}

// end stops s's delivery with err, unless it is already stopped.
func (s *memorySubscription) end(err error) {
	s.once.Do(func() {
		s.err = err
		close(s.ended)
	})
}

func (s *memorySubscription) Done() <-chan struct{} { return s.done }

func (s *memorySubscription) Err() error {
	select {
	case <-s.done:
		return s.err
	default:
		return nil
	}
}

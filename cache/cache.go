package cache

import (
	"errors"
	"fmt"
	"hash/maphash"
	"math"
	"math/bits"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// ErrInvalidConfig is returned, wrapped, by [New] for a Config it cannot use.
var ErrInvalidConfig = errors.New("cache: invalid config")

const (
	// DefaultCapacity is the capacity of a Config whose Capacity is zero.
	DefaultCapacity = 10_000

	// maxShards bounds the automatic shard count: beyond it shards no
	// longer reduce write contention on a machine that size, and each
	// one costs its own LRU list.
	maxShards = 64

	// entriesPerShard is the shard size the automatic shard count aims for:
	// inserting a new key copies its shard's read index, so shards must
	// stay small, while caches this small keep one exact LRU list.
	entriesPerShard = 1024

	// claimed is the gate value of a slot whose refresh has been claimed:
	// no now is ever at or beyond it while the slot is still valid, because
	// now < staleAt <= MaxInt64.
	claimed = math.MaxInt64
)

// Config configures a [Cache]. The zero value is usable.
type Config struct {
	// Capacity is the maximum number of entries. Inserting a new key into
	// a full cache evicts the least recently used entry of the new key's
	// shard (of another shard if that one is empty), so a cache holds
	// exactly Capacity keys however they hash. Zero means
	// [DefaultCapacity] (10 000); negative is an error.
	Capacity int

	// Shards is the number of independently locked parts of the cache,
	// rounded up to a power of two and down to at most Capacity. Zero means
	// automatic: one shard per 1 024 entries of capacity, rounded up to a
	// power of two, at most 64 — so a cache of up to 1 024 entries has a
	// single, exact LRU eviction order. Negative is an error.
	Shards int
}

// State is what [Cache.Get] tells its caller to do with the value it returns.
type State uint8

const (
	// Miss means the key is absent, or its entry is stale (now is at or
	// past its staleAt): the caller must fetch a new value before use.
	Miss State = iota
	// Fresh means the value is valid and there is nothing to do.
	Fresh
	// Refresh means the value is valid but due for refresh, and this caller
	// won the entry's one refresh claim: serve the value and refresh it
	// (then Set the new value, or Postpone on failure).
	Refresh
)

// String returns the state's name.
func (s State) String() string {
	switch s {
	case Miss:
		return "Miss"
	case Fresh:
		return "Fresh"
	case Refresh:
		return "Refresh"
	}
	return "State(" + strconv.Itoa(int(s)) + ")"
}

// A Cache maps string keys to *V values, each with a refresh deadline and a
// stale deadline, bounded by a capacity with least-recently-used eviction.
//
// A Cache is safe for concurrent use. Get, Peek, Postpone and Len take no
// lock (but for the rare Get that promotes an aged entry); Set, Delete and
// CompareAndDelete lock one shard.
type Cache[V any] struct {
	// Read by every hit, written only by New.
	shards []shard[V]
	seed   maphash.Seed
	shift  uint8  // a key's hash picks its shard by its top bits: h >> shift
	mask   uint64 // len(shards)-1
	// promoteAfter is how many inserts into its shard age an entry enough
	// for a hit to move it to the front of the LRU list.
	promoteAfter uint64

	_ [64]byte // keep count, written by inserts, off the hits' cache line

	capacity int64
	// count is the number of entries, counting inserts in progress and not
	// yet removals in progress: an insert reserves its place here before
	// publishing its key, a removal frees it after. It never exceeds
	// capacity, while each shard may hold more or less than its fair share.
	count atomic.Int64
}

// A shard is a simplelru.LRU under a mutex (the recency order and the
// eviction decision) plus a read index that hits use without the mutex.
type shard[V any] struct {
	// index is immutable, replaced whole under mu when a key is inserted
	// or removed. Hits load it; they never write to the shard.
	index atomic.Pointer[index[V]]
	// inserts counts new keys in this shard; an entry's stamp is compared
	// with it to decide whether a hit should promote the entry.
	inserts atomic.Uint64

	// Keep the mutex, written by every lock, off the cache line that every
	// hit reads.
	_ [64 - 16]byte

	mu  sync.Mutex
	lru *simplelru.LRU[string, *entry[V]]

	_ [64 - 16]byte // keep the next shard's read line apart
}

// An entry is what the index and the LRU list point to. It lives as long
// as its key stays in the cache; Set on an existing key replaces its slot.
type entry[V any] struct {
	key  string
	slot atomic.Pointer[slot[V]]
	// stamp is the shard's inserts count when the entry was last moved to
	// the front of the LRU list.
	stamp atomic.Uint64
}

// A slot is one value with its deadlines. It is immutable apart from gate,
// so a reader that loaded it sees a value and deadlines that belong
// together.
type slot[V any] struct {
	v         *V
	refreshAt int64
	staleAt   int64
	// gate is the earliest now at which a Get may claim the refresh:
	// refreshAt at first, a later time after Postpone, or claimed while a
	// refresh is claimed. A new slot (Set) starts unclaimed.
	gate atomic.Int64
}

// New returns an empty cache configured by cfg.
func New[V any](cfg Config) (*Cache[V], error) {
	if cfg.Capacity < 0 {
		return nil, fmt.Errorf("%w: negative Capacity %d", ErrInvalidConfig, cfg.Capacity)
	}
	if cfg.Shards < 0 {
		return nil, fmt.Errorf("%w: negative Shards %d", ErrInvalidConfig, cfg.Shards)
	}
	capacity := cfg.Capacity
	if capacity == 0 {
		capacity = DefaultCapacity
	}
	n := shardCount(capacity, cfg.Shards)

	c := &Cache[V]{
		shards:       make([]shard[V], n),
		shift:        uint8(64 - bits.TrailingZeros(uint(n))), // 64 for one shard: h>>64 == 0
		mask:         uint64(n - 1),
		seed:         maphash.MakeSeed(),
		promoteAfter: uint64(capacity / n / 4),
		capacity:     int64(capacity),
	}
	for i := range c.shards {
		sh := &c.shards[i]
		// The LRU's own bound is never reached: Set evicts first, against
		// the whole cache's count. It is only the list and its index.
		lru, err := simplelru.NewLRU[string, *entry[V]](capacity, nil)
		if err != nil { // unreachable: capacity > 0
			return nil, fmt.Errorf("%w: %v", ErrInvalidConfig, err)
		}
		sh.lru = lru
		sh.index.Store(&index[V]{})
	}
	return c, nil
}

// shardCount returns the number of shards: a power of two, at most
// capacity (so no shard is empty).
func shardCount(capacity, shards int) int {
	if shards == 0 {
		shards = min((capacity+entriesPerShard-1)/entriesPerShard, maxShards)
	}
	n := 1
	if shards > 1 {
		n = 1 << bits.Len(uint(shards-1)) // round up
	}
	for n > capacity {
		n >>= 1
	}
	return max(n, 1)
}

func (c *Cache[V]) hash(key string) uint64 {
	return maphash.String(c.seed, key)
}

// Get returns the value for key and its state at now.
//
// On [Miss] because the entry is stale, v is the stale value (the caller
// may need, say, its refresh token); on Miss because key is absent, v is
// nil. [Refresh] is returned to exactly one caller per claim: the first Get
// at or after the entry's refreshAt (or after the time given to Postpone)
// claims the refresh atomically; every other caller gets [Fresh] until Set
// or Postpone releases the claim.
//
// A hit allocates nothing and writes no shared memory, except that an entry
// that has aged (see the package documentation) is moved to the front of
// its shard's LRU list by one of its hits.
func (c *Cache[V]) Get(key string, now int64) (v *V, s State) {
	h := maphash.String(c.seed, key) // one hash picks the shard and the slot
	sh := &c.shards[h>>c.shift]
	e := sh.index.Load().find(h, key)
	if e == nil {
		return nil, Miss
	}
	sl := e.slot.Load()
	if now >= sl.staleAt {
		return sl.v, Miss
	}
	if n := sh.inserts.Load(); n-e.stamp.Load() > c.promoteAfter {
		c.promote(sh, key, e, n)
	}
	if now < sl.gate.Load() {
		return sl.v, Fresh
	}
	return sl.v, sl.claim(now)
}

// promote moves e to the front of its shard's LRU list, unless another hit
// is already doing so.
func (c *Cache[V]) promote(sh *shard[V], key string, e *entry[V], n uint64) {
	old := e.stamp.Load()
	if n-old <= c.promoteAfter || !e.stamp.CompareAndSwap(old, n) {
		return
	}
	sh.mu.Lock()
	// The entry may have been evicted or replaced since the index was
	// loaded; only the entry still cached for key is moved.
	if cur, ok := sh.lru.Peek(key); ok && cur == e {
		sh.lru.Get(key)
	}
	sh.mu.Unlock()
}

// claim tries to claim s's refresh at now.
func (s *slot[V]) claim(now int64) State {
	for {
		g := s.gate.Load()
		if now < g {
			return Fresh // not due, postponed, or claimed by someone else
		}
		if s.gate.CompareAndSwap(g, claimed) {
			return Refresh
		}
	}
}

// Set inserts or replaces key's value with new deadlines, and clears any
// refresh claim or postponement. A refreshAt after staleAt is treated as
// staleAt (no refresh-ahead). Inserting a new key into a full cache evicts
// the least recently used entry of its shard; replacing a value counts as a
// use.
func (c *Cache[V]) Set(key string, v *V, refreshAt, staleAt int64) {
	s := &slot[V]{v: v, refreshAt: min(refreshAt, staleAt), staleAt: staleAt}
	s.gate.Store(s.refreshAt)
	h := c.hash(key)
	i := h >> c.shift
	for !c.set(&c.shards[i], key, h, s) {
		// The cache was full and the shard empty: make room elsewhere,
		// then retry.
		c.evictOther(i)
	}
}

// set stores s for key, whose hash is h, in sh. It reports false, having
// changed nothing, when key is new, the cache is full and sh has nothing
// to evict.
func (c *Cache[V]) set(sh *shard[V], key string, h uint64, s *slot[V]) bool {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if e, ok := sh.lru.Get(key); ok {
		// A refresh: swap the slot in place; the index is unchanged.
		e.slot.Store(s)
		e.stamp.Store(sh.inserts.Load())
		return true
	}

	var old *entry[V]
	var oldHash uint64
	if !c.reserve() {
		// Full: the new key takes the place of this shard's oldest.
		k, e, ok := sh.lru.RemoveOldest()
		if !ok {
			return false
		}
		old, oldHash = e, c.hash(k)
	}
	e := &entry[V]{key: key}
	e.slot.Store(s)
	e.stamp.Store(sh.inserts.Add(1))
	sh.lru.Add(key, e)
	// One copy of the index both drops the evicted key and adds the new one.
	sh.index.Store(sh.index.Load().update(old, oldHash, e, h))
	return true
}

// reserve takes a place for a new entry in count, unless the cache is full.
func (c *Cache[V]) reserve() bool {
	for {
		n := c.count.Load()
		if n >= c.capacity {
			return false
		}
		if c.count.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// evictOther evicts the least recently used entry of the first non-empty
// shard after shard i, if the cache is still full.
func (c *Cache[V]) evictOther(i uint64) {
	for j := uint64(1); j < uint64(len(c.shards)); j++ {
		o := &c.shards[(i+j)&c.mask]
		o.mu.Lock()
		if c.count.Load() < c.capacity {
			o.mu.Unlock()
			return // someone else made room
		}
		k, e, ok := o.lru.RemoveOldest()
		if ok {
			o.index.Store(o.index.Load().update(e, c.hash(k), nil, 0))
			c.count.Add(-1) // after publishing: the cache never holds more than count
		}
		o.mu.Unlock()
		if ok {
			return
		}
	}
}

// find returns key's entry from the read index, or nil.
func (c *Cache[V]) find(key string) *entry[V] {
	h := c.hash(key)
	return c.shards[h>>c.shift].index.Load().find(h, key)
}

// Peek returns key's value, stale or not, without claiming a refresh and
// without touching its recency.
func (c *Cache[V]) Peek(key string) (*V, bool) {
	e := c.find(key)
	if e == nil {
		return nil, false
	}
	return e.slot.Load().v, true
}

// CompareAndDelete removes key only if its current value is old (the same
// pointer), and reports whether it did. It drops a rejected value without
// dropping a newer one that replaced it meanwhile.
func (c *Cache[V]) CompareAndDelete(key string, old *V) bool {
	return c.delete(key, func(e *entry[V]) bool { return e.slot.Load().v == old })
}

// Delete removes key and reports whether it was present.
func (c *Cache[V]) Delete(key string) bool {
	return c.delete(key, nil)
}

func (c *Cache[V]) delete(key string, match func(*entry[V]) bool) bool {
	h := c.hash(key)
	sh := &c.shards[h>>c.shift]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e, ok := sh.lru.Peek(key)
	if !ok || (match != nil && !match(e)) {
		return false
	}
	sh.lru.Remove(key)
	sh.index.Store(sh.index.Load().update(e, h, nil, 0))
	c.count.Add(-1) // after publishing: the cache never holds more than count
	return true
}

// Postpone releases the refresh claim on key if its entry still holds v,
// and forbids a new claim before until. Callers use it after a failed
// refresh, so that a broken token endpoint is retried once per period
// rather than by every Get. The entry's value and stale deadline are
// unchanged; an until before the entry's refreshAt just releases the claim.
func (c *Cache[V]) Postpone(key string, v *V, until int64) {
	e := c.find(key)
	if e == nil {
		return
	}
	s := e.slot.Load()
	if s.v != v {
		return // replaced meanwhile: the new slot has its own, fresh claim
	}
	s.gate.Store(max(until, s.refreshAt))
}

// Len returns the number of entries, stale ones included. While other
// goroutines insert or delete, it may count an insert before its key is
// visible, or a removal after it is gone; it never exceeds the capacity.
func (c *Cache[V]) Len() int {
	return int(c.count.Load())
}

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
)

// ErrInvalidConfig is returned, wrapped, by [New] for a Config it cannot use.
var ErrInvalidConfig = errors.New("cache: invalid config")

const (
	// DefaultCapacity is the capacity of a Config whose Capacity is zero.
	DefaultCapacity = 10_000

	// maxShards bounds the automatic shard count: beyond it shards no
	// longer reduce write contention on a machine that size.
	maxShards = 64

	// entriesPerShard is the shard size the automatic shard count aims
	// for: small caches keep one shard, so one clock hand orders all
	// their evictions.
	entriesPerShard = 1024

	// claimed is the gate value of a node whose refresh has been claimed:
	// no now is ever at or beyond it while the node is still valid, because
	// now < staleAt <= MaxInt64.
	claimed = math.MaxInt64
)

// Config configures a [Cache]. The zero value is usable.
type Config struct {
	// Capacity is the maximum number of entries. Inserting a new key into
	// a full cache evicts an entry of the new key's shard that was not
	// used since the shard's clock hand last passed it (of another shard
	// if that one is empty), so a cache holds exactly Capacity keys
	// however they hash. Zero means [DefaultCapacity] (10 000); negative
	// is an error.
	Capacity int

	// Shards is the number of independently locked parts of the cache,
	// rounded up to a power of two and down to at most Capacity. Zero means
	// automatic: one shard per 1 024 entries of capacity, rounded up to a
	// power of two, at most 64. Negative is an error.
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

// A Cache maps string keys to values of type V, each with a refresh
// deadline and a stale deadline, bounded by a capacity with CLOCK
// (second-chance) eviction. Values are stored inline, one allocation per
// entry with its key and deadlines; [Cache.Set] returns a pointer to the
// stored value, which stays valid (and unchanged) for as long as the caller
// holds it.
//
// A Cache is safe for concurrent use. Get, Peek, Postpone and Len take no
// lock; Set, Delete and CompareAndDelete lock one shard.
type Cache[V any] struct {
	// Read by every hit, written only by New.
	shards []shard[V]
	seed   maphash.Seed
	shift  uint8    // a key's hash picks its shard by its top bits: h >> shift
	mask   uint64   // len(shards)-1
	tomb   *node[V] // marks a deleted slot; never a real entry

	_ [64]byte // keep count, written by inserts, off the hits' cache line

	capacity int64
	// count is the number of entries, counting inserts in progress and not
	// yet removals in progress: an insert reserves its place here before
	// publishing its key, a removal frees it after. It never exceeds
	// capacity, while each shard may hold more or less than its fair share.
	count atomic.Int64
	// evictions counts entries evicted to make room.
	evictions atomic.Uint64
}

// A shard is an open-addressing table that hits read without a lock, and
// the state its writers share under mu.
type shard[V any] struct {
	// table is replaced whole only when it grows or sheds its tombstones;
	// in between, writers store into its slots one pointer at a time.
	table atomic.Pointer[table[V]]

	// Keep the mutex, written by every lock, off the cache line that every
	// hit reads.
	_ [64 - 8]byte

	mu   sync.Mutex
	live int // entries in table
	used int // slots not nil: entries and tombstones
	hand int // the clock hand: the next slot eviction looks at

	_ [64 - 32]byte // keep the next shard's read line apart
}

// A node is one entry: its key, its value and deadlines, immutable once
// published apart from gate and ref. Replacing a key's value publishes a
// new node, so a reader that loaded one sees a value and deadlines that
// belong together.
type node[V any] struct {
	key       string
	refreshAt int64
	staleAt   int64
	// gate is the earliest now at which a Get may claim the refresh:
	// refreshAt at first, a later time after Postpone, or claimed while a
	// refresh is claimed.
	gate atomic.Int64
	// ref is the clock's reference bit: set by a hit (only when clear, so
	// that hits do not keep writing a shared line), cleared by the hand.
	ref atomic.Uint32
	// stored is set when the node is stored (see Prepared): it sits in
	// ref's padding, so it costs no byte.
	stored bool
	v      V
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
		shards:   make([]shard[V], n),
		shift:    uint8(64 - bits.TrailingZeros(uint(n))), // 64 for one shard: h>>64 == 0
		mask:     uint64(n - 1),
		seed:     maphash.MakeSeed(),
		tomb:     new(node[V]),
		capacity: int64(capacity),
	}
	empty := new(table[V]) // no slots: the first insert builds a real table
	for i := range c.shards {
		c.shards[i].table.Store(empty)
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
// A hit allocates nothing and takes no lock; it writes shared memory only
// to set the entry's reference bit when the clock hand has cleared it.
func (c *Cache[V]) Get(key string, now int64) (v *V, s State) {
	h := maphash.String(c.seed, key) // one hash picks the shard and the slot
	n := c.shards[h>>c.shift].table.Load().find(h, key, c.tomb)
	if n == nil {
		return nil, Miss
	}
	if now >= n.staleAt {
		return &n.v, Miss
	}
	if n.ref.Load() == 0 {
		n.ref.Store(1)
	}
	if now < n.gate.Load() {
		return &n.v, Fresh
	}
	return &n.v, n.claim(now)
}

// claim tries to claim n's refresh at now.
func (n *node[V]) claim(now int64) State {
	for {
		g := n.gate.Load()
		if now < g {
			return Fresh // not due, postponed, or claimed by someone else
		}
		if n.gate.CompareAndSwap(g, claimed) {
			return Refresh
		}
	}
}

// Set inserts or replaces key's value with new deadlines, and returns a
// pointer to the stored copy of v. A refreshAt after staleAt is treated as
// staleAt (no refresh-ahead). The new value starts with no refresh claim
// and no postponement. Inserting a new key into a full cache evicts an
// entry (see [Config].Capacity); replacing a value counts as a use.
func (c *Cache[V]) Set(key string, v V, refreshAt, staleAt int64) *V {
	return c.store(key, &node[V]{v: v}, refreshAt, staleAt)
}

// A Prepared is an entry made before it is stored: its value is built in
// place ([Prepared.Value]) and [Cache.Store] inserts it without copying
// it, so a caller that builds a value field by field allocates the entry
// once and copies nothing. Until it is stored, a Prepared is the caller's
// own memory, usable as a value that is not cached. The zero value is
// ready to use.
type Prepared[V any] struct{ n node[V] }

// Value returns the value to build in place. Once p is stored, the value
// belongs to the cache: it must not be changed any more.
func (p *Prepared[V]) Value() *V { return &p.n.v }

// Store is [Cache.Set] for a prepared entry: it inserts or replaces key's
// value with p's, with new deadlines, and returns a pointer to the stored
// value: p.Value() the first time. A Prepared is stored in place once;
// storing it again (in this cache or another) stores a copy of its value,
// as Set does, and returns the copy's pointer. Store must not be called for the same
// Prepared from two goroutines at once.
func (c *Cache[V]) Store(key string, p *Prepared[V], refreshAt, staleAt int64) *V {
	if p.n.stored {
		return c.Set(key, p.n.v, refreshAt, staleAt)
	}
	return c.store(key, &p.n, refreshAt, staleAt)
}

// store inserts n, made for it and not yet published, under key.
func (c *Cache[V]) store(key string, n *node[V], refreshAt, staleAt int64) *V {
	n.key, n.refreshAt, n.staleAt, n.stored = key, min(refreshAt, staleAt), staleAt, true
	n.gate.Store(n.refreshAt)
	h := c.hash(key)
	i := h >> c.shift
	for !c.set(&c.shards[i], h, n) {
		// The cache was full and the shard empty: make room elsewhere,
		// then retry.
		c.evictOther(i)
	}
	return &n.v
}

// set stores n, whose key hashes to h, in sh. It reports false, having
// changed nothing, when the key is new, the cache is full and sh has
// nothing to evict.
func (c *Cache[V]) set(sh *shard[V], h uint64, n *node[V]) bool {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	t := sh.table.Load()
	if i := t.index(h, n.key, c.tomb); i >= 0 {
		// A refresh: publish the new node in the old one's slot.
		n.ref.Store(1)
		t.slots[i].Store(n)
		return true
	}
	if !c.reserve() {
		// Full: the new key takes the place of one of this shard's.
		if !c.evict(sh) {
			return false
		}
	}
	c.insert(sh, h, n)
	return true
}

// insert adds n, whose key hashes to h and is absent, to sh. sh.mu must be
// held. The table grows (or sheds its tombstones) first when it would be
// more than 3/4 used, so that every probe sequence meets an empty slot.
func (c *Cache[V]) insert(sh *shard[V], h uint64, n *node[V]) {
	t := sh.table.Load()
	if (sh.used+1)*4 > len(t.slots)*3 {
		nt := t.rebuild(sh.live+1, c)
		// Keep the hand's place in the sweep: restarting it at slot 0
		// after every rebuild would sweep the front of the table over and
		// over and let the keys at its end outlive many turns. A rebuild
		// of the same size (shedding tombstones, the steady state of a
		// full cache) keeps every key's home slot, so this is exact then;
		// after growth it is close.
		if len(t.slots) > 0 {
			sh.hand = int(uint64(sh.hand) * uint64(len(nt.slots)) / uint64(len(t.slots)))
		}
		t = nt
		sh.table.Store(t)
		sh.used = sh.live
	}
	i := t.free(h, c.tomb)
	if t.slots[i].Load() == nil {
		sh.used++
	}
	t.slots[i].Store(n)
	sh.live++
}

// evict removes one entry of sh chosen by the clock hand: the first whose
// reference bit is clear, clearing the bits it passes. It reports false
// when sh is empty. sh.mu must be held; the place freed in count is handed
// to the caller's insert.
func (c *Cache[V]) evict(sh *shard[V]) bool {
	if sh.live == 0 {
		return false
	}
	t := sh.table.Load()
	size := len(t.slots)
	// Two turns suffice: the first clears every bit it passes.
	for range 2 * size {
		i := sh.hand
		sh.hand = (sh.hand + 1) & (size - 1)
		n := t.slots[i].Load()
		if n == nil || n == c.tomb {
			continue
		}
		if n.ref.Load() != 0 {
			n.ref.Store(0)
			continue
		}
		t.slots[i].Store(c.tomb)
		sh.live--
		c.evictions.Add(1)
		return true
	}
	// Hits set bits behind the hand faster than it cleared them: the
	// caller makes room in another shard, or retries.
	return false
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

// evictOther evicts one entry of the first non-empty shard after shard i,
// if the cache is still full.
func (c *Cache[V]) evictOther(i uint64) {
	for j := uint64(1); j < uint64(len(c.shards)); j++ {
		o := &c.shards[(i+j)&c.mask]
		o.mu.Lock()
		if c.count.Load() < c.capacity {
			o.mu.Unlock()
			return // someone else made room
		}
		ok := c.evict(o)
		if ok {
			c.count.Add(-1) // after unpublishing: the cache never holds more than count
		}
		o.mu.Unlock()
		if ok {
			return
		}
	}
}

// find returns key's node, or nil.
func (c *Cache[V]) find(key string) *node[V] {
	h := c.hash(key)
	return c.shards[h>>c.shift].table.Load().find(h, key, c.tomb)
}

// Peek returns key's value, stale or not, without claiming a refresh and
// without marking it used.
func (c *Cache[V]) Peek(key string) (*V, bool) {
	n := c.find(key)
	if n == nil {
		return nil, false
	}
	return &n.v, true
}

// CompareAndDelete removes key only if its current value is old (the
// pointer Set or Get returned), and reports whether it did. It drops a
// rejected value without dropping a newer one that replaced it meanwhile.
// A nil old matches nothing: no stored value has a nil pointer, and a
// caller holding the nil of a missed Get must not drop what another stored.
func (c *Cache[V]) CompareAndDelete(key string, old *V) bool {
	if old == nil {
		return false
	}
	return c.delete(key, old)
}

// Delete removes key and reports whether it was present.
func (c *Cache[V]) Delete(key string) bool {
	return c.delete(key, nil)
}

func (c *Cache[V]) delete(key string, old *V) bool {
	h := c.hash(key)
	sh := &c.shards[h>>c.shift]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	t := sh.table.Load()
	i := t.index(h, key, c.tomb)
	if i < 0 || (old != nil && &t.slots[i].Load().v != old) {
		return false
	}
	t.slots[i].Store(c.tomb)
	sh.live--
	c.count.Add(-1) // after unpublishing: the cache never holds more than count
	return true
}

// Postpone releases the refresh claim on key if its entry still holds v,
// and forbids a new claim before until. Callers use it after a failed
// refresh, so that a broken token endpoint is retried once per period
// rather than by every Get. The entry's value and stale deadline are
// unchanged; an until before the entry's refreshAt just releases the claim.
func (c *Cache[V]) Postpone(key string, v *V, until int64) {
	n := c.find(key)
	if n == nil || &n.v != v {
		return // gone or replaced meanwhile: a new node has its own, fresh claim
	}
	n.gate.Store(max(until, n.refreshAt))
}

// Evictions returns how many entries were evicted to make room for others.
func (c *Cache[V]) Evictions() uint64 { return c.evictions.Load() }

// Len returns the number of entries, stale ones included. While other
// goroutines insert or delete, it may count an insert before its key is
// visible, or a removal after it is gone; it never exceeds the capacity.
func (c *Cache[V]) Len() int {
	return int(c.count.Load())
}

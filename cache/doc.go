// Package cache is tenantauth's bounded, expiry-aware token cache: one value
// per key (a tenant), with a refresh-ahead deadline and a stale deadline per
// entry, and least-recently-used eviction beyond a capacity.
//
// The cache is generic and knows nothing of tokens, so that the root package
// can import it. It never reads a clock: callers pass times as int64
// nanoseconds on a monotonic scale of their own.
//
// # Design
//
// A cache hit is the hot path of every outbound request, so Get takes no lock
// and writes no shared memory: a lock, even a read lock, is a write to a
// cache line every core shares, and that is what makes a locked cache slower
// with more cores. Each shard keeps a
// [github.com/hashicorp/golang-lru/v2/simplelru.LRU], which holds the recency
// order and picks evictions under the shard's mutex, and beside it a read
// index for hits: an immutable open-addressing table published through an
// atomic pointer. One string hash picks both the shard and the table slot.
// Readers only load: the table, the entry's immutable slot (value and
// deadlines, swapped atomically by Set) and a claim word. Inserting or
// removing a key copies its shard's table (a few KiB: O(shard size));
// replacing an existing key's value — a token refresh, the common write —
// swaps one pointer and copies nothing.
//
// Recency is therefore approximate, since moving an entry to the front of
// the LRU list on every hit would need the lock on every hit. An entry is
// promoted (once, by whichever hit wins a compare-and-swap) only when more
// than a quarter of its shard's capacity worth of new keys was inserted
// since it last moved to the front; younger entries' hits change nothing. A
// key in regular use thus keeps near the front while cold keys drift to the
// back and are evicted, and recency is tracked to within a quarter of a
// shard's inserts. Capacity is counted for the whole cache, and a full cache
// evicts from the new key's shard; caches of up to 1 024 entries have one
// shard, so one LRU list orders all their evictions.
//
// Refresh-ahead is decided in the cache so that exactly one caller per entry
// learns it must refresh: the first Get at or after the refresh deadline
// claims the refresh with a compare-and-swap and gets [Refresh]; everyone
// else keeps getting [Fresh] until Set stores a new value or Postpone
// releases the claim.
package cache

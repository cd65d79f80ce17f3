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
// and writes no shared memory. Each shard keeps a copy-on-write read index
// (an immutable map published through an atomic pointer) beside a
// [github.com/hashicorp/golang-lru/v2/simplelru.LRU] that holds the recency
// order under the shard's mutex. Readers only load: the index, the entry's
// immutable slot (value and deadlines, swapped atomically by Set) and a
// claim word. Inserting a new key copies its shard's index, which is O(shard
// size); replacing an existing key's value — a token refresh, the common
// write — swaps one pointer and copies nothing.
//
// Recency is therefore approximate: moving an entry to the front of the LRU
// list on every hit would need the shard lock on every hit, which is what
// makes a plain LRU cache slower with more cores. Instead an entry is
// promoted (once, by whichever hit wins a compare-and-swap) only when more
// than a quarter of its shard's capacity worth of new keys was inserted
// since it was last moved to the front. A key that is used at least that
// often is never evicted while cold keys are; between promotions, hits do
// not reorder entries. Eviction is per shard; caches of up to 1 024 entries
// use a single shard, so their eviction order is that of one LRU list.
//
// Refresh-ahead is decided in the cache so that exactly one caller per entry
// learns it must refresh: the first Get at or after the refresh deadline
// claims the refresh with a compare-and-swap and gets [Refresh]; everyone
// else keeps getting [Fresh] until Set stores a new value or Postpone
// releases the claim.
package cache

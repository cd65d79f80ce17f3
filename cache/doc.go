// Package cache is tenantauth's bounded, expiry-aware token cache: one value
// per key (a tenant), with a refresh-ahead deadline and a stale deadline per
// entry, and approximately-least-recently-used (CLOCK) eviction beyond a
// capacity.
//
// The cache is generic and knows nothing of tokens, so that the root package
// can import it. It never reads a clock: callers pass times as int64
// nanoseconds on a monotonic scale of their own.
//
// # Design
//
// A cache hit is the hot path of every outbound request, so Get takes no lock
// and allocates nothing: a lock, even a read lock, is a write to a cache line
// every core shares, and that is what makes a locked cache slower with more
// cores. Each shard is an open-addressing hash table with linear probing
// whose slots are atomic pointers to entries; one string hash picks both the
// shard and the slot. Readers only load: the table, a slot, the entry (its
// key, value and deadlines, immutable once published) and a claim word.
// Writers, under the shard's mutex, store one pointer at a time: an insert
// fills an empty slot, a replacement (a token refresh, the common write)
// swaps the entry in its slot, a removal leaves a tombstone. A table is
// copied only when it grows or sheds its tombstones, each copy paid for by
// the inserts since the last one, so filling a cache of a million keys is
// linear, not quadratic.
//
// Each entry is one allocation holding its value inline: for the Manager,
// key, deadlines and token together are a 208-byte object, plus about 11 to
// 21 bytes of table slot.
//
// Eviction is CLOCK (second chance), the policy that keeps hits lock-free:
// a hit sets the entry's reference bit (a write only when the bit was
// clear), and a full shard's clock hand walks the table in slot order,
// clearing the bits it passes and evicting the first entry whose bit was
// already clear. An entry used since the hand last passed it survives; a
// cold one goes within about two turns of the hand. Recency is therefore
// approximate, as in most concurrent caches. Capacity is counted for the
// whole cache, and a full cache evicts from the new key's shard (from
// another when that one is empty).
//
// This replaced hashicorp/golang-lru's simplelru here: its exact LRU list
// costs an 80-byte element and a map entry per key and needs its lock on
// every use; the root package still uses it for its small bounded side
// tables, where exact LRU order pays.
//
// Refresh-ahead is decided in the cache so that exactly one caller per entry
// learns it must refresh: the first Get at or after the refresh deadline
// claims the refresh with a compare-and-swap and gets [Refresh]; everyone
// else keeps getting [Fresh] until Set stores a new value or Postpone
// releases the claim.
package cache

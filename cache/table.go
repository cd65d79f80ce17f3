package cache

import "sync/atomic"

// A table is a shard's open-addressing hash table with linear probing. Hits
// read it without a lock: each slot is an atomic pointer to a node, nil
// when empty or the cache's tombstone when its entry was removed. Writers,
// holding the shard's mutex, store into slots one pointer at a time — an
// insert fills an empty slot or a tombstone, a replacement swaps the node
// in its slot, a removal leaves a tombstone — so a reader sees every key
// either before or after a write, never a half-done one. A removal never
// moves other entries, which a reader probing past them could miss.
//
// When inserts would fill more than 3/4 of the slots (entries and
// tombstones), the writer builds a new table sized for the live entries at
// most half full, and publishes it whole; readers still on the old one find
// what it held. Each rebuild is paid for by the inserts that made it
// necessary, so filling a cache is linear in its size.
//
// Slots hold only a pointer (8 bytes): the key's hash is not stored, a
// probe compares keys, and a rebuild hashes the keys again.
type table[V any] struct {
	slots []atomic.Pointer[node[V]] // len is 0 or a power of two
}

// find returns the node for key, whose hash is h, or nil.
func (t *table[V]) find(h uint64, key string, tomb *node[V]) *node[V] {
	if len(t.slots) == 0 {
		return nil
	}
	mask := uint64(len(t.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		n := t.slots[i].Load()
		if n == nil {
			return nil
		}
		if n != tomb && n.key == key {
			return n
		}
	}
}

// index returns the slot holding key, or -1.
func (t *table[V]) index(h uint64, key string, tomb *node[V]) int {
	if len(t.slots) == 0 {
		return -1
	}
	mask := uint64(len(t.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		n := t.slots[i].Load()
		if n == nil {
			return -1
		}
		if n != tomb && n.key == key {
			return int(i)
		}
	}
}

// free returns the first empty or tombstone slot of h's probe sequence.
// The table must have one.
func (t *table[V]) free(h uint64, tomb *node[V]) int {
	mask := uint64(len(t.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		if n := t.slots[i].Load(); n == nil || n == tomb {
			return int(i)
		}
	}
}

// rebuild returns a new table holding t's live entries, sized so that n
// entries fill at most half of it (at least 8 slots).
func (t *table[V]) rebuild(n int, c *Cache[V]) *table[V] {
	size := 8
	for size < 2*n {
		size *= 2
	}
	nt := &table[V]{slots: make([]atomic.Pointer[node[V]], size)}
	for i := range t.slots {
		if e := t.slots[i].Load(); e != nil && e != c.tomb {
			nt.slots[nt.free(c.hash(e.key), nil)].Store(e)
		}
	}
	return nt
}

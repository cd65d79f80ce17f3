package cache

// An index is a shard's read index: an immutable open-addressing hash table
// with linear probing, read without locks by Get. Writers (holding the
// shard's mutex) build a changed copy and publish it through an atomic
// pointer, so a reader sees either the old or the new table, never a
// half-written one.
//
// It is used instead of a copy-on-write Go map because a lookup reuses the
// hash that already picked the shard: a hit costs one string hash instead
// of two. It stores the full 64-bit hash of each key, so a probe compares
// keys only on a hash match. Tables are at most 3/4 full; an empty index
// has no slots.
type index[V any] struct {
	slots []islot[V] // len is 0 or a power of two
	n     int        // occupied slots
}

type islot[V any] struct {
	hash uint64
	e    *entry[V] // nil: empty
}

// find returns the entry for key, whose hash is h, or nil.
func (t *index[V]) find(h uint64, key string) *entry[V] {
	if len(t.slots) == 0 {
		return nil
	}
	mask := uint64(len(t.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		s := &t.slots[i]
		if s.e == nil {
			return nil
		}
		if s.hash == h && s.e.key == key {
			return s.e
		}
	}
}

// update returns a copy of t without the entry del (unless del is nil),
// whose key hashes to delHash, and with add (unless add is nil), whose key
// hashes to addHash and must be absent from t. It copies t once whatever
// it does: an eviction and an insert cost one copy.
func (t *index[V]) update(del *entry[V], delHash uint64, add *entry[V], addHash uint64) *index[V] {
	n := t.n
	if add != nil {
		n++ // before the removal: the table must have room for both moments
	}
	size := tableSize(n)
	nt := &index[V]{n: t.n}
	if size == len(t.slots) {
		nt.slots = make([]islot[V], size)
		copy(nt.slots, t.slots)
		if del != nil && nt.remove(del, delHash) {
			nt.n--
		}
	} else {
		// Rehash into a table of the new size, leaving del out.
		nt.slots = make([]islot[V], size)
		nt.n = 0
		for _, s := range t.slots {
			if s.e != nil && s.e != del {
				nt.put(s)
			}
		}
	}
	if add != nil {
		nt.put(islot[V]{addHash, add})
	}
	return nt
}

// tableSize returns the table size for n entries: the smallest power of
// two, at least 8, that keeps the table at most 3/4 full. Tables shrink as
// well as grow: every update copies the table anyway, so resizing costs
// nothing extra.
func tableSize(n int) int {
	if n == 0 {
		return 0
	}
	size := 8
	for size*3 < n*4 {
		size *= 2
	}
	return size
}

// put stores s in the first free slot of its probe sequence. The caller
// guarantees a free slot and that s's entry is absent.
func (t *index[V]) put(s islot[V]) {
	mask := uint64(len(t.slots) - 1)
	i := s.hash & mask
	for t.slots[i].e != nil {
		i = (i + 1) & mask
	}
	t.slots[i] = s
	t.n++
}

// remove deletes the slot holding e, whose key hashes to h, and reports
// whether it was there. It shifts later slots of the probe chain back into
// the hole (no tombstones), so every remaining entry stays reachable from
// its home slot without gaps.
func (t *index[V]) remove(e *entry[V], h uint64) bool {
	if len(t.slots) == 0 {
		return false
	}
	mask := uint64(len(t.slots) - 1)
	i := h & mask
	for t.slots[i].e != e {
		if t.slots[i].e == nil {
			return false
		}
		i = (i + 1) & mask
	}
	t.slots[i] = islot[V]{}
	for j := (i + 1) & mask; t.slots[j].e != nil; j = (j + 1) & mask {
		home := t.slots[j].hash & mask
		// The slot at j may move back to the hole at i only if its home is
		// not cyclically within (i, j]: otherwise i would precede its home.
		if (j-home)&mask >= (j-i)&mask {
			t.slots[i] = t.slots[j]
			t.slots[j] = islot[V]{}
			i = j
		}
	}
	return true
}

package cache

import (
	"math/rand/v2"
	"strconv"
	"testing"
)

// checkIndex verifies an index's structure: a power-of-two size at most
// 3/4 full, n matching the occupied slots, and every entry reachable from
// its home slot without crossing an empty slot.
func checkIndex[V any](t testing.TB, idx *index[V], hash func(string) uint64) {
	t.Helper()
	size := len(idx.slots)
	if size != 0 && (size < 8 || size&(size-1) != 0) {
		t.Fatalf("index size %d", size)
	}
	if 4*idx.n > 3*size {
		t.Errorf("index %d/%d full", idx.n, size)
	}
	n := 0
	for i, s := range idx.slots {
		if s.e == nil {
			continue
		}
		n++
		if s.hash != hash(s.e.key) {
			t.Errorf("slot %d: hash %x of key %q, want %x", i, s.hash, s.e.key, hash(s.e.key))
		}
		if got := idx.find(s.hash, s.e.key); got != s.e {
			t.Errorf("slot %d: key %q unreachable", i, s.e.key)
		}
	}
	if n != idx.n {
		t.Errorf("n = %d, %d slots occupied", idx.n, n)
	}
}

// TestIndexRandom applies random inserts and removals to an index and to a
// Go map, with hash functions that collide heavily (so probe chains wrap
// around and backward-shift deletion is exercised), and compares them.
func TestIndexRandom(t *testing.T) {
	hashes := map[string]func(string) uint64{
		"distinct": func(k string) uint64 { n, _ := strconv.Atoi(k); return uint64(n) * 0x9e3779b97f4a7c15 },
		"mod 5":    func(k string) uint64 { n, _ := strconv.Atoi(k); return uint64(n % 5) },
		"last slot": func(k string) uint64 {
			n, _ := strconv.Atoi(k)
			return uint64(7 + 8*(n%3)) // homes at the end of small tables: chains wrap
		},
		"equal": func(string) uint64 { return 42 },
	}
	for name, hash := range hashes {
		t.Run(name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, 2))
			idx := &index[int]{}
			want := map[string]*entry[int]{}
			for step := range 20_000 {
				k := strconv.Itoa(r.IntN(100))
				old := want[k]
				var add, del *entry[int]
				switch {
				case old == nil:
					add = &entry[int]{key: k}
					if r.IntN(2) == 0 && len(want) > 0 { // evict another while adding
						for _, e := range want {
							del = e
							break
						}
					}
				case r.IntN(3) == 0:
					// Replace: delete and add the same key in one update.
					del, add = old, &entry[int]{key: k}
				default:
					del = old
				}
				var delHash uint64
				if del != nil {
					delHash = hash(del.key)
					delete(want, del.key)
				}
				if add != nil {
					want[add.key] = add
				}
				prev := idx
				prevN := prev.n
				idx = idx.update(del, delHash, add, hash(k))
				if prev.n != prevN {
					t.Fatal("update changed its receiver")
				}
				if idx.n != len(want) {
					t.Fatalf("step %d: n = %d, want %d", step, idx.n, len(want))
				}
				for kk, e := range want {
					if got := idx.find(hash(kk), kk); got != e {
						t.Fatalf("step %d: find(%s) = %p, want %p", step, kk, got, e)
					}
				}
				if del != nil && want[del.key] == nil && idx.find(delHash, del.key) != nil {
					t.Fatalf("step %d: removed %s still found", step, del.key)
				}
				if step%100 == 0 {
					checkIndex(t, idx, hash)
				}
			}
		})
	}
}

func TestIndexEdges(t *testing.T) {
	var empty index[int]
	if empty.find(1, "x") != nil {
		t.Error("find in an empty index")
	}
	if empty.remove(&entry[int]{}, 1) {
		t.Error("remove from an empty index")
	}
	e := &entry[int]{key: "x"}
	one := empty.update(nil, 0, e, 3)
	if one.find(3, "x") != e || one.find(3, "y") != nil || one.find(4, "x") != nil {
		t.Error("find in a one-entry index")
	}
	if got := one.update(&entry[int]{key: "y"}, 3, nil, 0); got.n != 1 || got.find(3, "x") != e {
		t.Error("removing an absent entry changed the index")
	}
	if got := one.update(e, 3, nil, 0); got.n != 0 || got.find(3, "x") != nil {
		t.Errorf("removing the last entry: n %d", got.n)
	}
	for _, tt := range []struct{ n, size int }{{0, 0}, {1, 8}, {6, 8}, {7, 16}, {12, 16}, {13, 32}, {1562, 4096}, {1536, 2048}} {
		if got := tableSize(tt.n); got != tt.size {
			t.Errorf("tableSize(%d) = %d, want %d", tt.n, got, tt.size)
		}
	}
}

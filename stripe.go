package tenantauth

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// numStripes is the number of flight stripes: enough that the CPUs of a
// large machine filling the cache rarely meet on one lock, few enough that
// Close, which takes them all, stays cheap.
const numStripes = 64

// A stripe is one lock of the Manager's flight table and the flights of
// the tenants that hash to it. Padded to its own cache lines, so that
// stripes do not share one between CPUs.
type stripe struct {
	stripeState
	_ [128 - unsafe.Sizeof(stripeState{})%128]byte
}

type stripeState struct {
	mu      sync.Mutex
	flights map[string]*flight
	// notes is the slow-path memory of its known tenants (refusals,
	// cooldowns); strangers remembers IDs the TenantSource refused.
	// Separate bounds, so that a flood of unknown IDs cannot evict what is
	// known about real tenants. Made on first use.
	notes     *simplelru.LRU[string, *note]
	strangers *simplelru.LRU[string, refusal]
	// running counts the stripe's flights until their run returns (Close
	// waits for them): one counter per stripe, so that flights of
	// different tenants do not all write one cache line.
	running sync.WaitGroup
	// The token requests of the stripe's flights, and how many failed
	// (summed by Stats).
	fetches, fetchErrors atomic.Uint64
}

// stripe returns the stripe of tenant id.
func (m *Manager) stripe(id string) *stripe {
	return &m.stripes[maphash.String(m.stripeOf, id)&(numStripes-1)]
}

// note returns id's note in st, creating it (st.mu held). Should the
// bounded notes evict it later, what it held is forgotten: notes are
// best-effort memory.
func (m *Manager) note(st *stripe, id string) *note {
	if st.notes == nil {
		st.notes, _ = simplelru.NewLRU[string, *note](m.noteCap, nil) // only fails for a size ≤ 0
	}
	n, ok := st.notes.Get(id)
	if !ok {
		n = &note{}
		st.notes.Add(id, n)
	}
	return n
}

// peekNote returns id's note in st, if any, without counting a use (st.mu
// held).
func (st *stripe) peekNote(id string) (*note, bool) {
	if st.notes == nil {
		return nil, false
	}
	return st.notes.Peek(id)
}

// addStranger remembers in st that the TenantSource refused id (st.mu
// held).
func (m *Manager) addStranger(st *stripe, id string, r refusal) {
	if st.strangers == nil {
		st.strangers, _ = simplelru.NewLRU[string, refusal](m.strangerCap, nil)
	}
	st.strangers.Add(id, r)
}

// forget drops id's note and stranger record from st (st.mu held).
func (st *stripe) forget(id string) {
	if st.notes != nil {
		st.notes.Remove(id)
	}
	if st.strangers != nil {
		st.strangers.Remove(id)
	}
}

package tenantauthtest

import (
	"runtime"
	"strings"
	"testing"
	"time"
)

// Expired tokens are swept, so a long test that keeps fetching short-lived
// tokens does not grow the tables without bound.
func TestStoreSweepsExpiredTokens(t *testing.T) {
	st := newStore()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var last string
	for i := range 50_000 {
		if i%1000 == 0 {
			now = now.Add(time.Second) // everything issued before is expired
		}
		last = st.issueAccess("c", "u", now.Add(time.Second), now)
		st.issueRefresh(refreshToken{client: "c", expiry: now.Add(time.Second)}, now)
		if n := len(st.access) + len(st.refresh); n > 2*minSweep {
			t.Fatalf("after %d tokens the tables hold %d entries", i+1, n)
		}
	}
	if _, ok := st.validAccess(last, now); !ok {
		t.Error("the newest token was swept")
	}
}

// Tests issue up to ~100 000 tokens that do not expire; they must fit in
// memory comfortably.
func TestStoreMemoryFor100kTokens(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates 100 000 tokens")
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	st := newStore()
	now := time.Now()
	for range 100_000 {
		a := st.issueAccess("client", "user@example.com", now.Add(time.Hour), now)
		st.issueRefresh(refreshToken{client: "client", user: "user@example.com", expiry: now.Add(time.Hour), access: a}, now)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	used := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("100 000 access + 100 000 refresh tokens: %.1f MiB", float64(used)/(1<<20))
	if used > 96<<20 {
		t.Errorf("100 000 token pairs use %d MiB, want < 96", used>>20)
	}
	if len(st.access) != 100_000 || len(st.refresh) != 100_000 {
		t.Errorf("tables hold %d, %d tokens; want 100 000 each (all unique)", len(st.access), len(st.refresh))
	}
	runtime.KeepAlive(st)
}

func TestNewSessionID(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := newSessionID()
		if len(id) != 36 || id[14] != '4' || strings.IndexByte("89ab", id[19]) < 0 || seen[id] {
			t.Fatalf("session id %q: want a fresh UUID v4", id)
		}
		seen[id] = true
	}
}

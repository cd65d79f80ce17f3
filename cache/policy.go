package cache

import "time"

const (
	// DefaultSkew is the safety margin of a Policy whose Skew is zero.
	DefaultSkew = 30 * time.Second
	// maxDefaultRefreshAhead bounds the default refresh-ahead window, so
	// that a 30-day token is not refreshed three days early.
	maxDefaultRefreshAhead = 5 * time.Minute
)

// A Policy turns a token's lifetime into the deadlines given to
// [Cache.Set], as offsets from the time the token was issued. The zero
// value is the default policy.
type Policy struct {
	// Skew is the safety margin before expiry after which a value is stale:
	// clock differences and request latency eat into the lifetime. It is
	// capped at a quarter of the lifetime, so that a 2-3 s token is still
	// cached and reused. Zero means [DefaultSkew] (30 s); negative means no
	// margin.
	Skew time.Duration

	// RefreshAhead is how long before the stale deadline a value is due for
	// a background refresh while it keeps being served. It is capped at
	// half of the lifetime. Zero means a tenth of the lifetime, at most 5
	// minutes; negative disables refresh-ahead (refreshAfter equals
	// staleAfter).
	RefreshAhead time.Duration
}

// Deadlines returns when a value with the given lifetime is due for refresh
// and when it goes stale, as offsets from its issue time: 0 <= refreshAfter
// <= staleAfter <= lifetime, with staleAfter = lifetime - skew and
// refreshAfter = staleAfter - refresh window. A lifetime <= 0 gives (0, 0):
// stale at once.
func (p Policy) Deadlines(lifetime time.Duration) (refreshAfter, staleAfter time.Duration) {
	if lifetime <= 0 {
		return 0, 0
	}
	skew := p.Skew
	switch {
	case skew == 0:
		skew = DefaultSkew
	case skew < 0:
		skew = 0
	}
	staleAfter = lifetime - min(skew, lifetime/4)

	window := p.RefreshAhead
	switch {
	case window == 0:
		window = min(lifetime/10, maxDefaultRefreshAhead)
	case window < 0:
		window = 0
	}
	// staleAfter >= lifetime*3/4 and window <= lifetime/2, so this stays >= 0.
	refreshAfter = staleAfter - min(window, lifetime/2)
	return refreshAfter, staleAfter
}

package cache

import (
	"testing"
	"time"
)

func TestPolicyDeadlines(t *testing.T) {
	const day = 24 * time.Hour
	tests := []struct {
		name        string
		policy      Policy
		lifetime    time.Duration
		wantRefresh time.Duration
		wantStale   time.Duration
	}{
		{
			// The default 30 s skew would swallow a 3 s token: capped at
			// lifetime/4 = 750 ms; refresh window lifetime/10 = 300 ms.
			name:        "3s token, default skew capped",
			lifetime:    3 * time.Second,
			wantStale:   2250 * time.Millisecond,
			wantRefresh: 1950 * time.Millisecond,
		},
		{
			name:        "2s token, default skew capped",
			lifetime:    2 * time.Second,
			wantStale:   1500 * time.Millisecond,
			wantRefresh: 1300 * time.Millisecond,
		},
		{
			name:        "3s token, explicit 30s skew capped",
			policy:      Policy{Skew: 30 * time.Second},
			lifetime:    3 * time.Second,
			wantStale:   2250 * time.Millisecond,
			wantRefresh: 1950 * time.Millisecond,
		},
		{
			// Keycloak (Fluencypass): expires_in 86400; window min(2.4h, 5m).
			name:        "24h token",
			lifetime:    day,
			wantStale:   day - 30*time.Second,
			wantRefresh: day - 30*time.Second - 5*time.Minute,
		},
		{
			// Passport (HubSoft): expires_in 2592000.
			name:        "30-day token",
			lifetime:    30 * day,
			wantStale:   30*day - 30*time.Second,
			wantRefresh: 30*day - 30*time.Second - 5*time.Minute,
		},
		{
			name:        "5m token: default window is a tenth",
			lifetime:    5 * time.Minute,
			wantStale:   5*time.Minute - 30*time.Second,
			wantRefresh: 5*time.Minute - 30*time.Second - 30*time.Second,
		},
		{
			name:        "zero lifetime",
			lifetime:    0,
			wantStale:   0,
			wantRefresh: 0,
		},
		{
			name:        "negative lifetime",
			policy:      Policy{Skew: time.Second, RefreshAhead: time.Second},
			lifetime:    -time.Hour,
			wantStale:   0,
			wantRefresh: 0,
		},
		{
			name:        "1ns lifetime",
			lifetime:    1,
			wantStale:   1,
			wantRefresh: 1,
		},
		{
			name:        "negative skew: no margin",
			policy:      Policy{Skew: -1},
			lifetime:    time.Hour,
			wantStale:   time.Hour,
			wantRefresh: time.Hour - 5*time.Minute,
		},
		{
			name:        "negative refresh-ahead: disabled",
			policy:      Policy{RefreshAhead: -1},
			lifetime:    time.Hour,
			wantStale:   time.Hour - 30*time.Second,
			wantRefresh: time.Hour - 30*time.Second,
		},
		{
			name:        "both negative",
			policy:      Policy{Skew: -time.Second, RefreshAhead: -time.Second},
			lifetime:    time.Hour,
			wantStale:   time.Hour,
			wantRefresh: time.Hour,
		},
		{
			name:        "explicit refresh-ahead beyond the default 5m cap",
			policy:      Policy{RefreshAhead: time.Hour},
			lifetime:    day,
			wantStale:   day - 30*time.Second,
			wantRefresh: day - 30*time.Second - time.Hour,
		},
		{
			name:        "refresh-ahead capped at half the lifetime",
			policy:      Policy{Skew: -1, RefreshAhead: time.Hour},
			lifetime:    10 * time.Second,
			wantStale:   10 * time.Second,
			wantRefresh: 5 * time.Second,
		},
		{
			name:        "both caps at once",
			policy:      Policy{Skew: time.Hour, RefreshAhead: time.Hour},
			lifetime:    4 * time.Second,
			wantStale:   3 * time.Second,
			wantRefresh: time.Second,
		},
		{
			name:        "small explicit skew",
			policy:      Policy{Skew: 5 * time.Second},
			lifetime:    time.Minute,
			wantStale:   55 * time.Second,
			wantRefresh: 49 * time.Second,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			refresh, stale := tt.policy.Deadlines(tt.lifetime)
			if refresh != tt.wantRefresh || stale != tt.wantStale {
				t.Errorf("Deadlines(%v) = (%v, %v), want (%v, %v)",
					tt.lifetime, refresh, stale, tt.wantRefresh, tt.wantStale)
			}
		})
	}
}

// TestPolicyDeadlinesInvariants checks 0 <= refresh <= stale <= lifetime
// over a spread of lifetimes and knobs.
func TestPolicyDeadlinesInvariants(t *testing.T) {
	knobs := []time.Duration{-time.Hour, -1, 0, 1, time.Millisecond, time.Second, 30 * time.Second, time.Hour, 1 << 62}
	lifetimes := []time.Duration{1, 2, 3, 7, time.Millisecond, time.Second, 3 * time.Second, time.Minute, 24 * time.Hour, 1<<63 - 1}
	for _, skew := range knobs {
		for _, ahead := range knobs {
			p := Policy{Skew: skew, RefreshAhead: ahead}
			for _, life := range lifetimes {
				refresh, stale := p.Deadlines(life)
				if refresh < 0 || refresh > stale || stale > life {
					t.Errorf("%+v.Deadlines(%v) = (%v, %v): want 0 <= refresh <= stale <= lifetime", p, life, refresh, stale)
				}
				if life >= 4 && stale <= 0 {
					t.Errorf("%+v.Deadlines(%v): stale at once", p, life)
				}
			}
		}
	}
}

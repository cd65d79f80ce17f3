// Package load runs the token-load scenarios of cmd/tokenload: N tenants
// with Zipf-distributed (or herd) traffic from C workers, one fill of N
// cold tenants followed by cached lookups, or a cold start of N tenants at
// once on an IdP of limited capacity, through one contender, against the
// in-process stand-in IdP and no-op API of package standin, and measures
// what each contender costs.
package load

import (
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"time"

	"github.com/tenantauth/tenantauth/benchmarks/internal/standin"
)

// Traffic is how the workers pick tenants.
type Traffic string

const (
	// Zipf picks each request's tenant from a Zipf distribution (tenant 0
	// busiest), independently per worker.
	Zipf Traffic = "zipf"
	// Herd sends Requests/Tenants consecutive requests to each tenant in
	// turn, taken by different workers at once: every tenant starts cold
	// with a crowd of callers.
	Herd Traffic = "herd"
	// Fill sends exactly one request per tenant, tenants 0..N-1 taken in
	// turn by the workers, into a contender that starts empty: every
	// request inserts a tenant. The fill's CPU time and the heap the
	// contender keeps per tenant are measured, then Lookups cached lookups
	// cycling through every tenant. See [Result.FillCPUPerTenant].
	Fill Traffic = "fill"
	// ColdStart sends exactly one request per tenant, all at once: one
	// caller goroutine per tenant (Workers is Tenants), released together
	// into a contender that starts empty, against an IdP that usually has
	// a Capacity. A caller does not retry: a failed call is a failed call,
	// as for a user whose request failed. See [Result.NoToken].
	ColdStart Traffic = "coldstart"
)

// ColdStartFamily is the family of the cold-start scenarios; cmd/plot draws
// their failed calls, the IdP's refusals and the time until every tenant
// had a token.
const ColdStartFamily = "coldstart"

// FillFamily is the family of the fill scenarios (fill-1k … fill-1m); cmd/plot
// draws their memory and CPU per tenant against the tenant count.
const FillFamily = "fill"

// DefaultLookups is how many cached lookups a fill scenario makes after its
// fill when its Lookups is zero.
const DefaultLookups = 2_000_000

// A Scenario is one load test. Durations are offsets from the start of the
// measured phase (after the warm-up, if any).
type Scenario struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	// Family groups scenarios that differ only in Tenants; the plot draws
	// throughput against tenants for the family "steady".
	Family  string `json:"family,omitempty"`
	Tenants int    `json:"tenants"`
	// Workers is the number of concurrent load goroutines. Zero means
	// GOMAXPROCS (ColdStart traffic: always Tenants): each worker is CPU-bound (the IdP and the API are in
	// process), so more workers than Ps measure the Go scheduler's run
	// queue (p99.9 of ~10 ms, whatever the auth layer) rather than the
	// auth layer. Herd traffic needs many, to crowd every cold tenant.
	Workers int     `json:"workers"`
	Traffic Traffic `json:"traffic"`
	// ZipfS is the Zipf exponent (> 1) for Zipf traffic.
	ZipfS float64 `json:"zipf_s,omitempty"`
	// Requests bounds the measured phase's requests (required for Herd);
	// zero means only Duration bounds it. Fill traffic ignores it: it sends
	// one request per tenant.
	Requests int `json:"requests,omitempty"`
	// Lookups is, for Fill traffic, how many cached lookups
	// (Contender.Lookup) follow the fill, cycling through every filled
	// tenant; zero means DefaultLookups.
	Lookups int `json:"lookups,omitempty"`
	// Rounds is, for Fill traffic, how many times the fill is repeated,
	// each time into a new contender, to time small fills precisely; zero
	// means one. The heap is measured in the first round, the lookups run
	// on the last one.
	Rounds int `json:"rounds,omitempty"`
	// Duration bounds the measured phase's time. Required. For Fill
	// traffic it bounds the fill and, separately, the lookups: a fill cut
	// short reports the tenants it reached (Result.FillTenants).
	Duration time.Duration `json:"duration_ns"`
	// Warm fetches every tenant's token (one request each) before the
	// measured phase. Its token requests count; its requests do not.
	Warm bool `json:"warm"`
	// IdPLatency is how long each token request takes.
	IdPLatency time.Duration `json:"idp_latency_ns"`
	// Lifetime is the tokens' lifetime.
	Lifetime time.Duration `json:"lifetime_ns"`
	// FaultRate is the fraction of token requests that fail (503).
	FaultRate float64 `json:"fault_rate,omitempty"`
	// Capacity is how many token requests the IdP serves at once; one
	// more is refused at once with RefusalStatus (503 when zero) or 429,
	// and RetryAfter when set. Zero means no limit. See
	// standin.IdPConfig. RetryAfter, like IdPLatency, is the IdP's and is
	// not scaled.
	Capacity      int           `json:"capacity,omitempty"`
	RefusalStatus int           `json:"refusal_status,omitempty"`
	RetryAfter    time.Duration `json:"retry_after_ns,omitempty"`
	// RevokeAt, when positive, revokes every token issued so far at that
	// offset: the API answers 401 to them (a 401 storm).
	RevokeAt time.Duration `json:"revoke_at_ns,omitempty"`
	// OutageFrom and OutageUntil, when OutageUntil is positive, take the
	// IdP down between these offsets: every token request fails.
	OutageFrom  time.Duration `json:"outage_from_ns,omitempty"`
	OutageUntil time.Duration `json:"outage_until_ns,omitempty"`
}

// Validate reports what makes the scenario unusable.
func (s Scenario) Validate() error {
	var errs []error
	if s.Name == "" {
		errs = append(errs, errors.New("no name"))
	}
	if s.Tenants < 1 || s.Workers < 0 {
		errs = append(errs, errors.New("need Tenants ≥ 1 and Workers ≥ 0"))
	}
	if s.Duration <= 0 {
		errs = append(errs, errors.New("need Duration > 0 (every run is bounded in time)"))
	}
	if s.Requests < 0 || s.Lookups < 0 || s.Rounds < 0 || s.IdPLatency < 0 || s.Lifetime < 0 || s.RevokeAt < 0 || s.OutageFrom < 0 {
		errs = append(errs, errors.New("negative Requests, Lookups, Rounds, IdPLatency, Lifetime, RevokeAt or OutageFrom"))
	}
	if s.FaultRate < 0 || s.FaultRate > 1 {
		errs = append(errs, errors.New("FaultRate outside [0, 1]"))
	}
	if s.Capacity < 0 || s.RetryAfter < 0 {
		errs = append(errs, errors.New("negative Capacity or RetryAfter"))
	}
	if s.RefusalStatus != 0 && s.RefusalStatus != 503 && s.RefusalStatus != 429 {
		errs = append(errs, fmt.Errorf("RefusalStatus %d: want 503 or 429", s.RefusalStatus))
	}
	switch s.Traffic {
	case Zipf:
		if !(s.ZipfS > 1) {
			errs = append(errs, errors.New("zipf traffic needs ZipfS > 1"))
		}
	case Herd:
		if s.Requests < s.Tenants {
			errs = append(errs, errors.New("herd traffic needs Requests ≥ Tenants"))
		}
	case Fill:
		if s.Warm || s.RevokeAt > 0 || s.OutageUntil > 0 {
			errs = append(errs, errors.New("fill traffic starts cold and has no events (Warm, RevokeAt, OutageUntil)"))
		}
	case ColdStart:
		if s.Warm || s.RevokeAt > 0 || s.OutageUntil > 0 {
			errs = append(errs, errors.New("coldstart traffic starts cold and has no events (Warm, RevokeAt, OutageUntil)"))
		}
	default:
		errs = append(errs, fmt.Errorf("unknown traffic %q", s.Traffic))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("load: scenario %q: %w", s.Name, err)
	}
	return nil
}

// Resolved returns s with Workers zero replaced by GOMAXPROCS, and Workers
// of ColdStart traffic set to Tenants (one caller per tenant).
func (s Scenario) Resolved() Scenario {
	if s.Traffic == ColdStart {
		s.Workers = s.Tenants
	}
	if s.Workers == 0 {
		s.Workers = runtime.GOMAXPROCS(0)
	}
	return s
}

// lookups is Lookups with its default applied.
func (s Scenario) lookups() int {
	if s.Lookups <= 0 {
		return DefaultLookups
	}
	return s.Lookups
}

// lifetime is the tokens' lifetime with the IdP's default applied.
func (s Scenario) lifetime() time.Duration {
	if s.Lifetime <= 0 {
		return time.Hour
	}
	return s.Lifetime
}

// idpConfig is the stand-in IdP of the scenario.
func (s Scenario) idpConfig() standin.IdPConfig {
	return standin.IdPConfig{Tenants: s.Tenants, Latency: s.IdPLatency, Lifetime: s.lifetime(), FaultRate: s.FaultRate,
		Capacity: s.Capacity, RefusalStatus: s.RefusalStatus, RetryAfter: s.RetryAfter}
}

// IdealColdStart is how long a cold start of s would take at best: one
// token per tenant, Capacity of them at a time, each taking IdPLatency
// (Tenants ÷ Capacity × IdPLatency). Without a capacity, one IdPLatency.
func (s Scenario) IdealColdStart() time.Duration {
	if s.Capacity <= 0 {
		return s.IdPLatency
	}
	return time.Duration(float64(s.Tenants) / float64(s.Capacity) * float64(s.IdPLatency))
}

// breakerTimeout squeezes tenantauth's breaker open timeout along with the
// token lifetime: a quarter of it, at most tenantauth's default 30 s.
func (s Scenario) breakerTimeout() time.Duration {
	return min(s.lifetime()/4, 30*time.Second)
}

// Scaled returns s with every time-like setting except the IdP latency
// multiplied by f (lifetimes and event offsets too, so the scenario keeps
// its shape), and Requests for Zipf traffic and Lookups and Rounds (if more
// than one) for Fill traffic likewise.
func (s Scenario) Scaled(f float64) Scenario {
	if f <= 0 || f == 1 {
		return s
	}
	mul := func(d time.Duration) time.Duration { return time.Duration(float64(d) * f) }
	s.Duration = mul(s.Duration)
	if s.Lifetime > 0 {
		s.Lifetime = mul(s.Lifetime)
	}
	s.RevokeAt = mul(s.RevokeAt)
	s.OutageFrom = mul(s.OutageFrom)
	s.OutageUntil = mul(s.OutageUntil)
	if s.Traffic == Zipf && s.Requests > 0 {
		s.Requests = int(float64(s.Requests) * f)
	}
	if s.Traffic == Fill && s.Lookups > 0 {
		s.Lookups = int(float64(s.Lookups) * f)
	}
	if s.Traffic == Fill && s.Rounds > 1 {
		s.Rounds = max(int(float64(s.Rounds)*f), 1)
	}
	return s
}

const (
	ms = time.Millisecond
	s1 = time.Second
)

// Defaults returns the scenarios tokenload runs by default. Together, for
// three contenders, they take about a minute.
func Defaults() []Scenario {
	out := append([]Scenario{
		{
			Name:        "cold-herd",
			Description: "10 000 requests to 1 000 cold tenants, 10 concurrent callers per tenant",
			Tenants:     1000, Workers: 100, Traffic: Herd, Requests: 10_000, Duration: 30 * s1,
			IdPLatency: 2 * ms, Lifetime: time.Hour,
		},
		{
			Name:        "steady",
			Description: "Zipf traffic over 1 000 warm tenants, long-lived tokens",
			Family:      "steady", Tenants: 1000, Traffic: Zipf, ZipfS: 1.1, Duration: 1500 * ms,
			Warm: true, IdPLatency: 2 * ms, Lifetime: time.Hour,
		},
		{
			Name:        "expiry",
			Description: "Zipf traffic over 100 warm tenants whose 1 s tokens expire twice during the run",
			Tenants:     100, Traffic: Zipf, ZipfS: 1.1, Duration: 2500 * ms,
			Warm: true, IdPLatency: 5 * ms, Lifetime: s1,
		},
		{
			Name:        "401-storm",
			Description: "every token revoked 0.5 s in (HubSoft after an upgrade); 1 000 warm tenants",
			Tenants:     1000, Traffic: Zipf, ZipfS: 1.1, Duration: 1500 * ms,
			Warm: true, IdPLatency: 2 * ms, Lifetime: time.Hour, RevokeAt: 500 * ms,
		},
		{
			Name:        "idp-outage",
			Description: "IdP down from 0.3 s to 1.5 s while 1 s tokens expire; 1 000 warm tenants",
			Tenants:     1000, Traffic: Zipf, ZipfS: 1.1, Duration: 2500 * ms,
			Warm: true, IdPLatency: 2 * ms, Lifetime: s1, OutageFrom: 300 * ms, OutageUntil: 1500 * ms,
		},
		{
			Name:        "tenants-10k",
			Description: "as steady, 10 000 tenants",
			Family:      "steady", Tenants: 10_000, Traffic: Zipf, ZipfS: 1.1, Duration: 1500 * ms,
			Warm: true, IdPLatency: 2 * ms, Lifetime: time.Hour,
		},
		{
			Name:        "tenants-100k",
			Description: "as steady, 100 000 tenants",
			Family:      "steady", Tenants: 100_000, Traffic: Zipf, ZipfS: 1.1, Duration: 2 * s1,
			Warm: true, IdPLatency: 2 * ms, Lifetime: time.Hour,
		},
	}, fills(1000, 10_000, 100_000)...)
	return append(out, coldStarts()...)
}

// Cold start on one shared provider: 3 000 tenants, one caller each, all at
// once, on an IdP that serves 16 token requests at a time (20 ms each) and
// refuses the rest with a 503, or a 429 with Retry-After: 1.
const (
	coldStartTenants  = 3000
	coldStartCapacity = 16
	coldStartLatency  = 20 * ms
)

// coldStarts returns the cold-start scenarios: the same cold start against
// the two refusal dialects. The Duration is a deadline far above the ideal
// (3.75 s): each caller gives up at it.
func coldStarts() []Scenario {
	desc := func(refusal string) string {
		return spaced(coldStartTenants) + " cold tenants, one caller each at once, on one IdP serving " +
			strconv.Itoa(coldStartCapacity) + " token requests at a time (" + coldStartLatency.String() + " each), refusing the rest with " + refusal
	}
	base := Scenario{Family: ColdStartFamily, Tenants: coldStartTenants, Traffic: ColdStart, Duration: 30 * s1,
		IdPLatency: coldStartLatency, Lifetime: time.Hour, Capacity: coldStartCapacity}
	c503, c429 := base, base
	c503.Name, c503.Description, c503.RefusalStatus = "coldstart-503", desc("503"), 503
	c429.Name, c429.Description, c429.RefusalStatus, c429.RetryAfter = "coldstart-429", desc("429 and Retry-After: 1"), 429, s1
	return []Scenario{c503, c429}
}

// All returns every scenario: Defaults and the slow ones left out of them
// (fill-1m, about 10 s per contender on 2 cores).
func All() []Scenario {
	return append(Defaults(), fills(1_000_000)...)
}

// fills returns the fill scenarios for the given tenant counts: one
// request per cold tenant from GOMAXPROCS workers, a zero-latency IdP, then
// DefaultLookups cached lookups. Fills of fewer than fillInserts tenants
// are repeated so that every scenario inserts about as many. The deadline
// grows with the count but stays far above the expected time (~1 µs to
// 10 µs of CPU per tenant), so that a contender that does not scale is cut
// off and reported, not waited for.
func fills(counts ...int) []Scenario {
	out := make([]Scenario, len(counts))
	for i, n := range counts {
		out[i] = Scenario{
			Name:        "fill-" + shortCount(n),
			Description: "fill " + spaced(n) + " cold tenants, one request each from GOMAXPROCS workers (IdP latency 0), then " + spaced(DefaultLookups) + " cached lookups",
			Family:      FillFamily, Tenants: n, Traffic: Fill, Lookups: DefaultLookups, Rounds: max(fillInserts/n, 1),
			Duration: max(10*s1, time.Duration(n)*40*time.Microsecond), Lifetime: time.Hour,
		}
	}
	return out
}

// fillInserts is how many tenants a fill scenario inserts at least, over
// its rounds: a fill of 1 000 tenants takes about a millisecond, too short
// to time alone.
const fillInserts = 100_000

// shortCount names a tenant count: "1k", "10k", "1m".
func shortCount(n int) string {
	switch {
	case n >= 1_000_000 && n%1_000_000 == 0:
		return strconv.Itoa(n/1_000_000) + "m"
	case n >= 1000 && n%1000 == 0:
		return strconv.Itoa(n/1000) + "k"
	}
	return strconv.Itoa(n)
}

// spaced writes n with thin spaces between thousands: "100 000".
func spaced(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + " " + s[i:]
	}
	return s
}

// Smoke returns tiny versions of the default scenarios that together run
// in a few seconds, for CI.
func Smoke() []Scenario {
	out := Defaults()
	for i := range out {
		s := &out[i]
		switch s.Name {
		case "cold-herd":
			s.Tenants, s.Workers, s.Requests, s.IdPLatency = 50, 50, 500, ms
		case "expiry":
			s.Tenants, s.Duration, s.Lifetime, s.IdPLatency = 10, 200*ms, 100*ms, ms
		case "401-storm":
			s.Tenants, s.Duration, s.RevokeAt, s.IdPLatency = 20, 100*ms, 40*ms, ms
		case "idp-outage":
			s.Tenants, s.Duration, s.Lifetime, s.IdPLatency = 20, 200*ms, 100*ms, ms
			s.OutageFrom, s.OutageUntil = 20*ms, 120*ms
		case "tenants-100k":
			s.Name, s.Description, s.Tenants, s.Duration, s.IdPLatency = "tenants-2k", "as steady, 2 000 tenants", 2000, 60*ms, 200*time.Microsecond
		case "tenants-10k":
			s.Name, s.Description, s.Tenants, s.Duration, s.IdPLatency = "tenants-200", "as steady, 200 tenants", 200, 60*ms, ms
		case "fill-1k":
			s.Lookups, s.Rounds, s.Description = 20_000, 2, "fill 1 000 cold tenants (twice), one request each, then 20 000 cached lookups"
		case "coldstart-503", "coldstart-429":
			// 200 tenants on 8 slots of 2 ms: 50 ms at best. The
			// Retry-After is shortened too (the IdP is in process).
			s.Tenants, s.Capacity, s.IdPLatency, s.Duration = 200, 8, 2*ms, 10*s1
			s.Description = "200 cold tenants at once on an IdP serving 8 token requests at a time (2 ms each), refusing the rest with " + strconv.Itoa(s.RefusalStatus)
			if s.RetryAfter > 0 {
				s.RetryAfter = 50 * ms
				s.Description += " and Retry-After: 50 ms"
			}
		default:
			s.Tenants, s.Duration, s.IdPLatency = 20, 60*ms, ms
		}
	}
	// One fill is enough to check its invariants; the larger ones only
	// measure.
	return slices.DeleteFunc(out, func(s Scenario) bool {
		return s.Family == FillFamily && s.Name != "fill-1k"
	})
}

// Find returns the scenarios named in names from all, in the order given;
// an empty names returns all.
func Find(all []Scenario, names []string) ([]Scenario, error) {
	if len(names) == 0 {
		return all, nil
	}
	var out []Scenario
	for _, n := range names {
		found := false
		for _, s := range all {
			if s.Name == n {
				out = append(out, s)
				found = true
				break
			}
		}
		if !found {
			have := make([]string, len(all))
			for i, s := range all {
				have[i] = s.Name
			}
			return nil, fmt.Errorf("load: unknown scenario %q (have %v)", n, have)
		}
	}
	return out, nil
}

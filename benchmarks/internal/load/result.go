package load

// A Result is what one run of one scenario against one contender measured.
// Latencies are nanoseconds of the whole RoundTrip through the contender to
// the no-op API, that is the latency the auth layer adds (plus the API's
// own ~0.1 µs check, the same for everyone).
type Result struct {
	Scenario  string `json:"scenario"`
	Family    string `json:"family,omitempty"`
	Contender string `json:"contender"`
	Tenants   int    `json:"tenants"`
	Workers   int    `json:"workers"`

	// Seconds is the measured phase's length; WarmSeconds the warm-up's.
	Seconds     float64 `json:"seconds"`
	WarmSeconds float64 `json:"warm_seconds,omitempty"`
	WarmErrors  uint64  `json:"warm_errors,omitempty"`

	// Requests sent in the measured phase, and how they ended.
	Requests     uint64  `json:"requests"`
	RPS          float64 `json:"requests_per_second"`
	OK           uint64  `json:"ok"`
	Unauthorized uint64  `json:"unauthorized"`
	Forbidden    uint64  `json:"forbidden"`
	OtherStatus  uint64  `json:"other_status,omitempty"`
	Errors       uint64  `json:"errors"`
	// WrongTenant counts requests the API saw with another tenant's token:
	// a correctness bug. Must be 0.
	WrongTenant uint64 `json:"wrong_tenant"`
	// ExpiredOK counts 200s for tokens already expired when the request
	// started; a sanity check of the API. Must be 0.
	ExpiredOK uint64 `json:"expired_ok"`

	// Waited counts requests that sent a token issued after they started:
	// they waited for the token endpoint.
	Waited uint64 `json:"waited"`

	// TokenRequests counts token endpoint requests of the whole run
	// (warm-up included, failed ones included); IdealTokenRequests is one
	// per tenant per token lifetime (per revocation epoch) from the
	// tenant's first request on.
	TokenRequests              uint64 `json:"token_requests"`
	TokenFailures              uint64 `json:"token_failures"`
	IdealTokenRequests         uint64 `json:"ideal_token_requests"`
	TenantsTouched             int    `json:"tenants_touched"`
	PeakTokenRequestsPerTenant int64  `json:"peak_token_requests_per_tenant"`

	P50  int64   `json:"p50_ns"`
	P99  int64   `json:"p99_ns"`
	P999 int64   `json:"p999_ns"`
	Max  int64   `json:"max_ns"`
	Mean float64 `json:"mean_ns"`

	// BaseHeap is the heap before the contender was built; PeakHeap the
	// largest heap seen during the run (sampled every 10 ms);
	// PeakHeapGain their difference.
	BaseHeap     uint64 `json:"base_heap_bytes"`
	PeakHeap     uint64 `json:"peak_heap_bytes"`
	PeakHeapGain uint64 `json:"peak_heap_gain_bytes"`
	// Goroutines is the most goroutines seen beyond the harness's own
	// during the measured phase: the contender's.
	Goroutines int `json:"goroutines"`

	// The fill scenarios' figures (Traffic Fill, Family "fill"); zero and
	// left out of the JSON for the others. For a fill, Seconds, Requests,
	// the status counts and the percentiles describe the fill's requests.
	//
	// FillTenants is how many tenants the first fill reached: Tenants,
	// unless the scenario's Duration cut it short (then there is one
	// round). FillRounds is how many complete fills (each into a new
	// contender) the timings average over; a later round cut short by the
	// deadline is left out.
	FillTenants int `json:"fill_tenants,omitempty"`
	FillRounds  int `json:"fill_rounds,omitempty"`
	// FillSeconds is the wall time of one fill; FillCPUSeconds the
	// process's CPU time (user + system, getrusage) during one fill, GC
	// included; both averaged over the rounds. The harness's share (IdP,
	// no-op API, request loop) is the same for every contender.
	FillSeconds    float64 `json:"fill_seconds,omitempty"`
	FillCPUSeconds float64 `json:"fill_cpu_seconds,omitempty"`
	// FillCPUPerTenant is the fill's CPU time per tenant inserted, in ns:
	// flat against Tenants for a linear-time fill.
	FillCPUPerTenant float64 `json:"fill_cpu_ns_per_tenant,omitempty"`
	// BytesPerTenant is the live heap (after runtime.GC) the contender
	// holds per tenant after the first fill, beyond the access token's own
	// standin.TokenSize bytes, as BenchmarkMemoryPerTenant's B/tenant;
	// TotalBytesPerTenant includes the token.
	BytesPerTenant      float64 `json:"bytes_per_tenant,omitempty"`
	TotalBytesPerTenant float64 `json:"total_bytes_per_tenant,omitempty"`
	// Lookups is how many cached lookups (Contender.Lookup, cycling
	// through every filled tenant from Workers goroutines) followed the
	// last fill, in LookupSeconds of wall time; LookupCPUNs is the CPU time per
	// lookup in ns. LookupFetches counts the token requests they caused
	// (0: all hits) and LookupErrors the lookups that failed.
	Lookups       uint64  `json:"lookups,omitempty"`
	LookupSeconds float64 `json:"lookup_seconds,omitempty"`
	LookupCPUNs   float64 `json:"lookup_cpu_ns,omitempty"`
	LookupFetches uint64  `json:"lookup_fetches,omitempty"`
	LookupErrors  uint64  `json:"lookup_errors,omitempty"`

	// Refusals counts the token requests the IdP refused for capacity
	// (Scenario.Capacity); left out of the JSON when zero.
	Refusals uint64 `json:"refusals,omitempty"`

	// The cold-start scenarios' figures (Traffic ColdStart, Family
	// "coldstart"); zero and left out of the JSON for the others. Each
	// tenant has one caller that makes one request: Requests is Tenants,
	// and every request that failed (an error or a status other than 200)
	// is a tenant without a token.
	//
	// The failed calls (Errors) by kind: the IdP's refusal reached the
	// caller (FailedRefused: standin.ErrOverloaded, or a 429 or 503
	// tenantauth.TokenError). Or the client failed the call without asking
	// the IdP: its admission queue was full or would not have served the
	// call in time (FailedQueue: admission.ErrOverloaded), its tenant
	// lookups were saturated (FailedLookups: tenantauth.ErrTooManyLookups,
	// Config.MaxLookups), its circuit breaker was open (FailedBreaker).
	// Or the caller's deadline (Scenario.Duration) passed first
	// (FailedTimeout). The rest of Errors is other errors.
	FailedRefused uint64 `json:"failed_refused,omitempty"`
	FailedQueue   uint64 `json:"failed_queue,omitempty"`
	FailedLookups uint64 `json:"failed_lookups,omitempty"`
	FailedBreaker uint64 `json:"failed_breaker,omitempty"`
	FailedTimeout uint64 `json:"failed_timeout,omitempty"`
	// NoToken counts the tenants whose call failed: they had no token when
	// the run ended.
	NoToken int `json:"no_token,omitempty"`
	// LastTokenSeconds is when the last successful call returned, from the
	// callers' release: with NoToken 0, the time until every tenant had a
	// token. (Seconds is when the last call returned, failed or not.)
	LastTokenSeconds float64 `json:"last_token_seconds,omitempty"`
	// IdealSeconds is the fastest possible cold start on the IdP:
	// Tenants ÷ Capacity × IdP latency (Scenario.IdealColdStart).
	IdealSeconds float64 `json:"ideal_seconds,omitempty"`
	// Capacity is the IdP's (Scenario.Capacity) and RefusalStatus the
	// status of its refusals, for the charts.
	Capacity      int `json:"capacity,omitempty"`
	RefusalStatus int `json:"refusal_status,omitempty"`
}

// IsFill reports whether r is the result of a fill scenario.
func (r Result) IsFill() bool { return r.Family == FillFamily }

// IsColdStart reports whether r is the result of a cold-start scenario.
func (r Result) IsColdStart() bool { return r.Family == ColdStartFamily }

// FailedCalls counts the requests that did not end in a 200.
func (r Result) FailedCalls() uint64 { return r.Requests - min(r.OK, r.Requests) }

// AllTokensSeconds is the time until every tenant had a token, and false
// when some never got one in the run.
func (r Result) AllTokensSeconds() (float64, bool) {
	if r.NoToken > 0 || r.OK == 0 {
		return 0, false
	}
	return r.LastTokenSeconds, true
}

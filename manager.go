package tenantauth

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tenantauth/tenantauth/admission"
	"github.com/tenantauth/tenantauth/breaker"
	"github.com/tenantauth/tenantauth/cache"
)

// Defaults for the zero values of Config.
const (
	defaultCacheSize          = 10_000
	defaultDefaultLifetime    = 5 * time.Minute
	defaultFetchTimeout       = 30 * time.Second
	defaultRetries            = 2
	defaultRetryBackoff       = 100 * time.Millisecond
	maxRetryBackoff           = 5 * time.Second
	defaultBadCredentialsTTL  = 30 * time.Second
	defaultInvalidateCooldown = time.Second
	defaultMaxLookups         = 1024
	// maxStrangers bounds how many refused tenant IDs are remembered.
	maxStrangers = 4096
)

// A Manager hands out each tenant's access token: from its cache while the
// token is fresh, otherwise from one shared request to the tenant's token
// endpoint, behind that endpoint's circuit breaker.
//
// A cache hit takes no lock, allocates nothing and, while the Manager is
// busy, does not read the system clock (a coarse clock is kept by one
// goroutine that parks itself after a second without callers). A miss starts at most one fetch per tenant, however many goroutines
// ask; the fetch runs on its own context with Config.FetchTimeout, so a caller
// that gives up does not cancel it for the others. A token close to expiry is
// served while one background fetch replaces it.
//
// A Manager is safe for concurrent use. Close it to stop its background work.
type Manager struct {
	// cfg is a pointer so that fmt, printing a struct that holds a Manager
	// in an unexported field (where it cannot call Format), shows an
	// address instead of every tenant's credentials.
	cfg      *Config
	policy   cache.Policy
	cache    *cache.Cache[entry]
	breakers *breaker.Group
	admit    *admission.Group
	log      *slog.Logger
	shared   *sharedCache // nil without Config.Shared.Store
	obs      Observer     // nil without Config.Observer

	coarse *coarseClock // nil when cfg.Clock is set
	epoch  time.Time    // of cfg.Clock
	born   time.Time    // when New made it, for elapsed

	closed atomic.Bool
	ctx    context.Context // parent of every fetch; cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // fetch goroutines

	// stripes hold the flights, each under its own lock, so that misses of
	// different tenants do not queue on one mutex (a fill from several
	// CPUs did not scale). A tenant's stripe lock also guards its note's
	// fields and orders its flight's store against Forget and Invalidate.
	stripes  []stripe
	stripeOf maphash.Seed
	// bgMu orders background goroutines (Manager.background) with Close.
	bgMu sync.Mutex
	// noteCap and strangerCap bound each stripe's notes and strangers.
	noteCap, strangerCap int
	// static is set when cfg.Tenants is a Tenants map: it is looked up in
	// the caller, so an unknown ID costs neither a goroutine nor a lookup
	// slot. (Not the map itself: fmt's fallback would print it.)
	static bool
	// lookupSlots counts the TenantSource lookups under way, at most
	// Config.MaxLookups; nil when lookups are not bounded.
	lookupSlots *slots

	refreshes, invalidations atomic.Uint64
	hitSamples               atomic.Uint64 // with an Observer: hits sampled 1 in HitSample
}

// New returns a Manager configured by cfg. It starts no goroutine until a
// token is asked for, except with a shared store (Config.Shared): then one
// goroutine receives the other replicas' announcements until Close.
func New(cfg Config) (*Manager, error) {
	if cfg.Tenants == nil {
		return nil, errConfig("Tenants is required")
	}
	if cfg.CacheSize < 0 || cfg.DefaultLifetime < 0 || cfg.FetchTimeout < 0 || cfg.RetryBackoff < 0 {
		return nil, errConfig("CacheSize, DefaultLifetime, FetchTimeout and RetryBackoff must not be negative")
	}
	static, _ := cfg.Tenants.(Tenants)
	for key, t := range static {
		switch {
		case t.ID != "" && t.ID != key:
			return nil, errConfig(fmt.Sprintf("Tenants[%q] has ID %q: a tenant's key and ID must be the same", key, t.ID))
		case len(t.APIHosts) == 0:
			return nil, errConfig(fmt.Sprintf("Tenants[%q] has no APIHosts: its token could go nowhere; "+
				"list the API's hosts, or use tenantauth.AnyHost (\"*\") to allow every host", key))
		}
	}
	setDefault(&cfg.CacheSize, defaultCacheSize)
	setDefault(&cfg.DefaultLifetime, defaultDefaultLifetime)
	setDefault(&cfg.FetchTimeout, defaultFetchTimeout)
	setDefault(&cfg.RetryBackoff, defaultRetryBackoff)
	setDefault(&cfg.BadCredentialsTTL, defaultBadCredentialsTTL)
	setDefault(&cfg.InvalidateCooldown, defaultInvalidateCooldown)
	setDefault(&cfg.MaxLookups, defaultMaxLookups)
	switch {
	case cfg.Retries == 0:
		cfg.Retries = defaultRetries
	case cfg.Retries < 0:
		cfg.Retries = 0
	}

	m := &Manager{
		obs:      cfg.Observer,
		cfg:      &cfg,
		policy:   cache.Policy{Skew: cfg.Skew, RefreshAhead: cfg.RefreshAhead},
		log:      cfg.Logger,
		static:   static != nil,
		stripes:  make([]stripe, numStripes),
		stripeOf: maphash.MakeSeed(),
		born:     time.Now(),
	}
	for i := range m.stripes {
		m.stripes[i].flights = make(map[string]*flight)
	}
	if !m.static && cfg.MaxLookups > 0 {
		m.lookupSlots = newSlots(cfg.MaxLookups)
	}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	var err error
	if m.cache, err = cache.New[entry](cache.Config{Capacity: cfg.CacheSize}); err != nil {
		return nil, fmt.Errorf("tenantauth: invalid config: %w", err)
	}
	if m.admit, err = admission.New(cfg.Admission); err != nil {
		return nil, fmt.Errorf("tenantauth: invalid config: %w", err)
	}
	bcfg := cfg.Breaker
	classify := bcfg.Classify
	if classify == nil {
		classify = breaker.Classify
	}
	bcfg.Classify = func(err error) breaker.Outcome {
		// Refusals the limiter handles are not the endpoint's death.
		// (Checked only for an error: errors.As's target escapes, and a
		// success must not allocate.)
		if err != nil {
			var lr *limiterRefusal
			if errors.As(err, &lr) || errors.Is(err, admission.ErrOverloaded) {
				return breaker.Excluded
			}
		}
		return classify(err)
	}
	userHook := bcfg.OnStateChange
	bcfg.OnStateChange = func(endpoint string, from, to breaker.State) {
		m.log.LogAttrs(context.Background(), slog.LevelWarn, "tenantauth: circuit breaker state change",
			slog.String("endpoint", endpoint), slog.String("from", from.String()), slog.String("to", to.String()))
		if m.obs != nil {
			m.obs.BreakerChange(BreakerChange{Endpoint: endpoint, From: from, To: to})
		}
		if userHook != nil {
			userHook(endpoint, from, to)
		}
	}
	if m.breakers, err = breaker.New(bcfg); err != nil {
		return nil, fmt.Errorf("tenantauth: invalid config: %w", err)
	}
	// Headroom per stripe: tenants do not spread evenly over the stripes.
	m.noteCap = max(cfg.CacheSize, 1024)*5/4/numStripes + 8
	m.strangerCap = maxStrangers / numStripes
	if cfg.Clock == nil {
		m.coarse = newCoarseClock()
	} else {
		m.epoch = cfg.Clock.Now()
	}
	if m.shared, err = newSharedCache(cfg.Shared, cfg.FetchTimeout, m.log, m.obs); err != nil {
		return nil, err
	}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	if m.shared != nil {
		// The other replicas' announcements (invalidations, forgotten
		// tenants, tokens stored) arrive from the moment the Manager exists.
		m.wg.Add(1)
		go m.subscribe()
	}
	return m, nil
}

func setDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

// now is the hot-path clock: nanoseconds on the Manager's monotonic scale.
func (m *Manager) now() int64 {
	if m.coarse != nil {
		return m.coarse.Now()
	}
	return int64(m.cfg.Clock.Now().Sub(m.epoch))
}

// elapsed is the time since the Manager was made, on the system's
// monotonic clock: for durations (a token request's latency), at half the
// cost of time.Now, which also reads the wall clock.
func (m *Manager) elapsed() time.Duration { return time.Since(m.born) }

// preciseNow reads the clock itself, for deadlines computed off the hot path.
func (m *Manager) preciseNow() int64 {
	if m.coarse != nil {
		return m.coarse.precise()
	}
	return m.now()
}

// wallNow is the wall-clock time of the Manager's clock.
func (m *Manager) wallNow() time.Time {
	if m.cfg.Clock != nil {
		return m.cfg.Clock.Now()
	}
	return time.Now()
}

// Close stops the Manager: fetches under way are cancelled (their waiters get
// an error matching ErrClosed), the background clock stops, and Close returns
// once every goroutine the Manager started has ended. Later calls to Token
// return ErrClosed. Close is idempotent.
func (m *Manager) Close() error {
	m.bgMu.Lock()
	for i := range m.stripes {
		m.stripes[i].mu.Lock()
	}
	already := m.closed.Swap(true)
	for i := range m.stripes {
		m.stripes[i].mu.Unlock()
	}
	m.bgMu.Unlock()
	if already {
		m.waitAll() // a second Close also returns only when everything has ended
		return nil
	}
	m.cancel()
	m.admit.Close()
	if m.coarse != nil {
		m.coarse.stop()
	}
	m.waitAll()
	return nil
}

// waitAll returns when every goroutine and flight of the Manager has ended.
// After Close has set closed (under every stripe's lock) no flight starts.
func (m *Manager) waitAll() {
	m.wg.Wait()
	for i := range m.stripes {
		m.stripes[i].running.Wait()
	}
}

// Format implements [fmt.Formatter]. A Manager holds every tenant's
// credentials and tokens; printing it shows only its counters.
func (m *Manager) Format(f fmt.State, _ rune) {
	s := m.Stats()
	fmt.Fprintf(f, "tenantauth.Manager{cached:%d fetches:%d closed:%t}", s.Cached, s.Fetches, m.closed.Load())
}

// Stats are counters of the Manager's slow paths, for tests, demos and
// metrics. Cache hits are not counted: a shared counter on the hot path would
// stop it from scaling across cores.
type Stats struct {
	// Fetches counts token endpoint attempts, retries included.
	Fetches uint64
	// FetchErrors counts attempts that failed.
	FetchErrors uint64
	// Refreshes counts background refresh-ahead fetches started.
	Refreshes uint64
	// Invalidations counts tokens dropped by Invalidate, and, with a
	// shared store, because another replica announced them rejected.
	Invalidations uint64
	// Cached is the number of tenants with a cached token.
	Cached int
	// Evictions counts tokens the cache dropped to make room (CacheSize).
	Evictions uint64
	// Hits estimates the cache hits: with an Observer, one hit in
	// [HitSample] is counted (a shared counter on every hit would stop the
	// hit path from scaling across cores), and Hits is that count times
	// HitSample. Zero without an Observer.
	Hits uint64
	// Endpoints has the admission state of every token endpoint in use,
	// sorted by endpoint: its current limit, requests in flight and
	// queued, overload refusals, pauses (see [Manager.Admission]). Empty
	// when Config.Admission is disabled.
	Endpoints []admission.EndpointStats
	// Shared are the shared store's counters; zero without one.
	Shared SharedStats
}

// Stats returns the current counters. It allocates (the endpoints' list):
// read it for metrics and status pages, not per request.
func (m *Manager) Stats() Stats {
	var fetches, fetchErrors uint64
	for i := range m.stripes {
		// Errors first: a request is counted before its error, so the sum
		// never shows more errors than requests.
		fetchErrors += m.stripes[i].fetchErrors.Load()
		fetches += m.stripes[i].fetches.Load()
	}
	s := Stats{
		Fetches:       fetches,
		FetchErrors:   fetchErrors,
		Refreshes:     m.refreshes.Load(),
		Invalidations: m.invalidations.Load(),
		Cached:        m.cache.Len(),
		Evictions:     m.cache.Evictions(),
		Hits:          m.hitSamples.Load() * HitSample,
		Endpoints:     m.admit.Endpoints(),
	}
	if m.shared != nil {
		s.Shared = m.shared.stats()
	}
	return s
}

// Admission returns the admission limiter's figures for a token endpoint
// (as [Provider.Endpoint] names it, without query): its current limit,
// requests in flight and queued, overload refusals seen, pauses. All zero
// for an endpoint the Manager has not asked yet.
func (m *Manager) Admission(endpoint string) admission.EndpointStats {
	return m.admit.Stats(RedactURL(endpoint))
}

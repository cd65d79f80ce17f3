package tenantauth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/url"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"

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
	log      *slog.Logger

	coarse *coarseClock // nil when cfg.Clock is set
	epoch  time.Time    // of cfg.Clock

	closed atomic.Bool
	ctx    context.Context // parent of every fetch; cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // fetch goroutines

	mu      sync.Mutex
	flights map[string]*flight
	// notes is the slow-path memory of known tenants (refusals, cooldowns);
	// strangers remembers IDs the TenantSource refused. Separate bounds, so
	// a flood of unknown IDs cannot evict what is known about real tenants.
	notes     *simplelru.LRU[string, *note]
	strangers *simplelru.LRU[string, refusal]
	// static is set when cfg.Tenants is a Tenants map: it is looked up in
	// the caller, so an unknown ID costs neither a goroutine nor a lookup
	// slot. (Not the map itself: fmt's fallback would print it.)
	static  bool
	lookups atomic.Int64 // TenantSource lookups under way; incremented under mu

	fetches, fetchErrors, refreshes, invalidations atomic.Uint64
}

// entry is what the cache holds for a tenant. It is immutable once cached.
type entry struct {
	tok      *Token
	hosts    []string // the tenant's APIHosts; nil allows any host
	insecure bool     // the tenant's AllowInsecureHTTP
	// Deadlines on the Manager's clock: refresh in the background from
	// refreshAt, stop serving from staleAt, and expireAt is the real expiry.
	refreshAt, staleAt, expireAt int64
}

// flight is one token fetch for one tenant, shared by every waiter.
type flight struct {
	done      chan struct{}
	val       *entry
	err       error
	stale     *entry // the entry being replaced, for its refresh token
	forgotten bool   // Forget ran meanwhile: do not cache the result
}

// note remembers what the slow path must know about a known tenant.
type note struct {
	refusal             // remembered refusal of the tenant's request
	cooldownUntil int64 // no forced refresh before
}

// refusal is a remembered refusal and when it stops being remembered.
type refusal struct {
	refused      error
	refusedUntil int64
}

// active returns the refusal when it is still remembered at now.
func (r refusal) active(now int64) error {
	if r.refused != nil && now < r.refusedUntil {
		return r.refused
	}
	return nil
}

// New returns a Manager configured by cfg. It starts no goroutine until a
// token is asked for.
func New(cfg Config) (*Manager, error) {
	if cfg.Tenants == nil {
		return nil, errConfig("Tenants is required")
	}
	if cfg.CacheSize < 0 || cfg.DefaultLifetime < 0 || cfg.FetchTimeout < 0 || cfg.RetryBackoff < 0 {
		return nil, errConfig("CacheSize, DefaultLifetime, FetchTimeout and RetryBackoff must not be negative")
	}
	static, _ := cfg.Tenants.(Tenants)
	for key, t := range static {
		if t.ID != "" && t.ID != key {
			return nil, errConfig(fmt.Sprintf("Tenants[%q] has ID %q: a tenant's key and ID must be the same", key, t.ID))
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
		cfg:     &cfg,
		policy:  cache.Policy{Skew: cfg.Skew, RefreshAhead: cfg.RefreshAhead},
		log:     cfg.Logger,
		flights: make(map[string]*flight),
		static:  static != nil,
	}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	var err error
	if m.cache, err = cache.New[entry](cache.Config{Capacity: cfg.CacheSize}); err != nil {
		return nil, fmt.Errorf("tenantauth: invalid config: %w", err)
	}
	bcfg := cfg.Breaker
	userHook := bcfg.OnStateChange
	bcfg.OnStateChange = func(endpoint string, from, to breaker.State) {
		m.log.LogAttrs(context.Background(), slog.LevelWarn, "tenantauth: circuit breaker state change",
			slog.String("endpoint", endpoint), slog.String("from", from.String()), slog.String("to", to.String()))
		if userHook != nil {
			userHook(endpoint, from, to)
		}
	}
	if m.breakers, err = breaker.New(bcfg); err != nil {
		return nil, fmt.Errorf("tenantauth: invalid config: %w", err)
	}
	if m.notes, err = simplelru.NewLRU[string, *note](max(cfg.CacheSize, 1024), nil); err != nil {
		return nil, fmt.Errorf("tenantauth: invalid config: %w", err)
	}
	if m.strangers, err = simplelru.NewLRU[string, refusal](maxStrangers, nil); err != nil {
		return nil, fmt.Errorf("tenantauth: invalid config: %w", err)
	}
	if cfg.Clock == nil {
		m.coarse = newCoarseClock()
	} else {
		m.epoch = cfg.Clock.Now()
	}
	m.ctx, m.cancel = context.WithCancel(context.Background())
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

// Token returns a valid token for tenantID: the cached one when it is fresh,
// otherwise the result of one shared fetch. When ctx ends first, Token returns
// ctx.Err() and the fetch goes on for the other callers.
//
// A tenant is cached under the exact ID asked for: a TenantSource that
// returns a Tenant with another non-empty ID (a case-insensitive store
// answering "ACME" with "acme") is refused with ErrUnknownTenant, so one
// tenant never holds two entries and two tokens. A context already done
// starts nothing.
//
// Errors: ErrNoTenant for an empty ID, errors wrapping ErrUnknownTenant,
// ErrTooManyLookups,
// ErrCircuitOpen, ErrInvalidCredentials (with a *TokenError), ErrClosed, or
// the provider's error. While an endpoint is unreachable (circuit open,
// network down) a token past its safety margin but not yet expired is still
// returned rather than an error.
func (m *Manager) Token(ctx context.Context, tenantID string) (*Token, error) {
	e, err := m.entry(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	return e.tok, nil
}

// TokenForHost is Token for a request to host (a URL host, with or without
// port): it fails with an error wrapping ErrHostNotAllowed when the tenant's
// APIHosts do not allow host (see [Tenant.AllowsHost]). It does not know
// the scheme: middleware call [Manager.TokenForURL], which also refuses
// plain http, unless plain http was explicitly allowed to them.
func (m *Manager) TokenForHost(ctx context.Context, tenantID, host string) (*Token, error) {
	e, err := m.entry(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	if !hostAllowed(e.hosts, host) {
		return nil, &hostError{tenant: tenantID, host: host}
	}
	return e.tok, nil
}

// TokenForURL is [Manager.TokenForHost] for a request to u, which also
// refuses to hand out a token for plain http: u's scheme must be https (or
// wss), unless u's host is loopback ("localhost", 127.0.0.0/8, ::1) or the
// tenant sets [Tenant.AllowInsecureHTTP]. A refusal wraps
// ErrInsecureEndpoint; nothing should be sent then. The middleware call it
// for every request.
func (m *Manager) TokenForURL(ctx context.Context, tenantID string, u *url.URL) (*Token, error) {
	e, err := m.entry(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	if !hostAllowed(e.hosts, u.Host) {
		return nil, &hostError{tenant: tenantID, host: u.Host}
	}
	if !e.insecure && !secureDestination(u.Scheme, u.Host) {
		return nil, &hostError{tenant: tenantID, host: u.Host, scheme: u.Scheme}
	}
	return e.tok, nil
}

// entry is the hot path shared by Token and TokenForHost.
func (m *Manager) entry(ctx context.Context, id string) (*entry, error) {
	if m.closed.Load() {
		return nil, ErrClosed
	}
	now := m.now()
	e, state := m.cache.Get(id, now)
	switch state {
	case cache.Fresh:
		return e, nil
	case cache.Refresh:
		m.refreshAhead(id, e)
		return e, nil
	}
	return m.wait(ctx, id, e, now)
}

// wait joins or starts the tenant's flight and waits for it or for ctx.
func (m *Manager) wait(ctx context.Context, id string, stale *entry, now int64) (*entry, error) {
	if id == "" {
		return nil, ErrNoTenant
	}
	if err := ctx.Err(); err != nil {
		return nil, err // nobody would wait for what a fetch brings
	}
	if m.static && stale == nil {
		if _, ok := m.cfg.Tenants.(Tenants)[id]; !ok {
			return nil, &unknownTenantError{id: id}
		}
	}
	m.mu.Lock()
	if m.closed.Load() {
		m.mu.Unlock()
		return nil, ErrClosed
	}
	if err := m.remembered(id, now); err != nil {
		m.mu.Unlock()
		return nil, err
	}
	f := m.flights[id]
	if f == nil {
		// A flight may have ended between the caller's miss and this lock:
		// look again before starting another.
		e, state := m.cache.Get(id, m.now())
		if state != cache.Miss {
			m.mu.Unlock()
			if state == cache.Refresh {
				m.refreshAhead(id, e)
			}
			return e, nil
		}
		if e != nil {
			stale = e
		}
		if !m.reserveLookup() {
			m.mu.Unlock()
			return nil, &busyError{id: id, limit: m.cfg.MaxLookups}
		}
		f = m.start(id, stale, false)
	}
	m.mu.Unlock()

	select {
	case <-f.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if f.err != nil {
		// An unreachable endpoint should not take down a tenant whose token,
		// though inside its safety margin, has not expired yet.
		if stale != nil && m.endpointDown(f.err) && m.preciseNow() < stale.expireAt {
			return stale, nil
		}
		return nil, f.err
	}
	return f.val, nil
}

// refreshAhead starts the background refresh this caller claimed.
func (m *Manager) refreshAhead(id string, cur *entry) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed.Load() || m.flights[id] != nil {
		return // the running flight will replace the entry or release the claim
	}
	if e, ok := m.cache.Peek(id); !ok || e != cur {
		return // replaced or dropped meanwhile: cur's refresh token may be spent
	}
	if !m.reserveLookup() {
		return // the lookups are saturated; a later hit claims the refresh again
	}
	m.refreshes.Add(1)
	m.start(id, cur, true)
}

// remembered returns the refusal remembered for id, if any. m.mu must be
// held.
func (m *Manager) remembered(id string, now int64) error {
	if n, ok := m.notes.Peek(id); ok {
		if err := n.active(now); err != nil {
			return err
		}
	}
	if r, ok := m.strangers.Peek(id); ok {
		return r.active(now)
	}
	return nil
}

// reserveLookup takes one of the Config.MaxLookups slots for a flight's
// TenantSource lookup, reporting false when all are taken; the flight gives
// it back when its lookup returns. A static Tenants map needs none. m.mu
// must be held: increments happen only under it, so the check cannot be
// overtaken.
func (m *Manager) reserveLookup() bool {
	if m.static || m.cfg.MaxLookups < 0 {
		return true
	}
	if m.lookups.Load() >= int64(m.cfg.MaxLookups) {
		return false
	}
	m.lookups.Add(1)
	return true
}

// start launches a flight. m.mu must be held.
func (m *Manager) start(id string, stale *entry, background bool) *flight {
	f := &flight{done: make(chan struct{}), stale: stale}
	m.flights[id] = f
	m.wg.Add(1)
	go m.run(id, f, background)
	return f
}

// run performs a flight and publishes its result: the cache first, then the
// waiters, so that a caller arriving after the flight ends finds the token.
func (m *Manager) run(id string, f *flight, background bool) {
	defer m.wg.Done()
	ctx, cancel := context.WithTimeout(m.ctx, m.cfg.FetchTimeout)
	defer cancel()

	// The result is published from a deferred call so that waiters are
	// released even when the Provider ends its goroutine with
	// runtime.Goexit (t.FailNow in a test double), which recover cannot see.
	var (
		val      *entry
		err      error
		returned bool
	)
	defer func() {
		if !returned {
			val, err = nil, fmt.Errorf("tenantauth: tenant %q: %w", id, errProviderPanic)
		}
		m.publish(id, f, val, err, background)
	}()
	val, err = m.fetchSafely(ctx, id, f.stale, background)
	if err != nil && m.ctx.Err() != nil {
		err = fmt.Errorf("%w: %w", ErrClosed, err)
	}
	returned = true
}

// publish stores a flight's result and releases its waiters.
func (m *Manager) publish(id string, f *flight, val *entry, err error, background bool) {
	now := m.preciseNow()
	m.mu.Lock()
	switch {
	case err == nil && !f.forgotten:
		m.cache.Set(id, val, val.refreshAt, val.staleAt)
	case err == nil:
	case m.cfg.BadCredentialsTTL <= 0 || f.forgotten:
	case errors.Is(err, ErrUnknownTenant):
		m.strangers.Add(id, refusal{&refusedError{tenant: id, err: err}, now + int64(m.cfg.BadCredentialsTTL)})
	case refused(err):
		m.note(id).refusal = refusal{&refusedError{tenant: id, err: err}, now + int64(m.cfg.BadCredentialsTTL)}
	}
	if err != nil && f.stale != nil {
		// Release the refresh claim, and hold off the next background
		// attempt for a while so a failing endpoint is not hammered.
		m.cache.Postpone(id, f.stale, now+retryDelay(f.stale.staleAt-now))
	}
	if m.flights[id] == f {
		delete(m.flights, id)
	}
	m.mu.Unlock()

	if err != nil {
		level := slog.LevelWarn
		if errors.Is(err, ErrClosed) {
			level = slog.LevelDebug
		}
		m.log.LogAttrs(context.Background(), level, "tenantauth: token fetch failed",
			slog.String("tenant", id), slog.Bool("background", background), slog.String("error", err.Error()))
	}
	f.val, f.err = val, err
	close(f.done)
}

// retryDelay is how long a failed background refresh waits before the next
// one may be claimed: a quarter of the time left before the token goes
// stale, between 250 ms and 30 s.
func retryDelay(untilStale int64) int64 {
	return min(max(untilStale/4, int64(250*time.Millisecond)), int64(30*time.Second))
}

// refused reports whether err is a refusal of the tenant's request that
// asking again will not change, and so is remembered for the tenant: its
// credentials, its grant, its scope refused (any 4xx but 408 and 429, or
// an error in a 2xx), a tenant record that cannot make a request, an
// endpoint that redirects or is not https. Transient failures (408, 429,
// 5xx, network) are left to the retries and the breaker.
func refused(err error) bool {
	var te *TokenError
	if errors.As(err, &te) {
		return te.TenantFault()
	}
	return errors.Is(err, ErrInvalidCredentials) || errors.Is(err, errNoProvider) ||
		errors.Is(err, ErrRedirect) || errors.Is(err, ErrInsecureEndpoint)
}

// fetchSafely is fetch with a provider panic turned into an error, so that
// waiters never hang and the process survives a buggy Provider.
func (m *Manager) fetchSafely(ctx context.Context, id string, stale *entry, background bool) (e *entry, err error) {
	defer func() {
		if r := recover(); r != nil {
			// The panic value may hold request data: log only its type.
			m.log.LogAttrs(context.Background(), slog.LevelError, "tenantauth: provider panicked",
				slog.String("tenant", id), slog.String("panic_type", fmt.Sprintf("%T", r)),
				slog.String("stack", string(debug.Stack())))
			e, err = nil, fmt.Errorf("tenantauth: tenant %q: %w", id, errProviderPanic)
		}
	}()
	return m.fetch(ctx, id, stale, background)
}

var errProviderPanic = errors.New("tenantauth: provider panicked")

// fetch looks the tenant up and obtains a token: with the stale token's
// refresh token when it has a usable one, falling back to the full grant
// when the refresh is refused.
func (m *Manager) fetch(ctx context.Context, id string, stale *entry, background bool) (*entry, error) {
	t, err := m.lookup(ctx, id)
	if err != nil {
		return nil, err
	}
	if t.Provider == nil {
		return nil, fmt.Errorf("tenantauth: tenant %q: %w", id, errNoProvider)
	}
	endpoint := RedactURL(t.Provider.Endpoint())
	attempt := exchange{m: m, id: id, provider: t.Provider, endpoint: endpoint, background: background}

	if stale != nil && stale.tok.RefreshToken != "" &&
		(stale.tok.RefreshExpiry.IsZero() || m.wallNow().Before(stale.tok.RefreshExpiry)) {
		tok, err := attempt.do(ctx, TokenRequest{Grant: GrantRefreshToken, Credentials: t.Credentials, RefreshToken: stale.tok.RefreshToken})
		if err == nil {
			return m.newEntry(tok, t, endpoint)
		}
		if errors.Is(err, ErrCircuitOpen) || ctx.Err() != nil {
			return nil, err
		}
		m.log.LogAttrs(ctx, slog.LevelDebug, "tenantauth: refresh failed; using the full grant",
			slog.String("tenant", id), slog.String("error", err.Error()))
	}
	tok, err := attempt.do(ctx, TokenRequest{Grant: t.Credentials.EffectiveGrant(), Credentials: t.Credentials})
	if err != nil {
		return nil, err
	}
	return m.newEntry(tok, t, endpoint)
}

var errNoProvider = errors.New("tenantauth: tenant has no Provider")

// lookup asks the TenantSource for id and gives back the lookup slot the
// flight holds. A tenant returned under another ID is refused: a store that
// matches IDs case-insensitively would otherwise give one tenant an entry
// per spelling, each with its own token request, and Forget of one
// spelling would leave the others holding the old token.
func (m *Manager) lookup(ctx context.Context, id string) (Tenant, error) {
	if !m.static && m.cfg.MaxLookups > 0 {
		defer m.lookups.Add(-1) // deferred: a TenantSource may panic
	}
	t, err := m.cfg.Tenants.Tenant(ctx, id)
	switch {
	case errors.Is(err, ErrUnknownTenant):
		return Tenant{}, &unknownTenantError{id: id, err: err}
	case err != nil:
		return Tenant{}, fmt.Errorf("tenantauth: tenant %q: %w", id, err)
	case t.ID != "" && t.ID != id:
		return Tenant{}, &unknownTenantError{id: id, canonical: t.ID}
	}
	t.ID = id
	return t, nil
}

// errExpiredToken is returned when a token endpoint hands out a token
// that has already expired by the Manager's clock.
var errExpiredToken = fmt.Errorf("%w: token already expired", ErrMalformedResponse)

// newEntry seals tok and computes its deadlines on the Manager's clock. The
// margins (skew, refresh window) are fractions of the token's full lifetime,
// but they count down from its real expiry: a token issued some time ago
// keeps only what is left of its life.
func (m *Manager) newEntry(tok *Token, t Tenant, endpoint string) (*entry, error) {
	wall := m.wallNow()
	if tok.IssuedAt.IsZero() {
		tok.IssuedAt = wall
	}
	lifetime, remaining := m.cfg.DefaultLifetime, m.cfg.DefaultLifetime
	if !tok.Expiry.IsZero() {
		lifetime = tok.Expiry.Sub(tok.IssuedAt)
		remaining = min(tok.Expiry.Sub(wall), lifetime)
	}
	if remaining <= 0 {
		return nil, fmt.Errorf("%w (endpoint %s, expiry %s)", errExpiredToken, endpoint, tok.Expiry.Format(time.RFC3339))
	}
	tok.TokenType = CanonicalTokenType(tok.TokenType)
	if tok.TokenType == "" {
		tok.TokenType = "Bearer"
	}
	tok.seal()
	refreshAfter, staleAfter := m.policy.Deadlines(lifetime)
	elapsed := lifetime - remaining // time already spent before the token reached us
	now := m.preciseNow()
	e := &entry{
		tok:       tok,
		refreshAt: now + int64(refreshAfter-elapsed),
		staleAt:   now + int64(staleAfter-elapsed),
		expireAt:  now + int64(remaining),
	}
	if len(t.APIHosts) > 0 {
		e.hosts = append([]string(nil), t.APIHosts...)
	}
	e.insecure = t.AllowInsecureHTTP
	return e, nil
}

// exchange performs token requests for one flight: through the endpoint's
// circuit breaker, retrying transient failures with exponential backoff and
// full jitter, honouring Retry-After, within ctx's deadline.
type exchange struct {
	m          *Manager
	id         string
	provider   Provider
	endpoint   string
	background bool
}

var errNoAccessToken = errors.New("tenantauth: provider returned no access token")

func (x exchange) do(ctx context.Context, req TokenRequest) (*Token, error) {
	m := x.m
	for attempt := 1; ; attempt++ {
		start := time.Now()
		var tok *Token
		err := m.breakers.Do(x.endpoint, func() error {
			var err error
			tok, err = x.provider.Exchange(ctx, req)
			if err == nil && (tok == nil || tok.AccessToken == "") {
				err = fmt.Errorf("%w (endpoint %s)", errNoAccessToken, x.endpoint)
			}
			return err
		})
		m.fetches.Add(1)
		if err != nil {
			m.fetchErrors.Add(1)
		}
		if m.cfg.OnFetch != nil {
			m.cfg.OnFetch(FetchEvent{TenantID: x.id, Endpoint: x.endpoint, Grant: req.Grant,
				Background: x.background, Attempt: attempt, Duration: time.Since(start), Err: err})
		}
		if err == nil {
			m.log.LogAttrs(ctx, slog.LevelDebug, "tenantauth: token fetched", slog.String("tenant", x.id),
				slog.String("endpoint", x.endpoint), slog.String("grant", string(req.Grant)), slog.Int("attempt", attempt))
			return tok, nil
		}
		// A refresh token is never retried: after a timeout the server may
		// have used it already, and a rotating server would see it twice.
		// The caller falls back to the full grant instead.
		if attempt > m.cfg.Retries || req.Grant == GrantRefreshToken || !transient(err) {
			return nil, err
		}
		delay := backoff(m.cfg.RetryBackoff, attempt, err)
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < delay {
			return nil, err // waiting would outlive the fetch
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, err
		case <-t.C:
		}
	}
}

// transient reports whether another attempt may succeed: network errors,
// timeouts, 408, 429, 502, 503, 504. A 500 is usually a bug, not a blip;
// an open circuit is retried by nobody.
func transient(err error) bool {
	if errors.Is(err, ErrCircuitOpen) || errors.Is(err, context.Canceled) ||
		errors.Is(err, ErrRedirect) || errors.Is(err, ErrInsecureEndpoint) {
		return false
	}
	var te *TokenError
	if errors.As(err, &te) {
		switch te.StatusCode {
		case 408, 429, 502, 503, 504:
			return true
		}
		return false
	}
	return networkError(err)
}

// backoff returns the delay before retry number attempt: the server's
// Retry-After when it gave one, else full jitter over an exponentially
// growing window.
func backoff(base time.Duration, attempt int, err error) time.Duration {
	var te *TokenError
	if errors.As(err, &te) && te.RetryAfter > 0 {
		return te.RetryAfter
	}
	window := min(base<<(attempt-1), maxRetryBackoff)
	if window <= 0 {
		window = maxRetryBackoff
	}
	return rand.N(window) + 1
}

// endpointDown reports whether err says the token endpoint could not be
// reached or is failing, rather than refusing the tenant.
func (m *Manager) endpointDown(err error) bool {
	if errors.Is(err, ErrCircuitOpen) {
		return true
	}
	var te *TokenError
	if errors.As(err, &te) {
		return te.Temporary()
	}
	return networkError(err)
}

// networkError reports whether err says the exchange broke in transit: a
// net.Error (refused, reset, timeout), a connection closed before or during
// the answer (io.EOF, io.ErrUnexpectedEOF), or the fetch's deadline.
func networkError(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, context.DeadlineExceeded)
}

// Invalidate tells the Manager that an API rejected tok for tenantID (a 401):
// tok is dropped from the cache if it is still the tenant's cached token, so
// the next Token call fetches a new one. Comparing first means a burst of 401s
// carrying the same old token costs one token request, not one per 401.
// Forced refreshes are limited to one per tenant per Config.InvalidateCooldown:
// within it, Invalidate keeps the current token, so an API that rejects every
// fresh token cannot turn each request into a token request.
func (m *Manager) Invalidate(tenantID string, rejected *Token) {
	if rejected == nil {
		return
	}
	cur, ok := m.cache.Peek(tenantID)
	if !ok || cur.tok != rejected {
		return // already replaced or dropped
	}
	now := m.preciseNow()
	m.mu.Lock()
	n := m.note(tenantID)
	if m.cfg.InvalidateCooldown > 0 && now < n.cooldownUntil {
		m.mu.Unlock()
		return
	}
	n.cooldownUntil = now + int64(m.cfg.InvalidateCooldown)
	// Drop under m.mu: a concurrent Invalidate of the same token that sees
	// the cooldown must also see the token gone, or its caller would be
	// handed the rejected token again.
	dropped := m.cache.CompareAndDelete(tenantID, cur)
	m.mu.Unlock()
	if dropped {
		m.invalidations.Add(1)
		m.log.LogAttrs(context.Background(), slog.LevelDebug, "tenantauth: token invalidated", slog.String("tenant", tenantID))
	}
}

// Forget drops everything the Manager holds for tenantID: its cached token,
// a remembered refusal (of its credentials, grant or scope, or a remembered
// "unknown tenant"), its invalidation cooldown. A tenant has exactly one
// entry, under its exact ID (see [Manager.Token]), so this reaches all of it. Call it when a tenant is added or its
// credentials or configuration change: a fetch already under way finishes
// for its waiters, but its token is not cached and later callers fetch anew.
func (m *Manager) Forget(tenantID string) {
	m.mu.Lock()
	if f := m.flights[tenantID]; f != nil {
		// Its waiters still get its result, but later callers start a
		// fetch with the new credentials instead of joining it.
		f.forgotten = true
		delete(m.flights, tenantID)
	}
	m.notes.Remove(tenantID)
	m.strangers.Remove(tenantID)
	m.cache.Delete(tenantID)
	m.mu.Unlock()
}

// note returns tenantID's note, creating it. m.mu must be held.
func (m *Manager) note(tenantID string) *note {
	n, ok := m.notes.Get(tenantID)
	if !ok {
		n = &note{}
		m.notes.Add(tenantID, n)
	}
	return n
}

// Close stops the Manager: fetches under way are cancelled (their waiters get
// an error matching ErrClosed), the background clock stops, and Close returns
// once every goroutine the Manager started has ended. Later calls to Token
// return ErrClosed. Close is idempotent.
func (m *Manager) Close() error {
	m.mu.Lock()
	if m.closed.Load() {
		m.mu.Unlock()
		return nil
	}
	m.closed.Store(true)
	m.mu.Unlock()
	m.cancel()
	if m.coarse != nil {
		m.coarse.stop()
	}
	m.wg.Wait()
	return nil
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
	// Invalidations counts tokens dropped by Invalidate.
	Invalidations uint64
	// Cached is the number of tenants with a cached token.
	Cached int
}

// Stats returns the current counters.
func (m *Manager) Stats() Stats {
	return Stats{
		Fetches:       m.fetches.Load(),
		FetchErrors:   m.fetchErrors.Load(),
		Refreshes:     m.refreshes.Load(),
		Invalidations: m.invalidations.Load(),
		Cached:        m.cache.Len(),
	}
}

// hostError refuses a destination: a host outside the tenant's APIHosts,
// or, when scheme is set, a plain-http URL.
type hostError struct{ tenant, host, scheme string }

func (e *hostError) Error() string {
	if e.scheme != "" {
		return fmt.Sprintf("tenantauth: tenant %q may not send its token over %q to host %q "+
			"(https is required off loopback unless the tenant or the middleware allows insecure http)",
			e.tenant, e.scheme, e.host)
	}
	return fmt.Sprintf("tenantauth: tenant %q may not send its token to host %q", e.tenant, e.host)
}

func (e *hostError) Unwrap() error {
	if e.scheme != "" {
		return ErrInsecureEndpoint
	}
	return ErrHostNotAllowed
}

// unknownTenantError is ErrUnknownTenant for one ID: the TenantSource does
// not know it (err, when it said more than ErrUnknownTenant), or returned
// a tenant whose ID is canonical instead.
type unknownTenantError struct {
	id, canonical string
	err           error
}

func (e *unknownTenantError) Error() string {
	switch {
	case e.canonical != "":
		return fmt.Sprintf("tenantauth: unknown tenant %q: the TenantSource returned tenant %q; "+
			"ask for a tenant by its own ID, spelled exactly", e.id, e.canonical)
	case e.err != nil && e.err != ErrUnknownTenant:
		return fmt.Sprintf("tenantauth: tenant %q: %v", e.id, e.err)
	}
	return fmt.Sprintf("tenantauth: unknown tenant %q", e.id)
}

func (e *unknownTenantError) Unwrap() []error {
	if e.err != nil && e.err != ErrUnknownTenant {
		return []error{ErrUnknownTenant, e.err}
	}
	return []error{ErrUnknownTenant}
}

// busyError says that a fetch was not started because Config.MaxLookups
// TenantSource lookups were already under way.
type busyError struct {
	id    string
	limit int
}

func (e *busyError) Error() string {
	return fmt.Sprintf("tenantauth: tenant %q: %d tenant lookups already under way; not looked up (Config.MaxLookups)", e.id, e.limit)
}
func (e *busyError) Unwrap() error { return ErrTooManyLookups }

func errConfig(msg string) error { return &configError{msg} }

type configError struct{ msg string }

func (e *configError) Error() string { return "tenantauth: invalid config: " + e.msg }

// A refusedError is a remembered refusal: the tenant's credentials were
// refused (or the tenant is unknown) moments ago, so the token endpoint is
// not asked again before Config.BadCredentialsTTL has passed.
type refusedError struct {
	tenant string
	err    error
}

func (e *refusedError) Error() string {
	return fmt.Sprintf("tenantauth: tenant %q: refused recently, not retried yet: %v", e.tenant, e.err)
}
func (e *refusedError) Unwrap() error { return e.err }

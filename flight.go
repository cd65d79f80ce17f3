package tenantauth

// This file is the slow path: one flight per tenant fetches its token, in
// its own goroutine on its own deadline, and publishes it to the cache.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime/debug"
	"slices"
	"sync/atomic"
	"time"

	"github.com/tenantauth/tenantauth/cache"
	"github.com/tenantauth/tenantauth/shared"
)

// flight is one token fetch for one tenant, shared by every waiter.
type flight struct {
	// done is closed when the result is set. Made (under the stripe's
	// lock) only for a flight someone waits on: a caller that runs its
	// flight itself, alone, needs none.
	done  chan struct{}
	val   *entry
	err   error
	stale *entry // the entry being replaced, for its refresh token
	// forgotten is set (under the stripe's lock) when Forget ran meanwhile: the result
	// is not cached. Atomic so that publish can read it before the lock.
	forgotten atomic.Bool
	// urgent is non-nil for a refresh-ahead flight, which waits for its
	// admission slot behind the callers' fetches; it is closed when a
	// caller starts waiting on the flight (promoted is set then), so that
	// the caller does not wait behind them too.
	urgent   chan struct{}
	promoted atomic.Bool

	// For the Observer only (set when there is one): the context of the
	// call that started the flight, and the callers that waited on it.
	caller  context.Context
	waiters atomic.Int32
	// What the flight did, written by its own goroutine only: for
	// FetchDone.
	endpoint string
	grant    Grant
	attempts int
	source   FetchSource

	// st is the tenant's stripe.
	st *stripe

	// res points to the fetched entry's cache node until publish stores
	// it; ctx is the fetch's context, part of the flight so that a miss
	// does not allocate it on its own.
	res fetched
	ctx flightCtx
}

// join tells f that a caller waits on it. The stripe's lock is held.
func (f *flight) join() {
	if f.done == nil {
		f.done = make(chan struct{})
	}
	if f.caller != nil {
		f.waiters.Add(1)
	}
	if f.urgent != nil && f.promoted.CompareAndSwap(false, true) {
		close(f.urgent)
	}
}

// background reports whether nobody waits on f: it is a refresh-ahead
// flight that no caller has joined.
func (f *flight) background() bool { return f.urgent != nil && !f.promoted.Load() }

// wait joins or starts the tenant's flight and waits for it or for ctx.
func (m *Manager) wait(ctx context.Context, id string, stale *entry, now int64) (*entry, error) {
	if id == "" {
		return nil, errEmptyTenantID
	}
	if err := ctx.Err(); err != nil {
		return nil, err // nobody would wait for what a fetch brings
	}
	if m.static && stale == nil {
		if _, ok := m.cfg.Tenants.(Tenants)[id]; !ok {
			return nil, &unknownTenantError{id: id}
		}
	}
	// slot is a lookup slot this caller waited for (see awaitLookup); it
	// goes to the flight the caller starts, or back.
	slot := false
	defer func() {
		if slot {
			m.releaseLookup()
		}
	}()
	var f *flight
	st := m.stripe(id)
	for {
		st.mu.Lock()
		if m.closed.Load() {
			st.mu.Unlock()
			return nil, ErrClosed
		}
		if err := m.remembered(st, id, now); err != nil {
			st.mu.Unlock()
			return nil, err
		}
		if f = st.flights[id]; f != nil {
			f.join()
			break
		}
		// A flight may have ended between the caller's miss and this lock:
		// look again before starting another.
		e, state := m.cache.Get(id, m.now())
		if state != cache.Miss {
			st.mu.Unlock()
			if state == cache.Refresh {
				m.refreshAhead(ctx, id, e)
			}
			return e, nil
		}
		if e != nil {
			stale = e
		}
		if stale != nil && m.heldOff(st, id, now) && m.untilExpiry(&stale.tok) > 0 {
			st.mu.Unlock()
			return stale, nil // its endpoint was down moments ago
		}
		if !slot && !m.reserveLookup() {
			st.mu.Unlock()
			// As when the endpoint is down: a token past its safety
			// margin but not expired beats waiting, or an error.
			if stale != nil && m.untilExpiry(&stale.tok) > 0 {
				return stale, nil
			}
			if err := m.awaitLookup(ctx, id); err != nil {
				return nil, err
			}
			slot = true
			continue // another caller may have started the flight meanwhile
		}
		slot = false // the flight gives it back after its lookup
		// A caller that can never give up (its context has no Done
		// channel) would wait for the fetch anyway: it runs the flight
		// itself, and neither it nor the flight pays a goroutine start and
		// a wake-up. Any other caller hands it to a goroutine, so that it
		// can leave without cancelling the fetch for the others.
		inline := ctx.Done() == nil
		f = m.start(st, ctx, id, stale, false, !inline)
		if inline {
			st.mu.Unlock()
			m.run(id, f)
			return m.result(f, stale)
		}
		break
	}
	st.mu.Unlock()

	select {
	case <-f.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return m.result(f, stale)
}

// result is what a caller of a finished flight f gets.
func (m *Manager) result(f *flight, stale *entry) (*entry, error) {
	if f.err != nil {
		// An unreachable endpoint should not take down a tenant whose token,
		// though inside its safety margin, has not expired yet.
		if stale != nil && (m.endpointDown(f.err) || errors.Is(f.err, errRefreshElsewhere)) && m.untilExpiry(&stale.tok) > 0 {
			return stale, nil
		}
		return nil, f.err
	}
	return f.val, nil
}

// refreshAhead starts the background refresh this caller claimed.
func (m *Manager) refreshAhead(ctx context.Context, id string, cur *entry) {
	st := m.stripe(id)
	st.mu.Lock()
	defer st.mu.Unlock()
	// The caller holds cur's refresh claim: every path that starts no
	// flight for cur must release it (Postpone), or no later hit could
	// claim the refresh again and the tenant would wait on a blocking miss.
	hold := func() {
		now := m.preciseNow()
		m.cache.Postpone(id, cur, now+retryDelay(int64(m.untilExpiry(&cur.tok))))
	}
	if m.closed.Load() {
		return
	}
	if f := st.flights[id]; f != nil {
		if f.stale != cur {
			hold() // that flight will not replace or release cur
		}
		return
	}
	if e, ok := m.cache.Peek(id); !ok || e != cur {
		return // replaced or dropped meanwhile: cur's refresh token may be spent
	}
	if m.remembered(st, id, m.now()) != nil || !m.reserveLookup() {
		hold() // refused recently, or the lookups are saturated: try later
		return
	}
	m.refreshes.Add(1)
	m.start(st, ctx, id, cur, true, true)
}

// reserveLookup takes one of the Config.MaxLookups slots for a flight's
// TenantSource lookup if one is free, reporting false when all are taken;
// the flight gives it back when its lookup returns. A static Tenants map
// needs none.
func (m *Manager) reserveLookup() bool {
	return m.lookupSlots == nil || m.lookupSlots.tryTake()
}

// awaitLookup waits for a lookup slot, first come first served, for as
// long as ctx allows and at most Config.FetchTimeout: a cold start of more
// tenants than Config.MaxLookups queues instead of failing, while a flood
// of tenant IDs still starts no more than MaxLookups flights.
func (m *Manager) awaitLookup(ctx context.Context, id string) error {
	w := m.lookupSlots.queue()
	t := time.NewTimer(m.cfg.FetchTimeout)
	defer t.Stop()
	var err error
	select {
	case <-w.ready:
		return nil
	case <-ctx.Done():
		err = &busyError{id: id, limit: m.cfg.MaxLookups, cause: ctx.Err()}
	case <-t.C:
		err = &busyError{id: id, limit: m.cfg.MaxLookups}
	case <-m.ctx.Done():
		err = ErrClosed
	}
	m.lookupSlots.drop(w)
	return err
}

// releaseLookup gives a lookup slot back.
func (m *Manager) releaseLookup() {
	if m.lookupSlots != nil {
		m.lookupSlots.give()
	}
}

// start registers a flight and, with async, launches it in a goroutine;
// otherwise the caller must call run itself. ctx is the caller's, for the
// Observer only. st is id's stripe; its lock must be held.
func (m *Manager) start(st *stripe, ctx context.Context, id string, stale *entry, background, async bool) *flight {
	f := &flight{stale: stale}
	if async {
		f.done = make(chan struct{}) // its starter waits on it
	}
	if background {
		f.urgent = make(chan struct{})
	}
	if m.obs != nil {
		f.caller = ctx
		if !background {
			f.waiters.Store(1)
		}
	}
	st.flights[id] = f
	f.st = st
	st.running.Add(1)
	if async {
		go m.run(id, f)
	}
	return f
}

// run performs a flight and publishes its result: the cache first, then the
// waiters, so that a caller arriving after the flight ends finds the token.
func (m *Manager) run(id string, f *flight) {
	defer f.st.running.Done()
	fctx := &f.ctx
	fctx.init(m.ctx, time.Now().Add(m.cfg.FetchTimeout))
	defer fctx.release()
	var ctx context.Context = fctx

	// The result is published from a deferred call so that waiters are
	// released even when the Provider ends its goroutine with
	// runtime.Goexit (t.FailNow in a test double), which recover cannot see.
	var (
		r        *fetched
		err      error
		returned bool
		start    time.Time
	)
	defer func() {
		if !returned {
			r, err = nil, fmt.Errorf("tenantauth: tenant %q: %w", id, errProviderPanic)
		}
		if m.obs != nil {
			m.fetchDone(ctx, id, f, start, err)
		}
		m.publish(id, f, r, err)
	}()
	if m.obs != nil {
		start = time.Now()
		ctx = m.obs.FetchStart(f.caller, ctx, FetchStart{TenantID: id, Background: f.urgent != nil})
	}
	r, err = m.fetchSafely(ctx, id, f)
	if err != nil && m.ctx.Err() != nil {
		err = fmt.Errorf("%w: %w", ErrClosed, err)
	}
	returned = true
}

// fetchDone tells the Observer how f ended. A panicking Observer must not
// keep the flight from being published (its waiters would hang).
func (m *Manager) fetchDone(ctx context.Context, id string, f *flight, start time.Time, err error) {
	defer func() {
		if p := recover(); p != nil {
			m.log.LogAttrs(context.Background(), slog.LevelError, "tenantauth: Observer.FetchDone panicked",
				slog.String("tenant", id), slog.String("panic_type", fmt.Sprintf("%T", p)))
		}
	}()
	src := f.source
	switch {
	case errors.Is(err, errRefreshElsewhere):
		// Not a failure: another replica refreshes, and its token comes
		// through the shared store.
		src, err = SourceElsewhere, nil
	case err != nil:
		src = SourceNone
	}
	m.obs.FetchDone(ctx, FetchDone{TenantID: id, Endpoint: f.endpoint, Grant: f.grant, Source: src,
		Background: f.background(), Waiters: int(f.waiters.Load()), Attempts: f.attempts,
		Duration: time.Since(start), Err: err})
}

// publish stores a flight's result (r, nil on error) and releases its
// waiters, who get the cache's copy of the entry when it is cached.
func (m *Manager) publish(id string, f *flight, r *fetched, err error) {
	var val *entry
	var now int64 // for a failure's deadlines: a success needs no clock
	if err != nil {
		now = m.preciseNow()
	}
	st := f.st
	st.mu.Lock()
	switch {
	case err == nil && !f.forgotten.Load():
		// Stored under the stripe's lock, with the flight removed in the
		// same critical section: a caller who finds no flight finds the
		// token, and Forget (which takes that lock) is either before the
		// store or after it.
		val = m.cache.Store(id, r.node, r.refreshAt, r.staleAt)
	case err == nil:
		val = r.node.Value() // not cached: the node is the caller's own
	case m.cfg.BadCredentialsTTL <= 0 || f.forgotten.Load():
	case errors.Is(err, ErrUnknownTenant):
		m.addStranger(st, id, refusal{m.refusedError(id, err), now + int64(m.cfg.BadCredentialsTTL)})
	case refused(err):
		m.note(st, id).refusal = refusal{m.refusedError(id, err), now + int64(m.cfg.BadCredentialsTTL)}
	}
	f.res = fetched{} // on every path: the flight keeps no token
	if err != nil && f.stale != nil {
		// Release the refresh claim, and hold off the next background
		// attempt for a while so a failing endpoint is not hammered.
		left := m.untilExpiry(&f.stale.tok)
		hold := now + retryDelay(int64(left))
		m.cache.Postpone(id, f.stale, hold)
		if left > 0 && m.endpointDown(err) && !f.forgotten.Load() {
			// Callers get the stale token meanwhile (see result), without
			// a flight each.
			m.note(st, id).heldUntil = hold
		}
	} else if err == nil {
		if n, ok := st.peekNote(id); ok {
			n.heldUntil = 0
		}
	}
	if st.flights[id] == f {
		delete(st.flights, id)
	}
	// Nobody can join f now: its done channel, if any, is final.
	done := f.done
	st.mu.Unlock()

	// Waiters first: a log handler that panics must not keep them waiting.
	f.val, f.err = val, err
	if done != nil {
		close(done)
	}
	if err != nil {
		level := slog.LevelWarn
		if errors.Is(err, ErrClosed) || errors.Is(err, errRefreshElsewhere) {
			level = slog.LevelDebug
		}
		attrs := append([]slog.Attr{slog.String("tenant", id), slog.String("endpoint", f.endpoint),
			slog.String("grant", string(f.grant)), slog.Bool("background", f.background())}, errorAttrs(err)...)
		m.log.LogAttrs(context.Background(), level, "tenantauth: token fetch failed", attrs...)
	}
}

// refusedError remembers err, refused now, for Config.BadCredentialsTTL.
func (m *Manager) refusedError(id string, err error) *refusedError {
	at := m.wallNow()
	return &refusedError{tenant: id, err: err, at: at, until: at.Add(m.cfg.BadCredentialsTTL)}
}

// retryDelay is how long a failed background refresh waits before the next
// one may be claimed: a quarter of the time left before the token expires,
// between 250 ms and 30 s.
func retryDelay(untilExpiry int64) int64 {
	return min(max(untilExpiry/4, int64(250*time.Millisecond)), int64(30*time.Second))
}

// untilExpiry is how long t has left before it expires (DefaultLifetime
// after it was issued when the server gave no lifetime).
func (m *Manager) untilExpiry(t *Token) time.Duration {
	exp := t.Expiry
	if exp.IsZero() {
		exp = t.IssuedAt.Add(m.cfg.DefaultLifetime)
	}
	return exp.Sub(m.wallNow())
}

// fetchSafely is fetch with a provider panic turned into an error, so that
// waiters never hang and the process survives a buggy Provider.
func (m *Manager) fetchSafely(ctx context.Context, id string, f *flight) (r *fetched, err error) {
	defer func() {
		if p := recover(); p != nil {
			// The panic value may hold request data: log only its type.
			m.log.LogAttrs(context.Background(), slog.LevelError, "tenantauth: provider panicked",
				slog.String("tenant", id), slog.String("panic_type", fmt.Sprintf("%T", p)),
				slog.String("stack", string(debug.Stack())))
			r, err = nil, fmt.Errorf("tenantauth: tenant %q: %w", id, errProviderPanic)
		}
	}()
	return m.fetch(ctx, id, f)
}

var errProviderPanic = errors.New("tenantauth: provider panicked")

// fetch looks the tenant up and obtains a token: with the stale token's
// refresh token when it has a usable one, falling back to the full grant
// when the refresh is refused.
func (m *Manager) fetch(ctx context.Context, id string, f *flight) (*fetched, error) {
	stale := f.stale
	t, err := m.lookup(ctx, id)
	if err != nil {
		return nil, err
	}
	if t.Provider == nil {
		return nil, fmt.Errorf("tenantauth: tenant %q: %w", id, errNoProvider)
	}
	endpoint := RedactURL(t.Provider.Endpoint())
	f.endpoint = endpoint
	sf := sharedFetch{useRefresh: true}
	if m.shared != nil {
		if sf, err = m.fromShared(ctx, id, t, endpoint, f); err != nil || sf.r != nil {
			f.source = SourceShared
			return sf.r, err
		}
		if !sf.fence.IsZero() {
			defer func() {
				if !sf.fence.IsZero() { // not handed to the background store
					m.shared.unlock(sf.fence)
				}
			}()
		}
	}
	var tok *Token
	// The breaker counts the fetch once, whatever its retries and its
	// fall back from the refresh token to the full grant: two callers of a
	// dead endpoint are two failures, not six.
	err = m.breakers.Do(endpoint, func() error {
		var err error
		tok, err = m.obtain(ctx, id, t, endpoint, f, sf.useRefresh)
		return err
	})
	if err != nil {
		return nil, &tenantError{tenant: id, endpoint: endpoint, err: err}
	}
	// Outside the breaker: a token that is already expired is the tenant's
	// (or the server's clock's) problem, not the endpoint's availability.
	r, err := m.newEntry(&f.res, tok, t, endpoint, stale)
	if err != nil {
		return nil, &tenantError{tenant: id, endpoint: endpoint, err: err}
	}
	if m.shared != nil && !f.forgotten.Load() {
		// Stored, announced and unlocked after the waiters have their
		// token: a slow store must not hold them up.
		tok, fence := r.node.Value().tok, sf.fence
		started := m.background(func() {
			// Not on m.ctx: Close waits for this write (each store call
			// is bounded by the budget) rather than losing the token.
			if !f.forgotten.Load() { // Forget may have come meanwhile
				m.storeShared(context.Background(), id, &tok, fence)
			}
			if !fence.IsZero() {
				m.shared.unlock(fence)
			}
		})
		if started {
			sf.fence = shared.Fence{} // the background unlocks it
		}
	}
	f.source = SourceEndpoint
	return r, nil
}

// obtain performs the token requests of one fetch: the refresh token first
// when the stale entry has a usable one (and useRefresh: with a shared
// store, only under the tenant's lock), else (or when it is refused or
// brings an already expired token) the tenant's full grant.
func (m *Manager) obtain(ctx context.Context, id string, t Tenant, endpoint string, f *flight, useRefresh bool) (*Token, error) {
	stale := f.stale
	attempt := exchange{m: m, id: id, provider: t.Provider, endpoint: endpoint, flight: f}

	if useRefresh && stale != nil && stale.tok.RefreshToken != "" &&
		(stale.tok.RefreshExpiry.IsZero() || m.wallNow().Before(stale.tok.RefreshExpiry)) {
		tok, err := attempt.do(ctx, TokenRequest{Grant: GrantRefreshToken, Credentials: t.Credentials, RefreshToken: stale.tok.RefreshToken})
		if err == nil && (tok.Expiry.IsZero() || tok.Expiry.After(m.wallNow())) {
			return tok, nil
		}
		if err == nil {
			err = errExpiredToken
		}
		if ctx.Err() != nil {
			return nil, err
		}
		m.log.LogAttrs(ctx, slog.LevelDebug, "tenantauth: refresh failed; using the full grant",
			slog.String("tenant", id), slog.String("error", err.Error()))
	}
	return attempt.do(ctx, TokenRequest{Grant: t.Credentials.EffectiveGrant(), Credentials: t.Credentials})
}

var errNoProvider = errors.New("tenantauth: tenant has no Provider")

// lookup asks the TenantSource for id and gives back the lookup slot the
// flight holds. A tenant returned under another ID is refused: a store that
// matches IDs case-insensitively would otherwise give one tenant an entry
// per spelling, each with its own token request, and Forget of one
// spelling would leave the others holding the old token.
func (m *Manager) lookup(ctx context.Context, id string) (Tenant, error) {
	defer m.releaseLookup() // deferred: a TenantSource may panic
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

// newEntry seals tok and computes its deadlines on the Manager's clock,
// into dst (the flight's res), which it returns. The
// margins (skew, refresh window) are fractions of the token's full lifetime,
// but they count down from its real expiry: a token issued some time ago
// keeps only what is left of its life.
func (m *Manager) newEntry(dst *fetched, tok *Token, t Tenant, endpoint string, stale *entry) (*fetched, error) {
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
	if window := staleAfter - refreshAfter; window > 1 {
		// Tokens issued together with the same lifetime must not all
		// refresh together: each starts its refresh at a random point of
		// the first half of its window, leaving the second half for
		// retries before the token goes stale.
		refreshAfter += rand.N(window / 2)
	}
	elapsed := lifetime - remaining // time already spent before the token reached us
	now := m.preciseNow()
	node := new(cache.Prepared[entry])
	*node.Value() = entry{tok: *tok, dest: m.destination(t, stale)}
	*dst = fetched{
		node:      node,
		refreshAt: now + int64(refreshAfter-elapsed),
		staleAt:   now + int64(staleAfter-elapsed),
	}
	return dst, nil
}

// fetched is a new entry, built in the cache node that will hold it (so
// that storing it copies nothing), and its deadlines on the Manager's
// clock: refresh in the background from refreshAt, stop serving from
// staleAt.
type fetched struct {
	node               *cache.Prepared[entry]
	refreshAt, staleAt int64
}

// destination returns t's destination rules and DPoP key: nil for the
// default (no APIHosts, no plain http, no DPoP), the stale entry's when they have not changed
// (a refresh allocates nothing for them), else a copy, so that a caller
// changing t.APIHosts later cannot change them.
func (m *Manager) destination(t Tenant, stale *entry) *destination {
	dpop := t.Credentials.DPoP
	switch {
	case len(t.APIHosts) == 0 && !t.AllowInsecureHTTP && dpop == nil:
		return nil
	case len(t.APIHosts) == 1 && t.APIHosts[0] == AnyHost && dpop == nil:
		// The common "any host" needs no copy per tenant.
		if t.AllowInsecureHTTP {
			return anyHostInsecure
		}
		return anyHostSecure
	}
	if stale != nil && stale.dest != nil && stale.dest.insecure == t.AllowInsecureHTTP &&
		stale.dest.dpop == dpop && slices.Equal(stale.dest.hosts, t.APIHosts) {
		return stale.dest
	}
	return &destination{hosts: slices.Clone(t.APIHosts), insecure: t.AllowInsecureHTTP, dpop: dpop}
}

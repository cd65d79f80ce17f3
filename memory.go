package tenantauth

// This file is what the Manager remembers besides tokens: refusals,
// invalidation cooldowns, and the calls that change them.

import (
	"context"
	"errors"
	"log/slog"
)

// note remembers what the slow path must know about a known tenant.
type note struct {
	refusal             // remembered refusal of the tenant's request
	cooldownUntil int64 // no forced refresh before
	// heldUntil: the tenant's endpoint was down when its token, past its
	// safety margin, was last due; until then callers get that token
	// without a fetch, so that an outage does not cost a tenant lookup
	// and a flight per request.
	heldUntil int64
	// rejected is set, with rejectedFP the token's fingerprint, when an
	// API rejected the tenant's token (here or, with a shared store, on
	// another replica): that token is never taken from the store again.
	rejected   bool
	rejectedFP [fingerprintSize]byte
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

// remembered returns the refusal remembered for id, if any. st is id's
// stripe; its lock must be held.
func (m *Manager) remembered(st *stripe, id string, now int64) error {
	if n, ok := st.peekNote(id); ok {
		if err := n.active(now); err != nil {
			return err
		}
	}
	if st.strangers != nil {
		if r, ok := st.strangers.Peek(id); ok {
			return r.active(now)
		}
	}
	return nil
}

// heldOff reports whether id's stale token is served without a fetch
// because its endpoint was down moments ago. st is id's stripe; its lock
// must be held.
func (m *Manager) heldOff(st *stripe, id string, now int64) bool {
	n, ok := st.peekNote(id)
	return ok && now < n.heldUntil
}

// refused reports whether err is a refusal of the tenant's request that
// asking again will not change, and so is remembered for the tenant: its
// credentials, its grant, its scope refused (any 4xx but 408 and 429, or
// an error in a 2xx), a tenant record that cannot make a request, an
// endpoint that redirects or is not https. Transient failures (408, 429,
// 5xx, network) are left to the retries and the breaker.
func refused(err error) bool {
	// A *TokenError, or a tenant record that cannot make a request
	// (ErrIncompleteCredentials, ErrUnsupportedGrant), says itself.
	var tf interface{ TenantFault() bool }
	if errors.As(err, &tf) {
		return tf.TenantFault()
	}
	return errors.Is(err, ErrInvalidCredentials) || errors.Is(err, errNoProvider) ||
		errors.Is(err, ErrRedirect) || errors.Is(err, ErrInsecureEndpoint)
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
	if !ok || &cur.tok != rejected {
		return // already replaced or dropped
	}
	now := m.preciseNow()
	st := m.stripe(tenantID)
	st.mu.Lock()
	n := m.note(st, tenantID)
	if m.cfg.InvalidateCooldown > 0 && now < n.cooldownUntil {
		st.mu.Unlock()
		return
	}
	n.cooldownUntil = now + int64(m.cfg.InvalidateCooldown)
	// Drop under the stripe's lock: a concurrent Invalidate of the same token that sees
	// the cooldown must also see the token gone, or its caller would be
	// handed the rejected token again.
	dropped := m.cache.CompareAndDelete(tenantID, cur)
	if dropped && m.shared != nil {
		n.rejected, n.rejectedFP = true, fingerprint(cur.tok.AccessToken)
	}
	st.mu.Unlock()
	if dropped && m.shared != nil {
		m.invalidateShared(tenantID, cur.tok.AccessToken)
	}
	if dropped {
		m.invalidations.Add(1)
		if m.obs != nil {
			m.obs.Invalidated(Invalidation{TenantID: tenantID})
		}
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
	m.forgetLocal(tenantID)
	if m.shared != nil {
		m.forgetShared(tenantID)
	}
}

// forgetLocal is Forget on this replica only.
func (m *Manager) forgetLocal(tenantID string) {
	st := m.stripe(tenantID)
	st.mu.Lock()
	if f := st.flights[tenantID]; f != nil {
		// Its waiters still get its result, but later callers start a
		// fetch with the new credentials instead of joining it.
		f.forgotten.Store(true)
		delete(st.flights, tenantID)
	}
	st.forget(tenantID)
	m.cache.Delete(tenantID)
	st.mu.Unlock()
}

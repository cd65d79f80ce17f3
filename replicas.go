package tenantauth

// This file is how the Manager uses the shared store (sharedcache.go) on
// its slow paths: a flight reads it before the token endpoint and takes the
// tenant's cluster-wide lock; Invalidate and Forget reach every replica
// through it.

import (
	"context"
	"crypto/hmac"
	"log/slog"
	"time"

	"github.com/tenantauth/tenantauth/shared"
)

// sharedFetch is what the shared store decided for one flight.
type sharedFetch struct {
	r          *fetched     // a token found in the store: use it
	fence      shared.Fence // the tenant's lock, held: fetch, store, unlock
	useRefresh bool         // the stale token's refresh token may be used
}

// fromShared looks for id's token in the store before the token endpoint,
// and otherwise takes the tenant's lock or waits for the replica that holds
// it. Without an answer from the store the flight fetches alone, with the
// full grant: another replica may have used the refresh token already.
func (m *Manager) fromShared(ctx context.Context, id string, t Tenant, endpoint string, f *flight) (sharedFetch, error) {
	s := m.shared
	if r, answered := m.adopt(ctx, id, t, endpoint, f); r != nil {
		return sharedFetch{r: r}, nil
	} else if !answered {
		return sharedFetch{}, nil
	}
	fence, ok, answered := s.tryLock(ctx, id)
	if !answered {
		return sharedFetch{}, nil
	}
	if ok {
		return m.locked(ctx, id, t, endpoint, f, fence), nil
	}
	if f.background() {
		// Another replica is fetching this token; it arrives through the
		// store when this replica's copy goes stale.
		return sharedFetch{}, errRefreshElsewhere
	}
	return m.awaitReplica(ctx, id, t, endpoint, f), nil
}

// locked is fromShared's answer once the lock is taken: the holder of the
// lock that was just released may have stored the token meanwhile.
func (m *Manager) locked(ctx context.Context, id string, t Tenant, endpoint string, f *flight, fence shared.Fence) sharedFetch {
	r, answered := m.adopt(ctx, id, t, endpoint, f)
	if r != nil {
		m.shared.unlock(fence)
		return sharedFetch{r: r}
	}
	return sharedFetch{fence: fence, useRefresh: answered && m.claimRefresh(ctx, id, f)}
}

// claimRefresh reports whether this replica may spend its stale token's
// refresh token: only when the store still holds exactly that token, which
// it deletes (compare on the fingerprint) as a claim. A store that is
// empty, holds another token, or one this replica cannot open (sealed with
// a key it does not have yet) means another replica may have spent the
// refresh token already: the flight uses the full grant. The claim, not
// the lock, is what makes a refresh token spent once: a lock can expire
// while a slow refresh is still in flight, and the next holder then finds
// nothing to claim.
func (m *Manager) claimRefresh(ctx context.Context, id string, f *flight) bool {
	if f.stale == nil || f.stale.tok.RefreshToken == "" {
		return false
	}
	s := m.shared
	fp := fingerprint(f.stale.tok.AccessToken)
	claimed := false
	err := s.call(ctx, "delete", func(ctx context.Context) error {
		var err error
		claimed, err = s.store.DeleteIfPrefix(ctx, s.key(id), fp[:])
		return err
	})
	return err == nil && claimed
}

// awaitReplica waits, at most SharedConfig.Wait, for the replica holding
// id's lock to store its token, woken by its announcement (or polling, in
// case the announcement is lost). When the lock comes free it takes it;
// when the wait ends it lets the flight fetch alone.
func (m *Manager) awaitReplica(ctx context.Context, id string, t Tenant, endpoint string, f *flight) sharedFetch {
	s := m.shared
	s.waited.Add(1)
	deadline := time.Now().Add(s.wait)
	delay := 20 * time.Millisecond
	ch := s.waitChan(id)
	defer func() { s.stopWaiting(id, ch) }()
	timer := time.NewTimer(delay)
	defer timer.Stop()
	for {
		select {
		case <-ch:
			ch = s.waitChan(id)
		case <-timer.C:
			delay = min(delay*2, 500*time.Millisecond)
		case <-ctx.Done():
			return sharedFetch{}
		}
		if r, _ := m.adopt(ctx, id, t, endpoint, f); r != nil {
			return sharedFetch{r: r}
		}
		fence, ok, answered := s.tryLock(ctx, id)
		switch {
		case ok:
			return m.locked(ctx, id, t, endpoint, f, fence)
		case !answered:
			return sharedFetch{}
		}
		left := time.Until(deadline)
		if left <= 0 {
			m.log.LogAttrs(ctx, slog.LevelDebug, "tenantauth: no token from the replica holding the lock; fetching alone",
				slog.String("tenant", id))
			return sharedFetch{}
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(min(delay, left))
	}
}

// adopt returns a usable token of id's found in the store: newer than the
// flight's stale one, not rejected on this replica, and fresh by the local
// expiry rules. It reports whether the store answered.
func (m *Manager) adopt(ctx context.Context, id string, t Tenant, endpoint string, f *flight) (*fetched, bool) {
	s := m.shared
	tok, answered := s.get(ctx, id)
	if tok == nil {
		if answered {
			s.misses.Add(1)
		}
		return nil, answered
	}
	if tok.IsDPoP() || (f.stale != nil && tok.AccessToken == f.stale.tok.AccessToken) {
		s.misses.Add(1) // what this replica has: no newer one yet
		return nil, true
	}
	if m.rejectedHere(id, tok.AccessToken) {
		s.misses.Add(1)
		return nil, true
	}
	r, err := m.newEntry(&f.res, tok, t, endpoint, f.stale)
	if err != nil || r.staleAt <= m.preciseNow() {
		s.misses.Add(1)
		return nil, true
	}
	s.hits.Add(1)
	return r, true
}

// rejectedHere reports whether an API rejected the access token on this
// replica (or another announced it) since the tenant was last forgotten.
func (m *Manager) rejectedHere(id string, access Secret) bool {
	fp := fingerprint(access)
	st := m.stripe(id)
	st.mu.Lock()
	defer st.mu.Unlock()
	n, ok := st.peekNote(id)
	return ok && n.rejected && hmac.Equal(n.rejectedFP[:], fp[:])
}

// storeShared writes a token this replica fetched, fenced by the lock it
// holds (if any), and announces it to replicas waiting for it.
func (m *Manager) storeShared(ctx context.Context, id string, tok *Token, fence shared.Fence) {
	m.shared.put(ctx, id, tok, fence, m.wallNow())
	m.shared.publish(ctx, msgStored, id, nil)
}

// invalidateShared drops a token rejected on this replica from the store,
// then tells every replica to drop it. The drop is done before Invalidate
// returns, so that the caller's next fetch cannot read it back; the
// announcement goes in the background.
func (m *Manager) invalidateShared(id string, access Secret) {
	s := m.shared
	fp := fingerprint(access)
	_ = s.call(m.ctx, "delete", func(ctx context.Context) error {
		_, err := s.store.DeleteIfPrefix(ctx, s.key(id), fp[:])
		return err
	})
	m.background(func() { s.publish(m.ctx, msgInvalidated, id, fp[:]) })
}

// forgetShared drops the tenant's token from the store and tells every
// replica to forget the tenant.
func (m *Manager) forgetShared(id string) {
	s := m.shared
	_ = s.call(m.ctx, "delete", func(ctx context.Context) error {
		_, err := s.store.DeleteIfPrefix(ctx, s.key(id), nil)
		return err
	})
	m.background(func() { s.publish(m.ctx, msgForgotten, id, nil) })
}

// background runs fn in a goroutine that Close waits for, and reports
// whether it did: once Close has begun it does not, and the caller must
// release what fn would have.
func (m *Manager) background(fn func()) bool {
	m.bgMu.Lock()
	defer m.bgMu.Unlock()
	if m.closed.Load() {
		return false
	}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		fn()
	}()
	return true
}

// subscribe receives the other replicas' announcements until Close,
// subscribing again (after a pause that grows to 5 s) whenever the store
// drops the subscription or refuses it.
func (m *Manager) subscribe() {
	defer m.wg.Done()
	pause := 100 * time.Millisecond
	for m.ctx.Err() == nil {
		sub, cancel, err := m.subscribeOnce()
		if err == nil {
			pause = 100 * time.Millisecond
			<-sub.Done()
			cancel()
			if m.ctx.Err() != nil {
				return
			}
			m.log.LogAttrs(m.ctx, slog.LevelWarn, "tenantauth: shared store subscription lost; subscribing again",
				slog.String("error", errText(sub.Err())))
		}
		t := time.NewTimer(pause)
		select {
		case <-m.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		pause = min(pause*2, 5*time.Second)
	}
}

// subscribeOnce subscribes on a context of its own, which the caller
// cancels once the subscription is done, and which is cancelled at once if
// the store has not confirmed the subscription within subscribeTimeout: a
// hung store must not hold the subscription goroutine.
func (m *Manager) subscribeOnce() (shared.Subscription, context.CancelFunc, error) {
	ctx, cancel := context.WithCancel(m.ctx)
	t := time.AfterFunc(max(m.shared.budget, subscribeTimeout), cancel)
	sub, err := m.shared.store.Subscribe(ctx, m.receive)
	if !t.Stop() || err != nil {
		cancel()
		if err == nil {
			err = context.DeadlineExceeded
		}
		m.shared.failed("subscribe", err)
		return nil, nil, err
	}
	return sub, cancel, nil
}

// subscribeTimeout bounds how long the store may take to confirm a
// subscription.
const subscribeTimeout = time.Second

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// receive handles one announcement.
func (m *Manager) receive(msg []byte) {
	s := m.shared
	kind, id, fp, ok := s.parseMessage(msg)
	if !ok {
		return
	}
	s.received.Add(1)
	switch kind {
	case msgStored:
		s.wake(id)
	case msgInvalidated:
		if len(fp) == fingerprintSize && m.dropAnnounced(id, fp) && m.obs != nil {
			m.obs.Invalidated(Invalidation{TenantID: id, Remote: true})
		}
	case msgForgotten:
		m.forgetLocal(id)
	}
}

// dropAnnounced drops id's cached token if it is the one another replica
// announced rejected, and remembers that token as rejected so that it is
// not read back from the store. It reports whether a token was dropped.
func (m *Manager) dropAnnounced(id string, fp []byte) bool {
	st := m.stripe(id)
	st.mu.Lock()
	defer st.mu.Unlock()
	dropped := false
	if cur, ok := m.cache.Peek(id); ok && hmac.Equal(fp, fingerprintOf(&cur.tok)) {
		if dropped = m.cache.CompareAndDelete(id, cur); dropped {
			m.invalidations.Add(1)
		}
	}
	n := m.note(st, id)
	n.rejected = true
	copy(n.rejectedFP[:], fp)
	return dropped
}

func fingerprintOf(t *Token) []byte {
	fp := fingerprint(t.AccessToken)
	return fp[:]
}

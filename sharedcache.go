package tenantauth

// This file is the second level: a store shared by the replicas of a
// service (Config.Shared), read on a local miss before the token endpoint,
// locked per tenant so that one replica in the cluster fetches each token,
// written sealed, and used to tell every replica about invalidations.

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tenantauth/tenantauth/breaker"
	"github.com/tenantauth/tenantauth/shared"
)

// SharedConfig connects a Manager to a store that the replicas of a service
// share (see package shared; the Redis implementation is the nested module
// github.com/tenantauth/tenantauth/shared/redis). The zero value shares
// nothing.
//
// With a store, a local miss reads the store before the token endpoint; the
// replica that finds nothing takes the tenant's lock in the store and
// fetches, the others wait for its token (at most Wait) and fetch themselves
// if it never comes; a refresh token is spent only by the replica that
// takes the lock and removes from the store exactly the token it came with
// (a claim no other replica can win after it), so a rotating refresh token
// is never used by two replicas — any doubt means the full grant; a
// token an API rejected (Manager.Invalidate) and a tenant forgotten
// (Manager.Forget) are dropped from the store and announced to every
// replica. Every value is sealed with AES-256-GCM under Keys, the tenant ID
// bound as additional data.
//
// DPoP-bound tokens (Credentials.DPoP) are not shared: each is bound to the
// key of the replica that fetched it.
//
// The store is never on the hit path, and never required: each call is
// bounded by Budget and the store sits behind its own circuit breaker, so a
// slow or absent store makes the Manager behave as a lone one (with full
// grants instead of refresh tokens, which another replica may have used)
// until it answers again.
type SharedConfig struct {
	// Store is the shared store. Nil (the default) disables sharing.
	Store shared.Store

	// Keys seal the values: new values with Keys[0], reads with whichever
	// key a value names. Rotate in two deployments: first add the new key
	// last on every replica (all can read it), then put it first (new
	// values use it); drop the old key once its values have expired (at
	// most the tokens' lifetime). A replica that cannot open a value treats
	// it as a miss and never spends a refresh token on its account. Each Secret is 32 random bytes (AES-256); IDs
	// are non-empty, at most 64 bytes, and unique. Required with Store.
	Keys []SharedKey

	// NameKey, when set, names the store's keys by an HMAC-SHA256 of the
	// tenant ID under it instead of the ID itself, so that the store does
	// not show which tenants exist. It must be the same on every replica;
	// changing it starts the shared cache afresh. At least 16 bytes.
	NameKey Secret

	// Prefix starts every key in the store, so that several services (or a
	// staging and a production Manager) can share one server. Zero means
	// "tenantauth:".
	Prefix string

	// Budget bounds each store call. Zero means 50 ms; a store slower than
	// that is treated as absent for the call.
	Budget time.Duration

	// LockTTL is how long a replica's lock on a tenant lasts if the replica
	// dies before releasing it. Zero means half of Config.FetchTimeout, at
	// most 10 s; it must be below FetchTimeout.
	LockTTL time.Duration

	// Wait bounds how long a replica waits for the token another replica is
	// fetching before fetching it itself. Zero means LockTTL.
	Wait time.Duration

	// Breaker configures the store's own circuit breaker. Its zero value
	// opens after 5 failed calls in a row and probes again after 5 s. A
	// call that ran out of Budget while the store answered other calls
	// within the last second does not count: the store is busy (or this
	// process is, in a burst of fetches), not gone, and each such call
	// simply goes on alone.
	Breaker breaker.Config
}

// A SharedKey is one key of SharedConfig.Keys.
type SharedKey struct {
	// ID names the key in every value it seals.
	ID string
	// Secret is the AES-256 key: 32 bytes.
	Secret Secret
}

// SharedStats are the shared store's counters (see Stats.Shared).
type SharedStats struct {
	// Hits counts local misses served from the store.
	Hits uint64
	// Misses counts reads that found no usable token.
	Misses uint64
	// Stored counts tokens written.
	Stored uint64
	// Waited counts fetches that waited for another replica's token.
	Waited uint64
	// Errors counts store calls that failed or ran out of Budget, and calls
	// skipped while the store's breaker was open.
	Errors uint64
	// Unreadable counts values that failed to open (tampered, truncated,
	// sealed with an unknown key, moved from another tenant's key): each
	// was treated as a miss.
	Unreadable uint64
	// Received counts invalidation messages received from the store.
	Received uint64
}

const (
	defaultSharedPrefix = "tenantauth:"
	defaultSharedBudget = 50 * time.Millisecond
	// defaultSharedOpenTimeout: a store that comes back is used again
	// soon; while open, every miss is one token request more.
	defaultSharedOpenTimeout = 5 * time.Second
	maxLockTTL               = 10 * time.Second
	maxSharedValue           = 64 << 10 // larger values are not opened
	fingerprintSize          = 16
	sharedBreakerKey         = "shared store"
)

// errRefreshElsewhere ends a refresh-ahead fetch that another replica is
// already doing: its token reaches this replica through the store.
var errRefreshElsewhere = errors.New("tenantauth: another replica is refreshing this token")

// sharedCache is the Manager's side of a shared store.
type sharedCache struct {
	store    shared.Store
	prefix   string
	nameKey  []byte // nil: key names carry the tenant ID
	budget   time.Duration
	lockTTL  time.Duration
	wait     time.Duration
	breakers *breaker.Group
	log      *slog.Logger
	obs      Observer // nil: none

	instance [8]byte // random: tells this replica's own messages apart

	current string                 // ID of the key that seals new values
	aeads   map[string]cipher.AEAD // by key ID

	waitMu  sync.Mutex
	waiters map[string]chan struct{} // tenant → closed when a replica stores its token

	lastOK                                                     atomic.Int64 // UnixNano of the last successful call
	warnedUnreadable                                           atomic.Bool
	hits, misses, stored, waited, errors, unreadable, received atomic.Uint64
}

// newSharedCache checks cfg and builds the shared cache; nil without Store.
func newSharedCache(cfg SharedConfig, fetchTimeout time.Duration, log *slog.Logger, obs Observer) (*sharedCache, error) {
	if cfg.Store == nil {
		if len(cfg.Keys) > 0 || cfg.NameKey != "" {
			return nil, errConfig("Shared.Keys or Shared.NameKey without Shared.Store")
		}
		return nil, nil
	}
	if len(cfg.Keys) == 0 {
		return nil, errConfig("Shared.Store needs at least one key in Shared.Keys: values in a shared store are always sealed")
	}
	s := &sharedCache{
		store: cfg.Store, prefix: cfg.Prefix, budget: cfg.Budget, lockTTL: cfg.LockTTL, wait: cfg.Wait,
		log: log, obs: obs, current: cfg.Keys[0].ID, aeads: make(map[string]cipher.AEAD, len(cfg.Keys)),
		waiters: make(map[string]chan struct{}),
	}
	for i, k := range cfg.Keys {
		switch {
		case k.ID == "" || len(k.ID) > 64:
			return nil, errConfig(fmt.Sprintf("Shared.Keys[%d]: ID must be 1 to 64 bytes", i))
		case len(k.Secret) != 32:
			return nil, errConfig(fmt.Sprintf("Shared.Keys[%d] (%q): Secret must be 32 bytes (AES-256), not %d", i, k.ID, len(k.Secret)))
		case s.aeads[k.ID] != nil:
			return nil, errConfig(fmt.Sprintf("Shared.Keys[%d]: ID %q used twice", i, k.ID))
		}
		block, err := aes.NewCipher([]byte(k.Secret))
		if err != nil {
			return nil, errConfig(fmt.Sprintf("Shared.Keys[%d]: %v", i, err))
		}
		if s.aeads[k.ID], err = cipher.NewGCM(block); err != nil {
			return nil, errConfig(fmt.Sprintf("Shared.Keys[%d]: %v", i, err))
		}
	}
	if _, err := rand.Read(s.instance[:]); err != nil {
		return nil, fmt.Errorf("tenantauth: shared cache: %w", err)
	}
	if cfg.NameKey != "" {
		if len(cfg.NameKey) < 16 {
			return nil, errConfig("Shared.NameKey must be at least 16 bytes")
		}
		s.nameKey = []byte(cfg.NameKey)
	}
	if s.prefix == "" {
		s.prefix = defaultSharedPrefix
	}
	if s.budget < 0 || s.lockTTL < 0 || s.wait < 0 {
		return nil, errConfig("Shared.Budget, Shared.LockTTL and Shared.Wait must not be negative")
	}
	if s.budget == 0 {
		s.budget = defaultSharedBudget
	}
	if s.lockTTL == 0 {
		s.lockTTL = min(fetchTimeout/2, maxLockTTL)
	}
	if s.lockTTL >= fetchTimeout {
		return nil, errConfig("Shared.LockTTL must be below FetchTimeout: a replica that dies holding a lock must not outlast the others' fetches")
	}
	if s.wait == 0 {
		s.wait = s.lockTTL
	}
	bcfg := cfg.Breaker
	if bcfg.OpenTimeout == 0 {
		bcfg.OpenTimeout = defaultSharedOpenTimeout
	}
	bcfg.Classify = s.classify
	userHook := bcfg.OnStateChange
	bcfg.OnStateChange = func(endpoint string, from, to breaker.State) {
		level := slog.LevelWarn
		if to == breaker.Closed {
			level = slog.LevelInfo
		}
		log.LogAttrs(context.Background(), level, "tenantauth: shared store breaker state change (open: each replica serves alone)",
			slog.String("from", from.String()), slog.String("to", to.String()))
		if obs != nil {
			obs.BreakerChange(BreakerChange{Endpoint: endpoint, From: from, To: to})
		}
		if userHook != nil {
			userHook(endpoint, from, to)
		}
	}
	var err error
	if s.breakers, err = breaker.New(bcfg); err != nil {
		return nil, fmt.Errorf("tenantauth: invalid config: Shared.Breaker: %w", err)
	}
	return s, nil
}

// classify: a store call that failed counts against the store; one whose
// fetch was cancelled (Close) does not, nor one that ran out of budget
// while the store is answering other calls (see SharedConfig.Breaker).
func (s *sharedCache) classify(err error) breaker.Outcome {
	switch {
	case err == nil:
		s.lastOK.Store(time.Now().UnixNano())
		return breaker.Success
	case errors.Is(err, context.Canceled):
		return breaker.Excluded
	case errors.Is(err, context.DeadlineExceeded) && time.Now().UnixNano()-s.lastOK.Load() < int64(busyWindow):
		return breaker.Excluded
	}
	return breaker.Failure
}

// busyWindow is how recent a success must be for a timeout to mean "busy".
const busyWindow = time.Second

// call runs one store call within the budget, behind the store's breaker.
// Its error is for counting and logging only: the Manager never fails a
// request because of the store.
func (s *sharedCache) call(ctx context.Context, op string, fn func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, s.budget)
	defer cancel()
	err := s.breakers.Do(sharedBreakerKey, func() error { return fn(ctx) })
	if err != nil {
		s.failed(op, err)
	}
	return err
}

// failed counts a failed store operation and tells the Observer.
func (s *sharedCache) failed(op string, err error) {
	s.errors.Add(1)
	if s.obs != nil {
		s.obs.SharedStore(SharedStoreEvent{Op: op, Err: err})
	}
}

// key is the store key of id's token; lock the name of its lock.
func (s *sharedCache) key(id string) string  { return s.prefix + "token:" + s.name(id) }
func (s *sharedCache) lock(id string) string { return s.prefix + "lock:" + s.name(id) }

func (s *sharedCache) name(id string) string {
	if s.nameKey == nil {
		return url.QueryEscape(id)
	}
	mac := hmac.New(sha256.New, s.nameKey)
	mac.Write([]byte(id))
	return hex.EncodeToString(mac.Sum(nil)[:20])
}

// fingerprint identifies one access token in the store and in messages
// without revealing it: a truncated SHA-256 of a high-entropy secret.
func fingerprint(access Secret) [fingerprintSize]byte {
	sum := sha256.Sum256([]byte(access))
	var fp [fingerprintSize]byte
	copy(fp[:], sum[:])
	return fp
}

// sealedToken is what a sealed value holds.
type sealedToken struct {
	Access        string    `json:"a"`
	Type          string    `json:"t,omitempty"`
	Refresh       string    `json:"r,omitempty"`
	Expiry        time.Time `json:"e,omitzero"`
	RefreshExpiry time.Time `json:"re,omitzero"`
	Scope         string    `json:"s,omitempty"`
	IssuedAt      time.Time `json:"i,omitzero"`
}

// A value is fingerprint(16) | version(1) | len(keyID)(1) | keyID | nonce |
// ciphertext. The fingerprint leads so that the store can compare it
// (DeleteIfPrefix) without opening anything.
const sealVersion = 1

// seal returns tok sealed for id's key under the current key.
func (s *sharedCache) seal(id string, tok *Token) ([]byte, error) {
	plain, err := json.Marshal(sealedToken{
		Access: string(tok.AccessToken), Type: tok.TokenType, Refresh: string(tok.RefreshToken),
		Expiry: tok.Expiry, RefreshExpiry: tok.RefreshExpiry, Scope: tok.Scope, IssuedAt: tok.IssuedAt,
	})
	if err != nil {
		return nil, err
	}
	fp := fingerprint(tok.AccessToken)
	return s.sealBytes(fp[:], s.aad("token", id), plain)
}

func (s *sharedCache) sealBytes(head, aad, plain []byte) ([]byte, error) {
	aead := s.aeads[s.current]
	out := make([]byte, 0, len(head)+2+len(s.current)+aead.NonceSize()+len(plain)+aead.Overhead())
	out = append(out, head...)
	out = append(out, sealVersion, byte(len(s.current)))
	out = append(out, s.current...)
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	out = append(out, nonce...)
	// The header is authenticated too: a value whose fingerprint was
	// swapped does not open.
	return aead.Seal(out, nonce, plain, append(aad, out...)), nil
}

// open returns the token sealed in v for id, or an error for a value that
// is not one.
func (s *sharedCache) open(id string, v []byte) (*Token, error) {
	plain, err := s.openBytes(v, fingerprintSize, s.aad("token", id))
	if err != nil {
		return nil, err
	}
	var st sealedToken
	if err := json.Unmarshal(plain, &st); err != nil {
		return nil, fmt.Errorf("decoding: %w", err)
	}
	if st.Access == "" {
		return nil, errors.New("no access token")
	}
	tok := &Token{
		AccessToken: Secret(st.Access), TokenType: st.Type, RefreshToken: Secret(st.Refresh),
		Expiry: st.Expiry, RefreshExpiry: st.RefreshExpiry, Scope: st.Scope, IssuedAt: st.IssuedAt,
	}
	if fp := fingerprint(tok.AccessToken); !hmac.Equal(fp[:], v[:fingerprintSize]) {
		return nil, errors.New("fingerprint does not match")
	}
	return tok, nil
}

func (s *sharedCache) openBytes(v []byte, headLen int, aad []byte) ([]byte, error) {
	if len(v) > maxSharedValue {
		return nil, errors.New("too large")
	}
	if len(v) < headLen+2 || v[headLen] != sealVersion {
		return nil, errors.New("truncated or unknown version")
	}
	n := int(v[headLen+1])
	rest := v[headLen+2:]
	if len(rest) < n {
		return nil, errors.New("truncated")
	}
	aead := s.aeads[string(rest[:n])]
	if aead == nil {
		return nil, errors.New("sealed with an unknown key")
	}
	rest = rest[n:]
	if len(rest) < aead.NonceSize()+aead.Overhead() {
		return nil, errors.New("truncated")
	}
	header := v[:len(v)-len(rest)+aead.NonceSize()]
	plain, err := aead.Open(nil, rest[:aead.NonceSize()], rest[aead.NonceSize():], append(aad, header...))
	if err != nil {
		return nil, errors.New("does not open (tampered, or another tenant's)")
	}
	return plain, nil
}

// aad binds a value to its use, its tenant and the key prefix.
func (s *sharedCache) aad(use, id string) []byte {
	b := make([]byte, 0, len(s.prefix)+len(use)+len(id)+2)
	b = append(b, s.prefix...)
	b = append(b, 0)
	b = append(b, use...)
	b = append(b, 0)
	return append(b, id...)
}

// get reads id's token from the store. It reports whether the store
// answered (a token or none); an unreadable value is a miss.
func (s *sharedCache) get(ctx context.Context, id string) (tok *Token, answered bool) {
	var v []byte
	err := s.call(ctx, "get", func(ctx context.Context) error {
		var err error
		v, err = s.store.Get(ctx, s.key(id))
		if errors.Is(err, shared.ErrNotFound) {
			v, err = nil, nil
		}
		return err
	})
	if err != nil {
		return nil, false
	}
	if v == nil {
		return nil, true
	}
	tok, err = s.open(id, v)
	if err != nil {
		s.unreadable.Add(1)
		if s.obs != nil {
			s.obs.SharedStore(SharedStoreEvent{Op: "open", Err: err})
		}
		if s.warnedUnreadable.CompareAndSwap(false, true) {
			// Once: a key missing from Keys on this replica would otherwise
			// log on every miss. Stats.Shared.Unreadable counts them all.
			s.log.LogAttrs(ctx, slog.LevelWarn, "tenantauth: a shared value does not open; treated as a miss (further ones counted in Stats, not logged)",
				slog.String("tenant", id), slog.String("error", err.Error()))
		}
		return nil, true
	}
	return tok, true
}

// put writes id's token, fenced by f when f is not zero; now is the
// Manager's clock.
func (s *sharedCache) put(ctx context.Context, id string, tok *Token, f shared.Fence, now time.Time) {
	ttl := tok.Expiry.Sub(now)
	if tok.Expiry.IsZero() || ttl <= 0 {
		return // a token without an expiry is not shared: nobody could tell when to drop it
	}
	if tok.IsDPoP() {
		return // bound to this replica's key, which another replica may not hold
	}
	v, err := s.seal(id, tok)
	if err != nil {
		return
	}
	lost := false
	err = s.call(ctx, "set", func(ctx context.Context) error {
		err := s.store.Set(ctx, s.key(id), v, ttl, f)
		if errors.Is(err, shared.ErrLockLost) {
			lost, err = true, nil // a healthy store's answer: a later holder wrote
		}
		return err
	})
	if err == nil && !lost {
		s.stored.Add(1)
	}
}

// tryLock takes id's lock. It reports whether the store answered.
func (s *sharedCache) tryLock(ctx context.Context, id string) (f shared.Fence, ok, answered bool) {
	err := s.call(ctx, "lock", func(ctx context.Context) error {
		var err error
		f, ok, err = s.store.Lock(ctx, s.lock(id), s.lockTTL)
		return err
	})
	return f, ok && err == nil, err == nil
}

// unlock releases f, on its own budget: the fetch's context may be done.
func (s *sharedCache) unlock(f shared.Fence) {
	_ = s.call(context.Background(), "unlock", func(ctx context.Context) error { return s.store.Unlock(ctx, f) })
}

// Message kinds on the store's channel.
const (
	msgStored      = 's' // a replica stored the tenant's token
	msgInvalidated = 'i' // a token was rejected: fingerprint follows
	msgForgotten   = 'f' // the tenant was forgotten
)

// publish announces kind for id (with fp for msgInvalidated), sealed: the
// channel never carries a tenant ID in clear.
func (s *sharedCache) publish(ctx context.Context, kind byte, id string, fp []byte) {
	plain := make([]byte, 0, len(s.instance)+2+len(fp)+len(id))
	plain = append(plain, s.instance[:]...)
	plain = append(plain, kind, byte(len(fp)))
	plain = append(plain, fp...)
	plain = append(plain, id...)
	msg, err := s.sealBytes(nil, s.aad("message", ""), plain)
	if err != nil {
		return
	}
	_ = s.call(ctx, "publish", func(ctx context.Context) error { return s.store.Publish(ctx, msg) })
}

// parseMessage opens a message. ok is false for one that does not open
// (counted: a replica missing a key misses announcements) and for this
// replica's own messages, which it acted on when it sent them.
func (s *sharedCache) parseMessage(msg []byte) (kind byte, id string, fp []byte, ok bool) {
	const head = len(sharedCache{}.instance)
	plain, err := s.openBytes(msg, 0, s.aad("message", ""))
	if err == nil && (len(plain) < head+2 || len(plain) < head+2+int(plain[head+1])) {
		err = errors.New("truncated")
	}
	if err != nil {
		s.unreadable.Add(1)
		if s.obs != nil {
			s.obs.SharedStore(SharedStoreEvent{Op: "open", Err: err})
		}
		return 0, "", nil, false
	}
	if string(plain[:head]) == string(s.instance[:]) {
		return 0, "", nil, false
	}
	plain = plain[head:]
	n := int(plain[1])
	return plain[0], string(plain[2+n:]), plain[2 : 2+n], true
}

// waitChan returns the channel closed when a replica announces id's token.
func (s *sharedCache) waitChan(id string) chan struct{} {
	s.waitMu.Lock()
	defer s.waitMu.Unlock()
	ch := s.waiters[id]
	if ch == nil {
		ch = make(chan struct{})
		s.waiters[id] = ch
	}
	return ch
}

// wake closes id's wait channel, if any.
func (s *sharedCache) wake(id string) {
	s.waitMu.Lock()
	if ch := s.waiters[id]; ch != nil {
		close(ch)
		delete(s.waiters, id)
	}
	s.waitMu.Unlock()
}

// stopWaiting forgets ch if it is still id's: nobody waits on it any more.
func (s *sharedCache) stopWaiting(id string, ch chan struct{}) {
	s.waitMu.Lock()
	if s.waiters[id] == ch {
		delete(s.waiters, id)
	}
	s.waitMu.Unlock()
}

func (s *sharedCache) stats() SharedStats {
	return SharedStats{
		Hits: s.hits.Load(), Misses: s.misses.Load(), Stored: s.stored.Load(), Waited: s.waited.Load(),
		Errors: s.errors.Load(), Unreadable: s.unreadable.Load(), Received: s.received.Load(),
	}
}

// Package shared defines the second-level token store that replicas of a
// service share: a Manager (see tenantauth.Config.Shared) reads it on a
// local miss before the token endpoint, takes its per-tenant lock so that
// one replica in the cluster fetches each token, writes the token there
// sealed (AES-256-GCM, keys given by the user), and announces invalidations
// on it so that every replica drops a rejected token at once.
//
// The package holds the interface and an in-memory implementation, for
// tests and for several Managers in one process; the Redis implementation
// is the nested module github.com/tenantauth/tenantauth/shared/redis, so
// that a program that does not use Redis pulls in no Redis client.
//
// A Store sees only opaque keys and sealed values: tenant IDs may be hashed
// into the keys (tenantauth.SharedConfig.NameKey) and values are
// ciphertext; a Store never needs to understand either.
package shared

import (
	"context"
	"errors"
	"time"
)

// A Store is a key-value store shared by the replicas of a service, with
// per-key locks and a broadcast channel. Every method may be called
// concurrently. Every method must return promptly when ctx ends: the
// Manager bounds each call by a small budget and treats a slow store as an
// absent one.
//
// Values are opaque bytes (at most a few KiB) and keys printable ASCII
// strings of at most a few hundred bytes, both built by the Manager. A
// Store keeps no reference to the slices it is given, and the slices it
// returns (and passes to a Subscribe callback) belong to the caller.
//
// A call whose context has ended returns an error matching ctx.Err() and
// has no effect: nothing written, no lock taken or released.
type Store interface {
	// Get returns the value stored under key, or nil and ErrNotFound when
	// there is none (never an empty value otherwise).
	Get(ctx context.Context, key string) ([]byte, error)

	// Set stores value under key for ttl (> 0), replacing any value. When
	// fence is not the zero Fence, the write happens only if the lock
	// fence.Lock is still held with fence.Value (a fenced write: a holder
	// whose lock expired while it fetched cannot overwrite what a later
	// holder wrote); otherwise Set returns ErrLockLost and writes nothing.
	Set(ctx context.Context, key string, value []byte, ttl time.Duration, fence Fence) error

	// DeleteIfPrefix deletes key if its value starts with prefix (the
	// Manager's fingerprint of one token), reporting whether it deleted:
	// dropping a rejected token cannot drop a newer one stored meanwhile.
	// An empty prefix deletes whatever is stored.
	DeleteIfPrefix(ctx context.Context, key string, prefix []byte) (bool, error)

	// Lock takes the lock named lock for ttl (> 0) if nobody holds it, and
	// returns the Fence that proves it: Fence.Value is unique among every
	// Lock call of every replica (a random value, or an increasing counter
	// and a random suffix). It returns ok false, and no error, when the
	// lock is held. A lock whose holder never unlocks expires after ttl.
	Lock(ctx context.Context, lock string, ttl time.Duration) (f Fence, ok bool, err error)

	// Unlock releases f's lock if f still holds it; releasing a lock that
	// expired or is held by another Fence does nothing and is not an error.
	Unlock(ctx context.Context, f Fence) error

	// Publish sends msg (at most a few hundred bytes) to every Subscribe
	// callback of every replica sharing the store, this one included.
	// Delivery is best effort: a replica that is disconnected when msg is
	// published does not receive it.
	Publish(ctx context.Context, msg []byte) error

	// Subscribe starts calling fn with every message published from now
	// on, from one goroutine, in order, until ctx ends or the connection is
	// lost. It returns once the subscription is established (messages
	// published after it returns are delivered), or with an error when it
	// cannot be. The caller subscribes again after Subscription.Done.
	Subscribe(ctx context.Context, fn func(msg []byte)) (Subscription, error)
}

// A Subscription is a running Subscribe.
type Subscription interface {
	// Done is closed once no more messages will be delivered: the context
	// given to Subscribe ended, or the store lost the connection (then Err
	// says why). After Done is closed, fn is not running and will not run.
	Done() <-chan struct{}
	// Err is nil while delivering, and after Done why delivery stopped
	// (the context's error, or the connection's).
	Err() error
}

// A Fence proves that its holder took a lock: Lock names the lock and Value
// is what Lock stored in it. The zero Fence is "no lock" (an unfenced
// write).
type Fence struct {
	Lock  string
	Value string
}

// IsZero reports whether f is the zero Fence.
func (f Fence) IsZero() bool { return f == Fence{} }

var (
	// ErrNotFound is Get's error for a key that holds no value.
	ErrNotFound = errors.New("shared: not found")
	// ErrLockLost is Set's error when its fence no longer holds the lock:
	// nothing was written.
	ErrLockLost = errors.New("shared: lock lost")
)

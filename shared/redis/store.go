package redis

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"

	"github.com/tenantauth/tenantauth/shared"
)

// ErrClosed is returned by every call on a closed Store, and is the Err of
// the Subscriptions that Close ended.
var ErrClosed = errors.New("redis: store closed")

// A Store is a shared.Store on one Redis server. It is safe for concurrent
// use. It connects on its own: New succeeds while the server is down,
// calls fail until the server is up, and the Store reconnects when the
// server comes back, without being made again.
type Store struct {
	client  rueidis.Client
	own     bool // Close closes client
	channel string
	setup   time.Duration // bounds Subscribe's wait for the confirmation
	fences  *fenceSource

	closed atomic.Bool
	mu     sync.Mutex
	subs   map[*subscription]context.CancelCauseFunc // running Subscriptions
	wg     sync.WaitGroup                            // their goroutines
}

var _ shared.Store = (*Store)(nil)

// New returns a Store for the server cfg names. It tries to connect once,
// for at most cfg.DialTimeout, and succeeds whether or not it could: a
// server that is down, or refuses the credentials, fails the calls instead
// (Ping tells at start). It fails only on a Config it cannot use.
func New(cfg Config) (*Store, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	client, err := rueidis.NewClient(cfg.options())
	if client == nil { // with ForceSingleClient, only a bad option
		return nil, fmt.Errorf("redis: %w", err)
	}
	s, err := newStore(client, cfg)
	if err != nil {
		client.Close()
		return nil, err
	}
	s.own = true
	return s, nil
}

// NewFromClient returns a Store that uses client, a rueidis client of one
// server (not a cluster client: fenced writes touch two keys that a cluster
// may place on different nodes), with channel as its Pub/Sub channel
// (empty means DefaultChannel). Subscribe waits at most 3 s for the
// server's confirmation. Close leaves client open.
//
// For New's guarantees, the client should have DisableRetry and a
// ConnWriteTimeout: without them a call without a context deadline can
// wait for a hung server, and a failed Receive is retried in place.
func NewFromClient(client rueidis.Client, channel string) (*Store, error) {
	if client == nil {
		return nil, errors.New("redis: NewFromClient: nil client")
	}
	if client.Mode() == rueidis.ClientModeCluster {
		return nil, errors.New("redis: NewFromClient: a cluster client; the Store needs one server")
	}
	return newStore(client, Config{Channel: channel}.withDefaults())
}

func newStore(client rueidis.Client, cfg Config) (*Store, error) {
	fences, err := newFenceSource()
	if err != nil {
		return nil, err
	}
	return &Store{
		client:  client,
		channel: cfg.Channel,
		setup:   cfg.DialTimeout + 2*cfg.Timeout,
		fences:  fences,
		subs:    make(map[*subscription]context.CancelCauseFunc),
	}, nil
}

// check refuses a call on a closed Store or with an ended ctx.
func (s *Store) check(ctx context.Context) error {
	if s.closed.Load() {
		return ErrClosed
	}
	return ctx.Err()
}

// Ping checks that the server answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	if err := s.retry(ctx, func() rueidis.RedisResult {
		return s.client.Do(ctx, s.client.B().Ping().Build())
	}).Error(); err != nil {
		return fmt.Errorf("redis: PING: %w", err)
	}
	return nil
}

// Get implements shared.Store with GET. The value returned is the
// caller's.
func (s *Store) Get(ctx context.Context, key string) ([]byte, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	v, err := s.retry(ctx, func() rueidis.RedisResult {
		return s.client.Do(ctx, s.client.B().Get().Key(key).Build())
	}).AsBytes()
	if rueidis.IsRedisNil(err) {
		return nil, shared.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("redis: GET: %w", err)
	}
	return v, nil
}

// Set implements shared.Store: SET PX, or, with a fence, a script that
// compares the lock and writes in one step on the server. The ttl is
// rounded up to a whole millisecond.
func (s *Store) Set(ctx context.Context, key string, value []byte, ttl time.Duration, fence shared.Fence) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	px, err := milliseconds(ttl)
	if err != nil {
		return err
	}
	// string(value) copies: a call that returns at its deadline may leave
	// the command queued, and the caller may reuse value at once.
	if fence.IsZero() {
		err := s.retry(ctx, func() rueidis.RedisResult {
			return s.client.Do(ctx, s.client.B().Set().Key(key).Value(string(value)).PxMilliseconds(px).Build())
		}).Error()
		if err != nil {
			return fmt.Errorf("redis: SET: %w", err)
		}
		return nil
	}
	keys := []string{key, fence.Lock}
	args := []string{string(value), strconv.FormatInt(px, 10), fence.Value}
	n, err := s.retry(ctx, func() rueidis.RedisResult {
		return fencedSet.Exec(ctx, s.client, keys, args)
	}).AsInt64()
	if err != nil {
		return fmt.Errorf("redis: fenced SET: %w", err)
	}
	if n == 0 {
		return shared.ErrLockLost
	}
	return nil
}

// DeleteIfPrefix implements shared.Store with a script that compares and
// deletes in one step on the server.
func (s *Store) DeleteIfPrefix(ctx context.Context, key string, prefix []byte) (bool, error) {
	if err := s.check(ctx); err != nil {
		return false, err
	}
	n, err := deleteIfPrefix.Exec(ctx, s.client, []string{key}, []string{string(prefix)}).AsInt64()
	if err != nil {
		return false, fmt.Errorf("redis: DeleteIfPrefix: %w", err)
	}
	return n == 1, nil
}

// Lock implements shared.Store with SET NX PX. The Fence's value is a
// random prefix drawn once per Store followed by a counter. The ttl is
// rounded up to a whole millisecond.
func (s *Store) Lock(ctx context.Context, lock string, ttl time.Duration) (shared.Fence, bool, error) {
	if err := s.check(ctx); err != nil {
		return shared.Fence{}, false, err
	}
	px, err := milliseconds(ttl)
	if err != nil {
		return shared.Fence{}, false, err
	}
	value := s.fences.next()
	// Not retried: a second SET NX after a lost reply would find our own
	// lock and report it held by another.
	err = s.client.Do(ctx, s.client.B().Set().Key(lock).Value(value).Nx().PxMilliseconds(px).Build()).Error()
	if rueidis.IsRedisNil(err) {
		return shared.Fence{}, false, nil
	}
	if err != nil {
		return shared.Fence{}, false, fmt.Errorf("redis: lock: %w", err)
	}
	return shared.Fence{Lock: lock, Value: value}, true, nil
}

// Unlock implements shared.Store with a script that compares and deletes
// in one step on the server.
func (s *Store) Unlock(ctx context.Context, f shared.Fence) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	if f.IsZero() {
		return nil
	}
	keys, args := []string{f.Lock}, []string{f.Value}
	if err := s.retry(ctx, func() rueidis.RedisResult {
		return unlock.Exec(ctx, s.client, keys, args)
	}).Error(); err != nil {
		return fmt.Errorf("redis: unlock: %w", err)
	}
	return nil
}

// Publish implements shared.Store with PUBLISH on the Store's channel.
func (s *Store) Publish(ctx context.Context, msg []byte) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	// Idempotent enough: a message delivered twice is an invalidation
	// done twice.
	if err := s.retry(ctx, func() rueidis.RedisResult {
		return s.client.Do(ctx, s.client.B().Publish().Channel(s.channel).Message(string(msg)).Build())
	}).Error(); err != nil {
		return fmt.Errorf("redis: PUBLISH: %w", err)
	}
	return nil
}

// Close ends every Subscription (their Err is ErrClosed), waits until
// their goroutines have returned, and closes the connections, unless the
// Store came from NewFromClient. Calls after Close return ErrClosed.
// Closing twice does nothing. On a server that hangs, Close takes up to
// about a second per connection: rueidis waits that long for a reply to
// its last PING before it drops a connection.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed.Swap(true) {
		s.mu.Unlock()
		return nil
	}
	for _, cancel := range s.subs {
		cancel(ErrClosed)
	}
	s.mu.Unlock()
	s.wg.Wait()
	if s.own {
		s.client.Close()
	}
	return nil
}

// retry runs call, and once more after a connection error when its
// context still runs: typically the first command on a connection that
// died idle (the server restarted) and that rueidis had not noticed yet.
// Only idempotent calls use it. Each run builds its own command: rueidis
// may still hold the first one (and recycles a command once it succeeded,
// so its own retries would reuse memory a failed connection still reads).
func (s *Store) retry(ctx context.Context, call func() rueidis.RedisResult) rueidis.RedisResult {
	res := call()
	if err := res.Error(); err != nil && retryable(ctx, err) && !s.closed.Load() {
		res = call()
	}
	return res
}

// retryable reports whether err is a connection error worth a second try:
// not an answer of the server, not a timeout (a hung server would make the
// call wait twice), not the end of ctx.
func retryable(ctx context.Context, err error) bool {
	if ctx.Err() != nil || rueidis.IsRedisNil(err) {
		return false
	}
	if _, ok := rueidis.IsRedisErr(err); ok {
		return false
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) ||
		(errors.As(err, &ne) && ne.Timeout()) {
		return false
	}
	return true
}

// milliseconds converts a ttl to whole milliseconds, rounding up so that a
// ttl below a millisecond still expires instead of being refused.
func milliseconds(ttl time.Duration) (int64, error) {
	if ttl <= 0 {
		return 0, fmt.Errorf("redis: ttl %v is not positive", ttl)
	}
	return int64((ttl + time.Millisecond - 1) / time.Millisecond), nil
}

package clientcompare

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/tenantauth/tenantauth/shared"
	"github.com/tenantauth/tenantauth/shared/redis"
)

// GoRedis is a shared.Store on go-redis, configured for the same
// guarantees as redis.Store: the context's deadline bounds I/O
// (ContextTimeoutEnabled), Timeout bounds it otherwise, no retries, one
// dial attempt, the same Lua scripts.
type GoRedis struct {
	client  *goredis.Client
	channel string
	timeout time.Duration
	setup   time.Duration
	prefix  string
	seq     atomic.Uint64

	closed atomic.Bool
	mu     sync.Mutex
	subs   map[chan struct{}]context.CancelCauseFunc
	wg     sync.WaitGroup
}

var _ shared.Store = (*GoRedis)(nil)

var (
	fencedSet = goredis.NewScript(`
if redis.call('GET', KEYS[2]) == ARGV[3] then
	redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
	return 1
end
return 0`)
	deleteIfPrefix = goredis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v and string.sub(v, 1, #ARGV[1]) == ARGV[1] then
	redis.call('DEL', KEYS[1])
	return 1
end
return 0`)
	unlock = goredis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
	return redis.call('DEL', KEYS[1])
end
return 0`)
)

// NewGoRedis returns a GoRedis for cfg, with redis.Config's defaults.
func NewGoRedis(cfg redis.Config) (*GoRedis, error) {
	if cfg.Addr == "" {
		cfg.Addr = redis.DefaultAddr
	}
	if cfg.Channel == "" {
		cfg.Channel = redis.DefaultChannel
	}
	if cfg.DialTimeout == 0 {
		cfg.DialTimeout = redis.DefaultDialTimeout
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = redis.DefaultTimeout
	}
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, err
	}
	return &GoRedis{
		client: goredis.NewClient(&goredis.Options{
			Addr:                  cfg.Addr,
			Username:              cfg.Username,
			Password:              cfg.Password.Reveal(),
			DB:                    cfg.DB,
			TLSConfig:             cfg.TLS,
			DialTimeout:           cfg.DialTimeout,
			ReadTimeout:           cfg.Timeout,
			WriteTimeout:          cfg.Timeout,
			ContextTimeoutEnabled: true,
			PoolSize:              cfg.PoolSize,
			PoolTimeout:           cfg.Timeout,
			MaxRetries:            -1,
			DialerRetries:         1,
			DisableIdentity:       true,
			MaintNotificationsConfig: &maintnotifications.Config{
				Mode: maintnotifications.ModeDisabled,
			},
		}),
		channel: cfg.Channel,
		timeout: cfg.Timeout,
		setup:   cfg.DialTimeout + 2*cfg.Timeout,
		prefix:  hex.EncodeToString(b[:]) + ":",
		subs:    make(map[chan struct{}]context.CancelCauseFunc),
	}, nil
}

func (s *GoRedis) check(ctx context.Context) error {
	if s.closed.Load() {
		return redis.ErrClosed
	}
	return ctx.Err()
}

func milliseconds(ttl time.Duration) (int64, error) {
	if ttl <= 0 {
		return 0, fmt.Errorf("clientcompare: ttl %v is not positive", ttl)
	}
	return int64((ttl + time.Millisecond - 1) / time.Millisecond), nil
}

// Get implements shared.Store.
func (s *GoRedis) Get(ctx context.Context, key string) ([]byte, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	v, err := s.client.Get(ctx, key).Bytes()
	if err == goredis.Nil {
		return nil, shared.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("clientcompare: GET: %w", err)
	}
	return v, nil
}

// Set implements shared.Store.
func (s *GoRedis) Set(ctx context.Context, key string, value []byte, ttl time.Duration, fence shared.Fence) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	px, err := milliseconds(ttl)
	if err != nil {
		return err
	}
	if fence.IsZero() {
		if err := s.client.Set(ctx, key, value, time.Duration(px)*time.Millisecond).Err(); err != nil {
			return fmt.Errorf("clientcompare: SET: %w", err)
		}
		return nil
	}
	n, err := fencedSet.Run(ctx, s.client, []string{key, fence.Lock}, value, px, fence.Value).Int64()
	if err != nil {
		return fmt.Errorf("clientcompare: fenced SET: %w", err)
	}
	if n == 0 {
		return shared.ErrLockLost
	}
	return nil
}

// DeleteIfPrefix implements shared.Store.
func (s *GoRedis) DeleteIfPrefix(ctx context.Context, key string, prefix []byte) (bool, error) {
	if err := s.check(ctx); err != nil {
		return false, err
	}
	if prefix == nil {
		prefix = []byte{}
	}
	n, err := deleteIfPrefix.Run(ctx, s.client, []string{key}, prefix).Int64()
	if err != nil {
		return false, fmt.Errorf("clientcompare: DeleteIfPrefix: %w", err)
	}
	return n == 1, nil
}

// Lock implements shared.Store.
func (s *GoRedis) Lock(ctx context.Context, lock string, ttl time.Duration) (shared.Fence, bool, error) {
	if err := s.check(ctx); err != nil {
		return shared.Fence{}, false, err
	}
	px, err := milliseconds(ttl)
	if err != nil {
		return shared.Fence{}, false, err
	}
	value := s.prefix + strconv.FormatUint(s.seq.Add(1), 36)
	err = s.client.SetArgs(ctx, lock, value, goredis.SetArgs{Mode: "NX", TTL: time.Duration(px) * time.Millisecond}).Err()
	if err == goredis.Nil {
		return shared.Fence{}, false, nil
	}
	if err != nil {
		return shared.Fence{}, false, fmt.Errorf("clientcompare: lock: %w", err)
	}
	return shared.Fence{Lock: lock, Value: value}, true, nil
}

// Unlock implements shared.Store.
func (s *GoRedis) Unlock(ctx context.Context, f shared.Fence) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	if f.IsZero() {
		return nil
	}
	if err := unlock.Run(ctx, s.client, []string{f.Lock}, f.Value).Err(); err != nil {
		return fmt.Errorf("clientcompare: unlock: %w", err)
	}
	return nil
}

// Publish implements shared.Store.
func (s *GoRedis) Publish(ctx context.Context, msg []byte) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	if err := s.client.Publish(ctx, s.channel, msg).Err(); err != nil {
		return fmt.Errorf("clientcompare: PUBLISH: %w", err)
	}
	return nil
}

// Subscribe implements shared.Store. go-redis's PubSub reconnects and
// resubscribes by itself; this one stops at the first error instead, as
// the interface asks, and checks a silent connection with PING.
func (s *GoRedis) Subscribe(ctx context.Context, fn func(msg []byte)) (shared.Subscription, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	sub := &subscription{done: make(chan struct{})}
	life, cancel := context.WithCancelCause(ctx)
	s.mu.Lock()
	if s.closed.Load() {
		s.mu.Unlock()
		cancel(redis.ErrClosed)
		return nil, redis.ErrClosed
	}
	s.subs[sub.done] = cancel
	s.mu.Unlock()
	untrack := func() {
		s.mu.Lock()
		delete(s.subs, sub.done)
		s.mu.Unlock()
	}

	setup, cancelSetup := context.WithTimeout(life, s.setup)
	ps := s.client.Subscribe(setup, s.channel)
	err := confirm(setup, ps)
	cancelSetup()
	if err != nil {
		ps.Close()
		untrack()
		cancel(err)
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return nil, fmt.Errorf("clientcompare: SUBSCRIBE: %w", err)
	}
	// Closing the PubSub is what interrupts a read without a deadline.
	stop := context.AfterFunc(life, func() { ps.Close() })
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		err := s.receive(life, ps, fn)
		stop()
		ps.Close()
		if cause := context.Cause(life); cause != nil {
			err = cause
		}
		untrack()
		cancel(err)
		sub.err = err
		close(sub.done)
	}()
	return sub, nil
}

func confirm(ctx context.Context, ps *goredis.PubSub) error {
	for {
		v, err := ps.Receive(ctx)
		if err != nil {
			return err
		}
		if c, ok := v.(*goredis.Subscription); ok && c.Kind == "subscribe" {
			return nil
		}
	}
}

func (s *GoRedis) receive(ctx context.Context, ps *goredis.PubSub, fn func([]byte)) error {
	pinged := false
	for {
		v, err := ps.ReceiveTimeout(ctx, s.timeout)
		if err != nil {
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() || ctx.Err() != nil {
				return fmt.Errorf("clientcompare: subscription: %w", err)
			}
			if pinged {
				return fmt.Errorf("clientcompare: subscription: no answer to PING within %v", s.timeout)
			}
			pctx, cancel := context.WithTimeout(ctx, s.timeout)
			err = ps.Ping(pctx)
			cancel()
			if err != nil {
				return fmt.Errorf("clientcompare: subscription: PING: %w", err)
			}
			pinged = true
			continue
		}
		pinged = false
		if m, ok := v.(*goredis.Message); ok {
			fn([]byte(m.Payload))
		}
	}
}

// Close ends the subscriptions, waits for them and closes the client.
func (s *GoRedis) Close() error {
	s.mu.Lock()
	if s.closed.Swap(true) {
		s.mu.Unlock()
		return nil
	}
	for _, cancel := range s.subs {
		cancel(redis.ErrClosed)
	}
	s.mu.Unlock()
	s.wg.Wait()
	return s.client.Close()
}

type subscription struct {
	done chan struct{}
	err  error
}

func (s *subscription) Done() <-chan struct{} { return s.done }

func (s *subscription) Err() error {
	select {
	case <-s.done:
		return s.err
	default:
		return nil
	}
}

package redis

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/redis/rueidis"

	"github.com/tenantauth/tenantauth/shared"
)

// Subscribe implements shared.Store with SUBSCRIBE on a connection of its
// own. It returns once the server confirmed the subscription, or with an
// error when ctx ends first or no confirmation came within DialTimeout +
// 2×Timeout (ctx may have no deadline: the subscription lives on it).
//
// The Subscription ends with an error as soon as its connection fails,
// including when a PING after Timeout of silence gets no answer within
// another Timeout (a server that hangs). It never reconnects by itself: a
// replica may have missed messages meanwhile, and the caller knows what
// to do about that before it subscribes again.
func (s *Store) Subscribe(ctx context.Context, fn func(msg []byte)) (shared.Subscription, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	sub := &subscription{done: make(chan struct{})}
	life, cancel := context.WithCancelCause(ctx)
	if !s.track(sub, cancel) {
		cancel(ErrClosed)
		return nil, ErrClosed
	}

	confirmed := make(chan struct{})
	var once sync.Once
	hooked := rueidis.WithOnSubscriptionHook(life, func(p rueidis.PubSubSubscription) {
		if p.Kind == "subscribe" {
			once.Do(func() { close(confirmed) })
		}
	})
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		// Dedicate dials here, not in Subscribe, which must be able to
		// return when ctx ends.
		dc, _ := s.client.Dedicate()
		err := dc.Receive(hooked, dc.B().Subscribe().Channel(s.channel).Build(), func(m rueidis.PubSubMessage) {
			fn([]byte(m.Message))
		})
		// A subscribed connection is not worth cleaning for reuse.
		dc.Close()
		switch cause := context.Cause(life); {
		case cause != nil: // ctx ended or Close: that is why Receive returned
			err = cause
		case err == nil: // the server unsubscribed us
			err = errors.New("redis: subscription: unsubscribed by the server")
		default:
			err = fmt.Errorf("redis: subscription: %w", err)
		}
		s.untrack(sub)
		cancel(err)
		sub.finish(err)
	}()

	timer := time.NewTimer(s.setup)
	defer timer.Stop()
	select {
	case <-confirmed:
		return sub, nil
	case <-sub.done:
		return nil, fmt.Errorf("redis: SUBSCRIBE: %w", sub.err)
	case <-ctx.Done():
		// The goroutine ends by itself (Close waits for it).
		cancel(ctx.Err())
		return nil, fmt.Errorf("redis: SUBSCRIBE: %w", ctx.Err())
	case <-timer.C:
		err := fmt.Errorf("redis: SUBSCRIBE: no confirmation within %v", s.setup)
		cancel(err)
		return nil, err
	}
}

// track registers a running Subscription, unless the Store is closed.
func (s *Store) track(sub *subscription, cancel context.CancelCauseFunc) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return false
	}
	s.subs[sub] = cancel
	return true
}

func (s *Store) untrack(sub *subscription) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.subs, sub)
}

// subscription is a running Subscribe: done closes once delivery stopped,
// after err is set.
type subscription struct {
	done chan struct{}
	err  error
}

// Done implements shared.Subscription.
func (s *subscription) Done() <-chan struct{} { return s.done }

// Err implements shared.Subscription.
func (s *subscription) Err() error {
	select {
	case <-s.done:
		return s.err
	default:
		return nil
	}
}

// finish records why delivery stopped and closes done.
func (s *subscription) finish(err error) {
	s.err = err
	close(s.done)
}

package redis

import (
	"crypto/tls"
	"fmt"
	"math/bits"
	"net"
	"time"

	"github.com/redis/rueidis"

	"github.com/tenantauth/tenantauth"
)

// Defaults of Config's zero fields.
const (
	DefaultAddr        = "localhost:6379"
	DefaultChannel     = "tenantauth:invalidate"
	DefaultDialTimeout = time.Second
	DefaultTimeout     = time.Second
)

// Config says how New connects to a Redis server (a standalone server or a
// proxy in front of one; Redis Cluster is not supported: fenced writes
// touch two keys that Cluster would place on different nodes). The zero
// value connects to localhost:6379 without authentication or TLS.
//
// Addr, DB and Channel must be the same on every replica that shares the
// store.
type Config struct {
	// Addr is the server's host:port. Zero means "localhost:6379".
	Addr string

	// Username and Password authenticate the connection (AUTH, or HELLO
	// with AUTH). An empty Username with a Password is the "default" user
	// (a server with requirepass); both empty send no AUTH. The password is
	// a Secret: Config never prints it, nor does any error of this package.
	Username string
	Password tenantauth.Secret

	// DB is the database selected on every connection. Zero is database 0.
	DB int

	// TLS, when not nil, connects with TLS using this configuration (set
	// ServerName when Addr is an IP address). Nil means plain TCP.
	TLS *tls.Config

	// Channel is the Pub/Sub channel of Publish and Subscribe. It must be
	// the same on every replica and differ between services that share a
	// server but not their tokens. Zero means "tenantauth:invalidate".
	Channel string

	// DialTimeout bounds establishing a connection (TCP, TLS, AUTH, SELECT)
	// when the call's context has no earlier deadline. Zero means 1 s.
	DialTimeout time.Duration

	// Timeout is how long a connection may go without an answer from
	// the server: a connection silent for Timeout is checked with PING,
	// and closed when the answer does not come within another Timeout,
	// failing the calls waiting on it and ending its Subscription. So a
	// call whose context has no earlier deadline fails within about
	// 2×Timeout on a server that hangs. Zero means 1 s.
	Timeout time.Duration

	// PoolSize is the number of connections that commands share, rounded
	// up to a power of two, at most 256. Concurrent calls are pipelined:
	// their commands go out together on one connection, so that a few
	// connections serve many thousands of calls a second. Each
	// Subscription has one more connection of its own. Zero means
	// GOMAXPROCS rounded down to a power of two, at most 4.
	PoolSize int
}

// withDefaults returns c with its zero fields set to their defaults.
func (c Config) withDefaults() Config {
	if c.Addr == "" {
		c.Addr = DefaultAddr
	}
	if c.Channel == "" {
		c.Channel = DefaultChannel
	}
	if c.DialTimeout <= 0 {
		c.DialTimeout = DefaultDialTimeout
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	return c
}

// validate reports a Config that New refuses.
func (c Config) validate() error {
	if c.DB < 0 {
		return fmt.Errorf("redis: Config.DB is %d, not a database number", c.DB)
	}
	if c.PoolSize < 0 || c.PoolSize > 1<<rueidis.MaxPipelineMultiplex {
		return fmt.Errorf("redis: Config.PoolSize is %d, not within 0 to %d", c.PoolSize, 1<<rueidis.MaxPipelineMultiplex)
	}
	if c.DialTimeout < 0 || c.Timeout < 0 {
		return fmt.Errorf("redis: Config.DialTimeout (%v) and Config.Timeout (%v) must not be negative", c.DialTimeout, c.Timeout)
	}
	return nil
}

// String describes c without its password.
func (c Config) String() string {
	return fmt.Sprintf("redis.Config{Addr: %q, Username: %q, Password: %v, DB: %d, TLS: %t, Channel: %q, DialTimeout: %v, Timeout: %v, PoolSize: %d}",
		c.Addr, c.Username, c.Password, c.DB, c.TLS != nil, c.Channel, c.DialTimeout, c.Timeout, c.PoolSize)
}

// GoString is String, for %#v.
func (c Config) GoString() string { return c.String() }

// options translates c, with its defaults set, to rueidis.
func (c Config) options() rueidis.ClientOption {
	return rueidis.ClientOption{
		InitAddress: []string{c.Addr},
		Username:    c.Username,
		Password:    c.Password.Reveal(),
		SelectDB:    c.DB,
		TLSConfig:   c.TLS,
		// KeepAlive is also the idle time after which rueidis checks a
		// connection with PING, and ConnWriteTimeout how long it waits
		// for the answer (and for any other reply when the caller's
		// context has no earlier deadline) before closing the connection.
		Dialer:            net.Dialer{Timeout: c.DialTimeout, KeepAlive: c.Timeout},
		ConnWriteTimeout:  c.Timeout,
		PipelineMultiplex: multiplex(c.PoolSize),
		// One server, never a cluster: no CLUSTER probe at start, and a
		// client even when the server cannot be reached yet.
		ForceSingleClient: true,
		// The Manager has its own budget and circuit breaker; the Store
		// tries an idempotent call once more itself (see Store.retry).
		DisableRetry: true,
		// The Manager's own cache is the first level; see the package doc.
		DisableCache:  true,
		ClientSetInfo: rueidis.DisableClientSetInfo,
	}
}

// multiplex is rueidis's PipelineMultiplex for PoolSize connections: the
// base-2 logarithm, rounded up; 0 keeps rueidis's default and a negative
// value asks for one connection.
func multiplex(poolSize int) int {
	switch {
	case poolSize == 0:
		return 0
	case poolSize == 1:
		return -1
	}
	return bits.Len(uint(poolSize - 1))
}

// Package redis is the shared.Store of tenantauth on Redis: the second
// level of token cache that the replicas of a service share, their
// per-tenant locks, and the channel on which they announce invalidations
// (see tenantauth.SharedConfig). It is a module of its own, so that a
// program without Redis pulls in no Redis client.
//
//	store, err := redis.New(redis.Config{Addr: "redis.internal:6379", Password: pw})
//	…
//	m, err := tenantauth.New(tenantauth.Config{
//		Tenants: tenants,
//		Shared:  tenantauth.SharedConfig{Store: store, Keys: keys},
//	})
//
// # What is stored
//
// Values are Redis strings with a TTL (SET PX). A lock is a string set
// with SET NX PX to a value unique to that Lock call (a random prefix per
// Store and a counter). Everything that reads and then writes runs as one
// Lua script on the server, sent with EVALSHA and again with EVAL when the
// server lost it: a fenced Set (written only while the lock holds its
// fence), DeleteIfPrefix and Unlock (compare and delete). Invalidations are
// PUBLISHed on one channel, Config.Channel. Keys and values come from the
// Manager, which prefixes the keys and seals the values: the Store never
// sees a token in clear.
//
// Redis Cluster is not supported (a fenced Set touches a value and a lock,
// which Cluster could place on different nodes).
//
// # Failures
//
// The Manager gives each call a budget of tens of milliseconds, has a
// circuit breaker of its own, and works alone while the store is away; the
// Store makes that cheap:
//
//   - every call returns when its context ends, whatever the server does;
//     a call without a deadline is bounded by Config.Timeout;
//   - a server that is down fails calls at once (connection refused), and
//     one that hangs is detected: an idle connection is checked with PING
//     after Config.Timeout and dropped if the answer does not come;
//   - nothing is retried but idempotent commands, once, at once, within
//     the call's context (after a connection that died idle);
//   - New does not need the server, and the Store reconnects by itself:
//     a replica starts, and recovers, while Redis is down;
//   - a Subscription ends, with an error, as soon as its connection fails
//     or hangs, and never resubscribes behind the caller's back (messages
//     published meanwhile are lost): the Manager subscribes again.
//
// # Client
//
// The Store uses github.com/redis/rueidis. Measured against
// github.com/redis/go-redis/v9 configured for the same guarantees (module
// internal/clientcompare, against a local redis-server), rueidis
// allocates less on both of the Manager's paths — 5 allocations for a hit
// (GET of a 600-byte value) against 12, 8 for a miss (GET, Lock, fenced
// Set, Unlock) against 69 — and takes the same time within the noise of
// the measurement (a round trip to the server dominates). It also stops a
// call when its context is cancelled, not only at its deadline, pipelines
// concurrent calls on a few connections, logs nothing (go-redis writes to
// the standard logger by default), and needs no module but
// golang.org/x/sys to build.
//
// rueidis's client-side caching (server-assisted, RESP3 invalidations) is
// turned off. It would not pay here: the Manager's own cache is the first
// level, so the store is read only on a local miss, which is either a
// token no replica has (the server-side miss that caching cannot save) or
// one another replica just stored (which this replica never read, so it
// was not in its client-side cache either). It would add a second copy of
// every token in memory, tracking state on the server, and invalidation
// traffic, to save nothing.
//
// # Testing
//
// Package redistest runs a real redis-server for tests, and can kill,
// restart, pause and resume it.
package redis

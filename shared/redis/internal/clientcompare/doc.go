// Package clientcompare is the measurement behind the choice of Redis
// client in github.com/tenantauth/tenantauth/shared/redis: the same
// shared.Store written on github.com/redis/go-redis/v9, held to the same
// conformance suite, and benchmarks of both on the Manager's two paths
// (a hit: GET of a 600-byte sealed token; a miss: GET, Lock, fenced Set,
// Unlock) against a real redis-server:
//
//	cd shared/redis/internal/clientcompare
//	go test -run '^$' -bench . -benchmem -count 5
//
// It is a module of its own so that shared/redis requires one client
// only. Nothing here is for use outside these benchmarks.
package clientcompare

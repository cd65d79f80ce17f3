package redis_test

import (
	"context"
	"crypto/tls"
	"encoding/hex"
	"log"
	"os"
	"time"

	"github.com/tenantauth/tenantauth"
	"github.com/tenantauth/tenantauth/shared/redis"
)

// A Manager whose replicas share their tokens through Redis. (It needs a
// server, so it is compiled but not run.)
func ExampleNew() {
	store, err := redis.New(redis.Config{
		Addr:     "redis.internal:6379",
		Password: tenantauth.Secret(os.Getenv("REDIS_PASSWORD")),
		// Channel: "staging:invalidate", for a second service on the server
	})
	if err != nil {
		log.Fatal(err) // only a Config it cannot use
	}
	defer store.Close() // after the Manager's Close: defers run in reverse

	// New does not wait for the server: the Manager works alone until
	// Redis answers. Checking at start is optional.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := store.Ping(ctx); err != nil {
		log.Printf("redis not reachable yet: %v", err)
	}

	// 32 random bytes, the same on every replica: values are sealed with
	// it before they reach Redis.
	sealing, err := hex.DecodeString(os.Getenv("TENANTAUTH_SHARED_KEY"))
	if err != nil {
		log.Fatal(err)
	}
	m, err := tenantauth.New(tenantauth.Config{
		Tenants: tenantauth.Tenants{ /* … */ },
		Shared: tenantauth.SharedConfig{
			Store: store,
			Keys:  []tenantauth.SharedKey{{ID: "2026-11", Secret: tenantauth.Secret(sealing)}},
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
}

// Connecting with TLS and an ACL user, to a database other than 0.
func ExampleConfig() {
	store, err := redis.New(redis.Config{
		Addr:     "redis.internal:6380",
		Username: "tenantauth",
		Password: tenantauth.Secret(os.Getenv("REDIS_PASSWORD")),
		DB:       2,
		TLS:      &tls.Config{ServerName: "redis.internal", MinVersion: tls.VersionTLS12},
		Timeout:  500 * time.Millisecond,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
}

// Package breaker keeps one circuit breaker per token endpoint.
package breaker

import "errors"

// ErrOpen means the circuit is open: the call was not made.
var ErrOpen = errors.New("tenantauth: circuit breaker open")

// Config configures a Group. (placeholder; being written)
type Config struct{}

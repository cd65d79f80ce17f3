package tenantauth

import (
	"context"
)

// A Manager hands out each tenant's access token: from its cache when the
// token is fresh, otherwise from one shared request to the tenant's token
// endpoint behind that endpoint's circuit breaker.
//
// A Manager is safe for concurrent use. Close it to stop its background work.
type Manager struct {
	cfg Config
}

// New returns a Manager configured by cfg.
func New(cfg Config) (*Manager, error) {
	if cfg.Tenants == nil {
		return nil, errConfig("Tenants is required")
	}
	return &Manager{cfg: cfg}, nil
}

// Token returns a valid token for tenantID.
func (m *Manager) Token(ctx context.Context, tenantID string) (*Token, error) {
	return nil, ErrClosed
}

// TokenForHost is Token plus the tenant's APIHosts check for host.
func (m *Manager) TokenForHost(ctx context.Context, tenantID, host string) (*Token, error) {
	return nil, ErrClosed
}

// Invalidate drops rejected from the cache if it is still the tenant's
// cached token.
func (m *Manager) Invalidate(tenantID string, rejected *Token) {}

// Forget drops everything cached for tenantID.
func (m *Manager) Forget(tenantID string) {}

// Close stops background work.
func (m *Manager) Close() error { return nil }

func errConfig(msg string) error { return &configError{msg} }

type configError struct{ msg string }

func (e *configError) Error() string { return "tenantauth: invalid config: " + e.msg }

package fiberauth

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tenantauth/tenantauth"
)

type dpopProvider struct{}

func (dpopProvider) Endpoint() string { return "https://auth.test/token" }

func (dpopProvider) Exchange(context.Context, tenantauth.TokenRequest) (*tenantauth.Token, error) {
	return &tenantauth.Token{AccessToken: "bound", TokenType: "DPoP", Expiry: time.Now().Add(time.Hour)}, nil
}

// TestDPoPTokensRefused: fiberauth makes no DPoP proofs yet, so it refuses a
// DPoP-bound token with a clear error instead of sending it to be refused.
func TestDPoPTokensRefused(t *testing.T) {
	m := newManager(t, dpopProvider{}, tenantSpec{"acme", nil})
	_, err := tokenFor(context.Background(), m, "acme", true, "api.acme.test", false)
	if !errors.Is(err, ErrDPoPUnsupported) {
		t.Fatalf("tokenFor with a DPoP-bound token: %v, want ErrDPoPUnsupported", err)
	}
}

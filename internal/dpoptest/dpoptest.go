// Package dpoptest holds test doubles shared by the middleware tests of
// DPoP: a provider of DPoP-bound tokens and an API that follows a script.
package dpoptest

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tenantauth/tenantauth"
	"github.com/tenantauth/tenantauth/clientauth"
)

// Provider issues a new DPoP-bound token ("dpop-1", "dpop-2", …) per
// token request, without I/O.
type Provider struct{ n atomic.Int64 }

// Endpoint implements tenantauth.Provider.
func (*Provider) Endpoint() string { return "https://idp.test/token" }

// Exchange implements tenantauth.Provider.
func (p *Provider) Exchange(context.Context, tenantauth.TokenRequest) (*tenantauth.Token, error) {
	now := time.Now()
	return &tenantauth.Token{AccessToken: tenantauth.Secret("dpop-" + strconv.FormatInt(p.n.Add(1), 10)),
		TokenType: "DPoP", IssuedAt: now, Expiry: now.Add(time.Hour)}, nil
}

// Requests returns the token requests made.
func (p *Provider) Requests() int64 { return p.n.Load() }

// RotatingAPI refuses the first token it sees (401 invalid_token, as after
// a revocation), then asks for a nonce (401 use_dpop_nonce with DPoP-Nonce
// "n-1"), as a server that rotated its nonce meanwhile, then serves every
// request whose proof verifies with key jkt and carries that nonce.
type RotatingAPI struct {
	JKT string

	mu    sync.Mutex
	calls int
	// Served counts 200 answers.
	Served int
}

// ServeHTTP implements http.Handler.
func (a *RotatingAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls++
	switch a.calls {
	case 1:
		w.Header().Set("WWW-Authenticate", `DPoP error="invalid_token"`)
		w.WriteHeader(http.StatusUnauthorized)
		return
	case 2:
		w.Header().Set("DPoP-Nonce", "n-1")
		w.Header().Set("WWW-Authenticate", `DPoP error="use_dpop_nonce"`)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "DPoP ")
	url := "http://" + r.Host + r.URL.EscapedPath()
	if _, err := clientauth.VerifyProof(r.Header.Get("DPoP"), r.Method, url, tok, a.JKT, "n-1", time.Now(), nil); !ok || err != nil {
		w.Header().Set("WWW-Authenticate", `DPoP error="invalid_dpop_proof"`)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	a.Served++
	w.WriteHeader(http.StatusOK)
}

// Calls returns the requests the API received.
func (a *RotatingAPI) Calls() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.calls
}

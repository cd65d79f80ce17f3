package tokenclient_test

import (
	"context"
	"fmt"

	"github.com/tenantauth/tenantauth"
	"github.com/tenantauth/tenantauth/providers/tokenclient"
	"github.com/tenantauth/tenantauth/tenantauthtest"
)

// vendorProvider is a whole tenantauth.Provider for a vendor whose token
// endpoint takes JSON bodies (as Laravel Passport does) and wants a header
// of its own, which a Client cannot add. TestVendorProviderConformance runs
// it through the conformance suite.
type vendorProvider struct{ tokenURL string }

var _ tenantauth.Provider = (*vendorProvider)(nil)

func newVendorProvider(tokenURL string) (*vendorProvider, error) {
	u, err := tokenclient.CheckEndpoint(tokenURL, false) // https, or http on loopback
	if err != nil {
		return nil, fmt.Errorf("vendor: %w", err)
	}
	return &vendorProvider{tokenURL: u.String()}, nil
}

func (p *vendorProvider) Endpoint() string { return p.tokenURL }

func (p *vendorProvider) Exchange(ctx context.Context, req tenantauth.TokenRequest) (*tenantauth.Token, error) {
	hr, err := tokenclient.NewRequest(ctx, p.tokenURL, req, tokenclient.ClientSecretPost, tokenclient.JSON)
	if err != nil {
		return nil, err
	}
	hr.Header.Set("X-Api-Version", "2")
	return tokenclient.Do(ctx, nil, hr, tokenclient.Dialect{ // nil: the shared hardened client
		Name:    "vendor",
		Options: tokenclient.ParseOptions{Secrets: tokenclient.RequestSecrets(req)},
	})
}

// Writing a provider from the pieces: NewRequest builds the request, Do sends
// it and parses the answer as for tenantauth's own providers.
func Example_provider() {
	srv := tenantauthtest.NewPassport(tenantauthtest.Config{
		Clients: map[string]string{"3": "example-secret"},
		Users:   map[string]string{"ana@example.com": "example-password"},
	})
	defer srv.Close()

	p, err := newVendorProvider(srv.TokenURL())
	if err != nil {
		fmt.Println(err)
		return
	}
	tok, err := p.Exchange(context.Background(), tenantauth.TokenRequest{Credentials: tenantauth.Credentials{
		ClientID: "3", ClientSecret: "example-secret", Username: "ana@example.com", Password: "example-password",
	}})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(tok.TokenType, tok.AccessToken, tok.Expiry.Sub(tok.IssuedAt))
	// Output:
	// Bearer [REDACTED] 1h0m0s
}

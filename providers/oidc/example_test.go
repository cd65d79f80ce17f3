package oidc_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/tenantauth/tenantauth"
	"github.com/tenantauth/tenantauth/providers/oidc"
	"github.com/tenantauth/tenantauth/providers/tokenclient"
	"github.com/tenantauth/tenantauth/tenantauthtest"
)

// Example discovers the token endpoint of a standard authorization server
// from its issuer, as for Auth0, and gets tokens for two tenants through a
// Manager. The server is a stand-in on 127.0.0.1 that, like Auth0, wants
// the API's identifier as audience.
func Example() {
	idp := tenantauthtest.NewStandard(tenantauthtest.Config{
		Clients:       map[string]string{"acme-client": "acme-secret", "globex-client": "globex-secret"},
		RequireParams: map[string]string{"audience": "https://api.example.com"},
	})
	defer idp.Close()

	// In production: oidc.Config{Issuer: "https://example.eu.auth0.com/"}.
	p, err := oidc.New(oidc.Config{Issuer: idp.Issuer()})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer p.CloseIdleConnections()

	audience := url.Values{"audience": {"https://api.example.com"}}
	m, err := tenantauth.New(tenantauth.Config{Tenants: tenantauth.Tenants{
		"acme": {
			Provider:    p,
			Credentials: tenantauth.Credentials{ClientID: "acme-client", ClientSecret: "acme-secret", EndpointParams: audience},
			APIHosts:    []string{"api.acme.example"},
		},
		"globex": {
			Provider:    p,
			Credentials: tenantauth.Credentials{ClientID: "globex-client", ClientSecret: "globex-secret", EndpointParams: audience},
			APIHosts:    []string{"api.globex.example"},
		},
	}})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer m.Close()

	for _, tenant := range []string{"acme", "globex"} {
		tok, err := m.Token(context.Background(), tenant)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(tenant, tok.TokenType, tok.AccessToken)
	}
	tokenURL, _ := p.TokenURL(context.Background())
	fmt.Println("token endpoint:", strings.TrimPrefix(tokenURL, idp.URL))
	fmt.Println("Endpoint is the issuer:", p.Endpoint() == idp.Issuer())
	fmt.Println("discovery requests:", idp.Stats().Discovery)
	// Output:
	// acme Bearer [REDACTED]
	// globex Bearer [REDACTED]
	// token endpoint: /oauth2/token
	// Endpoint is the issuer: true
	// discovery requests: 1
}

// ExampleNew_tokenURL configures the token endpoint directly, as
// x/oauth2's clientcredentials.Config does: nothing is discovered.
func ExampleNew_tokenURL() {
	p, err := oidc.New(oidc.Config{
		TokenURL:   "https://example.okta.com/oauth2/default/v1/token",
		AuthMethod: tokenclient.ClientSecretPost,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(p.Endpoint())
	// Output:
	// https://example.okta.com/oauth2/default/v1/token
}

// ExampleProvider_Exchange_issuerMismatch shows the error for a discovery
// document that names another issuer.
func ExampleProvider_Exchange_issuerMismatch() {
	idp := tenantauthtest.NewStandard(tenantauthtest.Config{DiscoveryIssuer: "https://other.example.com"})
	defer idp.Close()

	p, _ := oidc.New(oidc.Config{Issuer: idp.Issuer()})
	_, err := p.Exchange(context.Background(), tenantauth.TokenRequest{
		Credentials: tenantauth.Credentials{ClientID: "c", ClientSecret: "s"},
	})
	fmt.Println(errors.Is(err, oidc.ErrDiscovery), errors.Is(err, oidc.ErrIssuerMismatch))
	// Output:
	// true true
}

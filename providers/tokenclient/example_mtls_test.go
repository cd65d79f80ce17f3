package tokenclient_test

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log"

	"github.com/tenantauth/tenantauth"
	"github.com/tenantauth/tenantauth/clientauth"
	"github.com/tenantauth/tenantauth/providers/tokenclient"
	"github.com/tenantauth/tenantauth/tenantauthtest"
)

// Tenants that authenticate with their own TLS client certificates
// (tls_client_auth, RFC 8705) at one token endpoint: each request goes on
// connections of its tenant's certificate, so a record naming another
// tenant's client ID gets nothing.
func Example_tlsClientAuth() {
	auth := map[string]*clientauth.TLSClientAuth{}
	registered := map[string][]*x509.Certificate{}
	for _, id := range []string{"acme", "globex"} {
		cert, leaf, err := tenantauthtest.NewClientCertificate(id) // in production: tls.LoadX509KeyPair
		if err != nil {
			log.Fatal(err)
		}
		if auth[id], err = clientauth.NewTLSClientAuth(cert); err != nil {
			log.Fatal(err)
		}
		registered[id] = []*x509.Certificate{leaf}
	}
	srv := tenantauthtest.NewStandard(tenantauthtest.Config{TLS: true, AuthMethod: "tls_client_auth", ClientCertificates: registered})
	defer srv.Close()

	c, err := tokenclient.New(tokenclient.Config{TokenURL: srv.TokenURL(), HTTPClient: srv.Client()})
	if err != nil {
		log.Fatal(err)
	}
	defer c.CloseIdleConnections()
	exchange := func(clientID string, a *clientauth.TLSClientAuth) {
		tok, err := c.Exchange(context.Background(), tenantauth.TokenRequest{Credentials: tenantauth.Credentials{ClientID: clientID, Auth: a}})
		var te *tenantauth.TokenError
		switch {
		case errors.As(err, &te):
			fmt.Println(clientID, "refused:", te.StatusCode, te.Code)
		case err != nil:
			fmt.Println(clientID, "error:", err)
		default:
			fmt.Println(clientID, "token type:", tok.TokenType)
		}
	}
	exchange("acme", auth["acme"])
	exchange("globex", auth["globex"])
	exchange("globex", auth["acme"]) // acme's certificate for globex's client
	fmt.Println(auth["acme"].Method(), auth["acme"].Subject())
	// Output:
	// acme token type: Bearer
	// globex token type: Bearer
	// globex refused: 401 invalid_client
	// tls_client_auth CN=acme
}

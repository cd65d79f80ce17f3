package xoauth2_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"net/http"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/oauth"
	"google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"

	"github.com/tenantauth/tenantauth"
	"github.com/tenantauth/tenantauth/providers/keycloak"
	"github.com/tenantauth/tenantauth/tenantauthtest"
	"github.com/tenantauth/tenantauth/xoauth2"
)

// gRPC per-RPC credentials from a tenant's tokens: oauth.TokenSource, the
// adapter of grpc/credentials/oauth, takes any oauth2.TokenSource. The
// API is a gRPC server on 127.0.0.1 serving the standard health service
// over TLS (with a self-signed certificate here, a real one in production);
// it admits a call only with "authorization: Bearer <token>" carrying a
// token the tenant's identity provider (a Keycloak stand-in) issued.
//
// TLS is not optional: gRPC's oauth credentials refuse to send a token
// over a connection without privacy and integrity, and an insecure
// connection with that check overridden would send the tenant's token in
// clear text.
func ExampleTokenSourceForHost_grpc() {
	idp := tenantauthtest.NewKeycloak(tenantauthtest.Config{
		Clients: map[string]string{"acme-client": "acme-secret"},
	})
	defer idp.Close()
	api, err := startGRPCAPI(idp) // in helpers_test.go
	if err != nil {
		log.Fatal(err)
	}
	defer api.Stop()

	provider, err := keycloak.New(keycloak.Config{BaseURL: idp.URL, Realm: "fluencypass"})
	if err != nil {
		log.Fatal(err)
	}
	m, err := tenantauth.New(tenantauth.Config{Tenants: tenantauth.Tenants{
		"acme": {
			Provider:    provider,
			APIHosts:    []string{api.Addr}, // acme's token goes to its API only
			Credentials: tenantauth.Credentials{ClientID: "acme-client", ClientSecret: "acme-secret"},
		},
	}})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()

	// A context that lives as long as the token source: every Token call
	// uses it.
	ts := xoauth2.TokenSourceForHost(context.Background(), m, "acme", api.Addr)
	conn, err := grpc.NewClient(api.Addr,
		grpc.WithTransportCredentials(credentials.NewClientTLSFromCert(api.RootCAs, "")),
		grpc.WithPerRPCCredentials(oauth.TokenSource{TokenSource: ts}))
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()

	health := grpc_health_v1.NewHealthClient(conn)
	for range 3 {
		var header metadata.MD
		resp, err := health.Check(context.Background(), &grpc_health_v1.HealthCheckRequest{}, grpc.Header(&header))
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(resp.GetStatus(), "with the token of", header.Get("x-client-id"))
	}
	fmt.Println("token requests:", idp.Stats().TokenRequests)
	// Output:
	// SERVING with the token of [acme-client]
	// SERVING with the token of [acme-client]
	// SERVING with the token of [acme-client]
	// token requests: 1
}

// An *http.Client for a tenant, for libraries that take one, and a
// TokenSource of the same tenant: they share the Manager's token. When the
// identity provider drops every token (as HubSoft does after an upgrade),
// the client's next request is answered 401, its transport fetches a new
// token and retries, and the TokenSource hands out that new token at once.
func ExampleClient() {
	idp := tenantauthtest.NewKeycloak(tenantauthtest.Config{
		Clients: map[string]string{"acme-client": "acme-secret"},
	})
	defer idp.Close()
	provider, err := keycloak.New(keycloak.Config{BaseURL: idp.URL, Realm: "fluencypass"})
	if err != nil {
		log.Fatal(err)
	}
	m, err := tenantauth.New(tenantauth.Config{Tenants: tenantauth.Tenants{
		"acme": {
			Provider:    provider,
			APIHosts:    []string{"127.0.0.1"}, // the stand-in's API
			Credentials: tenantauth.Credentials{ClientID: "acme-client", ClientSecret: "acme-secret"},
		},
	}})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()

	client := xoauth2.Client(m, "acme", nil)
	defer client.CloseIdleConnections()
	ts := xoauth2.TokenSource(context.Background(), m, "acme")

	get := func() {
		resp, err := client.Get(idp.APIURL() + "/v1/students")
		if err != nil {
			log.Fatal(err)
		}
		defer resp.Body.Close()
		var who struct {
			ClientID string `json:"client_id"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&who)
		fmt.Println(resp.StatusCode, http.StatusText(resp.StatusCode), "for", who.ClientID)
	}

	get()
	before, err := ts.Token()
	if err != nil {
		log.Fatal(err)
	}
	idp.RevokeAll()
	get() // 401, new token, retried
	after, err := ts.Token()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("the TokenSource has the new token:", after.AccessToken != before.AccessToken)
	fmt.Println("token requests:", idp.Stats().TokenRequests)
	// Output:
	// 200 OK for acme-client
	// 200 OK for acme-client
	// the TokenSource has the new token: true
	// token requests: 2
}

package keycloak_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/tenantauth/tenantauth"
	"github.com/tenantauth/tenantauth/providers/keycloak"
)

// A stand-in for sso.fluencypass.com that answers like its documentation.
func fluencypassStandIn() *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.FormValue("password") == "wrong" {
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"error":"invalid_grant","error_description":"Invalid user credentials"}`)
			return
		}
		io.WriteString(w, `{"access_token":"eyJ…","expires_in":86400,"refresh_expires_in":0,`+
			`"token_type":"Bearer","not-before-policy":1715704038,"scope":"profile email"}`)
	}))
}

func ExampleFluencypass() {
	srv := fluencypassStandIn()
	defer srv.Close()

	// In production: keycloak.Fluencypass()
	p, err := keycloak.Fluencypass(keycloak.WithBaseURL(srv.URL))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(strings.TrimPrefix(p.Endpoint(), srv.URL))

	tok, err := p.Exchange(context.Background(), tenantauth.TokenRequest{
		Credentials: tenantauth.Credentials{ClientID: "my-client", ClientSecret: "s3cret"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(tok.TokenType, tok.AccessToken, tok.Expiry.Sub(tok.IssuedAt), tok.Scope)
	// Output:
	// /realms/fluencypass/protocol/openid-connect/token
	// Bearer [REDACTED] 24h0m0s profile email
}

func ExampleProvider_Exchange_wrongPassword() {
	srv := fluencypassStandIn()
	defer srv.Close()

	p, _ := keycloak.New(keycloak.Config{BaseURL: srv.URL, Realm: "fluencypass"})
	_, err := p.Exchange(context.Background(), tenantauth.TokenRequest{
		Credentials: tenantauth.Credentials{ClientID: "my-client", ClientSecret: "s3cret",
			Username: "ana@example.com", Password: "wrong"},
	})
	var te *tenantauth.TokenError
	if errors.As(err, &te) {
		fmt.Println(te.StatusCode, te.Code, te.Description)
	}
	fmt.Println(errors.Is(err, tenantauth.ErrInvalidCredentials))
	// Output:
	// 401 invalid_grant Invalid user credentials
	// true
}

func ExampleNew() {
	p, err := keycloak.New(keycloak.Config{
		BaseURL:    "https://sso.example.com/auth/", // Keycloak < 17 serves under /auth
		Realm:      "customers",
		ClientAuth: keycloak.ClientAuthBasic,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(p.Endpoint())

	_, err = keycloak.New(keycloak.Config{BaseURL: "http://sso.example.com", Realm: "customers"})
	fmt.Println(errors.Is(err, tenantauth.ErrInsecureEndpoint))
	// Output:
	// https://sso.example.com/auth/realms/customers/protocol/openid-connect/token
	// true
}

package passport_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/tenantauth/tenantauth"
	"github.com/tenantauth/tenantauth/providers/passport"
)

// A stand-in for one HubSoft customer's server.
func hubsoftStandIn() *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in struct{ Username, Password string }
		_ = json.NewDecoder(r.Body).Decode(&in)
		w.Header().Set("Content-Type", "application/json")
		if in.Password != "1234" {
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"error":"invalid_grant","error_description":"The user credentials were incorrect.",`+
				`"hint":"","message":"The user credentials were incorrect."}`)
			return
		}
		io.WriteString(w, `{"token_type":"Bearer","expires_in":2592000,"access_token":"eyJ0eXAi…","refresh_token":"def50200…"}`)
	}))
}

func ExampleHubSoft() {
	srv := hubsoftStandIn()
	defer srv.Close()

	// In production: passport.HubSoft("api.customer.hubsoft.com.br")
	p, err := passport.HubSoft(srv.URL)
	if err != nil {
		fmt.Println(err)
		return
	}
	tok, err := p.Exchange(context.Background(), tenantauth.TokenRequest{
		Credentials: tenantauth.Credentials{
			ClientID: "3", ClientSecret: "ONe7Ns48Y30tB",
			Username: "teste@teste.com", Password: "1234",
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(tok.TokenType, tok.AccessToken, tok.Expiry.Sub(tok.IssuedAt), !tok.RefreshToken.IsZero())
	// Output:
	// Bearer [REDACTED] 720h0m0s true
}

func ExampleProvider_Exchange_wrongPassword() {
	srv := hubsoftStandIn()
	defer srv.Close()

	p, _ := passport.New(passport.Config{BaseURL: srv.URL})
	_, err := p.Exchange(context.Background(), tenantauth.TokenRequest{
		Credentials: tenantauth.Credentials{
			ClientID: "3", ClientSecret: "ONe7Ns48Y30tB",
			Username: "teste@teste.com", Password: "wrong",
		},
	})
	var te *tenantauth.TokenError
	if errors.As(err, &te) {
		fmt.Println(te.StatusCode, te.Code, te.Message)
	}
	fmt.Println(errors.Is(err, tenantauth.ErrInvalidCredentials))
	// Output:
	// 400 invalid_grant The user credentials were incorrect.
	// true
}

func ExampleNew() {
	for _, host := range []string{"erp.customer.com", "https://erp.customer.com:8443/api/", "http://erp.customer.com"} {
		p, err := passport.New(passport.Config{BaseURL: host})
		if err != nil {
			fmt.Println(errors.Is(err, tenantauth.ErrInsecureEndpoint))
			continue
		}
		fmt.Println(p.Endpoint())
	}
	// Output:
	// https://erp.customer.com/oauth/token
	// https://erp.customer.com:8443/api/oauth/token
	// true
}

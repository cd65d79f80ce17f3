package tokenclient_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"time"

	"github.com/tenantauth/tenantauth"
	"github.com/tenantauth/tenantauth/providers/tokenclient"
)

// A stand-in for an RFC 6749 token endpoint: form bodies, client_secret_post,
// an Auth0-style audience parameter.
func idpStandIn() *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.PostFormValue("client_secret") != "s3cr3t" {
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"error":"invalid_client","error_description":"Bad client credentials"}`)
			return
		}
		fmt.Fprintf(w, `{"access_token":"eyJ…","token_type":"bearer","expires_in":"3600","scope":%q}`,
			r.PostFormValue("scope")+" aud:"+r.PostFormValue("audience"))
	}))
}

// A Client is a whole tenantauth.Provider for one token URL: give it to a
// Tenant, or call Exchange yourself.
func ExampleClient() {
	srv := idpStandIn()
	defer srv.Close()

	idp, err := tokenclient.New(tokenclient.Config{
		Name:     "idp",
		TokenURL: srv.URL + "/oauth/token", // https in production
		// AuthMethod zero: client_secret_post; Encoding zero: a form.
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	creds := tenantauth.Credentials{
		ClientID: "billing", ClientSecret: "s3cr3t", Scopes: []string{"invoices:read"},
		EndpointParams: url.Values{"audience": {"https://api.example.com"}},
	}
	tok, err := idp.Exchange(context.Background(), tenantauth.TokenRequest{Credentials: creds})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(tok.TokenType, tok.AccessToken, tok.Expiry.Sub(tok.IssuedAt), tok.Scope)

	creds.ClientSecret = "wrong"
	_, err = idp.Exchange(context.Background(), tenantauth.TokenRequest{Credentials: creds})
	var te *tenantauth.TokenError
	if errors.As(err, &te) {
		fmt.Println(te.StatusCode, te.Code, te.Description, errors.Is(err, tenantauth.ErrInvalidCredentials))
	}

	// A tenant's record cannot override what the provider sets itself.
	creds.EndpointParams = url.Values{"grant_type": {"authorization_code"}}
	_, err = idp.Exchange(context.Background(), tenantauth.TokenRequest{Credentials: creds})
	fmt.Println(err)
	// Output:
	// Bearer [REDACTED] 1h0m0s invoices:read aud:https://api.example.com
	// 401 invalid_client Bad client credentials true
	// idp: Credentials.EndpointParams must not set "grant_type": the provider sets it itself: tenantauth: incomplete credentials
}

// NewRequest builds the token request a Client sends, for providers of your
// own: here a JSON body with a parameter of two values.
func ExampleNewRequest() {
	req := tenantauth.TokenRequest{Credentials: tenantauth.Credentials{
		ClientID: "3", ClientSecret: "example-secret",
		Username: "ana@example.com", Password: "example-password",
		EndpointParams: url.Values{"resource": {"https://a.example/", "https://b.example/"}},
	}}
	hr, err := tokenclient.NewRequest(context.Background(), "https://erp.example.com/oauth/token", req,
		tokenclient.ClientSecretPost, tokenclient.JSON)
	if err != nil {
		fmt.Println(err)
		return
	}
	body, _ := io.ReadAll(hr.Body)
	fmt.Println(hr.Method, hr.URL, hr.Header.Get("Content-Type"))
	fmt.Println(string(body))
	// Output:
	// POST https://erp.example.com/oauth/token application/json
	// {"grant_type":"password","client_id":"3","client_secret":"example-secret","username":"ana@example.com","password":"example-password","resource":["https://a.example/","https://b.example/"]}
}

func ExampleParse() {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	body := []byte(`{"access_token":"eyJ…","expires_in":"86400","token_type":"bearer"}`)
	tok, err := tokenclient.Parse("https://sso.example.com/token", 200, nil, body, now, tokenclient.ParseOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(tok.TokenType, tok.AccessToken, tok.Expiry.Sub(now))

	h := http.Header{"Retry-After": {"30"}}
	_, err = tokenclient.Parse("https://sso.example.com/token", 429, h, []byte(`{"error":"slow_down"}`), now, tokenclient.ParseOptions{})
	var te *tenantauth.TokenError
	if errors.As(err, &te) {
		fmt.Println(te.Code, te.RetryAfter, te.Temporary())
	}
	fmt.Println(err)
	// Output:
	// Bearer [REDACTED] 24h0m0s
	// slow_down 30s true
	// tenantauth: token endpoint https://sso.example.com/token: status 429: slow_down: the token endpoint asks for fewer requests (RFC 8628): wait longer between them; a later attempt may succeed (retry after 30s)
}

package tenantauthtest_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/tenantauth/tenantauth/tenantauthtest"
)

// A Keycloak stand-in (the Fluencypass dialect): a client_credentials token
// request with a form body, then a call to the protected API.
func ExampleNewKeycloak() {
	srv := tenantauthtest.NewKeycloak(tenantauthtest.Config{
		Clients: map[string]string{"partner-api": "partner-secret"},
	})
	defer srv.Close()

	resp, err := srv.Client().PostForm(srv.TokenURL(), url.Values{
		"grant_type":    {"client_credentials"},
		"client_id":     {"partner-api"},
		"client_secret": {"partner-secret"},
	})
	if err != nil {
		log.Fatal(err)
	}
	var tok struct {
		AccessToken      string `json:"access_token"`
		ExpiresIn        int    `json:"expires_in"`
		RefreshExpiresIn int    `json:"refresh_expires_in"`
		TokenType        string `json:"token_type"`
		Scope            string `json:"scope"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	fmt.Println(resp.StatusCode, tok.TokenType, tok.ExpiresIn, tok.RefreshExpiresIn, tok.Scope)

	req, _ := http.NewRequest(http.MethodGet, srv.APIURL()+"/v1/students", nil)
	req.Header.Set("Authorization", tok.TokenType+" "+tok.AccessToken)
	resp, err = srv.Client().Do(req)
	if err != nil {
		log.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(resp.StatusCode, string(body))
	fmt.Println(srv.Stats().ByGrant)
	// Output:
	// 200 Bearer 3600 0 profile email
	// 200 {"client_id":"partner-api","username":"","path":"/api/v1/students","method":"GET","body_sha256":"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}
	// map[client_credentials:1]
}

// A Laravel Passport stand-in (the HubSoft dialect): the password grant with
// the JSON body of HubSoft's documentation, client_id as a number; then the
// server drops every token, as HubSoft does after an upgrade, and the API
// answers 401.
func ExampleNewPassport() {
	srv := tenantauthtest.NewPassport(tenantauthtest.Config{
		Clients:       map[string]string{"3": "hubsoft-secret"},
		Users:         map[string]string{"teste@teste.com": "1234"},
		TokenLifetime: 30 * 24 * time.Hour, // expires_in 2592000, as HubSoft
		RefreshTokens: true,
	})
	defer srv.Close()

	resp, err := srv.Client().Post(srv.TokenURL(), "application/json", strings.NewReader(
		`{"grant_type":"password","client_id":3,"client_secret":"hubsoft-secret",`+
			`"username":"teste@teste.com","password":"1234"}`))
	if err != nil {
		log.Fatal(err)
	}
	var tok struct {
		TokenType    string `json:"token_type"`
		ExpiresIn    int    `json:"expires_in"`
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	fmt.Println(resp.StatusCode, tok.TokenType, tok.ExpiresIn, tok.RefreshToken != "")

	call := func() {
		req, _ := http.NewRequest(http.MethodGet, srv.APIURL()+"/v1/cliente", nil)
		// HubSoft: the header is token_type + " " + access_token.
		req.Header.Set("Authorization", tok.TokenType+" "+tok.AccessToken)
		resp, err := srv.Client().Do(req)
		if err != nil {
			log.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Println(resp.StatusCode, strings.TrimSpace(string(body)))
	}
	call()
	fmt.Println("revoked:", srv.RevokeAll())
	call()
	// Output:
	// 200 Bearer 2592000 true
	// 200 {"client_id":"3","username":"teste@teste.com","path":"/api/v1/cliente","method":"GET","body_sha256":"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}
	// revoked: 1
	// 401 {"message":"Unauthenticated."}
}

// FailNext makes the next token requests fail, here with a 503 and a
// Retry-After header, to test a client's retries and circuit breaker.
func ExampleServer_FailNext() {
	srv := tenantauthtest.NewKeycloak(tenantauthtest.Config{})
	defer srv.Close()
	srv.FailNext(2, tenantauthtest.Failure{Status: http.StatusServiceUnavailable, Header: http.Header{"Retry-After": {"1"}}})

	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {"client"}, "client_secret": {"secret"}}
	for range 3 {
		resp, err := srv.Client().PostForm(srv.TokenURL(), form)
		if err != nil {
			log.Fatal(err)
		}
		resp.Body.Close()
		fmt.Printf("%d Retry-After=%q\n", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	st := srv.Stats()
	fmt.Println(st.TokenRequests, "requests,", st.TokenErrors, "errors")
	// Output:
	// 503 Retry-After="1"
	// 503 Retry-After="1"
	// 200 Retry-After=""
	// 3 requests, 2 errors
}

// Capacity simulates an overloaded identity provider. Here one token
// request at a time is served, each taking an hour: a second request is
// refused at once with 429 and Retry-After (in seconds, rounded up), and a
// client that gives up frees its slot for the next one.
func ExampleCapacity() {
	srv := tenantauthtest.NewKeycloak(tenantauthtest.Config{
		Latency:  time.Hour, // the service time of every token request
		Capacity: tenantauthtest.Capacity{Max: 1, Status: http.StatusTooManyRequests, RetryAfter: 1500 * time.Millisecond},
	})
	defer srv.Close()
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {"client"}, "client_secret": {"secret"}}
	waitInService := func(n int) { // a bounded poll: the server counts a request as it arrives
		for i := 0; srv.Stats().InService != n; i++ {
			if i == 10000 {
				log.Fatalf("never %d in service", n)
			}
			time.Sleep(time.Millisecond)
		}
	}

	// The first request takes the only slot, until its client gives up.
	ctx, giveUp := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.TokenURL(), strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		_, err := srv.Client().Do(req)
		done <- err
	}()
	waitInService(1)

	resp, err := srv.Client().PostForm(srv.TokenURL(), form)
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	fmt.Println(resp.StatusCode, "Retry-After:", resp.Header.Get("Retry-After"))

	giveUp()
	fmt.Println("first client:", errors.Is(<-done, context.Canceled))
	waitInService(0)

	srv.SetLatency(0)
	resp, err = srv.Client().PostForm(srv.TokenURL(), form)
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	fmt.Println(resp.StatusCode)

	st := srv.Stats()
	fmt.Println(st.TokenRequests, "requests,", st.CapacityRefusals, "refused, at most", st.MaxInService, "in service")
	// Output:
	// 429 Retry-After: 2
	// first client: true
	// 200
	// 3 requests, 1 refused, at most 1 in service
}

// A standard OAuth 2.0 stand-in that behaves like Auth0 for a machine
// client: the client reads the discovery document, then asks for a token
// with client_secret_basic and the audience the server requires.
func ExampleNewStandard() {
	srv := tenantauthtest.NewStandard(tenantauthtest.Config{
		Clients:       map[string]string{"machine-42": "s3cret/+"},
		RequireParams: map[string]string{"audience": "https://api.example"},
	})
	defer srv.Close()

	resp, err := srv.Client().Get(srv.Issuer() + "/.well-known/openid-configuration")
	if err != nil {
		log.Fatal(err)
	}
	var meta struct {
		Issuer        string   `json:"issuer"`
		TokenEndpoint string   `json:"token_endpoint"`
		AuthMethods   []string `json:"token_endpoint_auth_methods_supported"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&meta)
	resp.Body.Close()
	fmt.Println(resp.StatusCode, meta.Issuer == srv.Issuer(), meta.TokenEndpoint == srv.TokenURL(), meta.AuthMethods)

	token := func(form url.Values) {
		req, _ := http.NewRequest(http.MethodPost, meta.TokenEndpoint, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		// RFC 6749 §2.3.1: the client ID and secret are form-encoded first.
		req.SetBasicAuth(url.QueryEscape("machine-42"), url.QueryEscape("s3cret/+"))
		resp, err := srv.Client().Do(req)
		if err != nil {
			log.Fatal(err)
		}
		var tok struct {
			TokenType   string `json:"token_type"`
			ExpiresIn   int    `json:"expires_in"`
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&tok)
		resp.Body.Close()
		if tok.Error != "" {
			fmt.Println(resp.StatusCode, tok.Error, tok.Description)
			return
		}
		fmt.Println(resp.StatusCode, tok.TokenType, tok.ExpiresIn)
	}
	token(url.Values{"grant_type": {"client_credentials"}})
	token(url.Values{"grant_type": {"client_credentials"}, "audience": {"https://api.example"}})

	st := srv.Stats()
	fmt.Println(st.Discovery, "discovery request,", st.TokenRequests, "token requests")
	// Output:
	// 200 true true [client_secret_basic]
	// 400 invalid_request missing required parameter "audience"
	// 200 Bearer 3600
	// 1 discovery request, 2 token requests
}

package httpauth_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"time"

	"github.com/tenantauth/tenantauth"
	"github.com/tenantauth/tenantauth/middleware/httpauth"
)

// exampleProvider stands in for a token endpoint: it issues "token-1",
// "token-2", … valid for an hour.
type exampleProvider struct{ n atomic.Int64 }

func (p *exampleProvider) Endpoint() string { return "https://sso.example.com/token" }

func (p *exampleProvider) Exchange(ctx context.Context, _ tenantauth.TokenRequest) (*tenantauth.Token, error) {
	n := p.n.Add(1)
	return &tenantauth.Token{
		AccessToken: tenantauth.Secret(fmt.Sprintf("token-%d", n)),
		TokenType:   "Bearer",
		Expiry:      time.Now().Add(time.Hour),
	}, nil
}

// The API revokes every token it issued so far (say, after an upgrade);
// the Transport sees the 401, fetches a fresh token and retries once.
func Example() {
	var revoked atomic.Value // the Authorization value the API refuses
	revoked.Store("")
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if auth := r.Header.Get("Authorization"); auth == "" || auth == revoked.Load() {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		fmt.Fprintf(w, "hello, %s", r.Header.Get("Authorization"))
	}))
	defer api.Close()

	provider := &exampleProvider{}
	m, err := tenantauth.New(tenantauth.Config{Tenants: tenantauth.Tenants{
		"acme": {
			Provider:    provider,
			Credentials: tenantauth.Credentials{ClientID: "acme", ClientSecret: "s3cret"},
			APIHosts:    []string{strings.TrimPrefix(api.URL, "http://")},
		},
	}})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer m.Close()

	client := &http.Client{Transport: httpauth.NewTransport(m, nil)}
	defer client.CloseIdleConnections()
	get := func() {
		ctx := tenantauth.WithTenant(context.Background(), "acme")
		req, _ := http.NewRequestWithContext(ctx, "GET", api.URL+"/me", nil)
		resp, err := client.Do(req)
		if err != nil {
			fmt.Println(err)
			return
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		fmt.Printf("%d %s\n", resp.StatusCode, body)
	}

	get()
	get()
	revoked.Store("Bearer token-1")
	get()
	fmt.Println("token requests:", provider.n.Load())

	// Output:
	// 200 hello, Bearer token-1
	// 200 hello, Bearer token-1
	// 200 hello, Bearer token-2
	// token requests: 2
}

// A request without a tenant fails before anything is sent.
func ExampleNewTransport_noTenant() {
	m, _ := tenantauth.New(tenantauth.Config{Tenants: tenantauth.Tenants{}})
	defer m.Close()
	client := &http.Client{Transport: httpauth.NewTransport(m, nil)}

	_, err := client.Get("http://127.0.0.1:1/never-sent")
	fmt.Println(errors.Is(err, tenantauth.ErrNoTenant))
	// Output:
	// true
}

// A tenant's token goes only to the tenant's APIHosts: a request to any
// other host is refused before anything is sent. (tenantauth.AnyHost, "*",
// would allow every host; an empty APIHosts allows none.)
func ExampleNewTransport_hostNotAllowed() {
	var reached atomic.Int64
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
	}))
	defer elsewhere.Close()

	m, err := tenantauth.New(tenantauth.Config{Tenants: tenantauth.Tenants{
		"acme": {
			Provider:    &exampleProvider{},
			Credentials: tenantauth.Credentials{ClientID: "acme", ClientSecret: "s3cret"},
			APIHosts:    []string{"api.acme.example"}, // acme's API, and nothing else
		},
	}})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer m.Close()
	client := &http.Client{Transport: httpauth.NewTransport(m, nil)}
	defer client.CloseIdleConnections()

	ctx := tenantauth.WithTenant(context.Background(), "acme")
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, elsewhere.URL+"/collect", nil)
	_, err = client.Do(req)
	fmt.Println(errors.Is(err, tenantauth.ErrHostNotAllowed), "requests that reached the server:", reached.Load())
	// Output:
	// true requests that reached the server: 0
}

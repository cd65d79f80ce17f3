package tenantauth_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tenantauth/tenantauth"
	"github.com/tenantauth/tenantauth/middleware/httpauth"
	"github.com/tenantauth/tenantauth/providers/passport"
	"github.com/tenantauth/tenantauth/tenantauthtest"
)

// countingProvider stands in for a real token endpoint in these examples.
type countingProvider struct{ calls atomic.Int64 }

func (p *countingProvider) Endpoint() string { return "https://sso.example.com/token" }

func (p *countingProvider) Exchange(_ context.Context, req tenantauth.TokenRequest) (*tenantauth.Token, error) {
	n := p.calls.Add(1)
	if req.Credentials.ClientSecret.Reveal() != "s3cret" {
		return nil, &tenantauth.TokenError{Endpoint: p.Endpoint(), StatusCode: 401, Code: "invalid_client"}
	}
	return &tenantauth.Token{
		AccessToken: tenantauth.Secret(fmt.Sprintf("token-%d", n)),
		TokenType:   "bearer", // canonicalised to "Bearer"
		Expiry:      time.Now().Add(time.Hour),
	}, nil
}

// Example is the whole path, on this machine only: a stand-in Laravel
// Passport server (HubSoft's dialect) issues the tokens, the passport
// provider asks it for them, the Manager caches them, and an http.Client
// whose Transport is httpauth's calls the customer's API with them. When the
// server drops every token, as HubSoft does after an upgrade, the API answers
// 401 and the Transport recovers by itself: one new token, one retry.
func Example() {
	// The customer's token server: a stand-in on 127.0.0.1 that knows one
	// client and one user (made-up credentials).
	idp := tenantauthtest.NewPassport(tenantauthtest.Config{
		Clients: map[string]string{"3": "hubsoft-client-secret"},
		Users:   map[string]string{"ops@customer-b.example": "hubsoft-password"},
	})
	defer idp.Close()

	// The customer's API, also on 127.0.0.1. A real API checks the token
	// itself; this one asks the stand-in server, which knows whether the
	// token is still good.
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		who, ok := whoIs(idp, r.Header.Get("Authorization"))
		if !ok {
			http.Error(w, "unauthenticated", http.StatusUnauthorized)
			return
		}
		fmt.Fprintf(w, "%s %s for %s", r.Method, r.URL.Path, who)
	}))
	defer api.Close()

	hubsoft, err := passport.HubSoft(idp.URL) // POST {URL}/oauth/token, JSON body
	if err != nil {
		fmt.Println(err)
		return
	}
	m, err := tenantauth.New(tenantauth.Config{Tenants: tenantauth.Tenants{
		"customer-b": {
			Provider: hubsoft,
			Credentials: tenantauth.Credentials{
				ClientID: "3", ClientSecret: "hubsoft-client-secret",
				Username: "ops@customer-b.example", Password: "hubsoft-password",
			},
			// The token goes to this API's host:port and nowhere else.
			APIHosts: []string{strings.TrimPrefix(api.URL, "http://")},
		},
	}})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer m.Close()

	client := &http.Client{Transport: httpauth.NewTransport(m, nil), Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	get := func(path string) {
		ctx := tenantauth.WithTenant(context.Background(), "customer-b")
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, api.URL+path, nil)
		resp, err := client.Do(req)
		if err != nil {
			fmt.Println(err)
			return
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		fmt.Println(resp.StatusCode, string(body))
	}

	get("/api/v1/cliente") // fetches the token (password grant)
	get("/api/v1/cliente") // the cached token
	fmt.Println("server drops every token:", idp.RevokeAll())
	get("/api/v1/cliente") // 401, a new token, one retry: the caller sees 200

	st := idp.Stats()
	fmt.Println("token requests:", st.TokenRequests, st.ByGrant)
	fmt.Println("tokens the API refused:", st.APIUnauthorized)
	// Output:
	// 200 GET /api/v1/cliente for ops@customer-b.example
	// 200 GET /api/v1/cliente for ops@customer-b.example
	// server drops every token: 1
	// 200 GET /api/v1/cliente for ops@customer-b.example
	// token requests: 2 map[password:2]
	// tokens the API refused: 1
}

// whoIs asks the stand-in server's protected API who holds the token in
// authorization; ok is false when the server does not accept it.
func whoIs(idp *tenantauthtest.Server, authorization string) (username string, ok bool) {
	req, err := http.NewRequest(http.MethodGet, idp.APIURL()+"/whoami", nil)
	if err != nil {
		return "", false
	}
	req.Header.Set("Authorization", authorization)
	resp, err := idp.Client().Do(req)
	if err != nil {
		return "", false
	}
	defer resp.Body.Close()
	var who struct {
		Username string `json:"username"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&who) != nil {
		return "", false
	}
	return who.Username, true
}

// The Manager alone: a token is fetched once and cached, and it is handed
// out only for the tenant's API hosts.
func ExampleManager_TokenForHost() {
	idp := &countingProvider{}
	m, err := tenantauth.New(tenantauth.Config{
		Tenants: tenantauth.Tenants{
			"acme": {
				Provider:    idp,
				Credentials: tenantauth.Credentials{ClientID: "acme", ClientSecret: "s3cret"},
				APIHosts:    []string{"api.acme.example"},
			},
		},
	})
	if err != nil {
		panic(err)
	}
	defer m.Close()

	ctx := context.Background()
	for range 3 {
		tok, err := m.Token(ctx, "acme")
		if err != nil {
			panic(err)
		}
		fmt.Println(tok.Authorization())
	}
	_, err = m.TokenForHost(ctx, "acme", "evil.example")
	fmt.Println(errors.Is(err, tenantauth.ErrHostNotAllowed))
	fmt.Println("token requests:", idp.calls.Load())
	// Output:
	// Bearer token-1
	// Bearer token-1
	// Bearer token-1
	// true
	// token requests: 1
}

func ExampleSecret() {
	creds := tenantauth.Credentials{ClientID: "3", ClientSecret: "ONe7Ns48Y30tB", Username: "a@b.com", Password: "1234"}
	fmt.Printf("%+v\n", creds)
	j, _ := json.Marshal(creds)
	fmt.Println(string(j))
	logger := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
	logger.Info("login", "password", creds.Password)
	fmt.Println(creds.Password.Reveal()) // only on purpose
	// Output:
	// {Grant: ClientID:3 ClientSecret:[REDACTED] Auth:<nil> DPoP:<nil> Username:a@b.com Password:[REDACTED] Scopes:[] EndpointParams:map[]}
	// {"Grant":"","ClientID":"3","ClientSecret":"[REDACTED]","Auth":null,"DPoP":null,"Username":"a@b.com","Password":"[REDACTED]","Scopes":null,"EndpointParams":null}
	// level=INFO msg=login password=[REDACTED]
	// 1234
}

func ExampleManager_Invalidate() {
	idp := &countingProvider{}
	m, _ := tenantauth.New(tenantauth.Config{Tenants: tenantauth.Tenants{
		"acme": {
			Provider:    idp,
			Credentials: tenantauth.Credentials{ClientID: "acme", ClientSecret: "s3cret"},
			APIHosts:    []string{"api.acme.example"},
		},
	}})
	defer m.Close()
	ctx := context.Background()

	old, _ := m.Token(ctx, "acme")
	// The API answered 401 to old (revoked before its expiry): drop it.
	// Every caller that saw the same 401 may do the same; only the first
	// drops it.
	m.Invalidate("acme", old)
	m.Invalidate("acme", old)
	fresh, _ := m.Token(ctx, "acme")
	fmt.Println(old.Authorization(), "->", fresh.Authorization())
	fmt.Println("token requests:", idp.calls.Load())
	// Output:
	// Bearer token-1 -> Bearer token-2
	// token requests: 2
}

func ExampleTokenError() {
	idp := &countingProvider{}
	m, _ := tenantauth.New(tenantauth.Config{Tenants: tenantauth.Tenants{
		"broken": {
			Provider:    idp,
			Credentials: tenantauth.Credentials{ClientID: "broken", ClientSecret: "wrong"},
			APIHosts:    []string{"api.broken.example"},
		},
	}})
	defer m.Close()

	_, err := m.Token(context.Background(), "broken")
	var te *tenantauth.TokenError
	if errors.As(err, &te) {
		fmt.Println(te.StatusCode, te.Code)
	}
	fmt.Println(errors.Is(err, tenantauth.ErrInvalidCredentials))
	// The refusal is remembered for Config.BadCredentialsTTL: no second request.
	_, err = m.Token(context.Background(), "broken")
	fmt.Println(errors.Is(err, tenantauth.ErrInvalidCredentials), idp.calls.Load())
	// Output:
	// 401 invalid_client
	// true
	// true 1
}

// A TenantFunc looks tenants up where they are kept, here a map standing in
// for a database table. The Manager asks it once per token request, not per
// API call, and remembers an unknown tenant for a while.
func ExampleTenantFunc() {
	idp := &countingProvider{}
	secrets := map[string]string{"acme": "s3cret", "globex": "s3cret"} // the "database"
	var lookups atomic.Int64
	source := tenantauth.TenantFunc(func(_ context.Context, id string) (tenantauth.Tenant, error) {
		lookups.Add(1)
		secret, ok := secrets[id]
		if !ok {
			return tenantauth.Tenant{}, fmt.Errorf("tenant %q: %w", id, tenantauth.ErrUnknownTenant)
		}
		return tenantauth.Tenant{
			ID:          id,
			Provider:    idp,
			Credentials: tenantauth.Credentials{ClientID: id, ClientSecret: tenantauth.Secret(secret)},
			APIHosts:    []string{id + ".api.example"}, // each tenant its own API host
		}, nil
	})
	m, err := tenantauth.New(tenantauth.Config{Tenants: source})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer m.Close()
	ctx := context.Background()

	for _, id := range []string{"acme", "acme", "globex", "acme"} {
		tok, err := m.TokenForHost(ctx, id, id+".api.example")
		if err != nil {
			fmt.Println(id, err)
			continue
		}
		fmt.Println(id, tok.Authorization())
	}
	_, err = m.TokenForHost(ctx, "acme", "globex.api.example")
	fmt.Println("acme's token for globex's API:", errors.Is(err, tenantauth.ErrHostNotAllowed))
	for range 2 {
		_, err = m.Token(ctx, "initech")
		fmt.Println("initech:", errors.Is(err, tenantauth.ErrUnknownTenant))
	}
	fmt.Println("lookups:", lookups.Load(), "token requests:", idp.calls.Load())
	// Output:
	// acme Bearer token-1
	// acme Bearer token-1
	// globex Bearer token-2
	// acme Bearer token-1
	// acme's token for globex's API: true
	// initech: true
	// initech: true
	// lookups: 3 token requests: 2
}

// Forget drops everything the Manager holds for a tenant: call it when the
// tenant's record changes. Here the tenant's client secret was wrong; the
// refusal is remembered (no request is sent for a while) until the secret
// is corrected and the tenant forgotten.
func ExampleManager_Forget() {
	idp := &countingProvider{}
	var mu sync.Mutex
	secret := tenantauth.Secret("wrong") // the tenant's record, say in a database
	source := tenantauth.TenantFunc(func(_ context.Context, id string) (tenantauth.Tenant, error) {
		if id != "acme" {
			return tenantauth.Tenant{}, tenantauth.ErrUnknownTenant
		}
		mu.Lock()
		defer mu.Unlock()
		return tenantauth.Tenant{
			ID:          id,
			Provider:    idp,
			Credentials: tenantauth.Credentials{ClientID: "acme", ClientSecret: secret},
			APIHosts:    []string{"api.acme.example"},
		}, nil
	})
	m, err := tenantauth.New(tenantauth.Config{Tenants: source})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer m.Close()
	ctx := context.Background()

	_, err = m.Token(ctx, "acme")
	fmt.Println("refused:", errors.Is(err, tenantauth.ErrInvalidCredentials))

	mu.Lock()
	secret = "s3cret" // the customer sends the right secret
	mu.Unlock()
	_, err = m.Token(ctx, "acme")
	fmt.Println("still refused, from memory:", errors.Is(err, tenantauth.ErrInvalidCredentials), "token requests:", idp.calls.Load())

	m.Forget("acme")
	tok, err := m.Token(ctx, "acme")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("after Forget:", tok.Authorization(), "token requests:", idp.calls.Load())
	// Output:
	// refused: true
	// still refused, from memory: true token requests: 1
	// after Forget: Bearer token-2 token requests: 2
}

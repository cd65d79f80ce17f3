package tenantauth_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
	"time"

	"github.com/tenantauth/tenantauth"
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

func Example() {
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
	// {Grant: ClientID:3 ClientSecret:[REDACTED] Username:a@b.com Password:[REDACTED] Scopes:[]}
	// {"Grant":"","ClientID":"3","ClientSecret":"[REDACTED]","Username":"a@b.com","Password":"[REDACTED]","Scopes":null}
	// level=INFO msg=login password=[REDACTED]
	// 1234
}

func ExampleManager_Invalidate() {
	idp := &countingProvider{}
	m, _ := tenantauth.New(tenantauth.Config{Tenants: tenantauth.Tenants{
		"acme": {Provider: idp, Credentials: tenantauth.Credentials{ClientID: "acme", ClientSecret: "s3cret"}},
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
		"broken": {Provider: idp, Credentials: tenantauth.Credentials{ClientID: "broken", ClientSecret: "wrong"}},
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

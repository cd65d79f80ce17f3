package tokenclient_test

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/tenantauth/tenantauth"
	"github.com/tenantauth/tenantauth/providers/internal/tokenclient"
)

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

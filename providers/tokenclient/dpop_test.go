package tokenclient_test

import (
	"context"
	"errors"
	"testing"

	"github.com/tenantauth/tenantauth"
	"github.com/tenantauth/tenantauth/clientauth"
	"github.com/tenantauth/tenantauth/providers/tokenclient"
	"github.com/tenantauth/tenantauth/tenantauthtest"
)

// TestExchangeDPoP: with Credentials.DPoP every token request carries a
// proof, the DPoP token type is accepted, a 400 use_dpop_nonce is retried
// once with the server's nonce, and the nonce is remembered for the next
// requests.
func TestExchangeDPoP(t *testing.T) {
	dp, err := clientauth.GenerateDPoP()
	if err != nil {
		t.Fatal(err)
	}
	for _, nonce := range []string{"", "abc.123"} {
		srv := tenantauthtest.NewStandard(tenantauthtest.Config{DPoP: true, DPoPNonce: nonce})
		defer srv.Close()
		c, err := tokenclient.New(tokenclient.Config{TokenURL: srv.TokenURL(), AuthMethod: tokenclient.ClientSecretBasic, HTTPClient: srv.Client()})
		if err != nil {
			t.Fatal(err)
		}
		creds := tenantauth.Credentials{ClientID: tenantauthtest.DefaultClientID, ClientSecret: tenantauthtest.DefaultClientSecret, DPoP: dp}
		want := 1
		if nonce != "" {
			want = 2
		}
		for i := 0; i < 3; i++ {
			tok, err := c.Exchange(context.Background(), tenantauth.TokenRequest{Credentials: creds})
			if err != nil {
				t.Fatalf("nonce %q, exchange %d: %v", nonce, i, err)
			}
			if tok.TokenType != "DPoP" {
				t.Errorf("token type %q", tok.TokenType)
			}
			if n := srv.Stats().TokenRequests; n != want+i {
				t.Errorf("nonce %q, exchange %d: %d token requests; want %d", nonce, i, n, want+i)
			}
		}
		// Without a key: a Bearer token.
		creds.DPoP = nil
		tok, err := c.Exchange(context.Background(), tenantauth.TokenRequest{Credentials: creds})
		if err != nil || tok.TokenType != "Bearer" {
			t.Errorf("without DPoP: %v, %v", tok, err)
		}
	}
}

// TestExchangeDPoPTypeNeedsProof: a DPoP token answered to a request
// without a proof is refused, as any non-Bearer type.
func TestExchangeDPoPTypeNeedsProof(t *testing.T) {
	srv := tenantauthtest.NewStandard(tenantauthtest.Config{TokenType: "DPoP"})
	defer srv.Close()
	c, _ := tokenclient.New(tokenclient.Config{TokenURL: srv.TokenURL(), AuthMethod: tokenclient.ClientSecretBasic, HTTPClient: srv.Client()})
	creds := tenantauth.Credentials{ClientID: tenantauthtest.DefaultClientID, ClientSecret: tenantauthtest.DefaultClientSecret}
	if _, err := c.Exchange(context.Background(), tenantauth.TokenRequest{Credentials: creds}); !errors.Is(err, tokenclient.ErrMalformedResponse) {
		t.Errorf("err = %v; want ErrMalformedResponse", err)
	}
}

package httpauth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"net/http"
	"testing"

	"github.com/tenantauth/tenantauth"
	"github.com/tenantauth/tenantauth/clientauth"
	"github.com/tenantauth/tenantauth/providers/tokenclient"
	"github.com/tenantauth/tenantauth/tenantauthtest"
)

// TestAssertionEndToEnd: private_key_jwt (ES256, EdDSA, RS256) and
// client_secret_jwt tenants through Manager, tokenclient and Transport
// against the stand-in, which verifies every assertion (signature or MAC,
// audience, times, a jti never seen before): a burst from many goroutines
// costs one token request per tenant, and after the server revokes every
// token the 401 recovery fetches one new token per tenant with a fresh
// assertion (a replayed one would be refused).
func TestAssertionEndToEnd(t *testing.T) {
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	const secret = "client-secret-jwt-secret-0123456789abcdef"
	for _, method := range []string{"private_key_jwt", "client_secret_jwt"} {
		t.Run(method, func(t *testing.T) {
			keys := map[string]crypto.Signer{"es256": ec, "eddsa": ed, "rs256": rk}
			cfg := tenantauthtest.Config{AuthMethod: method, Clients: map[string]string{}, ClientKeys: map[string][]crypto.PublicKey{}}
			for id, k := range keys {
				cfg.Clients[id] = secret
				cfg.ClientKeys[id] = []crypto.PublicKey{k.Public()}
			}
			srv := tenantauthtest.NewStandard(cfg)
			defer srv.Close()
			p, err := tokenclient.New(tokenclient.Config{TokenURL: srv.TokenURL(), HTTPClient: srv.Client()})
			if err != nil {
				t.Fatal(err)
			}
			defer p.CloseIdleConnections()
			tenants := tenantauth.Tenants{}
			for id, k := range keys {
				var a clientauth.Authenticator = clientauth.PrivateKeyJWT{Key: k, KeyID: id, Audience: srv.TokenURL()}
				if method == "client_secret_jwt" {
					a = clientauth.ClientSecretJWT{Secret: []byte(secret), Audience: srv.Issuer()}
				}
				tenants[id] = tenantauth.Tenant{Provider: p, APIHosts: []string{tenantauth.AnyHost},
					Credentials: tenantauth.Credentials{ClientID: id, Auth: a}}
			}
			m, err := tenantauth.New(tenantauth.Config{Tenants: tenants})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			client := &http.Client{Transport: NewTransport(m, srv.Client().Transport)}
			defer client.CloseIdleConnections()
			ids := []string{"es256", "eddsa", "rs256"}
			for round := 1; round <= 2; round++ {
				if round == 2 {
					srv.RevokeAll()
				}
				burst(t, client, srv.APIURL()+"/items", ids, 24, 4)
				st := srv.Stats()
				for _, id := range ids {
					if st.ByClient[id] != round {
						t.Errorf("round %d, %s: %d token requests; want %d", round, id, st.ByClient[id], round)
					}
				}
				if st.TokenErrors != 0 {
					t.Errorf("round %d: %d token requests refused", round, st.TokenErrors)
				}
			}
		})
	}
}

package interop

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tenantauth/tenantauth"
	"github.com/tenantauth/tenantauth/clientauth"
	"github.com/tenantauth/tenantauth/providers/keycloak"
	"github.com/tenantauth/tenantauth/providers/oidc"
)

// Signed client assertions (RFC 7523, OpenID Connect Core §9) against
// oidc-provider (keycloak.mjs): Credentials.Auth with private_key_jwt and
// client_secret_jwt, through providers/keycloak and providers/oidc.
//
// What oidc-provider 8 checks of a client assertion (lib/shared/
// token_jwt_auth.js): alg among the client's token_endpoint_auth_signing_alg
// (else "alg mismatch"), exp, jti and iss present, iss = client_id, aud the
// issuer, the token endpoint URL or the endpoint's own URL, the signature
// or MAC, exp/nbf/iat within a 15 s clock tolerance, and jti unique per
// client until exp (ReplayDetection in the adapter): a replayed assertion
// is refused with invalid_client. Every refusal is invalid_client, 401.

// The assertion clients of keycloak.mjs. The private_key_jwt client exists
// only on kcMain, which TestMain starts with kcAssertionArgs.
const (
	kcPKJWTID     = "tenantauth-pkjwt"
	kcPKJWTKeyID  = "interop-client"
	kcCSJWTID     = "tenantauth-csjwt"
	kcCSJWTSecret = "csjwt-secret-0123456789abcdef0123456789"
	wrongJWTKey   = "wrong-csjwt-secret-NEVER-IN-ERRORS-0123456789"
)

// kcClientKey is the private_key_jwt client's key, made for this run;
// keycloak.mjs gets only its public JWK.
var kcClientKey = newEd25519()

func newEd25519() ed25519.PrivateKey {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic("interop: ed25519.GenerateKey: " + err.Error())
	}
	return k
}

// kcAssertionArgs are keycloak.mjs's flags registering kcClientKey's public
// JWK, with kid kcPKJWTKeyID, for the client kcPKJWTID.
func kcAssertionArgs() []string {
	jwk, err := clientauth.PublicJWK(kcClientKey.Public())
	if err != nil {
		panic("interop: clientauth.PublicJWK: " + err.Error())
	}
	var m map[string]any
	if err := json.Unmarshal(jwk, &m); err != nil {
		panic("interop: clientauth.PublicJWK: " + err.Error())
	}
	m["kid"] = kcPKJWTKeyID
	b, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	return []string{"--client-jwk", string(b)}
}

// kcTokenURL is keycloak.mjs's token endpoint, as providers/keycloak builds it.
func kcTokenURL(s *server) string { return kcIssuer(s) + "/protocol/openid-connect/token" }

func pkjwtCreds(key ed25519.PrivateKey, aud string) tenantauth.Credentials {
	return tenantauth.Credentials{
		Grant: tenantauth.GrantClientCredentials, ClientID: kcPKJWTID,
		Auth: clientauth.PrivateKeyJWT{Key: key, KeyID: kcPKJWTKeyID, Audience: aud},
	}
}

func csjwtCreds(secret, aud string) tenantauth.Credentials {
	return tenantauth.Credentials{
		Grant: tenantauth.GrantClientCredentials, ClientID: kcCSJWTID,
		Auth: clientauth.ClientSecretJWT{Secret: []byte(secret), Audience: aud},
	}
}

// wantAssertionForm checks that a token request authenticated the client
// with an assertion only: no client_secret, no Basic header.
func wantAssertionForm(t *testing.T, ex exchange) {
	t.Helper()
	want := []string{"client_assertion", "client_assertion_type", "client_id", "grant_type"}
	if strings.Join(ex.Fields, " ") != strings.Join(want, " ") || ex.BasicAuth {
		t.Errorf("request: form fields %v, Basic auth %v; want fields %v, no Basic auth", ex.Fields, ex.BasicAuth, want)
	}
}

// recordingAuth wraps an Authenticator and keeps the assertions it made,
// so that a test can look for them in error texts.
type recordingAuth struct {
	next clientauth.Authenticator
	mu   sync.Mutex
	made []string
}

func (r *recordingAuth) Method() string { return r.next.Method() }

func (r *recordingAuth) Params(clientID string, now time.Time) (url.Values, error) {
	v, err := r.next.Params(clientID, now)
	if err == nil {
		r.mu.Lock()
		r.made = append(r.made, v.Get("client_assertion"))
		r.mu.Unlock()
	}
	return v, err
}

func (r *recordingAuth) assertions() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.made...)
}

// fixedAuth sends the same client assertion with every request: a replay.
type fixedAuth struct {
	method string
	params url.Values
}

func (f fixedAuth) Method() string { return f.method }
func (f fixedAuth) Params(string, time.Time) (url.Values, error) {
	return url.Values{
		"client_assertion_type": {f.params.Get("client_assertion_type")},
		"client_assertion":      {f.params.Get("client_assertion")},
	}, nil
}

// secretTexts are renderings of key material that must never appear in an
// error: the strings themselves, and for an Ed25519 key its seed and whole
// private key in base64url, base64 and raw bytes.
func secretTexts(key ed25519.PrivateKey, secrets ...string) []string {
	out := append([]string(nil), secrets...)
	if key != nil {
		for _, b := range [][]byte{key.Seed(), key} {
			out = append(out, base64.RawURLEncoding.EncodeToString(b), base64.StdEncoding.EncodeToString(b), string(b))
		}
	}
	return out
}

// TestClientAssertion: client_credentials through a Manager with
// Credentials.Auth, private_key_jwt (EdDSA) and client_secret_jwt (HS256),
// the assertion's aud the token endpoint or the issuer, through
// providers/keycloak and providers/oidc (by discovery). One token request
// carrying only client_id and the assertion; the token works at the
// server's resource; after Invalidate the next fetch makes a fresh
// assertion, which the server accepts.
func TestClientAssertion(t *testing.T) {
	requireServers(t)
	s := kcMain
	issuer, tokenURL := kcIssuer(s), kcTokenURL(s)
	cases := []struct {
		name  string
		creds tenantauth.Credentials
	}{
		{"private_key_jwt/aud=token_endpoint", pkjwtCreds(kcClientKey, tokenURL)},
		{"private_key_jwt/aud=issuer", pkjwtCreds(kcClientKey, issuer)},
		{"client_secret_jwt/aud=token_endpoint", csjwtCreds(kcCSJWTSecret, tokenURL)},
		{"client_secret_jwt/aud=issuer", csjwtCreds(kcCSJWTSecret, issuer)},
	}
	providers := []struct {
		name string
		make func(t *testing.T) (tenantauth.Provider, *recorder)
	}{
		{"keycloak", func(t *testing.T) (tenantauth.Provider, *recorder) { return newKeycloak(t, s, keycloak.ClientAuthBody) }},
		{"oidc", func(t *testing.T) (tenantauth.Provider, *recorder) {
			p, rec, _ := newOIDC(t, oidc.Config{Issuer: issuer})
			return p, rec
		}},
	}
	for _, pv := range providers {
		for _, tc := range cases {
			t.Run(pv.name+"/"+tc.name, func(t *testing.T) {
				s.attach(t)
				p, rec := pv.make(t)
				creds := tc.creds
				ra := &recordingAuth{next: creds.Auth}
				creds.Auth = ra
				m, fetches := newManager(t, tenantauth.Tenants{"acme": {Provider: p, Credentials: creds}}, nil)
				s.reset(t)

				tok := tokenHerd(t, m, "acme")
				if st := s.stats(t); st.Tokens["client_credentials"].OK != 1 || st.requests() != 1 {
					t.Errorf("server saw token requests %+v; want 1 successful client_credentials grant", st.Tokens)
				}
				wantAssertionForm(t, rec.take())
				if status, body := getWithToken(t, s, tok); status != http.StatusOK || body["client_id"] != creds.ClientID {
					t.Errorf("GET /api/me with the token = %d %v; want 200 for client %s", status, body, creds.ClientID)
				}

				m.Invalidate("acme", tok)
				tok2, err := m.Token(t.Context(), "acme")
				if err != nil {
					t.Fatalf("Token after Invalidate: %v", err)
				}
				if tok2.AccessToken == tok.AccessToken {
					t.Error("Token after Invalidate returned the invalidated token")
				}
				if got := fetches.okFor("acme"); got != 2 {
					t.Errorf("the Manager fetched %d tokens; want 2", got)
				}
				made := ra.assertions()
				if len(made) != 2 || made[0] == made[1] {
					t.Errorf("made %d assertions for 2 token requests (distinct: %v); want 2 distinct",
						len(made), len(made) == 2 && made[0] != made[1])
				}
			})
		}
	}
}

// TestClientAssertionRefused: assertions the server must refuse — signed
// by another key, by a key of another type (alg mismatch), MACed with
// another secret, for another audience, expired — are invalid_client, 401,
// and errors.Is ErrInvalidCredentials. No error text holds the key, the
// secret or the assertion.
func TestClientAssertionRefused(t *testing.T) {
	requireServers(t)
	s := kcMain
	tokenURL := kcTokenURL(s)
	otherKey := newEd25519()
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	past := time.Now().Add(-10 * time.Minute)
	expired, err := clientauth.PrivateKeyJWT{Key: kcClientKey, KeyID: kcPKJWTKeyID, Audience: tokenURL}.Params(kcPKJWTID, past)
	if err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name    string
		creds   tenantauth.Credentials
		reason  string // the server's error_detail (Stats.Details)
		secrets []string
	}{
		{"private_key_jwt/wrong_key", pkjwtCreds(otherKey, tokenURL), "signature verification failed", secretTexts(otherKey)},
		{"private_key_jwt/wrong_alg", tenantauth.Credentials{
			Grant: tenantauth.GrantClientCredentials, ClientID: kcPKJWTID,
			Auth: clientauth.PrivateKeyJWT{Key: ecKey, KeyID: kcPKJWTKeyID, Audience: tokenURL},
		}, "alg mismatch", nil},
		{"private_key_jwt/wrong_audience", pkjwtCreds(kcClientKey, s.base+"/realms/other"), "audience (aud) must equal", secretTexts(kcClientKey)},
		{"private_key_jwt/expired", tenantauth.Credentials{
			Grant: tenantauth.GrantClientCredentials, ClientID: kcPKJWTID,
			Auth: fixedAuth{"private_key_jwt", expired},
		}, "jwt expired", secretTexts(kcClientKey)},
		{"client_secret_jwt/wrong_secret", csjwtCreds(wrongJWTKey, tokenURL), "signature verification failed", []string{wrongJWTKey, kcCSJWTSecret}},
		{"client_secret_jwt/wrong_audience", csjwtCreds(kcCSJWTSecret, s.base+"/realms/other"), "audience (aud) must equal", []string{kcCSJWTSecret}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s.attach(t)
			p, rec := newKeycloak(t, s, keycloak.ClientAuthBody)
			creds := tc.creds
			ra := &recordingAuth{next: creds.Auth}
			creds.Auth = ra
			m, _ := newManager(t, tenantauth.Tenants{
				"bad":  {Provider: p, Credentials: creds},
				"good": {Provider: p, Credentials: pkjwtCreds(kcClientKey, tokenURL)},
			}, nil)
			s.reset(t)

			_, err := m.Token(t.Context(), "bad")
			if err == nil {
				t.Fatal("Token succeeded with a refused assertion")
			}
			if !errors.Is(err, tenantauth.ErrInvalidCredentials) {
				t.Errorf("errors.Is(%v, ErrInvalidCredentials) = false, want true", err)
			}
			var te *tenantauth.TokenError
			if !errors.As(err, &te) {
				t.Fatalf("error %v (%T) is not a *TokenError", err, err)
			}
			if te.Code != "invalid_client" || te.StatusCode != http.StatusUnauthorized {
				t.Errorf("TokenError{Code %q, StatusCode %d}; want {invalid_client, 401}", te.Code, te.StatusCode)
			}
			wantAssertionForm(t, rec.take())
			st := s.stats(t)
			if st.Errors["invalid_client"] != 1 || st.requests() != 1 {
				t.Errorf("server saw %+v; want one invalid_client refusal", st.Tokens)
			}
			if !hasDetail(st, tc.reason) {
				t.Errorf("server's reasons %v; want %q", st.Details, tc.reason)
			}
			checkNoSecrets(t, err, append(tc.secrets, ra.assertions()...))

			if _, err := m.Token(t.Context(), "good"); err != nil {
				t.Errorf("another tenant on the same endpoint after the refusal: %v", err)
			}
		})
	}
}

// TestClientAssertionReplay: oidc-provider keeps each assertion's jti until
// its exp, so the same assertion sent twice is refused the second time;
// fresh assertions (the Authenticators' own) are accepted every time.
func TestClientAssertionReplay(t *testing.T) {
	requireServers(t)
	s := kcMain
	tokenURL := kcTokenURL(s)
	cases := []struct {
		name    string
		creds   tenantauth.Credentials
		secrets []string
	}{
		{"private_key_jwt", pkjwtCreds(kcClientKey, tokenURL), secretTexts(kcClientKey)},
		{"client_secret_jwt", csjwtCreds(kcCSJWTSecret, tokenURL), []string{kcCSJWTSecret}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s.attach(t)
			p, rec := newKeycloak(t, s, keycloak.ClientAuthBody)
			s.reset(t)

			fresh := tenantauth.TokenRequest{Grant: tenantauth.GrantClientCredentials, Credentials: tc.creds}
			for i := range 2 {
				if _, err := p.Exchange(t.Context(), fresh); err != nil {
					t.Fatalf("fresh assertion %d: %v", i+1, err)
				}
			}

			params, err := tc.creds.Auth.Params(tc.creds.ClientID, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			replay := fresh
			replay.Credentials.Auth = fixedAuth{tc.creds.Auth.Method(), params}
			if _, err := p.Exchange(t.Context(), replay); err != nil {
				t.Fatalf("first use of an assertion: %v", err)
			}
			_, err = p.Exchange(t.Context(), replay)
			if err == nil {
				t.Fatal("the server accepted a replayed client assertion")
			}
			if !errors.Is(err, tenantauth.ErrInvalidCredentials) {
				t.Errorf("errors.Is(%v, ErrInvalidCredentials) = false, want true", err)
			}
			wantAssertionForm(t, rec.take())
			st := s.stats(t)
			if st.Tokens["client_credentials"].OK != 3 || st.Errors["invalid_client"] != 1 {
				t.Errorf("server saw %+v, errors %v; want 3 grants and 1 invalid_client", st.Tokens, st.Errors)
			}
			if want := "client assertion tokens must only be used once"; !hasDetail(st, want) {
				t.Errorf("server's reasons %v; want %q", st.Details, want)
			}
			checkNoSecrets(t, err, append(tc.secrets, params.Get("client_assertion")))
		})
	}
}

// checkNoSecrets fails t if err's text holds any of secrets, or the
// signature part of an assertion among them.
func checkNoSecrets(t *testing.T, err error, secrets []string) {
	t.Helper()
	msg := err.Error()
	for _, sec := range secrets {
		if sec == "" {
			continue
		}
		if strings.Contains(msg, sec) {
			t.Errorf("error text holds key material or an assertion (%d bytes)", len(sec))
		}
		if parts := strings.Split(sec, "."); len(parts) == 3 && strings.Contains(msg, parts[2]) {
			t.Error("error text holds an assertion's signature")
		}
	}
}

// hasDetail reports whether the server gave a reason containing want.
func hasDetail(st serverStats, want string) bool {
	for d := range st.Details {
		if strings.Contains(d, want) {
			return true
		}
	}
	return false
}

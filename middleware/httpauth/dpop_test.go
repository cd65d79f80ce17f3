package httpauth

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tenantauth/tenantauth"
	"github.com/tenantauth/tenantauth/clientauth"
	"github.com/tenantauth/tenantauth/internal/dpoptest"
	"github.com/tenantauth/tenantauth/providers/tokenclient"
	"github.com/tenantauth/tenantauth/tenantauthtest"
)

// dpopSetup starts a standard stand-in with DPoP (and nonce, when not
// empty) and a Manager whose tenant "acme" holds dp.
func dpopSetup(t *testing.T, nonce string, dp *clientauth.DPoP) (*tenantauthtest.Server, *tenantauth.Manager, *http.Client) {
	t.Helper()
	srv := tenantauthtest.NewStandard(tenantauthtest.Config{DPoP: true, DPoPNonce: nonce})
	t.Cleanup(srv.Close)
	p, err := tokenclient.New(tokenclient.Config{TokenURL: srv.TokenURL(), AuthMethod: tokenclient.ClientSecretBasic, HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	m, err := tenantauth.New(tenantauth.Config{Retries: -1, Tenants: tenantauth.Tenants{"acme": {
		Provider: p,
		Credentials: tenantauth.Credentials{ClientID: tenantauthtest.DefaultClientID,
			ClientSecret: tenantauthtest.DefaultClientSecret, DPoP: dp},
		APIHosts: []string{tenantauth.AnyHost},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	return srv, m, &http.Client{Transport: NewTransport(m, srv.Client().Transport)}
}

func newDPoP(t testing.TB) *clientauth.DPoP {
	t.Helper()
	dp, err := clientauth.GenerateDPoP()
	if err != nil {
		t.Fatal(err)
	}
	return dp
}

// TestDPoPEndToEnd: a DPoP-bound token through Manager, tokenclient and
// Transport against the stand-in, with and without a required nonce: the
// nonce dance costs exactly one extra request at the token endpoint and
// one at the API, once.
func TestDPoPEndToEnd(t *testing.T) {
	for _, nonce := range []string{"", "n0nce-42"} {
		t.Run("nonce="+nonce, func(t *testing.T) {
			dp := newDPoP(t)
			srv, m, client := dpopSetup(t, nonce, dp)
			extra := 0
			if nonce != "" {
				extra = 1
			}
			for i := 1; i <= 3; i++ {
				body := "payload " + strings.Repeat("x", i)
				req, _ := http.NewRequestWithContext(acmeCtx(), "POST", srv.APIURL()+"/things?q=1", strings.NewReader(body))
				resp, err := client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				got, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					t.Fatalf("request %d: status %d %v", i, resp.StatusCode, resp.Header)
				}
				if !bytes.Contains(got, []byte(`"method":"POST"`)) {
					t.Fatalf("reply %s", got)
				}
				st := srv.Stats()
				if st.TokenRequests != 1+extra {
					t.Errorf("request %d: token requests = %d; want %d", i, st.TokenRequests, 1+extra)
				}
				if st.APIRequests != i+extra {
					t.Errorf("request %d: API requests = %d; want %d", i, st.APIRequests, i+extra)
				}
			}
			tok, err := m.Token(context.Background(), "acme")
			if err != nil {
				t.Fatal(err)
			}
			if tok.TokenType != "DPoP" || !tok.IsDPoP() || !strings.HasPrefix(tok.Authorization(), "DPoP ") {
				t.Errorf("token type %q, Authorization %.5s…", tok.TokenType, tok.Authorization())
			}
			// A new token: the token endpoint's nonce is remembered, no dance.
			m.Invalidate("acme", tok)
			before := srv.Stats().TokenRequests
			if _, err := m.Token(context.Background(), "acme"); err != nil {
				t.Fatal(err)
			}
			if n := srv.Stats().TokenRequests - before; n != 1 {
				t.Errorf("token requests for a new token = %d; want 1", n)
			}
			u, _ := url.Parse(srv.APIURL())
			if _, key, err := m.TokenForURLDPoP(context.Background(), "acme", u); err != nil || key != dp {
				t.Errorf("TokenForURLDPoP key %v, err %v; want the tenant's", key, err)
			}
		})
	}
}

// TestDPoPNegative: the stand-in refuses a proof of another key, a
// replayed proof (API and token endpoint) and a bound token sent as Bearer.
func TestDPoPNegative(t *testing.T) {
	dp := newDPoP(t)
	srv, m, _ := dpopSetup(t, "", dp)
	tok, err := m.Token(context.Background(), "acme")
	if err != nil {
		t.Fatal(err)
	}
	at := string(tok.AccessToken)
	api := srv.APIURL()
	send := func(scheme, proof string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest("GET", api, nil)
		req.Header.Set("Authorization", scheme+" "+at)
		if proof != "" {
			req.Header.Set("DPoP", proof)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	proof := func(d *clientauth.DPoP) string {
		p, err := d.Proof("GET", api, at, "", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return p
	}

	good := proof(dp)
	if r := send("DPoP", good); r.StatusCode != 200 {
		t.Fatalf("good proof: %d", r.StatusCode)
	}
	if r := send("DPoP", good); r.StatusCode != 401 || !strings.Contains(r.Header.Get("WWW-Authenticate"), "invalid_dpop_proof") {
		t.Errorf("replayed proof: %d %q", r.StatusCode, r.Header.Get("WWW-Authenticate"))
	}
	if r := send("DPoP", proof(newDPoP(t))); r.StatusCode != 401 || !strings.Contains(r.Header.Get("WWW-Authenticate"), "invalid_dpop_proof") {
		t.Errorf("wrong key: %d %q", r.StatusCode, r.Header.Get("WWW-Authenticate"))
	}
	if r := send("DPoP", ""); r.StatusCode != 401 {
		t.Errorf("no proof: %d", r.StatusCode)
	}
	if r := send("Bearer", proof(dp)); r.StatusCode != 401 {
		t.Errorf("bound token as Bearer: %d", r.StatusCode)
	}

	// The token endpoint refuses a replayed proof.
	tp, err := dp.Proof("POST", srv.TokenURL(), "", "", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	post := func() (int, string) {
		req, _ := http.NewRequest("POST", srv.TokenURL(), strings.NewReader("grant_type=client_credentials"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(tenantauthtest.DefaultClientID, tenantauthtest.DefaultClientSecret)
		req.Header.Set("DPoP", tp)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode, string(b)
	}
	if code, body := post(); code != 200 || !strings.Contains(body, `"token_type":"DPoP"`) {
		t.Fatalf("token request: %d %s", code, body)
	}
	if code, body := post(); code != 400 || !strings.Contains(body, "invalid_dpop_proof") {
		t.Errorf("replayed token request proof: %d %s", code, body)
	}
}

// TestDPoPWrongKeyThroughTransport: a tenant whose key changed after its
// token was bound gets 401s: the Transport invalidates the token and
// retries once with a fresh one, bound to the new key.
func TestDPoPWrongKeyThroughTransport(t *testing.T) {
	srv := tenantauthtest.NewStandard(tenantauthtest.Config{DPoP: true})
	defer srv.Close()
	p, err := tokenclient.New(tokenclient.Config{TokenURL: srv.TokenURL(), AuthMethod: tokenclient.ClientSecretBasic, HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	// A Provider that binds to one key while the tenant presents another.
	bound, presented := newDPoP(t), newDPoP(t)
	wrong := providerFunc(func(ctx context.Context, r tenantauth.TokenRequest) (*tenantauth.Token, error) {
		r.Credentials.DPoP = bound
		return p.Exchange(ctx, r)
	})
	m, err := tenantauth.New(tenantauth.Config{Retries: -1, Tenants: tenantauth.Tenants{"acme": {
		Provider: wrong,
		Credentials: tenantauth.Credentials{ClientID: tenantauthtest.DefaultClientID,
			ClientSecret: tenantauthtest.DefaultClientSecret, DPoP: presented},
		APIHosts: []string{tenantauth.AnyHost},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	client := &http.Client{Transport: NewTransport(m, srv.Client().Transport)}
	req, _ := http.NewRequestWithContext(acmeCtx(), "GET", srv.APIURL(), nil)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 || !strings.Contains(resp.Header.Get("WWW-Authenticate"), "invalid_dpop_proof") {
		t.Errorf("status %d %q; want 401 invalid_dpop_proof", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	if st := srv.Stats(); st.TokenRequests != 2 || st.APIRequests != 2 {
		t.Errorf("token requests %d, API requests %d; want 2 and 2 (one retry with a fresh token)", st.TokenRequests, st.APIRequests)
	}
}

type providerFunc func(context.Context, tenantauth.TokenRequest) (*tenantauth.Token, error)

func (f providerFunc) Endpoint() string { return "https://token.test/oauth/token" }
func (f providerFunc) Exchange(ctx context.Context, r tenantauth.TokenRequest) (*tenantauth.Token, error) {
	return f(ctx, r)
}

// BenchmarkTransportDPoP compares RoundTrip on a cache hit with a Bearer
// token and with a DPoP-bound one (a fresh ES256 proof per request).
func BenchmarkTransportDPoP(b *testing.B) {
	for _, typ := range []string{"Bearer", "DPoP"} {
		b.Run(typ, func(b *testing.B) {
			var dp *clientauth.DPoP
			if typ == "DPoP" {
				dp = newDPoP(b)
			}
			p := providerFunc(func(context.Context, tenantauth.TokenRequest) (*tenantauth.Token, error) {
				now := time.Now()
				return &tenantauth.Token{AccessToken: "tok-1", TokenType: typ, Expiry: now.Add(time.Hour), IssuedAt: now}, nil
			})
			m, err := tenantauth.New(tenantauth.Config{Retries: -1, Tenants: tenantauth.Tenants{"acme": {
				Provider: p, Credentials: tenantauth.Credentials{ClientID: "acme", ClientSecret: "s", DPoP: dp},
				APIHosts: []string{tenantauth.AnyHost},
			}}})
			if err != nil {
				b.Fatal(err)
			}
			defer m.Close()
			base := noopBase{resp: &http.Response{StatusCode: 200, Body: http.NoBody, Header: http.Header{}}}
			tr := NewTransport(m, base)
			req, _ := http.NewRequestWithContext(acmeCtx(), "GET", "https://api.example.com/v1/things", nil)
			req.Header.Set("Accept", "application/json")
			if _, err := m.Token(context.Background(), "acme"); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					resp, err := tr.RoundTrip(req)
					if err != nil || resp.StatusCode != 200 {
						b.Errorf("RoundTrip: %v", err)
						return
					}
				}
			})
		})
	}
}

// stepClock is a clock a test moves forward.
type stepClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *stepClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *stepClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// TestDPoPRefreshKeepsKey: a password-grant tenant with refresh tokens and
// a DPoP key: when its token expires the Manager refreshes it with a proof
// of the same key (the stand-in refuses a refresh token bound to one key
// with a proof of another, or with none), the new token is DPoP-bound
// again, and the API accepts it with proofs of that key.
func TestDPoPRefreshKeepsKey(t *testing.T) {
	clock := &stepClock{t: time.Now()}
	srv := tenantauthtest.NewStandard(tenantauthtest.Config{DPoP: true, RefreshTokens: true, Clock: clock, TokenLifetime: time.Hour})
	defer srv.Close()
	p, err := tokenclient.New(tokenclient.Config{TokenURL: srv.TokenURL(), AuthMethod: tokenclient.ClientSecretBasic,
		HTTPClient: srv.Client(), Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer p.CloseIdleConnections()
	dp := newDPoP(t)
	m, err := tenantauth.New(tenantauth.Config{Clock: clock, Retries: -1, Tenants: tenantauth.Tenants{"acme": {
		Provider: p,
		Credentials: tenantauth.Credentials{ClientID: tenantauthtest.DefaultClientID, ClientSecret: tenantauthtest.DefaultClientSecret,
			Username: tenantauthtest.DefaultUsername, Password: tenantauthtest.DefaultPassword, DPoP: dp},
		APIHosts: []string{tenantauth.AnyHost},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	client := &http.Client{Transport: NewTransport(m, srv.Client().Transport)}
	defer client.CloseIdleConnections()
	call := func(step string) {
		t.Helper()
		req, _ := http.NewRequestWithContext(acmeCtx(), http.MethodGet, srv.APIURL()+"/things", nil)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: status %d", step, resp.StatusCode)
		}
	}
	call("first")
	first, _ := m.Token(context.Background(), "acme")
	clock.advance(2 * time.Hour)
	call("after expiry")
	second, key, err := m.TokenForURLDPoP(context.Background(), "acme", mustURL(t, srv.APIURL()))
	if err != nil {
		t.Fatal(err)
	}
	if second == first || !second.IsDPoP() || key != dp {
		t.Errorf("after expiry: same token %v, DPoP %v, same key %v", second == first, second.IsDPoP(), key == dp)
	}
	st := srv.Stats()
	if st.ByGrant["password"] != 1 || st.ByGrant["refresh_token"] != 1 || st.TokenErrors != 0 {
		t.Errorf("grants %v, %d refused; want one password grant and one refresh", st.ByGrant, st.TokenErrors)
	}

	// The stand-in's rule: another key, or no proof, cannot refresh.
	creds := tenantauth.Credentials{ClientID: tenantauthtest.DefaultClientID, ClientSecret: tenantauthtest.DefaultClientSecret,
		Username: tenantauthtest.DefaultUsername, Password: tenantauthtest.DefaultPassword, DPoP: dp}
	granted, err := p.Exchange(context.Background(), tenantauth.TokenRequest{Credentials: creds})
	if err != nil {
		t.Fatalf("password grant: %v", err)
	}
	if granted.RefreshToken == "" {
		t.Fatal("password grant: no refresh token")
	}
	for name, key := range map[string]*clientauth.DPoP{"another key": newDPoP(t), "no proof": nil} {
		c := creds
		c.DPoP = key
		_, err := p.Exchange(context.Background(), tenantauth.TokenRequest{Grant: tenantauth.GrantRefreshToken,
			RefreshToken: granted.RefreshToken, Credentials: c})
		var te *tenantauth.TokenError
		if !errors.As(err, &te) || te.Code != "invalid_dpop_proof" {
			t.Errorf("refresh with %s: err = %v; want invalid_dpop_proof", name, err)
		}
	}
	if tok, err := p.Exchange(context.Background(), tenantauth.TokenRequest{Grant: tenantauth.GrantRefreshToken,
		RefreshToken: granted.RefreshToken, Credentials: creds}); err != nil || !tok.IsDPoP() {
		t.Errorf("refresh with the same key: %v, %v", tok, err)
	}
}

func mustURL(t *testing.T, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestDPoPNonceOnFreshToken: the API refuses the token (revoked), and when
// the Transport retries with a fresh token the API asks for a new nonce:
// the fresh token's request is sent once more with a proof holding it,
// and the caller gets the 200 (two token requests, three API requests).
func TestDPoPNonceOnFreshToken(t *testing.T) {
	dp := newDPoP(t)
	api := &dpoptest.RotatingAPI{JKT: dp.Thumbprint()}
	srv := httptest.NewServer(api)
	defer srv.Close()
	p := &dpoptest.Provider{}
	m, err := tenantauth.New(tenantauth.Config{Retries: -1, Tenants: tenantauth.Tenants{"acme": {Provider: p,
		Credentials: tenantauth.Credentials{ClientID: "c", ClientSecret: "s", DPoP: dp}, APIHosts: []string{tenantauth.AnyHost}}}})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	client := &http.Client{Transport: NewTransport(m, srv.Client().Transport)}
	defer client.CloseIdleConnections()
	req, _ := http.NewRequestWithContext(acmeCtx(), http.MethodGet, srv.URL+"/things", nil)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || p.Requests() != 2 || api.Calls() != 3 || api.Served != 1 {
		t.Errorf("status %d, %d token requests, %d API calls, %d served; want 200, 2, 3, 1",
			resp.StatusCode, p.Requests(), api.Calls(), api.Served)
	}
}

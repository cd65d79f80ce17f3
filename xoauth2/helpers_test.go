package xoauth2_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"math/big"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	"google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/tenantauth/tenantauth"
	"github.com/tenantauth/tenantauth/providers/keycloak"
	"github.com/tenantauth/tenantauth/tenantauthtest"
)

// Credentials of the tenant "acme" at the stand-in identity providers.
const (
	acmeClient = "acme-client"
	acmeSecret = "acme-SECRET-must-not-leak"
)

// newIdP starts a Keycloak stand-in that knows acme's client; cfg.Clients
// is set when empty.
func newIdP(t testing.TB, cfg tenantauthtest.Config) *tenantauthtest.Server {
	t.Helper()
	if cfg.Clients == nil {
		cfg.Clients = map[string]string{acmeClient: acmeSecret}
	}
	idp := tenantauthtest.NewKeycloak(cfg)
	t.Cleanup(idp.Close)
	return idp
}

// newManager returns a Manager whose tenant "acme" gets client_credentials
// tokens from idp and may send them to loopback hosts, and the provider,
// whose idle connections a leak check closes.
func newManager(t testing.TB, idp *tenantauthtest.Server, cfg tenantauth.Config) (*tenantauth.Manager, *keycloak.Provider) {
	t.Helper()
	p, err := newKeycloak(idp)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Tenants == nil {
		cfg.Tenants = tenantauth.Tenants{"acme": {
			Provider:    p,
			APIHosts:    []string{"127.0.0.1"},
			Credentials: tenantauth.Credentials{ClientID: acmeClient, ClientSecret: acmeSecret},
		}}
	}
	m, err := tenantauth.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m, p
}

// newKeycloak returns a provider for idp's token endpoint.
func newKeycloak(idp *tenantauthtest.Server) (*keycloak.Provider, error) {
	return keycloak.New(keycloak.Config{BaseURL: idp.URL, Realm: "fluencypass"})
}

// fakeClock is a clock that moves only when told, shared by a Manager and
// a stand-in identity provider.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Now()} }

// Now implements tenantauth.Clock.
func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// onClock is a Provider whose tokens are dated by clock: a provider dates
// a token by the system clock, which a test's fake clock does not move.
type onClock struct {
	tenantauth.Provider
	clock tenantauth.Clock
}

// Exchange implements tenantauth.Provider.
func (p onClock) Exchange(ctx context.Context, req tenantauth.TokenRequest) (*tenantauth.Token, error) {
	tok, err := p.Provider.Exchange(ctx, req)
	if err != nil || tok.Expiry.IsZero() {
		return tok, err
	}
	lifetime := tok.Expiry.Sub(tok.IssuedAt)
	tok.IssuedAt = p.clock.Now()
	tok.Expiry = tok.IssuedAt.Add(lifetime)
	return tok, nil
}

// checkNoLeak fails when goroutines started during the test are still
// running: it waits (bounded) for the count to return to before, as the
// core module's tests do.
func checkNoLeak(t *testing.T, before int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		n := runtime.NumGoroutine()
		if n <= before {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("goroutines: %d before, %d after Close\n%s", before, n, buf)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// whoIs asks idp's protected API which client an Authorization value
// belongs to, as a resource server asks its identity provider; an error
// means the token was refused.
func whoIs(ctx context.Context, idp *tenantauthtest.Server, authorization string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, idp.APIURL()+"/whoami", nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", authorization)
	resp, err := idp.Client().Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", errors.New(resp.Status)
	}
	var who struct {
		ClientID string `json:"client_id"`
	}
	err = json.NewDecoder(resp.Body).Decode(&who)
	return who.ClientID, err
}

// grpcAPI is a tenant's gRPC API on 127.0.0.1: the standard health
// service, over TLS with a self-signed certificate, for callers whose
// bearer token the identity provider accepts. It tells the caller who it
// took it for in the response header "x-client-id".
type grpcAPI struct {
	Addr    string         // host:port
	RootCAs *x509.CertPool // trusts the server's certificate
	srv     *grpc.Server
	done    chan struct{}
}

// startGRPCAPI starts a grpcAPI whose tokens idp checks.
func startGRPCAPI(idp *tenantauthtest.Server) (*grpcAPI, error) {
	cert, pool, err := selfSigned()
	if err != nil {
		return nil, err
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := grpc.NewServer(
		grpc.Creds(credentials.NewServerTLSFromCert(&cert)),
		grpc.UnaryInterceptor(requireBearer(idp)))
	grpc_health_v1.RegisterHealthServer(srv, health.NewServer())
	api := &grpcAPI{Addr: lis.Addr().String(), RootCAs: pool, srv: srv, done: make(chan struct{})}
	go func() {
		defer close(api.done)
		_ = srv.Serve(lis)
	}()
	return api, nil
}

// Stop stops the server and waits for it.
func (a *grpcAPI) Stop() {
	a.srv.Stop()
	<-a.done
}

// requireBearer admits a call only when its "authorization" metadata is
// "Bearer <token>" with a token idp issued and still accepts.
func requireBearer(idp *tenantauthtest.Server) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		md, _ := metadata.FromIncomingContext(ctx)
		auth := md.Get("authorization")
		if len(auth) != 1 || !strings.HasPrefix(auth[0], "Bearer ") {
			return nil, status.Error(codes.Unauthenticated, "a bearer token is required")
		}
		client, err := whoIs(ctx, idp, auth[0])
		if err != nil {
			return nil, status.Error(codes.Unauthenticated, "the token was refused")
		}
		if err := grpc.SetHeader(ctx, metadata.Pairs("x-client-id", client)); err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
}

// selfSigned returns a self-signed certificate for 127.0.0.1 and ::1,
// valid for an hour, and a pool that trusts it: the stand-in for the
// certificate a real API has.
func selfSigned() (tls.Certificate, *x509.CertPool, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "tenant API (test)"},
		NotBefore:             now.Add(-time.Minute),
		NotAfter:              now.Add(time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool, nil
}

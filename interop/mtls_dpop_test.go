package interop

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tenantauth/tenantauth"
	"github.com/tenantauth/tenantauth/clientauth"
	"github.com/tenantauth/tenantauth/providers/keycloak"
	"github.com/tenantauth/tenantauth/providers/oidc"
)

// Sender-constrained clients against oidc-provider (keycloak.mjs), each on
// an instance of its own started by the test with opt-in flags:
//
//   - Mutual TLS client authentication (RFC 8705 §2): Credentials.Auth is a
//     clientauth.TLSClientAuth and the token client presents its
//     certificate in the TLS handshake. The instance serves HTTPS
//     (--tls-cert, --tls-key) and asks for a client certificate without
//     requiring one; oidc-provider's features.mTLS (lib/shared/token_auth.js)
//     then authenticates self_signed_tls_client_auth clients by the
//     certificate's SHA-256 thumbprint against the x5c registered in their
//     jwks, and tls_client_auth clients by a certificate that chains to the
//     trusted CA (socket.authorized) and has the registered subject DN.
//     With certificateBoundAccessTokens its tokens carry cnf x5t#S256, the
//     thumbprint of the certificate the token request came with, which
//     introspection shows: the proof of which certificate a request's
//     connection presented.
//   - DPoP (RFC 9449): Credentials.DPoP. oidc-provider's features.dPoP
//     (lib/helpers/validate_dpop.js) checks the proof on each token request,
//     binds the token to the proof's key (cnf.jkt, token_type DPoP), and for
//     the client tenantauth-dpop-nonce first answers 400 use_dpop_nonce with
//     a DPoP-Nonce header. A Go API behind middleware/httpauth checks each
//     request's proof with clientauth.VerifyProof against the cnf.jkt that
//     oidc-provider's introspection reports for the token.

// The mutual TLS clients of the instance TestMTLSClientAuth starts.
const (
	mtlsSelfSignedID = "tenantauth-mtls-a" // self_signed_tls_client_auth (--mtls-client)
	mtlsPKIID        = "tenantauth-pki-b"  // tls_client_auth (--pki-client)
)

// The DPoP clients keycloak.mjs registers with --dpop (client_secret_basic).
const (
	dpopClientID      = "tenantauth-dpop"
	dpopNonceClientID = "tenantauth-dpop-nonce" // its token requests need a server nonce
)

func dpopClientSecret(id string) string { return id + "-secret-0123456789" }

// startKeycloak starts a keycloak.mjs of the test's own with args, stopped
// when t ends (its stderr logged if t failed).
func startKeycloak(t *testing.T, args ...string) *server {
	t.Helper()
	s, err := startServer("keycloak", "keycloak.mjs", args...)
	if err != nil {
		t.Fatalf("start keycloak.mjs: %v", err)
	}
	t.Cleanup(s.stop)
	s.attach(t)
	return s
}

// A testPKI is a CA made for one test, with its files in a temporary
// directory: it issues the HTTPS server's certificate and the
// tls_client_auth clients' certificates.
type testPKI struct {
	dir    string
	ca     *x509.Certificate
	caKey  *ecdsa.PrivateKey
	caFile string // PEM
	pool   *x509.CertPool
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	p := &testPKI{dir: t.TempDir(), caKey: newP256(t)}
	tmpl := certTemplate(pkix.Name{Organization: []string{"tenantauth interop"}, CommonName: "interop test CA"})
	tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
	tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &p.caKey.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	if p.ca, err = x509.ParseCertificate(der); err != nil {
		t.Fatal(err)
	}
	p.caFile = p.writePEM(t, "ca.pem", "CERTIFICATE", der)
	p.pool = x509.NewCertPool()
	p.pool.AddCert(p.ca)
	return p
}

func newP256(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// certTemplate is a certificate valid from an hour ago for a day, with a
// random serial number.
func certTemplate(subject pkix.Name) *x509.Certificate {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err)
	}
	now := time.Now()
	return &x509.Certificate{
		SerialNumber: serial, Subject: subject,
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature,
	}
}

// serverCert issues the HTTPS server's certificate for 127.0.0.1 and
// returns the paths of its certificate and key.
func (p *testPKI) serverCert(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	key := newP256(t)
	tmpl := certTemplate(pkix.Name{CommonName: "127.0.0.1"})
	tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return p.writePEM(t, "server.pem", "CERTIFICATE", der), p.writePEM(t, "server.key", "PRIVATE KEY", keyDER)
}

// clientCert makes a TLS client certificate for subject, issued by the CA,
// or self-signed when selfSigned is set, and returns it as an
// Authenticator and as the path of its PEM file.
func (p *testPKI) clientCert(t *testing.T, subject pkix.Name, selfSigned bool) (*clientauth.TLSClientAuth, string) {
	t.Helper()
	key := newP256(t)
	tmpl := certTemplate(subject)
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	parent, signer := p.ca, p.caKey
	if selfSigned {
		parent, signer = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
	if err != nil {
		t.Fatal(err)
	}
	ta, err := clientauth.NewTLSClientAuth(tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key})
	if err != nil {
		t.Fatalf("NewTLSClientAuth: %v", err)
	}
	name := strings.ReplaceAll(subject.CommonName, " ", "_") + ".pem"
	return ta, p.writePEM(t, name, "CERTIFICATE", der)
}

func (p *testPKI) writePEM(t *testing.T, name, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(p.dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// An oauthServer is a keycloak.mjs instance and the http.Client (trusting
// its CA when it serves HTTPS, presenting no certificate) that reaches its
// admin routes and introspection endpoint.
type oauthServer struct {
	*server
	client *http.Client
}

func (o oauthServer) statsOf(t *testing.T) serverStats {
	t.Helper()
	var st serverStats
	o.do(t, http.MethodGet, "/admin/stats", &st)
	return st
}

func (o oauthServer) resetStats(t *testing.T) {
	t.Helper()
	o.do(t, http.MethodPost, "/admin/reset", nil)
}

func (o oauthServer) do(t *testing.T, method, path string, into any) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, o.base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := o.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %s: status %d: %s", method, path, resp.StatusCode, body)
	}
	if into != nil {
		if err := json.Unmarshal(body, into); err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
	}
}

// introspection is the part of oidc-provider's RFC 7662 answer the tests read.
type introspection struct {
	Active    bool              `json:"active"`
	ClientID  string            `json:"client_id"`
	TokenType string            `json:"token_type"`
	Cnf       map[string]string `json:"cnf"`
}

// introspect asks the server's introspection endpoint about token, as the
// confidential client tenantauth-basic (oidc-provider lets a confidential
// client introspect any token). It returns an error rather than failing a
// test, so that an API handler can call it.
func (o oauthServer) introspect(token string) (introspection, error) {
	var in introspection
	form := url.Values{"token": {token}}
	req, err := http.NewRequest(http.MethodPost, kcIssuer(o.server)+"/protocol/openid-connect/token/introspect", strings.NewReader(form.Encode()))
	if err != nil {
		return in, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(kcBasicID, kcBasicSecret)
	resp, err := o.client.Do(req)
	if err != nil {
		return in, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		return in, fmt.Errorf("introspection: status %d: %s", resp.StatusCode, body)
	}
	return in, json.Unmarshal(body, &in)
}

func (o oauthServer) mustIntrospect(t *testing.T, tok *tenantauth.Token) introspection {
	t.Helper()
	in, err := o.introspect(string(tok.AccessToken))
	if err != nil {
		t.Fatal(err)
	}
	return in
}

// mtlsEnv is TestMTLSClientAuth's server and certificates.
type mtlsEnv struct {
	srv  oauthServer
	pool *x509.CertPool
	// selfSigned is registered with mtlsSelfSignedID, pki (issued by the
	// CA, subject registered) with mtlsPKIID. unregistered is self-signed
	// and registered nowhere; wrongSubject is issued by the CA for a
	// subject no client registers.
	selfSigned, pki, unregistered, wrongSubject *clientauth.TLSClientAuth
}

// newMTLSEnv makes a CA, a server certificate and the client certificates
// in a temporary directory and starts an HTTPS keycloak.mjs with the two
// mutual TLS clients.
func newMTLSEnv(t *testing.T) *mtlsEnv {
	t.Helper()
	p := newTestPKI(t)
	certFile, keyFile := p.serverCert(t)
	e := &mtlsEnv{pool: p.pool}
	var selfSignedFile string
	e.selfSigned, selfSignedFile = p.clientCert(t, pkix.Name{CommonName: mtlsSelfSignedID}, true)
	e.pki, _ = p.clientCert(t, pkix.Name{Organization: []string{"tenantauth interop"}, CommonName: mtlsPKIID}, false)
	e.unregistered, _ = p.clientCert(t, pkix.Name{CommonName: "unregistered"}, true)
	e.wrongSubject, _ = p.clientCert(t, pkix.Name{Organization: []string{"tenantauth interop"}, CommonName: "someone else"}, false)

	s := startKeycloak(t,
		"--tls-cert", certFile, "--tls-key", keyFile, "--tls-client-ca", p.caFile,
		"--mtls-client", mtlsSelfSignedID+"="+selfSignedFile,
		"--pki-client", mtlsPKIID+"="+e.pki.Subject())
	s.base = "https://" + strings.TrimPrefix(s.base, "http://")
	e.srv = oauthServer{server: s, client: e.httpClient(t)}
	return e
}

// httpClient trusts the test CA and presents no certificate. A provider
// given it clones its transport for every tenant certificate.
func (e *mtlsEnv) httpClient(t *testing.T) *http.Client {
	t.Helper()
	tr := &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: e.pool, MinVersion: tls.VersionTLS12},
		MaxIdleConnsPerHost: 16, IdleConnTimeout: 30 * time.Second,
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 15 * time.Second}
}

// provider returns providers/oidc (by the issuer's discovery document) or
// providers/keycloak for the HTTPS server.
func (e *mtlsEnv) provider(t *testing.T, kind string) tenantauth.Provider {
	t.Helper()
	switch kind {
	case "oidc":
		p, err := oidc.New(oidc.Config{Issuer: kcIssuer(e.srv.server), HTTPClient: e.httpClient(t)})
		if err != nil {
			t.Fatalf("oidc.New: %v", err)
		}
		t.Cleanup(p.CloseIdleConnections)
		return p
	case "keycloak":
		p, err := keycloak.New(keycloak.Config{BaseURL: e.srv.base, Realm: kcRealm, HTTPClient: e.httpClient(t)})
		if err != nil {
			t.Fatalf("keycloak.New: %v", err)
		}
		t.Cleanup(p.CloseIdleConnections)
		return p
	}
	t.Fatalf("unknown provider %q", kind)
	return nil
}

// noCertificate is a client authentication that sends client_id alone and
// presents no certificate: what a tls_client_auth tenant without its
// certificate would send. (It is not a clientauth.CertificateAuthenticator,
// so the token client uses its plain connections.)
type noCertificate struct{}

func (noCertificate) Method() string                               { return "tls_client_auth" }
func (noCertificate) Params(string, time.Time) (url.Values, error) { return nil, nil }

func mtlsCreds(clientID string, ta *clientauth.TLSClientAuth) tenantauth.Credentials {
	return tenantauth.Credentials{Grant: tenantauth.GrantClientCredentials, ClientID: clientID, Auth: ta}
}

// TestMTLSClientAuth: tls_client_auth and self_signed_tls_client_auth
// (RFC 8705 §2) through a Manager, with providers/oidc (discovery over
// HTTPS) and providers/keycloak.
//
// Tokens: two tenants with different certificates (one self-signed and
// registered as x5c, one issued by the CA the server trusts, matched by
// subject) each get a token, three times in alternation, with the cache
// emptied in between (Invalidate, then Forget) so that every Token call is
// a token request. TLS authenticates connections, not requests: if the
// token client reused one tenant's connection for the other's request,
// the server would see the wrong certificate and refuse (a CA-issued
// certificate is not the registered x5c; a self-signed one does not chain
// to the CA). Introspection shows each token bound (cnf x5t#S256) to the
// certificate of its own tenant, which is what the connection presented.
//
// Refusals: a certificate presented for another client (both ways), an
// unregistered self-signed certificate, a CA-issued certificate with
// another subject, and no certificate at all are each a 401 invalid_client
// TokenError matching ErrInvalidCredentials, for the reason oidc-provider
// gives; a good tenant on the same provider still gets its token.
func TestMTLSClientAuth(t *testing.T) {
	requireServers(t)
	e := newMTLSEnv(t)

	for _, kind := range []string{"oidc", "keycloak"} {
		t.Run("tokens/"+kind, func(t *testing.T) {
			p := e.provider(t, kind)
			m, fetches := newManager(t, tenantauth.Tenants{
				"alpha": {Provider: p, Credentials: mtlsCreds(mtlsSelfSignedID, e.selfSigned)},
				"beta":  {Provider: p, Credentials: mtlsCreds(mtlsPKIID, e.pki)},
			}, nil)
			e.srv.resetStats(t)

			tenants := []struct {
				id, clientID string
				ta           *clientauth.TLSClientAuth
			}{
				{"alpha", mtlsSelfSignedID, e.selfSigned},
				{"beta", mtlsPKIID, e.pki},
			}
			const rounds = 3
			last := map[string]*tenantauth.Token{}
			for round := range rounds {
				for _, tn := range tenants {
					switch round {
					case 1:
						m.Invalidate(tn.id, last[tn.id])
					case 2:
						m.Forget(tn.id)
					}
					tok, err := m.Token(t.Context(), tn.id)
					if err != nil {
						t.Fatalf("round %d: Token(%s): %v", round+1, tn.id, err)
					}
					if prev := last[tn.id]; prev != nil && prev.AccessToken == tok.AccessToken {
						t.Fatalf("round %d: Token(%s) returned the previous token; the cache was not emptied", round+1, tn.id)
					}
					last[tn.id] = tok
					if tok.IsDPoP() || tok.TokenType != "Bearer" {
						t.Errorf("token type %q; want Bearer", tok.TokenType)
					}
					in := e.srv.mustIntrospect(t, tok)
					if !in.Active || in.ClientID != tn.clientID {
						t.Errorf("round %d: introspection of %s's token: active %v, client_id %q; want active for %s",
							round+1, tn.id, in.Active, in.ClientID, tn.clientID)
					}
					if got, want := in.Cnf["x5t#S256"], tn.ta.CertificateID(); got != want {
						t.Errorf("round %d: %s's token is bound to certificate %q; want its own %q", round+1, tn.id, got, want)
					}
				}
			}
			st := e.srv.statsOf(t)
			if cc := st.Tokens["client_credentials"]; cc.OK != 2*rounds || st.requests() != 2*rounds {
				t.Errorf("server saw token requests %+v (reasons %v); want %d successful client_credentials grants and nothing else",
					st.Tokens, st.Details, 2*rounds)
			}
			for _, tn := range tenants {
				if got := fetches.okFor(tn.id); got != rounds {
					t.Errorf("the Manager fetched %d tokens for %s; want %d (%v)", got, tn.id, rounds, fetches)
				}
			}
		})
	}

	cases := []struct {
		name   string
		creds  tenantauth.Credentials
		reason string // the server's error_detail
	}{
		{"self_signed_client/ca_issued_cert_of_other_client", mtlsCreds(mtlsSelfSignedID, e.pki), "unregistered client certificate provided"},
		{"pki_client/self_signed_cert_of_other_client", mtlsCreds(mtlsPKIID, e.selfSigned), "client certificate was not verified"},
		{"self_signed_client/unregistered_cert", mtlsCreds(mtlsSelfSignedID, e.unregistered), "unregistered client certificate provided"},
		{"pki_client/wrong_subject", mtlsCreds(mtlsPKIID, e.wrongSubject), "certificate subject value does not match the registered one"},
		// client_id alone: the handshake presents nothing.
		{"self_signed_client/no_certificate", tenantauth.Credentials{
			Grant: tenantauth.GrantClientCredentials, ClientID: mtlsSelfSignedID, Auth: noCertificate{},
		}, "client certificate was not provided"},
	}
	for _, tc := range cases {
		t.Run("refused/"+tc.name, func(t *testing.T) {
			p := e.provider(t, "oidc")
			m, _ := newManager(t, tenantauth.Tenants{
				"bad":  {Provider: p, Credentials: tc.creds},
				"good": {Provider: p, Credentials: mtlsCreds(mtlsSelfSignedID, e.selfSigned)},
			}, nil)
			e.srv.resetStats(t)

			tok, err := m.Token(t.Context(), "bad")
			if err == nil {
				t.Fatalf("Token succeeded (%s); want a refusal", tok.TokenType)
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
			st := e.srv.statsOf(t)
			if st.Errors["invalid_client"] != 1 || st.requests() != 1 {
				t.Errorf("server saw %+v, errors %v; want one invalid_client refusal", st.Tokens, st.Errors)
			}
			if !hasDetail(st, tc.reason) {
				t.Errorf("server's reasons %v; want %q", st.Details, tc.reason)
			}

			good, err := m.Token(t.Context(), "good")
			if err != nil {
				t.Fatalf("another tenant on the same provider after the refusal: %v", err)
			}
			if in := e.srv.mustIntrospect(t, good); in.Cnf["x5t#S256"] != e.selfSigned.CertificateID() {
				t.Errorf("the good tenant's token is bound to %q; want its certificate %q", in.Cnf["x5t#S256"], e.selfSigned.CertificateID())
			}
		})
	}
}

// failedCount returns the failed attempts of every tenant together.
func (f *fetchLog) failedCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, v := range f.failed {
		n += v
	}
	return n
}

// A dpopAPI is a resource server for DPoP-bound tokens (RFC 9449 §7): it
// wants "Authorization: DPoP <token>" and one DPoP proof, asks the
// authorization server's introspection endpoint whether the token is
// active and which key it is bound to (cnf.jkt), and checks the proof with
// clientauth.VerifyProof for that key, this request's method and URL, the
// token's hash, its own nonce and a fresh jti. A proof without the nonce
// is answered 401 with a use_dpop_nonce challenge and a DPoP-Nonce header
// (§9), as a resource server that requires nonces would.
type dpopAPI struct {
	*httptest.Server
	as    oauthServer
	nonce string

	mu         sync.Mutex
	seen       map[string]bool // proof jti
	ok         int
	challenges int      // use_dpop_nonce answers
	refused    []string // every other refusal, with its reason
}

func newDPoPAPI(t *testing.T, as oauthServer) *dpopAPI {
	t.Helper()
	a := &dpopAPI{as: as, nonce: "api-nonce-" + rand.Text(), seen: map[string]bool{}}
	a.Server = httptest.NewServer(a) // 127.0.0.1
	t.Cleanup(a.Close)
	return a
}

func (a *dpopAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	proofs := r.Header.Values("DPoP")
	if !strings.EqualFold(scheme, "DPoP") || token == "" || len(proofs) != 1 {
		a.refuse(w, "invalid_token", fmt.Sprintf("scheme %q, %d proofs", scheme, len(proofs)))
		return
	}
	in, err := a.as.introspect(token)
	if err != nil || !in.Active || in.Cnf["jkt"] == "" {
		a.refuse(w, "invalid_token", fmt.Sprintf("introspection: %+v, %v", in, err))
		return
	}
	htu := "http://" + r.Host + r.URL.Path
	jkt, err := clientauth.VerifyProof(proofs[0], r.Method, htu, token, in.Cnf["jkt"], a.nonce, time.Now(), func(jti string) bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		used := a.seen[jti]
		a.seen[jti] = true
		return used
	})
	switch {
	case errors.Is(err, clientauth.ErrNonce):
		a.mu.Lock()
		a.challenges++
		a.mu.Unlock()
		w.Header().Set("DPoP-Nonce", a.nonce)
		w.Header().Set("WWW-Authenticate", `DPoP error="use_dpop_nonce", error_description="Resource server requires nonce in DPoP proof"`)
		w.WriteHeader(http.StatusUnauthorized)
		return
	case err != nil:
		a.refuse(w, "invalid_dpop_proof", err.Error())
		return
	}
	a.mu.Lock()
	a.ok++
	a.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]string{"client_id": in.ClientID, "jkt": jkt, "path": r.URL.Path})
}

func (a *dpopAPI) refuse(w http.ResponseWriter, code, reason string) {
	a.mu.Lock()
	a.refused = append(a.refused, code+": "+reason)
	a.mu.Unlock()
	w.Header().Set("WWW-Authenticate", `DPoP error="`+code+`"`)
	w.WriteHeader(http.StatusUnauthorized)
}

// counts returns the requests served, the nonce challenges and the other
// refusals so far.
func (a *dpopAPI) counts() (ok, challenges int, refused []string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.ok, a.challenges, append([]string(nil), a.refused...)
}

// TestDPoP: client_credentials with Credentials.DPoP through a Manager,
// providers/oidc (discovery) and providers/keycloak, against oidc-provider
// with features.dPoP, for a client that needs no nonce and one whose token
// requests need a server nonce.
//
// The token is of type DPoP, and introspection shows it active and bound
// (cnf.jkt) to the tenant's key; Manager.TokenForURLDPoP hands back that
// token with that key. The nonce client costs exactly one refused request
// (400 use_dpop_nonce, retried once by the token client with the nonce),
// the other none. Calls to a Go API through httpauth's Transport carry
// "Authorization: DPoP" and a fresh proof the API verifies against the
// bound key, after one use_dpop_nonce challenge from the API itself. After
// Invalidate the next token is fetched with the nonce the token client
// remembered (no second refusal), is bound to the same key, and works.
func TestDPoP(t *testing.T) {
	requireServers(t)
	s := startKeycloak(t, "--dpop")
	as := oauthServer{server: s, client: adminClient}
	api := newDPoPAPI(t, as)

	providers := []struct {
		name string
		make func(t *testing.T) tenantauth.Provider
	}{
		{"oidc", func(t *testing.T) tenantauth.Provider {
			p, _, _ := newOIDC(t, oidc.Config{Issuer: kcIssuer(s)})
			return p
		}},
		{"keycloak", func(t *testing.T) tenantauth.Provider {
			p, _ := newKeycloak(t, s, keycloak.ClientAuthBasic)
			return p
		}},
	}
	clients := []struct {
		id        string
		nonceOnce bool // the first token request is refused with use_dpop_nonce
	}{
		{dpopClientID, false},
		{dpopNonceClientID, true},
	}
	for _, pv := range providers {
		for _, cl := range clients {
			t.Run(pv.name+"/"+cl.id, func(t *testing.T) {
				dp, err := clientauth.GenerateDPoP()
				if err != nil {
					t.Fatal(err)
				}
				creds := tenantauth.Credentials{
					Grant: tenantauth.GrantClientCredentials, ClientID: cl.id,
					ClientSecret: tenantauth.Secret(dpopClientSecret(cl.id)), DPoP: dp,
				}
				m, fetches := newManager(t, tenantauth.Tenants{"acme": {Provider: pv.make(t), Credentials: creds}}, nil)
				s.reset(t)
				ok0, challenges0, _ := api.counts()

				tok, err := m.Token(t.Context(), "acme")
				if err != nil {
					t.Fatalf("Token: %v", err)
				}
				if !tok.IsDPoP() || tok.TokenType != "DPoP" {
					t.Errorf("token type %q (IsDPoP %v); want DPoP", tok.TokenType, tok.IsDPoP())
				}
				wantRefusals := 0
				if cl.nonceOnce {
					wantRefusals = 1
				}
				st := s.stats(t)
				if cc := st.Tokens["client_credentials"]; cc.OK != 1 || cc.Error != wantRefusals || st.Errors["use_dpop_nonce"] != wantRefusals || st.requests() != 1+wantRefusals {
					t.Errorf("server saw token requests %+v, errors %v; want 1 grant after %d use_dpop_nonce refusal(s)", st.Tokens, st.Errors, wantRefusals)
				}
				if got := fetches.okFor("acme"); got != 1 || fetches.failedCount() != 0 {
					t.Errorf("the Manager's fetches: %v; want 1 successful", fetches)
				}
				in := as.mustIntrospect(t, tok)
				if !in.Active || in.ClientID != cl.id || in.TokenType != "DPoP" || in.Cnf["jkt"] != dp.Thumbprint() {
					t.Errorf("introspection: %+v; want an active DPoP token of %s bound to jkt %s", in, cl.id, dp.Thumbprint())
				}

				u, err := url.Parse(api.URL + "/orders")
				if err != nil {
					t.Fatal(err)
				}
				got, key, err := m.TokenForURLDPoP(t.Context(), "acme", u)
				if err != nil || got.AccessToken != tok.AccessToken || key != dp {
					t.Errorf("TokenForURLDPoP = (same token %v, same key %v, %v); want the cached token and the tenant's key",
						err == nil && got.AccessToken == tok.AccessToken, key == dp, err)
				}

				c := apiClient(t, m)
				const calls = 3
				callAPI := func(round string) {
					t.Helper()
					for i := range calls {
						status, body, err := apiGet(t.Context(), c, "acme", fmt.Sprintf("%s/orders/%d", api.URL, i))
						if err != nil || status != http.StatusOK {
							_, _, refused := api.counts()
							t.Fatalf("%s: API call %d: status %d, %v, body %s; API refusals %v", round, i, status, err, body, refused)
						}
						var v map[string]string
						if err := json.Unmarshal(body, &v); err != nil || v["jkt"] != dp.Thumbprint() || v["client_id"] != cl.id {
							t.Errorf("%s: API answer %s; want client %s, jkt %s", round, body, cl.id, dp.Thumbprint())
						}
					}
				}
				callAPI("first token")
				// httpauth remembers the API's nonce per host: one
				// challenge for this Transport, then none.
				ok, challenges, refused := api.counts()
				if ok-ok0 != calls || challenges-challenges0 != 1 || len(refused) != 0 {
					t.Errorf("API served %d, challenged %d times, refused %v; want %d served after 1 nonce challenge, none refused",
						ok-ok0, challenges-challenges0, refused, calls)
				}

				m.Invalidate("acme", tok)
				tok2, err := m.Token(t.Context(), "acme")
				if err != nil {
					t.Fatalf("Token after Invalidate: %v", err)
				}
				if tok2.AccessToken == tok.AccessToken || !tok2.IsDPoP() {
					t.Errorf("Token after Invalidate: same token %v, type %q; want a new DPoP token",
						tok2.AccessToken == tok.AccessToken, tok2.TokenType)
				}
				st = s.stats(t)
				if cc := st.Tokens["client_credentials"]; cc.OK != 2 || cc.Error != wantRefusals {
					t.Errorf("server saw token requests %+v after Invalidate; want 2 grants and still %d refusal(s) (the nonce is remembered)",
						st.Tokens, wantRefusals)
				}
				if in := as.mustIntrospect(t, tok2); !in.Active || in.Cnf["jkt"] != dp.Thumbprint() {
					t.Errorf("introspection of the new token: %+v; want active, jkt %s", in, dp.Thumbprint())
				}
				callAPI("after Invalidate")
				ok, challenges, refused = api.counts()
				if ok-ok0 != 2*calls || challenges-challenges0 != 1 || len(refused) != 0 {
					t.Errorf("API served %d, challenged %d times, refused %v; want %d served after 1 nonce challenge in all",
						ok-ok0, challenges-challenges0, refused, 2*calls)
				}
			})
		}
	}
}

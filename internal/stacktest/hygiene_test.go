package stacktest

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"testing"

	"github.com/tenantauth/tenantauth"
	"github.com/tenantauth/tenantauth/middleware/fiberauth"
	"github.com/tenantauth/tenantauth/middleware/httpauth"
)

// TestRecorderCatchesLeaks proves the scan the other tests rely on can
// fail: every spelling of a secret it claims to find is found, and clean
// text is not flagged.
func TestRecorderCatchesLeaks(t *testing.T) {
	secrets := []string{
		secretValue(markClientSecret), secretValue(markPassword),
		secretValue(markAccess), secretValue(markRefresh),
	}
	var texts []string
	for _, s := range secrets {
		texts = append(texts,
			"plain "+s,
			"truncated "+s[:6],
			"hex "+hex.EncodeToString([]byte(s)),
			"HEX "+strings.ToUpper(hex.EncodeToString([]byte(s))),
			fmt.Sprintf("%x", "x"+s),
		)
		for pad := 0; pad < 3; pad++ {
			b := append([]byte(strings.Repeat("p", pad)), s...)
			texts = append(texts,
				"base64 "+base64.StdEncoding.EncodeToString(b),
				"base64url "+base64.RawURLEncoding.EncodeToString(b))
		}
	}
	for _, text := range texts {
		r := newRecorder()
		r.scan("canary", text)
		if r.nleaks != 1 {
			t.Errorf("recorder missed the secret in %q", text)
		}
	}
	r := newRecorder()
	for _, clean := range []string{"tenantauth: token endpoint https://x/token: status 400: invalid_grant",
		`{"AccessToken":"[REDACTED]"}`, "ZQ9 X", fmt.Sprintf("%p", r)} {
		r.scan("clean", clean)
	}
	if r.nleaks != 0 {
		t.Errorf("recorder flagged clean text: %v", r.samples)
	}
}

// panicProvider panics with the request's secrets in the panic value.
type panicProvider struct{ endpoint string }

func (p panicProvider) Endpoint() string { return p.endpoint }

func (p panicProvider) Exchange(_ context.Context, req tenantauth.TokenRequest) (*tenantauth.Token, error) {
	panic(fmt.Errorf("provider bug with %s and %s", req.Credentials.ClientSecret.Reveal(), req.Credentials.Password.Reveal()))
}

// userClient is how users embed a Manager in their own types: in an
// unexported field.
type userClient struct {
	name string
	m    *tenantauth.Manager
}

// TestSecretHygiene renders every public value the stack hands out — with
// every verb, as JSON and through slog's text and JSON handlers — and
// collects the panic messages of a panicking provider and of misuse, and
// asserts that no secret appears in any of them. The fault matrix, the API
// faults and the soak apply the same scan to every error, log record and
// rendering they produce.
func TestSecretHygiene(t *testing.T) {
	goroutines := runtime.NumGoroutine()
	rec := newRecorder()
	func() {
		reg := newRegistry()
		api := newAPIServer(t, reg)
		defer api.srv.Close()
		kc := newAccount("kc", tenantauth.GrantPassword)
		pp := newAccount("pp", tenantauth.GrantPassword)
		kcSrv := newTokenServer(t, tokenServerConfig{dialect: keycloakDialect, reg: reg, accounts: []account{kc}})
		ppSrv := newTokenServer(t, tokenServerConfig{dialect: passportDialect, reg: reg, accounts: []account{pp}})
		defer kcSrv.close()
		defer ppSrv.close()
		hc, tr := tokenClient(nil, nil)
		hosts := []string{api.host()}
		kcProv := newProvider(t, keycloakDialect, kcSrv.URL(), hc)
		ppProv := newProvider(t, passportDialect, ppSrv.URL(), hc)
		bad := newAccount("panics", tenantauth.GrantPassword)
		tenants := tenantauth.Tenants{
			"kc":     {Provider: kcProv, Credentials: kc.credentials(), APIHosts: hosts},
			"pp":     {Provider: ppProv, Credentials: pp.credentials(), APIHosts: hosts},
			"panics": {Provider: panicProvider{endpoint: "https://panic.example/token"}, Credentials: bad.credentials(), APIHosts: hosts},
		}
		st := newStack(t, rec, api, tenants, true, matrixConfig)
		st.closeIdleWith(tr)
		defer st.close()

		st.mustGet("kc", "hygiene")
		st.mustGet("pp", "hygiene")
		kcTok, err := st.token("kc")
		if err != nil {
			t.Fatal(err)
		}
		ppTok, err := st.token("pp")
		if err != nil {
			t.Fatal(err)
		}
		if ppTok.RefreshToken.IsZero() {
			t.Fatal("the Passport token has no refresh token: the scan would not cover one")
		}

		// A provider that panics with the secrets in its panic value.
		status, err := st.get(context.Background(), "panics")
		if err == nil {
			t.Errorf("panicking provider: status %d and no error", status)
		}

		// A hostile token endpoint that echoes the secrets back.
		ppSrv.setResponder(echoSecrets(false))
		st.m.Forget("pp")
		_, echoErr := st.token("pp")
		var te *tenantauth.TokenError
		if !errors.As(echoErr, &te) {
			t.Errorf("echoing endpoint: %v, want a *TokenError", echoErr)
		}

		ppCreds := pp.credentials()
		values := map[string]any{
			"Secret":                      tenantauth.Secret(kc.secret),
			"[]Secret":                    []tenantauth.Secret{tenantauth.Secret(kc.password)},
			"map[string]Secret":           map[string]tenantauth.Secret{"k": tenantauth.Secret(kc.secret)},
			"Credentials":                 kc.credentials(),
			"*Credentials":                &ppCreds,
			"Tenant":                      tenants["kc"],
			"Tenants":                     tenants,
			"TokenRequest":                tenantauth.TokenRequest{Grant: tenantauth.GrantRefreshToken, Credentials: pp.credentials(), RefreshToken: ppTok.RefreshToken},
			"*Token":                      kcTok,
			"Token":                       *ppTok,
			"[]*Token":                    []*tenantauth.Token{kcTok, ppTok},
			"*TokenError":                 te,
			"*Manager":                    st.m,
			"Stats":                       st.m.Stats(),
			"*httpauth.Transport":         httpauth.NewTransport(st.m, nil),
			"*http.Client with httpauth":  &http.Client{Transport: httpauth.NewTransport(st.m, nil)},
			"*fiberauth.Client":           fiberauth.NewClient(fiberauth.ClientConfig{Manager: st.m}),
			"fiberauth.ClientConfig":      fiberauth.ClientConfig{Manager: st.m},
			"fiberauth.HTTPClient":        fiberauth.HTTPClient(st.m),
			"keycloak provider":           kcProv,
			"passport provider":           ppProv,
			"FetchEvents":                 st.fetches.of("pp"),
			"struct with exported *Token": struct{ Tok *tenantauth.Token }{kcTok},
		}
		for name, v := range values {
			t.Run(name, func(t *testing.T) {
				r := newRecorder()
				renderAll(r, name, v)
				r.check(t)
				renderAll(rec, name, v)
			})
		}
		t.Run("user type holding a *Manager", func(t *testing.T) {
			r := newRecorder()
			renderAll(r, "userClient", userClient{name: "acme", m: st.m})
			renderAll(r, "*userClient", &userClient{name: "acme", m: st.m})
			r.check(t)
		})

		// Misuse must not panic with a secret in the message.
		for name, f := range map[string]func(){
			"Token with a nil context": func() {
				//lint:ignore SA1012 a nil context is the misuse under test
				_, _ = st.m.Token(nil, "kc")
			},
			"Invalidate with a foreign token": func() { st.m.Invalidate("kc", ppTok) },
			"RoundTrip without a Manager": func() {
				req, _ := http.NewRequest(http.MethodGet, api.url("kc"), nil)
				resp, err := httpauth.NewTransport(nil, nil).RoundTrip(req.WithContext(tenantauth.WithTenant(req.Context(), "kc")))
				if resp != nil {
					resp.Body.Close()
				}
				rec.err("RoundTrip without a Manager", err)
			},
		} {
			func() {
				defer func() {
					if p := recover(); p != nil {
						rec.panicked(name, p)
					}
				}()
				f()
			}()
		}
	}()
	checkGoroutines(t, goroutines)
	rec.check(t)
	t.Log(rec.summary())
}

// hygieneVerbs are renderVerbs plus flags and widths that take other paths
// through fmt. %p is left out: fmt handles it before any Format method, so
// %p of a Secret or a Token value prints the raw secret and nothing in
// those types can prevent it (go vet does not flag it either, as both
// implement fmt.Formatter). FuzzSecretFormat in the root package documents
// the same exception.
var hygieneVerbs = append([]string{"%10.4s", "%-12q", "%+q", "%#x", "%X", "%08.3f", "%t", "%U"}, renderVerbs...)

// renderAll renders v every way: every verb, JSON, and slog's text and
// JSON handlers (through the recorder's logger).
func renderAll(r *recorder, name string, v any) {
	for _, verb := range hygieneVerbs {
		r.scan(name+" "+verb, fmt.Sprintf(verb, v))
	}
	b, err := json.Marshal(v)
	r.scan(name+" JSON", string(b))
	r.err(name+" JSON error", err)
	r.logger().Info("rendering", "value", v, "name", name)
	if err, ok := v.(error); ok {
		r.err(name, err)
	}
}

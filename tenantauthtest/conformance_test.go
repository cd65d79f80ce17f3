package tenantauthtest_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tenantauth/tenantauth"
	"github.com/tenantauth/tenantauth/tenantauthtest"
)

// refProvider is a Provider written from scratch against the suite, the way
// a user would write one for a third server: a small, correct client of
// every stand-in dialect. Its defect field switches one realistic bug on,
// so that TestSuiteCatchesBrokenProviders can show the suite reports it.
type refProvider struct {
	endpoint string // what Endpoint returns
	tokenURL string // where requests go
	json     bool   // Passport's JSON body; else a form
	basic    bool   // client_secret_basic; else client_id and client_secret in the body
	client   *http.Client
	defect   string

	lastRefresh string // set only by the "keepsSecret" defect
}

// maxRefBody bounds the token responses refProvider reads.
const maxRefBody = 1 << 20

// newRefProvider returns newProvider for TestProvider.
func newRefProvider(d tenantauthtest.Dialect, defect string) func(*tenantauthtest.Server) (tenantauth.Provider, error) {
	return func(s *tenantauthtest.Server) (tenantauth.Provider, error) {
		p := &refProvider{defect: defect, json: d == tenantauthtest.PassportDialect}
		c := *s.Client() // trusts the server's certificate with Suite.TLS
		if defect != "followsRedirects" {
			c.CheckRedirect = func(*http.Request, []*http.Request) error { return tenantauth.ErrRedirect }
		}
		p.client = &c
		switch d {
		case tenantauthtest.KeycloakDialect:
			p.tokenURL = s.URL + "/realms/fluencypass/protocol/openid-connect/token"
		case tenantauthtest.PassportDialect:
			p.tokenURL = s.URL + "/oauth/token"
		case tenantauthtest.StandardDialect:
			if err := p.discover(s.Issuer()); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("ref: unknown dialect %v", d)
		}
		p.endpoint = p.tokenURL
		switch defect {
		case "newProviderFails":
			return nil, errors.New("ref: cannot build the provider")
		case "wrongEndpoint":
			p.endpoint = s.URL // the base URL, not the token endpoint
		}
		return p, nil
	}
}

// discover reads the token endpoint and the client authentication method
// from the issuer's OpenID Connect discovery document, as a client of a
// standard server does, and checks that the document is the issuer's.
func (p *refProvider) discover(issuer string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, issuer+"/.well-known/openid-configuration", nil)
	if err != nil {
		return fmt.Errorf("ref: discovery: %w", err)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return fmt.Errorf("ref: discovery: %w", err)
	}
	defer resp.Body.Close()
	var doc struct {
		Issuer        string   `json:"issuer"`
		TokenEndpoint string   `json:"token_endpoint"`
		AuthMethods   []string `json:"token_endpoint_auth_methods_supported"`
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("ref: discovery: status %d", resp.StatusCode)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxRefBody)).Decode(&doc); err != nil {
		return fmt.Errorf("ref: discovery: %w", err)
	}
	if doc.Issuer != issuer || doc.TokenEndpoint == "" {
		return fmt.Errorf("ref: discovery: issuer %q, token endpoint %q; want issuer %q and an endpoint", doc.Issuer, doc.TokenEndpoint, issuer)
	}
	p.tokenURL = doc.TokenEndpoint
	// client_secret_basic is the default when the document names none.
	p.basic = len(doc.AuthMethods) == 0 || slices.Contains(doc.AuthMethods, "client_secret_basic")
	return nil
}

func (p *refProvider) Endpoint() string { return p.endpoint }

// tokenDoc is every member of a token or error response refProvider reads.
type tokenDoc struct {
	AccessToken      string          `json:"access_token"`
	TokenType        string          `json:"token_type"`
	RefreshToken     string          `json:"refresh_token"`
	ExpiresIn        json.RawMessage `json:"expires_in"`
	RefreshExpiresIn json.RawMessage `json:"refresh_expires_in"`
	Scope            string          `json:"scope"`
	Error            string          `json:"error"`
	Description      string          `json:"error_description"`
	URI              string          `json:"error_uri"`
	Message          string          `json:"message"`
	Hint             string          `json:"hint"`
}

func (p *refProvider) Exchange(ctx context.Context, req tenantauth.TokenRequest) (*tenantauth.Token, error) {
	c := req.Credentials
	grant := req.Grant
	if grant == "" {
		grant = c.EffectiveGrant()
	}
	params := url.Values{"grant_type": {string(grant)}}
	if !p.basic {
		params.Set("client_id", c.ClientID)
		params.Set("client_secret", c.ClientSecret.Reveal())
	}
	switch grant {
	case tenantauth.GrantPassword:
		params.Set("username", c.Username)
		params.Set("password", c.Password.Reveal())
	case tenantauth.GrantClientCredentials:
	case tenantauth.GrantRefreshToken:
		params.Set("refresh_token", req.RefreshToken.Reveal())
		if p.defect == "keepsSecret" {
			p.lastRefresh = req.RefreshToken.Reveal() // a race too; the suite's cases refresh serially
		}
	default:
		if p.defect != "sendsUnknownGrant" {
			return nil, fmt.Errorf("ref: grant %q is not supported", grant)
		}
	}
	for k, vs := range c.EndpointParams {
		if tenantauth.ReservedParam(k) {
			return nil, fmt.Errorf("ref: endpoint parameter %q is set by the provider: %w", k, tenantauth.ErrIncompleteCredentials)
		}
		if p.defect == "noEndpointParamsOnRefresh" && grant == tenantauth.GrantRefreshToken {
			continue
		}
		params[k] = append(params[k], vs...)
	}
	var body []byte
	contentType := "application/json"
	if p.json {
		m := make(map[string]string, len(params))
		for k, vs := range params {
			m[k] = vs[0]
		}
		body, _ = json.Marshal(m)
	} else {
		body, contentType = []byte(params.Encode()), "application/x-www-form-urlencoded"
	}
	for attempt := 1; ; attempt++ {
		tok, err := p.send(ctx, req, body, contentType)
		var te *tenantauth.TokenError
		if p.defect == "retries5xx" && attempt == 1 && errors.As(err, &te) && te.StatusCode >= 500 {
			continue
		}
		return tok, err
	}
}

func (p *refProvider) send(ctx context.Context, req tenantauth.TokenRequest, body []byte, contentType string) (*tenantauth.Token, error) {
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, p.tokenURL, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("ref: %w", err)
	}
	hr.Header.Set("Content-Type", contentType)
	hr.Header.Set("Accept", "application/json")
	if p.basic {
		// RFC 6749 §2.3.1: each part form-encoded, then Basic.
		c := req.Credentials
		pair := url.QueryEscape(c.ClientID) + ":" + url.QueryEscape(c.ClientSecret.Reveal())
		hr.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(pair)))
	}
	resp, err := p.client.Do(hr)
	if err != nil {
		if p.defect == "flattensErrors" {
			return nil, errors.New("ref: token request failed: " + err.Error())
		}
		return nil, fmt.Errorf("ref: token request: %w", err)
	}
	defer resp.Body.Close()
	r := io.Reader(resp.Body)
	if p.defect != "unboundedBody" {
		r = io.LimitReader(resp.Body, maxRefBody+1)
	}
	raw, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("ref: reading token response: %w", err)
	}
	if len(raw) > maxRefBody && p.defect != "unboundedBody" {
		return nil, fmt.Errorf("ref: token response larger than %d bytes", maxRefBody)
	}
	now := time.Now()
	var doc tokenDoc
	jsonErr := json.Unmarshal(raw, &doc)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, p.tokenError(req, resp, raw, &doc, jsonErr == nil, now)
	}
	if jsonErr != nil || doc.AccessToken == "" {
		return nil, errors.New("ref: malformed token response")
	}
	tok := &tenantauth.Token{
		AccessToken:  tenantauth.Secret(doc.AccessToken),
		TokenType:    tenantauth.CanonicalTokenType(doc.TokenType),
		RefreshToken: tenantauth.Secret(doc.RefreshToken),
		Scope:        doc.Scope,
		IssuedAt:     now,
	}
	switch p.defect {
	case "lowercaseTokenType":
		tok.TokenType = doc.TokenType
	case "noIssuedAt":
		tok.IssuedAt = time.Time{}
	}
	if d := p.seconds(doc.ExpiresIn); d > 0 {
		tok.Expiry = now.Add(d)
	}
	if d := p.seconds(doc.RefreshExpiresIn); d > 0 && tok.RefreshToken != "" {
		tok.RefreshExpiry = now.Add(d)
	}
	return tok, nil
}

func (p *refProvider) tokenError(req tenantauth.TokenRequest, resp *http.Response, raw []byte, doc *tokenDoc, isJSON bool, now time.Time) error {
	te := &tenantauth.TokenError{Endpoint: p.tokenURL, StatusCode: resp.StatusCode}
	if isJSON {
		var pairs []string
		for _, s := range []tenantauth.Secret{req.Credentials.ClientSecret, req.Credentials.Password, req.RefreshToken} {
			if s != "" { // an empty old string would match between every byte
				pairs = append(pairs, s.Reveal(), "[REDACTED]")
			}
		}
		red := strings.NewReplacer(pairs...)
		te.Code = red.Replace(doc.Error)
		te.Description = red.Replace(doc.Description)
		te.URI = red.Replace(doc.URI)
		te.Message = red.Replace(doc.Message)
		te.Hint = red.Replace(doc.Hint)
	} else if p.defect == "echoesBody" {
		te.Body = string(raw) // what many hand-written clients do
	}
	if (te.StatusCode == 429 || te.StatusCode >= 500) && p.defect != "ignoresRetryAfter" {
		te.RetryAfter = retryAfter(resp.Header.Get("Retry-After"), now)
	}
	switch {
	case p.defect == "plainErrors":
		return fmt.Errorf("ref: token endpoint answered %d %s", te.StatusCode, te.Code)
	case p.defect == "panicsOnUnsupportedGrant" && te.Code == "unsupported_grant_type":
		panic("ref: the server refused the grant")
	}
	return te
}

// seconds reads expires_in as a JSON number or a numeric string.
func (p *refProvider) seconds(raw json.RawMessage) time.Duration {
	s := string(raw)
	if p.defect != "numericExpiresInOnly" {
		if unq, err := strconv.Unquote(s); err == nil {
			s = unq
		}
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || f <= 0 || f > 10*365*24*3600 {
		return 0
	}
	return time.Duration(f * float64(time.Second))
}

func retryAfter(v string, now time.Time) time.Duration {
	if n, err := strconv.Atoi(v); err == nil && n > 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// The reference provider passes the suite in every dialect, over HTTP and
// HTTPS, the standard one with either client authentication method, and the
// suite leaves no goroutine behind.
func TestConformanceReference(t *testing.T) {
	before := runtime.NumGoroutine()
	for _, d := range []tenantauthtest.Dialect{tenantauthtest.KeycloakDialect, tenantauthtest.PassportDialect, tenantauthtest.StandardDialect} {
		t.Run(d.String()+"/http", func(t *testing.T) {
			tenantauthtest.TestProvider(t, d, newRefProvider(d, ""))
		})
		t.Run(d.String()+"/https", func(t *testing.T) {
			tenantauthtest.Suite{Dialect: d, TLS: true}.Run(t, newRefProvider(d, ""))
		})
	}
	t.Run("standard/client_secret_post", func(t *testing.T) {
		su := tenantauthtest.Suite{Dialect: tenantauthtest.StandardDialect, AuthMethod: "client_secret_post"}
		su.Run(t, newRefProvider(tenantauthtest.StandardDialect, ""))
	})
	// Goroutines of closed connections exit asynchronously: wait, bounded.
	deadline := time.Now().Add(30 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines after the suite, %d before", n, before)
	}
}

func TestDialectString(t *testing.T) {
	for d, want := range map[tenantauthtest.Dialect]string{
		tenantauthtest.KeycloakDialect: "keycloak",
		tenantauthtest.PassportDialect: "passport",
		tenantauthtest.StandardDialect: "standard",
		0:                              "Dialect(0)",
		7:                              "Dialect(7)",
	} {
		if got := d.String(); got != want {
			t.Errorf("Dialect(%d).String() = %q, want %q", int(d), got, want)
		}
	}
}

// allCases are the suite's subtests.
var allCases = []string{
	"Endpoint", "PasswordGrant", "ClientCredentialsGrant", "RefreshTokenGrant", "Expiry", "TokenType",
	"WrongCredentials", "PasswordGrantDisabled", "TemporaryFailure", "Redirect", "OversizedResponse",
	"Secrets", "Context", "Concurrent", "UnknownGrant",
}

// defects are the bugs switched on in refProvider, and exactly which cases
// of the suite must fail for each, with a message that must appear.
var defects = []struct {
	name    string
	dialect tenantauthtest.Dialect
	fail    []string // the failing cases; nil with top: the suite refuses to start
	top     bool
	message string
}{
	{"lowercaseTokenType", tenantauthtest.KeycloakDialect, []string{"TokenType"}, false,
		`token_type "bearer": TokenType = "bearer", want the canonical "Bearer"`},
	{"echoesBody", tenantauthtest.PassportDialect, []string{"Secrets"}, false,
		"an HTML error page echoing the request: the client secret leaked into the TokenError's fields"},
	{"ignoresRetryAfter", tenantauthtest.KeycloakDialect, []string{"TemporaryFailure"}, false,
		"503 with Retry-After: 7: RetryAfter = 0s, want > 0s and ≤ 7s"},
	{"followsRedirects", tenantauthtest.PassportDialect, []string{"Redirect"}, false,
		"the redirect was followed (1 requests reached its target)"},
	{"unboundedBody", tenantauthtest.KeycloakDialect, []string{"OversizedResponse"}, false,
		"a 4 MiB token response: Exchange accepted it"},
	{"flattensErrors", tenantauthtest.PassportDialect, []string{"Context", "Redirect"}, false,
		"does not match context.Canceled (wrap it with %w)"},
	{"plainErrors", tenantauthtest.KeycloakDialect,
		[]string{"RefreshTokenGrant", "WrongCredentials", "PasswordGrantDisabled", "TemporaryFailure"}, false,
		`wrong password: error "ref: token endpoint answered 401 invalid_grant" (*errors.errorString) is not a *tenantauth.TokenError`},
	{"panicsOnUnsupportedGrant", tenantauthtest.PassportDialect, []string{"PasswordGrantDisabled"}, false,
		"password grant disabled: Exchange panicked: ref: the server refused the grant"},
	{"numericExpiresInOnly", tenantauthtest.KeycloakDialect, []string{"Expiry"}, false,
		`expires_in "5400" (a string): Expiry is zero; want IssuedAt + 1h30m0s (expires_in)`},
	{"noIssuedAt", tenantauthtest.PassportDialect, []string{"Expiry"}, false,
		"expires_in 3: IssuedAt is zero"},
	{"wrongEndpoint", tenantauthtest.KeycloakDialect, []string{"Endpoint"}, false,
		"(the server's TokenURL"},
	{"sendsUnknownGrant", tenantauthtest.PassportDialect, []string{"UnknownGrant"}, false,
		"unknown grants: the server saw 2 token requests, want 0"},
	{"keepsSecret", tenantauthtest.KeycloakDialect, []string{"RefreshTokenGrant", "Secrets"}, false,
		"the Provider: a refresh token the Provider returned (password grant) leaked into %v, %+v, %#v"},
	{"retries5xx", tenantauthtest.PassportDialect, []string{"TemporaryFailure", "Secrets"}, false,
		"Exchange sent 2 token requests, want 1"},
	{"newProviderFails", tenantauthtest.KeycloakDialect, allCases, false,
		"ref: cannot build the provider"},
	{"noEndpointParamsOnRefresh", tenantauthtest.StandardDialect, []string{"RefreshTokenGrant", "Secrets"}, false,
		"refresh_token grant: tenantauth: token endpoint "},
	{"zeroDialect", 0, nil, true,
		"unknown Dialect(0); want KeycloakDialect, PassportDialect or StandardDialect"},
}

// childEnv makes TestBrokenReferenceProviders run, in the child process only.
const childEnv = "TENANTAUTHTEST_CONFORMANCE_CHILD"

// TestBrokenReferenceProviders runs the suite against every defective
// refProvider. It fails by design, so it runs only in the child process
// TestSuiteCatchesBrokenProviders starts.
func TestBrokenReferenceProviders(t *testing.T) {
	if os.Getenv(childEnv) != "1" {
		t.Skip("fails by design; run by TestSuiteCatchesBrokenProviders in a child process")
	}
	for _, d := range defects {
		t.Run(d.name, func(t *testing.T) {
			tenantauthtest.TestProvider(t, d.dialect, newRefProvider(d.dialect, d.name))
		})
	}
}

// TestSuiteCatchesBrokenProviders shows that the suite can fail, and fails
// precisely: each defect fails exactly the cases it should, with a message
// naming the problem.
func TestSuiteCatchesBrokenProviders(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestBrokenReferenceProviders$", "-test.v", "-test.timeout=4m")
	cmd.Env = append(os.Environ(), childEnv+"=1")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		t.Fatalf("child process: %v; want it to fail its tests\n%s", err, out)
	}
	if bytes.Contains(out, []byte("panic: ")) || bytes.Contains(out, []byte("DATA RACE")) {
		t.Fatalf("child process crashed or raced:\n%s", out)
	}
	lineRE := regexp.MustCompile(`(?m)^\s*--- (PASS|FAIL|SKIP): TestBrokenReferenceProviders/([^/\s]+)(?:/([^/\s]+))? \(`)
	type result struct {
		top    string
		failed []string
		ran    int
	}
	results := map[string]*result{}
	for _, m := range lineRE.FindAllStringSubmatch(string(out), -1) {
		r := results[m[2]]
		if r == nil {
			r = &result{}
			results[m[2]] = r
		}
		switch {
		case m[3] == "":
			r.top = m[1]
		case m[1] == "FAIL":
			r.failed = append(r.failed, m[3])
			r.ran++
		default:
			r.ran++
		}
	}
	for _, d := range defects {
		r := results[d.name]
		if r == nil {
			t.Errorf("%s: no result in the child's output", d.name)
			continue
		}
		want := append([]string(nil), d.fail...)
		sort.Strings(want)
		sort.Strings(r.failed)
		if got := strings.Join(r.failed, ","); got != strings.Join(want, ",") {
			t.Errorf("%s: failing cases = [%s], want [%s]", d.name, got, strings.Join(want, ","))
		}
		wantRan := len(allCases)
		if d.top {
			wantRan = 0
		}
		if r.ran != wantRan || r.top != "FAIL" {
			t.Errorf("%s: %d cases ran, outcome %s; want %d, FAIL", d.name, r.ran, r.top, wantRan)
		}
		if !strings.Contains(string(out), d.message) {
			t.Errorf("%s: the child's output lacks the message %q", d.name, d.message)
		}
	}
	if t.Failed() {
		t.Logf("child output:\n%s", out)
	}
}

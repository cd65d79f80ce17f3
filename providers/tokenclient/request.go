package tokenclient

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/tenantauth/tenantauth"
)

// An AuthMethod is how a client authenticates to the token endpoint. The
// values are the names OpenID Connect discovery and RFC 8414 publish in
// token_endpoint_auth_methods_supported, so a discovered method can be used
// as it is.
type AuthMethod string

const (
	// ClientSecretPost sends client_id and client_secret in the request
	// body (RFC 6749 §2.3.1, second option). Most servers accept it, and
	// it is the only method Laravel Passport and many Keycloak setups are
	// documented with. The zero AuthMethod means ClientSecretPost.
	ClientSecretPost AuthMethod = "client_secret_post"

	// ClientSecretBasic sends client_id and client_secret in an HTTP Basic
	// Authorization header, each form-urlencoded before base64 as RFC 6749
	// §2.3.1 requires (a server that decodes them gets back an id or secret
	// containing ':' or '%' intact). As golang.org/x/oauth2 does, client_id
	// is then not repeated in the body. A request without a ClientSecret (a
	// public client using the password or refresh grant) has no Basic
	// credentials to send and carries client_id in the body instead.
	ClientSecretBasic AuthMethod = "client_secret_basic"

	// None is a public client (RFC 6749 §2.1): client_id in the body and
	// never a client_secret, even when the Credentials hold one. A public
	// client cannot use the client_credentials grant (RFC 6749 §4.4 is for
	// confidential clients only): such a request fails before any I/O with
	// an error wrapping [ErrIncompleteCredentials], naming ClientSecret.
	None AuthMethod = "none"
)

// valid reports whether m is one of the methods above; the zero value
// counts, as ClientSecretPost.
func (m AuthMethod) valid() bool {
	switch m {
	case "", ClientSecretPost, ClientSecretBasic, None:
		return true
	}
	return false
}

// An Encoding is how the body of a token request is written.
type Encoding int

const (
	// Form is application/x-www-form-urlencoded, as RFC 6749 §4.3, §4.4 and
	// §6 specify; every standard server (Keycloak, Auth0, Okta, Entra ID)
	// takes it. It is the zero value.
	Form Encoding = iota

	// JSON is an application/json object, which Laravel Passport (and so
	// HubSoft) documents and some other servers require. A parameter with
	// one value is a JSON string; one with several values (an RFC 8707
	// resource list, say) is an array of strings. JSON cannot carry text
	// that is not UTF-8 unaltered, so such a value fails before any I/O
	// rather than being sent as a different secret than configured.
	JSON
)

// String returns "form" or "json", for error messages and logs.
func (e Encoding) String() string {
	switch e {
	case Form:
		return "form"
	case JSON:
		return "json"
	}
	return fmt.Sprintf("Encoding(%d)", int(e))
}

// NewRequest builds the POST of one token request to tokenURL, ready for
// [Do]: the body in encoding enc, client authentication by auth (the zero
// AuthMethod is ClientSecretPost), Content-Type set to match and "Accept:
// application/json" (without it Laravel and some proxies answer failures
// with an HTML page or a redirect). The request can be replayed (GetBody is
// set). [Client] builds its requests with it; a provider of your own that
// needs a different URL per tenant, or extra headers, can call it and add
// to the result.
//
// The body holds grant_type; client_id and client_secret as auth says;
// username and password (password grant) or refresh_token (refresh grant);
// scope, the space-joined Credentials.Scopes, when there are any; and every
// Credentials.EndpointParams value. A JSON body lists them in that order
// (the order Passport's documentation shows), the EndpointParams sorted by
// name; a form sorts all parameters by name, as url.Values does.
//
// Before building anything it checks req with [CheckRequest] (the grant is
// known, the fields it needs are set, EndpointParams names no parameter
// the request sets itself), refuses client_credentials for a public client
// (auth None), and, for JSON, refuses text that is not valid UTF-8. Such
// errors start with "tokenclient: ", name the field at fault and never a
// value, and wrap [ErrIncompleteCredentials] or [ErrUnsupportedGrant] where
// the tenant's record is at fault, so that the Manager does not blame the
// endpoint.
//
// tokenURL is used as given: check it once, when your provider is created,
// with [CheckEndpoint], which enforces https. An unknown auth or enc is an
// error.
func NewRequest(ctx context.Context, tokenURL string, req tenantauth.TokenRequest, auth AuthMethod, enc Encoding) (*http.Request, error) {
	return newRequest(ctx, defaultName, tokenURL, req, auth, enc)
}

// defaultName prefixes the errors of a Client without a Name, and of
// NewRequest.
const defaultName = "tokenclient"

// newRequest is NewRequest with errors prefixed by name.
func newRequest(ctx context.Context, name, tokenURL string, req tenantauth.TokenRequest, auth AuthMethod, enc Encoding) (*http.Request, error) {
	hr, _, err := newRequestAt(ctx, name, tokenURL, req, auth, enc, time.Now())
	return hr, err
}

// newRequestAt is newRequest with the time of a client assertion; it also
// returns the assertion made, a secret for the answer's redaction.
func newRequestAt(ctx context.Context, name, tokenURL string, req tenantauth.TokenRequest, auth AuthMethod, enc Encoding, now time.Time) (*http.Request, tenantauth.Secret, error) {
	if !auth.valid() {
		return nil, "", fmt.Errorf("%s: unknown AuthMethod %q", name, string(auth))
	}
	if enc != Form && enc != JSON {
		return nil, "", fmt.Errorf("%s: unknown %v", name, enc)
	}
	grant, err := CheckRequest(name, req)
	if err != nil {
		return nil, "", err
	}
	if auth == None && grant == tenantauth.GrantClientCredentials && req.Credentials.Auth == nil {
		return nil, "", fmt.Errorf("%s: %s grant needs ClientSecret, which AuthMethod %q never sends: %w",
			name, grant, None, ErrIncompleteCredentials)
	}
	var assertion tenantauth.Secret
	var extra url.Values
	if a := req.Credentials.Auth; a != nil {
		// The Authenticator replaces the secret (a signed assertion, or a
		// certificate presented in the handshake): the method is its own,
		// whatever auth says.
		if extra, err = a.Params(req.Credentials.ClientID, now); err != nil {
			return nil, "", fmt.Errorf("%s: client authentication (%s): %w", name, a.Method(), err)
		}
		assertion = tenantauth.Secret(extra.Get("client_assertion"))
	}
	params, basic := requestParams(grant, req, auth, extra)
	var body []byte
	contentType := "application/x-www-form-urlencoded"
	if enc == JSON {
		if body, err = jsonBody(name, params); err != nil {
			return nil, "", err
		}
		contentType = "application/json"
	} else {
		body = formBody(params)
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, tokenURL, bytes.NewReader(body))
	if err != nil {
		// Not err itself: a *url.Error quotes the whole URL, user info
		// included. The body is never part of the message.
		return nil, "", fmt.Errorf("%s: building token request for %q: %w", name, tenantauth.RedactURL(tokenURL), ErrInvalidEndpoint)
	}
	hr.Header.Set("Content-Type", contentType)
	hr.Header.Set("Accept", "application/json")
	if basic {
		c := req.Credentials
		hr.SetBasicAuth(url.QueryEscape(c.ClientID), url.QueryEscape(c.ClientSecret.Reveal()))
	}
	return hr, assertion, nil
}

// CheckRequest resolves req's grant (req.Grant, else
// req.Credentials.EffectiveGrant()) and checks that req carries what that
// grant needs, before any I/O: a ClientID always; Username and Password for
// the password grant; ClientSecret for client_credentials; RefreshToken for
// refresh_token. Credentials.EndpointParams must not name a parameter the
// request sets itself ([tenantauth.ReservedParam]: a tenant's record must not
// be able to change the grant or the client) nor the empty name. Errors
// start with provider, name the missing field or the refused parameter
// (never a value) and wrap [ErrIncompleteCredentials] or, for a grant other
// than those three, [ErrUnsupportedGrant].
func CheckRequest(provider string, req tenantauth.TokenRequest) (tenantauth.Grant, error) {
	g := req.Grant
	if g == "" {
		g = req.Credentials.EffectiveGrant()
	}
	c := req.Credentials
	missing := ""
	switch g {
	case tenantauth.GrantPassword:
		switch {
		case c.Username == "":
			missing = "Username"
		case c.Password == "":
			missing = "Password"
		}
	case tenantauth.GrantClientCredentials:
		if c.ClientSecret == "" && c.Auth == nil {
			missing = "ClientSecret (or Auth)"
		}
	case tenantauth.GrantRefreshToken:
		if req.RefreshToken == "" {
			missing = "RefreshToken"
		}
	default:
		return "", fmt.Errorf("%s: grant %q: %w", provider, g, ErrUnsupportedGrant)
	}
	if c.ClientID == "" {
		missing = "ClientID"
	}
	if missing != "" {
		return "", fmt.Errorf("%s: %s grant needs %s: %w", provider, g, missing, ErrIncompleteCredentials)
	}
	if name, bad := reservedParam(c.EndpointParams); bad {
		return "", fmt.Errorf("%s: Credentials.EndpointParams must not set %q: the provider sets it itself: %w",
			provider, name, ErrIncompleteCredentials)
	}
	return g, nil
}

// reservedParam returns the first name, in sorted order (so the error does
// not change from run to run), of params that is reserved or empty.
func reservedParam(params url.Values) (string, bool) {
	first, found := "", false
	for name := range params {
		if (name == "" || tenantauth.ReservedParam(name)) && (!found || name < first) {
			first, found = name, true
		}
	}
	return first, found
}

// RequestSecrets lists req's secrets, for [ParseOptions].Secrets: the
// client secret, the password and the refresh token, whichever are set,
// whether or not the request sends them (a server may echo a secret it got
// another way, and redacting one more needle costs nothing).
func RequestSecrets(req tenantauth.TokenRequest) []tenantauth.Secret {
	s := make([]tenantauth.Secret, 0, 3)
	for _, v := range []tenantauth.Secret{req.Credentials.ClientSecret, req.Credentials.Password, req.RefreshToken} {
		if v != "" {
			s = append(s, v)
		}
	}
	return s
}

// A param is one parameter of a token request. field names where its value
// comes from, for error messages ("Password", `EndpointParams["audience"]`).
type param struct {
	name, field string
	values      []string
}

// requestParams lists what a request for grant sends, in the order a JSON
// body shows it, and reports whether the client's id and secret go in a
// Basic header instead.
func requestParams(grant tenantauth.Grant, req tenantauth.TokenRequest, auth AuthMethod, assertion url.Values) ([]param, bool) {
	c := req.Credentials
	ps := make([]param, 0, 7+len(c.EndpointParams))
	one := func(name, field, v string) { ps = append(ps, param{name, field, []string{v}}) }
	one("grant_type", "Grant", string(grant))
	if grant == tenantauth.GrantRefreshToken {
		one("refresh_token", "RefreshToken", req.RefreshToken.Reveal())
	}
	basic := auth == ClientSecretBasic && c.ClientSecret != "" && c.Auth == nil
	switch {
	case c.Auth != nil:
		// An Authenticator replaces the secret: an assertion, or nothing
		// at all for a TLS client certificate (RFC 8705 §2 still wants
		// client_id).
		one("client_id", "ClientID", c.ClientID)
		if assertion != nil {
			one("client_assertion_type", "Auth", assertion.Get("client_assertion_type"))
			one("client_assertion", "Auth", assertion.Get("client_assertion"))
		}
	case !basic:
		one("client_id", "ClientID", c.ClientID)
		if auth != None && c.ClientSecret != "" {
			one("client_secret", "ClientSecret", c.ClientSecret.Reveal())
		}
	}
	if grant == tenantauth.GrantPassword {
		one("username", "Username", c.Username)
		one("password", "Password", c.Password.Reveal())
	}
	if scope := strings.Join(c.Scopes, " "); scope != "" {
		one("scope", "Scopes", scope)
	}
	for _, name := range slices.Sorted(maps.Keys(c.EndpointParams)) {
		if vs := c.EndpointParams[name]; len(vs) > 0 {
			ps = append(ps, param{name, fmt.Sprintf("Credentials.EndpointParams[%q]", name), vs})
		}
	}
	return ps, basic
}

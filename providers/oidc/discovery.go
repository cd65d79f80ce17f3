package oidc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"

	"github.com/tenantauth/tenantauth"
	"github.com/tenantauth/tenantauth/providers/tokenclient"
)

// MaxDocumentSize bounds a discovery document. Real ones are a few KiB
// (Keycloak's, among the largest, is under 10 KiB); a larger answer is
// refused with [ErrDocumentTooLarge], never read to its end.
const MaxDocumentSize = 64 << 10

// DefaultDiscoveryTimeout is the bound on one discovery when
// Config.DiscoveryTimeout is zero: both document URLs, TLS and body
// included.
const DefaultDiscoveryTimeout = 10 * time.Second

// Paths of the two discovery documents.
const (
	// oidcPath is appended to the issuer (OpenID Connect Discovery 1.0 §4).
	oidcPath = "/.well-known/openid-configuration"
	// oauthPath is inserted between the issuer's origin and its path
	// (RFC 8414 §3.1).
	oauthPath = "/.well-known/oauth-authorization-server"
)

// metadata is what a token client needs from an OpenID Provider Metadata
// document (OpenID Connect Discovery 1.0 §3) or an OAuth 2.0 Authorization
// Server Metadata document (RFC 8414 §2). Both spell these fields alike.
type metadata struct {
	issuer        string
	tokenEndpoint string
	// authMethods is token_endpoint_auth_methods_supported; nil when the
	// document omits it (or lists nothing), which RFC 8414 §2 defines as
	// client_secret_basic only.
	authMethods []string
	// mtlsTokenEndpoint is mtls_endpoint_aliases.token_endpoint (RFC 8705
	// §5): where clients that authenticate with a TLS certificate send
	// their token requests; "" when the document names none.
	mtlsTokenEndpoint string
}

// parseDiscovery parses a discovery document: a JSON object with the string
// members issuer and token_endpoint, and an optional array of strings
// token_endpoint_auth_methods_supported. Member names match exactly (not
// case-insensitively, as encoding/json would into a struct); null counts
// as absent; other members are ignored. Error texts quote no more than
// maxQuote bytes of any value of the document.
func parseDiscovery(data []byte) (metadata, error) {
	var md metadata
	if t := bytes.TrimLeft(data, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		return md, errors.New("not a JSON object")
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(data, &members); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return md, fmt.Errorf("not valid JSON (at byte %d)", se.Offset)
		}
		return md, errors.New("not a JSON object")
	}
	var err error
	if md.issuer, err = stringMember(members, "issuer"); err != nil {
		return md, err
	}
	if md.tokenEndpoint, err = stringMember(members, "token_endpoint"); err != nil {
		return md, err
	}
	if md.authMethods, err = stringsMember(members, "token_endpoint_auth_methods_supported"); err != nil {
		return md, err
	}
	if raw, ok := members["mtls_endpoint_aliases"]; ok && !isNull(raw) {
		var aliases map[string]json.RawMessage
		if err := json.Unmarshal(raw, &aliases); err != nil {
			return md, errors.New("mtls_endpoint_aliases is not an object")
		}
		if md.mtlsTokenEndpoint, err = stringMember(aliases, "token_endpoint"); err != nil {
			return md, fmt.Errorf("mtls_endpoint_aliases.%w", err)
		}
	}
	switch {
	case md.issuer == "":
		return md, errors.New("no issuer")
	case md.tokenEndpoint == "":
		return md, errors.New("no token_endpoint (does the server support any grant with a token endpoint?)")
	}
	return md, nil
}

// stringMember returns the string member name of members, "" when absent or
// null.
func stringMember(members map[string]json.RawMessage, name string) (string, error) {
	raw, ok := members[name]
	if !ok || isNull(raw) {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", fmt.Errorf("%s is not a string", name)
	}
	return s, nil
}

// stringsMember returns the array-of-strings member name of members, nil
// when absent, null or empty.
func stringsMember(members map[string]json.RawMessage, name string) ([]string, error) {
	raw, ok := members[name]
	if !ok || isNull(raw) {
		return nil, nil
	}
	var ss []string
	if err := json.Unmarshal(raw, &ss); err != nil {
		return nil, fmt.Errorf("%s is not an array of strings", name)
	}
	if len(ss) == 0 {
		return nil, nil
	}
	return ss, nil
}

func isNull(raw json.RawMessage) bool {
	return string(bytes.TrimSpace(raw)) == "null"
}

// sameIssuer reports whether the document's issuer names the configured
// one: equal after removing one trailing slash from each (OpenID Connect
// Discovery 1.0 §4.3, RFC 8414 §3.3 require them to be identical; issuers
// with and without a trailing slash are both common in configurations).
func sameIssuer(doc, configured string) bool {
	return strings.TrimSuffix(doc, "/") == strings.TrimSuffix(configured, "/")
}

// chooseAuthMethod picks the client authentication method from a document's
// token_endpoint_auth_methods_supported: client_secret_basic, which RFC 6749
// §2.3.1 obliges servers to support and RFC 8414 §2 makes the default when
// the list is absent; else client_secret_post; else none (a server for public
// clients only). A list naming none of those but some method of
// tenantauth.Credentials.Auth (private_key_jwt, client_secret_jwt,
// tls_client_auth, self_signed_tls_client_auth) gives authOnly: the
// server takes only clients that bring their own Authenticator, and method
// is a placeholder never used. A list naming nothing known is an error:
// set Config.AuthMethod to override.
func chooseAuthMethod(supported []string) (method tokenclient.AuthMethod, authOnly bool, err error) {
	if len(supported) == 0 {
		return tokenclient.ClientSecretBasic, false, nil
	}
	for _, m := range []tokenclient.AuthMethod{tokenclient.ClientSecretBasic, tokenclient.ClientSecretPost, tokenclient.None} {
		for _, s := range supported {
			if s == string(m) {
				return m, false, nil
			}
		}
	}
	for _, s := range supported {
		switch s {
		case "private_key_jwt", "client_secret_jwt", "tls_client_auth", "self_signed_tls_client_auth":
			return tokenclient.ClientSecretPost, true, nil
		}
	}
	return "", false, errors.New("token_endpoint_auth_methods_supported lists no method tenantauth knows (set Config.AuthMethod to override)")
}

// discoveryURLs returns the OpenID Connect discovery URL of issuer and its
// RFC 8414 fallback. issuer has no trailing slash; u is issuer parsed (by
// tokenclient.CheckEndpoint: absolute, with a host, no query or fragment).
func discoveryURLs(issuer string, u *url.URL) (oidcURL, oauthURL string) {
	return issuer + oidcPath, u.Scheme + "://" + u.Host + oauthPath + strings.TrimSuffix(u.EscapedPath(), "/")
}

// fetchMetadata fetches and checks the issuer's discovery document: the
// OpenID Connect document, and on 404 the RFC 8414 one. ctx bounds it.
func (p *Provider) fetchMetadata(ctx context.Context) (metadata, error) {
	oidcURL, oauthURL := discoveryURLs(p.issuer, p.issuerURL)
	docURL := oidcURL
	data, status, err := p.get(ctx, docURL)
	if err == nil && status == http.StatusNotFound {
		docURL = oauthURL
		data, status, err = p.get(ctx, docURL)
		if err == nil && status == http.StatusNotFound {
			return metadata{}, discoveryErr(nil, fmt.Sprintf(
				"GET %s: status 404; GET %s: status 404 (check Config.Issuer)",
				tenantauth.RedactURL(oidcURL), tenantauth.RedactURL(oauthURL)))
		}
	}
	if err != nil {
		return metadata{}, err
	}
	if status != http.StatusOK {
		return metadata{}, discoveryErr(nil, fmt.Sprintf("GET %s: status %d", tenantauth.RedactURL(docURL), status))
	}
	return p.checkDocument(docURL, data)
}

// checkDocument parses the document fetched from docURL and checks it: the
// configured issuer, a token endpoint the Provider may send secrets to.
func (p *Provider) checkDocument(docURL string, data document) (metadata, error) {
	md, err := parseDiscovery(data.body)
	if err != nil {
		return metadata{}, discoveryErr(nil, fmt.Sprintf("%s: %v%s", tenantauth.RedactURL(docURL), err, data.mediaTypeNote()))
	}
	if !sameIssuer(md.issuer, p.issuer) {
		return metadata{}, discoveryErr(ErrIssuerMismatch, fmt.Sprintf(
			"%s: issuer %s is not Config.Issuer %s (configure the issuer exactly as the document names it)",
			tenantauth.RedactURL(docURL), quote(md.issuer), quote(p.issuer)))
	}
	if err := p.checkTokenEndpoint(docURL, "token_endpoint", md.tokenEndpoint); err != nil {
		return metadata{}, err
	}
	if md.mtlsTokenEndpoint != "" {
		if err := p.checkTokenEndpoint(docURL, "mtls_endpoint_aliases.token_endpoint", md.mtlsTokenEndpoint); err != nil {
			return metadata{}, err
		}
	}
	return md, nil
}

// checkTokenEndpoint checks a token endpoint named by the document at
// docURL (as member name): an absolute URL without user info, query or
// fragment, https unless allowed, and never plain http named by an https
// issuer.
func (p *Provider) checkTokenEndpoint(docURL, name, endpoint string) error {
	u, err := tokenclient.CheckEndpoint(endpoint, p.allowInsecure)
	var cause error
	var why string
	switch {
	case errors.Is(err, tenantauth.ErrInsecureEndpoint):
		cause, why = tenantauth.ErrInsecureEndpoint, "not https (plain http is allowed only on loopback or with Config.AllowInsecureHTTP)"
	case err != nil:
		cause, why = tokenclient.ErrInvalidEndpoint, "not an absolute URL without user info, query or fragment"
	case u.Scheme == "http" && p.issuerURL.Scheme == "https" && !p.allowInsecure:
		// Loopback is exempt from https for tests and local servers, not
		// for a document fetched over https: it must not send a tenant's
		// secrets in clear text to a local port.
		cause, why = tenantauth.ErrInsecureEndpoint, "plain http named by an https issuer (allowed only with Config.AllowInsecureHTTP)"
	}
	if cause != nil {
		// CheckEndpoint's own text would quote the whole value.
		return discoveryErr(cause, fmt.Sprintf("%s: %s %s: %s",
			tenantauth.RedactURL(docURL), name, quote(tenantauth.RedactURL(endpoint)), why))
	}
	return nil
}

// document is a fetched body with the media type it came with.
type document struct {
	body        []byte
	contentType string
}

// mediaTypeNote explains a document that did not parse by its media type,
// when that was not JSON: an HTML login page or error page, say.
func (d document) mediaTypeNote() string {
	ct := d.contentType
	if ct == "" {
		return ""
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return " (Content-Type " + quote(ct) + ")"
	}
	if mt == "application/json" || strings.HasSuffix(mt, "+json") {
		return ""
	}
	return " (Content-Type " + quote(mt) + ")"
}

// get fetches one discovery URL. A status other than 200 is returned with
// no body and no error; transport failures, a refused redirect and a body
// over MaxDocumentSize are discovery errors.
func (p *Provider) get(ctx context.Context, rawURL string) (document, int, error) {
	shown := tenantauth.RedactURL(rawURL)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		// Unreachable with a checked issuer.
		return document{}, 0, discoveryErr(err, "GET "+shown+": cannot build request")
	}
	req.Header.Set("Accept", "application/json")
	resp, err := p.http.Do(req)
	if err != nil {
		return document{}, 0, discoveryErr(err, "GET "+shown+": "+transportText(ctx, err, p.discoveryTimeout))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		// Read a little so that the connection can be reused.
		_, _ = io.CopyN(io.Discard, resp.Body, 4<<10)
		return document{}, resp.StatusCode, nil
	}
	if resp.ContentLength > MaxDocumentSize {
		return document{}, 0, discoveryErr(ErrDocumentTooLarge, fmt.Sprintf(
			"GET %s: document of %d bytes, more than %d", shown, resp.ContentLength, MaxDocumentSize))
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxDocumentSize+1))
	switch {
	case err != nil:
		return document{}, 0, discoveryErr(err, "GET "+shown+": reading the document: "+transportText(ctx, err, p.discoveryTimeout))
	case len(body) > MaxDocumentSize:
		return document{}, 0, discoveryErr(ErrDocumentTooLarge, fmt.Sprintf(
			"GET %s: document larger than %d bytes", shown, MaxDocumentSize))
	}
	return document{body: body, contentType: resp.Header.Get("Content-Type")}, resp.StatusCode, nil
}

// transportText describes a failed request in the library's words, quoting
// at most maxQuote bytes of the underlying error (which can hold a line the
// server sent, such as a malformed status line).
func transportText(ctx context.Context, err error, timeout time.Duration) string {
	switch {
	case errors.Is(err, tenantauth.ErrRedirect):
		return "answered with a redirect, not followed (configure Config.Issuer exactly as the server's issuer, or set Config.TokenURL)"
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return "no complete answer within Config.DiscoveryTimeout (" + timeout.String() + ")"
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return printable(clip(err.Error(), maxQuote))
}

// printable replaces control characters and invalid UTF-8 in s, so that an
// error text cannot forge log lines.
func printable(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return '?'
		}
		return r
	}, s)
}

package oidc

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/tenantauth/tenantauth/providers/tokenclient"
)

// fuzzIssuer is the configured issuer FuzzParseDiscovery checks documents
// against; the seed corpus's documents name it or a real server's issuer.
const fuzzIssuer = "https://idp.example.com"

// FuzzParseDiscovery feeds discovery documents, as a server could send
// them, to the parser and to the checks after it. Seeds are in
// testdata/fuzz/FuzzParseDiscovery: documents of Auth0, Okta, Keycloak,
// Entra ID, Cognito, Zitadel and hostile ones. It checks that nothing
// panics, that only JSON objects with string issuer and token_endpoint are
// accepted, that an accepted document names the configured issuer and an
// https token endpoint, and that every error text is short and printable,
// whatever the document holds.
func FuzzParseDiscovery(f *testing.F) {
	f.Add([]byte(`{"issuer":"https://idp.example.com","token_endpoint":"https://idp.example.com/oauth/token"}`))
	f.Add([]byte(`{"issuer":"https://idp.example.com/","token_endpoint":"http://10.0.0.1/token","token_endpoint_auth_methods_supported":["none"]}`))
	p, err := New(Config{Issuer: fuzzIssuer})
	if err != nil {
		f.Fatal(err)
	}
	docURL := fuzzIssuer + oidcPath
	f.Fuzz(func(t *testing.T, data []byte) {
		md, err := parseDiscovery(data)
		if err != nil {
			checkFuzzError(t, err, 100)
		} else {
			if md.issuer == "" || md.tokenEndpoint == "" {
				t.Fatalf("accepted %+v without issuer or token_endpoint", md)
			}
			if !json.Valid(data) {
				t.Fatalf("accepted invalid JSON %q", data)
			}
			if m, _, err := chooseAuthMethod(md.authMethods); err == nil && !validMethod(m) {
				t.Fatalf("chose %q", m)
			}
		}

		for _, ct := range []string{"application/json", "text/html; charset=\x00" + string(data)} {
			checked, err := p.checkDocument(docURL, document{body: data, contentType: ct})
			if err != nil {
				checkFuzzError(t, err, 1024)
				continue
			}
			if !sameIssuer(checked.issuer, fuzzIssuer) {
				t.Fatalf("accepted issuer %q", checked.issuer)
			}
			u, err := tokenclient.CheckEndpoint(checked.tokenEndpoint, false)
			if err != nil || u.Scheme != "https" { // fuzzIssuer is https: no downgrade, not even to loopback
				t.Fatalf("accepted token_endpoint %q: %v", checked.tokenEndpoint, err)
			}
		}
	})
}

func validMethod(m tokenclient.AuthMethod) bool {
	return m == tokenclient.ClientSecretBasic || m == tokenclient.ClientSecretPost || m == tokenclient.None
}

// checkFuzzError checks that an error text is at most max bytes of valid,
// printable UTF-8.
func checkFuzzError(t *testing.T, err error, max int) {
	t.Helper()
	text := err.Error()
	if len(text) > max {
		t.Fatalf("error text of %d bytes: %.300q…", len(text), text)
	}
	if !utf8.ValidString(text) || strings.IndexFunc(text, unicode.IsControl) >= 0 {
		t.Fatalf("error text not printable: %q", text)
	}
}

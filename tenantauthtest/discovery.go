package tenantauthtest

import (
	"encoding/json"
	"net/http"
)

// The paths of the discovery documents of an issuer without a path
// component (OpenID Connect Discovery 1.0 §4, RFC 8414 §3).
const (
	oidcDiscoveryPath = "/.well-known/openid-configuration"
	oauthMetadataPath = "/.well-known/oauth-authorization-server"
)

// metadata is what a standard server announces of itself: the members of
// RFC 8414 §2 (OpenID Connect Discovery 1.0 §3 names the same) for what it
// implements. It has no authorization endpoint and signs nothing, so it
// announces neither.
type metadata struct {
	Issuer                            string   `json:"issuer"`
	TokenEndpoint                     string   `json:"token_endpoint"`
	TokenEndpointAuthMethodsSupported []string `json:"token_endpoint_auth_methods_supported"`
	GrantTypesSupported               []string `json:"grant_types_supported"`
	ResponseTypesSupported            []string `json:"response_types_supported"`
}

// discoveryDocuments returns the discovery documents by path, for
// Server.wellKnown. Both paths serve the same document; without oidc the
// OpenID Connect one is present but nil, which answers 404 and is counted.
func discoveryDocuments(issuer, tokenURL, authMethod string, oidc bool) map[string][]byte {
	doc, err := json.Marshal(metadata{
		Issuer:                            issuer,
		TokenEndpoint:                     tokenURL,
		TokenEndpointAuthMethodsSupported: []string{authMethod},
		GrantTypesSupported:               []string{"client_credentials", "password", "refresh_token"},
		ResponseTypesSupported:            []string{"token"},
	})
	if err != nil {
		panic("tenantauthtest: " + err.Error()) // strings only: cannot happen
	}
	docs := map[string][]byte{oauthMetadataPath: doc, oidcDiscoveryPath: nil}
	if oidc {
		docs[oidcDiscoveryPath] = doc
	}
	return docs
}

// serveDiscovery answers a request for a discovery document, a nil one
// with 404. It counts every request, whatever its method or answer.
func (s *Server) serveDiscovery(w http.ResponseWriter, r *http.Request, doc []byte) {
	s.mu.Lock()
	s.stats.Discovery++
	s.mu.Unlock()
	switch {
	case doc == nil:
		http.NotFound(w, r)
	case r.Method != http.MethodGet && r.Method != http.MethodHead:
		w.Header().Set("Allow", "GET, HEAD")
		w.WriteHeader(http.StatusMethodNotAllowed)
	default:
		// net/http drops the body of a HEAD answer.
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(doc)
	}
}

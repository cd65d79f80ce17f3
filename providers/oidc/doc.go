// Package oidc is a tenantauth.Provider for any OAuth 2.0 authorization
// server's token endpoint (RFC 6749): Auth0, Okta, Microsoft Entra ID,
// Amazon Cognito, Zitadel, Keycloak, Ory Hydra, a home-made one.
//
// Give it the server's issuer and it finds the token endpoint in the
// server's metadata, as coreos/go-oidc's NewProvider does: OpenID Connect
// Discovery 1.0 ({issuer}/.well-known/openid-configuration), falling back to
// RFC 8414 ({origin}/.well-known/oauth-authorization-server{path}) on 404.
// Or give it the token endpoint, as x/oauth2's clientcredentials.Config
// takes a TokenURL, and nothing is discovered:
//
//	p, err := oidc.New(oidc.Config{Issuer: "https://example.eu.auth0.com/"})
//	p, err := oidc.New(oidc.Config{TokenURL: "https://example.okta.com/oauth2/default/v1/token"})
//
// Token requests are application/x-www-form-urlencoded POSTs with the
// password, client_credentials or refresh_token grant; the response is
// parsed by tenantauth's shared token client (providers/tokenclient).
// Clients authenticate with HTTP Basic (client_secret_basic) unless the
// discovery document or Config.AuthMethod says otherwise (see
// [Config].AuthMethod).
//
// # Discovery
//
// Discovery is lazy: [New] sends nothing, the first [Provider.Exchange]
// (or [Provider.TokenURL]) fetches the document, once for all concurrent
// callers, and a success is kept for the Provider's lifetime. The document
// must be at most [MaxDocumentSize] bytes, arrive within
// Config.DiscoveryTimeout without a redirect, name the configured issuer,
// and name an https token endpoint (plain http only on loopback or with
// Config.AllowInsecureHTTP). A failed discovery is retried only after a
// backoff, 1 s doubling to 5 min; until then calls fail fast with its error,
// which matches [ErrDiscovery]. The Manager counts such failures against
// the server's circuit breaker, never against a tenant.
//
// [Provider.Endpoint], which keys the Manager's circuit breaker and
// admission limit, is the issuer (or TokenURL) and never changes.
//
// # Servers
//
// Per-tenant request parameters beyond the client's credentials go in
// tenantauth.Credentials: Scopes for scope, EndpointParams for anything
// else (sent with every token request of the tenant, refreshes included).
//
// Auth0: the issuer is the tenant's domain with a trailing slash; an API
// token needs the API's identifier as audience:
//
//	oidc.Config{Issuer: "https://example.eu.auth0.com/"}
//	tenantauth.Credentials{ClientID: "…", ClientSecret: "…",
//		EndpointParams: url.Values{"audience": {"https://api.example.com"}}}
//
// Okta: the issuer of a custom authorization server (the "default" one
// included); client_credentials needs a custom scope:
//
//	oidc.Config{Issuer: "https://example.okta.com/oauth2/default"}
//	tenantauth.Credentials{ClientID: "…", ClientSecret: "…", Scopes: []string{"api.read"}}
//
// Microsoft Entra ID: the v2.0 issuer of the directory (tenant) ID — not
// "common" or "organizations", whose documents name a templated issuer
// that cannot match — and the resource's ".default" scope:
//
//	oidc.Config{Issuer: "https://login.microsoftonline.com/{tenant-id}/v2.0"}
//	tenantauth.Credentials{ClientID: "…", ClientSecret: "…",
//		Scopes: []string{"api://{resource-app-id}/.default"}}
//
// Entra's v1 endpoints name the issuer https://sts.windows.net/{tenant-id}/
// on another host: use TokenURL
// "https://login.microsoftonline.com/{tenant-id}/oauth2/token" with the
// resource in EndpointParams instead.
//
// Amazon Cognito: the issuer is the user pool's, the token endpoint is on
// the pool's domain (the document says so); clients use client_secret_basic
// and a resource server's scopes:
//
//	oidc.Config{Issuer: "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf"}
//	tenantauth.Credentials{ClientID: "…", ClientSecret: "…", Scopes: []string{"orders/read"}}
//
// RFC 8707 resource indicators, for servers that take them (Zitadel, Ory
// Hydra, Keycloak with the extension, Entra v1), one or several:
//
//	tenantauth.Credentials{ClientID: "…", ClientSecret: "…",
//		EndpointParams: url.Values{"resource": {"https://api.example.com/"}}}
//
// Servers without a discovery document, or whose document names an issuer
// other than the URL it is served under, are configured with TokenURL.
package oidc

// Package xoauth2 bridges a [tenantauth.Manager] to code written for
// golang.org/x/oauth2: Google API clients, gRPC per-RPC credentials and
// anything else that takes an [oauth2.TokenSource] or an *http.Client.
//
//	ts := xoauth2.TokenSourceForHost(ctx, m, "acme", "api.acme.example:443")
//	conn, err := grpc.NewClient("api.acme.example:443",
//		grpc.WithTransportCredentials(credentials.NewTLS(nil)),
//		grpc.WithPerRPCCredentials(oauth.TokenSource{TokenSource: ts}))
//
//	client := xoauth2.Client(m, "acme", nil) // for libraries that take an *http.Client
//
// The bridge keeps no cache of its own. [TokenSource] and [TokenSourceForHost]
// ask the Manager on every call, so one tenant's token is fetched once for
// every TokenSource, Client and middleware of the Manager, refreshed ahead of
// its expiry in the background, protected by the endpoint's circuit breaker,
// and replaced on the next call after [tenantauth.Manager.Invalidate] (an
// API's 401) or [tenantauth.Manager.Forget]. For the same reason, do not wrap
// these token sources in [oauth2.ReuseTokenSource]: its cache would hold a
// token the Manager has already dropped.
//
// [Client] is an *http.Client over the Manager's own
// [github.com/tenantauth/tenantauth/middleware/httpauth.Transport], which
// checks the tenant's APIHosts and recovers from a 401 by itself, in place of
// [oauth2.Transport].
//
// What crosses the bridge: the access token in clear text (an oauth2.Token
// has no redacted type), its type and its real expiry; never the refresh
// token, which only the Manager uses.
//
// x/oauth2 is this module's requirement only: the tenantauth module itself
// does not depend on it, which is why this package is a module of its own,
// github.com/tenantauth/tenantauth/xoauth2.
package xoauth2

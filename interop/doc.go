// Package interop runs tenantauth's providers (keycloak, passport and the
// generic oidc), Manager and HTTP middleware against real OAuth 2.0 servers
// installed from the npm registry:
// oidc-provider mounted at Keycloak's paths (servers/keycloak.mjs) and
// @jmondi/oauth2-server, a port of the league/oauth2-server library that
// Laravel Passport wraps (servers/passport.mjs).
//
// The package has no API; everything is in its tests. TestMain installs the
// servers when needed (setup.sh, npm ci), starts them as child processes
// bound to 127.0.0.1 and stops them afterwards. When they cannot start, the
// tests fail under CI (CI set) and are skipped with the reason elsewhere.
//
// It is a nested module so that its harness never touches the main go.mod:
//
//	bash interop/setup.sh && (cd interop && go test -race ./...)
package interop

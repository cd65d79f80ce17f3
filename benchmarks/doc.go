// Package benchmarks compares tenantauth with the alternatives a Go
// programmer would pick for per-tenant OAuth 2.0 tokens: golang.org/x/oauth2
// (one ReuseTokenSource per tenant in a sync.Map, each in an
// oauth2.Transport) and a naive mutex-guarded map that fetches on a miss.
//
// The package holds only Go micro-benchmarks (go test -bench): cached token
// lookup at 1 to 100 000 tenants (with a bare sync.Map.Load as the floor),
// RoundTrip overhead on a no-op base, Fiber handler overhead and memory per
// cached tenant at 1 000 to 1 000 000 tenants. The load tool is
// cmd/tokenload, the charts come from cmd/plot; README.md says how to run
// them and what they showed.
//
// This is a separate module so that the main module never depends on
// golang.org/x/oauth2 or on the plotting libraries.
package benchmarks

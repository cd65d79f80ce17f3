// Package standin holds the in-process stand-ins the benchmarks run against:
// an identity provider ([IdP]) that issues tokens after a configurable
// latency, fails a configurable fraction of requests, can be taken down and
// can have a capacity (beyond it, requests are refused at once with a 503
// or a 429, see [OverloadError]), and a no-op API ([API]) that answers 200 only to a request carrying a live
// token of the tenant the request is for.
//
// Nothing here touches the network, so results measure the auth layers and
// not the kernel's loopback. Tokens are opaque to the contenders but the
// stand-ins can read them back ([ParseToken]): each names its tenant, a
// sequence number, and when it was issued and expires on the shared [Clock],
// which is what lets the load tool tell whether a request waited for the
// token endpoint (its token was issued after the request started).
//
// Everything here is safe for concurrent use.
package standin

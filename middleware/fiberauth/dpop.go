package fiberauth

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/tenantauth/tenantauth"
	"github.com/tenantauth/tenantauth/clientauth"
	"github.com/valyala/fasthttp"
)

// headerDPoP carries a request's DPoP proof (RFC 9449 §4.1).
const headerDPoP = "DPoP"

// tokenFor asks m for tenant id's token for a request to host, over TLS or
// not, and the key it is bound to when it is DPoP-bound: the host and the
// scheme are checked, or the host only when plain http was allowed by the
// caller's config.
func tokenFor(ctx context.Context, m *tenantauth.Manager, id string, tls bool, host string, insecureOK bool) (*tenantauth.Token, *clientauth.DPoP, error) {
	if insecureOK {
		return m.TokenForHostDPoP(ctx, id, host)
	}
	u := url.URL{Scheme: "http", Host: host}
	if tls {
		u.Scheme = "https"
	}
	return m.TokenForURLDPoP(ctx, id, &u)
}

// authorize sets h's Authorization to tok's and, when tok is DPoP-bound
// (dp not nil), its DPoP header to a fresh proof for this request (RFC 9449
// §7): htm method, htu rawURL without query and fragment, ath the token's
// hash, and nonce when the host sent one. Without dp it removes any DPoP
// header, so that none a caller set travels with a Bearer token.
func authorize(h *fasthttp.RequestHeader, tok *tenantauth.Token, dp *clientauth.DPoP, method, rawURL, nonce string) error {
	h.Set(fasthttp.HeaderAuthorization, tok.Authorization())
	if dp == nil {
		h.Del(headerDPoP)
		return nil
	}
	proof, err := dp.Proof(method, rawURL, string(tok.AccessToken), nonce, time.Now())
	if err != nil {
		h.Del(fasthttp.HeaderAuthorization)
		h.Del(headerDPoP)
		return fmt.Errorf("fiberauth: making a DPoP proof: %w", err)
	}
	h.Set(headerDPoP, proof)
	return nil
}

// unauthorize removes what authorize set.
func unauthorize(h *fasthttp.RequestHeader) {
	h.Del(fasthttp.HeaderAuthorization)
	h.Del(headerDPoP)
}

// noteNonce remembers in ns the DPoP-Nonce of resp, an answer from host,
// if it has a valid one.
func noteNonce(ns *clientauth.Nonces, host string, resp *fasthttp.Response) {
	if n, ok := nonceOf(resp); ok {
		ns.Set(host, n)
	}
}

// nonceOf returns resp's DPoP-Nonce as [clientauth.NonceFrom] reads it.
// Only a response that has one pays for the conversion.
func nonceOf(resp *fasthttp.Response) (string, bool) {
	lines := resp.Header.PeekAll("DPoP-Nonce")
	if len(lines) == 0 {
		return "", false
	}
	h := make(http.Header, 1)
	for _, l := range lines {
		h.Add("DPoP-Nonce", string(l))
	}
	return clientauth.NonceFrom(h)
}

// nonceChallenge reports whether resp asks for the request again with a
// proof holding a nonce (401 with a DPoP challenge error="use_dpop_nonce",
// RFC 9449 §9), and returns that nonce when it is a valid one other than
// sent: only then is a retry any use. challenged is true for every nonce
// challenge: the API did not refuse the token, so it must not be
// invalidated.
func nonceChallenge(resp *fasthttp.Response, sent string) (nonce string, retry, challenged bool) {
	if resp.StatusCode() != http.StatusUnauthorized {
		return "", false, false
	}
	lines := resp.Header.PeekAll(fasthttp.HeaderWWWAuthenticate)
	if len(lines) == 0 {
		return "", false, false
	}
	h := make(http.Header, 2)
	for _, l := range lines {
		h.Add(fasthttp.HeaderWWWAuthenticate, string(l))
	}
	if !clientauth.UseDPoPNonce(h) {
		return "", false, false
	}
	n, ok := nonceOf(resp)
	return n, ok && n != sent, true
}

// sendAuthorized authorizes req with tok and sends it with send, which
// fills resp. For a DPoP-bound token (dp set) the proof carries host's
// latest nonce from ns, the answer's nonce is remembered, and a
// use_dpop_nonce challenge (RFC 9449 §9) is answered once with a new
// proof when the body is in memory. challenged reports that the final
// answer is still a nonce challenge: the API did not refuse the token.
// method and target are the request's, for the proof; only read with dp.
func sendAuthorized(ns *clientauth.Nonces, host string, req *fasthttp.Request, resp *fasthttp.Response,
	tok *tenantauth.Token, dp *clientauth.DPoP, method, target string, send func() error) (challenged bool, err error) {
	var nonce string
	if dp != nil {
		nonce = ns.Get(host)
	}
	if err := authorize(&req.Header, tok, dp, method, target, nonce); err != nil {
		return false, err
	}
	if err := send(); err != nil || dp == nil {
		return false, err
	}
	noteNonce(ns, host, resp)
	n, retry, challenged := nonceChallenge(resp, nonce)
	if retry && canRetry(req, false) {
		// The token is good and the request was not served.
		if err := authorize(&req.Header, tok, dp, method, target, n); err != nil {
			return false, err
		}
		resetResponse(resp)
		if err := send(); err != nil {
			return false, err
		}
		noteNonce(ns, host, resp)
		_, _, challenged = nonceChallenge(resp, n)
	}
	return challenged, nil
}

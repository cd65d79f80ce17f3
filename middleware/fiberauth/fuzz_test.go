package fiberauth

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/tenantauth/tenantauth/clientauth"
	"github.com/valyala/fasthttp"
)

// The seed corpora are in testdata/fuzz/<FuzzName>/.

// resolveWith runs r on a request prepared by prep, as the middleware would.
func resolveWith(app *fiber.App, r Resolver, prep func(*fasthttp.RequestCtx)) (string, error) {
	fctx := &fasthttp.RequestCtx{}
	prep(fctx)
	c := app.AcquireCtx(fctx)
	defer app.ReleaseCtx(c)
	id, err := r(c)
	return strings.Clone(id), err
}

// checkResolved holds for every resolver result.
func checkResolved(t *testing.T, id string, err error) {
	t.Helper()
	switch {
	case err == nil && !validTenantID(id):
		t.Fatalf("resolved invalid ID %q", id)
	case err != nil && id != "":
		t.Fatalf("error %v with ID %q", err, id)
	case err != nil && !errors.Is(err, ErrMissingTenant) && !errors.Is(err, ErrInvalidTenant):
		t.Fatalf("unexpected error %v", err)
	}
}

func FuzzFromHeader(f *testing.F) {
	app := fiber.New()
	r := FromHeader(HeaderTenantID)
	f.Fuzz(func(t *testing.T, v string) {
		var sent string
		id, err := resolveWith(app, r, func(fctx *fasthttp.RequestCtx) {
			fctx.Request.Header.Set(HeaderTenantID, v)
			sent = string(fctx.Request.Header.Peek(HeaderTenantID))
		})
		checkResolved(t, id, err)
		if err == nil && id != sent {
			t.Fatalf("resolved %q from header %q", id, sent)
		}
		if err == nil && len(id) > MaxTenantIDLength {
			t.Fatalf("resolved %d bytes", len(id))
		}
	})
}

func FuzzFromSubdomain(f *testing.F) {
	const base = "api.example.com"
	app := fiber.New()
	r := FromSubdomain(base)
	f.Fuzz(func(t *testing.T, host string) {
		var seen string // the host as fasthttp reads the Host header
		id, err := resolveWith(app, r, func(fctx *fasthttp.RequestCtx) {
			fctx.Request.Header.SetHost(host)
			seen = string(fctx.Request.URI().Host())
		})
		checkResolved(t, id, err)
		if err != nil {
			return
		}
		if !validLabel(id) || strings.ToLower(id) != id {
			t.Fatalf("resolved %q, not a lower-case DNS label", id)
		}
		// The direct parser agrees, and the host really is id + "." + base.
		got, err := subdomain(seen, base)
		if err != nil || got != id {
			t.Fatalf("subdomain(%q) = %q, %v; resolver said %q", seen, got, err, id)
		}
		h := strings.TrimSuffix(stripPort(seen), ".")
		if !strings.EqualFold(h, id+"."+base) {
			t.Fatalf("host %q (sent %q) resolved to %q", seen, host, id)
		}
	})
}

func FuzzFromJWTClaim(f *testing.F) {
	app := fiber.New()
	f.Fuzz(func(t *testing.T, claimsJSON []byte, claim string) {
		var claims map[string]any
		if json.Unmarshal(claimsJSON, &claims) != nil {
			return
		}
		for _, v := range []any{claims, MapClaims(claims), &jwtToken{Claims: MapClaims(claims)}} {
			id, err := resolveWith(app, FromJWTClaim("user", claim), func(fctx *fasthttp.RequestCtx) {
				fctx.SetUserValue("user", v)
			})
			checkResolved(t, id, err)
			if s, ok := claims[claim].(string); err == nil && ok && s != id {
				t.Fatalf("claim %q = %q, resolved %q", claim, s, id)
			}
		}
	})
}

func FuzzForwardPath(f *testing.F) {
	f.Fuzz(func(t *testing.T, original, prefix string) {
		got, ok := forwardPath(original, prefix)
		if !ok {
			return
		}
		if !strings.HasPrefix(got, "/") {
			t.Fatalf("forwardPath(%q, %q) = %q, not absolute", original, prefix, got)
		}
		path := got
		if i := strings.IndexAny(path, "?#"); i >= 0 {
			path = path[:i]
		}
		// No segment may be "." or ".." once percent-decoded and with
		// backslashes read as slashes, as an upstream may read them.
		decoded := strings.NewReplacer("%2e", ".", "%2E", ".", "%2f", "/", "%2F", "/", "%5c", "/", "%5C", "/", `\`, "/").Replace(path)
		for _, seg := range strings.Split(decoded, "/") {
			if seg == "." || seg == ".." {
				t.Fatalf("forwardPath(%q, %q) = %q keeps a dot segment", original, prefix, got)
			}
		}
	})
}

func FuzzUpstreamHost(f *testing.F) {
	f.Fuzz(func(t *testing.T, target string) {
		host, ok := upstreamHost(target)
		if !ok {
			return
		}
		if host == "" {
			t.Fatal("ok with an empty host")
		}
		// The host checked is the host fasthttp dials for that URL.
		req := fasthttp.AcquireRequest()
		defer fasthttp.ReleaseRequest(req)
		req.SetRequestURI(target)
		if got := string(req.URI().Host()); got != host {
			t.Fatalf("upstreamHost(%q) = %q, fasthttp dials %q", target, host, got)
		}
	})
}

// FuzzNonceChallenge feeds an API's answer (status, WWW-Authenticate and
// DPoP-Nonce lines) to the DPoP nonce handling: it must never panic, ask
// for a retry only on a 401 nonce challenge with a valid nonce other than
// the one sent, and agree with clientauth's parsers on what it read.
func FuzzNonceChallenge(f *testing.F) {
	f.Add(401, `DPoP error="use_dpop_nonce", error_description="nonce"`, "eyJ7S_zG.eyJH0-Z.HX4w-7v", "")
	f.Add(401, `Bearer realm="x", DPoP error=use_dpop_nonce`, "n-1", "n-1")
	f.Add(401, `Bearer error="use_dpop_nonce"`, "n-2", "")
	f.Add(200, "", "n-3", "")
	f.Add(401, `DPoP error="use_dpop_nonce"`, "bad nonce with spaces", "")
	f.Add(401, `DPoP error="invalid_token"`, "", "")
	f.Fuzz(func(t *testing.T, status int, challenge, nonce, sent string) {
		if status < 100 || status > 999 {
			status = 401
		}
		resp := fasthttp.AcquireResponse()
		defer fasthttp.ReleaseResponse(resp)
		resp.SetStatusCode(status)
		for _, line := range strings.Split(challenge, "\n") {
			resp.Header.Add(fasthttp.HeaderWWWAuthenticate, line)
		}
		if nonce != "" {
			resp.Header.Add("DPoP-Nonce", nonce)
		}
		n, retry, challenged := nonceChallenge(resp, sent)
		if retry && (!challenged || n == "" || n == sent) {
			t.Fatalf("retry with nonce %q (sent %q, challenged %v)", n, sent, challenged)
		}
		if challenged && resp.StatusCode() != 401 {
			t.Fatalf("challenge on status %d", resp.StatusCode())
		}
		var ns clientauth.Nonces
		noteNonce(&ns, "api.example.com", resp)
		got := ns.Get("api.example.com")
		want, ok := nonceOf(resp)
		if got != want || (got != "") != ok {
			t.Fatalf("remembered %q; nonceOf %q, %v", got, want, ok)
		}
		if retry && n != want {
			t.Fatalf("retry nonce %q is not the answer's %q", n, want)
		}
	})
}

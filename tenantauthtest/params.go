package tenantauthtest

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
)

// A tokenRequest is a token request as a dialect parsed it. Parsing never
// fails: whatever is missing or malformed is answered later, in the
// dialect's own words.
type tokenRequest struct {
	// values holds the body parameters. A parameter present with a type
	// the server refuses (a JSON object, array or boolean; a PHP form
	// array) is in bad instead.
	values map[string]string
	bad    map[string]bool
	// dup reports a form parameter sent more than once (Keycloak refuses).
	dup bool

	// basicOK reports an Authorization header that carried HTTP Basic
	// client credentials; authHeader is the raw header.
	basicOK              bool
	basicUser, basicPass string
	authHeader           string

	// peerCert is the client certificate of the request's connection, if
	// it presented one.
	peerCert *x509.Certificate

	// For the statistics.
	grant, clientID, username string
}

// param returns a body parameter and whether it is present.
func (r *tokenRequest) param(name string) (string, bool) {
	v, ok := r.values[name]
	return v, ok
}

// isForm reports whether a Content-Type is application/x-www-form-urlencoded,
// parameters such as charset allowed.
func isForm(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && mt == "application/x-www-form-urlencoded"
}

// isJSON reports whether Laravel treats a Content-Type as JSON: it looks for
// "/json" or "+json" anywhere in the header.
func isJSON(contentType string) bool {
	return strings.Contains(contentType, "/json") || strings.Contains(contentType, "+json")
}

// parseKeycloakBody reads a form body the way Keycloak does: only an
// application/x-www-form-urlencoded body has parameters (a JSON body thus
// lacks grant_type); the first value of a repeated parameter counts, and the
// repetition is remembered. Like the real servers, parsing is lenient:
// malformed pairs are skipped.
func parseKeycloakBody(contentType string, body []byte) *tokenRequest {
	req := &tokenRequest{values: map[string]string{}}
	if !isForm(contentType) {
		return req
	}
	q, _ := url.ParseQuery(string(body))
	for k, vs := range q {
		if len(vs) == 0 {
			continue
		}
		req.values[k] = vs[0]
		if len(vs) > 1 {
			req.dup = true
		}
	}
	return req
}

// parsePassportBody reads a body the way Laravel feeds it to
// league/oauth2-server: JSON when the Content-Type says so (Laravel's
// isJson), a form when it is form-urlencoded (PHP's parse_str: the last of
// repeated keys wins, "key[...]" makes an array), nothing otherwise.
func parsePassportBody(contentType string, body []byte) *tokenRequest {
	req := &tokenRequest{values: map[string]string{}, bad: map[string]bool{}}
	switch {
	case isJSON(contentType):
		parsePassportJSON(req, body)
	case isForm(contentType):
		q, _ := url.ParseQuery(string(body))
		for k, vs := range q {
			if len(vs) == 0 {
				continue
			}
			if i := strings.IndexByte(k, '['); i > 0 {
				req.bad[k[:i]] = true
				delete(req.values, k[:i])
				continue
			}
			if !req.bad[k] {
				req.values[k] = vs[len(vs)-1]
			}
		}
	}
	return req
}

// parsePassportJSON decodes a JSON object. Strings and numbers become
// parameters (a number as written: client_id 3 is "3", as PHP compares it);
// null is absent; objects, arrays and booleans are refused. A body that is
// not one JSON object has no parameters, as json_decode fails on it.
func parsePassportJSON(req *tokenRequest, body []byte) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return
	}
	if _, err := dec.Token(); err != io.EOF {
		return // trailing data
	}
	for k, v := range m {
		switch v := v.(type) {
		case string:
			req.values[k] = v
		case json.Number:
			req.values[k] = v.String()
		case nil:
		default:
			req.bad[k] = true
		}
	}
}

// completeTokenRequest fills in what every dialect reads the same way from a
// token request whose body is already decoded into req: the Authorization
// header, the grant, the client (body client_id over Basic user) and the
// username. keycloakBasic selects Keycloak's reading of Basic credentials
// (see parseBasic, RFC 6749 §2.3.1's), which the standard dialect shares,
// over league's.
func completeTokenRequest(r *http.Request, req *tokenRequest, keycloakBasic bool) *tokenRequest {
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		req.peerCert = r.TLS.PeerCertificates[0]
	}
	req.authHeader = r.Header.Get("Authorization")
	if req.authHeader != "" {
		req.basicUser, req.basicPass, req.basicOK = parseBasic(req.authHeader, keycloakBasic, keycloakBasic)
	}
	req.grant = req.values["grant_type"]
	req.clientID = req.basicUser
	if v, ok := req.param("client_id"); ok {
		req.clientID = v
	}
	req.username = req.values["username"]
	return req
}

// parseBasic decodes "Basic base64(user:pass)". urlDecode applies RFC 6749
// §2.3.1's form-encoding of both parts, as Keycloak does; league does not.
// caseInsensitive accepts "basic" in any case, as Keycloak does; league
// wants "Basic " exactly.
func parseBasic(header string, urlDecode, caseInsensitive bool) (user, pass string, ok bool) {
	const prefix = "Basic "
	if len(header) < len(prefix) {
		return "", "", false
	}
	if caseInsensitive {
		if !strings.EqualFold(header[:len(prefix)], prefix) {
			return "", "", false
		}
	} else if header[:len(prefix)] != prefix {
		return "", "", false
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(header[len(prefix):]))
	if err != nil {
		return "", "", false
	}
	user, pass, ok = strings.Cut(string(raw), ":")
	if !ok {
		return "", "", false
	}
	if urlDecode {
		u, err1 := url.QueryUnescape(user)
		p, err2 := url.QueryUnescape(pass)
		if err1 != nil || err2 != nil {
			return "", "", false
		}
		user, pass = u, p
	}
	return user, pass, true
}

// bearerToken extracts the token from "Bearer <token>", the scheme in any
// case (RFC 7235 §2.1). It reports false for a missing header or another
// scheme.
func bearerToken(header string) (string, bool) {
	scheme, tok, ok := strings.Cut(strings.TrimSpace(header), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

// writeJSON sends v as JSON with the status and extra headers; a nil v
// sends an empty body.
func writeJSON(w http.ResponseWriter, status int, header http.Header, v any) {
	var b []byte
	if v != nil {
		var err error
		if b, err = json.Marshal(v); err != nil {
			// Only our own types reach here; they always marshal.
			b = []byte(`{"error":"server_error"}`)
			status = http.StatusInternalServerError
		}
	}
	h := w.Header()
	for k, vs := range header {
		h[k] = append([]string(nil), vs...)
	}
	if b != nil && h.Get("Content-Type") == "" {
		h.Set("Content-Type", "application/json")
	}
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

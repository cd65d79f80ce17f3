package interop

import (
	"encoding/json"
	"errors"
	"maps"
	"os"
	"slices"
	"testing"

	"github.com/tenantauth/tenantauth"
	"github.com/tenantauth/tenantauth/providers/keycloak"
)

// recordEnv, set to 1, makes TestResponses (re)write testdata/responses.
const recordEnv = "INTEROP_RECORD"

// responseStep is one token request whose real answer is kept.
type responseStep struct {
	file   string // testdata/responses/<file>
	prov   tenantauth.Provider
	rec    *recorder
	req    func() tenantauth.TokenRequest
	status int
	code   string // OAuth error code; empty for a token
	keep   func(*tenantauth.Token)
}

// Matrix 7: the servers' real response bodies, success and each error,
// through the real providers. With INTEROP_RECORD=1 they are written to
// testdata/responses/ (seeds for the token parser's fuzz corpus); otherwise
// each fresh body must have the same JSON members as the stored one, so a
// server upgrade that changes a shape shows up here.
func TestResponses(t *testing.T) {
	requireServers(t)
	record := os.Getenv(recordEnv) == "1"
	if record {
		if err := os.MkdirAll(testdataPath("responses"), 0o755); err != nil {
			t.Fatal(err)
		}
	}

	kcPost, kcPostRec := newKeycloak(t, kcMain, keycloak.ClientAuthBody)
	kcBasic, kcBasicRec := newKeycloak(t, kcMain, keycloak.ClientAuthBasic)
	pp, ppRec := newPassport(t, ppMain)
	ppOff, ppOffRec := newPassport(t, ppNoPass)
	kcMain.attach(t)
	ppMain.attach(t)

	var kcTok, ppTok *tenantauth.Token
	full := func(c tenantauth.Credentials) func() tenantauth.TokenRequest {
		return func() tenantauth.TokenRequest {
			return tenantauth.TokenRequest{Grant: c.EffectiveGrant(), Credentials: c}
		}
	}
	refresh := func(c tenantauth.Credentials, tok **tenantauth.Token) func() tenantauth.TokenRequest {
		return func() tenantauth.TokenRequest {
			if *tok == nil {
				t.Fatal("no token to refresh: an earlier step failed")
			}
			return tenantauth.TokenRequest{Grant: tenantauth.GrantRefreshToken, Credentials: c, RefreshToken: (*tok).RefreshToken}
		}
	}
	kcPw := kcPasswordCreds(kcPostID, kcPostSecret)
	steps := []responseStep{
		{file: "keycloak-password-200.json", prov: kcPost, rec: kcPostRec, req: full(kcPw), status: 200,
			keep: func(tok *tenantauth.Token) { kcTok = tok }},
		{file: "keycloak-client_credentials-200.json", prov: kcBasic, rec: kcBasicRec, req: full(kcClientCreds(kcBasicID, kcBasicSecret)), status: 200},
		{file: "keycloak-refresh_token-200.json", prov: kcPost, rec: kcPostRec, req: refresh(kcPw, &kcTok), status: 200},
		{file: "keycloak-refresh_token-reused-400.json", prov: kcPost, rec: kcPostRec, req: refresh(kcPw, &kcTok), status: 400, code: "invalid_grant"},
		{file: "keycloak-invalid_grant-400.json", prov: kcPost, rec: kcPostRec, status: 400, code: "invalid_grant",
			req: full(tenantauth.Credentials{ClientID: kcPostID, ClientSecret: kcPostSecret, Username: kcUser, Password: wrongPassword})},
		{file: "keycloak-invalid_client-401.json", prov: kcBasic, rec: kcBasicRec, status: 401, code: "invalid_client",
			req: full(kcClientCreds(kcBasicID, wrongSecret))},

		{file: "passport-password-200.json", prov: pp, rec: ppRec, req: full(ppPasswordCreds()), status: 200,
			keep: func(tok *tenantauth.Token) { ppTok = tok }},
		{file: "passport-client_credentials-200.json", prov: pp, rec: ppRec, req: full(ppClientCreds()), status: 200},
		{file: "passport-refresh_token-200.json", prov: pp, rec: ppRec, req: refresh(ppPasswordCreds(), &ppTok), status: 200},
		{file: "passport-refresh_token-reused-400.json", prov: pp, rec: ppRec, req: refresh(ppPasswordCreds(), &ppTok), status: 400, code: "invalid_request"},
		{file: "passport-invalid_grant-400.json", prov: pp, rec: ppRec, status: 400, code: "invalid_grant",
			req: full(tenantauth.Credentials{ClientID: ppClientID, ClientSecret: ppClientSecret, Username: ppUser, Password: wrongPassword})},
		{file: "passport-invalid_client-401.json", prov: pp, rec: ppRec, status: 401, code: "invalid_client",
			req: full(tenantauth.Credentials{Grant: tenantauth.GrantClientCredentials, ClientID: ppClientID, ClientSecret: wrongSecret})},
		{file: "passport-unsupported_grant_type-400.json", prov: ppOff, rec: ppOffRec, req: full(ppPasswordCreds()), status: 400, code: "unsupported_grant_type"},
	}

	for _, st := range steps {
		// Sequential on purpose: refresh steps use the token of the step before.
		tok, err := st.prov.Exchange(t.Context(), st.req())
		ex := st.rec.take()
		if ex.Status != st.status {
			t.Errorf("%s: status %d, want %d (body %s)", st.file, ex.Status, st.status, ex.Body)
			continue
		}
		if st.code == "" {
			if err != nil || tok == nil || tok.AccessToken.IsZero() {
				t.Errorf("%s: Exchange = %v, %v; want a token", st.file, tok, err)
				continue
			}
			if st.keep != nil {
				st.keep(tok)
			}
		} else {
			var te *tenantauth.TokenError
			if !errors.As(err, &te) || te.Code != st.code || te.StatusCode != st.status {
				t.Errorf("%s: Exchange error %v; want a TokenError %s with status %d", st.file, err, st.code, st.status)
				continue
			}
		}

		path := testdataPath("responses", st.file)
		if record {
			if err := os.WriteFile(path, ex.Body, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		stored, err := os.ReadFile(path)
		if err != nil {
			t.Errorf("%s: %v (record the responses with %s=1)", st.file, err, recordEnv)
			continue
		}
		if got, want := jsonKeys(t, ex.Body), jsonKeys(t, stored); !slices.Equal(got, want) {
			t.Errorf("%s: the server's answer now has members %v, the stored one %v (re-record with %s=1 if intended)",
				st.file, got, want, recordEnv)
		}
	}
}

func jsonKeys(t *testing.T, b []byte) []string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Errorf("not a JSON object: %v: %q", err, b)
		return nil
	}
	return slices.Sorted(maps.Keys(m))
}

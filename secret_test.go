package tenantauth_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/tenantauth/tenantauth"
)

// The values below must never appear in any rendering.
const (
	clientSecret = "CLIENT-SECRET-c8f1"
	password     = "PASSWORD-9d22"
	accessToken  = "ACCESS-TOKEN-77ab"
	refreshToken = "REFRESH-TOKEN-5e0c"
)

var secrets = []string{clientSecret, password, accessToken, refreshToken}

func TestSecretRendersRedacted(t *testing.T) {
	s := tenantauth.Secret(clientSecret)
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%10s", "%-20v", "%d", "%08.3f"} {
		out := fmt.Sprintf(verb, s)
		if strings.Contains(out, clientSecret) || !strings.Contains(out, "[REDACTED]") {
			t.Errorf("Sprintf(%q) = %q", verb, out)
		}
	}
	j, _ := json.Marshal(s)
	txt, _ := s.MarshalText()
	if string(j) != `"[REDACTED]"` || string(txt) != "[REDACTED]" || s.String() != "[REDACTED]" || s.GoString() != "[REDACTED]" {
		t.Errorf("json %s, text %s", j, txt)
	}
	if s.Reveal() != clientSecret {
		t.Error("Reveal lost the value")
	}
}

func TestNothingLeaksFromPublicTypes(t *testing.T) {
	creds := tenantauth.Credentials{ClientID: "3", ClientSecret: clientSecret, Username: "a@b.com", Password: password, Scopes: []string{"s"}}
	tok := &tenantauth.Token{AccessToken: accessToken, RefreshToken: refreshToken, TokenType: "Bearer", Expiry: time.Now()}
	_ = tok.Authorization() // must not cache anything printable
	tenant := tenantauth.Tenant{ID: "acme", Provider: newFakeProvider("https://idp.example/token"), Credentials: creds, APIHosts: []string{"api.example"}}
	cfg := tenantauth.Config{Tenants: tenantauth.Tenants{"acme": tenant}}
	req := tenantauth.TokenRequest{Grant: tenantauth.GrantRefreshToken, Credentials: creds, RefreshToken: refreshToken}

	// A Manager-held token carries the precomputed header: render that too,
	// and the Manager itself.
	p := newFakeProvider("https://idp.example/token")
	p.hook = func(context.Context, tenantauth.TokenRequest) (*tenantauth.Token, error) {
		return &tenantauth.Token{AccessToken: accessToken, RefreshToken: refreshToken, TokenType: "bearer"}, nil
	}
	m := mustManager(t, tenantauth.Config{Tenants: tenantauth.Tenants{"acme": {Provider: p, Credentials: creds, APIHosts: []string{"api.example"}}}})
	held, err := m.Token(context.Background(), "acme")
	if err != nil {
		t.Fatal(err)
	}
	values := []any{creds, &creds, *tok, tok, tenant, &tenant, cfg, &cfg, req, []any{tok, creds},
		map[string]any{"t": tok}, held, *held, m}

	var outs []string
	for _, v := range values {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
			outs = append(outs, fmt.Sprintf(verb, v))
		}
		j, err := json.Marshal(v)
		if err == nil {
			outs = append(outs, string(j))
		}
		for _, h := range []func(*bytes.Buffer) slog.Handler{
			func(b *bytes.Buffer) slog.Handler {
				return slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug})
			},
			func(b *bytes.Buffer) slog.Handler {
				return slog.NewJSONHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug})
			},
		} {
			var buf bytes.Buffer
			slog.New(h(&buf)).Debug("value", "v", v)
			outs = append(outs, buf.String())
		}
	}
	for _, out := range outs {
		for _, s := range secrets {
			if strings.Contains(out, s) {
				t.Errorf("secret %q leaked in: %s", s, out)
			}
		}
	}
}

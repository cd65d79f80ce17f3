package tenantauth_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/tenantauth/tenantauth"
)

// FuzzSecretFormat renders arbitrary format strings with values that wrap
// a secret — Secret, Token, *Token, Credentials, TokenRequest, Tenant,
// slices, maps and structs of them — through fmt, fmt.Errorf, slog's text
// and JSON handlers and encoding/json, and checks that the output never
// depends on the secret: rendering the same values around another secret
// gives the same output, and the raw secret never appears unless the
// format string itself contains it.
//
// Two verbs are left out because fmt handles them before it consults a
// Formatter, and then prints the value with its methods disabled, so no
// method of Secret or Token can redact them: %p of a non-pointer and %w of
// a non-error print "%!p(tenantauth.Secret=<raw value>)". go vet rejects
// %w with a non-error, but not %p of a Secret or a Token: both implement
// fmt.Formatter, which vet takes to accept any verb.
func FuzzSecretFormat(f *testing.F) {
	seeds := []struct{ format, secret string }{
		{"%v", "s3cr3t"},
		{"%+v %#v %s %q %x %X %d", "hunter2"},
		{"%10.3s|%-20q|%+q|%#x|% x|%08.3f|%t|%U|%c|%e", "CLIENT-SECRET"},
		{"%[2]v %[1]s %[11]q %[3]x %[12]v", "eyJhbGciOiJSUzI1NiJ9.e30.c2ln"},
		{"%v %v %v %v %v %v %v %v %v %v %v %v %v", "a"},
		{"%!v(MISSING) %", "[REDACTED]"},
		{"no verbs at all", "tok"},
		{"%*d %.*s %-*v", "pw"},
		{"%#+v %#-v %#q", "Bearer abc"},
		{"%s", "\x00\xff invalid utf-8"},
		{"%v", `{"access_token":"x"}`},
		{"%p %w", "leak-if-not-skipped"},
		{"%[1]p %[1]w %[2]p", "leak-if-not-skipped-2"},
	}
	for _, s := range seeds {
		f.Add(s.format, s.secret)
	}
	f.Fuzz(func(t *testing.T, format, secret string) {
		// Widths of 10000 and more only make huge padding, slowly.
		if secret == "" || len(format) > 512 || len(secret) > 256 || fuzzSecretHugeNumber.MatchString(format) {
			return
		}
		format = fuzzSecretSafeVerbs(format)
		other := strings.Repeat("Z", len(secret)+1)
		if strings.Contains(other, secret) {
			other = strings.Repeat("Q", len(secret)+1)
		}
		outs := fuzzSecretRender(format, secret)
		ctrl := fuzzSecretRender(format, other)
		for i := range outs {
			// Pointers print as addresses, which differ between the runs.
			outs[i].text = fuzzSecretAddr.ReplaceAllString(outs[i].text, "0xADDR")
			ctrl[i].text = fuzzSecretAddr.ReplaceAllString(ctrl[i].text, "0xADDR")
			if outs[i].text != ctrl[i].text {
				t.Fatalf("%s output depends on the secret value:\n with %q: %q\n with %q: %q",
					outs[i].how, secret, outs[i].text, other, ctrl[i].text)
			}
			if strings.Contains(outs[i].text, secret) && !strings.Contains(format, secret) &&
				!strings.Contains(ctrl[i].text, secret) {
				t.Fatalf("%s output %q contains the raw secret %q", outs[i].how, outs[i].text, secret)
			}
		}
	})
}

type fuzzSecretOutput struct{ how, text string }

var (
	fuzzSecretAddr       = regexp.MustCompile(`0x[0-9a-f]{6,}`)
	fuzzSecretHugeNumber = regexp.MustCompile(`[0-9]{5,}`)
)

// fuzzSecretRender renders values wrapping secret every way.
func fuzzSecretRender(format, secret string) []fuzzSecretOutput {
	s := tenantauth.Secret(secret)
	issued := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	tok := tenantauth.Token{AccessToken: s, TokenType: "Bearer", RefreshToken: s, Expiry: issued.Add(time.Hour),
		RefreshExpiry: issued.Add(2 * time.Hour), Scope: "profile", IssuedAt: issued}
	creds := tenantauth.Credentials{Grant: tenantauth.GrantPassword, ClientID: "client", ClientSecret: s,
		Username: "user@example.com", Password: s, Scopes: []string{"profile"}}
	req := tenantauth.TokenRequest{Grant: tenantauth.GrantRefreshToken, Credentials: creds, RefreshToken: s}
	tenant := tenantauth.Tenant{ID: "acme", Credentials: creds, APIHosts: []string{"api.example.com"}}
	args := []any{
		s, tok, &tok, creds, &creds, req, tenant, []tenantauth.Secret{s, s},
		map[string]tenantauth.Secret{"k": s}, struct{ S tenantauth.Secret }{s},
		struct {
			T *tenantauth.Token
			C tenantauth.Credentials
		}{&tok, creds},
		tenantauth.Tenants{"acme": tenant},
	}

	outs := []fuzzSecretOutput{
		{"fmt.Sprintf", fmt.Sprintf(format, args...)},
		{"fmt.Errorf", fmt.Errorf(format, args...).Error()},
		{"fmt.Sprint", fmt.Sprint(args...)},
		{"fmt.Sprintln", fmt.Sprintln(args...)},
	}
	// One argument at a time too: a format with one verb then reaches
	// every value.
	for i, a := range args {
		outs = append(outs, fuzzSecretOutput{fmt.Sprintf("fmt.Sprintf(arg %d)", i), fmt.Sprintf(format, a)})
	}
	var text, js bytes.Buffer
	noTime := func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}
	opts := &slog.HandlerOptions{Level: slog.LevelDebug, ReplaceAttr: noTime}
	for _, h := range []slog.Handler{slog.NewTextHandler(&text, opts), slog.NewJSONHandler(&js, opts)} {
		l := slog.New(h)
		key := format
		if !utf8.ValidString(key) {
			key = "k"
		}
		l.Debug(format, key, s, "token", tok, "ptr", &tok, "creds", creds, "req", req, "tenant", tenant,
			"secrets", []tenantauth.Secret{s}, "tenants", tenantauth.Tenants{"acme": tenant})
		l.With("secret", s).WithGroup(key).Info("grouped", slog.Any("token", tok), slog.Any("creds", &creds))
	}
	outs = append(outs, fuzzSecretOutput{"slog text", text.String()}, fuzzSecretOutput{"slog JSON", js.String()})
	for i, a := range args {
		b, err := json.Marshal(a)
		if err != nil {
			b = []byte(err.Error())
		}
		outs = append(outs, fuzzSecretOutput{fmt.Sprintf("json.Marshal(arg %d)", i), string(b)})
	}
	wrapped := fmt.Errorf("wrapped: %w", errors.New(fmt.Sprint(args...)))
	outs = append(outs, fuzzSecretOutput{"wrapped error", wrapped.Error()})
	return outs
}

// fuzzSecretSafeVerbs replaces the verbs p and w by v (see FuzzSecretFormat
// for why they cannot be redacted), leaving everything else as it is.
func fuzzSecretSafeVerbs(format string) string {
	b := []byte(format)
	for i := 0; i < len(b); i++ {
		if b[i] != '%' {
			continue
		}
		j := i + 1
		// Flags, width, precision and argument indexes, as fmt reads them.
		for j < len(b) && strings.IndexByte("+-# 0123456789.*[]", b[j]) >= 0 {
			j++
		}
		if j < len(b) && (b[j] == 'p' || b[j] == 'w') {
			b[j] = 'v'
		}
		i = j // "%%" skips the second '%'
	}
	return string(b)
}

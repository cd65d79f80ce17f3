package tokenclient

import (
	"net/http"
	"testing"
)

func BenchmarkParse(b *testing.B) {
	bodies := []struct {
		name   string
		status int
		body   string
	}{
		{"keycloak", 200, keycloakExample},
		{"hubsoft", 200, hubsoftExample},
		{"jwt", 200, `{"access_token":"eyJhbGciOiJSUzI1NiIsInR5cCIgOiAiSldUIiwia2lkIiA6ICJ4In0.` +
			`eyJleHAiOjE3MTU3MDQwMzgsImlhdCI6MTcxNTcwNDAzOCwianRpIjoiMDAwMDAwMDAtMDAwMC0wMDAwLTAwMDAtMDAwMDAwMDAwMDAwIn0.` +
			`c2lnbmF0dXJlc2lnbmF0dXJlc2lnbmF0dXJlc2lnbmF0dXJlc2lnbmF0dXJl","expires_in":"300","refresh_expires_in":1800,` +
			`"refresh_token":"eyJhbGciOiJIUzI1NiJ9.e30.c2ln","token_type":"bearer","not-before-policy":0,` +
			`"session_state":"00000000-0000-0000-0000-000000000000","scope":"openid profile email"}`},
		{"passport error", 400, passportWrongPassword},
		{"html 502", 502, htmlBadGateway},
	}
	h := http.Header{"Content-Type": {"application/json"}}
	for _, bb := range bodies {
		body := []byte(bb.body)
		b.Run(bb.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				_, _ = Parse(testEndpoint, bb.status, h, body, testNow, ParseOptions{})
			}
		})
	}
}

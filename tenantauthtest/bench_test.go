package tenantauthtest

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// benchDialects builds each dialect's client_credentials request.
var benchDialects = []struct {
	name  string
	start func(Config) *Server
	req   func(s *Server) *http.Request
}{
	{"keycloak", NewKeycloak, func(s *Server) *http.Request {
		r, _ := http.NewRequest(http.MethodPost, s.TokenURL(), strings.NewReader(url.Values{
			"grant_type": {"client_credentials"}, "client_id": {"client"}, "client_secret": {"secret"},
		}.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return r
	}},
	{"passport", NewPassport, func(s *Server) *http.Request {
		r, _ := http.NewRequest(http.MethodPost, s.TokenURL(), strings.NewReader(
			`{"grant_type":"client_credentials","client_id":"client","client_secret":"secret"}`))
		r.Header.Set("Content-Type", "application/json")
		return r
	}},
	{"standard", NewStandard, func(s *Server) *http.Request {
		r, _ := http.NewRequest(http.MethodPost, s.TokenURL(), strings.NewReader("grant_type=client_credentials"))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.SetBasicAuth("client", "secret") // needs no form-encoding
		return r
	}},
}

// BenchmarkTokenEndpoint measures one token request through the handler,
// without the network: parsing, client check, issuing, encoding.
func BenchmarkTokenEndpoint(b *testing.B) {
	for _, d := range benchDialects {
		b.Run(d.name, func(b *testing.B) {
			s := d.start(Config{})
			defer s.Close()
			b.ReportAllocs()
			for b.Loop() {
				w := httptest.NewRecorder()
				s.serveHTTP(w, d.req(s))
				if w.Code != http.StatusOK {
					b.Fatalf("status %d", w.Code)
				}
			}
		})
	}
}

// BenchmarkAPI measures the protected API's hot path (token lookup under
// the lock, hashing, encoding), from many goroutines.
func BenchmarkAPI(b *testing.B) {
	for _, d := range benchDialects {
		b.Run(d.name, func(b *testing.B) {
			s := d.start(Config{})
			defer s.Close()
			w := httptest.NewRecorder()
			s.serveHTTP(w, d.req(s))
			var tok struct {
				AccessToken string `json:"access_token"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &tok); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					r := httptest.NewRequest(http.MethodGet, "/api/v1/items", nil)
					r.Header.Set("Authorization", "Bearer "+tok.AccessToken)
					w := httptest.NewRecorder()
					s.serveHTTP(w, r)
					if w.Code != http.StatusOK {
						b.Errorf("status %d", w.Code)
						return
					}
				}
			})
		})
	}
}

// BenchmarkTokenRoundTrip measures a token request over loopback HTTP, what
// a test pays per token.
func BenchmarkTokenRoundTrip(b *testing.B) {
	for _, d := range benchDialects {
		b.Run(d.name, func(b *testing.B) {
			s := d.start(Config{})
			defer s.Close()
			c := s.Client()
			b.ReportAllocs()
			for b.Loop() {
				resp, err := c.Do(d.req(s))
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Fatalf("status %d", resp.StatusCode)
				}
			}
		})
	}
}

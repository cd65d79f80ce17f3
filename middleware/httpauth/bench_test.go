package httpauth

import (
	"context"
	"net/http"
	"testing"
)

// noopBase answers every request with the same static response, so the
// benchmark measures the Transport alone.
type noopBase struct{ resp *http.Response }

func (b noopBase) RoundTrip(*http.Request) (*http.Response, error) { return b.resp, nil }

// BenchmarkTransportCachedHit measures RoundTrip's overhead when the
// tenant's token is cached: find the tenant, take the token, copy the
// request with its Authorization header, call the base. Run with
// -cpu 1,2; golang.org/x/oauth2's Transport is compared in benchmarks/.
func BenchmarkTransportCachedHit(b *testing.B) {
	p := &fakeProvider{}
	m := newManager(b, p)
	base := noopBase{resp: &http.Response{StatusCode: 200, Body: http.NoBody, Header: http.Header{}}}
	tr := NewTransport(m, base)

	req, _ := http.NewRequestWithContext(acmeCtx(), "GET", "https://api.example.com/v1/things", nil)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "svc/1.0")
	if _, err := m.Token(context.Background(), "acme"); err != nil {
		b.Fatal(err)
	}

	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := tr.RoundTrip(req)
			if err != nil || resp.StatusCode != 200 {
				b.Errorf("RoundTrip: %v", err)
				return
			}
		}
	})
	b.StopTimer()
	if n := p.requests.Load(); n != 1 {
		b.Fatalf("token requests = %d; want 1 (every call a cache hit)", n)
	}
}

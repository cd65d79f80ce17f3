package httpauth

import (
	"fmt"
	"net/http"
	"reflect"
	"testing"
)

func TestWithAuthorization(t *testing.T) {
	big := http.Header{}
	for i := range inlineValues + 3 {
		big.Add(fmt.Sprintf("X-H%d", i), "v")
	}
	tests := []struct {
		name   string
		header http.Header
		want   http.Header
	}{
		{name: "nil", header: nil, want: http.Header{"Authorization": {"Bearer t"}}},
		{name: "empty", header: http.Header{}, want: http.Header{"Authorization": {"Bearer t"}}},
		{name: "values", header: http.Header{"Accept": {"a"}, "X-Multi": {"1", "2"}},
			want: http.Header{"Accept": {"a"}, "X-Multi": {"1", "2"}, "Authorization": {"Bearer t"}}},
		{name: "nil value kept", header: http.Header{"X-Nil": nil},
			want: http.Header{"X-Nil": nil, "Authorization": {"Bearer t"}}},
		{name: "empty value kept", header: http.Header{"X-Empty": {}},
			want: http.Header{"X-Empty": {}, "Authorization": {"Bearer t"}}},
		{name: "caller Authorization replaced", header: http.Header{"Authorization": {"Basic a", "Basic b"}, "Accept": {"a"}},
			want: http.Header{"Accept": {"a"}, "Authorization": {"Bearer t"}}},
		{name: "non-canonical authorization replaced", header: http.Header{"authorization": {"Basic a"}, "AUTHORIZATION": {"Basic b"}},
			want: http.Header{"Authorization": {"Bearer t"}}},
		{name: "beyond inline storage", header: big, want: func() http.Header {
			h := big.Clone()
			h["Authorization"] = []string{"Bearer t"}
			return h
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", "https://api.example.com/", nil)
			req.Header = tt.header
			orig := tt.header.Clone()
			c := withAuthorization(req, "Bearer t")
			if !reflect.DeepEqual(c.Header, tt.want) {
				t.Errorf("header = %v; want %v", c.Header, tt.want)
			}
			if c == req || c.URL != req.URL || c.Method != req.Method {
				t.Error("not a shallow copy of the request")
			}
			// Appending to any value of the copy must not reach a
			// neighbour's values or the original.
			for k := range c.Header {
				c.Header[k] = append(c.Header[k], "appended")
			}
			for k, vv := range c.Header {
				want := append(append([]string{}, tt.want[k]...), "appended")
				if !reflect.DeepEqual(vv, want) {
					t.Errorf("%s = %q after one append to every key; want %q", k, vv, want)
				}
			}
			if !reflect.DeepEqual(req.Header, orig) {
				t.Errorf("original header changed: %v; want %v", req.Header, orig)
			}
		})
	}
}

func TestWithAuthorizationAllocs(t *testing.T) {
	req, _ := http.NewRequest("GET", "https://api.example.com/", nil)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "svc/1.0")
	req.Header.Set("X-Request-Id", "abc")
	n := testing.AllocsPerRun(1000, func() { _ = withAuthorization(req, "Bearer t") })
	if n > 3 {
		t.Errorf("allocs = %v; want ≤ 3", n)
	}
	t.Logf("withAuthorization: %v allocs", n)
}

func BenchmarkWithAuthorization(b *testing.B) {
	req, _ := http.NewRequest("GET", "https://api.example.com/", nil)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "svc/1.0")
	b.Run("withAuthorization", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = withAuthorization(req, "Bearer t")
		}
	})
	b.Run("Clone+Set", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			r := req.Clone(req.Context())
			r.Header.Set("Authorization", "Bearer t")
		}
	})
}

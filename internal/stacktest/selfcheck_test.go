package stacktest

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tenantauth/tenantauth"
)

// The detectors the matrix and the soak rely on must be able to fire.
// These tests feed them the violations directly.

func TestAPIServerDetectsViolations(t *testing.T) {
	reg := newRegistry()
	api := newAPIServer(t, reg)
	reg.add("tok-a", "a", time.Now().Add(time.Hour))
	reg.add("tok-old", "a", time.Now().Add(-time.Second))
	reg.add("tok-revoked", "b", time.Now().Add(time.Hour))
	reg.revokeTenant("b")
	tests := []struct {
		tenant string
		auth   []string
		want   int
		count  func() int64
	}{
		{"a", []string{"Bearer tok-a"}, 200, api.ok.Load},
		{"a", nil, 401, api.noToken.Load},
		{"b", []string{"Bearer tok-a"}, 401, api.wrongTenant.Load},
		{"a", []string{"Bearer tok-unknown"}, 401, api.unknownToken.Load},
		{"a", []string{"Bearer tok-old"}, 401, api.expired.Load},
		{"b", []string{"Bearer tok-revoked"}, 401, api.revoked.Load},
		{"a", []string{"Basic tok-a"}, 401, api.malformed.Load},
		{"a", []string{"Bearer tok-a", "Bearer tok-a"}, 401, api.malformed.Load},
	}
	for _, tt := range tests {
		before := tt.count()
		req, _ := http.NewRequest(http.MethodGet, api.url(tt.tenant), nil)
		for _, v := range tt.auth {
			req.Header.Add("Authorization", v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.want || tt.count()-before != 1 {
			t.Errorf("tenant %s, Authorization %q: status %d, counter +%d; want %d, +1",
				tt.tenant, tt.auth, resp.StatusCode, tt.count()-before, tt.want)
		}
	}
	http.DefaultClient.CloseIdleConnections()
}

func TestTokenServerRefusesWhatARealServerWould(t *testing.T) {
	for _, d := range dialects {
		t.Run(d.String(), func(t *testing.T) {
			reg := newRegistry()
			good := newAccount("good", tenantauth.GrantPassword)
			srv := newTokenServer(t, tokenServerConfig{dialect: d, reg: reg, accounts: []account{good}})
			hc, tr := tokenClient(nil, nil)
			defer tr.CloseIdleConnections()
			p := newProvider(t, d, srv.URL(), hc)

			wrongSecret := good.credentials()
			wrongSecret.ClientSecret = "nope"
			wrongPassword := good.credentials()
			wrongPassword.Password = "nope"
			for i, c := range []tenantauth.Credentials{good.credentials(), wrongSecret, wrongPassword} {
				_, err := p.Exchange(context.Background(), tenantauth.TokenRequest{Credentials: c})
				if (err == nil) != (i == 0) {
					t.Errorf("credentials %d: error %v", i, err)
				}
			}
			if n := srv.badRequests.Load(); n != 2 {
				t.Errorf("badRequests = %d, want 2", n)
			}
			if n := srv.issued.Load(); n != 1 {
				t.Errorf("issued = %d, want 1", n)
			}
		})
	}
}

// failRecorder is a testing.TB that records failures instead of failing.
type failRecorder struct {
	testing.TB
	msgs []string
}

func (f *failRecorder) Helper() {}

func (f *failRecorder) Errorf(format string, args ...any) {
	f.msgs = append(f.msgs, fmt.Sprintf(format, args...))
}

func TestCheckGoroutinesDetectsLeak(t *testing.T) {
	before := checkGoroutinesWait
	checkGoroutinesWait = 50 * time.Millisecond
	defer func() { checkGoroutinesWait = before }()

	// Twenty leaks, so that goroutines of earlier tests that end meanwhile
	// cannot hide them.
	const leaks = 20
	base := runtime.NumGoroutine()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range leaks {
		wg.Add(1)
		go func() { defer wg.Done(); <-stop }()
	}
	fr := &failRecorder{TB: t}
	checkGoroutines(fr, base)
	close(stop)
	wg.Wait()
	if len(fr.msgs) != 1 || !strings.Contains(fr.msgs[0], "goroutines left behind") {
		t.Errorf("a leaked goroutine was not reported: %q", fr.msgs)
	}
}

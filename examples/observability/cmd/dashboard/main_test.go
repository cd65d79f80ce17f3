package main

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// samples writes a small samples file: four scrapes a second apart.
func samples(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("seconds,metric,labels,value\n")
	ep := `tenantauth_endpoint=""http://127.0.0.1:1/realms/fluencypass/protocol/openid-connect/token""`
	b.WriteString(`0,phase,"{name=""warm-up""}",1` + "\n")
	for i := range 4 {
		sec := float64(i)
		if i == 2 {
			b.WriteString(`2,phase,"{name=""outage""}",1` + "\n")
		}
		fmt.Fprintf(&b, `%g,tenantauth_token_fetches_total,"{%s,tenantauth_outcome=""success""}",%d`+"\n", sec, ep, 10*i)
		fmt.Fprintf(&b, `%g,tenantauth_breaker_state,"{%s}",%d`+"\n", sec, ep, min(i, 2))
		for _, le := range []string{"0.01", "0.1", "+Inf"} {
			n := 10 * i
			if le == "0.01" {
				n = 5 * i
			}
			fmt.Fprintf(&b, `%g,tenantauth_token_fetch_duration_seconds_bucket,"{%s,le=""%s""}",%d`+"\n", sec, ep, le, n)
		}
		fmt.Fprintf(&b, `%g,tenantauth_cache_hits_total,"{}",%d`+"\n", sec, 640*i)
	}
	path := filepath.Join(t.TempDir(), "samples.csv")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestRender(t *testing.T) {
	in := samples(t)
	for _, name := range []string{"d.png"} { // .svg works alike; the race detector makes each slow
		out := filepath.Join(t.TempDir(), name)
		if err := render(in, out); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(name, ".png") && !bytes.HasPrefix(b, []byte("\x89PNG")) || len(b) < 1000 {
			t.Errorf("%s: %d bytes, not a picture", name, len(b))
		}
	}
	if err := render(in, filepath.Join(t.TempDir(), "d.gif")); err == nil {
		t.Error("rendered a .gif")
	}
}

func TestRateAndQuantile(t *testing.T) {
	f, err := os.Open(samples(t))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d, err := load(f)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.times) != 4 || len(d.phases) != 2 {
		t.Fatalf("%d times, %d phases", len(d.times), len(d.phases))
	}
	rates := d.sumBy("tenantauth_token_fetches_total", "tenantauth_outcome", d.rate)["success"]
	if rates[0].Y != 0 || rates[3].Y != 10 {
		t.Errorf("rates %v, want 0 then 10/s", rates)
	}
	// Half of the observations are under 10 ms, all under 100 ms: the
	// median is at 10 ms, the 75th percentile halfway to 100 ms.
	if q := d.quantile("tenantauth_token_fetch_duration_seconds", 0.5)[3].Y; math.Abs(q-0.01) > 1e-9 {
		t.Errorf("p50 = %v, want 0.01", q)
	}
	if q := d.quantile("tenantauth_token_fetch_duration_seconds", 0.75)[3].Y; math.Abs(q-0.055) > 1e-9 {
		t.Errorf("p75 = %v, want 0.055", q)
	}
	if q := d.quantile("tenantauth_token_fetch_duration_seconds", 0.5)[0].Y; !math.IsNaN(q) {
		t.Errorf("p50 with no observation = %v, want NaN", q)
	}
}

package benchmarks

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tenantauth/tenantauth"
	"github.com/tenantauth/tenantauth/benchmarks/internal/contender"
	"github.com/tenantauth/tenantauth/benchmarks/internal/standin"
)

// impls are the contenders as they appear in benchmark names (a sub-benchmark
// name cannot hold the slash of "x/oauth2").
var impls = []struct{ bench, name string }{
	{"tenantauth", contender.NameTenantauth},
	{"oauth2", contender.NameOAuth2},
	{"naive", contender.NameNaive},
}

// largeTenants is the smallest tenant count whose fixtures take a noticeable
// time to build; quickRun skips it and every larger one.
const largeTenants = 100_000

// quickRun reports whether this is CI's one-shot run (-benchtime=Nx with
// N < 100, and -count 1): then the cases of 100 000 tenants and more, which
// spend most of their time building fixtures, are skipped. A run with -count > 1 (as in
// run.sh's memory benchmarks) is a measurement and includes them.
func quickRun() bool {
	bt, cnt := flag.Lookup("test.benchtime"), flag.Lookup("test.count")
	if bt == nil || cnt == nil || cnt.Value.String() != "1" {
		return false
	}
	n, ok := strings.CutSuffix(bt.Value.String(), "x")
	if !ok {
		return false
	}
	var iters int
	_, err := fmt.Sscan(n, &iters)
	return err == nil && iters < 100
}

func skipLarge(b *testing.B, tenants int) {
	if tenants >= largeTenants && quickRun() {
		b.Skipf("%d tenants: skipped with -benchtime=Nx (N < 100) and -count 1: the fixture build dominates", tenants)
	}
}

// fixture is a contender with every tenant's token cached.
type fixture struct {
	c   contender.Contender
	idp *standin.IdP
	ids []string
}

var (
	fixturesMu sync.Mutex
	fixtures   = map[string]*fixture{}
)

// cachedFixture returns the filled contender for impl and n tenants, built
// once per test binary: with -count 10 and -cpu 1,2 the 100 000-tenant
// fills would otherwise dominate the run.
func cachedFixture(b *testing.B, name string, n int) *fixture {
	b.Helper()
	key := fmt.Sprintf("%s/%d", name, n)
	fixturesMu.Lock()
	defer fixturesMu.Unlock()
	if f, ok := fixtures[key]; ok {
		return f
	}
	f := newFixture(b, name, n, standin.NewNoop(), true)
	fixtures[key] = f
	return f
}

// newFixture builds a contender for n tenants on base; with fill, every
// tenant's token is fetched.
func newFixture(tb testing.TB, name string, n int, base http.RoundTripper, fill bool) *fixture {
	tb.Helper()
	idp := standin.NewIdP(standin.IdPConfig{Tenants: n, Lifetime: time.Hour}, standin.NewClock())
	c, err := contender.New(name, contender.Config{IdP: idp, Base: base, Tenants: n})
	if err != nil {
		tb.Fatal(err)
	}
	f := &fixture{c: c, idp: idp, ids: standin.TenantIDs(n)}
	if fill {
		f.fill(tb)
	}
	return f
}

func (f *fixture) fill(tb testing.TB) {
	tb.Helper()
	ctx := context.Background()
	for _, id := range f.ids {
		if _, err := f.c.Lookup(ctx, id); err != nil {
			tb.Fatal(err)
		}
	}
}

// requests returns one GET per tenant, tenant in context, to its API host.
func requests(ids []string) []*http.Request {
	out := make([]*http.Request, len(ids))
	for i, id := range ids {
		req, err := http.NewRequestWithContext(tenantauth.WithTenant(context.Background(), id),
			http.MethodGet, "https://"+standin.TenantHost(id)+"/v1/ping", nil)
		if err != nil {
			panic(err)
		}
		out[i] = req
	}
	return out
}

// offsets hands each RunParallel goroutine its own starting tenant, so
// goroutines do not walk the tenants in lockstep.
type offsets struct {
	mu   sync.Mutex
	next int
}

func (o *offsets) take(n int) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	v := o.next % n
	o.next += 7919 // a prime: spreads goroutines over the tenants
	return v
}

func TestMain(m *testing.M) {
	code := m.Run()
	fixturesMu.Lock()
	for _, f := range fixtures {
		_ = f.c.Close()
	}
	fixturesMu.Unlock()
	os.Exit(code)
}

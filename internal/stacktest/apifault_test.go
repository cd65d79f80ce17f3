package stacktest

import (
	"context"
	"net/http"
	"runtime"
	"testing"
	"time"

	"github.com/tenantauth/tenantauth"
)

// apiEnv is a stack with a victim and a bystander on healthy token servers
// of one dialect, for faults on the API side.
type apiEnv struct {
	reg                  *registry
	api                  *apiServer
	victimSrv, bystander *tokenServer
	st                   *stack
}

func newAPIEnv(t *testing.T, rec *recorder, d dialect, configure ...func(*tenantauth.Config)) *apiEnv {
	env := &apiEnv{reg: newRegistry()}
	env.api = newAPIServer(t, env.reg)
	victim := newAccount("victim", tenantauth.GrantPassword)
	bystander := newAccount("bystander", tenantauth.GrantPassword)
	env.victimSrv = newTokenServer(t, tokenServerConfig{dialect: d, reg: env.reg, accounts: []account{victim}})
	env.bystander = newTokenServer(t, tokenServerConfig{dialect: d, reg: env.reg, accounts: []account{bystander}})
	hc, tr := tokenClient(nil, nil)
	hosts := []string{env.api.host()}
	tenants := tenantauth.Tenants{
		"victim":    {Provider: newProvider(t, d, env.victimSrv.URL(), hc), Credentials: victim.credentials(), APIHosts: hosts},
		"bystander": {Provider: newProvider(t, d, env.bystander.URL(), hc), Credentials: bystander.credentials(), APIHosts: hosts},
	}
	env.st = newStack(t, rec, env.api, tenants, true, append([]func(*tenantauth.Config){matrixConfig}, configure...)...)
	env.st.closeIdleWith(tr)
	return env
}

func (env *apiEnv) close() {
	env.st.close()
	env.victimSrv.close()
	env.bystander.close()
	env.api.srv.Close()
}

// An apiRow is a fault of the API, not of the token endpoint.
type apiRow struct {
	name   string
	config func(*tenantauth.Config)
	run    func(t *testing.T, env *apiEnv)
}

func apiRows() []apiRow {
	const cooldown = 100 * time.Millisecond
	return []apiRow{
		{name: "401 after revocation is recovered once", run: func(t *testing.T, env *apiEnv) {
			env.st.mustGet("victim", "before the revocation")
			if n := env.reg.revokeTenant("victim"); n != 1 {
				t.Fatalf("revoked %d tokens, want 1", n)
			}
			status, err := env.st.get(context.Background(), "victim")
			if err != nil || status != http.StatusOK {
				t.Fatalf("after the revocation: status %d, error %v; want 200 after one retry", status, err)
			}
			if n := env.victimSrv.tenantRequests("victim"); n != 2 {
				t.Errorf("token requests = %d, want 2 (the first token and one after the 401)", n)
			}
			if c := env.api.counts("victim"); c.requests != 3 || c.unauthorized != 1 {
				t.Errorf("API saw %d requests, %d of them 401; want 3 and 1 (first call, rejected call, its retry)",
					c.requests, c.unauthorized)
			}
			if n := env.st.m.Stats().Invalidations; n != 1 {
				t.Errorf("Invalidations = %d, want 1", n)
			}
		}},
		{name: "401 forever is bounded by the cooldown",
			config: func(cfg *tenantauth.Config) { cfg.InvalidateCooldown = cooldown },
			run: func(t *testing.T, env *apiEnv) {
				env.st.mustGet("victim", "before the API turns hostile")
				env.api.setReject(func(tenant string) int {
					if tenant == "victim" {
						return http.StatusUnauthorized
					}
					return 0
				})
				start := time.Now()
				deadline := start.Add(time.Second)
				calls := 0
				for ; calls < 10_000 && time.Now().Before(deadline); calls++ {
					status, err := env.st.get(context.Background(), "victim")
					if err != nil || status != http.StatusUnauthorized {
						t.Fatalf("call %d: status %d, error %v; want the API's 401", calls, status, err)
					}
				}
				elapsed := time.Since(start)
				forced := env.victimSrv.tenantRequests("victim") - 1
				bound := int(elapsed/cooldown) + 1
				if forced > bound {
					t.Errorf("%d calls in %v cost %d token requests; bound elapsed/cooldown+1 = %d", calls, elapsed, forced, bound)
				}
				if forced < 1 {
					t.Errorf("no token request after %d rejections: the rejected token was never dropped", calls)
				}
				t.Logf("%d calls rejected in %v cost %d token requests (bound %d)", calls, elapsed, forced, bound)
			}},
		{name: "403 insufficient_scope is not retried", run: func(t *testing.T, env *apiEnv) {
			env.st.mustGet("victim", "before the 403")
			env.api.setReject(func(tenant string) int {
				if tenant == "victim" {
					return http.StatusForbidden
				}
				return 0
			})
			before := env.api.counts("victim").requests
			status, err := env.st.get(context.Background(), "victim")
			if err != nil || status != http.StatusForbidden {
				t.Fatalf("status %d, error %v; want the API's 403", status, err)
			}
			if n := env.api.counts("victim").requests - before; n != 1 {
				t.Errorf("API saw %d requests for one call, want 1 (403 is not retried)", n)
			}
			if n := env.victimSrv.tenantRequests("victim"); n != 1 {
				t.Errorf("token requests = %d, want 1 (403 does not invalidate)", n)
			}
			if n := env.st.m.Stats().Invalidations; n != 0 {
				t.Errorf("Invalidations = %d, want 0", n)
			}
		}},
	}
}

func TestAPIFaults(t *testing.T) {
	rec := newRecorder()
	for _, row := range apiRows() {
		for _, d := range dialects {
			t.Run(row.name+"/"+d.String(), func(t *testing.T) {
				goroutines := runtime.NumGoroutine()
				func() {
					var cfg []func(*tenantauth.Config)
					if row.config != nil {
						cfg = append(cfg, row.config)
					}
					env := newAPIEnv(t, rec, d, cfg...)
					defer env.close()
					env.st.mustGet("bystander", "before the fault")
					row.run(t, env)
					env.st.mustGet("bystander", "after the fault")
					if n := env.victimSrv.badRequests.Load() + env.bystander.badRequests.Load(); n != 0 {
						t.Errorf("token servers received %d requests a real server would refuse", n)
					}
					if c := env.api.counts("bystander"); c.unauthorized != 0 {
						t.Errorf("bystander got %d 401s", c.unauthorized)
					}
					checkAPIInvariants(t, env.api)
				}()
				checkGoroutines(t, goroutines)
			})
		}
	}
	rec.check(t)
	t.Log(rec.summary())
}

// Command replicas shows the shared token cache (tenantauth.Config.Shared)
// on Redis, on this machine only: five Managers in one process play five
// replicas of a service, and every replica asks for the token of every one
// of 200 tenants at once, first each on its own, then sharing through
// Redis.
//
//	go run .
//
// It starts a redis-server (from PATH, on 127.0.0.1 and a free port,
// without persistence) and two stand-in token servers with their protected
// APIs (package tenantauthtest): a Keycloak for 100 Fluencypass tenants
// (client_credentials grant) and a Laravel Passport for 100 HubSoft tenants
// (password grant). It prints the token requests per tenant in both runs:
// alone, each replica fetches every token (five per tenant); sharing, one
// replica fetches each token and the others read it from Redis (one per
// tenant). Then an API refuses one tenant's token (revoked by its
// administrator); the replica whose call got the 401 drops it through
// httpauth's Transport, and the program prints how long it took until no
// replica sent the revoked token any more.
//
// Everything it starts is stopped before it exits. It exits 1 when a
// figure is not what the shared cache promises.
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/tenantauth/tenantauth"
	"github.com/tenantauth/tenantauth/middleware/httpauth"
	"github.com/tenantauth/tenantauth/providers/keycloak"
	"github.com/tenantauth/tenantauth/providers/passport"
	"github.com/tenantauth/tenantauth/shared/redis"
	"github.com/tenantauth/tenantauth/tenantauthtest"
)

const (
	replicas = 5
	tenants  = 200 // half on each stand-in server
	// latency is each token request's service time at the stand-ins.
	latency = 2 * time.Millisecond
	// timeLimit bounds the whole run.
	timeLimit = 30 * time.Second
)

// budget bounds each store call. The default, 50 ms, is too short for this
// start: a thousand token fetches begin at once in one process, whose CPUs
// they keep busy for longer than that (about 150 ms on a 2-CPU machine), so
// calls run out of budget while their replies wait to be read and each such
// replica fetches alone (824–996 token requests for 200 tenants in three
// runs at 50 ms). Real replicas each have their own CPUs; give a replica
// that starts cold with thousands of tenants at once a budget of this order.
// The tests raise it further for the race detector.
var budget = time.Second

// errNoRedis is run's error when redis-server is not in PATH.
var errNoRedis = errors.New("redis-server not found; install it: sudo apt-get install redis-server")

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), timeLimit)
	err := run(ctx, os.Stdout)
	cancel()
	if errors.Is(err, errNoRedis) {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "replicas: FAILED:", err)
		os.Exit(1)
	}
}

// run is the whole demo; it writes the report to w and returns an error
// when something did not go as promised.
func run(ctx context.Context, w io.Writer) (err error) {
	rs, err := startRedis(ctx)
	if err != nil {
		return err
	}
	defer rs.stop()

	idps, ts, err := startTenants()
	defer func() {
		for _, s := range idps {
			s.srv.Close()
		}
	}()
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "tenantauth replicas: %d replicas in one process, %d tenants on 2 token servers, redis-server on %s\n\n",
		replicas, tenants, rs.addr)

	var problems []string
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "\ttoken requests\tmost for one tenant\telapsed")
	for _, phase := range []struct {
		name   string
		shared bool
	}{{"without the shared cache", false}, {"with the shared cache (Redis)", true}} {
		c, err := startCluster(rs.addr, ts, phase.shared)
		if err != nil {
			return err
		}
		for _, s := range idps {
			s.srv.ResetStats()
		}
		elapsed, err := c.everyReplicaEveryTenant(ctx, ts)
		c.close()
		if err != nil {
			return fmt.Errorf("%s: %w", phase.name, err)
		}
		total, most := tokenRequests(idps)
		fmt.Fprintf(tw, "%s\t%d\t%d\t%v\n", phase.name, total, most, elapsed.Round(time.Millisecond))
		if phase.shared && (total != tenants || most != 1) {
			problems = append(problems, fmt.Sprintf("%s: %d token requests for %d tenants (at most %d for one), want one per tenant",
				phase.name, total, tenants, most))
		}
		if !phase.shared && total != replicas*tenants {
			problems = append(problems, fmt.Sprintf("%s: %d token requests, want %d", phase.name, total, replicas*tenants))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	if err := revocation(ctx, w, rs.addr, idps[0], ts); err != nil {
		problems = append(problems, err.Error())
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	fmt.Fprintln(w, "OK")
	return nil
}

// idp is one stand-in token server and the IDs of its tenants.
type idp struct {
	srv     *tenantauthtest.Server
	clients map[string]string // client ID → tenant ID
}

// startTenants starts the two stand-in servers, each with its own API, and
// describes the tenants that use them. The credentials are made up; the
// servers know them.
func startTenants() ([]*idp, tenantauth.Tenants, error) {
	clients, users := map[string]string{}, map[string]string{}
	for i := range tenants {
		id := fmt.Sprintf("tenant-%03d", i)
		clients[id] = id + "-client-secret"
		users["integration@"+id+".example"] = id + "-password"
	}
	kc := &idp{srv: tenantauthtest.NewKeycloak(tenantauthtest.Config{Clients: clients, Latency: latency}), clients: map[string]string{}}
	pp := &idp{srv: tenantauthtest.NewPassport(tenantauthtest.Config{Clients: clients, Users: users, Latency: latency}), clients: map[string]string{}}
	idps := []*idp{kc, pp}

	kp, err := keycloak.New(keycloak.Config{BaseURL: kc.srv.URL, Realm: "fluencypass"})
	if err != nil {
		return idps, nil, err
	}
	hp, err := passport.New(passport.Config{BaseURL: pp.srv.URL})
	if err != nil {
		return idps, nil, err
	}
	ts := tenantauth.Tenants{}
	for i := range tenants {
		id := fmt.Sprintf("tenant-%03d", i)
		cred := tenantauth.Credentials{ClientID: id, ClientSecret: tenantauth.Secret(clients[id])}
		s, p := kc, tenantauth.Provider(kp)
		if i%2 == 1 {
			s, p = pp, hp
			cred.Username, cred.Password = "integration@"+id+".example", tenantauth.Secret(id+"-password")
		}
		u, err := url.Parse(s.srv.APIURL())
		if err != nil {
			return idps, nil, err
		}
		s.clients[id] = id
		// The tenant's token may go to its own API's host:port only.
		ts[id] = tenantauth.Tenant{Provider: p, Credentials: cred, APIHosts: []string{u.Host}}
	}
	return idps, ts, nil
}

// tokenRequests returns the token requests of every tenant and the most
// any one tenant cost.
func tokenRequests(idps []*idp) (total, most int) {
	for _, s := range idps {
		st := s.srv.Stats()
		total += st.TokenRequests
		for client := range s.clients {
			most = max(most, st.ByClient[client])
		}
	}
	return total, most
}

// cluster is the replicas of one run: a Manager each, and with the shared
// cache a Store each (its own connections and subscription, as separate
// processes would have).
type cluster struct {
	ms     []*tenantauth.Manager
	stores []*redis.Store
}

// sealingKey seals the values in Redis. A real service reads the same 32
// random bytes on every replica from its secret store.
var sealingKey = func() tenantauth.Secret {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return tenantauth.Secret(b)
}()

func startCluster(addr string, ts tenantauth.Tenants, shared bool) (*cluster, error) {
	c := &cluster{}
	for range replicas {
		cfg := tenantauth.Config{Tenants: ts}
		if shared {
			s, err := redis.New(redis.Config{Addr: addr})
			if err != nil {
				c.close()
				return nil, err
			}
			c.stores = append(c.stores, s)
			cfg.Shared = tenantauth.SharedConfig{
				Store:  s,
				Keys:   []tenantauth.SharedKey{{ID: "demo", Secret: sealingKey}},
				Budget: budget,
			}
		}
		m, err := tenantauth.New(cfg)
		if err != nil {
			c.close()
			return nil, err
		}
		c.ms = append(c.ms, m)
	}
	return c, nil
}

// close closes the Managers, then their Stores.
func (c *cluster) close() {
	for _, m := range c.ms {
		m.Close()
	}
	for _, s := range c.stores {
		s.Close()
	}
}

// everyReplicaEveryTenant has every replica ask for every tenant's token,
// all at once.
func (c *cluster) everyReplicaEveryTenant(ctx context.Context, ts tenantauth.Tenants) (time.Duration, error) {
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, len(c.ms)*len(ts))
	for _, m := range c.ms {
		for id := range ts {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := m.Token(ctx, id); err != nil {
					errs <- err
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	return time.Since(start), <-errs // nil when no call failed
}

// revocation revokes one tenant's token at its API (its administrator
// did), has replica 1 call the API through httpauth's Transport (401, then
// a retry with a new token), and reports how long it took until no replica
// sent the revoked token any more.
func revocation(ctx context.Context, w io.Writer, addr string, s *idp, ts tenantauth.Tenants) error {
	const id = "tenant-006" // a Keycloak tenant
	c, err := startCluster(addr, ts, true)
	if err != nil {
		return err
	}
	defer c.close()
	var old *tenantauth.Token
	for _, m := range c.ms {
		if old, err = m.Token(ctx, id); err != nil {
			return err
		}
	}
	before := s.srv.Stats().ByClient[id]
	if !s.srv.Revoke(old.AccessToken.Reveal()) {
		return fmt.Errorf("%s's token was not known to its server", id)
	}

	base := &http.Transport{}
	defer base.CloseIdleConnections()
	client := &http.Client{Transport: httpauth.NewTransport(c.ms[1], base), Timeout: 5 * time.Second}
	req, err := http.NewRequestWithContext(tenantauth.WithTenant(ctx, id), http.MethodGet, s.srv.APIURL()+"/orders/1", nil)
	if err != nil {
		return err
	}
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("replica 1's call for %s: %s, want 200 after one retry", id, resp.Status)
	}

	// Poll every replica until none hands out the revoked token.
	deadline := start.Add(5 * time.Second)
	for i, m := range c.ms {
		for {
			tok, err := m.Token(ctx, id)
			if err == nil && tok.AccessToken != old.AccessToken {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("replica %d still sends %s's revoked token after 5 s", i, id)
			}
			time.Sleep(100 * time.Microsecond)
		}
	}
	elapsed := time.Since(start)
	st := s.srv.Stats()
	fetched := st.ByClient[id] - before
	fmt.Fprintf(w, "\n%s's token revoked at its API: replica 1's call got 401, dropped it and was retried with a new one;\n", id)
	fmt.Fprintf(w, "no replica of %d sent the revoked token %v after the 401; %d new token request for the cluster.\n",
		replicas, elapsed.Round(10*time.Microsecond), fetched)
	if fetched != 1 {
		return fmt.Errorf("%d token requests for %s after the revocation, want 1", fetched, id)
	}
	return nil
}

// redisServer is the redis-server run started.
type redisServer struct {
	addr   string
	cmd    *exec.Cmd
	dir    string
	exited chan struct{}
}

// startRedis runs redis-server on 127.0.0.1 and a free port, without
// persistence, and waits until it answers.
func startRedis(ctx context.Context) (*redisServer, error) {
	path, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, errNoRedis
	}
	dir, err := os.MkdirTemp("", "tenantauth-replicas-")
	if err != nil {
		return nil, err
	}
	// A port free a moment ago may be taken before redis-server binds
	// it: try a few.
	for range 5 {
		var rs *redisServer
		if rs, err = tryRedis(ctx, path, dir); err == nil {
			return rs, nil
		}
		if ctx.Err() != nil {
			break
		}
	}
	os.RemoveAll(dir)
	return nil, fmt.Errorf("redis-server did not start: %w", err)
}

func tryRedis(ctx context.Context, path, dir string) (*redisServer, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(path,
		"--bind", "127.0.0.1", "--port", strconv.Itoa(port),
		"--save", "", "--appendonly", "no", "--dir", dir,
		"--daemonize", "no", "--logfile", "")
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	rs := &redisServer{addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), cmd: cmd, dir: dir, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait() // killed at the end: its status says nothing
		close(rs.exited)
	}()

	s, err := redis.New(redis.Config{Addr: rs.addr})
	if err != nil {
		rs.kill()
		return nil, err
	}
	defer s.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		pctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		err = s.Ping(pctx)
		cancel()
		if err == nil {
			return rs, nil
		}
		select {
		case <-rs.exited:
			return nil, errors.New("redis-server exited at start")
		default:
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			rs.kill()
			return nil, fmt.Errorf("redis-server on %s did not answer PING: %w", rs.addr, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// kill stops the server and waits until it has exited.
func (rs *redisServer) kill() {
	_ = rs.cmd.Process.Kill()
	<-rs.exited
}

// stop kills the server and removes its directory.
func (rs *redisServer) stop() {
	rs.kill()
	os.RemoveAll(rs.dir)
}

// Command tokenload measures tenantauth against golang.org/x/oauth2 and a
// naive token map under load: N tenants with Zipf-distributed traffic from C
// workers, an in-process stand-in IdP (configurable latency, token lifetime
// and fault rate) and a no-op API that checks every request carries its own
// tenant's live token.
//
// Usage (from benchmarks/):
//
//	go run ./cmd/tokenload                      # the default scenarios, ~1.5 min
//	go run ./cmd/tokenload -all                 # and fill-1m, ~2 min
//	go run ./cmd/tokenload -smoke               # tiny run with checks, for CI
//	go run ./cmd/tokenload -scenarios steady,expiry -scale 2 -out results/
//	go run ./cmd/tokenload -scenarios fill-1k,fill-10k,fill-100k,fill-1m -out /tmp/fill
//	go run ./cmd/tokenload -scenarios coldstart-503,coldstart-429 -merge -out results/
//	go run ./cmd/tokenload -list
//	go run ./cmd/tokenload -scenarios idp-outage -contenders tenantauth -cpuprofile cpu.prof
//
// The load scenarios are cold-herd, steady, expiry, 401-storm, idp-outage,
// tenants-10k and tenants-100k (see -list). For each contender they report
// requests per second, token requests made against the ideal (one per
// tenant per token lifetime), requests that waited for the token endpoint,
// p50/p99/p99.9 latency of the auth layer, the heap it added and its
// goroutines.
//
// The fill scenarios fill-1k, fill-10k, fill-100k and fill-1m (not run by
// default: -all or -scenarios) send one request per cold tenant and report
// the fill's wall and CPU time, CPU time and live heap per tenant, and then
// the CPU time of a cached lookup over all those tenants.
//
// The cold-start scenarios coldstart-503 and coldstart-429 release one
// caller per tenant (3 000) at once on an IdP that serves 16 token requests
// at a time and refuses the rest (503, or 429 with Retry-After: 1); each
// caller sends one request and does not retry. They report the calls that
// failed, by kind, the IdP's refusals and token requests, and the time until
// every tenant had a token against the ideal (tenants ÷ capacity × latency).
//
// The tables go to stdout, a progress line to stderr, and with -out a JSON
// report (for cmd/plot) and a CSV file. With -merge, the results go into the
// report already at -out, replacing those of the same scenario and
// contender, so that a few scenarios can be rerun without the others.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tenantauth/tenantauth/benchmarks/internal/contender"
	"github.com/tenantauth/tenantauth/benchmarks/internal/load"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "tokenload:", err)
		os.Exit(1)
	}
}

// overrides are the flags that change every selected scenario.
type overrides struct {
	tenants, workers, requests  *int
	lookups                     *int
	duration, latency, lifetime *time.Duration
	fault, zipfS                *float64
}

func (o *overrides) apply(s load.Scenario) load.Scenario {
	if o.tenants != nil {
		s.Tenants = *o.tenants
		if s.Traffic == load.Herd {
			s.Requests = max(s.Requests, s.Tenants)
		}
	}
	if o.workers != nil {
		s.Workers = *o.workers
	}
	if o.requests != nil {
		s.Requests = *o.requests
	}
	if o.lookups != nil && s.Traffic == load.Fill {
		s.Lookups = *o.lookups
	}
	if o.duration != nil {
		s.Duration = *o.duration
	}
	if o.latency != nil {
		s.IdPLatency = *o.latency
	}
	if o.lifetime != nil {
		s.Lifetime = *o.lifetime
	}
	if o.fault != nil {
		s.FaultRate = *o.fault
	}
	if o.zipfS != nil {
		s.ZipfS = *o.zipfS
	}
	return s
}

func intFlag(fs *flag.FlagSet, name, usage string, dst **int) {
	fs.Func(name, usage, func(v string) error {
		n, err := strconv.Atoi(v)
		*dst = &n
		return err
	})
}

func durFlag(fs *flag.FlagSet, name, usage string, dst **time.Duration) {
	fs.Func(name, usage, func(v string) error {
		d, err := time.ParseDuration(v)
		*dst = &d
		return err
	})
}

func floatFlag(fs *flag.FlagSet, name, usage string, dst **float64) {
	fs.Func(name, usage, func(v string) error {
		f, err := strconv.ParseFloat(v, 64)
		*dst = &f
		return err
	})
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("tokenload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		smoke      = fs.Bool("smoke", false, "run tiny versions of every scenario (a few seconds) and fail on a broken invariant; for CI")
		list       = fs.Bool("list", false, "list the scenarios and exit")
		scenarios  = fs.String("scenarios", "", "comma-separated scenarios to run, any of -list (default: the default set)")
		all        = fs.Bool("all", false, "run every scenario, the slow ones left out of the default set (fill-1m) included")
		contenders = fs.String("contenders", strings.Join(contender.Names(), ","), "comma-separated contenders")
		scale      = fs.Float64("scale", 1, "multiply durations, token lifetimes and event times by this (longer, steadier runs)")
		out        = fs.String("out", "", "write the report: a directory (gets results.json and results.csv) or a .json or .csv file")
		merge      = fs.Bool("merge", false, "with -out (a directory or a .json file): merge into the report there, replacing results of the same scenario and contender")
		seed       = fs.Uint64("seed", 1, "seed of the workers' tenant choices")
		quiet      = fs.Bool("q", false, "no progress line on stderr")
		cpuprofile = fs.String("cpuprofile", "", "write a CPU profile of the whole run to this file (go tool pprof)")
		o          overrides
	)
	intFlag(fs, "tenants", "override every scenario's tenant count", &o.tenants)
	intFlag(fs, "workers", "override every scenario's concurrent workers (0: GOMAXPROCS)", &o.workers)
	intFlag(fs, "requests", "override every scenario's request bound", &o.requests)
	intFlag(fs, "lookups", "override the fill scenarios' cached lookups after the fill", &o.lookups)
	durFlag(fs, "duration", "override every scenario's measured duration", &o.duration)
	durFlag(fs, "latency", "override the IdP's latency per token request", &o.latency)
	durFlag(fs, "lifetime", "override the tokens' lifetime", &o.lifetime)
	floatFlag(fs, "fault", "override the fraction of token requests that fail", &o.fault)
	floatFlag(fs, "zipf", "override the Zipf exponent (> 1)", &o.zipfS)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *merge && (*out == "" || strings.EqualFold(filepath.Ext(*out), ".csv")) {
		return errors.New("-merge needs -out with a directory or a .json file")
	}

	pool := load.Defaults()
	switch {
	case *smoke:
		pool = load.Smoke()
	case *all || *scenarios != "" || *list:
		pool = load.All()
	}
	sel, err := load.Find(pool, split(*scenarios))
	if err != nil {
		return err
	}
	for i := range sel {
		sel[i] = o.apply(sel[i].Scaled(*scale)).Resolved()
		if err := sel[i].Validate(); err != nil {
			return err
		}
	}
	if *list {
		defaults := map[string]bool{}
		for _, s := range load.Defaults() {
			defaults[s.Name] = true
		}
		for _, s := range sel {
			extra := ""
			if !defaults[s.Name] && !*smoke {
				extra = " (not in the default set: -all or -scenarios)"
			}
			fmt.Fprintf(stdout, "%-14s %s%s\n", s.Name, s.Description, extra)
		}
		return nil
	}
	names := split(*contenders)
	for _, n := range names {
		if _, err := contender.New(n, contender.Config{}); err != nil && strings.Contains(err.Error(), "unknown contender") {
			return err
		}
	}

	rep := &load.Report{
		Machine:   load.ThisMachine(),
		Command:   "tokenload " + strings.Join(args, " "),
		Started:   time.Now().UTC().Truncate(time.Second),
		Scenarios: sel,
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	opt := load.Options{Seed: *seed}
	if !*quiet {
		opt.Progress = stderr
		opt.Terminal = isTerminal(stderr)
	}
	for si, s := range sel {
		// Rotate who goes first from one scenario to the next, so that
		// no contender always runs on a freshly collected heap or right
		// after the largest one. The table lists them in the usual order.
		byName := make(map[string]load.Result, len(names))
		for k := range names {
			n := names[(si+k)%len(names)]
			if err := ctx.Err(); err != nil {
				return err
			}
			res, err := load.Run(ctx, s, n, opt)
			if err != nil {
				return err
			}
			byName[n] = res
			if opt.Progress != nil {
				if opt.Terminal {
					fmt.Fprint(stderr, "\r\x1b[K")
				}
				switch {
				case res.IsColdStart():
					all := "not every tenant"
					if secs, ok := res.AllTokensSeconds(); ok {
						all = fmt.Sprintf("every tenant in %.2fs", secs)
					}
					fmt.Fprintf(stderr, "tokenload: %-12s %-10s done: %d of %d calls failed, %d refusals, %s had a token (ideal %.2fs)\n",
						s.Name, n, res.FailedCalls(), res.Requests, res.Refusals, all, res.IdealSeconds)
				case res.IsFill():
					fmt.Fprintf(stderr, "tokenload: %-12s %-10s done: %d tenants in %.2fs, %.0f ns CPU and %.0f B per tenant, lookup %.1f ns CPU\n",
						s.Name, n, res.FillTenants, res.FillSeconds, res.FillCPUPerTenant, res.BytesPerTenant, res.LookupCPUNs)
				default:
					warm := ""
					if s.Warm {
						warm = fmt.Sprintf(", warm-up %.2fs", res.WarmSeconds)
					}
					fmt.Fprintf(stderr, "tokenload: %-12s %-10s done: %s req/s, %d token requests%s\n",
						s.Name, n, load.Count(res.RPS), res.TokenRequests, warm)
				}
			}
		}
		for _, n := range names {
			rep.Results = append(rep.Results, byName[n])
		}
	}

	if err := rep.WriteTable(stdout); err != nil {
		return err
	}
	fmt.Fprintln(stdout)
	writeRatios(stdout, rep)
	if *out != "" {
		if *merge {
			var err error
			if rep, err = mergeInto(*out, rep); err != nil {
				return err
			}
		}
		if err := writeOut(*out, rep); err != nil {
			return err
		}
	}
	if *smoke {
		return checkSmoke(rep)
	}
	return nil
}

func split(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// writeRatios prints tenantauth's figures relative to x/oauth2's, per
// scenario: what benchmarks/README.md quotes.
func writeRatios(w io.Writer, rep *load.Report) {
	type key struct{ scenario, contender string }
	byKey := map[key]load.Result{}
	for _, r := range rep.Results {
		byKey[key{r.Scenario, r.Contender}] = r
	}
	printed := false
	for _, s := range rep.Scenarios {
		ta, ok1 := byKey[key{s.Name, contender.NameTenantauth}]
		o2, ok2 := byKey[key{s.Name, contender.NameOAuth2}]
		if !ok1 || !ok2 {
			continue
		}
		if !printed {
			fmt.Fprintln(w, "tenantauth relative to x/oauth2 (same run):")
			printed = true
		}
		if ta.IsColdStart() {
			allTokens := func(r load.Result) string {
				if secs, ok := r.AllTokensSeconds(); ok {
					return fmt.Sprintf("%.2fs", secs)
				}
				return "never"
			}
			fmt.Fprintf(w, "  %-13s failed calls %d vs %d  IdP refusals %d vs %d  token requests %d vs %d  every tenant a token: %s vs %s (ideal %.2fs)\n",
				s.Name, ta.FailedCalls(), o2.FailedCalls(), ta.Refusals, o2.Refusals, ta.TokenRequests, o2.TokenRequests,
				allTokens(ta), allTokens(o2), ta.IdealSeconds)
			continue
		}
		if ta.IsFill() {
			fmt.Fprintf(w, "  %-13s fill CPU %s  fill time %s  B/tenant %s  lookup CPU %s  filled %d vs %d\n",
				s.Name, ratio(ta.FillCPUSeconds, o2.FillCPUSeconds), ratio(ta.FillSeconds, o2.FillSeconds),
				ratio(ta.BytesPerTenant, o2.BytesPerTenant), ratio(ta.LookupCPUNs, o2.LookupCPUNs),
				ta.FillTenants, o2.FillTenants)
			continue
		}
		fmt.Fprintf(w, "  %-13s throughput %s  p99 %s  p99.9 %s  token requests %s  waited %d vs %d  errors %d vs %d\n",
			s.Name, ratio(ta.RPS, o2.RPS), ratio(float64(ta.P99), float64(o2.P99)),
			ratio(float64(ta.P999), float64(o2.P999)),
			ratio(float64(ta.TokenRequests), float64(o2.TokenRequests)), ta.Waited, o2.Waited, ta.Errors, o2.Errors)
	}
}

func ratio(a, b float64) string {
	if b == 0 {
		if a == 0 {
			return "  = "
		}
		return "  ∞ "
	}
	return fmt.Sprintf("×%.2f", a/b)
}

// mergeInto reads the report at out (a directory's results.json, or a
// .json file) and returns it with rep merged in: each result of rep
// replaces the one of the same scenario and contender, or is appended; so
// are the scenarios, by name. Reports of different machines are not
// merged. A missing report is no error: rep is returned as it is.
func mergeInto(out string, rep *load.Report) (*load.Report, error) {
	path := out
	if !strings.EqualFold(filepath.Ext(out), ".json") {
		path = filepath.Join(out, "results.json")
	}
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return rep, nil
	}
	if err != nil {
		return nil, err
	}
	old, err := load.ReadReport(f)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("-merge: %s: %w", path, err)
	}
	if old.Machine != rep.Machine {
		return nil, fmt.Errorf("-merge: %s comes from another machine (%+v, this one %+v); rerun everything instead", path, old.Machine, rep.Machine)
	}
	for _, s := range rep.Scenarios {
		i := slices.IndexFunc(old.Scenarios, func(o load.Scenario) bool { return o.Name == s.Name })
		if i < 0 {
			old.Scenarios = append(old.Scenarios, s)
		} else {
			old.Scenarios[i] = s
		}
	}
	for _, r := range rep.Results {
		i := slices.IndexFunc(old.Results, func(o load.Result) bool { return o.Scenario == r.Scenario && o.Contender == r.Contender })
		if i < 0 {
			old.Results = append(old.Results, r)
		} else {
			old.Results[i] = r
		}
	}
	old.Merged = append(old.Merged, load.MergedRun{Command: rep.Command, Started: rep.Started})
	return old, nil
}

// writeOut writes the report to a directory (results.json, results.csv) or
// to a .json or .csv file.
func writeOut(path string, rep *load.Report) error {
	var files []string
	switch strings.ToLower(filepath.Ext(path)) {
	case ".json", ".csv":
		if dir := filepath.Dir(path); dir != "." {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
		}
		files = []string{path}
	default:
		if err := os.MkdirAll(path, 0o755); err != nil {
			return err
		}
		files = []string{filepath.Join(path, "results.json"), filepath.Join(path, "results.csv")}
	}
	for _, f := range files {
		if err := writeFile(f, rep); err != nil {
			return err
		}
	}
	return nil
}

func writeFile(path string, rep *load.Report) (err error) {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	if strings.EqualFold(filepath.Ext(path), ".csv") {
		return rep.WriteCSV(f)
	}
	return rep.WriteJSON(f)
}

// checkSmoke fails the smoke run when an invariant does not hold: these do
// not depend on timing.
func checkSmoke(rep *load.Report) error {
	var errs []error
	for _, r := range rep.Results {
		id := r.Scenario + "/" + r.Contender
		if r.WrongTenant != 0 || r.Forbidden != 0 {
			errs = append(errs, fmt.Errorf("%s: %d requests carried another tenant's token", id, r.WrongTenant))
		}
		if r.ExpiredOK != 0 {
			errs = append(errs, fmt.Errorf("%s: the API accepted %d expired tokens", id, r.ExpiredOK))
		}
		if r.Requests == 0 {
			errs = append(errs, fmt.Errorf("%s: no requests were sent", id))
		}
		switch r.Scenario {
		case "cold-herd":
			if r.Contender != contender.NameNaive && r.TokenRequests != uint64(r.Tenants) {
				errs = append(errs, fmt.Errorf("%s: %d token requests for %d cold tenants, want exactly one each",
					id, r.TokenRequests, r.Tenants))
			}
		case "steady":
			if r.Errors != 0 || r.Unauthorized != 0 {
				errs = append(errs, fmt.Errorf("%s: %d errors and %d 401s in steady state", id, r.Errors, r.Unauthorized))
			}
		}
		if r.IsColdStart() {
			errs = append(errs, checkColdStart(id, r)...)
		}
		if r.IsFill() {
			errs = append(errs, checkFill(id, r)...)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("smoke checks failed:\n%w", err)
	}
	return nil
}

// checkFill checks a fill: every tenant filled, in every round, with
// exactly one token request and no error, and lookups made that were all
// hits. (Every contender, naive included, fetches once per tenant here:
// each tenant gets one request per round.)
func checkFill(id string, r load.Result) []error {
	var errs []error
	if r.FillTenants != r.Tenants || r.Requests != uint64(r.Tenants*r.FillRounds) {
		errs = append(errs, fmt.Errorf("%s: filled %d of %d tenants before the deadline, %d requests in %d rounds",
			id, r.FillTenants, r.Tenants, r.Requests, r.FillRounds))
	}
	if r.TokenRequests != r.Requests {
		errs = append(errs, fmt.Errorf("%s: %d token requests for %d requests to cold tenants, want exactly one each",
			id, r.TokenRequests, r.Requests))
	}
	if n := r.Errors + r.Unauthorized + r.OtherStatus; n != 0 || r.OK != r.Requests {
		errs = append(errs, fmt.Errorf("%s: %d of %d fill requests failed", id, r.Requests-r.OK, r.Requests))
	}
	if r.Lookups == 0 || r.LookupErrors != 0 || r.LookupFetches != 0 {
		errs = append(errs, fmt.Errorf("%s: %d lookups, %d failed, %d fetched: want every one a hit",
			id, r.Lookups, r.LookupErrors, r.LookupFetches))
	}
	return errs
}

// checkColdStart checks a cold start: one request per tenant; for
// tenantauth, every caller got its token and the IdP refused fewer requests
// than there are tenants (the admission limit learnt the capacity instead
// of pushing); for the others, which fetch once per caller without
// retrying, exactly one token request per tenant and every refusal a
// failed call.
func checkColdStart(id string, r load.Result) []error {
	var errs []error
	if r.Requests != uint64(r.Tenants) {
		errs = append(errs, fmt.Errorf("%s: %d requests for %d tenants, want one each", id, r.Requests, r.Tenants))
	}
	switch r.Contender {
	case contender.NameTenantauth:
		if r.NoToken != 0 || r.OK != uint64(r.Tenants) {
			errs = append(errs, fmt.Errorf("%s: %d of %d callers got no token (refused %d, queue %d, lookups %d, breaker %d, timeout %d)",
				id, r.NoToken, r.Tenants, r.FailedRefused, r.FailedQueue, r.FailedLookups, r.FailedBreaker, r.FailedTimeout))
		}
		if r.Refusals >= uint64(r.Tenants) {
			errs = append(errs, fmt.Errorf("%s: the IdP refused %d token requests for %d tenants", id, r.Refusals, r.Tenants))
		}
	default:
		if r.TokenRequests != uint64(r.Tenants) || r.FailedCalls() != r.Refusals {
			errs = append(errs, fmt.Errorf("%s: %d token requests for %d tenants (want one each), %d failed calls for %d refusals",
				id, r.TokenRequests, r.Tenants, r.FailedCalls(), r.Refusals))
		}
	}
	return errs
}

// isTerminal reports whether w is a character device (a terminal), where a
// progress line can overwrite itself.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

package load

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// A Report is a whole tokenload run: where it ran, how it was invoked, the
// scenarios and every result. It is what -out writes as JSON and what
// cmd/plot reads.
type Report struct {
	Machine   Machine    `json:"machine"`
	Command   string     `json:"command"`
	Started   time.Time  `json:"started"`
	Scenarios []Scenario `json:"scenarios"`
	Results   []Result   `json:"results"`
	// Merged lists the runs whose results were merged in later
	// (tokenload -merge): their results replaced those of the same
	// scenario and contender.
	Merged []MergedRun `json:"merged,omitempty"`
}

// A MergedRun is a tokenload run merged into an earlier report.
type MergedRun struct {
	Command string    `json:"command"`
	Started time.Time `json:"started"`
}

// Machine describes the computer a report was made on.
type Machine struct {
	GOOS       string `json:"goos"`
	GOARCH     string `json:"goarch"`
	NumCPU     int    `json:"num_cpu"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	CPUModel   string `json:"cpu_model,omitempty"`
	GoVersion  string `json:"go_version"`
}

// ThisMachine describes the running machine. The CPU model comes from
// /proc/cpuinfo where there is one.
func ThisMachine() Machine {
	return Machine{
		GOOS:       runtime.GOOS,
		GOARCH:     runtime.GOARCH,
		NumCPU:     runtime.NumCPU(),
		GOMAXPROCS: runtime.GOMAXPROCS(0),
		CPUModel:   cpuModel("/proc/cpuinfo"),
		GoVersion:  runtime.Version(),
	}
}

func cpuModel(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// ReadReport decodes a report written by WriteJSON.
func ReadReport(r io.Reader) (*Report, error) {
	var rep Report
	if err := json.NewDecoder(r).Decode(&rep); err != nil {
		return nil, fmt.Errorf("load: reading report: %w", err)
	}
	return &rep, nil
}

// WriteJSON writes the report as indented JSON.
func (rep *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

// csvHeader names the CSV columns, in Result's field order.
var csvHeader = []string{
	"scenario", "family", "contender", "tenants", "workers", "seconds", "requests", "requests_per_second",
	"ok", "unauthorized", "forbidden", "errors", "wrong_tenant", "waited",
	"token_requests", "token_failures", "ideal_token_requests", "tenants_touched", "peak_token_requests_per_tenant",
	"p50_ns", "p99_ns", "p999_ns", "max_ns", "mean_ns",
	"base_heap_bytes", "peak_heap_bytes", "peak_heap_gain_bytes", "goroutines",
	"fill_tenants", "fill_rounds", "fill_seconds", "fill_cpu_seconds", "fill_cpu_ns_per_tenant",
	"bytes_per_tenant", "total_bytes_per_tenant",
	"lookups", "lookup_seconds", "lookup_cpu_ns", "lookup_fetches", "lookup_errors",
	"refusals", "failed_refused", "failed_queue", "failed_lookups", "failed_breaker", "failed_timeout",
	"no_token", "last_token_seconds", "ideal_seconds", "capacity", "refusal_status",
}

// WriteCSV writes one row per result.
func (rep *Report) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(csvHeader); err != nil {
		return err
	}
	u := func(v uint64) string { return strconv.FormatUint(v, 10) }
	i := func(v int64) string { return strconv.FormatInt(v, 10) }
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', 3, 64) }
	for _, r := range rep.Results {
		row := []string{
			r.Scenario, r.Family, r.Contender, strconv.Itoa(r.Tenants), strconv.Itoa(r.Workers), f(r.Seconds),
			u(r.Requests), f(r.RPS), u(r.OK), u(r.Unauthorized), u(r.Forbidden), u(r.Errors), u(r.WrongTenant),
			u(r.Waited), u(r.TokenRequests), u(r.TokenFailures), u(r.IdealTokenRequests),
			strconv.Itoa(r.TenantsTouched), i(r.PeakTokenRequestsPerTenant),
			i(r.P50), i(r.P99), i(r.P999), i(r.Max), f(r.Mean),
			u(r.BaseHeap), u(r.PeakHeap), u(r.PeakHeapGain), strconv.Itoa(r.Goroutines),
			strconv.Itoa(r.FillTenants), strconv.Itoa(r.FillRounds), f(r.FillSeconds), f(r.FillCPUSeconds), f(r.FillCPUPerTenant),
			f(r.BytesPerTenant), f(r.TotalBytesPerTenant),
			u(r.Lookups), f(r.LookupSeconds), f(r.LookupCPUNs), u(r.LookupFetches), u(r.LookupErrors),
			u(r.Refusals), u(r.FailedRefused), u(r.FailedQueue), u(r.FailedLookups), u(r.FailedBreaker), u(r.FailedTimeout),
			strconv.Itoa(r.NoToken), f(r.LastTokenSeconds), f(r.IdealSeconds), strconv.Itoa(r.Capacity), strconv.Itoa(r.RefusalStatus),
		}
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// WriteTable writes the human-readable tables tokenload prints: one for the
// load scenarios, one for the fill scenarios and one for the cold starts,
// each left out when it would be empty, separated by blank lines.
func (rep *Report) WriteTable(w io.Writer) error {
	var loads, fills, colds []Result
	for _, r := range rep.Results {
		switch {
		case r.IsFill():
			fills = append(fills, r)
		case r.IsColdStart():
			colds = append(colds, r)
		default:
			loads = append(loads, r)
		}
	}
	tables := []struct {
		results []Result
		write   func(io.Writer, []Result) error
	}{{loads, writeLoadTable}, {fills, writeFillTable}, {colds, writeColdStartTable}}
	first := true
	for _, t := range tables {
		if len(t.results) == 0 {
			continue
		}
		if !first {
			fmt.Fprintln(w)
		}
		first = false
		if err := t.write(w, t.results); err != nil {
			return err
		}
	}
	return nil
}

func writeLoadTable(w io.Writer, results []Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\tcontender\ttenants\treq/s\tok/s\trequests\terrors\t401s\ttoken req\tideal\twaited\tp50\tp99\tp99.9\theap+\tgoroutines\t")
	for _, r := range results {
		okRate := 0.0
		if r.Seconds > 0 {
			okRate = float64(r.OK) / r.Seconds
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t%s\t%s\t%d\t\n",
			r.Scenario, r.Contender, r.Tenants, Count(r.RPS), Count(okRate), r.Requests, r.Errors, r.Unauthorized,
			r.TokenRequests, r.IdealTokenRequests, r.Waited,
			Nanos(r.P50), Nanos(r.P99), Nanos(r.P999), Bytes(r.PeakHeapGain), r.Goroutines)
	}
	return tw.Flush()
}

// writeFillTable: per fill, the tenants reached, the rounds, one fill's
// wall and CPU time, CPU and live heap per tenant, the fill requests' p99, then the
// cached lookups' CPU time each.
func writeFillTable(w io.Writer, results []Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "fill\tcontender\ttenants\tfilled\trounds\tfill time\tfill CPU\tCPU/tenant\tB/tenant\ttotal B/tenant\ttoken req\terrors\tp99\theap peak+\tlookups\tlookup CPU\tlookup fetches\t")
	for _, r := range results {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%s\t%s\t%s\t%.0f\t%.0f\t%d\t%d\t%s\t%s\t%s\t%s\t%d\t\n",
			r.Scenario, r.Contender, r.Tenants, r.FillTenants, r.FillRounds,
			Nanos(int64(r.FillSeconds*1e9)), Nanos(int64(r.FillCPUSeconds*1e9)), Nanos(int64(r.FillCPUPerTenant)),
			r.BytesPerTenant, r.TotalBytesPerTenant, r.TokenRequests, r.Errors+r.Unauthorized+r.Forbidden+r.OtherStatus,
			Nanos(r.P99), Bytes(r.PeakHeapGain), Count(float64(r.Lookups)), nanosFrac(r.LookupCPUNs), r.LookupFetches)
	}
	return tw.Flush()
}

// writeColdStartTable: per cold start, the callers that got their token
// and those that did not, by kind of failure; the IdP's refusals and token
// requests; the time until every tenant had a token ("—" when some never
// did) against the ideal, and when the last call returned; the calls'
// latency.
func writeColdStartTable(w io.Writer, results []Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "cold start\tcontender\ttenants\tcapacity\tok\tfailed\trefused\tqueue\tlookups\tbreaker\ttimeout\tIdP refusals\ttoken req\tall tokens\tideal\tended\tp50\tp99\t")
	for _, r := range results {
		all := "—"
		if s, ok := r.AllTokensSeconds(); ok {
			all = Nanos(int64(s * 1e9))
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t\n",
			r.Scenario, r.Contender, r.Tenants, r.Capacity, r.OK, r.FailedCalls(), r.FailedRefused, r.FailedQueue,
			r.FailedLookups, r.FailedBreaker, r.FailedTimeout, r.Refusals, r.TokenRequests, all,
			Nanos(int64(r.IdealSeconds*1e9)), Nanos(int64(r.Seconds*1e9)), Nanos(r.P50), Nanos(r.P99))
	}
	return tw.Flush()
}

// nanosFrac formats a duration in ns that may be below 100 ns with a
// decimal: "23.4ns"; above, as Nanos.
func nanosFrac(ns float64) string {
	if ns < 100 {
		return strconv.FormatFloat(ns, 'f', 1, 64) + "ns"
	}
	return Nanos(int64(ns))
}

// Nanos formats nanoseconds with three significant digits: "312ns",
// "4.21µs", "2.05ms", "1.20s".
func Nanos(ns int64) string {
	d := float64(ns)
	switch {
	case ns < 1000:
		return strconv.FormatInt(ns, 10) + "ns"
	case d < 1e6:
		return sig3(d/1e3) + "µs"
	case d < 1e9:
		return sig3(d/1e6) + "ms"
	}
	return sig3(d/1e9) + "s"
}

// Count formats a rate or count compactly: "950", "12.3k", "1.45M".
func Count(v float64) string {
	switch {
	case v < 1e3:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v < 1e6:
		return sig3(v/1e3) + "k"
	}
	return sig3(v/1e6) + "M"
}

// Bytes formats a byte count: "512B", "3.4KiB", "12.5MiB".
func Bytes(b uint64) string {
	v := float64(b)
	switch {
	case b < 1<<10:
		return strconv.FormatUint(b, 10) + "B"
	case b < 1<<20:
		return sig3(v/(1<<10)) + "KiB"
	case b < 1<<30:
		return sig3(v/(1<<20)) + "MiB"
	}
	return sig3(v/(1<<30)) + "GiB"
}

// sig3 formats v (≥ 1) with three significant digits.
func sig3(v float64) string {
	switch {
	case v < 10:
		return strconv.FormatFloat(v, 'f', 2, 64)
	case v < 100:
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return strconv.FormatFloat(v, 'f', 0, 64)
}

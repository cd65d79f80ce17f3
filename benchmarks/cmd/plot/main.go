// Command plot turns a tokenload JSON report into charts with
// gonum.org/v1/plot:
//
//   - throughput-vs-tenants: requests per second against the tenant count,
//     for the scenarios of the "steady" family (steady, tenants-10k,
//     tenants-100k), one line per contender;
//   - token-requests-vs-ideal: token requests made divided by the ideal
//     (one per tenant per token lifetime), per scenario and contender, on a
//     log scale with the ideal at 1;
//   - latency-percentiles: p50, p99 and p99.9 of the auth layer per scenario
//     and contender, one panel per percentile, log scale;
//   - fill-vs-tenants: for the scenarios of the "fill" family (fill-1k …
//     fill-1m), the live heap per cached tenant beyond the token and the
//     fill's CPU time per tenant against the tenant count (log), one line
//     per contender, one panel each;
//   - coldstart: for the cold-start scenarios (coldstart-503,
//     coldstart-429), grouped bars per scenario and contender of the calls
//     that failed, the token requests the IdP refused, and the time until
//     every tenant had a token against the ideal (tenants ÷ capacity × IdP
//     latency).
//
// The two per-scenario charts leave the fill and cold-start scenarios out.
// A chart with no data in the report is skipped.
//
// Usage (from benchmarks/):
//
//	go run ./cmd/plot -in results/results.json -out results/
//	go run ./cmd/plot -in results/results.json -out results/ -format png
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/tenantauth/tenantauth/benchmarks/internal/load"
)

func main() {
	err := run(os.Args[1:], os.Stdout, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "plot:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("plot", flag.ContinueOnError)
	fs.SetOutput(stderr)
	in := fs.String("in", "results/results.json", "tokenload JSON report")
	out := fs.String("out", "results", "directory to write the charts to")
	format := fs.String("format", "svg", "chart format: svg or png")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *format != "svg" && *format != "png" {
		return fmt.Errorf("unsupported format %q (svg or png)", *format)
	}
	f, err := os.Open(*in)
	if err != nil {
		return err
	}
	rep, err := load.ReadReport(f)
	f.Close()
	if err != nil {
		return err
	}
	if len(rep.Results) == 0 {
		return fmt.Errorf("%s has no results", *in)
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	files, err := render(rep, *out, *format)
	for _, f := range files {
		fmt.Fprintln(stdout, f)
	}
	return err
}

// render writes every chart into dir and returns the files written.
func render(rep *load.Report, dir, format string) ([]string, error) {
	charts := []struct {
		name string
		draw func(*load.Report) (chart, error)
	}{
		{"throughput-vs-tenants", throughputChart},
		{"token-requests-vs-ideal", tokenChart},
		{"latency-percentiles", latencyChart},
		{"fill-vs-tenants", fillChart},
		{"coldstart", coldStartChart},
	}
	var files []string
	for _, c := range charts {
		ch, err := c.draw(rep)
		if errors.Is(err, errNoData) {
			continue
		}
		if err != nil {
			return files, fmt.Errorf("%s: %w", c.name, err)
		}
		path := filepath.Join(dir, c.name+"."+format)
		if err := ch.save(path, format); err != nil {
			return files, fmt.Errorf("%s: %w", c.name, err)
		}
		files = append(files, path)
	}
	return files, nil
}

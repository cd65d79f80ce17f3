package main

import (
	"errors"
	"fmt"
	"image/color"
	"math"
	"os"
	"slices"
	"sort"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/tenantauth/tenantauth/benchmarks/internal/load"
	"github.com/tenantauth/tenantauth/benchmarks/internal/standin"
)

// errNoData means the report has nothing for a chart; it is skipped.
var errNoData = errors.New("no data for this chart")

// A chart is one or more plots stacked vertically in one file.
type chart struct {
	plots  []*plot.Plot
	width  vg.Length
	height vg.Length // per plot
}

func (c chart) save(path, format string) error {
	h := c.height * vg.Length(len(c.plots))
	cw, err := draw.NewFormattedCanvas(c.width, h, format)
	if err != nil {
		return err
	}
	dc := draw.New(cw)
	rows := make([][]*plot.Plot, len(c.plots))
	for i, p := range c.plots {
		rows[i] = []*plot.Plot{p}
	}
	tiles := draw.Tiles{Rows: len(c.plots), Cols: 1, PadY: vg.Millimeter * 4,
		PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 2}
	canvases := plot.Align(rows, tiles, dc)
	for i, p := range c.plots {
		p.Draw(canvases[i][0])
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := cw.WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// contenders returns the contenders in the order of their first result.
func contenders(rep *load.Report) []string {
	var out []string
	for _, r := range rep.Results {
		if !slices.Contains(out, r.Contender) {
			out = append(out, r.Contender)
		}
	}
	return out
}

// scenarios returns the names of the load scenarios in report order: the
// fill and cold-start scenarios have their own charts.
func scenarios(rep *load.Report) []string {
	var out []string
	for _, r := range rep.Results {
		if !r.IsFill() && !r.IsColdStart() && !slices.Contains(out, r.Scenario) {
			out = append(out, r.Scenario)
		}
	}
	return out
}

func find(rep *load.Report, scenario, contender string) (load.Result, bool) {
	for _, r := range rep.Results {
		if r.Scenario == scenario && r.Contender == contender {
			return r, true
		}
	}
	return load.Result{}, false
}

// style gives contender i its color and marker.
func style(i int) (color.Color, draw.GlyphDrawer) { return plotutil.Color(i), plotutil.Shape(i) }

func subtitle(rep *load.Report) string {
	m := rep.Machine
	s := fmt.Sprintf("%d CPUs, %s", m.NumCPU, m.GoVersion)
	if m.CPUModel != "" {
		s = m.CPUModel + ", " + s
	}
	return s
}

// throughputChart: requests/s against tenants for the "steady" family.
func throughputChart(rep *load.Report) (chart, error) {
	p := tenantsPlot("Throughput vs tenants (steady state, Zipf traffic)\n"+subtitle(rep), "thousand requests per second")
	ok, err := addLines(p, rep, true, 1.3, func(r load.Result) (x, y float64, use bool) {
		return float64(r.Tenants), r.RPS / 1e3, r.Family == "steady" && r.Tenants > 0
	})
	if err != nil {
		return chart{}, err
	}
	if !ok {
		return chart{}, errNoData
	}
	return chart{plots: []*plot.Plot{p}, width: 7 * vg.Inch, height: 4 * vg.Inch}, nil
}

// fillChart: for the "fill" family, the live heap per tenant beyond the
// token and the fill's CPU time per tenant, against the tenant count. A
// linear-time fill is a flat line in the second panel. A panel without
// data (no CPU time where getrusage is missing) is left out.
func fillChart(rep *load.Report) (chart, error) {
	panels := []struct {
		title, ylabel string
		value         func(load.Result) float64
	}{
		{fmt.Sprintf("Memory per cached tenant after filling N cold tenants (live heap, beyond the %d-byte token)\n", standin.TokenSize) + subtitle(rep),
			"bytes per tenant", func(r load.Result) float64 { return r.BytesPerTenant }},
		{"Fill CPU time per tenant (one request per cold tenant, zero-latency IdP; GC and harness included)",
			"CPU ns per tenant", func(r load.Result) float64 { return r.FillCPUPerTenant }},
	}
	var plots []*plot.Plot
	for i, pn := range panels {
		p := tenantsPlot(pn.title, pn.ylabel)
		headroom := 1.15
		if i == 0 {
			headroom = 1.6 // the legend's three lines
		}
		ok, err := addLines(p, rep, i == 0, headroom, func(r load.Result) (x, y float64, use bool) {
			return float64(r.FillTenants), pn.value(r), r.IsFill() && r.FillTenants > 0 && pn.value(r) > 0
		})
		if err != nil {
			return chart{}, err
		}
		if ok {
			plots = append(plots, p)
		}
	}
	if len(plots) == 0 {
		return chart{}, errNoData
	}
	return chart{plots: plots, width: 8 * vg.Inch, height: 3.6 * vg.Inch}, nil
}

// tenantsPlot returns a plot with tenants on a log X axis and a linear Y
// axis from 0.
func tenantsPlot(title, ylabel string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "tenants (log)"
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = ticks125{}
	p.Y.Label.Text = ylabel
	p.Y.Min = 0
	p.Legend.Top = true
	p.Legend.Left = true
	return p
}

// addLines adds one line per contender through the points point selects
// (use) from its results, sorted by X, with a legend entry if legend is
// set, and sets the Y axis's top to headroom times the highest point, so
// that the legend fits above the lines. It reports whether any contender
// had a point.
func addLines(p *plot.Plot, rep *load.Report, legend bool, headroom float64, point func(load.Result) (x, y float64, use bool)) (bool, error) {
	any, ymax := false, 0.0
	for i, c := range contenders(rep) {
		var xys plotter.XYs
		for _, r := range rep.Results {
			if r.Contender != c {
				continue
			}
			if x, y, use := point(r); use && x > 0 && !math.IsNaN(y) && !math.IsInf(y, 0) {
				xys = append(xys, plotter.XY{X: x, Y: y})
			}
		}
		if len(xys) == 0 {
			continue
		}
		sort.Slice(xys, func(a, b int) bool { return xys[a].X < xys[b].X })
		for _, xy := range xys {
			ymax = max(ymax, xy.Y)
		}
		line, points, err := plotter.NewLinePoints(xys)
		if err != nil {
			return false, err
		}
		col, shape := style(i)
		line.Color, points.Color, points.Shape = col, col, shape
		points.Radius = vg.Points(3)
		p.Add(line, points)
		if legend {
			p.Legend.Add(c, line, points)
		}
		any = true
	}
	if any {
		p.Add(plotter.NewGrid())
		p.Y.Max = ymax * headroom
	}
	return any, nil
}

// dotPlot builds a plot with scenarios along X and one marker per
// contender, on a log Y axis; value returns the Y of a result and whether
// it is plottable (log scales need Y > 0).
func dotPlot(rep *load.Report, title, ylabel string, legend bool, value func(load.Result) (float64, bool)) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = title
	p.Y.Label.Text = ylabel
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = ticks125{}
	p.Legend.Top = true
	p.Legend.Left = true
	ymin, ymax := math.Inf(1), math.Inf(-1)
	scs := scenarios(rep)
	cs := contenders(rep)
	any := false
	for i, c := range cs {
		var xys plotter.XYs
		offset := (float64(i) - float64(len(cs)-1)/2) * 0.18
		for x, s := range scs {
			r, ok := find(rep, s, c)
			if !ok {
				continue
			}
			if y, ok := value(r); ok && y > 0 && !math.IsInf(y, 0) && !math.IsNaN(y) {
				xys = append(xys, plotter.XY{X: float64(x) + offset, Y: y})
				ymin, ymax = min(ymin, y), max(ymax, y)
			}
		}
		if len(xys) == 0 {
			continue
		}
		sc, err := plotter.NewScatter(xys)
		if err != nil {
			return nil, err
		}
		col, shape := style(i)
		sc.Color, sc.Shape, sc.Radius = col, shape, vg.Points(3.5)
		p.Add(sc)
		if legend {
			p.Legend.Add(c, sc)
		}
		any = true
	}
	if !any {
		return nil, errNoData
	}
	// Log-scale headroom: the legend sits above the highest marker.
	p.Y.Min, p.Y.Max = ymin/1.5, ymax*6
	p.NominalX(scs...)
	p.X.Min, p.X.Max = -0.6, float64(len(scs))-0.4
	p.Add(plotter.NewGrid())
	return p, nil
}

// tokenChart: token requests ÷ ideal per scenario, ideal = 1.
func tokenChart(rep *load.Report) (chart, error) {
	p, err := dotPlot(rep, "Token requests ÷ ideal (one per tenant per token lifetime)\n"+subtitle(rep),
		"token requests ÷ ideal (log)", true, func(r load.Result) (float64, bool) {
			if r.IdealTokenRequests == 0 {
				return 0, false
			}
			return float64(r.TokenRequests) / float64(r.IdealTokenRequests), true
		})
	if err != nil {
		return chart{}, err
	}
	ideal, err := plotter.NewLine(plotter.XYs{{X: p.X.Min, Y: 1}, {X: p.X.Max, Y: 1}})
	if err != nil {
		return chart{}, err
	}
	ideal.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
	ideal.Color = color.Gray{Y: 96}
	p.Y.Min = min(p.Y.Min, 0.8)
	p.Add(ideal)
	p.Legend.Add("ideal", ideal)
	return chart{plots: []*plot.Plot{p}, width: 8 * vg.Inch, height: 4 * vg.Inch}, nil
}

// latencyChart: p50, p99, p99.9 per scenario, one panel each.
func latencyChart(rep *load.Report) (chart, error) {
	pcts := []struct {
		name string
		get  func(load.Result) int64
	}{
		{"p50", func(r load.Result) int64 { return r.P50 }},
		{"p99", func(r load.Result) int64 { return r.P99 }},
		{"p99.9", func(r load.Result) int64 { return r.P999 }},
	}
	var plots []*plot.Plot
	for i, pc := range pcts {
		title := pc.name + " latency added by the auth layer (RoundTrip to a no-op API)"
		if i == 0 {
			title += "\n" + subtitle(rep)
		}
		p, err := dotPlot(rep, title, pc.name+" (µs, log)", i == 0, func(r load.Result) (float64, bool) {
			return float64(pc.get(r)) / 1e3, r.Requests > 0
		})
		if err != nil {
			return chart{}, err
		}
		plots = append(plots, p)
	}
	return chart{plots: plots, width: 8 * vg.Inch, height: 3.2 * vg.Inch}, nil
}

// ticks125 labels a log axis at 1, 2 and 5 times each power of ten (with
// unlabelled minor ticks between), so that a range within one decade still
// gets labels; plot.LogTicks labels only the powers of ten.
type ticks125 struct{}

// Ticks implements plot.Ticker.
func (ticks125) Ticks(lo, hi float64) []plot.Tick {
	if !(lo > 0) || !(hi > lo) {
		return nil
	}
	var ticks []plot.Tick
	for e := math.Floor(math.Log10(lo)); math.Pow(10, e) <= hi; e++ {
		p := math.Pow(10, e)
		for m := 1; m <= 9; m++ {
			v := float64(m) * p
			if v < lo || v > hi {
				continue
			}
			t := plot.Tick{Value: v}
			if m == 1 || m == 2 || m == 5 {
				t.Label = strconv.FormatFloat(v, 'f', -1, 64)
			}
			ticks = append(ticks, t)
		}
	}
	return ticks
}

// Command dashboard renders the main panels of the Grafana dashboard
// otel/dashboard/tenantauth.json from the metric samples the example
// collected, as a PNG or SVG picture:
//
//	go run . -samples samples.csv          # in examples/observability
//	go run ./cmd/dashboard -in samples.csv -out ../../otel/dashboard/dashboard.png
//
// The samples are scrapes of the example's /metrics (Prometheus format)
// every 250 ms; each panel computes what its PromQL query computes in
// Grafana — rate() over a one-second window, sum by a label,
// histogram_quantile() — from them. It is a rendering of real data, not a
// Grafana screenshot: Grafana is not needed.
package main

import (
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"image/color"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

func main() {
	in := flag.String("in", "samples.csv", "the samples, from go run . -samples FILE")
	out := flag.String("out", "dashboard.png", "the picture: .png or .svg")
	flag.Parse()
	if err := render(*in, *out); err != nil {
		fmt.Fprintln(os.Stderr, "dashboard:", err)
		os.Exit(1)
	}
}

func render(in, out string) error {
	f, err := os.Open(in)
	if err != nil {
		return err
	}
	defer f.Close()
	d, err := load(f)
	if err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	format := strings.TrimPrefix(filepath.Ext(out), ".")
	if format != "png" && format != "svg" {
		return fmt.Errorf("-out %s: want a .png or .svg file", out)
	}
	return d.draw(out, format)
}

// series is one metric's values at the scrape times, with its labels.
type series struct {
	name   string
	labels map[string]string
	v      map[float64]float64 // scrape time → value
}

// data is the samples.
type data struct {
	times  []float64 // scrape times, seconds since the start
	series []*series
	phases []phase
}

type phase struct {
	name string
	at   float64
}

// load reads the CSV that the example writes: seconds, metric, labels
// ({k="v",…}), value.
func load(r io.Reader) (*data, error) {
	rows, err := csv.NewReader(r).ReadAll()
	if err != nil {
		return nil, err
	}
	if len(rows) < 2 || !slices.Equal(rows[0], []string{"seconds", "metric", "labels", "value"}) {
		return nil, errors.New("not a samples file (want the header seconds,metric,labels,value and rows)")
	}
	d := &data{}
	byKey := map[string]*series{}
	times := map[float64]bool{}
	for i, row := range rows[1:] {
		t, err1 := strconv.ParseFloat(row[0], 64)
		v, err2 := strconv.ParseFloat(row[3], 64)
		labels, err3 := parseLabels(row[2])
		if err := errors.Join(err1, err2, err3); err != nil {
			return nil, fmt.Errorf("row %d: %w", i+2, err)
		}
		if row[1] == "phase" {
			d.phases = append(d.phases, phase{labels["name"], t})
			continue
		}
		times[t] = true
		s := byKey[row[1]+row[2]]
		if s == nil {
			s = &series{name: row[1], labels: labels, v: map[float64]float64{}}
			byKey[row[1]+row[2]] = s
			d.series = append(d.series, s)
		}
		s.v[t] = v
	}
	for t := range times {
		d.times = append(d.times, t)
	}
	sort.Float64s(d.times)
	if len(d.times) < 2 {
		return nil, errors.New("fewer than two scrapes")
	}
	return d, nil
}

// parseLabels parses {k="v",…} with Go-quoted values.
func parseLabels(s string) (map[string]string, error) {
	m := map[string]string{}
	s = strings.TrimSuffix(strings.TrimPrefix(s, "{"), "}")
	for s != "" {
		k, rest, ok := strings.Cut(s, "=")
		if !ok {
			return nil, fmt.Errorf("labels: no '=' in %q", s)
		}
		q, err := strconv.QuotedPrefix(rest)
		if err != nil {
			return nil, fmt.Errorf("labels: %w", err)
		}
		m[k], _ = strconv.Unquote(q)
		s = strings.TrimPrefix(rest[len(q):], ",")
	}
	return m, nil
}

// window is rate()'s range, in seconds.
const window = 1.0

// value is s at time t: 0 before the series appeared (every series here
// is a counter or gauge that starts at 0 when first recorded).
func (s *series) at(t float64) float64 { return s.v[t] }

// rate is s's per-second increase over the window ending at times[i].
func (d *data) rate(s *series, i int) float64 {
	j := i
	for j > 0 && d.times[i]-d.times[j-1] <= window+1e-9 {
		j--
	}
	if j == i {
		return 0
	}
	return max(s.at(d.times[i])-s.at(d.times[j]), 0) / (d.times[i] - d.times[j])
}

// sumBy returns, per value of label, f summed over the series named name.
func (d *data) sumBy(name, label string, f func(s *series, i int) float64) map[string]plotter.XYs {
	return d.sumByKey(name, func(l map[string]string) string { return l[label] }, f)
}

// sumByKey returns, per key of the series' labels, f summed over the
// series named name.
func (d *data) sumByKey(name string, key func(map[string]string) string, f func(s *series, i int) float64) map[string]plotter.XYs {
	out := map[string]plotter.XYs{}
	for _, s := range d.series {
		if s.name != name {
			continue
		}
		key := key(s.labels)
		xy := out[key]
		if xy == nil {
			xy = make(plotter.XYs, len(d.times))
			for i, t := range d.times {
				xy[i].X = t
			}
			out[key] = xy
		}
		for i := range d.times {
			xy[i].Y += f(s, i)
		}
	}
	return out
}

// quantile is histogram_quantile(q, sum by (le) (rate(name_bucket[1s]))).
func (d *data) quantile(name string, q float64) plotter.XYs {
	xy := make(plotter.XYs, len(d.times))
	for i, t := range d.times {
		buckets := map[float64]float64{}
		for _, s := range d.series {
			if s.name != name+"_bucket" {
				continue
			}
			le, err := strconv.ParseFloat(s.labels["le"], 64) // "+Inf" parses
			if err != nil {
				continue
			}
			buckets[le] += d.rate(s, i)
		}
		xy[i] = plotter.XY{X: t, Y: histogramQuantile(q, buckets)}
	}
	return xy
}

// histogramQuantile interpolates linearly within the bucket, as
// Prometheus does; NaN when there were no observations.
func histogramQuantile(q float64, cumulative map[float64]float64) float64 {
	les := make([]float64, 0, len(cumulative))
	for le := range cumulative {
		les = append(les, le)
	}
	sort.Float64s(les)
	if len(les) < 2 || cumulative[les[len(les)-1]] == 0 {
		return math.NaN()
	}
	rank := q * cumulative[les[len(les)-1]]
	lower, prev := 0.0, 0.0
	for _, le := range les {
		c := cumulative[le]
		if c >= rank {
			if math.IsInf(le, 1) {
				return lower // the highest finite bound
			}
			if c == prev {
				return le
			}
			return lower + (le-lower)*(rank-prev)/(c-prev)
		}
		lower, prev = le, c
	}
	return lower
}

// gauge is f(s, i) = s's value at times[i].
func (d *data) gauge(s *series, i int) float64 { return s.at(d.times[i]) }

// counterSince is s's increase since the first scrape.
func (d *data) counterSince(s *series, i int) float64 { return s.at(d.times[i]) - s.at(d.times[0]) }

// endpointName shortens a token endpoint URL for a legend.
func endpointName(u string) string {
	switch {
	case strings.Contains(u, "/realms/"):
		return "keycloak"
	case strings.HasSuffix(u, "/oauth/token"):
		return "passport"
	}
	return u
}

// Grafana's dark theme, roughly.
var (
	background = color.RGBA{0x11, 0x12, 0x17, 0xff}
	panelBG    = color.RGBA{0x18, 0x1b, 0x1f, 0xff}
	textColor  = color.RGBA{0xcc, 0xcc, 0xdc, 0xff}
	gridColor  = color.RGBA{0x2c, 0x30, 0x35, 0xff}
	palette    = []color.Color{
		color.RGBA{0x73, 0xbf, 0x69, 0xff}, // green
		color.RGBA{0xf2, 0xcc, 0x0c, 0xff}, // yellow
		color.RGBA{0xf2, 0x49, 0x5c, 0xff}, // red
		color.RGBA{0x57, 0x94, 0xf2, 0xff}, // blue
		color.RGBA{0xff, 0x98, 0x30, 0xff}, // orange
		color.RGBA{0xb8, 0x77, 0xd9, 0xff}, // purple
	}
	// outcomeColor keeps an outcome's colour the same in every picture.
	outcomeColor = map[string]color.Color{
		"success": palette[0], "refused": palette[4], "unavailable": palette[2], "circuit_open": palette[5],
		"timeout": palette[1], "network": palette[3],
	}
)

// panel is one plot in Grafana's dark look, with the phases marked.
func (d *data) panel(title, ylabel string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.Title.TextStyle.Color = textColor
	p.Title.TextStyle.Font.Size = vg.Points(11)
	p.BackgroundColor = panelBG
	p.Legend.TextStyle.Color = textColor
	p.Legend.TextStyle.Font.Size = vg.Points(8)
	p.Legend.Top = true
	for _, a := range []*plot.Axis{&p.X, &p.Y} {
		a.Color = gridColor
		a.Label.TextStyle.Color = textColor
		a.Label.TextStyle.Font.Size = vg.Points(9)
		a.Tick.Color = gridColor
		a.Tick.Label.Color = textColor
		a.Tick.Label.Font.Size = vg.Points(8)
	}
	p.X.Label.Text = "seconds"
	p.Y.Label.Text = ylabel
	p.X.Min, p.X.Max = d.times[0], d.times[len(d.times)-1]
	g := plotter.NewGrid()
	g.Vertical.Color, g.Horizontal.Color = gridColor, gridColor
	p.Add(g, &phaseMarks{d.phases})
	return p
}

// addLines adds one line per key, in sorted order, with colours from
// colorOf (or the palette). A line is broken where it has no value (NaN),
// as Grafana draws a gap; step draws it as steps (for states).
func addLines(p *plot.Plot, lines map[string]plotter.XYs, name func(string) string, colorOf func(string) color.Color, step bool) error {
	keys := make([]string, 0, len(lines))
	for k := range lines {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	top := 0.0
	for i, k := range keys {
		c := palette[i%len(palette)]
		if cc := colorOf(k); cc != nil {
			c = cc
		}
		var first *plotter.Line
		for _, seg := range segments(lines[k]) {
			l, err := plotter.NewLine(seg)
			if err != nil {
				return err
			}
			l.Width = vg.Points(1.5)
			l.Color = c
			if step {
				l.StepStyle = plotter.PostStep
			}
			p.Add(l)
			if first == nil {
				first = l
			}
			for _, pt := range seg {
				top = max(top, pt.Y)
			}
		}
		if first != nil {
			p.Legend.Add(name(k), first)
		}
	}
	// Headroom for the legend, which sits in the top right corner.
	if !step {
		p.Y.Min, p.Y.Max = 0, max(top, 1)*(1.15+0.1*float64(len(keys)))
	}
	return nil
}

// segments splits xy at its NaN values.
func segments(xy plotter.XYs) []plotter.XYs {
	var out []plotter.XYs
	var cur plotter.XYs
	for _, pt := range xy {
		if math.IsNaN(pt.Y) {
			if len(cur) > 0 {
				out = append(out, cur)
			}
			cur = nil
			continue
		}
		cur = append(cur, pt)
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

func noColor(string) color.Color { return nil }

// phaseMarks shades the outage and marks where each phase starts.
type phaseMarks struct{ phases []phase }

func (m *phaseMarks) Plot(c draw.Canvas, p *plot.Plot) {
	trX, _ := p.Transforms(&c)
	for i, ph := range m.phases {
		x := trX(ph.at)
		if x < c.Min.X || x > c.Max.X {
			continue
		}
		if ph.name == "outage" && i+1 < len(m.phases) {
			x1 := min(trX(m.phases[i+1].at), c.Max.X)
			c.FillPolygon(color.NRGBA{0xf2, 0x49, 0x5c, 0x30}, []vg.Point{{X: x, Y: c.Min.Y}, {X: x1, Y: c.Min.Y}, {X: x1, Y: c.Max.Y}, {X: x, Y: c.Max.Y}})
		}
		if ph.name == "warm-up" || ph.name == "end" {
			continue
		}
		c.StrokeLine2(draw.LineStyle{Color: color.RGBA{0x80, 0x80, 0x90, 0xff}, Width: vg.Points(0.7), Dashes: []vg.Length{vg.Points(3), vg.Points(3)}},
			x, c.Min.Y, x, c.Max.Y)
		label := textStyle(7)
		label.YAlign = draw.YBottom
		c.FillText(label, vg.Point{X: x + vg.Points(2), Y: c.Min.Y + vg.Points(2)}, ph.name)
	}
}

// textStyle is left- and top-aligned text of size points.
func textStyle(points float64) draw.TextStyle {
	return draw.TextStyle{Color: textColor, Font: font.From(plot.DefaultFont, vg.Points(points)),
		Handler: plot.DefaultTextHandler, XAlign: draw.XLeft, YAlign: draw.YTop}
}

func (m *phaseMarks) DataRange() (xmin, xmax, ymin, ymax float64) {
	return math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
}

// panels builds the six main panels of the dashboard (its admission,
// shared-store and detail panels are left out).
func (d *data) panels() ([]*plot.Plot, error) {
	var errs []error
	add := func(p *plot.Plot, lines map[string]plotter.XYs, name func(string) string, colorOf func(string) color.Color) {
		errs = append(errs, addLines(p, lines, name, colorOf, false))
	}
	id := func(s string) string { return s }

	fetches := d.panel("Token fetches by outcome", "fetches/s")
	add(fetches, d.sumBy("tenantauth_token_fetches_total", "tenantauth_outcome", d.rate), id,
		func(k string) color.Color { return outcomeColor[k] })

	duration := d.panel("Token fetch duration", "milliseconds")
	ms := func(xy plotter.XYs) plotter.XYs {
		for i := range xy {
			xy[i].Y *= 1000 // NaN stays NaN: no fetch in the window, a gap
		}
		return xy
	}
	add(duration, map[string]plotter.XYs{
		"p50": ms(d.quantile("tenantauth_token_fetch_duration_seconds", 0.5)),
		"p95": ms(d.quantile("tenantauth_token_fetch_duration_seconds", 0.95)),
	}, id, noColor)

	cache := d.panel("Cache hits (estimate) and fetches", "per second")
	hits := d.sumBy("tenantauth_cache_hits_total", "", d.rate)[""]
	fetched := d.sumBy("tenantauth_token_fetch_waiters_total", "", d.rate)[""]
	add(cache, map[string]plotter.XYs{"hits": hits, "callers that waited on a fetch": fetched}, id, noColor)

	breakers := d.panel("Circuit breaker state", "")
	errs = append(errs, addLines(breakers, d.sumBy("tenantauth_breaker_state", "tenantauth_endpoint", d.gauge), endpointName, noColor, true))
	breakers.Y.Min, breakers.Y.Max = -0.2, 2.4
	breakers.Y.Tick.Marker = plot.ConstantTicks([]plot.Tick{{Value: 0, Label: "closed"}, {Value: 1, Label: "half-open"}, {Value: 2, Label: "open"}})

	requests := d.panel("Token requests by HTTP status and outcome", "requests/s")
	add(requests, d.sumByKey("tenantauth_token_requests_total", func(l map[string]string) string {
		return strings.TrimSpace(l["http_response_status_code"] + " " + l["tenantauth_outcome"])
	}, d.rate), id, func(k string) color.Color { return outcomeColor[k[strings.LastIndexByte(k, ' ')+1:]] })

	rec := d.panel("401 recoveries and invalidations", "since start")
	lines := map[string]plotter.XYs{}
	for k, xy := range d.sumBy("tenantauth_recoveries_total", "tenantauth_recovered", d.counterSince) {
		lines["recovered="+k] = xy
	}
	for k, xy := range d.sumBy("tenantauth_invalidations_total", "tenantauth_remote", d.counterSince) {
		lines["invalidations remote="+k] = xy
	}
	add(rec, lines, id, noColor)

	return []*plot.Plot{fetches, duration, breakers, requests, cache, rec}, errors.Join(errs...)
}

// draw renders the panels, two a row, under a header, to path.
func (d *data) draw(path, format string) error {
	plots, err := d.panels()
	if err != nil {
		return err
	}
	const cols = 2
	rows := (len(plots) + cols - 1) / cols
	width, panelHeight, header := 30*vg.Centimeter, 7*vg.Centimeter, 1.4*vg.Centimeter
	cw, err := draw.NewFormattedCanvas(width, panelHeight*vg.Length(rows)+header, format)
	if err != nil {
		return err
	}
	dc := draw.New(cw)
	dc.SetColor(background)
	dc.Fill(dc.Rectangle.Path())
	dc.FillText(textStyle(14), vg.Point{X: vg.Centimeter / 2, Y: dc.Max.Y - vg.Centimeter/4},
		"tenantauth — token fetches, breakers, cache, 401 recovery")
	dc.FillText(textStyle(8), vg.Point{X: vg.Centimeter / 2, Y: dc.Max.Y - vg.Centimeter*0.85},
		"Rendered by examples/observability/cmd/dashboard from the samples of `go run . -samples` (the panels of otel/dashboard/tenantauth.json); not a Grafana screenshot.")
	grid := make([][]*plot.Plot, rows)
	for i, p := range plots {
		grid[i/cols] = append(grid[i/cols], p)
	}
	body := draw.Crop(dc, 0, 0, 0, -header)
	tiles := draw.Tiles{Rows: rows, Cols: cols, PadX: vg.Millimeter * 4, PadY: vg.Millimeter * 4,
		PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 3, PadLeft: vg.Millimeter * 3, PadRight: vg.Millimeter * 3}
	canvases := plot.Align(grid, tiles, body)
	for i, p := range plots {
		p.Draw(canvases[i/cols][i%cols])
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

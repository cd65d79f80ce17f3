package main

import (
	"fmt"
	"image/color"
	"math"
	"slices"
	"strconv"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"

	"github.com/tenantauth/tenantauth/benchmarks/internal/load"
)

// coldStarts returns the names of the cold-start scenarios in report order.
func coldStarts(rep *load.Report) []string {
	var out []string
	for _, r := range rep.Results {
		if r.IsColdStart() && !slices.Contains(out, r.Scenario) {
			out = append(out, r.Scenario)
		}
	}
	return out
}

// coldStartChart: for the cold-start scenarios, three panels of grouped
// bars (one group per scenario, one bar per contender, each labelled with
// its value): the calls that failed, the token requests the IdP refused,
// and the time until every tenant had a token against the ideal (tenants ÷
// capacity × IdP latency, a dashed line). A contender that left some
// tenants without a token gets a faint bar in the last panel instead, up to
// when its run ended, labelled with how many never got one.
func coldStartChart(rep *load.Report) (chart, error) {
	scs := coldStarts(rep)
	if len(scs) == 0 {
		return chart{}, errNoData
	}
	panels := []struct {
		title, ylabel string
		legend        bool
		value         func(load.Result) (v float64, label string, faint bool)
	}{
		{coldStartTitle(rep, scs) + "\n" + subtitle(rep) + "\nCalls that failed (each caller sends one request; a failed call is a tenant without a token)",
			"failed calls", true, func(r load.Result) (float64, string, bool) {
				return float64(r.FailedCalls()), spaced(r.FailedCalls()), false
			}},
		{"Token requests the IdP refused (over capacity)", "IdP refusals", false, func(r load.Result) (float64, string, bool) {
			return float64(r.Refusals), spaced(r.Refusals), false
		}},
		{"Time until every tenant had a token, against the ideal (faint: the run ended with N tenants that never got one)", "seconds", false,
			func(r load.Result) (float64, string, bool) {
				if s, ok := r.AllTokensSeconds(); ok {
					return s, strconv.FormatFloat(s, 'f', 2, 64) + " s", false
				}
				return r.Seconds, spaced(uint64(max(r.NoToken, 0))) + "\nnever", true
			}},
	}
	cs := contenders(rep)
	var plots []*plot.Plot
	for i, pn := range panels {
		p := plot.New()
		p.Title.Text = pn.title
		p.Y.Label.Text = pn.ylabel
		p.Legend.Top = true
		p.Add(plotter.NewGrid()) // beneath the bars
		ymax := 0.0
		for ci, c := range cs {
			values, faint := make(plotter.Values, len(scs)), make(plotter.Values, len(scs))
			anyFaint := false
			var labels plotter.XYLabels
			offset := (float64(ci) - float64(len(cs)-1)/2) * 0.27
			for x, s := range scs {
				r, ok := find(rep, s, c)
				if !ok {
					continue
				}
				v, label, isFaint := pn.value(r)
				if math.IsNaN(v) || math.IsInf(v, 0) {
					continue
				}
				if isFaint {
					faint[x], anyFaint = v, true
				} else {
					values[x] = v
				}
				ymax = max(ymax, v)
				labels.XYs = append(labels.XYs, plotter.XY{X: float64(x) + offset, Y: v})
				labels.Labels = append(labels.Labels, label)
			}
			bars, err := plotter.NewBarChart(values, vg.Points(36))
			if err != nil {
				return chart{}, err
			}
			col, _ := style(ci)
			bars.Color, bars.LineStyle.Width, bars.XMin = col, 0, offset
			p.Add(bars)
			if anyFaint {
				fb, err := plotter.NewBarChart(faint, vg.Points(36))
				if err != nil {
					return chart{}, err
				}
				r, g, b, _ := col.RGBA()
				fb.Color = color.NRGBA{R: uint8(r >> 8), G: uint8(g >> 8), B: uint8(b >> 8), A: 0x50}
				fb.LineStyle.Width, fb.XMin = 0, offset
				p.Add(fb)
			}
			if pn.legend {
				p.Legend.Add(c, bars)
			}
			if len(labels.XYs) > 0 {
				l, err := plotter.NewLabels(labels)
				if err != nil {
					return chart{}, err
				}
				for k := range l.TextStyle {
					l.TextStyle[k].XAlign, l.TextStyle[k].YAlign = text.XCenter, text.YBottom
				}
				l.Offset = vg.Point{Y: vg.Points(2)}
				p.Add(l)
			}
		}
		if i == len(panels)-1 {
			ideal, err := idealLines(rep, scs)
			if err != nil {
				return chart{}, err
			}
			for _, l := range ideal {
				p.Add(l)
				ymax = max(ymax, l.XYs[0].Y)
			}
			if len(ideal) > 0 {
				name := "ideal: tenants ÷ capacity × IdP latency"
				if same := ideal[0].XYs[0].Y; !slices.ContainsFunc(ideal, func(l *plotter.Line) bool { return l.XYs[0].Y != same }) {
					name += " = " + strconv.FormatFloat(same, 'f', 2, 64) + " s"
				}
				p.Legend.Add(name, ideal[0])
			}
		}
		if ymax <= 0 {
			ymax = 1
		}
		p.Y.Min, p.Y.Max = 0, ymax*1.45 // room for the labels and the legend
		p.NominalX(scs...)
		p.X.Min, p.X.Max = -0.6, float64(len(scs))-0.4
		plots = append(plots, p)
	}
	return chart{plots: plots, width: 8 * vg.Inch, height: 3.4 * vg.Inch}, nil
}

// idealLines returns a dashed line at each cold start's ideal time across
// its group of bars.
func idealLines(rep *load.Report, scs []string) ([]*plotter.Line, error) {
	var out []*plotter.Line
	for x, s := range scs {
		ideal := 0.0
		for _, r := range rep.Results {
			if r.Scenario == s && r.IdealSeconds > 0 {
				ideal = r.IdealSeconds
				break
			}
		}
		if ideal == 0 {
			continue
		}
		l, err := plotter.NewLine(plotter.XYs{{X: float64(x) - 0.45, Y: ideal}, {X: float64(x) + 0.45, Y: ideal}})
		if err != nil {
			return nil, err
		}
		l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		l.Color = color.Gray{Y: 64}
		l.Width = vg.Points(1.5)
		out = append(out, l)
	}
	return out, nil
}

// coldStartTitle describes the cold starts from the report's scenarios:
// "Cold start: 3 000 tenants at once on one IdP serving 16 token requests
// at a time (20ms each)", or less when the report lacks them.
func coldStartTitle(rep *load.Report, scs []string) string {
	for _, s := range rep.Scenarios {
		if s.Name == scs[0] && s.Capacity > 0 {
			return fmt.Sprintf("Cold start: %s tenants at once on one IdP serving %d token requests at a time (%v each)",
				spaced(uint64(s.Tenants)), s.Capacity, s.IdPLatency.Round(time.Microsecond))
		}
	}
	return "Cold start on one shared IdP"
}

// spaced writes n with thin spaces between thousands: "2 984".
func spaced(n uint64) string {
	s := strconv.FormatUint(n, 10)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + " " + s[i:]
	}
	return s
}

package bench

import (
	"cmp"
	"fmt"
	"os"
	"slices"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// Plot draws the report as a PNG: for throughput modes, one panel per
// kind of figure — prefill tokens/s against prompt length, decode tokens/s
// against batch size, rollout tokens/s against sequences running together
// — with aha and the peer on the same axes, each point the median with
// min–max bars; for serve mode, output tokens/s, TTFT and ITL percentiles
// against the load level, one line per server and percentile.
func Plot(r *Report, path string) error {
	var panels []*plot.Plot
	var err error
	if len(r.Serve) > 0 {
		panels, err = servePanels(r.Serve)
	} else {
		panels, err = throughputPanels(r.Rows)
	}
	if err != nil {
		return err
	}
	if len(panels) == 0 {
		return fmt.Errorf("plot: nothing to draw")
	}
	return WritePNG(path, panels)
}

// WritePNG draws plots side by side, 5 by 4 inches each, into a PNG file.
func WritePNG(path string, panels []*plot.Plot) error {
	const w, h = 5 * vg.Inch, 4 * vg.Inch
	img := vgimg.New(w*vg.Length(len(panels)), h)
	tiles := draw.Tiles{Rows: 1, Cols: len(panels), PadX: vg.Millimeter * 4}
	canvases := plot.Align([][]*plot.Plot{panels}, tiles, draw.New(img))
	for i, p := range panels {
		p.Draw(canvases[0][i])
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		return fmt.Errorf("plot %s: %w", path, err)
	}
	return f.Close()
}

// series is one line of a panel: y against x, with optional bars from lo
// to hi. Lines of one engine share a color; style tells its lines apart
// (dashes and point shape).
type series struct {
	name         string
	color, style int
	x, y         []float64
	lo, hi       []float64
	withErrors   bool
}

func (s *series) add(x float64, st Stats) {
	s.x, s.y, s.lo, s.hi = append(s.x, x), append(s.y, st.Median), append(s.lo, st.Min), append(s.hi, st.Max)
	s.withErrors = true
}

func (s *series) XY(i int) (float64, float64) { return s.x[i], s.y[i] }
func (s *series) Len() int                    { return len(s.x) }

// YError gives the bar's extent below and above the point.
func (s *series) YError(i int) (float64, float64) { return s.y[i] - s.lo[i], s.hi[i] - s.y[i] }

func throughputPanels(rows []Row) ([]*plot.Plot, error) {
	type panel struct {
		title, xlabel string
		x             func(Row) float64
		aha, vs       *series
	}
	panels := map[string]*panel{}
	var order []string
	for _, r := range rows {
		key := r.Figure
		if key == "rollout_single" {
			key = "rollout"
		}
		p := panels[key]
		if p == nil {
			switch key {
			case "prefill":
				p = &panel{title: "prefill", xlabel: "prompt tokens", x: func(r Row) float64 { return float64(r.PromptTokens) }}
			case "decode":
				p = &panel{title: "decode", xlabel: "sequences decoding together", x: func(r Row) float64 { return float64(r.Batch) }}
			default:
				p = &panel{title: "rollout (engine)", xlabel: "sequences running together", x: func(r Row) float64 { return float64(r.Batch) }}
			}
			p.aha = &series{name: "aha"}
			panels[key] = p
			order = append(order, key)
		}
		p.aha.add(p.x(r), r.TokensPerSec)
		if r.VsTokensPerS != nil && r.Vs != "single" {
			if p.vs == nil {
				p.vs = &series{name: r.Vs, color: 1, style: 1}
			}
			p.vs.add(p.x(r), *r.VsTokensPerS)
		}
	}
	var out []*plot.Plot
	for _, key := range order {
		p := panels[key]
		ss := []*series{p.aha}
		if p.vs != nil {
			ss = append(ss, p.vs)
		}
		// Rollout rows come batched first; lines should run left to right.
		for _, s := range ss {
			sortSeries(s)
		}
		pl, err := newPanel(p.title, p.xlabel, "tokens/s", ss)
		if err != nil {
			return nil, err
		}
		out = append(out, pl)
	}
	return out, nil
}

func servePanels(runs []ServeRun) ([]*plot.Plot, error) {
	xlabel := "concurrency"
	if runs[0].Rate > 0 {
		xlabel = "request rate (1/s)"
	}
	load := func(r ServeRun) float64 {
		if r.Rate > 0 {
			return r.Rate
		}
		return float64(r.Concurrency)
	}
	var servers []string
	for _, r := range runs {
		if !slices.Contains(servers, r.Server) {
			servers = append(servers, r.Server)
		}
	}
	var tput, ttft, itl []*series
	for k, name := range servers {
		t := &series{name: name, color: k, style: k}
		var ft, it [3]*series
		for i, p := range []string{"p50", "p90", "p99"} {
			ft[i] = &series{name: name + " " + p, color: k, style: i}
			it[i] = &series{name: name + " " + p, color: k, style: i}
		}
		for _, r := range runs {
			if r.Server != name {
				continue
			}
			x := load(r)
			t.x, t.y = append(t.x, x), append(t.y, r.OutputTokensPerSec)
			for i, v := range [][2]float64{{r.TTFT.P50, r.ITL.P50}, {r.TTFT.P90, r.ITL.P90}, {r.TTFT.P99, r.ITL.P99}} {
				ft[i].x, ft[i].y = append(ft[i].x, x), append(ft[i].y, v[0])
				it[i].x, it[i].y = append(it[i].x, x), append(it[i].y, v[1])
			}
		}
		tput = append(tput, t)
		ttft = append(ttft, ft[:]...)
		itl = append(itl, it[:]...)
	}
	var out []*plot.Plot
	for _, p := range []struct {
		title, ylabel string
		ss            []*series
	}{
		{"output throughput", "tokens/s", tput},
		{"time to first token", "ms", ttft},
		{"inter-token latency", "ms", itl},
	} {
		for _, s := range p.ss {
			sortSeries(s)
		}
		pl, err := newPanel(p.title, xlabel, p.ylabel, p.ss)
		if err != nil {
			return nil, err
		}
		out = append(out, pl)
	}
	return out, nil
}

// newPanel draws the series as lines with points (and bars where they have
// them) on a log-scaled x axis ticked at the measured x values, y from 0.
func newPanel(title, xlabel, ylabel string, ss []*series) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text, p.X.Label.Text, p.Y.Label.Text = title, xlabel, ylabel
	p.Legend.Top, p.Legend.Left = true, true
	var xs []float64
	ymax := 0.0
	for _, s := range ss {
		if s.Len() == 0 {
			continue
		}
		line, points, err := plotter.NewLinePoints(s)
		if err != nil {
			return nil, fmt.Errorf("plot %s: %w", title, err)
		}
		line.Color, line.Dashes = plotutil.Color(s.color), plotutil.Dashes(s.style)
		points.Color, points.Shape = plotutil.Color(s.color), plotutil.Shape(s.style)
		p.Add(line, points)
		p.Legend.Add(s.name, line, points)
		if s.withErrors {
			bars, err := plotter.NewYErrorBars(s)
			if err != nil {
				return nil, fmt.Errorf("plot %s: %w", title, err)
			}
			bars.Color = plotutil.Color(s.color)
			p.Add(bars)
		}
		xs = append(xs, s.x...)
		ymax = max(ymax, slices.Max(s.y))
		if s.withErrors {
			ymax = max(ymax, slices.Max(s.hi))
		}
	}
	// From zero, with room at the top for the legend's lines.
	p.Y.Min, p.Y.Max = 0, ymax*(1.1+0.08*float64(len(ss)))
	if len(xs) == 0 {
		return p, nil
	}
	slices.Sort(xs)
	xs = slices.Compact(xs)
	if xs[0] > 0 {
		p.X.Scale = plot.LogScale{}
		p.X.Min, p.X.Max = xs[0]/1.5, xs[len(xs)-1]*1.5
	}
	var ticks []plot.Tick
	for _, x := range xs {
		ticks = append(ticks, plot.Tick{Value: x, Label: strconv.FormatFloat(x, 'g', 4, 64)})
	}
	p.X.Tick.Marker = plot.ConstantTicks(ticks)
	return p, nil
}

// sortSeries orders a series' points by x.
func sortSeries(s *series) {
	idx := make([]int, s.Len())
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(s.x[a], s.x[b]) })
	pick := func(v []float64) []float64 {
		if v == nil {
			return nil
		}
		out := make([]float64, len(idx))
		for i, j := range idx {
			out[i] = v[j]
		}
		return out
	}
	s.x, s.y, s.lo, s.hi = pick(s.x), pick(s.y), pick(s.lo), pick(s.hi)
}

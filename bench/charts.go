package main

// Charts, drawn with gonum/plot: throughput against concurrency, the latency distributions, and
// the worker's memory against open invoices.

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// drawCharts writes the charts into dir and returns their paths.
func drawCharts(dir string, res *Result) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var out []string
	save := func(name string, plots []*plot.Plot) error {
		path := filepath.Join(dir, name)
		if err := savePNG(path, plots); err != nil {
			return fmt.Errorf("chart %s: %w", name, err)
		}
		out = append(out, path)
		return nil
	}
	for _, profile := range uniq(res.Runs, func(r Run) string { return r.Profile }) {
		tp, err := throughputChart(res, profile)
		if err != nil {
			return out, err
		}
		if err := save("bench-throughput-"+profile+".png", []*plot.Plot{tp}); err != nil {
			return out, err
		}
		confirm, update, err := latencyCharts(res, profile)
		if err != nil {
			return out, err
		}
		if err := save("bench-latency-"+profile+".png", []*plot.Plot{confirm, update}); err != nil {
			return out, err
		}
	}
	if res.Memory != nil && len(res.Memory.Capped) > 0 {
		m, err := memoryChart(res.Memory)
		if err != nil {
			return out, err
		}
		if err := save("bench-memory.png", []*plot.Plot{m}); err != nil {
			return out, err
		}
	}
	return out, nil
}

// throughputChart: paid invoices per second against concurrency, a line per variant through the
// mean of its runs, every run a point.
func throughputChart(res *Result, profile string) (*plot.Plot, error) {
	p := plot.New()
	workers := 0
	for _, r := range res.Runs {
		if r.Profile == profile {
			workers = r.Workers
		}
	}
	p.Title.Text = fmt.Sprintf("Paid invoices per second, %s profile (worker processes: %d)", profile, workers)
	p.X.Label.Text = "invoices driven at once"
	p.Y.Label.Text = "paid invoices / s"
	p.Y.Min = 0
	p.Legend.Top = true
	p.Legend.Left = true
	for i, v := range variants {
		var means, points plotter.XYs
		for _, s := range res.Summary {
			if s.Profile == profile && s.Variant == v {
				means = append(means, plotter.XY{X: float64(s.Concurrency), Y: s.Throughput})
			}
		}
		for _, r := range res.Runs {
			if r.Profile == profile && r.Variant == v {
				points = append(points, plotter.XY{X: float64(r.Concurrency), Y: r.Throughput})
			}
		}
		if len(means) == 0 {
			continue
		}
		line, err := plotter.NewLine(means)
		if err != nil {
			return nil, err
		}
		line.Color, line.Dashes = plotutil.Color(i), plotutil.Dashes(i)
		scatter, err := plotter.NewScatter(points)
		if err != nil {
			return nil, err
		}
		scatter.Color, scatter.Shape = plotutil.Color(i), plotutil.Shape(i)
		p.Add(line, scatter)
		p.Legend.Add(v, line, scatter)
		for _, pt := range points {
			p.Y.Max = max(p.Y.Max, pt.Y*1.3) // room for the legend above the lines
		}
	}
	p.Add(plotter.NewGrid())
	return p, nil
}

// latencyCharts: the distribution (CDF) of confirm → AP and of an update's round trip for each
// variant, at the profile's highest concurrency, every repetition pooled; milliseconds on a log
// scale.
func latencyCharts(res *Result, profile string) (confirm, update *plot.Plot, err error) {
	conc := 0
	for _, r := range res.Runs {
		if r.Profile == profile {
			conc = max(conc, r.Concurrency)
		}
	}
	mk := func(what string, samples func(Run) []float64) (*plot.Plot, error) {
		p := plot.New()
		p.Title.Text = fmt.Sprintf("%s, %s profile, %d at once", what, profile, conc)
		p.X.Label.Text = "ms (log scale)"
		p.Y.Label.Text = "share of calls at or under"
		p.X.Scale, p.X.Tick.Marker = plot.LogScale{}, ticks125{}
		p.Y.Min, p.Y.Max = 0, 1
		p.Legend.Top = false
		p.Legend.Left = false
		for i, v := range variants {
			var all []float64
			for _, r := range res.Runs {
				if r.Profile == profile && r.Concurrency == conc && r.Variant == v {
					all = append(all, samples(r)...)
				}
			}
			if len(all) == 0 {
				continue
			}
			slices.Sort(all)
			cdf := make(plotter.XYs, len(all))
			for j, x := range all {
				cdf[j] = plotter.XY{X: max(x, 0.01), Y: float64(j+1) / float64(len(all))}
			}
			line, err := plotter.NewLine(cdf)
			if err != nil {
				return nil, err
			}
			line.Color, line.Dashes, line.Width = plotutil.Color(i), plotutil.Dashes(i), vg.Points(1.5)
			p.Add(line)
			p.Legend.Add(v, line)
		}
		p.Add(plotter.NewGrid())
		return p, nil
	}
	if confirm, err = mk("Confirm → AP seen by the client", func(r Run) []float64 { return r.ConfirmMS }); err != nil {
		return nil, nil, err
	}
	update, err = mk("One update's round trip", func(r Run) []float64 { return r.UpdateMS })
	return confirm, update, err
}

// memoryChart: the capped worker's resident memory and Go heap against the invoices open.
func memoryChart(m *MemoryResult) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("Worker memory with a sticky cache of %d workflows (%s profile)", m.Cache, m.Profile)
	p.X.Label.Text = "open invoices confirmed through the worker"
	p.Y.Label.Text = "MB"
	p.Y.Min = 0
	p.Legend.Top = true
	p.Legend.Left = true
	var rss, heap plotter.XYs
	for _, pt := range m.Capped {
		rss = append(rss, plotter.XY{X: float64(pt.Open), Y: pt.RSSMB})
		heap = append(heap, plotter.XY{X: float64(pt.Open), Y: pt.HeapMB})
	}
	for i, s := range []struct {
		name string
		xys  plotter.XYs
	}{{"resident (RSS)", rss}, {"Go heap in use", heap}} {
		line, points, err := plotter.NewLinePoints(s.xys)
		if err != nil {
			return nil, err
		}
		line.Color, points.Color, points.Shape = plotutil.Color(i), plotutil.Color(i), plotutil.Shape(i)
		p.Add(line, points)
		p.Legend.Add(s.name, line, points)
	}
	// Where the cache is full: from there on, each new invoice evicts an older one.
	top := 0.0
	for _, pt := range rss {
		top = max(top, pt.Y)
	}
	full, err := plotter.NewLine(plotter.XYs{{X: float64(m.Cache), Y: 0}, {X: float64(m.Cache), Y: top}})
	if err != nil {
		return nil, err
	}
	full.Color, full.Dashes = plotutil.Color(2), plotutil.Dashes(2)
	p.Add(full)
	p.Legend.Add("sticky cache full", full)
	p.Add(plotter.NewGrid())
	return p, nil
}

// ticks125 marks a log axis at 1, 2 and 5 times the powers of ten, labelled, with unlabelled
// ticks between.
type ticks125 struct{}

func (ticks125) Ticks(lo, hi float64) []plot.Tick {
	var out []plot.Tick
	for decade := math.Pow(10, math.Floor(math.Log10(lo))); decade <= hi; decade *= 10 {
		for m := 1; m < 10; m++ {
			v := float64(m) * decade
			if v < lo || v > hi {
				continue
			}
			t := plot.Tick{Value: v}
			if m == 1 || m == 2 || m == 5 {
				t.Label = strconv.FormatFloat(v, 'g', -1, 64)
			}
			out = append(out, t)
		}
	}
	return out
}

// savePNG draws plots side by side into one PNG.
func savePNG(path string, plots []*plot.Plot) error {
	w, h := vg.Length(len(plots))*6.5*vg.Inch, 4.2*vg.Inch
	img := vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(110))
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 1, Cols: len(plots), PadX: 0.4 * vg.Inch, PadTop: 0.1 * vg.Inch, PadBottom: 0.1 * vg.Inch,
		PadLeft: 0.1 * vg.Inch, PadRight: 0.2 * vg.Inch}
	canvases := plot.Align([][]*plot.Plot{plots}, tiles, dc)
	for i, p := range plots {
		p.Draw(canvases[0][i])
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

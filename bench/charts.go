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
	if res.List != nil && len(res.List.Sizes) > 0 {
		l, err := listChart(res.List)
		if err != nil {
			return out, err
		}
		if err := save("bench-list.png", []*plot.Plot{l}); err != nil {
			return out, err
		}
	}
	if res.Memory != nil && len(res.Memory.Capped) > 0 {
		mem, goroutines, err := memoryCharts(res.Memory)
		if err != nil {
			return out, err
		}
		if err := save("bench-memory.png", []*plot.Plot{mem, goroutines}); err != nil {
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

// listChart: each list shape's p95 against the invoice rows in the table, both on log scales.
func listChart(l *ListResult) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = "GET /v1/invoices through the gateway: p95"
	p.X.Label.Text = "invoice rows (log scale)"
	p.Y.Label.Text = "ms (log scale)"
	p.X.Scale, p.X.Tick.Marker = plot.LogScale{}, ticks125{}
	p.Y.Scale, p.Y.Tick.Marker = plot.LogScale{}, ticks125{}
	p.Legend.Top, p.Legend.Left = true, true
	var names []string
	for _, size := range l.Sizes {
		for _, s := range size.Shapes {
			if !slices.Contains(names, s.Name) {
				names = append(names, s.Name)
			}
		}
	}
	top := 0.0
	for i, name := range names {
		var xys plotter.XYs
		for _, size := range l.Sizes {
			for _, s := range size.Shapes {
				if s.Name == name {
					xys = append(xys, plotter.XY{X: float64(size.Rows), Y: max(s.P95, 0.01)})
					top = max(top, s.P95)
				}
			}
		}
		line, points, err := plotter.NewLinePoints(xys)
		if err != nil {
			return nil, err
		}
		line.Color, line.Dashes = plotutil.Color(i), plotutil.Dashes(i/len(plotutil.DefaultColors))
		points.Color, points.Shape = plotutil.Color(i), plotutil.Shape(i)
		p.Add(line, points)
		p.Legend.Add(name, line, points)
	}
	p.Y.Max = top * 30 // room for the legend above the lines
	p.Add(plotter.NewGrid())
	return p, nil
}

// memoryCharts: the worker's resident memory and Go heap, and its goroutines, against the
// invoices open: with the default sticky cache, and with the smaller one that bounds them.
func memoryCharts(m *MemoryResult) (mem, goroutines *plot.Plot, err error) {
	series := func(points []MemoryPoint, value func(MemoryPoint) float64) plotter.XYs {
		var xys plotter.XYs
		for _, pt := range points {
			xys = append(xys, plotter.XY{X: float64(pt.Open), Y: value(pt)})
		}
		return xys
	}
	def := []MemoryPoint{m.Idle, m.Loaded}
	rss := func(p MemoryPoint) float64 { return p.RSSMB }
	mk := func(title, unit string, lines []namedXYs) (*plot.Plot, error) {
		p := plot.New()
		p.Title.Text = title
		p.X.Label.Text = "open invoices confirmed through the worker"
		p.Y.Label.Text = unit
		p.Y.Min = 0
		p.Legend.Top, p.Legend.Left = true, true
		top := 0.0
		for i, l := range lines {
			line, points, err := plotter.NewLinePoints(l.xys)
			if err != nil {
				return nil, err
			}
			line.Color, points.Color, points.Shape = plotutil.Color(i), plotutil.Color(i), plotutil.Shape(i)
			p.Add(line, points)
			p.Legend.Add(l.name, line, points)
			for _, pt := range l.xys {
				top = max(top, pt.Y)
			}
		}
		// Where the smaller cache is full: from there on, each new invoice evicts an older one.
		full, err := plotter.NewLine(plotter.XYs{{X: float64(m.Cache), Y: 0}, {X: float64(m.Cache), Y: top}})
		if err != nil {
			return nil, err
		}
		full.Color, full.Dashes = plotutil.Color(len(lines)), plotutil.Dashes(2)
		p.Add(full, plotter.NewGrid())
		p.Legend.Add(fmt.Sprintf("sticky cache of %d full", m.Cache), full)
		p.Y.Max = top * 1.4 // room for the legend
		return p, nil
	}
	if mem, err = mk(fmt.Sprintf("Worker memory (%s profile)", m.Profile), "MB", []namedXYs{
		{fmt.Sprintf("RSS, sticky cache %d", m.Cache), series(m.Capped, rss)},
		{fmt.Sprintf("Go heap in use, sticky cache %d", m.Cache), series(m.Capped, func(p MemoryPoint) float64 { return p.HeapMB })},
		{"RSS, default sticky cache (10000)", series(def, rss)},
	}); err != nil {
		return nil, nil, err
	}
	g := func(p MemoryPoint) float64 { return p.Goroutines }
	goroutines, err = mk("Worker goroutines", "goroutines", []namedXYs{
		{fmt.Sprintf("sticky cache %d", m.Cache), series(m.Capped, g)},
		{"default sticky cache (10000)", series(def, g)},
	})
	return mem, goroutines, err
}

// namedXYs is one line of a chart.
type namedXYs struct {
	name string
	xys  plotter.XYs
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
				t.Label = shortNumber(v)
			}
			out = append(out, t)
		}
	}
	return out
}

// shortNumber writes 2000 as 2k and 1000000 as 1M.
func shortNumber(v float64) string {
	switch {
	case v >= 1e6:
		return strconv.FormatFloat(v/1e6, 'g', -1, 64) + "M"
	case v >= 1e3:
		return strconv.FormatFloat(v/1e3, 'g', -1, 64) + "k"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
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

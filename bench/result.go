package main

// The result: what is printed, written as JSON and drawn.

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Result is one bench run, as written to JSON.
type Result struct {
	Config   settings      `json:"config"`
	Machine  Machine       `json:"machine"`
	Started  time.Time     `json:"started"`
	Finished time.Time     `json:"finished"`
	Runs     []Run         `json:"runs"`
	Summary  []Summary     `json:"summary"`
	Ratios   []Ratio       `json:"ratios"`
	List     *ListResult   `json:"list,omitempty"`
	Memory   *MemoryResult `json:"memory,omitempty"`
	Charts   []string      `json:"charts"`
	// Error is why the run stopped early; what was measured before is kept.
	Error string `json:"error,omitempty"`
}

// Run is one variant driven once at one concurrency.
type Run struct {
	Profile     string `json:"profile"`
	Variant     string `json:"variant"`
	Concurrency int    `json:"concurrency"`
	Rep         int    `json:"repetition"`
	Position    int    `json:"position"` // its place among the variants of its repetition
	Invoices    int    `json:"invoices"`
	Workers     int    `json:"worker_processes"`
	// WallSeconds runs from the first confirmation to the last invoice paid.
	WallSeconds float64     `json:"wall_seconds"`
	Throughput  float64     `json:"paid_per_second"`
	Confirm     Percentiles `json:"confirm_to_ap"`
	Update      Percentiles `json:"update_round_trip"`
	// ConfirmMS and UpdateMS are every latency measured, in milliseconds.
	ConfirmMS               []float64 `json:"confirm_ms"`
	UpdateMS                []float64 `json:"update_ms"`
	EventsPerInvoice        float64   `json:"history_events_per_invoice"`
	WorkflowTasksPerInvoice float64   `json:"workflow_tasks_per_invoice"`
	HistoryBytesPerInvoice  float64   `json:"history_bytes_per_invoice"`
	CPUSecondsPer1000       float64   `json:"worker_cpu_seconds_per_1000"`
	PeakRSSMB               []float64 `json:"worker_peak_rss_mb"` // one per worker process
	Histories               Histories `json:"histories"`
}

// Summary is the runs of one variant at one concurrency on one profile, over the repetitions.
type Summary struct {
	Profile     string  `json:"profile"`
	Concurrency int     `json:"concurrency"`
	Variant     string  `json:"variant"`
	Runs        int     `json:"runs"`
	Invoices    int     `json:"invoices"`
	Throughput  float64 `json:"paid_per_second"` // mean of the runs
	// Confirm and Update pool every latency of the runs.
	Confirm           Percentiles `json:"confirm_to_ap"`
	Update            Percentiles `json:"update_round_trip"`
	Events            float64     `json:"history_events_per_invoice"`
	WorkflowTasks     float64     `json:"workflow_tasks_per_invoice"`
	HistoryBytes      float64     `json:"history_bytes_per_invoice"`
	CPUSecondsPer1000 float64     `json:"worker_cpu_seconds_per_1000"`
	PeakRSSMB         float64     `json:"worker_peak_rss_mb"` // the highest of any process
}

// Ratio compares the variants' throughput at one concurrency on one profile.
type Ratio struct {
	Profile            string  `json:"profile"`
	Concurrency        int     `json:"concurrency"`
	InvoiceToFloorOld  float64 `json:"invoice_to_floor_old"`
	InvoiceToFloorNew  float64 `json:"invoice_to_floor_new"`
	FloorNewToFloorOld float64 `json:"floor_new_to_floor_old"`
}

// summarize groups the runs by profile, concurrency and variant, and compares the variants.
func summarize(runs []Run) ([]Summary, []Ratio) {
	var out []Summary
	var ratios []Ratio
	for _, profile := range uniq(runs, func(r Run) string { return r.Profile }) {
		for _, conc := range uniq(runs, func(r Run) int { return r.Concurrency }) {
			by := map[string]Summary{}
			for _, v := range variants {
				var s Summary
				var confirms, updates []float64
				for _, r := range runs {
					if r.Profile != profile || r.Concurrency != conc || r.Variant != v {
						continue
					}
					s.Runs++
					s.Invoices += r.Invoices
					s.Throughput += r.Throughput
					s.Events += r.EventsPerInvoice
					s.WorkflowTasks += r.WorkflowTasksPerInvoice
					s.HistoryBytes += r.HistoryBytesPerInvoice
					s.CPUSecondsPer1000 += r.CPUSecondsPer1000
					s.PeakRSSMB = max(s.PeakRSSMB, slices.Max(append([]float64{0}, r.PeakRSSMB...)))
					confirms, updates = append(confirms, r.ConfirmMS...), append(updates, r.UpdateMS...)
				}
				if s.Runs == 0 {
					continue
				}
				n := float64(s.Runs)
				s.Profile, s.Concurrency, s.Variant = profile, conc, v
				s.Throughput, s.Events, s.WorkflowTasks = s.Throughput/n, s.Events/n, s.WorkflowTasks/n
				s.HistoryBytes, s.CPUSecondsPer1000 = s.HistoryBytes/n, s.CPUSecondsPer1000/n
				s.Confirm, s.Update = percentiles(confirms), percentiles(updates)
				by[v] = s
				out = append(out, s)
			}
			if len(by) == len(variants) {
				ratios = append(ratios, Ratio{Profile: profile, Concurrency: conc,
					InvoiceToFloorOld:  by[variantInvoice].Throughput / by[variantFloorOld].Throughput,
					InvoiceToFloorNew:  by[variantInvoice].Throughput / by[variantFloorNew].Throughput,
					FloorNewToFloorOld: by[variantFloorNew].Throughput / by[variantFloorOld].Throughput})
			}
		}
	}
	return out, ratios
}

// uniq lists the distinct keys of runs, in the order they first appear.
func uniq[K comparable](runs []Run, key func(Run) K) []K {
	var out []K
	for _, r := range runs {
		if k := key(r); !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	return out
}

func pct(p Percentiles) string { return fmt.Sprintf("%.0f / %.0f / %.0f", p.P50, p.P95, p.P99) }

// printResult prints the tables.
func printResult(w io.Writer, res *Result) {
	m := res.Machine
	fmt.Fprintf(w, "K2K Auto-Invoice bench, %s: %s, %d cores, %.1f GiB, kernel %s, %s, PostgreSQL %s; load average %s before, %s after\n",
		res.Started.Format(time.RFC3339), m.CPU, m.Cores, m.MemoryGiB, m.Kernel, m.Go, m.Postgres, m.LoadBefore, m.LoadAfter)
	c := res.Config
	var profiles []string
	for _, p := range c.Profiles {
		profiles = append(profiles, fmt.Sprintf("%s (worker processes: %d)", p, c.workers(p)))
	}
	if !c.has(phaseThroughput) && !c.has(phaseMemory) {
		profiles = []string{"none"}
	}
	fmt.Fprintf(w, "Profiles %s; phases %s\n", strings.Join(profiles, ", "), strings.Join(c.Phases, ", "))
	if c.has(phaseThroughput) {
		fmt.Fprintf(w, "Throughput: concurrency %v, %d invoices per run (%d at concurrency 1), %d repetition(s) in ABBA order, %d histories sampled per run\n",
			c.Concurrency, c.Invoices, c.InvoicesAtOne, c.Reps, c.Sample)
	}
	if c.has(phaseList) {
		fmt.Fprintf(w, "List: %v invoice rows, %d requests per shape\n", c.ListSizes, c.ListRequests)
	}
	if c.has(phaseMemory) {
		fmt.Fprintf(w, "Memory: %d open invoices, then %d with a sticky cache of %d\n", c.Open, 2*c.Open, c.OpenCache)
	}
	if len(res.Runs) > 0 {
		fmt.Fprintf(w, "\nRuns, in the order they ran (latencies in ms, p50 / p95 / p99; per paid invoice: history events, workflow tasks, history bytes, worker CPU s per 1,000)\n")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "profile\tconc\trep\tvariant\tworkers\tinvoices\tpaid/s\tconfirm→AP\tupdate\tevents\twf tasks\tbytes\tCPU s/1k\tpeak RSS MB\t")
		for _, r := range res.Runs {
			rss := make([]string, len(r.PeakRSSMB))
			for i, v := range r.PeakRSSMB {
				rss[i] = fmt.Sprintf("%.0f", v)
			}
			fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%d\t%d\t%.1f\t%s\t%s\t%.0f\t%.0f\t%.0f\t%.1f\t%s\t\n", r.Profile, r.Concurrency, r.Rep,
				r.Variant, r.Workers, r.Invoices, r.Throughput, pct(r.Confirm), pct(r.Update), r.EventsPerInvoice,
				r.WorkflowTasksPerInvoice, r.HistoryBytesPerInvoice, r.CPUSecondsPer1000, strings.Join(rss, "+"))
		}
		tw.Flush()
		for _, r := range res.Runs {
			for _, p := range r.Histories.TaskProblems {
				fmt.Fprintf(w, "workflow task problem, %s %s c=%d rep %d: %s\n", r.Profile, r.Variant, r.Concurrency, r.Rep, p)
			}
		}
		fmt.Fprintf(w, "\nBy variant, over the repetitions (paid/s the mean of the runs; latencies pooled)\n")
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "profile\tconc\tvariant\truns\tinvoices\tpaid/s\tconfirm→AP\tupdate\tevents\twf tasks\tbytes\tCPU s/1k\tpeak RSS MB\t")
		for _, s := range res.Summary {
			fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%d\t%.1f\t%s\t%s\t%.0f\t%.0f\t%.0f\t%.1f\t%.0f\t\n", s.Profile, s.Concurrency, s.Variant,
				s.Runs, s.Invoices, s.Throughput, pct(s.Confirm), pct(s.Update), s.Events, s.WorkflowTasks, s.HistoryBytes,
				s.CPUSecondsPer1000, s.PeakRSSMB)
		}
		tw.Flush()
		fmt.Fprintf(w, "\nThroughput ratios\n")
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "profile\tconc\tinvoice / floor-old\tinvoice / floor-new\tfloor-new / floor-old\t")
		for _, r := range res.Ratios {
			fmt.Fprintf(tw, "%s\t%d\t%.2f\t%.2f\t%.2f\t\n", r.Profile, r.Concurrency, r.InvoiceToFloorOld, r.InvoiceToFloorNew, r.FloorNewToFloorOld)
		}
		tw.Flush()
	}
	if res.List != nil {
		printList(w, res.List)
	}
	if res.Memory != nil {
		printMemory(w, res.Memory)
	}
	if res.Error != "" {
		fmt.Fprintf(w, "\nSTOPPED EARLY: %s\n", res.Error)
	}
}

// writeResult writes the JSON and the charts.
func writeResult(cfg settings, res *Result) error {
	charts, err := drawCharts(cfg.ChartsDir, res)
	if err != nil {
		return err
	}
	res.Charts = charts
	if err := os.MkdirAll(filepath.Dir(cfg.Out), 0o755); err != nil {
		return err
	}
	data, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(cfg.Out, append(data, '\n'), 0o644)
}

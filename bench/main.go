// Command bench measures what an invoice costs: throughput and latency of the real invoice
// workflow on the real worker against two no-op floors of the same shape (the workflow before and
// after the change "local-steps"), history events, workflow tasks, history bytes, worker CPU and
// memory per invoice, GET /v1/invoices on large tables, and the worker's memory per open invoice.
// docs/performance.md says how to read it.
//
//	go run ./bench [flags]        run the phases and write a table, JSON and charts
//	go run ./bench floor-worker   (started by the bench) a worker of the floor workflows
//
// It starts everything it needs, as the fault suite does: a fresh PostgreSQL database, versitygw,
// the Temporal dev server or the real Temporal server (profiles dev and cluster), and the worker
// built from this repository as separate processes. It needs the pinned tools of `make tools`.
package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/k2kinvoice/autoinvoice/internal/testenv"
)

// The phases a run may take.
const (
	phaseThroughput = "throughput"
	phaseList       = "list"
	phaseMemory     = "memory"
)

// The profiles: the Temporal server the workers talk to, and how many worker processes run.
const (
	profileDev     = "dev"
	profileCluster = "cluster"
)

// settings is what one bench run does.
type settings struct {
	Profiles        []string `json:"profiles"`
	Phases          []string `json:"phases"`
	Variants        []string `json:"variants"`
	Concurrency     []int    `json:"concurrency"`
	Invoices        int      `json:"invoices"`        // per run
	InvoicesAtOne   int      `json:"invoices_at_one"` // per run at concurrency 1
	Reps            int      `json:"repetitions"`
	Sample          int      `json:"sampled_histories"` // histories fetched per run
	WorkersDev      int      `json:"workers_dev"`
	WorkersServer   int      `json:"workers_cluster"`
	ListSizes       []int    `json:"list_sizes"`
	ListRequests    int      `json:"list_requests"`
	Open            int      `json:"open_invoices"`
	OpenCache       int      `json:"open_sticky_cache"`
	OpenConcurrency int      `json:"open_concurrency"` // confirmations at once in the memory phase
	// Settle is how long the memory phase lets a worker settle before reading its memory.
	Settle    time.Duration `json:"memory_settle"`
	Out       string        `json:"-"`
	ChartsDir string        `json:"-"`
	Quiet     bool          `json:"-"` // no progress lines on stderr
	From      string        `json:"-"` // a result to print and chart again
}

// workers is how many worker processes a profile runs.
func (c settings) workers(profile string) int {
	if profile == profileCluster {
		return c.WorkersServer
	}
	return c.WorkersDev
}

// invoicesAt is how many invoices a run at concurrency conc drives.
func (c settings) invoicesAt(conc int) int {
	if conc == 1 {
		return c.InvoicesAtOne
	}
	return c.Invoices
}

func (c settings) has(phase string) bool { return slices.Contains(c.Phases, phase) }

// parseConfig reads the command line.
func parseConfig(args []string, stderr io.Writer) (settings, error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	profiles := fs.String("profiles", "dev,cluster", "Temporal profiles: dev (the CLI's dev server, 1 worker) and cluster (the real server on PostgreSQL, 2 workers)")
	phases := fs.String("phases", "throughput,list,memory", "phases to run: throughput (the three variants), list (GET /v1/invoices on large tables), memory (open invoices; takes minutes)")
	variantList := fs.String("variants", strings.Join(variants, ","), "variants of the throughput phase (ratios need all three)")
	conc := fs.String("concurrency", "1,20,50", "invoices driven at once, one run each")
	invoices := fs.Int("invoices", 200, "invoices per run")
	atOne := fs.Int("invoices-at-1", 50, "invoices per run at concurrency 1")
	reps := fs.Int("reps", 2, "repetitions; the variants' order alternates (ABBA) from one to the next")
	sample := fs.Int("sample", 10, "histories fetched per run for events, workflow tasks, bytes and the PDF check")
	workersDev := fs.Int("workers-dev", 1, "worker processes on the dev profile")
	workersServer := fs.Int("workers-cluster", 2, "worker processes on the cluster profile")
	listSizes := fs.String("list-sizes", "10000,100000,1000000", "invoice rows in PostgreSQL for the list phase")
	listRequests := fs.Int("list-requests", 200, "requests per list query shape and size")
	open := fs.Int("open", 10000, "open invoices for the memory phase (then twice as many with a smaller sticky cache)")
	openCache := fs.Int("open-cache", 0, "sticky cache of the memory phase's second worker (default: half of -open)")
	out := fs.String("out", "", "the JSON result (default .dev/bench/bench-<time>.json in the repository)")
	charts := fs.String("charts", "", "folder for the PNG charts (default: beside the JSON)")
	docs := fs.Bool("docs-charts", false, "write the charts into docs/performance/ (for docs/performance.md)")
	from := fs.String("from", "", "print and chart a result written before (its JSON) instead of running")
	settle := fs.Duration("settle", 3*time.Second, "memory phase: how long a worker settles before its memory is read")
	quiet := fs.Bool("quiet", false, "no progress lines on stderr")
	if err := fs.Parse(args); err != nil {
		return settings{}, err
	}
	if fs.NArg() > 0 {
		return settings{}, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	c := settings{Profiles: splitList(*profiles), Phases: splitList(*phases), Variants: splitList(*variantList), Invoices: *invoices, InvoicesAtOne: *atOne,
		Reps: *reps, Sample: *sample, WorkersDev: *workersDev, WorkersServer: *workersServer, ListRequests: *listRequests,
		Open: *open, OpenCache: *openCache, OpenConcurrency: 50, Settle: *settle, Out: *out, ChartsDir: *charts, Quiet: *quiet, From: *from}
	var err error
	if c.Concurrency, err = splitInts(*conc); err != nil {
		return settings{}, fmt.Errorf("-concurrency: %w", err)
	}
	if c.ListSizes, err = splitInts(*listSizes); err != nil {
		return settings{}, fmt.Errorf("-list-sizes: %w", err)
	}
	if c.OpenCache == 0 {
		c.OpenCache = max(1, c.Open/2)
	}
	if *docs {
		root, err := testenv.RepoRoot()
		if err != nil {
			return settings{}, err
		}
		c.ChartsDir = filepath.Join(root, "docs", "performance")
	}
	return c, c.validate()
}

func (c settings) validate() error {
	for _, p := range c.Profiles {
		if p != profileDev && p != profileCluster {
			return fmt.Errorf("-profiles: %q is not dev or cluster", p)
		}
	}
	for _, p := range c.Phases {
		if p != phaseThroughput && p != phaseList && p != phaseMemory {
			return fmt.Errorf("-phases: %q is not throughput, list or memory", p)
		}
	}
	for _, v := range c.Variants {
		if !slices.Contains(variants, v) {
			return fmt.Errorf("-variants: %q is not one of %v", v, variants)
		}
	}
	if len(c.Phases) == 0 {
		return errors.New("-phases: none selected")
	}
	if (c.has(phaseThroughput) || c.has(phaseMemory)) && len(c.Profiles) == 0 {
		return errors.New("-profiles: none selected")
	}
	for _, n := range []struct {
		name string
		v    int
	}{{"-invoices", c.Invoices}, {"-invoices-at-1", c.InvoicesAtOne}, {"-reps", c.Reps}, {"-sample", c.Sample},
		{"-workers-dev", c.WorkersDev}, {"-workers-cluster", c.WorkersServer}, {"-list-requests", c.ListRequests},
		{"-open", c.Open}, {"-open-cache", c.OpenCache}} {
		if n.v < 1 {
			return fmt.Errorf("%s must be at least 1, got %d", n.name, n.v)
		}
	}
	for _, v := range append(slices.Clone(c.Concurrency), c.ListSizes...) {
		if v < 1 {
			return fmt.Errorf("concurrencies and list sizes must be at least 1, got %d", v)
		}
	}
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func splitInts(s string) ([]int, error) {
	var out []int
	for _, f := range splitList(s) {
		n, err := strconv.Atoi(f)
		if err != nil {
			return nil, fmt.Errorf("%q is not a whole number", f)
		}
		out = append(out, n)
	}
	return out, nil
}

// roleEnv makes this program a floor worker when it starts another copy of itself (a test binary
// takes no subcommand, so the role travels in the environment).
const roleEnv = "K2K_BENCH_ROLE"

const floorWorkerRole = "floor-worker"

func main() {
	if runAsFloorWorker(os.Args[1:]) {
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	cfg, err := parseConfig(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	if cfg.From != "" {
		err = replot(cfg, os.Stdout)
	} else {
		_, err = run(ctx, cfg, os.Stdout, os.Stderr)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// runAsFloorWorker runs this process as a floor worker until SIGTERM when it was started as one
// (by the role in its environment, or the subcommand), and reports whether it was.
func runAsFloorWorker(args []string) bool {
	if os.Getenv(roleEnv) != floorWorkerRole && (len(args) == 0 || args[0] != floorWorkerRole) {
		return false
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := runFloorWorker(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "floor worker:", err)
		os.Exit(1)
	}
	return true
}

// run runs the phases cfg selects, prints the tables to stdout and writes the JSON and charts.
func run(ctx context.Context, cfg settings, stdout, stderr io.Writer) (*Result, error) {
	if cfg.Out == "" {
		root, err := testenv.RepoRoot()
		if err != nil {
			return nil, err
		}
		cfg.Out = filepath.Join(root, ".dev", "bench", "bench-"+time.Now().Format("20060102-150405")+".json")
	}
	if cfg.ChartsDir == "" {
		cfg.ChartsDir = filepath.Dir(cfg.Out)
	}
	res := &Result{Config: cfg, Machine: readMachine(), Started: time.Now().UTC()}
	l, err := newLab(ctx, cfg, stderr)
	if err != nil {
		return nil, err
	}
	defer l.close()
	res.Machine.Postgres = l.postgresVersion(ctx)
	err = measure(ctx, l, res)
	if err != nil {
		// What was measured before the failure is printed and written too, marked.
		l.keepLogs = true
		res.Error = err.Error()
	}
	res.Summary, res.Ratios = summarize(res.Runs)
	res.Finished = time.Now().UTC()
	res.Machine.LoadAfter = loadAverage()
	printResult(stdout, res)
	if werr := writeResult(cfg, res); werr != nil {
		return res, errors.Join(err, werr)
	}
	fmt.Fprintf(stdout, "\nJSON: %s\ncharts: %s\n", cfg.Out, cmp.Or(strings.Join(res.Charts, ", "), "none"))
	return res, err
}

// measure runs the phases, adding to res as it goes.
func measure(ctx context.Context, l *lab, res *Result) error {
	cfg := l.cfg
	if cfg.has(phaseThroughput) || cfg.has(phaseMemory) {
		for i, profile := range cfg.Profiles {
			if err := l.onProfile(ctx, profile, func() error {
				if cfg.has(phaseThroughput) {
					runs, err := l.throughput(ctx, profile)
					res.Runs = append(res.Runs, runs...)
					if err != nil {
						return err
					}
				}
				if cfg.has(phaseMemory) && i == 0 {
					mem, err := l.memory(ctx, profile)
					res.Memory = mem
					return err
				}
				return nil
			}); err != nil {
				return err
			}
		}
	}
	if cfg.has(phaseList) {
		list, err := l.list(ctx)
		res.List = list
		return err
	}
	return nil
}

// replot prints and charts a result written before, into the charts folder of cfg (beside the
// JSON read unless -charts or -docs-charts).
func replot(cfg settings, stdout io.Writer) error {
	data, err := os.ReadFile(cfg.From)
	if err != nil {
		return err
	}
	var res Result
	if err := json.Unmarshal(data, &res); err != nil {
		return fmt.Errorf("%s: %w", cfg.From, err)
	}
	charts, err := drawCharts(cmp.Or(cfg.ChartsDir, filepath.Dir(cfg.From)), &res)
	if err != nil {
		return err
	}
	res.Charts = charts
	printResult(stdout, &res)
	fmt.Fprintf(stdout, "\ncharts: %s\n", cmp.Or(strings.Join(charts, ", "), "none"))
	return nil
}

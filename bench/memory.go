package main

// The memory phase: invoices wait for people most of their life, so the worker's memory per open
// invoice, and the sticky cache that bounds it, decide how many invoices a worker can hold.

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"
)

// MemoryResult is the memory phase's measurements, on one worker process.
type MemoryResult struct {
	Profile string `json:"profile"`
	Open    int    `json:"open_invoices"`
	// Idle and Loaded are the worker with the default sticky cache before and after Open
	// invoices were confirmed (all left in AP).
	Idle                 MemoryPoint `json:"idle"`
	Loaded               MemoryPoint `json:"loaded"`
	KBPerInvoice         float64     `json:"rss_kb_per_open_invoice"`
	HeapKBPerInvoice     float64     `json:"heap_kb_per_open_invoice"`
	GoroutinesPerInvoice float64     `json:"goroutines_per_open_invoice"`
	// Floor is the same measurement of the floor worker with Open no-op workflows of the
	// current shape (floor-new) waiting in AP: what the SDK and the server's messages cost per
	// open workflow before the invoice's own state and handlers.
	Floor *FloorMemory `json:"floor,omitempty"`
	// Capped is a fresh worker with a sticky cache of Cache workflows while twice as many
	// invoices are confirmed.
	Cache  int           `json:"sticky_cache"`
	Capped []MemoryPoint `json:"capped"`
}

// FloorMemory is the floor worker's memory with no workflow and with Open open ones.
type FloorMemory struct {
	Idle                  MemoryPoint `json:"idle"`
	Loaded                MemoryPoint `json:"loaded"`
	KBPerWorkflow         float64     `json:"rss_kb_per_open_workflow"`
	HeapKBPerWorkflow     float64     `json:"heap_kb_per_open_workflow"`
	GoroutinesPerWorkflow float64     `json:"goroutines_per_open_workflow"`
}

// MemoryPoint is the worker's memory with a number of open invoices confirmed through it.
type MemoryPoint struct {
	Open        int     `json:"open_invoices"`
	RSSMB       float64 `json:"rss_mb"`
	HeapMB      float64 `json:"heap_inuse_mb"`
	Goroutines  float64 `json:"goroutines"`
	StickyCache float64 `json:"sticky_cache_size"`
}

// memory measures the worker with no invoice and with cfg.Open invoices open, then a worker with
// a smaller sticky cache while twice as many are confirmed.
func (l *lab) memory(ctx context.Context, profile string) (*MemoryResult, error) {
	res := &MemoryResult{Profile: profile, Open: l.cfg.Open, Cache: l.cfg.OpenCache}
	var err error
	if res.Idle, res.Loaded, err = l.openOn(ctx, realWorker, variantInvoice); err != nil {
		return res, err
	}
	n := float64(l.cfg.Open)
	res.KBPerInvoice = (res.Loaded.RSSMB - res.Idle.RSSMB) * 1024 / n
	res.HeapKBPerInvoice = (res.Loaded.HeapMB - res.Idle.HeapMB) * 1024 / n
	res.GoroutinesPerInvoice = (res.Loaded.Goroutines - res.Idle.Goroutines) / n

	f := &FloorMemory{}
	if f.Idle, f.Loaded, err = l.openOn(ctx, floorWorker, variantFloorNew); err != nil {
		return res, err
	}
	f.KBPerWorkflow = (f.Loaded.RSSMB - f.Idle.RSSMB) * 1024 / n
	f.HeapKBPerWorkflow = (f.Loaded.HeapMB - f.Idle.HeapMB) * 1024 / n
	f.GoroutinesPerWorkflow = (f.Loaded.Goroutines - f.Idle.Goroutines) / n
	res.Floor = f

	procs, err := l.startWorkers(realWorker, 1, map[string]string{"K2K_WORKER_STICKY_CACHE": strconv.Itoa(l.cfg.OpenCache)})
	if err != nil {
		return res, err
	}
	defer stopWorkers(procs)
	settle(ctx, l.cfg.Settle)
	p, err := memoryPoint(ctx, procs[0], 0)
	if err != nil {
		return res, err
	}
	res.Capped = append(res.Capped, p)
	total, steps := 2*l.cfg.Open, 10
	for i := range steps {
		batch := total*(i+1)/steps - total*i/steps
		if err := l.confirmOpen(ctx, variantInvoice, batch); err != nil {
			return res, err
		}
		settle(ctx, l.cfg.Settle)
		p, err := memoryPoint(ctx, procs[0], total*(i+1)/steps)
		if err != nil {
			return res, err
		}
		res.Capped = append(res.Capped, p)
		l.logf("memory: sticky cache %d, %d open: RSS %.0f MB, %.0f goroutines", l.cfg.OpenCache, p.Open, p.RSSMB, p.Goroutines)
	}
	return res, nil
}

// openOn measures a fresh worker of a kind (default sticky cache) idle, then with cfg.Open
// workflows of the variant confirmed through it and left waiting in AP.
func (l *lab) openOn(ctx context.Context, kind workerKind, variant string) (idle, loaded MemoryPoint, err error) {
	procs, err := l.startWorkers(kind, 1, nil)
	if err != nil {
		return idle, loaded, err
	}
	defer stopWorkers(procs)
	settle(ctx, l.cfg.Settle)
	if idle, err = memoryPoint(ctx, procs[0], 0); err != nil {
		return idle, loaded, err
	}
	began := time.Now()
	if err := l.confirmOpen(ctx, variant, l.cfg.Open); err != nil {
		return idle, loaded, err
	}
	l.logf("memory: %d %s workflows open in AP in %.0fs", l.cfg.Open, variant, time.Since(began).Seconds())
	settle(ctx, l.cfg.Settle)
	loaded, err = memoryPoint(ctx, procs[0], l.cfg.Open)
	return idle, loaded, err
}

// memoryPoint reads a worker's resident memory and, from its /metrics, its goroutines, Go heap
// in use and sticky cache size.
func memoryPoint(ctx context.Context, w workerProc, open int) (MemoryPoint, error) {
	p := MemoryPoint{Open: open}
	rss, err := memoryKB(w.PID(), "VmRSS")
	if err != nil {
		return p, err
	}
	p.RSSMB = float64(rss) / 1024
	if p.Goroutines, err = scrape(ctx, w.metrics, "go_goroutines"); err != nil {
		return p, err
	}
	heap, err := scrape(ctx, w.metrics, "go_memstats_heap_inuse_bytes")
	if err != nil {
		return p, err
	}
	p.HeapMB = heap / (1 << 20)
	// The SDK reports its cache size once it has one; an idle worker may not yet.
	p.StickyCache, _ = scrape(ctx, w.metrics, "temporal_sticky_cache_size")
	return p, nil
}

// confirmOpen confirms n new workflows of the variant (invoices through invoiceclient),
// cfg.OpenConcurrency at a time, and leaves them waiting in AP.
func (l *lab) confirmOpen(ctx context.Context, variant string, n int) error {
	orders, err := l.parties(ctx, l.nextTag(), n)
	if err != nil {
		return err
	}
	d := l.driver(variant)
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(l.cfg.OpenConcurrency, n) {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < n && ctx.Err() == nil; i = int(next.Add(1)) - 1 {
				o := orders[i]
				if err := call(ctx, func(ctx context.Context) error { return d.confirm(ctx, o) }); err != nil {
					cancel(fmt.Errorf("confirm %s: %w", o.PONumber, err))
				}
			}
		})
	}
	wg.Wait()
	return context.Cause(ctx)
}

func printMemory(w io.Writer, res *MemoryResult) {
	fmt.Fprintf(w, "\nWorker memory per open invoice (%s profile, one worker process, invoices left in AP)\n", res.Profile)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "sticky cache\topen\tRSS MB\theap MB\tgoroutines\tcached\t")
	row := func(cache string, p MemoryPoint) {
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%.0f\t%.0f\t%.0f\t\n", cache, p.Open, p.RSSMB, p.HeapMB, p.Goroutines, p.StickyCache)
	}
	row("10000 (default)", res.Idle)
	row("10000 (default)", res.Loaded)
	for _, p := range res.Capped {
		row(strconv.Itoa(res.Cache), p)
	}
	tw.Flush()
	fmt.Fprintf(w, "per open invoice: %.1f KB RSS, %.1f KB Go heap, %.1f goroutines\n", res.KBPerInvoice, res.HeapKBPerInvoice, res.GoroutinesPerInvoice)
	if f := res.Floor; f != nil {
		fmt.Fprintf(w, "per open floor-new workflow (%d open, RSS %.0f → %.0f MB): %.1f KB RSS, %.1f KB Go heap, %.1f goroutines\n",
			res.Open, f.Idle.RSSMB, f.Loaded.RSSMB, f.KBPerWorkflow, f.HeapKBPerWorkflow, f.GoroutinesPerWorkflow)
	}
}

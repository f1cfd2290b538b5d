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
	// Capped is a fresh worker with a sticky cache of Cache workflows while twice as many
	// invoices are confirmed.
	Cache  int           `json:"sticky_cache"`
	Capped []MemoryPoint `json:"capped"`
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
	procs, err := l.startWorkers(realWorker, 1, nil)
	if err != nil {
		return res, err
	}
	w := procs[0]
	settle(ctx, l.cfg.Settle)
	if res.Idle, err = memoryPoint(ctx, w, 0); err != nil {
		stopWorkers(procs)
		return res, err
	}
	began := time.Now()
	if err := l.confirmOpen(ctx, l.cfg.Open); err != nil {
		stopWorkers(procs)
		return res, err
	}
	l.logf("memory: %d invoices open in AP in %.0fs", l.cfg.Open, time.Since(began).Seconds())
	settle(ctx, l.cfg.Settle)
	res.Loaded, err = memoryPoint(ctx, w, l.cfg.Open)
	stopWorkers(procs)
	if err != nil {
		return res, err
	}
	n := float64(l.cfg.Open)
	res.KBPerInvoice = (res.Loaded.RSSMB - res.Idle.RSSMB) * 1024 / n
	res.HeapKBPerInvoice = (res.Loaded.HeapMB - res.Idle.HeapMB) * 1024 / n
	res.GoroutinesPerInvoice = (res.Loaded.Goroutines - res.Idle.Goroutines) / n

	procs, err = l.startWorkers(realWorker, 1, map[string]string{"K2K_WORKER_STICKY_CACHE": strconv.Itoa(l.cfg.OpenCache)})
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
		if err := l.confirmOpen(ctx, batch); err != nil {
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

// confirmOpen confirms n new invoices through invoiceclient, cfg.OpenConcurrency at a time, and leaves
// them waiting in AP.
func (l *lab) confirmOpen(ctx context.Context, n int) error {
	orders, err := l.parties(ctx, l.nextTag(), n)
	if err != nil {
		return err
	}
	d := l.driver(variantInvoice)
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
}

package main

// The throughput phase: the same happy path (confirm → AP, approve → AA, approve payment → A,
// mark paid → P) driven through three variants on the same Temporal server, each on fresh worker
// processes, in ABBA order.

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/k2kinvoice/autoinvoice/internal/invoice"
	"github.com/k2kinvoice/autoinvoice/internal/invoiceclient"
	"github.com/k2kinvoice/autoinvoice/internal/store"
	"github.com/k2kinvoice/autoinvoice/workflows"
)

// The variants.
const (
	variantInvoice  = "invoice"   // the invoice workflow on the worker, through invoiceclient
	variantFloorOld = "floor-old" // a no-op workflow of the old shape, started and polled as the old client did
	variantFloorNew = "floor-new" // a no-op workflow of the current shape, confirmed by update-with-start
)

var variants = []string{variantInvoice, variantFloorOld, variantFloorNew}

// confirmWait bounds a confirmation's wait for AP, and opTimeout any one call. They are long: a
// slow call is a measurement (it shows in p99), only a stuck one should stop the bench.
const (
	confirmWait = 2 * time.Minute
	opTimeout   = 3 * time.Minute
)

// driver sends one variant's calls, as that variant's client does.
type driver interface {
	// confirm returns once the client sees the invoice in AP.
	confirm(ctx context.Context, o invoice.Order) error
	// act sends an action as an update and returns the status it answered.
	act(ctx context.Context, workflowID string, req invoice.ActionRequest) (invoice.Status, error)
}

// invoiceDriver is invoiceclient, the client of the gateway and the starter.
type invoiceDriver struct{ c *invoiceclient.Client }

func (d invoiceDriver) confirm(ctx context.Context, o invoice.Order) error {
	conf, err := d.c.Confirm(ctx, o, "", confirmWait)
	if err != nil {
		return err
	}
	if conf.State == nil || conf.State.Status != invoice.StatusAP {
		return fmt.Errorf("%s: not in AP when Confirm returned (state %v)", conf.WorkflowID, conf.State)
	}
	return nil
}

func (d invoiceDriver) act(ctx context.Context, id string, req invoice.ActionRequest) (invoice.Status, error) {
	a, err := d.c.Do(ctx, id, req)
	return a.Status, err
}

// floorDriver drives a floor workflow: the old client's start and 100 ms polling of the status
// query, or the current client's update-with-start; actions as updates waited to completion.
type floorDriver struct {
	c   client.Client
	old bool
}

func (d floorDriver) confirm(ctx context.Context, o invoice.Order) error {
	opts := invoiceclient.StartOptions(o)
	opts.TaskQueue = floorTaskQueue
	var st floorState
	if d.old {
		if _, err := d.c.ExecuteWorkflow(ctx, opts, floorOldType, o); err != nil {
			return err
		}
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			if v, err := d.c.QueryWorkflow(ctx, opts.ID, "", workflows.QueryStatus); err == nil && v.Get(&st) == nil && st.Status != "" {
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("%s not in AP: %w (%s)", opts.ID, ctx.Err(), describe(d.c, opts.ID))
			case <-tick.C:
			}
		}
	} else {
		start := d.c.NewWithStartWorkflowOperation(opts, floorNewType, o)
		h, err := d.c.UpdateWithStartWorkflow(ctx, client.UpdateWithStartWorkflowOptions{StartWorkflowOperation: start,
			UpdateOptions: client.UpdateWorkflowOptions{WorkflowID: opts.ID, UpdateName: workflows.UpdateConfirmation,
				WaitForStage: client.WorkflowUpdateStageCompleted}})
		if err == nil {
			err = h.Get(ctx, &st)
		}
		if err != nil {
			return err
		}
	}
	if st.Status != invoice.StatusAP {
		return fmt.Errorf("%s: in %q after the confirmation, want AP", opts.ID, st.Status)
	}
	return nil
}

func (d floorDriver) act(ctx context.Context, id string, req invoice.ActionRequest) (invoice.Status, error) {
	name, err := workflows.SignalFor(req.Action)
	if err != nil {
		return "", err
	}
	h, err := d.c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{WorkflowID: id, UpdateID: string(req.Action) + "/" + req.IdempotencyKey,
		UpdateName: name, Args: []any{req}, WaitForStage: client.WorkflowUpdateStageCompleted})
	var a workflows.Answer
	if err == nil {
		err = h.Get(ctx, &a)
	}
	return a.Status, err
}

func (l *lab) driver(variant string) driver {
	switch variant {
	case variantInvoice:
		return invoiceDriver{l.deps.InvoiceClient()}
	case variantFloorOld:
		return floorDriver{c: l.deps.Temporal, old: true}
	}
	return floorDriver{c: l.deps.Temporal}
}

// variantOrder is the order of the variants in repetition rep: forwards, then backwards (ABBA).
func variantOrder(selected []string, rep int) []string {
	var order []string
	for _, v := range variants {
		if slices.Contains(selected, v) {
			order = append(order, v)
		}
	}
	if rep%2 == 1 {
		slices.Reverse(order)
	}
	return order
}

// throughput runs every concurrency and repetition of the profile.
func (l *lab) throughput(ctx context.Context, profile string) ([]Run, error) {
	var runs []Run
	for _, conc := range l.cfg.Concurrency {
		for rep := range l.cfg.Reps {
			for i, v := range variantOrder(l.cfg.Variants, rep) {
				r, err := l.runOnce(ctx, v, conc, l.cfg.invoicesAt(conc), l.cfg.workers(profile))
				r.Rep, r.Position = rep+1, i+1
				if err != nil {
					return runs, fmt.Errorf("%s %s at concurrency %d, repetition %d: %w", profile, v, conc, rep+1, err)
				}
				runs = append(runs, r)
				l.logf("%s %-9s c=%-3d rep %d: %d paid in %.1fs = %.1f/s; %.0f events, %.0f workflow tasks per invoice",
					profile, v, conc, rep+1, r.Invoices, r.WallSeconds, r.Throughput, r.EventsPerInvoice, r.WorkflowTasksPerInvoice)
			}
		}
	}
	return runs, nil
}

// runOnce drives n invoices from confirmation to paid through one variant, conc at a time, on
// fresh worker processes, and measures them.
func (l *lab) runOnce(ctx context.Context, variant string, conc, n, workers int) (Run, error) {
	r := Run{Profile: l.profile, Variant: variant, Concurrency: conc, Invoices: n, Workers: workers}
	tag := l.nextTag()
	orders, err := l.parties(ctx, tag, n)
	if err != nil {
		return r, err
	}
	kind := realWorker
	if variant != variantInvoice {
		kind = floorWorker
	}
	procs, err := l.startWorkers(kind, workers, nil)
	if err != nil {
		return r, err
	}
	defer stopWorkers(procs)
	cpuBefore, err := cpuSeconds(procs)
	if err != nil {
		return r, err
	}
	d := l.driver(variant)
	confirms, updates, ids, wall, err := drive(ctx, d, orders, conc)
	if err != nil {
		return r, err
	}
	cpuAfter, err := cpuSeconds(procs)
	if err != nil {
		return r, err
	}
	r.WallSeconds = wall.Seconds()
	r.Throughput = float64(n) / wall.Seconds()
	r.ConfirmMS, r.UpdateMS = confirms, updates
	r.Confirm, r.Update = percentiles(confirms), percentiles(updates)
	r.CPUSecondsPer1000 = (cpuAfter - cpuBefore) / float64(n) * 1000
	for _, p := range procs {
		rss, err := memoryKB(p.PID(), "VmHWM")
		if err != nil {
			return r, err
		}
		r.PeakRSSMB = append(r.PeakRSSMB, float64(rss)/1024)
	}
	h, err := l.histories(ctx, sampleOf(ids, l.cfg.Sample))
	if err != nil {
		return r, err
	}
	r.Histories = h
	r.EventsPerInvoice, r.WorkflowTasksPerInvoice, r.HistoryBytesPerInvoice = h.mean()
	if h.PDFPayloads > 0 {
		return r, fmt.Errorf("PDF bytes in %d payloads of the sampled histories of %s: PDFs must never travel through Temporal", h.PDFPayloads, variant)
	}
	return r, nil
}

// parties creates a vendor and a buyer for one run, connected and opted in (every variant gets
// them, so the runs differ only in what they measure), and n orders between them.
func (l *lab) parties(ctx context.Context, tag string, n int) ([]invoice.Order, error) {
	vendor, buyer := "BV-"+tag, "BB-"+tag
	for _, c := range []store.Company{{ID: vendor, Name: "Bench vendor " + tag, AutoInvoiceSync: true},
		{ID: buyer, Name: "Bench buyer " + tag, AcceptK2KInvoices: true}} {
		if err := l.deps.Store.CompanyUpsert(ctx, c); err != nil {
			return nil, err
		}
	}
	if err := l.deps.Store.ConnectionUpsert(ctx, vendor, buyer, store.ConnectionActive); err != nil {
		return nil, err
	}
	orders := make([]invoice.Order, n)
	for i := range orders {
		orders[i] = benchOrder(vendor, buyer, i)
	}
	return orders, nil
}

// benchOrder is the i-th order of a run: brackets, assembly and freight, the PO total a little lower.
func benchOrder(vendor, buyer string, i int) invoice.Order {
	return invoice.Order{
		VendorID: vendor, BuyerID: buyer, PONumber: fmt.Sprintf("PO-%06d", i), InvoiceNumber: fmt.Sprintf("INV-%06d", i),
		IssueDate: "2026-11-27", Currency: "EUR", TotalMinor: 131850, POTotalMinor: 130000,
		Lines: []invoice.Line{
			{Description: "Steel brackets, 40 mm", Quantity: 500, UnitPriceMinor: 189},
			{Description: "Assembly service", Quantity: 8, UnitPriceMinor: 4500},
			{Description: "Freight", Quantity: 1, UnitPriceMinor: 1350},
		},
	}
}

// happyPath is the buyer's actions on every invoice, in order, with the status each leads to.
func happyPath(o invoice.Order, i int) []struct {
	req invoice.ActionRequest
	to  invoice.Status
} {
	procurement := invoice.Actor{CompanyID: o.BuyerID, UserID: "bench-procurement", Role: invoice.RoleProcurement}
	accounting := invoice.Actor{CompanyID: o.BuyerID, UserID: "bench-accounting", Role: invoice.RoleAccounting}
	return []struct {
		req invoice.ActionRequest
		to  invoice.Status
	}{
		{invoice.ActionRequest{Action: invoice.ActionApprove, Actor: procurement, IdempotencyKey: fmt.Sprintf("approve-%d", i)}, invoice.StatusAA},
		{invoice.ActionRequest{Action: invoice.ActionApprovePayment, Actor: accounting, IdempotencyKey: fmt.Sprintf("approve-payment-%d", i)}, invoice.StatusA},
		{invoice.ActionRequest{Action: invoice.ActionMarkPaid, Actor: accounting, IdempotencyKey: fmt.Sprintf("pay-%d", i),
			PaymentDate: "2026-11-30", PaymentReference: fmt.Sprintf("SEPA-%d", i)}, invoice.StatusP},
	}
}

// drive takes every order from confirmation to paid, conc orders at a time. It returns the
// confirmations' and the updates' latencies in milliseconds, the workflow IDs, and the wall time
// from the first confirmation to the last invoice paid.
func drive(ctx context.Context, d driver, orders []invoice.Order, conc int) (confirms, updates []float64, ids []string, wall time.Duration, err error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	ids = make([]string, len(orders))
	var next atomic.Int64
	var mu sync.Mutex
	var wg sync.WaitGroup
	began := time.Now()
	for range min(conc, len(orders)) {
		wg.Go(func() {
			var myConfirms, myUpdates []float64
			defer func() {
				mu.Lock()
				confirms, updates = append(confirms, myConfirms...), append(updates, myUpdates...)
				mu.Unlock()
			}()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(orders) || ctx.Err() != nil {
					return
				}
				o := orders[i]
				ids[i] = invoiceclient.StartOptions(o).ID
				t := time.Now()
				if err := call(ctx, func(ctx context.Context) error { return d.confirm(ctx, o) }); err != nil {
					cancel(fmt.Errorf("confirm %s: %w", ids[i], err))
					return
				}
				myConfirms = append(myConfirms, ms(time.Since(t)))
				for _, step := range happyPath(o, i) {
					t := time.Now()
					var got invoice.Status
					err := call(ctx, func(ctx context.Context) (err error) { got, err = d.act(ctx, ids[i], step.req); return err })
					if err == nil && got != step.to {
						err = fmt.Errorf("answered %q, want %q", got, step.to)
					}
					if err != nil {
						cancel(fmt.Errorf("%s on %s: %w", step.req.Action, ids[i], err))
						return
					}
					myUpdates = append(myUpdates, ms(time.Since(t)))
				}
			}
		})
	}
	wg.Wait()
	wall = time.Since(began)
	if cause := context.Cause(ctx); cause != nil {
		return nil, nil, nil, 0, cause
	}
	return confirms, updates, ids, wall, nil
}

// call runs f with the time limit of one call.
func call(ctx context.Context, f func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	return f(ctx)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// sampleOf picks n of ids spread evenly over the run (all of them when there are fewer).
func sampleOf(ids []string, n int) []string {
	if len(ids) <= n {
		return ids
	}
	out := make([]string, n)
	for i := range out {
		out[i] = ids[i*len(ids)/n]
	}
	return out
}

// describe says where a workflow stands, for the message of a call that timed out.
func describe(c client.Client, id string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	d, err := c.DescribeWorkflow(ctx, id, "")
	if err != nil {
		return "describe: " + err.Error()
	}
	info := d.RawResponse.GetWorkflowExecutionInfo()
	out := fmt.Sprintf("workflow %s, %d history events", info.GetStatus(), info.GetHistoryLength())
	if wt := d.RawResponse.GetPendingWorkflowTask(); wt != nil {
		out += fmt.Sprintf(", workflow task %s attempt %d scheduled %s", wt.GetState(), wt.GetAttempt(), wt.GetScheduledTime().AsTime().Format(time.TimeOnly))
	}
	for _, a := range d.RawResponse.GetPendingActivities() {
		out += fmt.Sprintf(", activity %s %s attempt %d (last started %s on %q, last failure %q)", a.GetActivityType().GetName(), a.GetState(),
			a.GetAttempt(), a.GetLastStartedTime().AsTime().Format(time.TimeOnly), a.GetLastWorkerIdentity(), a.GetLastFailure().GetMessage())
	}
	return out
}

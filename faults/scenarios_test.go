package faults

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	enumspb "go.temporal.io/api/enums/v1"

	"github.com/k2kinvoice/autoinvoice/internal/invoice"
	"github.com/k2kinvoice/autoinvoice/internal/testenv"
)

// Scenario 1: a worker killed with SIGKILL inside each activity. The proxy in front of the
// dependency the activity uses is held, so the attempt is started and cannot finish; the worker
// is killed, the traffic released and a fresh worker started. The killed attempt is retried once
// its start-to-close timeout (a minute) has passed: that delay is measured. (Deliveries to the
// companies' systems, a webhook and the accounting export, are killed in delivery_test.go.)

func killInVerifyEligibility(r *run) { r.killWhileConfirming(stall{r.pg, "VerifyEligibility"}) }

func killInStorePDF(r *run) { r.killWhileConfirming(stall{r.s3, "StorePDF"}) }

// killInCreateAPInvoice holds S3 until StorePDF runs, then holds PostgreSQL and lets S3 go, so
// the next activity, CreateAPInvoice, hangs on its insert.
func killInCreateAPInvoice(r *run) {
	r.killWhileConfirming(stall{r.s3, "StorePDF"}, stall{r.pg, "CreateAPInvoice"})
}

// killInReviseInvoice sends a vendor update (an update call that waits for its answer through
// the kill) and kills the worker inside ReviseInvoice, after the new PDF is stored.
func killInReviseInvoice(r *run) {
	ctx := r.ctx(6 * time.Minute)
	w := r.startWorker()
	o := r.order(1)
	id := try(r.confirm(ctx, o)).must(r)
	try(r.awaitStatus(ctx, id, invoice.StatusAP)).must(r)
	answered := make(chan error, 1)
	r.killAlong(ctx, w, id, func() {
		go func() { answered <- r.step(ctx, id, r.vendorUpdate(o, 2), invoice.StatusAP) }()
	}, stall{r.s3, "StorePDF"}, stall{r.pg, "ReviseInvoice"})
	r.check(<-answered)
	r.check(r.acknowledge(ctx, id))
	r.check(r.pay(ctx, id))
}

// killInRecordEvent kills the worker while it writes the audit row of an approval whose sender
// waits for the answer.
func killInRecordEvent(r *run) {
	ctx := r.ctx(6 * time.Minute)
	w := r.startWorker()
	id := try(r.confirm(ctx, r.order(1))).must(r)
	try(r.awaitStatus(ctx, id, invoice.StatusAP)).must(r)
	answered := make(chan error, 1)
	r.killAlong(ctx, w, id, func() {
		go func() {
			answered <- r.step(ctx, id, r.request(invoice.ActionApprove, invoice.RoleProcurement), invoice.StatusAA)
		}()
	}, stall{r.pg, "RecordEvent"})
	r.check(<-answered)
	r.check(r.payFrom(ctx, id, invoice.StatusAA))
}

// killInLocalStep kills the worker while the audit write of an approval runs as a local activity,
// inside the workflow task that took the approval (PostgreSQL held, for less than the step's five
// seconds of local tries). Nothing of that task is recorded, so the fresh worker runs the task
// again from its start, writes the row (once: the write is idempotent) and answers the approval,
// whose sender waited through the kill.
func killInLocalStep(r *run) {
	ctx := r.ctx(6 * time.Minute)
	w := r.startWorker()
	id := try(r.confirm(ctx, r.order(1))).must(r)
	try(r.awaitStatus(ctx, id, invoice.StatusAP)).must(r)
	r.pg.Hold()
	answered := make(chan error, 1)
	go func() {
		answered <- r.step(ctx, id, r.request(invoice.ActionApprove, invoice.RoleProcurement), invoice.StatusAA)
	}()
	try(r.awaitWorkflowTask(ctx, id, w)).must(r)
	// The local activity's first try is under way: its two-second timeout has not passed.
	time.Sleep(500 * time.Millisecond)
	killed := time.Now()
	w.Kill()
	r.logf("SIGKILL %s (pid %d) inside the workflow task of %s, its local RecordEvent held", w.Name, w.PID(), id)
	r.pg.Release()
	r.startWorker()
	r.check(<-answered)
	r.fault("SIGKILL worker inside a local RecordEvent (PostgreSQL held); the approval answered %.1f s later", time.Since(killed).Seconds())
	r.check(r.payFrom(ctx, id, invoice.StatusAA))
}

// stall is a proxy to hold so that an activity, once started, cannot finish.
type stall struct {
	proxy    *Proxy
	activity string
}

// killWhileConfirming confirms an order and kills the worker inside the last activity of chain
// (see killAlong), then takes the invoice to paid.
func (r *run) killWhileConfirming(chain ...stall) {
	ctx := r.ctx(6 * time.Minute)
	w := r.startWorker()
	o := r.order(1)
	id := r.ledger.Order(o)
	r.killAlong(ctx, w, id, func() { try(r.confirm(ctx, o)).must(r) }, chain...)
	try(r.awaitStatus(ctx, id, invoice.StatusAP)).must(r)
	r.check(r.pay(ctx, id))
}

// killAlong holds the first proxy of chain and triggers the workflow; then, as each activity of
// the chain starts, holds the next proxy and releases the one before, so the workflow moves on to
// the next activity and hangs there. Inside the last one, worker w is killed (killInside).
func (r *run) killAlong(ctx context.Context, w *proc, id string, trigger func(), chain ...stall) {
	r.t.Helper()
	chain[0].proxy.Hold()
	trigger()
	for i := 1; i < len(chain); i++ {
		try(r.awaitActivity(ctx, id, chain[i-1].activity)).must(r)
		chain[i].proxy.Hold()
		chain[i-1].proxy.Release()
	}
	last := chain[len(chain)-1]
	r.killInside(ctx, w, id, last.activity, last.proxy.Release)
}

// Scenario 2: two workers share the load of n invoices driven to paid (every 5th also gets a
// refused action, every 10th a vendor update), and one worker is killed with SIGKILL a third of
// the way through, inside an activity: it has a PostgreSQL proxy of its own, held just before the
// kill until an activity of its hangs there. The other worker must finish everything.
func twoWorkers(n int) func(*run) {
	return func(r *run) {
		ctx := r.ctx(15 * time.Minute)
		victimPG := try(NewProxy(r.pg.upstream)).must(r)
		r.t.Cleanup(victimPG.Close)
		victim := r.startWorkerVia(victimPG, r.s3)
		r.startWorker()
		var progress atomic.Int64
		steps := int64(n * 4) // a confirmation and three approvals each, at least
		killed := make(chan string, 1)
		go func() {
			for progress.Load() < steps/3 {
				if ctx.Err() != nil {
					killed <- ""
					return
				}
				time.Sleep(10 * time.Millisecond)
			}
			// Kill it inside an activity, if one of its activities hangs within 20 s.
			victimPG.Hold()
			deadline := time.Now().Add(20 * time.Second)
			for r.busy(victim) == 0 && time.Now().Before(deadline) && ctx.Err() == nil {
				time.Sleep(50 * time.Millisecond)
			}
			at := progress.Load()
			victim.Kill()
			victimPG.Release()
			f := fmt.Sprintf("SIGKILL 1 of 2 workers at step %d of ~%d, %s", at, steps, r.runningOn(victim))
			r.logf("%s", f)
			killed <- f
		}()
		r.check(gather(n, 8, func(i int) error { return r.lifecycle(ctx, i, &progress) }))
		if f := <-killed; f != "" {
			r.mu.Lock()
			r.faults = append(r.faults, f)
			r.mu.Unlock()
		} else {
			r.t.Fatal("the worker was never killed")
		}
	}
}

// activitiesOn counts, per type, the activities the run's workflows have started on worker w
// and not finished (for a killed worker: those it was running when it died).
func (r *run) activitiesOn(w *proc, stopAtFirst bool) map[string]int {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	prefix := strconv.Itoa(w.PID()) + "@"
	kinds := map[string]int{}
	for _, id := range r.ledger.IDs() {
		d, err := testenv.Describe(ctx, r.s.deps.Temporal, id)
		if err != nil || d.GetWorkflowExecutionInfo().GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
			continue
		}
		for _, pa := range d.GetPendingActivities() {
			if pa.GetState() == enumspb.PENDING_ACTIVITY_STATE_STARTED && strings.HasPrefix(pa.GetLastWorkerIdentity(), prefix) {
				kinds[pa.GetActivityType().GetName()]++
				if stopAtFirst {
					return kinds
				}
			}
		}
	}
	return kinds
}

// busy is how many activities (at least) worker w runs now.
func (r *run) busy(w *proc) int { return len(r.activitiesOn(w, true)) }

// runningOn describes the activities that were running on a (just killed) worker.
func (r *run) runningOn(w *proc) string {
	kinds := r.activitiesOn(w, false)
	n := 0
	for _, v := range kinds {
		n += v
	}
	if n == 0 {
		return "no activity running on it"
	}
	names := make([]string, 0, len(kinds))
	for k, v := range kinds {
		names = append(names, fmt.Sprintf("%d %s", v, k))
	}
	sort.Strings(names)
	return fmt.Sprintf("running %s", strings.Join(names, ", "))
}

// lifecycle drives the run's order i from confirmation to paid, counting steps in progress.
// Every 5th order also gets an action that must be refused, every 10th a vendor update and its
// acknowledgement.
func (r *run) lifecycle(ctx context.Context, i int, progress *atomic.Int64) error {
	o := r.order(i)
	id, err := r.confirm(ctx, o)
	if err != nil {
		return err
	}
	progress.Add(1)
	if _, err := r.awaitStatus(ctx, id, invoice.StatusAP); err != nil {
		return err
	}
	if i%5 == 0 {
		if err := r.refused(ctx, id); err != nil {
			return err
		}
	}
	if i%10 == 0 {
		if err := r.step(ctx, id, r.vendorUpdate(o, 2), invoice.StatusAP); err != nil {
			return err
		}
		if err := r.acknowledge(ctx, id); err != nil {
			return err
		}
	}
	for _, s := range []struct {
		action invoice.Action
		role   invoice.Role
		to     invoice.Status
	}{
		{invoice.ActionApprove, invoice.RoleProcurement, invoice.StatusAA},
		{invoice.ActionApprovePayment, invoice.RoleAccounting, invoice.StatusA},
		{invoice.ActionMarkPaid, invoice.RoleAccounting, invoice.StatusP},
	} {
		if err := r.step(ctx, id, r.request(s.action, s.role), s.to); err != nil {
			return err
		}
		progress.Add(1)
	}
	return nil
}

// Scenario 4: the Temporal dev server is stopped (SIGTERM) and started again on the same port
// and database, first while invoices wait in AP, then while approvals are in flight (their audit
// writes held at the PostgreSQL proxy, released while the server is down).
func temporalRestart(r *run) {
	if r.s.temporal == nil {
		r.notApplicable = fmt.Sprintf("Temporal at %s was not started by this suite, so it cannot be restarted", r.s.address)
		r.logf("not applicable: %s", r.notApplicable)
		return
	}
	ctx := r.ctx(10 * time.Minute)
	w := r.startWorker()
	const n = 8
	ids := make([]string, n)
	r.check(r.confirmToAP(ctx, ids[:n]))

	r.restartTemporal(ctx, fmt.Sprintf("with %d invoices waiting in AP", n), nil)
	for _, id := range ids {
		try(r.awaitStatus(ctx, id, invoice.StatusAP)).must(r)
	}

	r.pg.Hold()
	answered := make(chan error, n)
	for _, id := range ids {
		go func() {
			answered <- r.step(ctx, id, r.request(invoice.ActionApprove, invoice.RoleProcurement), invoice.StatusAA)
		}()
	}
	for _, id := range ids {
		try(r.awaitActivity(ctx, id, "RecordEvent")).must(r)
	}
	// The audit writes finish while the server is down: their completions must wait for it.
	r.restartTemporal(ctx, fmt.Sprintf("with %d approvals in flight", n), func() {
		r.pg.Release()
		time.Sleep(5 * time.Second)
	})
	for range n {
		r.check(<-answered)
	}
	if w.Exited() {
		r.t.Fatalf("the worker exited during the restarts (%v); log:\n%s", w.Err(), w.Tail(30))
	}
	r.check(gather(n, n, func(i int) error { return r.payFrom(ctx, ids[i], invoice.StatusAA) }))
}

// restartTemporal stops the dev server with SIGTERM, runs meanwhile (when not nil) while it is
// down, and starts it again on the same port and database file.
func (r *run) restartTemporal(ctx context.Context, what string, meanwhile func()) {
	r.t.Helper()
	began := time.Now()
	stopped, err := r.s.temporal.terminate()
	r.check(err)
	if meanwhile != nil {
		meanwhile()
	}
	r.check(r.s.temporal.run(ctx))
	r.fault("SIGTERM and restart of Temporal %s: down %.1f s", what, time.Since(began).Seconds())
	r.logf("the Temporal dev server exited %.1f s after SIGTERM and answered again on the same port and database %.1f s after it",
		stopped.Seconds(), time.Since(began).Seconds())
}

// Scenario 5: S3 unreachable (the proxy refuses connections) while orders are confirmed and
// vendor updates are sent; retries must be visible while it lasts, and everything completes
// after it.
func s3Outage(d time.Duration) func(*run) {
	return func(r *run) {
		const n = 4
		r.outage(r.s3, "S3", d, n, "vendor updates", []string{"StorePDF"}, func(ctx context.Context, id string, i int) error {
			if err := r.step(ctx, id, r.vendorUpdate(r.order(i), 2), invoice.StatusAP); err != nil {
				return err
			}
			return r.acknowledge(ctx, id)
		}, invoice.StatusAP)
	}
}

// pgOutage: PostgreSQL refusing connections (at the proxy) while orders are confirmed and
// invoices approved.
func pgOutage(d time.Duration, n int) func(*run) {
	return func(r *run) {
		r.outage(r.pg, "PostgreSQL", d, n, "approvals", []string{"VerifyEligibility", "RecordEvent"}, func(ctx context.Context, id string, _ int) error {
			return r.step(ctx, id, r.request(invoice.ActionApprove, invoice.RoleProcurement), invoice.StatusAA)
		}, invoice.StatusAA)
	}
}

// outage brings n invoices to AP, makes p refuse connections for d, and meanwhile confirms n
// more orders and sends action (which leaves an invoice in actedTo) to each of the first n. It
// requires a retry of each of activities to be seen pending before p listens again, then drives
// all 2n invoices to paid.
func (r *run) outage(p *Proxy, what string, d time.Duration, n int, actions string, activities []string,
	action func(ctx context.Context, id string, i int) error, actedTo invoice.Status) {
	ctx := r.ctx(10 * time.Minute)
	r.startWorker()
	ids := make([]string, 2*n)
	r.check(r.confirmToAP(ctx, ids[:n]))
	back := p.Refuse(d)
	down := time.Now()
	for i := n; i < 2*n; i++ {
		ids[i] = try(r.confirm(ctx, r.order(i))).must(r)
	}
	acted := make(chan error, n)
	for i := range n {
		go func() { acted <- action(ctx, ids[i], i) }()
	}
	seen := try(r.awaitRetries(activities, down.Add(d))).must(r)
	r.check(<-back)
	r.fault("%s refused connections for %.0f s during %d confirmations and %d %s", what, d.Seconds(), n, n, actions)
	r.logf("while %s was down: %s", what, seen)
	r.check(gather(n, n, func(i int) error {
		_, err := r.awaitStatus(ctx, ids[n+i], invoice.StatusAP)
		return err
	}))
	for range n {
		r.check(<-acted)
	}
	r.check(gather(2*n, 2*n, func(i int) error {
		if i < n {
			return r.payFrom(ctx, ids[i], actedTo)
		}
		return r.pay(ctx, ids[i])
	}))
}

// confirmToAP confirms the run's first len(ids) orders at once, sets ids to their workflow IDs
// and waits until each invoice is in AP.
func (r *run) confirmToAP(ctx context.Context, ids []string) error {
	return gather(len(ids), len(ids), func(i int) error {
		var err error
		if ids[i], err = r.confirm(ctx, r.order(i)); err != nil {
			return err
		}
		_, err = r.awaitStatus(ctx, ids[i], invoice.StatusAP)
		return err
	})
}

// awaitRetries waits until the monitor has seen each activity pending with attempt > 1 and a
// last failure, before until (the end of an outage), and describes what it saw by then.
func (r *run) awaitRetries(activities []string, until time.Time) (string, error) {
	for {
		seen, _ := r.mon.Retrying()
		var parts []string
		missing := 0
		for _, a := range activities {
			var attempts []int32
			var failure string
			for _, o := range seen {
				if o.Activity == a && o.At.Before(until) {
					attempts = append(attempts, o.Attempt)
					failure = o.LastFailure
				}
			}
			if len(attempts) == 0 {
				missing++
				continue
			}
			parts = append(parts, fmt.Sprintf("%s retrying (%d sightings, attempts up to %d, last failure %q)",
				a, len(attempts), maxOf(attempts), failure))
		}
		if missing == 0 && time.Now().After(until.Add(-1500*time.Millisecond)) {
			return strings.Join(parts, "; "), nil
		}
		if time.Now().After(until) {
			if missing > 0 {
				return "", fmt.Errorf("the outage ended without a retry of each of %v seen pending (seen: %s)", activities, strings.Join(parts, "; "))
			}
			return strings.Join(parts, "; "), nil
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func maxOf(xs []int32) int32 {
	var m int32
	for _, x := range xs {
		m = max(m, x)
	}
	return m
}

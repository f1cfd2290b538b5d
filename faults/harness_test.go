package faults

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	workflowpb "go.temporal.io/api/workflow/v1"

	"github.com/k2kinvoice/autoinvoice/internal/invoice"
	"github.com/k2kinvoice/autoinvoice/internal/invoiceclient"
	"github.com/k2kinvoice/autoinvoice/internal/store"
	"github.com/k2kinvoice/autoinvoice/internal/testenv"
	"github.com/k2kinvoice/autoinvoice/workflows"
)

// run is one scenario's world: its own vendor and buyer (so the checker sees only its orders),
// proxies in front of PostgreSQL and S3 for its worker processes, its ledger and monitor, and
// what it injected, for the summary.
type run struct {
	t      *testing.T
	s      *suite
	name   string
	vendor string
	buyer  string
	pg     *Proxy
	s3     *Proxy
	ledger *Ledger
	mon    *Monitor
	client *invoiceclient.Client

	mu            sync.Mutex
	faults        []string
	notApplicable string
	started       map[string]int // processes started, per kind
	keys          atomic.Int64
	clientRetries atomic.Int64
}

// newRun sets up a scenario: companies, proxies, a client with the given reminder policy and a
// monitor of its workflows. Everything is released when the test ends.
func newRun(t *testing.T, name string, reminders workflows.ReminderPolicy) *run {
	s := env
	short := strings.NewReplacer("kill-in-", "k-", "-outage", "", "-restart", "").Replace(name)
	r := &run{t: t, s: s, name: name, vendor: "V-" + short + "-" + s.runID, buyer: "B-" + short + "-" + s.runID, ledger: NewLedger()}
	ctx := r.ctx(30 * time.Second)
	for _, c := range []store.Company{
		{ID: r.vendor, Name: "Vendor of " + name, AutoInvoiceSync: true},
		{ID: r.buyer, Name: "Buyer of " + name, AcceptK2KInvoices: true},
	} {
		if err := s.deps.Store.CompanyUpsert(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.deps.Store.ConnectionUpsert(ctx, r.vendor, r.buyer, store.ConnectionActive); err != nil {
		t.Fatal(err)
	}
	pgURL, err := url.Parse(s.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	s3URL, err := url.Parse(s.s3.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	if r.pg, err = NewProxy(pgURL.Host); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.pg.Close)
	if r.s3, err = NewProxy(s3URL.Host); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.s3.Close)
	r.client = s.deps.InvoiceClient()
	r.client.Reminders = reminders
	r.mon = StartMonitor(s.deps.Temporal, r.ledger, 500*time.Millisecond)
	t.Cleanup(r.mon.Stop)
	return r
}

// noReminders keeps reminders out of a scenario's way (a day in every status; none fall due).
var noReminders = workflows.ReminderPolicy{AP: 24 * time.Hour, AA: 24 * time.Hour, A: 24 * time.Hour, Max: 1}

func (r *run) logf(format string, args ...any) {
	r.t.Helper()
	r.t.Logf("%s %s", time.Now().Format("15:04:05.0"), fmt.Sprintf(format, args...))
}

// fault records a fault injected, for the summary, and logs it.
func (r *run) fault(format string, args ...any) {
	r.t.Helper()
	f := fmt.Sprintf(format, args...)
	r.mu.Lock()
	r.faults = append(r.faults, f)
	r.mu.Unlock()
	r.logf("FAULT %s", f)
}

// ctx is a context for one step, cancelled when the test ends.
func (r *run) ctx(d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	r.t.Cleanup(cancel)
	return ctx
}

// result is a value and an error, for try(f()).must(r): the value, or the scenario ends.
type result[T any] struct {
	v   T
	err error
}

func try[T any](v T, err error) result[T] { return result[T]{v, err} }

// must returns the value, or ends the scenario on the error.
func (x result[T]) must(r *run) T {
	r.t.Helper()
	if x.err != nil {
		r.t.Fatal(x.err)
	}
	return x.v
}

func (r *run) check(err error) {
	r.t.Helper()
	if err != nil {
		r.t.Fatal(err)
	}
}

// startWorker starts a worker process whose PostgreSQL and S3 go through the run's proxies, and
// waits until it is ready. It is stopped (SIGTERM) when the test ends, unless killed before.
func (r *run) startWorker() *proc {
	r.t.Helper()
	return r.startWorkerVia(r.pg, r.s3)
}

// startWorkerVia is startWorker with the given proxies in front of PostgreSQL and S3.
func (r *run) startWorkerVia(pg, s3 *Proxy) *proc {
	r.t.Helper()
	dbURL := try(withHost(r.s.dbURL, pg.Addr())).must(r)
	port := try(testenv.FreePort()).must(r)
	e := r.s.processEnv()
	e["DATABASE_URL"] = dbURL
	e["AWS_ENDPOINT_URL_S3"] = "http://" + s3.Addr()
	e["K2K_WORKER_HTTP_LISTEN"] = "127.0.0.1:" + strconv.Itoa(port)
	e["K2K_SHUTDOWN_TIMEOUT"] = "5s"
	name := r.nextName("worker")
	p := try(startProc(name, filepath.Join(r.s.bins, "worker"), nil, e, filepath.Join(r.s.logDir, r.name+"-"+name+".log"))).must(r)
	r.t.Cleanup(func() { p.Stop(10 * time.Second) })
	r.check(awaitHTTP(p, fmt.Sprintf("http://127.0.0.1:%d/readyz", port), 60*time.Second))
	r.logf("%s started (pid %d)", name, p.PID())
	return p
}

// nextName names the next process of a kind: worker-1, worker-2, ...
func (r *run) nextName(kind string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.started == nil {
		r.started = map[string]int{}
	}
	r.started[kind]++
	return fmt.Sprintf("%s-%d", kind, r.started[kind])
}

// startGateway starts a gateway on port, with direct connections, and waits until ready.
func (r *run) startGateway(port int) *proc {
	r.t.Helper()
	e := r.s.processEnv()
	e["K2K_GATEWAY_LISTEN"] = "127.0.0.1:" + strconv.Itoa(port)
	name := r.nextName("gateway")
	p := try(startProc(name, filepath.Join(r.s.bins, "gateway"), nil, e, filepath.Join(r.s.logDir, r.name+"-"+name+".log"))).must(r)
	r.t.Cleanup(func() { p.Stop(10 * time.Second) })
	r.check(awaitHTTP(p, fmt.Sprintf("http://127.0.0.1:%d/readyz", port), 60*time.Second))
	r.logf("%s started (pid %d) on port %d", name, p.PID(), port)
	return p
}

// order is the run's i-th order: 500 brackets, assembly and freight, PO total a little lower.
func (r *run) order(i int) invoice.Order {
	return invoice.Order{
		VendorID: r.vendor, BuyerID: r.buyer, PONumber: fmt.Sprintf("PO-%03d", i), InvoiceNumber: fmt.Sprintf("INV-%03d", i),
		IssueDate: "2026-11-27", Currency: "EUR", TotalMinor: 131850, POTotalMinor: 130000,
		Lines: []invoice.Line{
			{Description: "Steel brackets, 40 mm", Quantity: 500, UnitPriceMinor: 189},
			{Description: "Assembly service", Quantity: 8, UnitPriceMinor: 4500},
			{Description: "Freight", Quantity: 1, UnitPriceMinor: 1350},
		},
	}
}

// retrying runs attempt until it succeeds or ctx ends, counting the client's retries: a caller
// retries what failed for reasons other than an answer (Temporal restarting, a timeout).
func (r *run) retrying(ctx context.Context, what string, attempt func() error) error {
	for {
		err := attempt()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if n := r.clientRetries.Add(1); n <= 5 || n%20 == 0 {
			r.logf("%s failed, retrying (client retry %d): %v", what, n, oneLine(err.Error()))
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

// confirm confirms an order through the in-process client and records it.
func (r *run) confirm(ctx context.Context, o invoice.Order) (string, error) {
	id := r.ledger.Order(o)
	return id, r.retrying(ctx, "confirm "+o.PONumber, func() error {
		_, err := r.client.Confirm(ctx, o, "", 0)
		return err
	})
}

// awaitStatus polls the workflow's state until it is in status (a workflow that no worker runs,
// or a Temporal server that is down, does not answer: that is waited for too).
func (r *run) awaitStatus(ctx context.Context, id string, status invoice.Status) (workflows.State, error) {
	var st workflows.State
	var err error
	for {
		if st, err = r.client.State(ctx, id); err == nil && st.Status == status {
			return st, nil
		}
		if err == nil && st.Outcome != "" && st.Outcome != workflows.OutcomePaid {
			return st, fmt.Errorf("%s ended %s (%s) instead of reaching %s", id, st.Outcome, st.Reason, status)
		}
		select {
		case <-ctx.Done():
			return st, fmt.Errorf("%s not in %s: %w (status %q, last error %v)", id, status, ctx.Err(), st.Status, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// request is an action by the run's buyer (procurement or accounting) or vendor, with a new
// idempotency key.
func (r *run) request(action invoice.Action, role invoice.Role) invoice.ActionRequest {
	company := r.buyer
	if role == invoice.RoleVendor {
		company = r.vendor
	}
	req := invoice.ActionRequest{Action: action, Actor: invoice.Actor{CompanyID: company, UserID: "faults-" + string(role), Role: role},
		IdempotencyKey: fmt.Sprintf("%s-%d", action, r.keys.Add(1))}
	if action == invoice.ActionMarkPaid {
		req.PaymentDate, req.PaymentReference = "2026-11-30", "SEPA-"+req.IdempotencyKey
	}
	return req
}

// vendorUpdate is a vendor update to revision rev of order o: 20 more brackets, a new number.
func (r *run) vendorUpdate(o invoice.Order, rev int) invoice.ActionRequest {
	req := r.request(invoice.ActionVendorUpdate, invoice.RoleVendor)
	lines := []invoice.Line{
		{Description: "Steel brackets, 40 mm (delivered)", Quantity: 500 + 20*int64(rev-1), UnitPriceMinor: 189},
		{Description: "Assembly service", Quantity: 8, UnitPriceMinor: 4500},
		{Description: "Freight", Quantity: 1, UnitPriceMinor: 1350},
	}
	var total int64
	for _, l := range lines {
		total += l.Quantity * l.UnitPriceMinor
	}
	req.Update = &invoice.InvoiceUpdate{InvoiceNumber: fmt.Sprintf("%s-R%d", o.InvoiceNumber, rev), IssueDate: "2026-11-28",
		Currency: o.Currency, TotalMinor: total, Lines: lines}
	return req
}

// do sends an action as an update and records the answer; errors other than an answer
// (a refusal is one) are retried with the same idempotency key.
func (r *run) do(ctx context.Context, id string, req invoice.ActionRequest) (workflows.Answer, error) {
	var answer workflows.Answer
	err := r.retrying(ctx, fmt.Sprintf("%s on %s", req.Action, id), func() error {
		a, err := r.client.Do(ctx, id, req)
		var refusal *invoice.Refusal
		if errors.As(err, &refusal) {
			answer = a
			return nil
		}
		answer = a
		return err
	})
	if err == nil {
		r.ledger.Answer(id, req.IdempotencyKey, req.Action, answer.Accepted)
	}
	return answer, err
}

// step sends an action that must be accepted into status want.
func (r *run) step(ctx context.Context, id string, req invoice.ActionRequest, want invoice.Status) error {
	a, err := r.do(ctx, id, req)
	if err != nil {
		return err
	}
	if !a.Accepted || a.Status != want {
		return fmt.Errorf("%s on %s answered %+v, want accepted into %s", req.Action, id, a, want)
	}
	return nil
}

// refused sends mark-paid as procurement, which the lifecycle must refuse (wrong actor).
func (r *run) refused(ctx context.Context, id string) error {
	req := r.request(invoice.ActionMarkPaid, invoice.RoleProcurement)
	a, err := r.do(ctx, id, req)
	if err != nil {
		return err
	}
	if a.Accepted || a.Code != invoice.RefusedWrongActor {
		return fmt.Errorf("mark-paid by procurement on %s answered %+v, want refused with %s", id, a, invoice.RefusedWrongActor)
	}
	return nil
}

// pay takes an invoice from AP to paid.
func (r *run) pay(ctx context.Context, id string) error {
	return r.payFrom(ctx, id, invoice.StatusAP)
}

// payFrom takes an invoice from status from to paid.
func (r *run) payFrom(ctx context.Context, id string, from invoice.Status) error {
	return r.advance(ctx, id, from, invoice.StatusP)
}

// advance takes an invoice from status from along approve, approve_payment and mark_paid until
// an action is accepted into status to (P: paid; A: approved for payment, where a buyer that
// exports has its invoice sent to its accounting system).
func (r *run) advance(ctx context.Context, id string, from, to invoice.Status) error {
	steps := []struct {
		action invoice.Action
		role   invoice.Role
		from   invoice.Status
		to     invoice.Status
	}{
		{invoice.ActionApprove, invoice.RoleProcurement, invoice.StatusAP, invoice.StatusAA},
		{invoice.ActionApprovePayment, invoice.RoleAccounting, invoice.StatusAA, invoice.StatusA},
		{invoice.ActionMarkPaid, invoice.RoleAccounting, invoice.StatusA, invoice.StatusP},
	}
	started := false
	for _, s := range steps {
		started = started || s.from == from
		if !started {
			continue
		}
		if err := r.step(ctx, id, r.request(s.action, s.role), s.to); err != nil {
			return err
		}
		if s.to == to {
			return nil
		}
	}
	return nil
}

// acknowledge clears the warning of a vendor update (the status stays AP).
func (r *run) acknowledge(ctx context.Context, id string) error {
	return r.step(ctx, id, r.request(invoice.ActionAcknowledgeUpdate, invoice.RoleProcurement), invoice.StatusAP)
}

// pendingActivity is the workflow's pending activity of this type, if any.
func (r *run) pendingActivity(ctx context.Context, id, activity string) (*workflowpb.PendingActivityInfo, error) {
	d, err := testenv.Describe(ctx, r.s.deps.Temporal, id)
	if err != nil {
		return nil, err
	}
	for _, pa := range d.GetPendingActivities() {
		if pa.GetActivityType().GetName() == activity {
			return pa, nil
		}
	}
	return nil, nil
}

// awaitWorkflowTask waits until worker w has started a workflow task of the workflow.
func (r *run) awaitWorkflowTask(ctx context.Context, id string, w *proc) (*workflowpb.PendingWorkflowTaskInfo, error) {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for {
		d, err := testenv.Describe(ctx, r.s.deps.Temporal, id)
		task := d.GetPendingWorkflowTask()
		if err == nil && task.GetState() == enumspb.PENDING_WORKFLOW_TASK_STATE_STARTED {
			return task, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%s: no workflow task started on %s within 60 s (pending %v, error %v)", id, w.Name, task, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// awaitActivity waits until a worker has started activity for the workflow (pending, STARTED).
func (r *run) awaitActivity(ctx context.Context, id, activity string) (*workflowpb.PendingActivityInfo, error) {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for {
		pa, err := r.pendingActivity(ctx, id, activity)
		if err == nil && pa != nil && pa.GetState() == enumspb.PENDING_ACTIVITY_STATE_STARTED {
			return pa, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%s: no %s started within 60 s (pending %v, error %v)", id, activity, pa, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// awaitNextAttempt waits until the activity runs again after attempt (a later attempt started,
// or the activity is no longer pending: it completed) and returns how long after since that took.
func (r *run) awaitNextAttempt(ctx context.Context, id, activity string, attempt int32, since time.Time) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	for {
		pa, err := r.pendingActivity(ctx, id, activity)
		if err == nil && (pa == nil || (pa.GetAttempt() > attempt && pa.GetState() == enumspb.PENDING_ACTIVITY_STATE_STARTED)) {
			return time.Since(since), nil
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("%s: %s did not run again within 3 minutes (pending %v, error %v)", id, activity, pa, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// killInside waits until worker w runs activity for the workflow, kills w with SIGKILL, lets the
// held traffic through (release), starts a fresh worker and measures when the activity runs again.
func (r *run) killInside(ctx context.Context, w *proc, id, activity string, release func()) *proc {
	r.t.Helper()
	pa := try(r.awaitActivity(ctx, id, activity)).must(r)
	if !strings.HasPrefix(pa.GetLastWorkerIdentity(), strconv.Itoa(w.PID())+"@") {
		r.t.Fatalf("%s attempt %d runs on %q, not on the worker about to be killed (pid %d)", activity, pa.GetAttempt(), pa.GetLastWorkerIdentity(), w.PID())
	}
	killed := time.Now()
	w.Kill()
	r.logf("SIGKILL %s (pid %d) while it ran %s attempt %d of %s", w.Name, w.PID(), activity, pa.GetAttempt(), id)
	release()
	fresh := r.startWorker()
	after := try(r.awaitNextAttempt(ctx, id, activity, pa.GetAttempt(), killed)).must(r)
	r.fault("SIGKILL worker inside %s attempt %d; retried %.1f s later", activity, pa.GetAttempt(), after.Seconds())
	return fresh
}

// gather runs fn for 0..n-1 with at most par at once and returns the errors joined.
func gather(n, par int, fn func(i int) error) error {
	var wg sync.WaitGroup
	sem := make(chan struct{}, par)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			errs[i] = fn(i)
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

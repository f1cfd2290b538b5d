package workflows

// The workflow test harness: one workflow run in the SDK's test environment with every activity
// mocked, the mocks recording what the workflow passed them.

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/k2kinvoice/autoinvoice/activities"
	"github.com/k2kinvoice/autoinvoice/internal/invoice"
)

// acts of the tests: the activities are referred to by method value of a nil *Activities, as the
// workflow does.
var testActs *activities.Activities

const (
	testVendor    = "VEND-1"
	testBuyer     = "BUY-1"
	testPO        = "PO-2024/001"
	testInvoiceID = int64(4242)
)

var (
	procurement = invoice.Actor{CompanyID: testBuyer, UserID: "u-proc", Role: invoice.RoleProcurement}
	accounting  = invoice.Actor{CompanyID: testBuyer, UserID: "u-acc", Role: invoice.RoleAccounting}
	// vendorStaff belongs to the vendor company but claims the procurement role: the company
	// check must refuse it whatever the role.
	vendorStaff = invoice.Actor{CompanyID: testVendor, UserID: "u-vend", Role: invoice.RoleProcurement}
)

// Staging keys of the form the gateway and the starter upload to.
var (
	stagedABC = "staging/" + strings.Repeat("ab", 32) + ".pdf"
	stagedBad = "staging/" + strings.Repeat("ba", 32) + ".pdf"
	stagedR2  = "staging/" + strings.Repeat("02", 32) + ".pdf"
)

func testOrder() invoice.Order {
	return invoice.Order{
		VendorID:      testVendor,
		BuyerID:       testBuyer,
		PONumber:      testPO,
		InvoiceNumber: "INV-77",
		IssueDate:     "2024-05-02",
		Currency:      "EUR",
		TotalMinor:    12500,
		POTotalMinor:  12000,
		Lines: []invoice.Line{
			{Description: "Widgets", Quantity: 5, UnitPriceMinor: 2000},
			{Description: "Shipping", Quantity: 1, UnitPriceMinor: 2500},
		},
	}
}

var testDocument = invoice.Document{
	Key:    "invoices/BUY-1/VEND-1/INV-77/r1/abc.pdf",
	Size:   1234,
	SHA256: strings.Repeat("ab", 32),
	Source: invoice.PDFRendered,
}

// harness is one workflow run with every activity mocked. The mocks record what the workflow
// passed them; the hooks let a test make an activity fail.
type harness struct {
	t   *testing.T
	env *testsuite.TestWorkflowEnvironment
	wid string

	eligibility invoice.Eligibility
	// storeErr, when set, is asked before each StorePDF attempt; a non-nil error fails it.
	storeErr  func(attempt int) error
	createErr error
	// verifyDelay and recordDelay hold VerifyEligibility and RecordEvent back on the workflow clock.
	verifyDelay, recordDelay time.Duration
	// recordErr, when set, is asked before each RecordEvent attempt; a non-nil error fails it.
	recordErr func(attempt int, e invoice.Event) error
	// reviseErr, when set, is asked before each ReviseInvoice attempt; a non-nil error fails it.
	reviseErr func(attempt int, in activities.ReviseInput) error
	// notifyDelay holds Notify back on the workflow clock.
	notifyDelay time.Duration
	// seqBase is how many audit events earlier runs wrote: a run resumed after continue-as-new
	// numbers its event keys from seqBase+1.
	seqBase int
	// confirmation is the ConfirmOrder.Confirmation the test runs (event keys of a later
	// confirmation carry its number).
	confirmation int

	mu             sync.Mutex
	verifyCalls    []activities.EligibilityInput
	storeCalls     []activities.StorePDFInput
	storeLocal     []bool // per StorePDF attempt: whether it ran as a local activity
	createCalls    []activities.CreateInvoiceInput
	recordAttempts []invoice.Event          // every RecordEvent attempt, failed ones included
	reviseCalls    []activities.ReviseInput // every ReviseInvoice attempt, failed ones included
	notifyCalls    []activities.Notification
	exportCalls    []activities.ExportInput
	// exportErr, when set, makes the n-th ExportInvoice call fail with the error it returns.
	exportErr func(n int) error
	events    []invoice.Event // audit rows written: the created and revised events and successful RecordEvents
}

// workerOptions are the options of the harness's worker: with the ArrivalOrder interceptor, as
// app.NewWorker registers it.
var workerOptions = worker.Options{Interceptors: []interceptor.WorkerInterceptor{&ArrivalOrder{}}}

// forEachArrivalMode runs test on a fresh harness with the ArrivalOrder interceptor, and on one
// without it, where the workflow falls back to a listener per message name (signals sent by the
// harness each reach the workflow in a workflow task of their own, so both keep arrival order).
func forEachArrivalMode(t *testing.T, test func(*testing.T, *harness)) {
	for _, mode := range []struct {
		name    string
		options worker.Options
	}{{"ArrivalOrder", workerOptions}, {"listeners", worker.Options{}}} {
		t.Run(mode.name, func(t *testing.T) {
			h := newHarness(t)
			h.env.SetWorkerOptions(mode.options)
			test(t, h)
		})
	}
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestWorkflowEnvironment()
	env.SetTestTimeout(30 * time.Second)
	h := &harness{
		t:           t,
		env:         env,
		wid:         InvoiceWorkflowID(testVendor, testBuyer, testPO),
		eligibility: invoice.Eligibility{Eligible: true},
	}
	env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: h.wid, TaskQueue: TaskQueue})
	env.SetWorkerOptions(workerOptions)
	env.RegisterWorkflowWithOptions(InvoiceWorkflow, workflow.RegisterOptions{Name: InvoiceWorkflowType})
	env.RegisterActivity(&activities.Activities{})

	env.OnActivity(testActs.VerifyEligibility, mock.Anything, mock.Anything).AfterFn(func() time.Duration {
		return h.verifyDelay
	}).Return(
		func(_ context.Context, in activities.EligibilityInput) (invoice.Eligibility, error) {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.verifyCalls = append(h.verifyCalls, in)
			return h.eligibility, nil
		})
	env.OnActivity(testActs.StorePDF, mock.Anything, mock.Anything).Return(
		func(ctx context.Context, in activities.StorePDFInput) (invoice.Document, error) {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.storeCalls = append(h.storeCalls, in)
			h.storeLocal = append(h.storeLocal, activity.GetInfo(ctx).IsLocalActivity)
			if h.storeErr != nil {
				if err := h.storeErr(len(h.storeCalls)); err != nil {
					return invoice.Document{}, err
				}
			}
			return documentFor(in), nil
		})
	env.OnActivity(testActs.CreateAPInvoice, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.CreateInvoiceInput) (int64, error) {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.createCalls = append(h.createCalls, in)
			if h.createErr != nil {
				return 0, h.createErr
			}
			h.events = append(h.events, in.Event)
			return testInvoiceID, nil
		})
	env.OnActivity(testActs.RecordEvent, mock.Anything, mock.Anything).AfterFn(func() time.Duration {
		return h.recordDelay
	}).Return(
		func(_ context.Context, e invoice.Event) error {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.recordAttempts = append(h.recordAttempts, e)
			if h.recordErr != nil {
				if err := h.recordErr(len(h.recordAttempts), e); err != nil {
					return err
				}
			}
			h.events = append(h.events, e)
			return nil
		})
	env.OnActivity(testActs.ReviseInvoice, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.ReviseInput) error {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.reviseCalls = append(h.reviseCalls, in)
			if h.reviseErr != nil {
				if err := h.reviseErr(len(h.reviseCalls), in); err != nil {
					return err
				}
			}
			h.events = append(h.events, in.Event)
			return nil
		})
	env.OnActivity(testActs.ExportInvoice, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.ExportInput) (activities.ExportResult, error) {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.exportCalls = append(h.exportCalls, in)
			if h.exportErr != nil {
				if err := h.exportErr(len(h.exportCalls)); err != nil {
					return activities.ExportResult{}, err
				}
			}
			return activities.ExportResult{Reference: fmt.Sprintf("ACC-%d", len(h.exportCalls))}, nil
		})
	env.OnActivity(testActs.Notify, mock.Anything, mock.Anything).AfterFn(func() time.Duration {
		return h.notifyDelay
	}).Return(
		func(_ context.Context, n activities.Notification) error {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.notifyCalls = append(h.notifyCalls, n)
			return nil
		})
	return h
}

// documentFor is what the StorePDF mock stores: testDocument for the first revision, and a
// document of its own for every later one.
func documentFor(in activities.StorePDFInput) invoice.Document {
	if in.Revision <= 1 {
		return testDocument
	}
	return invoice.Document{
		Key:    fmt.Sprintf("invoices/%s/%s/%s/r%d/cd.pdf", in.Order.BuyerID, in.Order.VendorID, in.Order.InvoiceNumber, in.Revision),
		Size:   2000 + int64(in.Revision),
		SHA256: strings.Repeat("cd", 32),
		Source: invoice.PDFFromVendor,
	}
}

// signal is one signal to send.
type signal struct {
	name string
	req  invoice.ActionRequest
}

// send sends the signals, in this order and in the same callback, after d of workflow time.
func (h *harness) send(d time.Duration, sigs ...signal) {
	h.env.RegisterDelayedCallback(func() {
		for _, s := range sigs {
			h.env.SignalWorkflow(s.name, s.req)
		}
	}, d)
}

// at runs f after d of workflow time, in a callback of the test environment.
func (h *harness) at(d time.Duration, f func()) {
	h.env.RegisterDelayedCallback(f, d)
}

// updateCall is one update sent to the workflow and what its callbacks were told.
type updateCall struct {
	name string
	id   string
	req  invoice.ActionRequest
	// raw, when set, is sent as the update's payload instead of req.
	raw *converter.RawValue

	mu  sync.Mutex
	got updateOutcome
}

// updateOutcome is what an update's callbacks were told.
type updateOutcome struct {
	Sent      bool
	Accepted  bool
	Rejected  error // the validator's refusal; nil when it accepted (or has not answered)
	Completed bool
	Answer    Answer // the handler's result, decoded
	Err       error  // the handler's error
}

// outcome is what the update's callbacks were told so far.
func (u *updateCall) outcome() updateOutcome {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.got
}

// sendUpdate sends u now; call it from a callback. u.id is the update's own ID (the SDK dedups
// on it); the request's idempotency key is what the workflow dedups on.
func (h *harness) sendUpdate(u *updateCall) {
	u.mu.Lock()
	u.got.Sent = true
	u.mu.Unlock()
	h.env.UpdateWorkflow(u.name, u.id, &testsuite.TestUpdateCallback{
		OnAccept: func() {
			u.mu.Lock()
			defer u.mu.Unlock()
			u.got.Accepted = true
		},
		OnReject: func(err error) {
			u.mu.Lock()
			defer u.mu.Unlock()
			u.got.Rejected = err
		},
		OnComplete: func(success any, err error) {
			answer, decodeErr := decodeAnswer(success)
			u.mu.Lock()
			defer u.mu.Unlock()
			u.got.Completed, u.got.Answer, u.got.Err = true, answer, err
			if decodeErr != nil && err == nil {
				u.got.Err = fmt.Errorf("decoding the update result %T: %w", success, decodeErr)
			}
		},
	}, u.arg())
}

// arg is what the update carries: the raw payload when one is set, else the request.
func (u *updateCall) arg() any {
	if u.raw != nil {
		return *u.raw
	}
	return u.req
}

// updateNow sends an update now; call it from a callback.
func (h *harness) updateNow(name, updateID string, req invoice.ActionRequest) *updateCall {
	u := &updateCall{name: name, id: updateID, req: req}
	h.sendUpdate(u)
	return u
}

// update sends an update after d of workflow time. The returned call is filled in as its
// callbacks run.
func (h *harness) update(d time.Duration, name, updateID string, req invoice.ActionRequest) *updateCall {
	u := &updateCall{name: name, id: updateID, req: req}
	h.at(d, func() { h.sendUpdate(u) })
	return u
}

// decodeAnswer turns an update's result into an Answer, whichever form the test environment
// hands it over in (the value itself, or an encoded value).
func decodeAnswer(v any) (Answer, error) {
	switch r := v.(type) {
	case nil:
		return Answer{}, nil
	case Answer:
		return r, nil
	case *Answer:
		return *r, nil
	case converter.EncodedValue:
		var a Answer
		err := r.Get(&a)
		return a, err
	}
	b, err := json.Marshal(v)
	if err != nil {
		return Answer{}, err
	}
	var a Answer
	return a, json.Unmarshal(b, &a)
}

func (h *harness) run() {
	h.env.ExecuteWorkflow(InvoiceWorkflowType, ConfirmOrder{Order: testOrder()})
}

func (h *harness) runWith(in ConfirmOrder) {
	h.env.ExecuteWorkflow(InvoiceWorkflowType, in)
}

// result is the finished workflow's result; it fails the test when the workflow failed or runs.
func (h *harness) result() Result {
	h.t.Helper()
	if !h.env.IsWorkflowCompleted() {
		h.t.Fatal("workflow did not complete")
	}
	if err := h.env.GetWorkflowError(); err != nil {
		h.t.Fatalf("workflow failed: %v", err)
	}
	var r Result
	if err := h.env.GetWorkflowResult(&r); err != nil {
		h.t.Fatalf("decoding the result: %v", err)
	}
	return r
}

// state queries the workflow's state.
func (h *harness) state() State {
	h.t.Helper()
	v, err := h.env.QueryWorkflow(QueryStatus)
	if err != nil {
		h.t.Fatalf("query %s: %v", QueryStatus, err)
	}
	var s State
	if err := v.Get(&s); err != nil {
		h.t.Fatalf("decoding the state: %v", err)
	}
	return s
}

// recorded returns a copy of the audit rows written, after checking that their keys are unique
// and numbered in order (WorkflowID#1, #2, ..., or from seqBase+1 for a resumed run), and that
// every row names this workflow and order.
func (h *harness) recorded() []invoice.Event {
	h.t.Helper()
	h.mu.Lock()
	events := append([]invoice.Event(nil), h.events...)
	h.mu.Unlock()
	seen := map[string]bool{}
	for i, e := range events {
		if seen[e.Key] {
			h.t.Errorf("event key %q is used twice", e.Key)
		}
		seen[e.Key] = true
		prefix := h.wid
		if h.confirmation > 1 {
			prefix = fmt.Sprintf("%s@%d", h.wid, h.confirmation)
		}
		if want := fmt.Sprintf("%s#%d", prefix, h.seqBase+i+1); e.Key != want {
			h.t.Errorf("event %d key = %q, want %q", i, e.Key, want)
		}
		if e.WorkflowID != h.wid || e.VendorID != testVendor || e.BuyerID != testBuyer || e.PONumber != testPO {
			h.t.Errorf("event %d does not name this workflow and order: %+v", i, e)
		}
		if e.OccurredAt.IsZero() {
			h.t.Errorf("event %d has no OccurredAt", i)
		}
	}
	return events
}

func (h *harness) counts() (verify, store, create, record int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.verifyCalls), len(h.storeCalls), len(h.createCalls), len(h.recordAttempts)
}

// want describes an expected audit row; empty fields are not checked, except for the ones the
// kind requires.
type want struct {
	kind     invoice.EventKind
	action   invoice.Action
	from, to invoice.Status
	code     string
}

func (h *harness) assertEvents(got []invoice.Event, wants ...want) {
	h.t.Helper()
	if len(got) != len(wants) {
		h.t.Errorf("got %d events, want %d:\n%s", len(got), len(wants), describe(got))
		return
	}
	for i, w := range wants {
		e := got[i]
		if e.Kind != w.kind || e.Action != w.action || e.From != w.from || e.To != w.to || e.Code != w.code {
			h.t.Errorf("event %d = {kind %s action %q from %q to %q code %q}, want {kind %s action %q from %q to %q code %q}",
				i, e.Kind, e.Action, e.From, e.To, e.Code, w.kind, w.action, w.from, w.to, w.code)
		}
	}
}

func describe(events []invoice.Event) string {
	var b strings.Builder
	for i, e := range events {
		fmt.Fprintf(&b, "  %d: %s kind=%s action=%q actor=%s from=%q to=%q code=%q reason=%q\n",
			i, e.Key, e.Kind, e.Action, e.Actor.CompanyID+"/"+string(e.Actor.Role), e.From, e.To, e.Code, e.Reason)
	}
	return b.String()
}

func approve(key string, actor invoice.Actor) signal {
	return signal{SignalApprove, invoice.ActionRequest{Actor: actor, IdempotencyKey: key}}
}

func approvePayment(key string, actor invoice.Actor) signal {
	return signal{SignalApprovePayment, invoice.ActionRequest{Actor: actor, IdempotencyKey: key}}
}

func markPaid(key string, actor invoice.Actor) signal {
	return signal{SignalMarkPaid, invoice.ActionRequest{Actor: actor, IdempotencyKey: key,
		PaymentDate: "2024-06-01", PaymentReference: "BANK-REF-9"}}
}

// happyPath sends the three actions that take the invoice from AP to P, starting at start.
func (h *harness) happyPath(start time.Duration) {
	h.send(start, approve("approve-1", procurement))
	h.send(start+time.Minute, approvePayment("approve-payment-1", accounting))
	h.send(start+2*time.Minute, markPaid("mark-paid-1", accounting))
}

var (
	wantCreated = want{kind: invoice.EventInvoiceCreated, to: invoice.StatusAP}
	wantApprove = want{kind: invoice.EventTransition, action: invoice.ActionApprove,
		from: invoice.StatusAP, to: invoice.StatusAA}
	wantApprovePayment = want{kind: invoice.EventTransition, action: invoice.ActionApprovePayment,
		from: invoice.StatusAA, to: invoice.StatusA}
	wantMarkPaid = want{kind: invoice.EventTransition, action: invoice.ActionMarkPaid,
		from: invoice.StatusA, to: invoice.StatusP}
)

func refused(action invoice.Action, in invoice.Status, code invoice.RefusalCode) want {
	return want{kind: invoice.EventRefused, action: action, from: in, to: in, code: string(code)}
}

func (h *harness) assertPaid() (Result, State) {
	h.t.Helper()
	r := h.result()
	if want := (Result{Outcome: OutcomePaid, InvoiceID: testInvoiceID, Status: invoice.StatusP}); r != want {
		h.t.Errorf("result = %+v, want %+v", r, want)
	}
	s := h.state()
	if s.Status != invoice.StatusP || s.Outcome != OutcomePaid {
		h.t.Errorf("state status %q outcome %q, want P paid", s.Status, s.Outcome)
	}
	return r, s
}

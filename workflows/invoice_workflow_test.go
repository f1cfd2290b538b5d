package workflows

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
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

	mu             sync.Mutex
	verifyCalls    []activities.EligibilityInput
	storeCalls     []activities.StorePDFInput
	createCalls    []activities.CreateInvoiceInput
	recordAttempts []invoice.Event          // every RecordEvent attempt, failed ones included
	reviseCalls    []activities.ReviseInput // every ReviseInvoice attempt, failed ones included
	notifyCalls    []activities.Notification
	events         []invoice.Event // audit rows written: the created and revised events and successful RecordEvents
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
		func(_ context.Context, in activities.StorePDFInput) (invoice.Document, error) {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.storeCalls = append(h.storeCalls, in)
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
		if want := fmt.Sprintf("%s#%d", h.wid, h.seqBase+i+1); e.Key != want {
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

// Case 1: an eligible order without a staging key becomes an AP invoice and is paid.
func TestInvoiceWorkflow_HappyPath(t *testing.T) {
	h := newHarness(t)
	h.happyPath(time.Minute)
	h.run()
	_, s := h.assertPaid()

	verify, store, create, _ := h.counts()
	if verify != 1 || store != 1 || create != 1 {
		t.Fatalf("activity calls: verify %d store %d create %d, want 1 each", verify, store, create)
	}
	if got := h.verifyCalls[0]; got != (activities.EligibilityInput{VendorID: testVendor, BuyerID: testBuyer}) {
		t.Errorf("VerifyEligibility input = %+v", got)
	}
	sp := h.storeCalls[0]
	if sp.Revision != 1 || sp.StagingKey != "" || sp.Order.InvoiceNumber != "INV-77" || sp.RenderedAt.IsZero() {
		t.Errorf("StorePDF input = %+v, want revision 1, no staging key, the order, a render time", sp)
	}
	ci := h.createCalls[0]
	if ci.WorkflowID != h.wid || ci.Document != testDocument || ci.Order.PONumber != testPO {
		t.Errorf("CreateAPInvoice input = %+v", ci)
	}
	if ci.Event.Kind != invoice.EventInvoiceCreated || ci.Event.To != invoice.StatusAP || ci.Event.From != "" {
		t.Errorf("CreateAPInvoice event = %+v, want invoice_created to AP", ci.Event)
	}

	events := h.recorded()
	h.assertEvents(events, wantCreated, wantApprove, wantApprovePayment, wantMarkPaid)
	for i, e := range events[1:] {
		if e.InvoiceID != testInvoiceID {
			t.Errorf("transition event %d has invoice ID %d, want %d", i, e.InvoiceID, testInvoiceID)
		}
	}
	if len(events) == 4 {
		if events[1].Actor != procurement || events[2].Actor != accounting || events[3].Actor != accounting {
			t.Errorf("event actors = %v %v %v", events[1].Actor, events[2].Actor, events[3].Actor)
		}
	}

	if len(s.Transitions) != 3 {
		t.Fatalf("state has %d transitions, want 3: %+v", len(s.Transitions), s.Transitions)
	}
	wantTr := []Transition{
		{Action: invoice.ActionApprove, Actor: procurement, From: invoice.StatusAP, To: invoice.StatusAA},
		{Action: invoice.ActionApprovePayment, Actor: accounting, From: invoice.StatusAA, To: invoice.StatusA},
		{Action: invoice.ActionMarkPaid, Actor: accounting, From: invoice.StatusA, To: invoice.StatusP,
			Reason: "paid on 2024-06-01, payment reference BANK-REF-9"},
	}
	if s.Payment == nil || *s.Payment != (Payment{Date: "2024-06-01", Reference: "BANK-REF-9"}) {
		t.Errorf("payment = %+v, want 2024-06-01 / BANK-REF-9", s.Payment)
	}
	for i, tr := range s.Transitions {
		at := tr.At
		tr.At = time.Time{}
		if tr != wantTr[i] {
			t.Errorf("transition %d = %+v, want %+v", i, tr, wantTr[i])
		}
		if i > 0 && !at.After(s.Transitions[i-1].At) {
			t.Errorf("transition %d at %v is not after the previous one at %v", i, at, s.Transitions[i-1].At)
		}
	}
	if s.Revision != 1 || s.InvoiceID != testInvoiceID || s.EventSeq != 4 || s.Discrepancy != 500 {
		t.Errorf("state revision %d invoice %d event_seq %d discrepancy %d, want 1 %d 4 500",
			s.Revision, s.InvoiceID, s.EventSeq, s.Discrepancy, testInvoiceID)
	}
	for _, key := range []string{"approve-1", "approve-payment-1", "mark-paid-1"} {
		if a, ok := s.Answers[key]; !ok || !a.Accepted {
			t.Errorf("answer for %s = %+v (present %v), want accepted", key, a, ok)
		}
	}
}

// A vendor-supplied PDF's staging key is handed to StorePDF.
func TestInvoiceWorkflow_StagingKeyPassedToStorePDF(t *testing.T) {
	h := newHarness(t)
	h.happyPath(time.Minute)
	h.runWith(ConfirmOrder{Order: testOrder(), StagingKey: stagedABC})
	_, s := h.assertPaid()
	if len(h.storeCalls) != 1 || h.storeCalls[0].StagingKey != stagedABC || h.storeCalls[0].Revision != 1 {
		t.Errorf("StorePDF calls = %+v", h.storeCalls)
	}
	if s.StagingKey != stagedABC {
		t.Errorf("state staging key = %q", s.StagingKey)
	}
}

// Case 2: an order that is not eligible ends with the reason and creates nothing.
func TestInvoiceWorkflow_NotEligible(t *testing.T) {
	reasons := []invoice.EligibilityReason{
		invoice.ReasonConnectionInactive, invoice.ReasonVendorSyncDisabled, invoice.ReasonBuyerUploadDisabled,
		invoice.ReasonNoConnection, invoice.ReasonUnknownCompany,
	}
	for _, reason := range reasons {
		t.Run(string(reason), func(t *testing.T) {
			h := newHarness(t)
			h.eligibility = invoice.Eligibility{Reason: reason, Detail: "detail of " + string(reason)}
			h.run()
			r := h.result()
			if r.Outcome != OutcomeNotEligible || r.Status != "" || r.InvoiceID != 0 {
				t.Errorf("result = %+v, want outcome not_eligible, no status, no invoice", r)
			}
			if want := string(reason) + ": detail of " + string(reason); r.Reason != want {
				t.Errorf("result reason = %q, want %q", r.Reason, want)
			}
			_, store, create, record := h.counts()
			if store != 0 || create != 0 {
				t.Errorf("StorePDF called %d times, CreateAPInvoice %d times, want never", store, create)
			}
			h.env.AssertNotCalled(t, "StorePDF", mock.Anything, mock.Anything)
			h.env.AssertNotCalled(t, "CreateAPInvoice", mock.Anything, mock.Anything)
			if record != 1 {
				t.Errorf("RecordEvent called %d times, want 1", record)
			}
			events := h.recorded()
			h.assertEvents(events, want{kind: invoice.EventNotEligible, code: string(reason)})
			if len(events) == 1 && (events[0].Reason != "detail of "+string(reason) || events[0].InvoiceID != 0) {
				t.Errorf("not_eligible event = %+v", events[0])
			}
			s := h.state()
			if s.Outcome != OutcomeNotEligible || s.Status != "" || s.InvoiceID != 0 || s.Reason != r.Reason {
				t.Errorf("state = %+v", s)
			}
		})
	}
}

// Case 3: a refusal of the order's content (a bad PDF, an invoice number already used) ends the
// workflow as rejected, with an audit row.
func TestInvoiceWorkflow_Rejected(t *testing.T) {
	t.Run("invalid PDF", func(t *testing.T) {
		h := newHarness(t)
		h.storeErr = func(int) error {
			return temporal.NewNonRetryableApplicationError("pdf: not a PDF file", activities.ErrTypeInvalidPDF, nil)
		}
		h.runWith(ConfirmOrder{Order: testOrder(), StagingKey: stagedBad})
		r := h.result()
		if r.Outcome != OutcomeRejected || r.Status != "" || r.InvoiceID != 0 {
			t.Errorf("result = %+v, want rejected without invoice", r)
		}
		if want := activities.ErrTypeInvalidPDF + ": pdf: not a PDF file"; r.Reason != want {
			t.Errorf("result reason = %q, want %q", r.Reason, want)
		}
		_, store, create, _ := h.counts()
		if store != 1 {
			t.Errorf("StorePDF called %d times, want once (non-retryable)", store)
		}
		if create != 0 {
			t.Errorf("CreateAPInvoice called %d times, want never", create)
		}
		events := h.recorded()
		h.assertEvents(events, want{kind: invoice.EventRejected, code: activities.ErrTypeInvalidPDF})
		if len(events) == 1 && events[0].Reason != "pdf: not a PDF file" {
			t.Errorf("rejected event reason = %q", events[0].Reason)
		}
		if s := h.state(); s.Outcome != OutcomeRejected || s.Status != "" {
			t.Errorf("state outcome %q status %q", s.Outcome, s.Status)
		}
	})
	t.Run("invoice number taken", func(t *testing.T) {
		h := newHarness(t)
		h.createErr = temporal.NewNonRetryableApplicationError(`invoice_number "INV-77" is already used`,
			activities.ErrTypeInvoiceNumberTaken, nil)
		h.run()
		r := h.result()
		if r.Outcome != OutcomeRejected || r.Status != "" || r.InvoiceID != 0 {
			t.Errorf("result = %+v, want rejected without invoice", r)
		}
		if !strings.HasPrefix(r.Reason, activities.ErrTypeInvoiceNumberTaken+": ") {
			t.Errorf("result reason = %q", r.Reason)
		}
		_, store, create, _ := h.counts()
		if store != 1 || create != 1 {
			t.Errorf("StorePDF %d CreateAPInvoice %d calls, want 1 and 1 (non-retryable)", store, create)
		}
		// CreateAPInvoice failed, so its invoice_created event was not written (the mock only
		// keeps it on success): the rejected row carries key #2, #1 was spent on the attempt.
		h.mu.Lock()
		events := append([]invoice.Event(nil), h.events...)
		createdKey := h.createCalls[0].Event.Key
		h.mu.Unlock()
		if len(events) != 1 || events[0].Kind != invoice.EventRejected ||
			events[0].Code != activities.ErrTypeInvoiceNumberTaken {
			t.Fatalf("events:\n%s", describe(events))
		}
		if events[0].Key == createdKey || events[0].Key != h.wid+"#2" {
			t.Errorf("rejected event key %q, created attempt key %q", events[0].Key, createdKey)
		}
		if s := h.state(); s.Outcome != OutcomeRejected || s.Status != "" || s.InvoiceID != 0 {
			t.Errorf("state outcome %q status %q invoice %d", s.Outcome, s.Status, s.InvoiceID)
		}
	})
}

// An infrastructure failure of StorePDF is retried, not turned into a rejection.
func TestInvoiceWorkflow_StorePDFInfrastructureErrorIsRetried(t *testing.T) {
	h := newHarness(t)
	h.storeErr = func(attempt int) error {
		if attempt < 3 {
			return errors.New("s3: connection reset")
		}
		return nil
	}
	h.happyPath(time.Hour)
	h.run()
	h.assertPaid()
	if _, attempts, _, _ := h.counts(); attempts != 3 {
		t.Errorf("StorePDF attempts = %d, want 3", attempts)
	}
}

// Case 4: an action out of order is refused and audited; the invoice stays where it was.
func TestInvoiceWorkflow_OutOfOrderRefused(t *testing.T) {
	h := newHarness(t)
	h.send(time.Minute, markPaid("early-paid", accounting))
	var mid State
	h.env.RegisterDelayedCallback(func() { mid = h.state() }, 90*time.Second)
	h.happyPath(2 * time.Minute)
	h.run()
	_, s := h.assertPaid()

	if mid.Status != invoice.StatusAP || len(mid.Transitions) != 0 {
		t.Errorf("after the early mark-paid: status %q, %d transitions, want AP and none", mid.Status, len(mid.Transitions))
	}
	if a := mid.Answers["early-paid"]; a.Accepted || a.Code != invoice.RefusedWrongStatus || a.Status != invoice.StatusAP {
		t.Errorf("answer to the early mark-paid = %+v", a)
	}
	events := h.recorded()
	h.assertEvents(events, wantCreated,
		refused(invoice.ActionMarkPaid, invoice.StatusAP, invoice.RefusedWrongStatus),
		wantApprove, wantApprovePayment, wantMarkPaid)
	if len(events) > 1 && (events[1].Actor != accounting || events[1].Reason == "") {
		t.Errorf("refused event = %+v, want the actor and a reason", events[1])
	}
	if len(s.Transitions) != 3 {
		t.Errorf("transitions = %d, want 3", len(s.Transitions))
	}
}

// Case 5: the vendor company, or a buyer user in the wrong role, may not approve.
func TestInvoiceWorkflow_WrongActorRefused(t *testing.T) {
	h := newHarness(t)
	h.send(time.Minute, approve("vendor-approve", vendorStaff))
	h.send(2*time.Minute, approve("accounting-approve", accounting))
	var mid State
	h.env.RegisterDelayedCallback(func() { mid = h.state() }, 150*time.Second)
	h.happyPath(3 * time.Minute)
	h.run()
	h.assertPaid()

	if mid.Status != invoice.StatusAP || len(mid.Transitions) != 0 {
		t.Errorf("after the wrong actors: status %q, %d transitions, want AP and none", mid.Status, len(mid.Transitions))
	}
	for _, key := range []string{"vendor-approve", "accounting-approve"} {
		if a, ok := mid.Answers[key]; !ok || a.Accepted || a.Code != invoice.RefusedWrongActor || a.Status != invoice.StatusAP {
			t.Errorf("answer %s = %+v (present %v), want refused wrong_actor in AP", key, a, ok)
		}
	}
	events := h.recorded()
	h.assertEvents(events, wantCreated,
		refused(invoice.ActionApprove, invoice.StatusAP, invoice.RefusedWrongActor),
		refused(invoice.ActionApprove, invoice.StatusAP, invoice.RefusedWrongActor),
		wantApprove, wantApprovePayment, wantMarkPaid)
	if len(events) > 2 && (events[1].Actor != vendorStaff || events[2].Actor != accounting) {
		t.Errorf("refused actors = %v, %v", events[1].Actor, events[2].Actor)
	}
}

// Case 6: a re-delivered signal (same idempotency key) is applied once.
func TestInvoiceWorkflow_RedeliveredSignalAppliedOnce(t *testing.T) {
	h := newHarness(t)
	// Twice in one callback, and once more later when the invoice has moved on.
	h.send(time.Minute, approve("approve-1", procurement), approve("approve-1", procurement))
	h.send(90*time.Second, approve("approve-1", procurement))
	var mid State
	h.env.RegisterDelayedCallback(func() { mid = h.state() }, 100*time.Second)
	h.send(2*time.Minute, approvePayment("approve-payment-1", accounting))
	h.send(3*time.Minute, markPaid("mark-paid-1", accounting))
	h.run()
	_, s := h.assertPaid()

	if mid.Status != invoice.StatusAA || len(mid.Transitions) != 1 {
		t.Errorf("after the re-deliveries: status %q, %d transitions, want AA and 1", mid.Status, len(mid.Transitions))
	}
	if a, ok := s.Answers["approve-1"]; !ok || !a.Accepted || a.Status != invoice.StatusAA || a.Action != invoice.ActionApprove {
		t.Errorf("answer approve-1 = %+v (present %v), want accepted, AA", a, ok)
	}
	events := h.recorded()
	h.assertEvents(events, wantCreated, wantApprove, wantApprovePayment, wantMarkPaid)
	_, _, _, record := h.counts()
	if record != 3 {
		t.Errorf("RecordEvent called %d times, want 3 (re-deliveries write nothing)", record)
	}
}

// Case 7: a signal without an idempotency key is refused as an invalid request.
func TestInvoiceWorkflow_MissingIdempotencyKeyRefused(t *testing.T) {
	h := newHarness(t)
	h.send(time.Minute, approve("", procurement))
	var mid State
	h.env.RegisterDelayedCallback(func() { mid = h.state() }, 90*time.Second)
	h.happyPath(2 * time.Minute)
	h.run()
	h.assertPaid()

	if mid.Status != invoice.StatusAP {
		t.Errorf("after the keyless approve: status %q, want AP", mid.Status)
	}
	if _, ok := mid.Answers[""]; ok {
		t.Errorf("an answer was stored under the empty key")
	}
	events := h.recorded()
	h.assertEvents(events, wantCreated,
		refused(invoice.ActionApprove, invoice.StatusAP, invoice.RefusedInvalid),
		wantApprove, wantApprovePayment, wantMarkPaid)
	if len(events) > 1 && !strings.Contains(events[1].Reason, "idempotency_key") {
		t.Errorf("refusal reason = %q, want it to name idempotency_key", events[1].Reason)
	}
}

// Other malformed requests are refused as invalid too: mark-paid without a payment date or
// reference, and a payload whose action differs from the signal it came on.
func TestInvoiceWorkflow_InvalidRequestsRefused(t *testing.T) {
	h := newHarness(t)
	h.send(time.Minute, approve("approve-1", procurement))
	h.send(2*time.Minute, approvePayment("approve-payment-1", accounting))
	noDate := markPaid("paid-no-date", accounting)
	noDate.req.PaymentDate = ""
	noRef := markPaid("paid-no-ref", accounting)
	noRef.req.PaymentReference = ""
	mismatch := markPaid("paid-on-approve", accounting)
	mismatch.name = SignalApprove
	mismatch.req.Action = invoice.ActionMarkPaid
	h.send(3*time.Minute, noDate)
	h.send(4*time.Minute, noRef)
	h.send(5*time.Minute, mismatch)
	h.send(6*time.Minute, markPaid("mark-paid-1", accounting))
	h.run()
	h.assertPaid()

	events := h.recorded()
	h.assertEvents(events, wantCreated, wantApprove, wantApprovePayment,
		refused(invoice.ActionMarkPaid, invoice.StatusA, invoice.RefusedInvalid),
		refused(invoice.ActionMarkPaid, invoice.StatusA, invoice.RefusedInvalid),
		refused("mark_paid (sent as approve)", invoice.StatusA, invoice.RefusedInvalid),
		wantMarkPaid)
}

// Case 8: signals still queued when the invoice becomes paid are answered (refused) before the
// workflow completes.
func TestInvoiceWorkflow_QueuedSignalsDrainedAfterPaid(t *testing.T) {
	t.Run("same channel", func(t *testing.T) {
		h := newHarness(t)
		h.send(time.Minute, approve("approve-1", procurement))
		h.send(2*time.Minute, approvePayment("approve-payment-1", accounting))
		h.send(3*time.Minute, markPaid("mark-paid-1", accounting), markPaid("mark-paid-2", accounting))
		h.run()
		_, s := h.assertPaid()
		events := h.recorded()
		h.assertEvents(events, wantCreated, wantApprove, wantApprovePayment, wantMarkPaid,
			refused(invoice.ActionMarkPaid, invoice.StatusP, invoice.RefusedWrongStatus))
		if a := s.Answers["mark-paid-2"]; a.Accepted || a.Code != invoice.RefusedWrongStatus || a.Status != invoice.StatusP {
			t.Errorf("answer mark-paid-2 = %+v", a)
		}
	})
	t.Run("other channels", func(t *testing.T) {
		// Three signals arrive together; mark-paid is handled first, and the two queued behind it
		// are answered after P in arrival order (approve-payment-2 was sent before approve-2).
		h := newHarness(t)
		h.send(time.Minute, approve("approve-1", procurement))
		h.send(2*time.Minute, approvePayment("approve-payment-1", accounting))
		h.send(3*time.Minute, markPaid("mark-paid-1", accounting), approvePayment("approve-payment-2", accounting),
			approve("approve-2", procurement))
		h.run()
		_, s := h.assertPaid()
		h.assertEvents(h.recorded(), wantCreated, wantApprove, wantApprovePayment, wantMarkPaid,
			refused(invoice.ActionApprovePayment, invoice.StatusP, invoice.RefusedWrongStatus),
			refused(invoice.ActionApprove, invoice.StatusP, invoice.RefusedWrongStatus))
		for _, k := range []string{"approve-2", "approve-payment-2"} {
			if a := s.Answers[k]; a.Accepted || a.Code != invoice.RefusedWrongStatus || a.Status != invoice.StatusP {
				t.Errorf("answer %s = %+v", k, a)
			}
		}
	})
	t.Run("arriving during the final transition", func(t *testing.T) {
		// The extra signals arrive while mark-paid's RecordEvent runs, so they are still queued
		// when the status becomes P: the drain refuses them in P.
		h := newHarness(t)
		h.recordDelay = 10 * time.Second
		h.send(time.Minute, approve("approve-1", procurement))
		h.send(2*time.Minute, approvePayment("approve-payment-1", accounting))
		h.send(3*time.Minute, markPaid("mark-paid-1", accounting))
		h.send(3*time.Minute+time.Second, approve("approve-2", procurement), markPaid("mark-paid-2", accounting))
		h.run()
		_, s := h.assertPaid()
		events := h.recorded()
		h.assertEvents(events, wantCreated, wantApprove, wantApprovePayment, wantMarkPaid,
			refused(invoice.ActionApprove, invoice.StatusP, invoice.RefusedWrongStatus),
			refused(invoice.ActionMarkPaid, invoice.StatusP, invoice.RefusedWrongStatus))
		for _, k := range []string{"approve-2", "mark-paid-2"} {
			if a := s.Answers[k]; a.Accepted || a.Code != invoice.RefusedWrongStatus || a.Status != invoice.StatusP {
				t.Errorf("answer %s = %+v", k, a)
			}
		}
	})
}

// Signals queued while the workflow is busy (here: while approve's RecordEvent runs) should be
// handled in arrival order, as awaitPayment's doc comment promises. KNOWN BUG: the selector takes
// ready channels in the order they were added (approve, approve-payment, mark-paid), so a
// mark-paid sent before an approve-payment is applied after it and pays an invoice that was not
// yet payment-approved when it was sent. The test skips with the evidence while the bug is there
// and checks arrival order once it is fixed.
func TestInvoiceWorkflow_QueuedSignalsTakenInArrivalOrder(t *testing.T) {
	h := newHarness(t)
	h.recordDelay = 30 * time.Second
	h.send(time.Minute, approve("approve-1", procurement))
	h.send(time.Minute+10*time.Second, markPaid("mark-paid-early", accounting))
	h.send(time.Minute+20*time.Second, approvePayment("approve-payment-1", accounting))
	h.send(5*time.Minute, markPaid("mark-paid-1", accounting))
	h.run()
	events := h.recorded()
	if len(events) >= 4 && events[2].Action == invoice.ActionApprovePayment && events[3].Kind == invoice.EventTransition &&
		events[3].Action == invoice.ActionMarkPaid {
		t.Fatalf("queued signals were taken in channel order, not arrival order; "+
			"mark-paid-early (sent before approve-payment-1) paid the invoice:\n%s", describe(events))
	}
	_, s := h.assertPaid()
	h.assertEvents(events, wantCreated, wantApprove,
		refused(invoice.ActionMarkPaid, invoice.StatusAA, invoice.RefusedWrongStatus),
		wantApprovePayment, wantMarkPaid)
	if a := s.Answers["mark-paid-early"]; a.Accepted {
		t.Errorf("answer mark-paid-early = %+v, want refused", a)
	}
}

// A signal that arrives while the workflow drains the queue after P must still be answered and
// audited before the workflow completes. KNOWN BUG: the drain loop visits each channel once, in
// order; a signal arriving on a channel already visited (here approve, while approve-payment's
// refusal is being recorded) is never received: the SDK logs "Workflow has unhandled signals
// SignalNames [approve]", and there is no audit row and no answer. The test skips with the
// evidence while the bug is there.
func TestInvoiceWorkflow_SignalArrivingDuringDrainIsAnswered(t *testing.T) {
	h := newHarness(t)
	h.recordDelay = 10 * time.Second
	h.send(time.Minute, approve("approve-1", procurement))
	h.send(2*time.Minute, approvePayment("approve-payment-1", accounting))
	h.send(3*time.Minute, markPaid("mark-paid-1", accounting))
	// Queued during mark-paid's RecordEvent (3m to 3m10s): drained in P, its refusal recorded
	// from 3m10s to 3m20s.
	h.send(3*time.Minute+time.Second, approvePayment("approve-payment-2", accounting))
	// Arrives during that recording, on the approve channel the drain has already visited.
	h.send(3*time.Minute+15*time.Second, approve("approve-3", procurement))
	h.run()
	_, s := h.assertPaid()
	events := h.recorded()
	if _, ok := s.Answers["approve-3"]; !ok {
		t.Fatalf("approve-3, signalled during the drain, was never answered nor audited; "+
			"answers %v, events:\n%s", keys(s.Answers), describe(events))
	}
	h.assertEvents(events, wantCreated, wantApprove, wantApprovePayment, wantMarkPaid,
		refused(invoice.ActionApprovePayment, invoice.StatusP, invoice.RefusedWrongStatus),
		refused(invoice.ActionApprove, invoice.StatusP, invoice.RefusedWrongStatus))
}

func keys(m map[string]Answer) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// A refused request's answer is kept under its key: re-sending the same key after the invoice
// moved on is not applied (the first answer stands), and writes no audit row.
func TestInvoiceWorkflow_RefusedKeyIsNotRetried(t *testing.T) {
	h := newHarness(t)
	h.send(time.Minute, approvePayment("ap-1", accounting)) // refused in AP
	h.send(2*time.Minute, approve("approve-1", procurement))
	h.send(3*time.Minute, approvePayment("ap-1", accounting)) // same key: ignored
	var mid State
	h.env.RegisterDelayedCallback(func() { mid = h.state() }, 4*time.Minute)
	h.send(5*time.Minute, approvePayment("ap-2", accounting))
	h.send(6*time.Minute, markPaid("mark-paid-1", accounting))
	h.run()
	h.assertPaid()
	if mid.Status != invoice.StatusAA {
		t.Errorf("status after re-sending a refused key = %q, want AA", mid.Status)
	}
	if a := mid.Answers["ap-1"]; a.Accepted || a.Code != invoice.RefusedWrongStatus || a.Status != invoice.StatusAP {
		t.Errorf("answer ap-1 = %+v, want the first refusal", a)
	}
	h.assertEvents(h.recorded(), wantCreated,
		refused(invoice.ActionApprovePayment, invoice.StatusAP, invoice.RefusedWrongStatus),
		wantApprove, wantApprovePayment, wantMarkPaid)
}

// Case 9: the status query returns the whole state, during the run and after completion.
func TestInvoiceWorkflow_Query(t *testing.T) {
	t.Run("before the invoice exists", func(t *testing.T) {
		h := newHarness(t)
		h.verifyDelay = time.Hour
		var early State
		var queried bool
		h.env.RegisterDelayedCallback(func() { early, queried = h.state(), true }, time.Minute)
		h.happyPath(2 * time.Hour)
		h.run()
		h.assertPaid()
		if !queried {
			t.Fatal("the early query did not run")
		}
		if early.WorkflowID != h.wid || early.Order.PONumber != testPO || early.Status != "" ||
			early.InvoiceID != 0 || early.Document != (invoice.Document{}) || early.Outcome != "" {
			t.Errorf("state while checking eligibility = %+v", early)
		}
	})
	t.Run("in AP", func(t *testing.T) {
		h := newHarness(t)
		var ap State
		h.env.RegisterDelayedCallback(func() { ap = h.state() }, 30*time.Second)
		h.happyPath(time.Minute)
		h.run()
		h.assertPaid()
		if ap.Status != invoice.StatusAP || ap.InvoiceID != testInvoiceID || ap.Document != testDocument ||
			ap.Revision != 1 || ap.Outcome != "" || ap.StatusSince.IsZero() || ap.EventSeq != 1 {
			t.Errorf("state in AP = %+v", ap)
		}
	})
	t.Run("after completion", func(t *testing.T) {
		h := newHarness(t)
		h.happyPath(time.Minute)
		h.run()
		_, s := h.assertPaid()
		if s.WorkflowID != h.wid || s.Document != testDocument || s.InvoiceID != testInvoiceID ||
			s.Order.InvoiceNumber != "INV-77" || s.Discrepancy != 500 || s.StatusSince.IsZero() {
			t.Errorf("final state = %+v", s)
		}
	})
}

// Case 10: an infrastructure failure of RecordEvent is retried with the same event (same key)
// until it succeeds, and the workflow goes on.
func TestInvoiceWorkflow_RecordEventRetried(t *testing.T) {
	h := newHarness(t)
	failures := 0
	h.recordErr = func(_ int, e invoice.Event) error {
		if e.Kind == invoice.EventTransition && e.Action == invoice.ActionApprove && failures < 2 {
			failures++
			return errors.New("postgres: connection refused")
		}
		return nil
	}
	h.happyPath(time.Minute)
	h.run()
	_, s := h.assertPaid()
	events := h.recorded()
	h.assertEvents(events, wantCreated, wantApprove, wantApprovePayment, wantMarkPaid)

	h.mu.Lock()
	attempts := append([]invoice.Event(nil), h.recordAttempts...)
	h.mu.Unlock()
	if len(attempts) != 5 {
		t.Fatalf("RecordEvent attempts = %d, want 5 (approve three times, then two):\n%s", len(attempts), describe(attempts))
	}
	for i := 1; i < 3; i++ {
		if attempts[i] != attempts[0] {
			t.Errorf("retry %d sent %+v, want the same event %+v", i, attempts[i], attempts[0])
		}
	}
	if len(s.Transitions) != 3 {
		t.Errorf("transitions = %d, want 3", len(s.Transitions))
	}
}

// A business conflict from RecordEvent (the row changed outside the workflow) is not retried and
// fails the workflow.
func TestInvoiceWorkflow_RecordEventStatusConflictFailsWorkflow(t *testing.T) {
	h := newHarness(t)
	h.recordErr = func(_ int, e invoice.Event) error {
		if e.Action == invoice.ActionApprove {
			return temporal.NewNonRetryableApplicationError("status changed", activities.ErrTypeStatusConflict, nil)
		}
		return nil
	}
	h.happyPath(time.Minute)
	h.run()
	if !h.env.IsWorkflowCompleted() {
		t.Fatal("workflow did not complete")
	}
	err := h.env.GetWorkflowError()
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || appErr.Type() != activities.ErrTypeStatusConflict {
		t.Fatalf("workflow error = %v, want a %s application error", err, activities.ErrTypeStatusConflict)
	}
	if _, _, _, record := h.counts(); record != 1 {
		t.Errorf("RecordEvent attempts = %d, want 1 (non-retryable)", record)
	}
}

// An action that arrives while the invoice is still being created waits in the inbox and is
// handled once the invoice is in AP.
func TestInvoiceWorkflow_EarlyActionWaitsForTheInvoice(t *testing.T) {
	h := newHarness(t)
	h.verifyDelay = 10 * time.Minute
	h.send(time.Minute, approve("approve-early", procurement))
	h.send(20*time.Minute, approvePayment("approve-payment-1", accounting))
	h.send(21*time.Minute, markPaid("mark-paid-1", accounting))
	h.run()
	h.assertPaid()
	h.assertEvents(h.recorded(), wantCreated, wantApprove, wantApprovePayment, wantMarkPaid)
}

// Actions sent to an order that does not become an invoice are answered and audited as refused.
func TestInvoiceWorkflow_ActionOnNotEligibleOrderRefused(t *testing.T) {
	h := newHarness(t)
	h.eligibility = invoice.Eligibility{Reason: invoice.ReasonBuyerUploadDisabled, Detail: "off"}
	h.verifyDelay = 10 * time.Minute
	h.send(time.Minute, approve("approve-early", procurement))
	h.run()
	if r := h.result(); r.Outcome != OutcomeNotEligible {
		t.Fatalf("result = %+v, want not_eligible", r)
	}
	h.assertEvents(h.recorded(), want{kind: invoice.EventNotEligible, code: string(invoice.ReasonBuyerUploadDisabled)},
		refused(invoice.ActionApprove, "", invoice.RefusedNoInvoice))
	if a := h.state().Answers["approve-early"]; a.Accepted || a.Code != invoice.RefusedNoInvoice {
		t.Errorf("answer = %+v, want refused no_invoice", a)
	}
}

// An idempotency key reused for another action is refused, and the key keeps its first answer.
func TestInvoiceWorkflow_KeyReusedForAnotherActionRefused(t *testing.T) {
	h := newHarness(t)
	h.send(time.Minute, approve("k", procurement))
	h.send(2*time.Minute, approvePayment("k", accounting))
	h.send(3*time.Minute, approvePayment("approve-payment-1", accounting))
	h.send(4*time.Minute, markPaid("mark-paid-1", accounting))
	h.run()
	_, s := h.assertPaid()
	h.assertEvents(h.recorded(), wantCreated, wantApprove,
		refused(invoice.ActionApprovePayment, invoice.StatusAA, invoice.RefusedInvalid),
		wantApprovePayment, wantMarkPaid)
	if a := s.Answers["k"]; !a.Accepted || a.Action != invoice.ActionApprove {
		t.Errorf("answer of k = %+v, want the first answer (approve accepted)", a)
	}
}

package workflows

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/k2kinvoice/autoinvoice/activities"
	"github.com/k2kinvoice/autoinvoice/internal/invoice"
)

const testCreditNoteID = int64(77)

// creditHarness runs one credit note workflow with its activities mocked.
type creditHarness struct {
	t         *testing.T
	env       *testsuite.TestWorkflowEnvironment
	wid       string
	createErr error
	mu        sync.Mutex
	events    []invoice.Event
	creates   []activities.CreateCreditNoteInput
}

func testCreditNote() invoice.CreditNote {
	return invoice.CreditNote{Number: "CN-1", IssueDate: "2024-07-01", Currency: "EUR", TotalMinor: 2500,
		Reason: "five widgets returned", Lines: []invoice.Line{{Description: "Widgets returned", Quantity: 5, UnitPriceMinor: 500}}}
}

func newCreditHarness(t *testing.T) *creditHarness {
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestWorkflowEnvironment()
	env.SetTestTimeout(30 * time.Second)
	h := &creditHarness{t: t, env: env, wid: CreditNoteWorkflowID(testInvoiceID, "CN-1")}
	env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: h.wid, TaskQueue: TaskQueue})
	env.RegisterWorkflowWithOptions(CreditNoteWorkflow, workflow.RegisterOptions{Name: CreditNoteWorkflowType})
	env.RegisterActivity(&activities.Activities{})
	env.OnActivity(testActs.StoreCreditNotePDF, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.StoreCreditNotePDFInput) (invoice.Document, error) {
			return invoice.Document{Key: "invoices/cn/" + in.Note.Number + ".pdf", Size: 900, SHA256: strings.Repeat("cd", 32),
				Source: invoice.PDFRendered}, nil
		})
	env.OnActivity(testActs.CreateCreditNote, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.CreateCreditNoteInput) (int64, error) {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.creates = append(h.creates, in)
			if h.createErr != nil {
				return 0, h.createErr
			}
			h.events = append(h.events, in.Event)
			return testCreditNoteID, nil
		})
	env.OnActivity(testActs.RecordEvent, mock.Anything, mock.Anything).Return(
		func(_ context.Context, e invoice.Event) error {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.events = append(h.events, e)
			return nil
		})
	return h
}

func (h *creditHarness) run(separateDuties bool) {
	h.env.ExecuteWorkflow(CreditNoteWorkflowType, IssueCreditNote{Note: testCreditNote(), InvoiceID: testInvoiceID,
		InvoiceWorkflowID: InvoiceWorkflowID(testVendor, testBuyer, testPO), Invoice: testOrder(), SeparateDuties: separateDuties})
}

func (h *creditHarness) send(d time.Duration, name string, req invoice.ActionRequest) {
	h.env.RegisterDelayedCallback(func() { h.env.SignalWorkflow(name, req) }, d)
}

func (h *creditHarness) result() CreditNoteResult {
	h.t.Helper()
	if !h.env.IsWorkflowCompleted() || h.env.GetWorkflowError() != nil {
		h.t.Fatalf("workflow completed %v, error %v", h.env.IsWorkflowCompleted(), h.env.GetWorkflowError())
	}
	var r CreditNoteResult
	if err := h.env.GetWorkflowResult(&r); err != nil {
		h.t.Fatal(err)
	}
	return r
}

// summary is each audit row as "kind action from→to code", in order.
func (h *creditHarness) summary() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var rows []string
	keys := map[string]bool{}
	for i, e := range h.events {
		if e.WorkflowID != h.wid || e.InvoiceID != testInvoiceID || !strings.HasPrefix(e.Key, h.wid+"#") || keys[e.Key] {
			h.t.Errorf("event %d = %+v: not keyed or named for this credit note", i, e)
		}
		keys[e.Key] = true
		if i > 0 && e.CreditNoteID != testCreditNoteID {
			h.t.Errorf("event %d names credit note %d, want %d", i, e.CreditNoteID, testCreditNoteID)
		}
		rows = append(rows, strings.Join(strings.Fields(string(e.Kind)+" "+string(e.Action)+" "+string(e.From)+"→"+string(e.To)+" "+e.Code), " "))
	}
	return strings.Join(rows, " | ")
}

func creditAction(action invoice.Action, actor invoice.Actor, key string) invoice.ActionRequest {
	return invoice.ActionRequest{Action: action, Actor: actor, IdempotencyKey: key}
}

// Created in AP, approved by procurement, applied by accounting: outcome applied. Out-of-order,
// wrong-actor and same-user (separated duties) actions are refused and audited.
func TestCreditNote_ApprovedAndApplied(t *testing.T) {
	h := newCreditHarness(t)
	h.send(time.Minute, SignalApplyCreditNote, creditAction(invoice.ActionApplyCreditNote, accounting, "apply-early"))
	h.send(2*time.Minute, SignalApproveCreditNote, creditAction(invoice.ActionApproveCreditNote, vendorUser, "approve-vendor"))
	h.send(3*time.Minute, SignalApproveCreditNote, creditAction(invoice.ActionApproveCreditNote, procurement, "approve"))
	sameUser := accounting
	sameUser.UserID = procurement.UserID
	h.send(4*time.Minute, SignalApplyCreditNote, creditAction(invoice.ActionApplyCreditNote, sameUser, "apply-same-user"))
	h.send(5*time.Minute, SignalApplyCreditNote, creditAction(invoice.ActionApplyCreditNote, accounting, "apply"))
	h.run(true)
	if r := h.result(); r.Outcome != OutcomeApplied || r.Status != invoice.StatusCreditApplied || r.CreditNoteID != testCreditNoteID {
		t.Errorf("result = %+v, want applied", r)
	}
	want := "credit_note_created →AP | refused apply_credit_note AP→AP not_allowed_in_state | refused approve_credit_note AP→AP wrong_actor | " +
		"transition approve_credit_note AP→AA | refused apply_credit_note AA→AA same_user | transition apply_credit_note AA→CA"
	if got := h.summary(); got != want {
		t.Errorf("audit rows\n got %s\nwant %s", got, want)
	}
	if len(h.creates) != 1 || h.creates[0].InvoiceID != testInvoiceID || h.creates[0].Note.Number != "CN-1" || h.creates[0].WorkflowID != h.wid {
		t.Errorf("CreateCreditNote inputs = %+v", h.creates)
	}
}

// A credit note the store refuses (over-credit, invoice not paid) ends rejected with an audit row.
func TestCreditNote_RejectedAtCreation(t *testing.T) {
	for code, errType := range map[invoice.RefusalCode]string{invoice.RefusedOverCredit: activities.ErrTypeOverCredit,
		invoice.RefusedNotPaid: activities.ErrTypeNotPaid} {
		t.Run(string(code), func(t *testing.T) {
			h := newCreditHarness(t)
			h.createErr = temporal.NewNonRetryableApplicationError("refused by the store", errType, errors.New("x"))
			h.run(false)
			if r := h.result(); r.Outcome != OutcomeRejected || r.Reason != string(code)+": refused by the store" {
				t.Errorf("result = %+v, want rejected with %s", r, code)
			}
			if got, want := h.summary(), "rejected → "+string(code); got != want {
				t.Errorf("audit rows %q, want %q", got, want)
			}
		})
	}
}

// An update refused by the validator never enters history; one accepted returns the answer.
func TestCreditNote_Updates(t *testing.T) {
	h := newCreditHarness(t)
	var early, approved error
	var answer Answer
	h.env.RegisterDelayedCallback(func() {
		h.env.UpdateWorkflow(SignalApplyCreditNote, "u1", &testsuite.TestUpdateCallback{
			OnReject: func(err error) { early = err }, OnAccept: func() {}, OnComplete: func(any, error) {}},
			creditAction(invoice.ActionApplyCreditNote, accounting, "apply-early"))
	}, time.Minute)
	h.env.RegisterDelayedCallback(func() {
		h.env.UpdateWorkflow(SignalApproveCreditNote, "u2", &testsuite.TestUpdateCallback{
			OnReject: func(err error) { approved = err }, OnAccept: func() {},
			OnComplete: func(v any, err error) {
				if a, ok := v.(Answer); ok {
					answer = a
				}
				approved = err
			}},
			creditAction(invoice.ActionApproveCreditNote, procurement, "approve"))
	}, 2*time.Minute)
	h.send(3*time.Minute, SignalApplyCreditNote, creditAction(invoice.ActionApplyCreditNote, accounting, "apply"))
	h.run(false)
	h.result()
	var appErr *temporal.ApplicationError
	if !errors.As(early, &appErr) || appErr.Type() != string(invoice.RefusedWrongStatus) {
		t.Errorf("early apply update: %v, want the validator's not_allowed_in_state", early)
	}
	if approved != nil || !answer.Accepted || answer.Status != invoice.StatusAA {
		t.Errorf("approve update: %+v, %v; want accepted into AA", answer, approved)
	}
	if got := h.summary(); got != "credit_note_created →AP | transition approve_credit_note AP→AA | transition apply_credit_note AA→CA" {
		t.Errorf("audit rows %s", got)
	}
}

func TestCreditNoteWorkflowID(t *testing.T) {
	if got := CreditNoteWorkflowID(42, "CN 2026/1"); got != "k2k-credit-note/42/CN%202026%2F1" {
		t.Errorf("CreditNoteWorkflowID = %q", got)
	}
	if got := CreditNoteWorkflowID(42, strings.Repeat("x", 400)); len(got) > MaxWorkflowIDBytes {
		t.Errorf("a long number makes an ID of %d bytes", len(got))
	}
}

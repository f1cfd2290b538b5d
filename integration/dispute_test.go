package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/k2kinvoice/autoinvoice/internal/invoice"
	"github.com/k2kinvoice/autoinvoice/workflows"
)

// settled waits for the workflow's result.
func settled(t *testing.T, id string) workflows.Result {
	t.Helper()
	var r workflows.Result
	if err := deps.Temporal.GetWorkflow(context.Background(), id, "").Get(within(t, 20*time.Second), &r); err != nil {
		t.Fatalf("result of %s: %v", id, err)
	}
	return r
}

// payAll takes an invoice in AP without warning to P, by two users.
func payAll(t *testing.T, id string, o invoice.Order, keyPrefix string) {
	t.Helper()
	mustAccept(t, id, invoice.ActionRequest{Action: invoice.ActionApprove, Actor: buyer(o, "alice", invoice.RoleProcurement),
		IdempotencyKey: keyPrefix + "approve"}, invoice.StatusAA)
	mustAccept(t, id, invoice.ActionRequest{Action: invoice.ActionApprovePayment, Actor: buyer(o, "bob", invoice.RoleAccounting),
		IdempotencyKey: keyPrefix + "approve-payment"}, invoice.StatusA)
	mustAccept(t, id, invoice.ActionRequest{Action: invoice.ActionMarkPaid, Actor: buyer(o, "bob", invoice.RoleAccounting),
		IdempotencyKey: keyPrefix + "mark-paid", PaymentDate: "2026-11-30", PaymentReference: "SEPA-" + keyPrefix}, invoice.StatusP)
}

// TestDisputeVoidAndConfirmAgain: the buyer disputes, the vendor voids (outcome voided, row V); the
// same confirmation delivered again answers with the voided state and starts nothing; a new
// confirmation with a new invoice number starts the order's workflow again as confirmation 2, with
// its own invoice row, which is then paid.
func TestDisputeVoidAndConfirmAgain(t *testing.T) {
	o := eligible(t)
	st := confirmAndSettle(t, o, nil)
	id := st.WorkflowID
	ctx := context.Background()
	mustRefuse(t, id, invoice.ActionRequest{Action: invoice.ActionDispute, Actor: buyer(o, "alice", invoice.RoleProcurement),
		IdempotencyKey: "dispute-no-reason"}, invoice.RefusedInvalid)
	mustAccept(t, id, invoice.ActionRequest{Action: invoice.ActionDispute, Actor: buyer(o, "alice", invoice.RoleProcurement),
		IdempotencyKey: "dispute", Reason: "unit price is 1.80, not 1.89"}, invoice.StatusD)
	disputed, err := client.State(ctx, id)
	if err != nil || disputed.Dispute == nil || disputed.Dispute.Reason != "unit price is 1.80, not 1.89" || disputed.Dispute.By.UserID != "alice" {
		t.Fatalf("state in D: dispute %+v, %v", disputed.Dispute, err)
	}
	mustRefuse(t, id, invoice.ActionRequest{Action: invoice.ActionApprove, Actor: buyer(o, "alice", invoice.RoleProcurement),
		IdempotencyKey: "approve-in-d"}, invoice.RefusedWrongStatus)
	mustAccept(t, id, invoice.ActionRequest{Action: invoice.ActionVoid, Actor: vendorActor(o),
		IdempotencyKey: "void", Reason: "wrong price list; a new invoice follows"}, invoice.StatusV)
	if r := settled(t, id); r.Outcome != workflows.OutcomeVoided || r.Status != invoice.StatusV || r.Reason != "wrong price list; a new invoice follows" {
		t.Fatalf("result = %+v, want voided in V with the vendor's reason", r)
	}
	first, err := deps.Store.InvoiceGet(ctx, st.InvoiceID)
	if err != nil || first.Status != invoice.StatusV || first.Confirmation != 1 {
		t.Fatalf("voided invoice row = %+v (%v), want status V, confirmation 1", first, err)
	}
	// An action after the void is refused by the client, which says how to invoice again.
	refusal := mustRefuse(t, id, invoice.ActionRequest{Action: invoice.ActionApprove, Actor: buyer(o, "alice", invoice.RoleProcurement),
		IdempotencyKey: "approve-after-void"}, invoice.RefusedWrongStatus)
	if !strings.Contains(refusal.Reason, "confirm the order again with a new invoice number") {
		t.Errorf("refusal after void: %q", refusal.Reason)
	}

	// The voided confirmation delivered again: answered with the voided state, nothing started.
	again := confirmAndSettle(t, o, nil)
	if again.Outcome != workflows.OutcomeVoided || again.InvoiceID != st.InvoiceID {
		t.Fatalf("re-delivered confirmation: outcome %s invoice %d, want voided invoice %d", again.Outcome, again.InvoiceID, st.InvoiceID)
	}
	if n := listWorkflows(t, fmt.Sprintf("WorkflowId = '%s'", id), 1); n != 1 {
		t.Fatalf("%d runs after the re-delivered confirmation, want 1", n)
	}

	// A new confirmation with a new invoice number: the order's second invoice.
	o2 := o
	o2.InvoiceNumber = o.InvoiceNumber + "-B"
	second := confirmAndSettle(t, o2, nil)
	if second.Status != invoice.StatusAP || second.Confirmation != 2 || second.InvoiceID == st.InvoiceID || second.Order.InvoiceNumber != o2.InvoiceNumber {
		t.Fatalf("second confirmation: status %s confirmation %d invoice %d (first %d) number %s",
			second.Status, second.Confirmation, second.InvoiceID, st.InvoiceID, second.Order.InvoiceNumber)
	}
	// Delivered again while it runs: the same run answers.
	if third := confirmAndSettle(t, o2, nil); third.InvoiceID != second.InvoiceID || third.Confirmation != 2 {
		t.Errorf("second confirmation delivered again: invoice %d confirmation %d, want %d and 2", third.InvoiceID, third.Confirmation, second.InvoiceID)
	}
	payAll(t, id, o2, "second-")
	if r := settled(t, id); r.Outcome != workflows.OutcomePaid || r.InvoiceID != second.InvoiceID {
		t.Errorf("second run's result = %+v, want paid invoice %d", r, second.InvoiceID)
	}
	if n := count(t, `SELECT count(*) FROM vendor_invoices WHERE workflow_id = $1`, id); n != 2 {
		t.Errorf("%d invoice rows for the order, want 2 (voided and paid)", n)
	}
	if n := count(t, `SELECT count(*) FROM vendor_invoices WHERE workflow_id = $1 AND confirmation = 2 AND status = 'P' AND invoice_number = $2`, id, o2.InvoiceNumber); n != 1 {
		t.Errorf("the second invoice row is not paid under its number")
	}
	if n := count(t, `SELECT count(*) FROM invoice_events WHERE workflow_id = $1 AND event_key LIKE $2`, id, id+"@2#%"); n != 4 {
		t.Errorf("%d audit rows keyed for confirmation 2, want 4 (created, approve, approve payment, paid)", n)
	}
	if n := listWorkflows(t, fmt.Sprintf("WorkflowId = '%s'", id), 2); n != 2 {
		t.Errorf("%d runs of %s, want 2", n, id)
	}
	if n := listWorkflows(t, fmt.Sprintf("WorkflowId = '%s' AND K2KOutcome = 'voided' AND K2KStatus = 'V'", id), 1); n != 1 {
		t.Errorf("visibility finds %d voided runs, want 1", n)
	}
}

// TestDisputeAnsweredByAnUpdate: disputed in AA by accounting, the vendor's new revision brings the
// invoice back to AP with the warning; the buyer reviews it and pays.
func TestDisputeAnsweredByAnUpdate(t *testing.T) {
	o := eligible(t)
	st := confirmAndSettle(t, o, nil)
	id := st.WorkflowID
	mustAccept(t, id, invoice.ActionRequest{Action: invoice.ActionApprove, Actor: buyer(o, "alice", invoice.RoleProcurement),
		IdempotencyKey: "approve-1"}, invoice.StatusAA)
	mustAccept(t, id, invoice.ActionRequest{Action: invoice.ActionDispute, Actor: buyer(o, "bob", invoice.RoleAccounting),
		IdempotencyKey: "dispute", Reason: "520 delivered, 540 invoiced"}, invoice.StatusD)
	if inv, err := deps.Store.InvoiceGet(context.Background(), st.InvoiceID); err != nil || inv.Status != invoice.StatusD {
		t.Fatalf("invoice row in %s (%v), want D", inv.Status, err)
	}
	r := revisedOrder(o)
	mustAccept(t, id, invoice.ActionRequest{Action: invoice.ActionVendorUpdate, Actor: vendorActor(o),
		IdempotencyKey: "update", Update: updateOf(r, "")}, invoice.StatusAP)
	updated, err := client.State(context.Background(), id)
	if err != nil || !updated.UpdatePending || updated.Dispute != nil || updated.Revision != 2 || updated.ApprovedBy != "" {
		t.Fatalf("after the update: pending %v dispute %+v revision %d approved by %q (%v)",
			updated.UpdatePending, updated.Dispute, updated.Revision, updated.ApprovedBy, err)
	}
	mustAccept(t, id, invoice.ActionRequest{Action: invoice.ActionAcknowledgeUpdate, Actor: buyer(o, "alice", invoice.RoleProcurement),
		IdempotencyKey: "ack"}, invoice.StatusAP)
	payAll(t, id, r, "after-update-")
	if res := settled(t, id); res.Outcome != workflows.OutcomePaid {
		t.Errorf("result = %+v, want paid", res)
	}
	var chain []string
	events, _ := deps.Store.EventsByWorkflowID(context.Background(), id)
	for _, e := range events {
		chain = append(chain, fmt.Sprintf("%s:%s→%s", e.Action, e.From, e.To))
	}
	want := ":→AP approve:AP→AA dispute:AA→D vendor_update:D→AP acknowledge_update:AP→AP approve:AP→AA approve_payment:AA→A mark_paid:A→P"
	if got := strings.Join(chain, " "); got != want {
		t.Errorf("audit chain\n got %s\nwant %s", got, want)
	}
}

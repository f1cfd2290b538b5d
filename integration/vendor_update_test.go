package integration

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/k2kinvoice/autoinvoice/internal/blob"
	"github.com/k2kinvoice/autoinvoice/internal/invoice"
	"github.com/k2kinvoice/autoinvoice/internal/pdf"
	"github.com/k2kinvoice/autoinvoice/workflows"
)

// do sends one action as an update and returns the workflow's answer or its refusal.
func do(t *testing.T, workflowID string, req invoice.ActionRequest) (workflows.Answer, error) {
	t.Helper()
	return client.Do(within(t, 20*time.Second), workflowID, req)
}

// mustAccept sends req as an update and fails the test unless it is accepted into want.
func mustAccept(t *testing.T, workflowID string, req invoice.ActionRequest, want invoice.Status) workflows.Answer {
	t.Helper()
	answer, err := do(t, workflowID, req)
	if err != nil || !answer.Accepted || answer.Status != want {
		t.Fatalf("%s (key %s): answer %+v, err %v; want accepted into %s", req.Action, req.IdempotencyKey, answer, err, want)
	}
	return answer
}

// mustRefuse sends req as an update and fails the test unless it is refused with code.
func mustRefuse(t *testing.T, workflowID string, req invoice.ActionRequest, code invoice.RefusalCode) *invoice.Refusal {
	t.Helper()
	answer, err := do(t, workflowID, req)
	var refusal *invoice.Refusal
	if !errors.As(err, &refusal) || refusal.Code != code || answer.Accepted || answer.Code != code || refusal.Reason == "" {
		t.Fatalf("%s (key %s): answer %+v, err %v; want a refusal %s with a reason", req.Action, req.IdempotencyKey, answer, err, code)
	}
	return refusal
}

// vendorActor is the vendor's backend acting on o.
func vendorActor(o invoice.Order) invoice.Actor {
	return invoice.Actor{CompanyID: o.VendorID, UserID: "vendor-erp", Role: invoice.RoleVendor}
}

// revisedOrder is o as the vendor revises it: a new invoice number, new lines and a new total.
func revisedOrder(o invoice.Order) invoice.Order {
	r := o
	r.InvoiceNumber = o.InvoiceNumber + "-R2"
	r.IssueDate = "2026-11-28"
	r.Lines = []invoice.Line{
		{Description: "Steel brackets, 40 mm (520 delivered)", Quantity: 520, UnitPriceMinor: 189},
		{Description: "Assembly service", Quantity: 8, UnitPriceMinor: 4500},
		{Description: "Freight", Quantity: 1, UnitPriceMinor: 1350},
	}
	r.TotalMinor = 520*189 + 8*4500 + 1350 // 135630
	return r
}

// updateOf is the vendor update that turns an invoice into r, with the PDF staged at stagingKey.
func updateOf(r invoice.Order, stagingKey string) *invoice.InvoiceUpdate {
	return &invoice.InvoiceUpdate{InvoiceNumber: r.InvoiceNumber, IssueDate: r.IssueDate, Currency: r.Currency,
		TotalMinor: r.TotalMinor, Lines: r.Lines, StagingKey: stagingKey}
}

// eventsWithKey returns the audit rows of a workflow whose event key is key.
func eventsWithKey(t *testing.T, workflowID, key string) []invoice.Event {
	t.Helper()
	events, err := deps.Store.EventsByWorkflowID(context.Background(), workflowID)
	if err != nil {
		t.Fatal(err)
	}
	return slices.DeleteFunc(events, func(e invoice.Event) bool { return e.Key != key })
}

// lastEvent is the newest audit row of a workflow.
func lastEvent(t *testing.T, workflowID string) invoice.Event {
	t.Helper()
	events, err := deps.Store.EventsByWorkflowID(context.Background(), workflowID)
	if err != nil || len(events) == 0 {
		t.Fatalf("events of %s: %v (%d rows)", workflowID, err, len(events))
	}
	return events[len(events)-1]
}

// TestVendorUpdateRestartsReviewUntilAcknowledged walks the vendor update of docs/design.md §3: an approved
// invoice goes back to AP as revision 2 with the vendor's new PDF beside the first one and the
// warning set; approval is refused until the buyer acknowledges the update; then it is paid, and
// a vendor update after payment is refused.
func TestVendorUpdateRestartsReviewUntilAcknowledged(t *testing.T) {
	o := eligible(t)
	st := confirmAndSettle(t, o, nil)
	id := st.WorkflowID
	ctx := context.Background()
	alice := buyer(o, "alice", invoice.RoleProcurement)
	bob := buyer(o, "bob", invoice.RoleAccounting)

	mustAccept(t, id, invoice.ActionRequest{Action: invoice.ActionApprove, Actor: alice, IdempotencyKey: "approve-1"}, invoice.StatusAA)

	// The vendor revises the invoice with its own PDF, staged first: only the key travels.
	revised := revisedOrder(o)
	vendorPDF, err := pdf.Render(revised, 2, time.Unix(2, 0))
	if err != nil {
		t.Fatal(err)
	}
	stagingKey, err := client.StagePDF(within(t, 10*time.Second), vendorPDF)
	if err != nil {
		t.Fatal(err)
	}
	update := invoice.ActionRequest{Action: invoice.ActionVendorUpdate, Actor: vendorActor(o), IdempotencyKey: "update-1",
		Update: updateOf(revised, stagingKey)}
	mustAccept(t, id, update, invoice.StatusAP)

	// Storage: the first PDF is kept, the second is exactly the vendor's bytes.
	inv, err := deps.Store.InvoiceByWorkflowID(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	rev1, err := deps.Store.RevisionGet(ctx, inv.ID, 1)
	if err != nil {
		t.Fatal(err)
	}
	rev2, err := deps.Store.RevisionGet(ctx, inv.ID, 2)
	if err != nil {
		t.Fatalf("revision 2 after the vendor update: %v", err)
	}
	if rev2.InvoiceNumber != revised.InvoiceNumber || rev2.TotalMinor != revised.TotalMinor || len(rev2.Lines) != 3 ||
		rev2.Lines[0].Quantity != 520 || rev2.IssueDate.Format(time.DateOnly) != revised.IssueDate ||
		rev2.Document.Source != invoice.PDFFromVendor {
		t.Errorf("revision 2 = %+v, want number %s, total %d, 520 brackets, issued %s, the vendor's PDF",
			rev2, revised.InvoiceNumber, revised.TotalMinor, revised.IssueDate)
	}
	if rev1.InvoiceNumber != o.InvoiceNumber || rev1.TotalMinor != o.TotalMinor {
		t.Errorf("revision 1 changed: %+v", rev1)
	}
	keys := invoiceObjects(t, o)
	slices.Sort(keys)
	wantKeys := []string{rev1.Document.Key, rev2.Document.Key}
	slices.Sort(wantKeys)
	if !slices.Equal(keys, wantKeys) {
		t.Fatalf("objects under invoices/%s/%s/ = %v, want the two revisions' PDFs %v", o.BuyerID, o.VendorID, keys, wantKeys)
	}
	if want := blob.InvoiceKey(o.BuyerID, o.VendorID, revised.InvoiceNumber, 2, blob.SHA256Hex(vendorPDF)); rev2.Document.Key != want {
		t.Errorf("revision 2 key = %s, want %s", rev2.Document.Key, want)
	}
	data, sum, err := deps.Blobs.Get(ctx, rev2.Document.Key, 10<<20)
	if err != nil {
		t.Fatal(err)
	}
	if sum != rev2.Document.SHA256 || sum != blob.SHA256Hex(vendorPDF) || string(data) != string(vendorPDF) ||
		rev2.Document.Size != int64(len(vendorPDF)) {
		t.Errorf("revision 2 object: sha256 %s, %d bytes; row says %s, %d bytes; staged %s, %d bytes",
			sum, len(data), rev2.Document.SHA256, rev2.Document.Size, blob.SHA256Hex(vendorPDF), len(vendorPDF))
	}
	if _, sum1, err := deps.Blobs.Get(ctx, rev1.Document.Key, 10<<20); err != nil || sum1 != rev1.Document.SHA256 {
		t.Errorf("revision 1 object: sha256 %s (%v), row says %s", sum1, err, rev1.Document.SHA256)
	}

	// The invoice row, the state and the ops view all carry the warning.
	if inv.CurrentRevision != 2 || inv.Status != invoice.StatusAP || !inv.UpdatePending ||
		inv.InvoiceNumber != revised.InvoiceNumber || inv.TotalMinor != revised.TotalMinor || inv.POTotalMinor != o.POTotalMinor {
		t.Errorf("invoice row = %+v, want revision 2 in AP with the warning, number %s, total %d", inv, revised.InvoiceNumber, revised.TotalMinor)
	}
	st, err = client.State(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if !st.UpdatePending || st.Revision != 2 || len(st.Revisions) != 2 || st.Order.InvoiceNumber != revised.InvoiceNumber ||
		st.Document.SHA256 != blob.SHA256Hex(vendorPDF) || st.Discrepancy != revised.TotalMinor-o.POTotalMinor {
		t.Errorf("state: pending %v, revision %d, %d revisions, number %s, discrepancy %d, document %+v",
			st.UpdatePending, st.Revision, len(st.Revisions), st.Order.InvoiceNumber, st.Discrepancy, st.Document)
	}
	if e := lastEvent(t, id); e.Kind != invoice.EventTransition || e.Action != invoice.ActionVendorUpdate ||
		e.From != invoice.StatusAA || e.To != invoice.StatusAP || !e.UpdatePending || e.Revision != 2 || e.Actor.UserID != "vendor-erp" {
		t.Errorf("audit row of the update = %+v, want a vendor_update AA→AP to revision 2 with the warning", e)
	}
	pendingQuery := fmt.Sprintf("K2KBuyer = '%s' AND K2KStatus = 'AP' AND K2KUpdatePending = true", o.BuyerID)
	if n := listWorkflows(t, pendingQuery, 1); n != 1 {
		t.Errorf("visibility query %q found %d workflows while the warning is set, want 1", pendingQuery, n)
	}

	// Approval waits for the buyer's review. The refusal comes from the update's validator, so the
	// client writes its one audit row, also when the same request is sent again.
	blocked := invoice.ActionRequest{Action: invoice.ActionApprove, Actor: alice, IdempotencyKey: "approve-2"}
	mustRefuse(t, id, blocked, invoice.RefusedUnreviewed)
	mustRefuse(t, id, blocked, invoice.RefusedUnreviewed)
	clientKey := id + "#refused/approve/approve-2"
	if n := count(t, `SELECT count(*) FROM invoice_events WHERE workflow_id = $1 AND kind = 'refused'`, id); n != 1 {
		t.Errorf("%d refused audit rows, want exactly 1 for the blocked approval", n)
	}
	if rows := eventsWithKey(t, id, clientKey); len(rows) != 1 || rows[0].Action != invoice.ActionApprove ||
		rows[0].Code != string(invoice.RefusedUnreviewed) || rows[0].Actor.UserID != "alice" || rows[0].Reason == "" ||
		rows[0].From != invoice.StatusAP || rows[0].To != invoice.StatusAP || !rows[0].UpdatePending || rows[0].Revision != 2 ||
		rows[0].InvoiceID != inv.ID {
		t.Errorf("client-written refusal %s = %+v, want one update_unreviewed refusal of alice's approve in AP", clientKey, rows)
	}
	if st, _ := client.State(ctx, id); st.Status != invoice.StatusAP {
		t.Errorf("status %s after the blocked approval, want AP", st.Status)
	} else if _, ok := st.Answers["approve-2"]; ok {
		t.Errorf("the validator's refusal reached the workflow's answers: %+v", st.Answers["approve-2"])
	}

	// The buyer reviews the new revision: the warning goes, the status stays.
	mustAccept(t, id, invoice.ActionRequest{Action: invoice.ActionAcknowledgeUpdate, Actor: alice, IdempotencyKey: "ack-1"}, invoice.StatusAP)
	inv, _ = deps.Store.InvoiceByWorkflowID(ctx, id)
	st, _ = client.State(ctx, id)
	if inv.UpdatePending || st.UpdatePending || inv.Status != invoice.StatusAP || inv.CurrentRevision != 2 {
		t.Errorf("after acknowledging: row pending %v status %s revision %d, state pending %v; want no warning, AP, revision 2",
			inv.UpdatePending, inv.Status, inv.CurrentRevision, st.UpdatePending)
	}
	if e := lastEvent(t, id); e.Kind != invoice.EventTransition || e.Action != invoice.ActionAcknowledgeUpdate ||
		e.From != invoice.StatusAP || e.To != invoice.StatusAP || e.UpdatePending || e.Actor.UserID != "alice" {
		t.Errorf("audit row of the acknowledgement = %+v", e)
	}
	reviewedQuery := fmt.Sprintf("K2KBuyer = '%s' AND K2KStatus = 'AP' AND K2KUpdatePending = false", o.BuyerID)
	if n := listWorkflows(t, reviewedQuery, 1); n != 1 {
		t.Errorf("visibility query %q found %d workflows after the acknowledgement, want 1", reviewedQuery, n)
	}
	if n := listWorkflows(t, pendingQuery, 0); n != 0 {
		t.Errorf("visibility query %q still finds %d workflows after the acknowledgement, want 0", pendingQuery, n)
	}

	// Now it goes through to paid.
	mustAccept(t, id, invoice.ActionRequest{Action: invoice.ActionApprove, Actor: alice, IdempotencyKey: "approve-3"}, invoice.StatusAA)
	mustAccept(t, id, invoice.ActionRequest{Action: invoice.ActionApprovePayment, Actor: bob, IdempotencyKey: "approve-payment-1"}, invoice.StatusA)
	mustAccept(t, id, invoice.ActionRequest{Action: invoice.ActionMarkPaid, Actor: bob, IdempotencyKey: "paid-1",
		PaymentDate: "2026-12-01", PaymentReference: "SEPA-77"}, invoice.StatusP)
	var result workflows.Result
	if err := deps.Temporal.GetWorkflow(ctx, id, "").Get(within(t, 10*time.Second), &result); err != nil {
		t.Fatal(err)
	}
	if result.Outcome != workflows.OutcomePaid || result.Status != invoice.StatusP || result.InvoiceID != inv.ID {
		t.Errorf("result = %+v, want paid in P for invoice %d", result, inv.ID)
	}

	// A vendor update after payment (docs/design.md §3: P + vendor update → refused, a paid invoice needs a
	// credit note). The workflow has completed, so the client answers and audits the refusal itself,
	// once per key, whether the update comes as an update or as a signal.
	late := invoice.ActionRequest{Action: invoice.ActionVendorUpdate, Actor: vendorActor(o), IdempotencyKey: "update-after-paid",
		Update: updateOf(revisedOrder(revised), "")}
	for range 2 {
		refusal := mustRefuse(t, id, late, invoice.RefusedPaid)
		if !strings.Contains(refusal.Reason, "credit note") {
			t.Errorf("vendor update after paid: reason %q does not point to a credit note", refusal.Reason)
		}
	}
	lateSignal := late
	lateSignal.IdempotencyKey = "signal-after-paid"
	var refusal *invoice.Refusal
	if err := client.Act(within(t, 10*time.Second), id, lateSignal); !errors.As(err, &refusal) || refusal.Code != invoice.RefusedPaid {
		t.Errorf("vendor update signal after paid: err %v, want a refusal %s", err, invoice.RefusedPaid)
	}
	for _, key := range []string{"update-after-paid", "signal-after-paid"} {
		rows := eventsWithKey(t, id, id+"#refused/vendor_update/"+key)
		if len(rows) != 1 || rows[0].Code != string(invoice.RefusedPaid) || rows[0].From != invoice.StatusP ||
			rows[0].To != invoice.StatusP || rows[0].Actor.UserID != "vendor-erp" || rows[0].Revision != 2 {
			t.Errorf("audit rows of the vendor update %s after paid = %+v, want one invoice_paid refusal in P at revision 2", key, rows)
		}
	}
	inv, _ = deps.Store.InvoiceByWorkflowID(ctx, id)
	if inv.Status != invoice.StatusP || inv.CurrentRevision != 2 || inv.InvoiceNumber != revised.InvoiceNumber {
		t.Errorf("invoice row after a late vendor update = %+v, want P at revision 2", inv)
	}
	if keys := invoiceObjects(t, o); len(keys) != 2 {
		t.Errorf("objects after a late vendor update = %v, want still 2", keys)
	}
}

// TestVendorUpdateWrongActorReturnAndCancel covers the other rows of docs/design.md §3: a vendor update
// sent by the buyer, returning to procurement (a reason is required and kept), and cancelling a
// payment approval.
func TestVendorUpdateWrongActorReturnAndCancel(t *testing.T) {
	o := eligible(t)
	st := confirmAndSettle(t, o, nil)
	id := st.WorkflowID
	ctx := context.Background()
	alice := buyer(o, "alice", invoice.RoleProcurement)
	bob := buyer(o, "bob", invoice.RoleAccounting)

	// The buyer cannot send the vendor's update, whatever its role.
	for i, actor := range []invoice.Actor{alice, {CompanyID: o.BuyerID, UserID: "mallory", Role: invoice.RoleVendor}} {
		mustRefuse(t, id, invoice.ActionRequest{Action: invoice.ActionVendorUpdate, Actor: actor,
			IdempotencyKey: fmt.Sprintf("buyer-update-%d", i), Update: updateOf(revisedOrder(o), "")}, invoice.RefusedWrongActor)
	}
	if st, _ := client.State(ctx, id); st.Revision != 1 || st.UpdatePending || st.Status != invoice.StatusAP {
		t.Errorf("after the buyer's vendor updates: revision %d pending %v status %s, want revision 1 in AP without warning",
			st.Revision, st.UpdatePending, st.Status)
	}
	if n := count(t, `SELECT count(*) FROM invoice_events WHERE workflow_id = $1 AND kind = 'refused' AND action = 'vendor_update' AND code = 'wrong_actor'`, id); n != 2 {
		t.Errorf("%d wrong_actor audit rows for the buyer's vendor updates, want 2", n)
	}

	mustAccept(t, id, invoice.ActionRequest{Action: invoice.ActionApprove, Actor: alice, IdempotencyKey: "approve-1"}, invoice.StatusAA)

	// Returning to procurement needs a reason, and keeps it.
	for _, blank := range []string{"", "   "} {
		refusal := mustRefuse(t, id, invoice.ActionRequest{Action: invoice.ActionReturnToProcurement, Actor: bob,
			IdempotencyKey: "return-blank-" + fmt.Sprint(len(blank)), Reason: blank}, invoice.RefusedInvalid)
		if !strings.Contains(refusal.Reason, "reason") {
			t.Errorf("refusal of a return without reason says %q, want it to name the reason", refusal.Reason)
		}
	}
	const why = "Unit price differs from the framework contract (1.79 EUR agreed)"
	mustAccept(t, id, invoice.ActionRequest{Action: invoice.ActionReturnToProcurement, Actor: bob, IdempotencyKey: "return-1",
		Reason: why}, invoice.StatusAP)
	if e := lastEvent(t, id); e.Kind != invoice.EventTransition || e.Action != invoice.ActionReturnToProcurement ||
		e.From != invoice.StatusAA || e.To != invoice.StatusAP || e.Reason != why || e.Actor.UserID != "bob" ||
		e.Actor.Role != invoice.RoleAccounting {
		t.Errorf("audit row of the return = %+v, want return_to_procurement AA→AP by bob with the reason", e)
	}
	if n := count(t, `SELECT count(*) FROM invoice_events WHERE workflow_id = $1 AND kind = 'refused' AND action = 'return_to_procurement' AND code = 'invalid_request'`, id); n != 2 {
		t.Errorf("%d audit rows for the returns without reason, want 2", n)
	}

	// Approved again, then the payment approval is taken back: A → AA.
	mustAccept(t, id, invoice.ActionRequest{Action: invoice.ActionApprove, Actor: alice, IdempotencyKey: "approve-2"}, invoice.StatusAA)
	mustAccept(t, id, invoice.ActionRequest{Action: invoice.ActionApprovePayment, Actor: bob, IdempotencyKey: "approve-payment-1"}, invoice.StatusA)
	mustAccept(t, id, invoice.ActionRequest{Action: invoice.ActionCancelPaymentApproval, Actor: bob, IdempotencyKey: "cancel-1",
		Reason: "returned to be reviewed again"}, invoice.StatusAA)
	if e := lastEvent(t, id); e.Kind != invoice.EventTransition || e.Action != invoice.ActionCancelPaymentApproval ||
		e.From != invoice.StatusA || e.To != invoice.StatusAA || e.Actor.UserID != "bob" {
		t.Errorf("audit row of the cancellation = %+v, want cancel_payment_approval A→AA by bob", e)
	}
	inv, err := deps.Store.InvoiceByWorkflowID(ctx, id)
	if err != nil || inv.Status != invoice.StatusAA {
		t.Errorf("invoice row status %s (%v) after the cancellation, want AA", inv.Status, err)
	}
	st, _ = client.State(ctx, id)
	var path []string
	for _, tr := range st.Transitions {
		path = append(path, fmt.Sprintf("%s:%s→%s", tr.Action, tr.From, tr.To))
	}
	want := []string{"approve:AP→AA", "return_to_procurement:AA→AP", "approve:AP→AA", "approve_payment:AA→A", "cancel_payment_approval:A→AA"}
	if !slices.Equal(path, want) {
		t.Errorf("transitions = %v, want %v", path, want)
	}
}

// TestVendorUpdateKeepsTheCurrency: a vendor update in another currency than the invoice's is
// refused (invalid_request naming update.currency) and audited by the client; the invoice keeps
// its currency and PO total, and an update in its own currency is then accepted.
func TestVendorUpdateKeepsTheCurrency(t *testing.T) {
	o := eligible(t)
	id := confirmAndSettle(t, o, nil).WorkflowID
	r := revisedOrder(o)
	r.Currency = "USD"
	req := invoice.ActionRequest{Action: invoice.ActionVendorUpdate, Actor: vendorActor(o), IdempotencyKey: newIdem(), Update: updateOf(r, "")}
	refusal := mustRefuse(t, id, req, invoice.RefusedInvalid)
	if !strings.Contains(refusal.Reason, "update.currency: must stay EUR") {
		t.Errorf("refusal %q does not name update.currency", refusal.Reason)
	}
	if got := count(t, `SELECT count(*) FROM invoice_events WHERE workflow_id = $1 AND kind = 'refused' AND code = 'invalid_request'`, id); got != 1 {
		t.Errorf("%d invalid_request refusals audited, want 1", got)
	}
	st, err := client.State(within(t, 10*time.Second), id)
	if err != nil || st.Order.Currency != "EUR" || st.Order.POTotalMinor != o.POTotalMinor || st.Revision != 1 {
		t.Fatalf("after the refusal: %s, PO total %d, revision %d (%v); want EUR, %d, 1", st.Order.Currency, st.Order.POTotalMinor, st.Revision, err, o.POTotalMinor)
	}
	r.Currency = o.Currency
	mustAccept(t, id, invoice.ActionRequest{Action: invoice.ActionVendorUpdate, Actor: vendorActor(o), IdempotencyKey: newIdem(),
		Update: updateOf(r, "")}, invoice.StatusAP)
}

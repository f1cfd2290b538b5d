package integration

import (
	"testing"

	enumspb "go.temporal.io/api/enums/v1"

	"github.com/k2kinvoice/autoinvoice/internal/invoice"
	"github.com/k2kinvoice/autoinvoice/workflows"
)

// paidInvoiceEvents is what a paid invoice costs the Temporal server on the happy path (confirmed
// through the client, approved, payment approved and marked paid, each an update): history events
// and workflow tasks. The budget is 40 events; an extra event per invoice shows here first.
const (
	paidInvoiceEvents        = 39
	paidInvoiceWorkflowTasks = 4
)

// TestPaidInvoiceCost counts the history of a paid invoice: every database and storage step is a
// local activity (a marker, no activity task), each action takes one workflow task, and a
// reminder timer is cancelled when its stay ends rather than left to fire.
func TestPaidInvoiceCost(t *testing.T) {
	o := eligible(t)
	st := confirmAndSettle(t, o, nil)
	if st.Status != invoice.StatusAP {
		t.Fatalf("confirmed into %q (outcome %q), want AP", st.Status, st.Outcome)
	}
	id := st.WorkflowID
	procurement, accounting := buyer(o, "alice", invoice.RoleProcurement), buyer(o, "bob", invoice.RoleAccounting)
	doUpdate(t, id, invoice.ActionRequest{Action: invoice.ActionApprove, Actor: procurement, IdempotencyKey: "approve"}, invoice.StatusAA)
	doUpdate(t, id, invoice.ActionRequest{Action: invoice.ActionApprovePayment, Actor: accounting, IdempotencyKey: "approve-payment"}, invoice.StatusA)
	doUpdate(t, id, invoice.ActionRequest{Action: invoice.ActionMarkPaid, Actor: accounting, IdempotencyKey: "pay",
		PaymentDate: "2026-11-30", PaymentReference: "SEPA-1"}, invoice.StatusP)
	runID := awaitOutcome(t, id, workflows.OutcomePaid)
	h := replayRun(t, "", "paid invoice", id, runID)

	byType := map[enumspb.EventType]int{}
	for _, e := range h.GetEvents() {
		byType[e.GetEventType()]++
	}
	t.Logf("%d events: %v", len(h.GetEvents()), byType)
	if got := len(h.GetEvents()); got != paidInvoiceEvents {
		t.Errorf("a paid invoice took %d history events, want %d", got, paidInvoiceEvents)
	}
	if got := byType[enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED]; got != paidInvoiceWorkflowTasks {
		t.Errorf("a paid invoice took %d workflow tasks, want %d (one per message)", got, paidInvoiceWorkflowTasks)
	}
	for _, never := range []enumspb.EventType{enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED, enumspb.EVENT_TYPE_TIMER_FIRED,
		enumspb.EVENT_TYPE_WORKFLOW_TASK_FAILED, enumspb.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT} {
		if n := byType[never]; n != 0 {
			t.Errorf("%d %s events, want none on the happy path", n, never)
		}
	}
	// A reminder timer per stay in AP, AA and A; the first two are cancelled when the stay ends,
	// the last one ends with the run.
	if started, cancelled := byType[enumspb.EVENT_TYPE_TIMER_STARTED], byType[enumspb.EVENT_TYPE_TIMER_CANCELED]; started != 3 || cancelled != 2 {
		t.Errorf("%d reminder timers started and %d cancelled, want 3 and 2", started, cancelled)
	}
}

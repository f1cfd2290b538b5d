package integration

import (
	"context"
	"testing"
	"time"

	"github.com/k2kinvoice/autoinvoice/internal/invoice"
	"github.com/k2kinvoice/autoinvoice/workflows"
)

// act sends one action as a signal and waits for the workflow's answer.
func act(t *testing.T, workflowID string, req invoice.ActionRequest) workflows.Answer {
	t.Helper()
	if err := client.Act(within(t, 10*time.Second), workflowID, req); err != nil {
		t.Fatalf("%s: %v", req.Action, err)
	}
	answer, _, err := client.AwaitAnswer(within(t, 20*time.Second), workflowID, req.IdempotencyKey)
	if err != nil {
		t.Fatal(err)
	}
	return answer
}

func buyer(o invoice.Order, user string, role invoice.Role) invoice.Actor {
	return invoice.Actor{CompanyID: o.BuyerID, UserID: user, Role: role}
}

func TestApproveApprovePaymentMarkPaid(t *testing.T) {
	o := eligible(t)
	st := confirmAndSettle(t, o, nil)
	id := st.WorkflowID
	ctx := context.Background()
	steps := []struct {
		req  invoice.ActionRequest
		want invoice.Status
	}{
		{invoice.ActionRequest{Action: invoice.ActionApprove, Actor: buyer(o, "alice", invoice.RoleProcurement), IdempotencyKey: "k1"}, invoice.StatusAA},
		{invoice.ActionRequest{Action: invoice.ActionApprovePayment, Actor: buyer(o, "bob", invoice.RoleAccounting), IdempotencyKey: "k2"}, invoice.StatusA},
		{invoice.ActionRequest{Action: invoice.ActionMarkPaid, Actor: buyer(o, "bob", invoice.RoleAccounting), IdempotencyKey: "k3",
			PaymentDate: "2026-11-30", PaymentReference: "SEPA-42"}, invoice.StatusP},
	}
	for _, s := range steps {
		answer := act(t, id, s.req)
		if !answer.Accepted || answer.Status != s.want {
			t.Fatalf("%s: answer %+v, want accepted into %s", s.req.Action, answer, s.want)
		}
		inv, err := deps.Store.InvoiceByWorkflowID(ctx, id)
		if err != nil || inv.Status != s.want {
			t.Fatalf("%s: invoice row status %s (%v), want %s", s.req.Action, inv.Status, err, s.want)
		}
	}
	var result workflows.Result
	if err := deps.Temporal.GetWorkflow(ctx, id, "").Get(within(t, 10*time.Second), &result); err != nil {
		t.Fatal(err)
	}
	if result.Outcome != workflows.OutcomePaid || result.Status != invoice.StatusP || result.InvoiceID == 0 {
		t.Errorf("result = %+v, want paid in P", result)
	}
	events, _ := deps.Store.EventsByWorkflowID(ctx, id)
	want := []struct {
		kind     invoice.EventKind
		from, to invoice.Status
		user     string
	}{
		{invoice.EventInvoiceCreated, "", invoice.StatusAP, ""},
		{invoice.EventTransition, invoice.StatusAP, invoice.StatusAA, "alice"},
		{invoice.EventTransition, invoice.StatusAA, invoice.StatusA, "bob"},
		{invoice.EventTransition, invoice.StatusA, invoice.StatusP, "bob"},
	}
	if len(events) != len(want) {
		t.Fatalf("events = %+v, want %d", events, len(want))
	}
	for i, w := range want {
		e := events[i]
		if e.Kind != w.kind || e.From != w.from || e.To != w.to || e.Actor.UserID != w.user {
			t.Errorf("event %d = %s %s→%s by %q, want %s %s→%s by %q", i, e.Kind, e.From, e.To, e.Actor.UserID, w.kind, w.from, w.to, w.user)
		}
	}
	if n := listWorkflows(t, "K2KPONumber = '"+o.PONumber+"' AND K2KStatus = 'P' AND K2KOutcome = 'paid'", 1); n != 1 {
		t.Errorf("visibility finds %d paid workflows for the PO, want 1", n)
	}
}

func TestOutOfOrderActionIsRefusedAndRecorded(t *testing.T) {
	o := eligible(t)
	st := confirmAndSettle(t, o, nil)
	pay := invoice.ActionRequest{Action: invoice.ActionMarkPaid, Actor: buyer(o, "bob", invoice.RoleAccounting),
		IdempotencyKey: "pay-early", PaymentDate: "2026-11-30", PaymentReference: "SEPA-1"}
	answer := act(t, st.WorkflowID, pay)
	if answer.Accepted || answer.Code != invoice.RefusedWrongStatus || answer.Status != invoice.StatusAP {
		t.Fatalf("pay before approval: answer %+v, want refused not_allowed_in_state in AP", answer)
	}
	ctx := context.Background()
	inv, _ := deps.Store.InvoiceByWorkflowID(ctx, st.WorkflowID)
	if inv.Status != invoice.StatusAP {
		t.Errorf("invoice row status %s after a refused action, want AP", inv.Status)
	}
	events, _ := deps.Store.EventsByWorkflowID(ctx, st.WorkflowID)
	last := events[len(events)-1]
	if len(events) != 2 || last.Kind != invoice.EventRefused || last.Action != invoice.ActionMarkPaid ||
		last.Code != string(invoice.RefusedWrongStatus) || last.From != invoice.StatusAP || last.To != invoice.StatusAP ||
		last.Actor.UserID != "bob" || last.Reason == "" {
		t.Errorf("events = %+v, want invoice_created then a refusal of mark_paid by bob in AP with a reason", events)
	}

	// A vendor trying to approve its own invoice is refused as the wrong actor.
	vendorApprove := invoice.ActionRequest{Action: invoice.ActionApprove,
		Actor: invoice.Actor{CompanyID: o.VendorID, UserID: "eve", Role: invoice.RoleProcurement}, IdempotencyKey: "vendor-approves"}
	if answer := act(t, st.WorkflowID, vendorApprove); answer.Accepted || answer.Code != invoice.RefusedWrongActor {
		t.Errorf("vendor approving: answer %+v, want refused wrong_actor", answer)
	}
	// The invoice keeps waiting: the right action still goes through.
	approve := invoice.ActionRequest{Action: invoice.ActionApprove, Actor: buyer(o, "alice", invoice.RoleProcurement), IdempotencyKey: "approve"}
	if answer := act(t, st.WorkflowID, approve); !answer.Accepted || answer.Status != invoice.StatusAA {
		t.Errorf("approve after refusals: answer %+v, want accepted into AA", answer)
	}
}

func TestRedeliveredSignalAppliesOnce(t *testing.T) {
	o := eligible(t)
	st := confirmAndSettle(t, o, nil)
	approve := invoice.ActionRequest{Action: invoice.ActionApprove, Actor: buyer(o, "alice", invoice.RoleProcurement), IdempotencyKey: "same-key"}
	for range 3 {
		if err := client.Act(within(t, 10*time.Second), st.WorkflowID, approve); err != nil {
			t.Fatal(err)
		}
	}
	// A later action with a new key proves the three deliveries were all handled before it.
	payment := invoice.ActionRequest{Action: invoice.ActionApprovePayment, Actor: buyer(o, "bob", invoice.RoleAccounting), IdempotencyKey: "after"}
	if answer := act(t, st.WorkflowID, payment); !answer.Accepted {
		t.Fatalf("approve payment: %+v", answer)
	}
	if n := count(t, `SELECT count(*) FROM invoice_events WHERE workflow_id = $1 AND action = 'approve'`, st.WorkflowID); n != 1 {
		t.Errorf("%d audit rows for one approve delivered three times, want 1", n)
	}
	if n := count(t, `SELECT count(*) FROM invoice_events WHERE workflow_id = $1`, st.WorkflowID); n != 3 {
		t.Errorf("%d audit rows, want 3 (created, approve, approve payment)", n)
	}
}

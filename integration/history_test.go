package integration

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	sdkclient "go.temporal.io/sdk/client"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/k2kinvoice/autoinvoice/internal/blob"
	"github.com/k2kinvoice/autoinvoice/internal/invoice"
	"github.com/k2kinvoice/autoinvoice/internal/invoiceclient"
	"github.com/k2kinvoice/autoinvoice/internal/store"
	"github.com/k2kinvoice/autoinvoice/internal/testenv"
	"github.com/k2kinvoice/autoinvoice/workflows"
)

// recordEnv names a directory to write every history of TestHistoriesReplay to, as JSON, for the
// replay tests of package workflows (workflows/testdata/histories). Unset: the histories are
// fetched and replayed, not written.
const recordEnv = "K2K_RECORD_HISTORIES"

// TestHistoriesReplay drives real workflows through each path on the real servers, then fetches
// every run's history and replays it against the workflow code, as a worker restarted on this code
// would. With K2K_RECORD_HISTORIES set it also records the histories for the replay tests.
func TestHistoriesReplay(t *testing.T) {
	dir := os.Getenv(recordEnv)
	if dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		t.Logf("recording histories to %s", dir)
	}

	t.Run("paid", func(t *testing.T) {
		t.Parallel()
		o := eligible(t)
		st := confirmAndSettle(t, o, nil)
		id := st.WorkflowID
		accounting := buyer(o, "bob", invoice.RoleAccounting)
		// Out of order, as a signal: the workflow refuses it and records the refusal in history.
		early := invoice.ActionRequest{Action: invoice.ActionMarkPaid, Actor: accounting, IdempotencyKey: "pay-early",
			PaymentDate: "2026-11-30", PaymentReference: "SEPA-0"}
		if answer := act(t, id, early); answer.Accepted || answer.Code != invoice.RefusedWrongStatus {
			t.Fatalf("mark paid in AP by signal: answer %+v, want refused %s", answer, invoice.RefusedWrongStatus)
		}
		// Out of order, as an update: the validator refuses it, nothing enters history.
		early.IdempotencyKey = "pay-early-update"
		var refusal *invoice.Refusal
		if _, err := client.Do(within(t, 20*time.Second), id, early); !errors.As(err, &refusal) || refusal.Code != invoice.RefusedWrongStatus {
			t.Fatalf("mark paid in AP by update: %v, want refused %s", err, invoice.RefusedWrongStatus)
		}
		doUpdate(t, id, invoice.ActionRequest{Action: invoice.ActionApprove, Actor: buyer(o, "alice", invoice.RoleProcurement),
			IdempotencyKey: "approve"}, invoice.StatusAA)
		actAccepted(t, id, invoice.ActionRequest{Action: invoice.ActionApprovePayment, Actor: accounting,
			IdempotencyKey: "approve-payment"}, invoice.StatusA)
		doUpdate(t, id, invoice.ActionRequest{Action: invoice.ActionMarkPaid, Actor: accounting, IdempotencyKey: "pay",
			PaymentDate: "2026-11-30", PaymentReference: "SEPA-42"}, invoice.StatusP)
		runID := awaitOutcome(t, id, workflows.OutcomePaid)
		replayRun(t, dir, "paid.json", id, runID)
	})

	t.Run("reminded", func(t *testing.T) {
		t.Parallel()
		o := eligible(t)
		run := startInvoice(t, workflows.ConfirmOrder{Order: o, Reminders: workflows.ReminderPolicy{AP: time.Second, Max: 1}})
		awaitReminders(t, run.GetID(), 1)
		payAll(t, run.GetID(), o, "reminded-")
		runID := awaitOutcome(t, run.GetID(), workflows.OutcomePaid)
		replayRun(t, dir, "reminded.json", run.GetID(), runID)
	})

	t.Run("not eligible", func(t *testing.T) {
		t.Parallel()
		o := parties(t, false, true, store.ConnectionActive) // vendor setting off
		st := confirmAndSettle(t, o, nil)
		runID := awaitOutcome(t, st.WorkflowID, workflows.OutcomeNotEligible)
		replayRun(t, dir, "not_eligible.json", st.WorkflowID, runID)
	})

	t.Run("rejected invalid PDF", func(t *testing.T) {
		t.Parallel()
		o := eligible(t)
		// A staged "PDF" that is not one: the client refuses such a file, so it is put straight
		// into staging, as a client that skipped the check would.
		garbage := []byte("not a PDF at all, " + o.PONumber)
		key := blob.StagingKey(blob.SHA256Hex(garbage))
		if err := deps.Blobs.Put(within(t, 10*time.Second), key, garbage); err != nil {
			t.Fatal(err)
		}
		run := startInvoice(t, workflows.ConfirmOrder{Order: o, StagingKey: key})
		runID := awaitOutcome(t, run.GetID(), workflows.OutcomeRejected)
		if runID != run.GetRunID() {
			t.Fatalf("run %s completed, started %s", runID, run.GetRunID())
		}
		replayRun(t, dir, "rejected.json", run.GetID(), runID)
	})

	t.Run("rejected invoice number taken", func(t *testing.T) {
		t.Parallel()
		first := eligible(t)
		if st := confirmAndSettle(t, first, nil); st.Status != invoice.StatusAP {
			t.Fatalf("first order: status %q outcome %q, want AP", st.Status, st.Outcome)
		}
		second := first
		second.PONumber += "-2" // another order of the same vendor and buyer, same invoice number
		st := confirmAndSettle(t, second, nil)
		runID := awaitOutcome(t, st.WorkflowID, workflows.OutcomeRejected)
		replayRun(t, dir, "rejected_invoice_number_taken.json", st.WorkflowID, runID)
	})

	t.Run("vendor update", func(t *testing.T) {
		t.Parallel()
		o := eligible(t)
		st := confirmAndSettle(t, o, nil)
		id := st.WorkflowID
		update := invoice.ActionRequest{Action: invoice.ActionVendorUpdate,
			Actor: invoice.Actor{CompanyID: o.VendorID, UserID: "vera", Role: invoice.RoleVendor}, IdempotencyKey: "update-1",
			Reason: "freight waived, one assembly hour less",
			Update: &invoice.InvoiceUpdate{InvoiceNumber: o.InvoiceNumber + "-R2", IssueDate: "2026-11-28", Currency: "EUR",
				TotalMinor: 126000, Lines: []invoice.Line{
					{Description: "Steel brackets, 40 mm", Quantity: 500, UnitPriceMinor: 189},
					{Description: "Assembly service", Quantity: 7, UnitPriceMinor: 4500},
				}}}
		actAccepted(t, id, update, invoice.StatusAP)
		accounting := buyer(o, "bob", invoice.RoleAccounting)
		doUpdate(t, id, invoice.ActionRequest{Action: invoice.ActionAcknowledgeUpdate, Actor: buyer(o, "alice", invoice.RoleProcurement),
			IdempotencyKey: "ack-1"}, invoice.StatusAP)
		actAccepted(t, id, invoice.ActionRequest{Action: invoice.ActionApprove, Actor: buyer(o, "alice", invoice.RoleProcurement),
			IdempotencyKey: "approve"}, invoice.StatusAA)
		actAccepted(t, id, invoice.ActionRequest{Action: invoice.ActionApprovePayment, Actor: accounting,
			IdempotencyKey: "approve-payment"}, invoice.StatusA)
		actAccepted(t, id, invoice.ActionRequest{Action: invoice.ActionMarkPaid, Actor: accounting, IdempotencyKey: "pay",
			PaymentDate: "2026-12-01", PaymentReference: "SEPA-43"}, invoice.StatusP)
		runID := awaitOutcome(t, id, workflows.OutcomePaid)
		replayRun(t, dir, "vendor_update.json", id, runID)
	})

	t.Run("dispute, update, paid", func(t *testing.T) {
		t.Parallel()
		o := eligible(t)
		id := confirmAndSettle(t, o, nil).WorkflowID
		procurement, accounting := buyer(o, "alice", invoice.RoleProcurement), buyer(o, "bob", invoice.RoleAccounting)
		actAccepted(t, id, invoice.ActionRequest{Action: invoice.ActionDispute, Actor: procurement, IdempotencyKey: "dispute",
			Reason: "500 delivered, 520 invoiced"}, invoice.StatusD)
		doUpdate(t, id, invoice.ActionRequest{Action: invoice.ActionVendorUpdate, Actor: vendorActor(o), IdempotencyKey: "update",
			Update: updateOf(revisedOrder(o), "")}, invoice.StatusAP)
		actAccepted(t, id, invoice.ActionRequest{Action: invoice.ActionAcknowledgeUpdate, Actor: procurement, IdempotencyKey: "ack"}, invoice.StatusAP)
		doUpdate(t, id, invoice.ActionRequest{Action: invoice.ActionApprove, Actor: procurement, IdempotencyKey: "approve"}, invoice.StatusAA)
		actAccepted(t, id, invoice.ActionRequest{Action: invoice.ActionApprovePayment, Actor: accounting, IdempotencyKey: "approve-payment"}, invoice.StatusA)
		doUpdate(t, id, invoice.ActionRequest{Action: invoice.ActionMarkPaid, Actor: accounting, IdempotencyKey: "pay",
			PaymentDate: "2026-12-03", PaymentReference: "SEPA-45"}, invoice.StatusP)
		replayRun(t, dir, "dispute_update.json", id, awaitOutcome(t, id, workflows.OutcomePaid))
	})

	t.Run("dispute, void, confirmed again", func(t *testing.T) {
		t.Parallel()
		o := eligible(t)
		id := confirmAndSettle(t, o, nil).WorkflowID
		actAccepted(t, id, invoice.ActionRequest{Action: invoice.ActionDispute, Actor: buyer(o, "bob", invoice.RoleAccounting),
			IdempotencyKey: "dispute", Reason: "not our PO"}, invoice.StatusD)
		doUpdate(t, id, invoice.ActionRequest{Action: invoice.ActionVoid, Actor: vendorActor(o), IdempotencyKey: "void",
			Reason: "sent to the wrong buyer"}, invoice.StatusV)
		replayRun(t, dir, "voided.json", id, awaitOutcome(t, id, workflows.OutcomeVoided))
		again := o
		again.InvoiceNumber += "-B"
		if st := confirmAndSettle(t, again, nil); st.Confirmation != 2 || st.Status != invoice.StatusAP {
			t.Fatalf("confirmed again: confirmation %d status %s, want 2 in AP", st.Confirmation, st.Status)
		}
		payAll(t, id, again, "again-")
		replayRun(t, dir, "confirmed_again.json", id, awaitOutcome(t, id, workflows.OutcomePaid))
	})

	t.Run("credit note applied", func(t *testing.T) {
		t.Parallel()
		o := eligible(t)
		st := confirmAndSettle(t, o, nil)
		payAll(t, st.WorkflowID, o, "paid-")
		awaitOutcome(t, st.WorkflowID, workflows.OutcomePaid)
		cn := issue(t, st.WorkflowID, creditNote(o, "CN-H1", 10000))
		id := workflows.CreditNoteWorkflowID(st.InvoiceID, "CN-H1")
		// Out of order, as a signal: refused and recorded in history.
		if answer := act(t, id, invoice.ActionRequest{Action: invoice.ActionApplyCreditNote, Actor: buyer(o, "dave", invoice.RoleAccounting),
			IdempotencyKey: "apply-early"}); answer.Accepted {
			t.Fatalf("apply in AP accepted: %+v", answer)
		}
		actAccepted(t, id, invoice.ActionRequest{Action: invoice.ActionApproveCreditNote, Actor: buyer(o, "carol", invoice.RoleProcurement),
			IdempotencyKey: "approve"}, invoice.StatusAA)
		doUpdate(t, id, invoice.ActionRequest{Action: invoice.ActionApplyCreditNote, Actor: buyer(o, "dave", invoice.RoleAccounting),
			IdempotencyKey: "apply"}, invoice.StatusCreditApplied)
		var r workflows.CreditNoteResult
		run := deps.Temporal.GetWorkflow(within(t, 20*time.Second), id, "")
		if err := run.Get(within(t, 20*time.Second), &r); err != nil || r.Outcome != workflows.OutcomeApplied || r.CreditNoteID != cn.CreditNoteID {
			t.Fatalf("credit note result %+v, %v; want applied", r, err)
		}
		desc, err := testenv.Describe(within(t, 10*time.Second), deps.Temporal, id)
		if err != nil {
			t.Fatal(err)
		}
		replayRun(t, dir, "credit_note_applied.json", id, desc.GetWorkflowExecutionInfo().GetExecution().GetRunId())
	})

	t.Run("exported, refused, sent again, paid", func(t *testing.T) {
		t.Parallel()
		acc := newAccountingSystem(t)
		o := eligible(t)
		o.PONumber += "-refuse" // the accounting system refuses its first delivery
		if err := deps.Store.AccountingExportSet(within(t, 10*time.Second), o.BuyerID, acc.srv.URL, acc.secret, true, store.Operator); err != nil {
			t.Fatal(err)
		}
		id := confirmAndSettle(t, o, nil).WorkflowID
		accounting := buyer(o, "bob", invoice.RoleAccounting)
		doUpdate(t, id, invoice.ActionRequest{Action: invoice.ActionApprove, Actor: buyer(o, "alice", invoice.RoleProcurement), IdempotencyKey: "approve"}, invoice.StatusAA)
		actAccepted(t, id, invoice.ActionRequest{Action: invoice.ActionApprovePayment, Actor: accounting, IdempotencyKey: "approve-payment"}, invoice.StatusA)
		awaitStatus(t, id, invoice.StatusF)
		doUpdate(t, id, invoice.ActionRequest{Action: invoice.ActionSendToAccounting, Actor: accounting, IdempotencyKey: "again"}, invoice.StatusES)
		awaitStatus(t, id, invoice.StatusS)
		actAccepted(t, id, invoice.ActionRequest{Action: invoice.ActionMarkPaid, Actor: accounting, IdempotencyKey: "pay",
			PaymentDate: "2026-12-04", PaymentReference: "SEPA-46"}, invoice.StatusP)
		replayRun(t, dir, "exported.json", id, awaitOutcome(t, id, workflows.OutcomePaid))
	})

	t.Run("continue as new", func(t *testing.T) {
		t.Parallel()
		o := eligible(t)
		run := startInvoice(t, workflows.ConfirmOrder{Order: o, ContinueAsNewAfterEvents: 25, Reminders: workflows.DefaultReminders})
		id := run.GetID()
		if st, err := client.AwaitSettled(within(t, 30*time.Second), id); err != nil || st.Status != invoice.StatusAP {
			t.Fatalf("settled in %q (outcome %q, %v), want AP", st.Status, st.Outcome, err)
		}
		// The actions go as updates. A signal whose own workflow task takes the history past the
		// limit is lost today: the listener goroutine holds it while the main loop continues as new
		// (a workflow bug to fix, not a history to record), which would make this test flaky.
		procurement, accounting := buyer(o, "alice", invoice.RoleProcurement), buyer(o, "bob", invoice.RoleAccounting)
		for i := range 3 {
			// Approvals go as signals: a signal arriving in the task where continue-as-new falls
			// due must reach the inbox and be answered before the hand-over.
			actAccepted(t, id, invoice.ActionRequest{Action: invoice.ActionApprove, Actor: procurement,
				IdempotencyKey: fmt.Sprintf("approve-%d", i)}, invoice.StatusAA)
			if i == 2 {
				break
			}
			doUpdate(t, id, invoice.ActionRequest{Action: invoice.ActionReturnToProcurement, Actor: accounting,
				IdempotencyKey: fmt.Sprintf("return-%d", i), Reason: "cost centre missing"}, invoice.StatusAP)
		}
		doUpdate(t, id, invoice.ActionRequest{Action: invoice.ActionApprovePayment, Actor: accounting,
			IdempotencyKey: "approve-payment"}, invoice.StatusA)
		doUpdate(t, id, invoice.ActionRequest{Action: invoice.ActionMarkPaid, Actor: accounting, IdempotencyKey: "pay",
			PaymentDate: "2026-12-02", PaymentReference: "SEPA-44"}, invoice.StatusP)
		lastRunID := awaitOutcome(t, id, workflows.OutcomePaid)

		if dir != "" { // a chain shorter than the last recorded one must not leave stale runs behind
			stale, _ := filepath.Glob(filepath.Join(dir, "continue_as_new_run*.json"))
			for _, f := range stale {
				if err := os.Remove(f); err != nil {
					t.Fatal(err)
				}
			}
		}
		runID := run.GetRunID()
		for n := 1; ; n++ {
			h := replayRun(t, dir, fmt.Sprintf("continue_as_new_run%d.json", n), id, runID)
			next := h.Events[len(h.Events)-1].GetWorkflowExecutionContinuedAsNewEventAttributes().GetNewExecutionRunId()
			if next == "" {
				if runID != lastRunID || n < 2 {
					t.Fatalf("chain ended at run %d (%s); want at least 2 runs ending with the completed run %s", n, runID, lastRunID)
				}
				t.Logf("%s continued as new %d times", id, n-1)
				return
			}
			if n > 50 {
				t.Fatalf("more than 50 runs in the chain of %s", id)
			}
			runID = next
		}
	})
}

// awaitReminders waits until the workflow has recorded n reminder rows.
func awaitReminders(t *testing.T, id string, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		events, err := deps.Store.EventsByWorkflowID(within(t, 5*time.Second), id)
		if err != nil {
			t.Fatal(err)
		}
		got := 0
		for _, e := range events {
			if e.Kind == invoice.EventReminder {
				got++
			}
		}
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d reminder rows after 30 s, want %d", id, got, n)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// startInvoice starts an invoice workflow with this input, with the start options
// invoiceclient.Client.Confirm uses, for inputs Confirm does not make.
func startInvoice(t *testing.T, in workflows.ConfirmOrder) sdkclient.WorkflowRun {
	t.Helper()
	run, err := deps.Temporal.ExecuteWorkflow(within(t, 10*time.Second), invoiceclient.StartOptions(in.Order),
		workflows.InvoiceWorkflowType, in)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	return run
}

// actAccepted sends an action as a signal and fails the test unless it is accepted into want.
func actAccepted(t *testing.T, id string, req invoice.ActionRequest, want invoice.Status) {
	t.Helper()
	if answer := act(t, id, req); !answer.Accepted || answer.Status != want {
		t.Fatalf("%s by signal: answer %+v, want accepted into %s", req.Action, answer, want)
	}
}

// doUpdate sends an action as an update and fails the test unless it is accepted into want.
func doUpdate(t *testing.T, id string, req invoice.ActionRequest, want invoice.Status) {
	t.Helper()
	answer, err := client.Do(within(t, 20*time.Second), id, req)
	if err != nil || !answer.Accepted || answer.Status != want {
		t.Fatalf("%s by update: answer %+v, %v; want accepted into %s", req.Action, answer, err, want)
	}
}

// awaitOutcome waits until workflow id (following continue-as-new) completes with the outcome,
// and returns the run ID of the run that completed.
func awaitOutcome(t *testing.T, id string, want workflows.Outcome) string {
	t.Helper()
	ctx := within(t, 60*time.Second)
	var result workflows.Result
	if err := deps.Temporal.GetWorkflow(ctx, id, "").Get(ctx, &result); err != nil {
		t.Fatalf("result of %s: %v", id, err)
	}
	if result.Outcome != want {
		t.Fatalf("%s ended %+v, want outcome %s", id, result, want)
	}
	desc, err := testenv.Describe(ctx, deps.Temporal, id)
	if err != nil {
		t.Fatal(err)
	}
	info := desc.GetWorkflowExecutionInfo()
	if info.GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED {
		t.Fatalf("%s is %s, want completed", id, info.GetStatus())
	}
	return info.GetExecution().GetRunId()
}

// replayRun fetches the whole history of one closed run, replays it against the workflow code
// and, when dir is set, writes it there as JSON under name. It returns the history.
func replayRun(t *testing.T, dir, name, id, runID string) *historypb.History {
	t.Helper()
	ctx := within(t, 30*time.Second)
	h := &historypb.History{}
	iter := deps.Temporal.GetWorkflowHistory(ctx, id, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for iter.HasNext() {
		e, err := iter.Next()
		if err != nil {
			t.Fatalf("history of %s run %s: %v", id, runID, err)
		}
		h.Events = append(h.Events, e)
	}
	if len(h.Events) == 0 {
		t.Fatalf("history of %s run %s is empty", id, runID)
	}
	switch last := h.Events[len(h.Events)-1].GetEventType(); last {
	case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED, enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
	default:
		t.Fatalf("history of %s run %s ends with %s, want a completed run", id, runID, last)
	}

	replayer, err := workflows.NewReplayer(testConverter(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := replayer.ReplayWorkflowHistory(nil, h); err != nil {
		t.Fatalf("replay of %s (%s run %s, %d events): %v", name, id, runID, len(h.Events), err)
	}
	t.Logf("%s: %s run %s, %d events, replayed", name, id, runID, len(h.Events))

	if dir != "" {
		raw, err := protojson.Marshal(h)
		if err != nil {
			t.Fatal(err)
		}
		var out []byte
		// protojson's spacing is deliberately unstable; re-indent for stable, reviewable files.
		if out, err = indentJSON(raw); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), out, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return h
}

func indentJSON(raw []byte) ([]byte, error) {
	var out bytes.Buffer
	if err := json.Indent(&out, raw, "", "  "); err != nil {
		return nil, err
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}

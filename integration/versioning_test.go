package integration

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/k2kinvoice/autoinvoice/activities"
	"github.com/k2kinvoice/autoinvoice/internal/invoice"
	"github.com/k2kinvoice/autoinvoice/internal/invoiceclient"
	"github.com/k2kinvoice/autoinvoice/internal/payloadcrypt"
	"github.com/k2kinvoice/autoinvoice/internal/testenv"
	"github.com/k2kinvoice/autoinvoice/workflows"
)

// changedWorkflow is the invoice workflow as a next release might change it: one more activity
// (a second eligibility check) before everything it did so far. versioned puts the change behind
// workflow.GetVersion, as docs/operations.md says to ship such a change; unversioned edits the
// workflow in place.
func changedWorkflow(versioned bool) func(workflow.Context, workflows.ConfirmOrder) (workflows.Result, error) {
	var acts *activities.Activities
	return func(ctx workflow.Context, in workflows.ConfirmOrder) (workflows.Result, error) {
		recheck := true
		if versioned {
			recheck = workflow.GetVersion(ctx, "recheck-eligibility", workflow.DefaultVersion, 1) == 1
		}
		if recheck && in.Resume == nil {
			actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: time.Minute})
			if err := workflow.ExecuteActivity(actx, acts.VerifyEligibility, activities.EligibilityInput{
				VendorID: in.Order.VendorID, BuyerID: in.Order.BuyerID}).Get(ctx, nil); err != nil {
				return workflows.Result{}, err
			}
		}
		return workflows.InvoiceWorkflow(ctx, in)
	}
}

// TestReplayCatchesAnUnsafeChange: replaying the recorded histories, the check to run before every
// deploy, refuses the change made in place and passes the same change behind GetVersion.
func TestReplayCatchesAnUnsafeChange(t *testing.T) {
	codec, err := payloadcrypt.ParseKeys(payloadcrypt.TestKeys)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join("..", "workflows", "testdata", "histories", "paid.json")
	replay := func(versioned bool) error {
		replayer, err := worker.NewWorkflowReplayerWithOptions(worker.WorkflowReplayerOptions{DataConverter: codec.DataConverter()})
		if err != nil {
			t.Fatal(err)
		}
		replayer.RegisterWorkflowWithOptions(changedWorkflow(versioned), workflow.RegisterOptions{Name: workflows.InvoiceWorkflowType})
		return replayer.ReplayWorkflowHistoryFromJSONFile(nil, file)
	}
	// TMPRL1100 is the SDK's code for a nondeterminism error.
	if err := replay(false); err == nil || !strings.Contains(err.Error(), "TMPRL1100") {
		t.Errorf("the change made in place replays with %v; want a nondeterminism error (TMPRL1100)", err)
	}
	if err := replay(true); err != nil {
		t.Errorf("the change behind workflow.GetVersion fails the replay: %v", err)
	}
}

// TestDeployingAChangedWorkflow deploys a changed workflow over invoices in flight, as a rolling
// deploy does, on whichever server the tests run (make test-server: the real one): the change
// behind GetVersion takes them to paid; the same change made in place wedges the invoice it
// touches (its workflow tasks fail as nondeterministic, nothing is lost), and rolling back to the
// versioned build lets it finish.
func TestDeployingAChangedWorkflow(t *testing.T) {
	queue := "k2k-deploy-" + newIdem()
	run := func(wf func(workflow.Context, workflows.ConfirmOrder) (workflows.Result, error)) worker.Worker {
		w := worker.New(deps.Temporal, queue, worker.Options{})
		w.RegisterWorkflowWithOptions(wf, workflow.RegisterOptions{Name: workflows.InvoiceWorkflowType})
		w.RegisterActivity(deps.Activities())
		if err := w.Start(); err != nil {
			t.Fatal(err)
		}
		return w
	}
	ctx := context.Background()
	old := run(workflows.InvoiceWorkflow)
	var ids []string
	var orders []invoice.Order
	for range 2 {
		o := eligible(t)
		id := workflows.InvoiceWorkflowID(o.VendorID, o.BuyerID, o.PONumber)
		opts := invoiceclient.StartOptions(o)
		opts.TaskQueue = queue
		if _, err := deps.Temporal.ExecuteWorkflow(ctx, opts, workflows.InvoiceWorkflowType, workflows.ConfirmOrder{Order: o}); err != nil {
			t.Fatal(err)
		}
		if _, err := client.AwaitSettled(within(t, 30*time.Second), id); err != nil {
			t.Fatal(err)
		}
		ids, orders = append(ids, id), append(orders, o)
	}
	old.Stop()

	pay := func(i int) {
		t.Helper()
		for _, step := range []struct {
			action invoice.Action
			role   invoice.Role
		}{{invoice.ActionApprove, invoice.RoleProcurement}, {invoice.ActionApprovePayment, invoice.RoleAccounting},
			{invoice.ActionMarkPaid, invoice.RoleAccounting}} {
			req := invoice.ActionRequest{Action: step.action, Actor: buyer(orders[i], "u", step.role), IdempotencyKey: newIdem(),
				PaymentDate: "2026-11-30", PaymentReference: "SEPA-DEPLOY"}
			if step.action != invoice.ActionMarkPaid {
				req.PaymentDate, req.PaymentReference = "", ""
			}
			if answer, err := client.Do(within(t, 60*time.Second), ids[i], req); err != nil || !answer.Accepted {
				t.Fatalf("%s of %s after the deploy: %+v, %v", step.action, ids[i], answer, err)
			}
		}
	}

	// The versioned build takes the first invoice to paid.
	safe := run(changedWorkflow(true))
	pay(0)
	safe.Stop()

	// The change made in place: the second invoice's next workflow task fails, again and again.
	unsafe := run(changedWorkflow(false))
	if err := client.Act(ctx, ids[1], invoice.ActionRequest{Action: invoice.ActionApprove,
		Actor: buyer(orders[1], "u", invoice.RoleProcurement), IdempotencyKey: "during-bad-deploy"}); err != nil {
		t.Fatal(err)
	}
	if !waitUntil(30*time.Second, func() bool { return nondeterministic(t, ids[1]) }) {
		t.Fatalf("no nondeterministic workflow task failure in %s's history on the unversioned build; its workflow task events:\n%s",
			ids[1], workflowTaskEvents(t, ids[1]))
	}
	unsafe.Stop()

	// Rolled back to the versioned build, the invoice goes on: the approve sent meanwhile is applied.
	safe = run(changedWorkflow(true))
	defer safe.Stop()
	// Queries may time out meanwhile (they go to the stopped worker's sticky queue first).
	var answer workflows.Answer
	answered := waitUntil(60*time.Second, func() bool {
		st, err := client.State(within(t, 10*time.Second), ids[1])
		answer = st.Answers["during-bad-deploy"]
		return err == nil && answer.Action != ""
	})
	if !answered || !answer.Accepted || answer.Status != invoice.StatusAA {
		t.Fatalf("approve sent during the bad deploy: %+v (answered %v); want accepted into AA after the rollback", answer, answered)
	}
}

// nondeterministic reports whether a workflow task of the workflow failed as nondeterministic.
func nondeterministic(t *testing.T, workflowID string) bool {
	t.Helper()
	iter := deps.Temporal.GetWorkflowHistory(context.Background(), workflowID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for iter.HasNext() {
		e, err := iter.Next()
		if err != nil {
			t.Fatal(err)
		}
		// The SDK reports a command that does not match as a nondeterministic error, and a command
		// whose ID does not match (its IDs follow event IDs) as a panic; both carry TMPRL1100.
		if f := e.GetWorkflowTaskFailedEventAttributes(); f != nil &&
			(f.GetCause() == enumspb.WORKFLOW_TASK_FAILED_CAUSE_NON_DETERMINISTIC_ERROR ||
				strings.Contains(f.GetFailure().GetMessage(), "TMPRL1100")) {
			return true
		}
	}
	return false
}

// workflowTaskEvents lists the workflow task events of a workflow's history and the pending task,
// one per line, for a failure message.
func workflowTaskEvents(t *testing.T, workflowID string) string {
	t.Helper()
	var b strings.Builder
	iter := deps.Temporal.GetWorkflowHistory(context.Background(), workflowID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for iter.HasNext() {
		e, err := iter.Next()
		if err != nil {
			return b.String() + "history: " + err.Error()
		}
		if strings.Contains(e.GetEventType().String(), "WorkflowTask") {
			fmt.Fprintf(&b, "  %d %s %s %s\n", e.GetEventId(), e.GetEventType(), e.GetWorkflowTaskFailedEventAttributes().GetCause(),
				e.GetWorkflowTaskFailedEventAttributes().GetFailure().GetMessage())
		}
	}
	if d, err := testenv.Describe(context.Background(), deps.Temporal, workflowID); err == nil {
		p := d.GetPendingWorkflowTask()
		fmt.Fprintf(&b, "  pending: %s, attempt %d\n", p.GetState(), p.GetAttempt())
	}
	return b.String()
}

// waitUntil polls cond every 50 ms until it holds or limit passes.
func waitUntil(limit time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
	return true
}

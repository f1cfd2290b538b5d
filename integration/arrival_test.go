package integration

import (
	"context"
	"testing"
	"time"

	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/k2kinvoice/autoinvoice/internal/invoice"
	"github.com/k2kinvoice/autoinvoice/internal/invoiceclient"
	"github.com/k2kinvoice/autoinvoice/workflows"
)

// TestSignalsOfOneTaskTakenInArrivalOrder: signals of different names that reach the workflow in
// the same workflow task (sent while no worker polls) are taken in the order they were sent, on a
// worker with the ArrivalOrder interceptor (as app.NewWorker builds it). approve_payment is sent
// before approve, so it is refused in AP and approve then takes the invoice to AA. A worker
// without the interceptor falls back to a listener per name and takes approve first (the table's
// order): both are accepted and the invoice reaches A, which shows the test tells the two apart.
func TestSignalsOfOneTaskTakenInArrivalOrder(t *testing.T) {
	for _, tc := range []struct {
		name        string
		options     worker.Options
		wantStatus  invoice.Status
		wantPayment bool // approve_payment accepted
	}{
		{"with ArrivalOrder", worker.Options{Interceptors: []interceptor.WorkerInterceptor{&workflows.ArrivalOrder{}}}, invoice.StatusAA, false},
		{"without it, by name", worker.Options{}, invoice.StatusA, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			queue := "k2k-arrival-" + newIdem()
			start := func() worker.Worker {
				w := worker.New(deps.Temporal, queue, tc.options)
				w.RegisterWorkflowWithOptions(workflows.InvoiceWorkflow, workflow.RegisterOptions{Name: workflows.InvoiceWorkflowType})
				w.RegisterActivity(deps.Activities())
				if err := w.Start(); err != nil {
					t.Fatal(err)
				}
				return w
			}
			ctx := context.Background()
			o := eligible(t)
			id := workflows.InvoiceWorkflowID(o.VendorID, o.BuyerID, o.PONumber)
			opts := invoiceclient.StartOptions(o)
			opts.TaskQueue = queue
			w := start()
			if _, err := deps.Temporal.ExecuteWorkflow(ctx, opts, workflows.InvoiceWorkflowType, workflows.ConfirmOrder{Order: o}); err != nil {
				t.Fatal(err)
			}
			if st, err := client.AwaitSettled(within(t, 30*time.Second), id); err != nil || st.Status != invoice.StatusAP {
				t.Fatalf("confirmation: %+v, %v", st, err)
			}
			w.Stop()

			// Raw signals (the client's admission check would refuse approve_payment in AP before
			// sending it), both waiting for the next workflow task.
			payment := invoice.ActionRequest{Action: invoice.ActionApprovePayment, Actor: buyer(o, "acc", invoice.RoleAccounting), IdempotencyKey: newIdem()}
			approval := invoice.ActionRequest{Action: invoice.ActionApprove, Actor: buyer(o, "proc", invoice.RoleProcurement), IdempotencyKey: newIdem()}
			if err := deps.Temporal.SignalWorkflow(ctx, id, "", workflows.SignalApprovePayment, payment); err != nil {
				t.Fatal(err)
			}
			if err := deps.Temporal.SignalWorkflow(ctx, id, "", workflows.SignalApprove, approval); err != nil {
				t.Fatal(err)
			}
			w = start()
			defer w.Stop()
			var st workflows.State
			answered := waitUntil(60*time.Second, func() bool {
				var err error
				st, err = client.State(within(t, 10*time.Second), id)
				_, paymentAnswered := st.Answers[payment.IdempotencyKey]
				_, approvalAnswered := st.Answers[approval.IdempotencyKey]
				return err == nil && paymentAnswered && approvalAnswered
			})
			if !answered {
				t.Fatalf("both signals not answered within 60 s: %+v", st.Answers)
			}
			got := st.Answers[payment.IdempotencyKey]
			t.Logf("approve_payment (sent first): %+v; approve: %+v; status %s", got, st.Answers[approval.IdempotencyKey], st.Status)
			if st.Status != tc.wantStatus || got.Accepted != tc.wantPayment || !st.Answers[approval.IdempotencyKey].Accepted {
				t.Errorf("status %s, approve_payment accepted %v, approve accepted %v; want %s, %v, true",
					st.Status, got.Accepted, st.Answers[approval.IdempotencyKey].Accepted, tc.wantStatus, tc.wantPayment)
			}
			if !tc.wantPayment && got.Code != invoice.RefusedWrongStatus {
				t.Errorf("approve_payment refused with %q, want %q", got.Code, invoice.RefusedWrongStatus)
			}
		})
	}
}

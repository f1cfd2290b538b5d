package workflows

// Export: an invoice approved for payment goes to the buyer's accounting system, when the buyer
// has one (ES), and ends synchronized (S) or failed (F).

import (
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/k2kinvoice/autoinvoice/activities"
	"github.com/k2kinvoice/autoinvoice/internal/invoice"
	"github.com/k2kinvoice/autoinvoice/internal/metrics"
)

// exportActor is who sends an invoice on its own: the buyer's accounting, as the system.
func (w *invoiceWorkflow) exportActor() invoice.Actor {
	return invoice.Actor{CompanyID: w.Order.BuyerID, UserID: "k2k-export", Role: invoice.RoleAccounting}
}

// exportIfDue sends the invoice after the action that leads to it: approve_payment (for a buyer
// that exports) moves it on to ES first; send_to_accounting already did.
func (w *invoiceWorkflow) exportIfDue(ctx workflow.Context, done invoice.Action) error {
	switch {
	case !w.Exports:
		return nil
	case done == invoice.ActionApprovePayment:
		if err := w.system(ctx, invoice.ActionSendToAccounting, invoice.StatusES, "", "sent on approval: the buyer exports approved invoices"); err != nil {
			return err
		}
	case done != invoice.ActionSendToAccounting:
		return nil
	}
	return w.export(ctx)
}

// export sends the invoice, retrying for the export window, and records where it ends: S with
// the accounting system's reference, or F with why. Actions sent meanwhile wait in the inbox.
func (w *invoiceWorkflow) export(ctx workflow.Context) error {
	window := w.ExportWindow
	if window <= 0 {
		window = DefaultExportWindow
	}
	key := fmt.Sprintf("%s#export-%d", w.WorkflowID, w.EventSeq)
	opts := workflow.ActivityOptions{
		StartToCloseTimeout:    time.Minute,
		ScheduleToCloseTimeout: window,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute,
			NonRetryableErrorTypes: []string{activities.ErrTypeExportRefused}},
		Summary: "send invoice " + w.Order.InvoiceNumber + " to the buyer's accounting system",
	}
	var res activities.ExportResult
	err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, opts), acts.ExportInvoice, activities.ExportInput{
		Key: key, WorkflowID: w.WorkflowID, InvoiceID: w.InvoiceID, Revision: w.Revision, Order: w.Order}).Get(ctx, &res)
	w.Export = &Export{Key: key, Reference: res.Reference, At: workflow.Now(ctx)}
	if err == nil {
		count(ctx, metrics.Exports, map[string]string{"outcome": "synchronized"})
		return w.system(ctx, "", invoice.StatusS, "export_synchronized", "the accounting system took it, reference "+res.Reference)
	}
	// Retries end only on a refusal or when the window has passed.
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) && appErr.Type() == activities.ErrTypeExportRefused {
		w.Export.Failure = appErr.Message()
	} else {
		last := err.Error()
		if errors.As(err, &appErr) {
			last = appErr.Message()
		}
		w.Export.Failure = fmt.Sprintf("the accounting system did not take it within %s; last error: %s", window, last)
	}
	count(ctx, metrics.Exports, map[string]string{"outcome": "failed"})
	return w.system(ctx, "", invoice.StatusF, "export_failed", w.Export.Failure)
}

// system records a transition the workflow makes on its own, as exportActor.
func (w *invoiceWorkflow) system(ctx workflow.Context, action invoice.Action, to invoice.Status, code, reason string) error {
	e := w.event(ctx, invoice.EventTransition)
	e.Action, e.Actor, e.From, e.To, e.Code, e.Reason = action, w.exportActor(), w.Status, to, code, invoice.EscapeText(reason, invoice.MaxReasonLen)
	if err := w.step(ctx, e.Summary(), acts.RecordEvent, e, nil); err != nil {
		return err
	}
	label := string(action)
	if action == "" {
		label = "export_result"
	}
	count(ctx, metrics.Transitions, map[string]string{"action": label, "from": string(e.From), "to": string(to)})
	w.Transitions = append(w.Transitions, Transition{At: e.OccurredAt, Action: action, Actor: e.Actor, From: e.From, To: to, Reason: e.Reason})
	return w.enter(ctx, to, e.OccurredAt)
}

// Package workflows holds the invoice workflow: one durable workflow per confirmed K2K order,
// from the eligibility check to the paid invoice, through vendor updates and their review. Its
// names (task queue, workflow type, signals and updates, query, search attributes, workflow ID)
// are the contract with workers, backends and ops.
package workflows

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

// acts refers to the activities by method, so the workflow never spells their names.
var acts *activities.Activities

// activityOptions retry infrastructure failures (a database or S3 outage) without end, backing
// off to a minute; business refusals are non-retryable application errors.
var activityOptions = workflow.ActivityOptions{
	StartToCloseTimeout: time.Minute,
	RetryPolicy: &temporal.RetryPolicy{
		InitialInterval:    time.Second,
		BackoffCoefficient: 2,
		MaximumInterval:    time.Minute,
		NonRetryableErrorTypes: []string{
			activities.ErrTypeInvalidPDF, activities.ErrTypeInvoiceNumberTaken, activities.ErrTypeStatusConflict,
			activities.ErrTypeUnprocessable, activities.ErrTypeNotPaid, activities.ErrTypeOverCredit,
		},
	},
}

// notifyOptions are the options runs older than shapeWebhooks give the retired Notify activity.
var notifyOptions = workflow.ActivityOptions{
	StartToCloseTimeout: 30 * time.Second,
	RetryPolicy:         &temporal.RetryPolicy{InitialInterval: 5 * time.Second, MaximumAttempts: 5},
}

// InvoiceWorkflow turns one confirmed order into an AP invoice and follows it until it is paid.
// Register it under InvoiceWorkflowType.
func InvoiceWorkflow(ctx workflow.Context, in ConfirmOrder) (Result, error) {
	w := &invoiceWorkflow{}
	if in.Resume != nil {
		w.State = *in.Resume
	} else {
		w.State = State{
			WorkflowID:               workflow.GetInfo(ctx).WorkflowExecution.ID,
			Confirmation:             in.Confirmation,
			Order:                    in.Order,
			StagingKey:               in.StagingKey,
			Discrepancy:              in.Order.Discrepancy(),
			Answers:                  map[string]Answer{},
			Reminders:                in.Reminders.orDefault(),
			ContinueAsNewAfterEvents: in.ContinueAsNewAfterEvents,
			ExportWindow:             in.ExportWindow,
		}
	}
	w.Runs++
	w.shape = workflow.GetVersion(ctx, changeLocalSteps, workflow.DefaultVersion, shapeCurrent)
	if err := w.registerHandlers(ctx); err != nil {
		return Result{}, err
	}
	w.listen(ctx)
	ctx = workflow.WithActivityOptions(ctx, activityOptions)
	if in.Resume == nil {
		if result, done, err := w.create(ctx, in.SearchAttributesSet); done || err != nil {
			return result, err
		}
	} else if err := w.show(ctx); err != nil {
		return Result{}, err
	}
	return w.followToTheEnd(ctx)
}

// invoiceWorkflow is the running workflow: its state and the rules that change it.
type invoiceWorkflow struct {
	State
	// shape is this run's version of changeLocalSteps.
	shape workflow.Version
	// reminder is the running reminder timer of the current stay, if any (current shape only).
	reminder *reminderTimer
	// actedThisRun counts the actions this run handled; a run continues as new only after
	// progress, so a low history limit cannot loop.
	actedThisRun int
	// notifying counts Notify activities still running (runs older than shapeWebhooks); a run
	// ends only when none is.
	notifying int
	// applying is the action taken out of the inbox and not answered yet (its activities run);
	// validators treat it as still queued. Nothing is being applied when a run ends.
	applying *QueuedAction
}

// create checks eligibility, stores the PDF and creates the AP invoice. done is true when the
// workflow ends here (not eligible, or the order's content was refused).
func (w *invoiceWorkflow) create(ctx workflow.Context, searchAttributesSet bool) (Result, bool, error) {
	o := w.Order
	if err := w.findable(ctx, searchAttributesSet); err != nil {
		return Result{}, true, err
	}
	workflow.SetCurrentDetails(ctx, "Checking the K2K connection and both companies' settings.")

	var eligibility invoice.Eligibility
	if err := w.step(ctx, "check the K2K connection and both settings of "+o.VendorID+" → "+o.BuyerID, acts.VerifyEligibility,
		activities.EligibilityInput{VendorID: o.VendorID, BuyerID: o.BuyerID}, &eligibility); err != nil {
		return Result{}, true, err
	}
	w.SeparateDuties, w.Tolerance, w.Exports = eligibility.SeparateDuties, eligibility.Tolerance, eligibility.Exports
	if !eligibility.Eligible {
		r, err := w.finishWithout(ctx, OutcomeNotEligible, invoice.EventNotEligible, string(eligibility.Reason), eligibility.Detail)
		return r, true, err
	}

	var doc invoice.Document
	if err := w.step(ctx, "store the PDF of revision 1", acts.StorePDF, activities.StorePDFInput{
		Order: o, Revision: 1, StagingKey: w.StagingKey, RenderedAt: w.renderedAt(ctx, o),
	}, &doc); err != nil {
		r, err := w.rejectOr(ctx, err)
		return r, true, err
	}
	created := w.event(ctx, invoice.EventInvoiceCreated)
	created.To, created.Revision = invoice.StatusAP, 1
	if err := w.step(ctx, "create AP invoice "+o.InvoiceNumber, acts.CreateAPInvoice, activities.CreateInvoiceInput{
		WorkflowID: w.WorkflowID, Confirmation: w.Confirmation, Tolerance: w.Tolerance, Order: o, Document: doc, Event: created,
	}, &w.InvoiceID); err != nil {
		r, err := w.rejectOr(ctx, err)
		return r, true, err
	}
	w.Revision, w.Document = 1, doc
	count(ctx, metrics.Orders, map[string]string{"outcome": "invoice_created"})
	w.Revisions = append(w.Revisions, Revision{Revision: 1, InvoiceNumber: o.InvoiceNumber, Currency: o.Currency,
		TotalMinor: o.TotalMinor, Document: doc, At: created.OccurredAt})
	return Result{}, false, w.enter(ctx, invoice.StatusAP, created.OccurredAt)
}

// followToTheEnd handles actions one at a time, in arrival order, and reminds people of an
// invoice that waits too long, until the invoice is paid or voided. It continues as new when the
// history grows long, handing over the whole state.
func (w *invoiceWorkflow) followToTheEnd(ctx workflow.Context) (Result, error) {
	for !w.Status.Terminal() {
		if w.continueAsNewDue(ctx) {
			return Result{}, w.continueAsNew(ctx)
		}
		ready, err := w.awaitInbox(ctx)
		if err != nil {
			return Result{}, err
		}
		w.collectUnknown(ctx)
		switch {
		case len(w.Inbox) > 0:
			if err := w.actNext(ctx); err != nil {
				return Result{}, err
			}
		case !ready:
			if err := w.remind(ctx); err != nil {
				return Result{}, err
			}
		}
	}
	if err := w.settle(ctx); err != nil {
		return Result{}, err
	}
	w.Outcome = outcomeOf(w.Status)
	if w.Outcome == OutcomePaid {
		count(ctx, metrics.Paid, nil)
	} else if last := len(w.Transitions) - 1; last >= 0 {
		w.Reason = w.Transitions[last].Reason // the vendor's reason to void
	}
	if w.shape < shapeLocalSteps { // the current shape set the outcome with the terminal status
		if err := workflow.UpsertTypedSearchAttributes(ctx, AttrOutcome.ValueSet(string(w.Outcome))); err != nil {
			return Result{}, err
		}
	}
	return Result{Outcome: w.Outcome, Reason: w.Reason, InvoiceID: w.InvoiceID, Status: w.Status}, nil
}

// continueAsNewDue reports whether this run should hand over to a new one: the server suggests
// it, or the history reached the configured limit, and this run has made progress.
func (w *invoiceWorkflow) continueAsNewDue(ctx workflow.Context) bool {
	info := workflow.GetInfo(ctx)
	limit := w.ContinueAsNewAfterEvents
	return w.actedThisRun > 0 && (info.GetContinueAsNewSuggested() || (limit > 0 && info.GetCurrentHistoryLength() >= limit))
}

// continueAsNew hands the whole state to a new run once nothing is in flight.
func (w *invoiceWorkflow) continueAsNew(ctx workflow.Context) error {
	if err := w.settle(ctx); err != nil {
		return err
	}
	workflow.GetLogger(ctx).Info("continuing as new", "history_length", workflow.GetInfo(ctx).GetCurrentHistoryLength(), "runs", w.Runs)
	state := w.State
	return workflow.NewContinueAsNewError(ctx, InvoiceWorkflowType, ConfirmOrder{Order: w.Order, Resume: &state})
}

// rejectOr ends the workflow with OutcomeRejected when err is a refusal of the order's content
// (a bad PDF, an invoice number taken, data the database or S3 refuses), and fails it otherwise.
func (w *invoiceWorkflow) rejectOr(ctx workflow.Context, err error) (Result, error) {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) && refusalOf(err) != nil {
		return w.finishWithout(ctx, OutcomeRejected, invoice.EventRejected, appErr.Type(), appErr.Message())
	}
	return Result{}, err
}

// finishWithout ends a workflow that created no invoice, with an audit row saying why. Actions
// sent meanwhile are answered (refused: there is no invoice).
func (w *invoiceWorkflow) finishWithout(ctx workflow.Context, outcome Outcome, kind invoice.EventKind, code, reason string) (Result, error) {
	e := w.event(ctx, kind)
	e.Code, e.Reason = code, reason
	if err := w.step(ctx, e.Summary(), acts.RecordEvent, e, nil); err != nil {
		return Result{}, err
	}
	w.Outcome, w.Reason = outcome, code+": "+reason
	count(ctx, metrics.Orders, map[string]string{"outcome": string(outcome), "reason": code})
	if err := w.settle(ctx); err != nil {
		return Result{}, err
	}
	if err := workflow.UpsertTypedSearchAttributes(ctx, AttrOutcome.ValueSet(string(outcome))); err != nil {
		return Result{}, err
	}
	workflow.SetCurrentDetails(ctx, fmt.Sprintf("**%s**: %s", outcome, w.Reason))
	workflow.GetLogger(ctx).Info("order did not become an invoice", "outcome", outcome, "code", code, "reason", reason)
	return Result{Outcome: outcome, Reason: w.Reason}, nil
}

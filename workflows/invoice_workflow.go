// Package workflows holds the invoice workflow: one durable workflow per confirmed K2K order,
// from the eligibility check to the paid invoice. Its names (task queue, workflow type, signals,
// query, search attributes, workflow ID) are the contract with workers, backends and ops.
package workflows

import (
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/k2kinvoice/autoinvoice/activities"
	"github.com/k2kinvoice/autoinvoice/internal/invoice"
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
		},
	},
}

// InvoiceWorkflow turns one confirmed order into an AP invoice and follows it until it is paid.
// Register it under InvoiceWorkflowType.
func InvoiceWorkflow(ctx workflow.Context, in ConfirmOrder) (Result, error) {
	w := &invoiceWorkflow{State: State{
		WorkflowID:  workflow.GetInfo(ctx).WorkflowExecution.ID,
		Order:       in.Order,
		StagingKey:  in.StagingKey,
		Discrepancy: in.Order.Discrepancy(),
		Answers:     map[string]Answer{},
	}}
	if err := workflow.SetQueryHandler(ctx, QueryStatus, func() (State, error) { return w.State, nil }); err != nil {
		return Result{}, err
	}
	return w.run(workflow.WithActivityOptions(ctx, activityOptions))
}

// invoiceWorkflow is the running workflow: its state and the rules that change it.
type invoiceWorkflow struct {
	State
}

func (w *invoiceWorkflow) run(ctx workflow.Context) (Result, error) {
	o := w.Order
	if err := workflow.UpsertTypedSearchAttributes(ctx, AttrVendor.ValueSet(o.VendorID),
		AttrBuyer.ValueSet(o.BuyerID), AttrPONumber.ValueSet(o.PONumber),
		AttrInvoiceNumber.ValueSet(o.InvoiceNumber)); err != nil {
		return Result{}, err
	}
	workflow.SetCurrentDetails(ctx, "Checking the K2K connection and both companies' settings.")
	w.listen(ctx)

	var eligibility invoice.Eligibility
	if err := workflow.ExecuteActivity(ctx, acts.VerifyEligibility,
		activities.EligibilityInput{VendorID: o.VendorID, BuyerID: o.BuyerID}).Get(ctx, &eligibility); err != nil {
		return Result{}, err
	}
	if !eligibility.Eligible {
		return w.finishWithout(ctx, OutcomeNotEligible, invoice.EventNotEligible, string(eligibility.Reason), eligibility.Detail)
	}

	if err := workflow.ExecuteActivity(ctx, acts.StorePDF, activities.StorePDFInput{
		Order: o, Revision: 1, StagingKey: w.StagingKey, RenderedAt: workflow.Now(ctx),
	}).Get(ctx, &w.Document); err != nil {
		return w.rejectOr(ctx, err)
	}

	created := w.event(ctx, invoice.EventInvoiceCreated)
	created.To = invoice.StatusAP
	if err := workflow.ExecuteActivity(ctx, acts.CreateAPInvoice, activities.CreateInvoiceInput{
		WorkflowID: w.WorkflowID, Order: o, Document: w.Document, Event: created,
	}).Get(ctx, &w.InvoiceID); err != nil {
		return w.rejectOr(ctx, err)
	}
	w.Revision = 1
	if err := w.enter(ctx, invoice.StatusAP, created.OccurredAt); err != nil {
		return Result{}, err
	}

	if err := w.awaitPayment(ctx); err != nil {
		return Result{}, err
	}
	if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
		return Result{}, err
	}
	w.Outcome = OutcomePaid
	if err := workflow.UpsertTypedSearchAttributes(ctx, AttrOutcome.ValueSet(string(OutcomePaid))); err != nil {
		return Result{}, err
	}
	return Result{Outcome: OutcomePaid, InvoiceID: w.InvoiceID, Status: w.Status}, nil
}

// signals maps each signal channel to the action it carries.
var signals = []struct {
	name   string
	action invoice.Action
}{
	{SignalApprove, invoice.ActionApprove},
	{SignalApprovePayment, invoice.ActionApprovePayment},
	{SignalMarkPaid, invoice.ActionMarkPaid},
}

// listen moves every signal into the inbox as soon as it arrives, one goroutine per channel, so
// the inbox keeps arrival order even while the workflow is busy with an activity (a selector over
// several buffered channels would pick by channel, not by arrival).
func (w *invoiceWorkflow) listen(ctx workflow.Context) {
	for _, s := range signals {
		ch := workflow.GetSignalChannel(ctx, s.name)
		workflow.Go(ctx, func(ctx workflow.Context) {
			for {
				var req invoice.ActionRequest
				ch.Receive(ctx, &req)
				w.Inbox = append(w.Inbox, withSignalAction(req, s.action))
			}
		})
	}
}

// awaitPayment handles the buyer's actions one at a time, in arrival order, until the invoice is
// paid; then it answers every action still queued or arriving meanwhile (they are refused).
func (w *invoiceWorkflow) awaitPayment(ctx workflow.Context) error {
	for !w.Status.Terminal() {
		if err := workflow.Await(ctx, func() bool { return len(w.Inbox) > 0 }); err != nil {
			return err
		}
		if err := w.actNext(ctx); err != nil {
			return err
		}
	}
	return w.drain(ctx)
}

// actNext handles the oldest action in the inbox.
func (w *invoiceWorkflow) actNext(ctx workflow.Context) error {
	req := w.Inbox[0]
	w.Inbox = w.Inbox[1:]
	return w.act(ctx, req)
}

// drain answers every action left before the workflow ends: those in the inbox and those still in
// the signal channels, until one pass finds none, so no signal ends unanswered and unaudited.
func (w *invoiceWorkflow) drain(ctx workflow.Context) error {
	for {
		for _, s := range signals {
			ch := workflow.GetSignalChannel(ctx, s.name)
			var req invoice.ActionRequest
			for ch.ReceiveAsync(&req) {
				w.Inbox = append(w.Inbox, withSignalAction(req, s.action))
				req = invoice.ActionRequest{}
			}
		}
		if len(w.Inbox) == 0 {
			return nil
		}
		for len(w.Inbox) > 0 {
			if err := w.actNext(ctx); err != nil {
				return err
			}
		}
	}
}

// withSignalAction sets the action a signal's name stands for. A payload naming another action is
// kept as it is, so Decide refuses the mismatch instead of guessing.
func withSignalAction(req invoice.ActionRequest, a invoice.Action) invoice.ActionRequest {
	if req.Action == "" {
		req.Action = a
	} else if req.Action != a {
		req.Action = invoice.Action(fmt.Sprintf("%s (sent on the %s signal)", req.Action, a))
	}
	return req
}

// act decides one action and records the answer: a transition moves the status, a refusal leaves
// it as it is; both leave an audit row. An idempotency key already answered is not applied again.
func (w *invoiceWorkflow) act(ctx workflow.Context, req invoice.ActionRequest) error {
	log := workflow.GetLogger(ctx)
	from := w.Status
	to, decision := invoice.Decide(invoice.Facts{Status: from, VendorID: w.Order.VendorID, BuyerID: w.Order.BuyerID}, req)
	prior, seen := w.Answers[req.IdempotencyKey]
	switch {
	case seen && prior.Action == req.Action:
		log.Info("action already answered", "idempotency_key", req.IdempotencyKey, "accepted", prior.Accepted)
		return nil
	case seen:
		to, decision = from, &invoice.Refusal{Code: invoice.RefusedInvalid,
			Reason: fmt.Sprintf("idempotency_key %q was already used for %s", req.IdempotencyKey, prior.Action)}
	}
	e := w.event(ctx, invoice.EventTransition)
	e.Action, e.Actor, e.From, e.To, e.Reason = req.Action, req.Actor, from, to, req.Reason
	answer := Answer{Action: req.Action, Accepted: true, Status: to}
	var refusal *invoice.Refusal
	if errors.As(decision, &refusal) {
		e.Kind, e.To, e.Code, e.Reason = invoice.EventRefused, from, string(refusal.Code), refusal.Reason
		answer = Answer{Action: req.Action, Code: refusal.Code, Reason: refusal.Reason, Status: from}
	}
	if err := workflow.ExecuteActivity(ctx, acts.RecordEvent, e).Get(ctx, nil); err != nil {
		return err
	}
	if req.IdempotencyKey != "" && !seen {
		w.Answers[req.IdempotencyKey] = answer
	}
	if !answer.Accepted {
		log.Info("action refused", "action", req.Action, "code", refusal.Code, "reason", refusal.Reason)
		return nil
	}
	w.Transitions = append(w.Transitions, Transition{At: e.OccurredAt, Action: req.Action, Actor: req.Actor, From: from, To: to})
	return w.enter(ctx, to, e.OccurredAt)
}

// enter moves the workflow into status s, decided at time at, and shows it to ops: search
// attributes and details.
func (w *invoiceWorkflow) enter(ctx workflow.Context, s invoice.Status, at time.Time) error {
	w.Status, w.StatusSince = s, at
	if err := workflow.UpsertTypedSearchAttributes(ctx, AttrStatus.ValueSet(string(s)),
		AttrInvoiceNumber.ValueSet(w.Order.InvoiceNumber), AttrRevision.ValueSet(int64(w.Revision)),
		AttrUpdatePending.ValueSet(false)); err != nil {
		return err
	}
	workflow.SetCurrentDetails(ctx, w.details())
	return nil
}

// details is the workflow's current details in the Temporal UI (markdown).
func (w *invoiceWorkflow) details() string {
	o := w.Order
	waiting := map[invoice.Status]string{
		invoice.StatusAP: "buyer procurement to approve",
		invoice.StatusAA: "buyer accounting to approve payment",
		invoice.StatusA:  "buyer accounting to mark it paid",
		invoice.StatusP:  "nothing: paid",
	}[w.Status]
	return fmt.Sprintf("**%s** (%s) since %s\n\nInvoice %s, revision %d: %s (PO total %s)\n\nWaiting for %s.",
		w.Status, w.Status.Label(), w.StatusSince.UTC().Format(time.RFC3339), o.InvoiceNumber, w.Revision,
		invoice.FormatMoney(o.TotalMinor, o.Currency), invoice.FormatMoney(o.POTotalMinor, o.Currency), waiting)
}

// event starts an audit event of this workflow with the next deterministic key.
func (w *invoiceWorkflow) event(ctx workflow.Context, kind invoice.EventKind) invoice.Event {
	w.EventSeq++
	return invoice.Event{
		Key:        fmt.Sprintf("%s#%d", w.WorkflowID, w.EventSeq),
		WorkflowID: w.WorkflowID,
		InvoiceID:  w.InvoiceID,
		VendorID:   w.Order.VendorID,
		BuyerID:    w.Order.BuyerID,
		PONumber:   w.Order.PONumber,
		Kind:       kind,
		OccurredAt: workflow.Now(ctx),
	}
}

// rejectOr ends the workflow with OutcomeRejected when err is a business refusal of the order's
// content, and fails it otherwise.
func (w *invoiceWorkflow) rejectOr(ctx workflow.Context, err error) (Result, error) {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) && (appErr.Type() == activities.ErrTypeInvalidPDF || appErr.Type() == activities.ErrTypeInvoiceNumberTaken) {
		return w.finishWithout(ctx, OutcomeRejected, invoice.EventRejected, appErr.Type(), appErr.Message())
	}
	return Result{}, err
}

// finishWithout ends a workflow that created no invoice, with an audit row saying why.
func (w *invoiceWorkflow) finishWithout(ctx workflow.Context, outcome Outcome, kind invoice.EventKind, code, reason string) (Result, error) {
	e := w.event(ctx, kind)
	e.Code, e.Reason = code, reason
	if err := workflow.ExecuteActivity(ctx, acts.RecordEvent, e).Get(ctx, nil); err != nil {
		return Result{}, err
	}
	w.Outcome, w.Reason = outcome, code+": "+reason
	if err := w.drain(ctx); err != nil {
		return Result{}, err
	}
	if err := workflow.UpsertTypedSearchAttributes(ctx, AttrOutcome.ValueSet(string(outcome))); err != nil {
		return Result{}, err
	}
	workflow.SetCurrentDetails(ctx, fmt.Sprintf("**%s**: %s", outcome, w.Reason))
	workflow.GetLogger(ctx).Info("order did not become an invoice", "outcome", outcome, "code", code, "reason", reason)
	return Result{Outcome: outcome, Reason: w.Reason}, nil
}

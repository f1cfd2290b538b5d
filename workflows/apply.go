package workflows

// Applying actions: deciding each one with the lifecycle rules, recording it, and moving the
// invoice.

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/k2kinvoice/autoinvoice/activities"
	"github.com/k2kinvoice/autoinvoice/internal/invoice"
	"github.com/k2kinvoice/autoinvoice/internal/metrics"
)

// facts is what the lifecycle rules need to know about the invoice now.
func (w *invoiceWorkflow) facts() invoice.Facts {
	f := invoice.Facts{Status: w.Status, VendorID: w.Order.VendorID, BuyerID: w.Order.BuyerID, UpdatePending: w.UpdatePending,
		SeparateDuties: w.SeparateDuties, ApprovedBy: w.ApprovedBy, Exports: w.Exports,
		Discrepancy: w.Discrepancy, POTotal: w.Order.POTotalMinor, Currency: w.Order.Currency}
	if w.Tolerance != nil {
		f.Tolerance = *w.Tolerance
	}
	return f
}

// decide applies the lifecycle table to req and, for a vendor update, checks the revised order
// (keepCurrency: under the rule that a vendor update keeps the currency).
func (w *invoiceWorkflow) decide(req invoice.ActionRequest, keepCurrency bool) (invoice.Status, invoice.Order, *invoice.Refusal) {
	to, err := invoice.Decide(w.facts(), req)
	var refusal *invoice.Refusal
	if errors.As(err, &refusal) {
		return w.Status, w.Order, refusal
	}
	revised := w.Order
	if req.Action == invoice.ActionVendorUpdate {
		if revised, err = w.revised(req.Update, keepCurrency); err != nil {
			return w.Status, w.Order, &invoice.Refusal{Code: invoice.RefusedInvalid, Reason: err.Error()}
		}
	}
	return to, revised, nil
}

// act decides one action and records the answer: an accepted action changes the invoice, a
// refusal leaves it as it is; both leave an audit row. A key already answered for the same action is
// neither applied nor refused again, whether or not the message passed admission.
func (w *invoiceWorkflow) act(ctx workflow.Context, item QueuedAction) error {
	req := item.ActionRequest
	prior, seen := w.Answers[req.IdempotencyKey]
	if seen && prior.Action == req.Action {
		workflow.GetLogger(ctx).Info("action already answered", "idempotency_key", req.IdempotencyKey, "accepted", prior.Accepted)
		return nil
	}
	if seen {
		return w.refuse(ctx, req, &invoice.Refusal{Code: invoice.RefusedInvalid, Reason: reusedKey(req.IdempotencyKey, prior.Action)})
	}
	if item.Malformed != nil { // refused at arrival
		return w.refuse(ctx, req, item.Malformed)
	}
	keepCurrency := req.Action == invoice.ActionVendorUpdate && w.keepsCurrency(ctx)
	to, revised, refusal := w.decide(req, keepCurrency)
	switch {
	case refusal != nil:
		return w.refuse(ctx, req, refusal)
	case req.Action == invoice.ActionVendorUpdate:
		return w.revise(ctx, req, revised)
	}
	pending := w.UpdatePending && req.Action != invoice.ActionAcknowledgeUpdate
	e := w.event(ctx, invoice.EventTransition)
	e.Action, e.Actor, e.From, e.To, e.Reason, e.UpdatePending = req.Action, req.Actor, w.Status, to, req.Reason, pending
	switch {
	case req.Action == invoice.ActionMarkPaid:
		e.Reason = strings.TrimSuffix(fmt.Sprintf("paid on %s, payment reference %s; %s", req.PaymentDate, req.PaymentReference, req.Reason), "; ")
	case req.OverrideReason != "":
		e.Reason = strings.TrimSuffix(fmt.Sprintf("tolerance override: %s; %s", req.OverrideReason, req.Reason), "; ")
	}
	err := w.step(ctx, e.Summary(), acts.RecordEvent, e, nil)
	if refusal := refusalOf(err); refusal != nil {
		return w.refuse(ctx, req, refusal)
	} else if err != nil {
		return err
	}
	w.UpdatePending = pending
	if err := w.accept(ctx, req, e); err != nil {
		return err
	}
	return w.exportIfDue(ctx, req.Action)
}

// revise stores a vendor update as a new revision: its PDF next to the earlier ones, the revised
// invoice back in AP with the warning set. A bad PDF or an invoice number already taken is a
// refusal; the invoice is unchanged.
func (w *invoiceWorkflow) revise(ctx workflow.Context, req invoice.ActionRequest, revised invoice.Order) error {
	next := w.Revision + 1
	var doc invoice.Document
	err := w.step(ctx, fmt.Sprintf("store the PDF of revision %d", next), acts.StorePDF, activities.StorePDFInput{
		Order: revised, Revision: next, StagingKey: req.Update.StagingKey, RenderedAt: w.renderedAt(ctx, revised),
	}, &doc)
	if refusal := refusalOf(err); refusal != nil {
		return w.refuse(ctx, req, refusal)
	} else if err != nil {
		return err
	}
	e := w.event(ctx, invoice.EventTransition)
	e.Action, e.Actor, e.From, e.To, e.Reason = req.Action, req.Actor, w.Status, invoice.StatusAP, req.Reason
	e.UpdatePending, e.Revision = true, next
	err = w.step(ctx, fmt.Sprintf("store revision %d (%s)", next, revised.InvoiceNumber), acts.ReviseInvoice, activities.ReviseInput{
		InvoiceID: w.InvoiceID, Revision: next, Order: revised, Document: doc, Event: e,
	}, nil)
	if refusal := refusalOf(err); refusal != nil {
		return w.refuse(ctx, req, refusal)
	} else if err != nil {
		return err
	}
	w.Order, w.Revision, w.Document, w.UpdatePending = revised, next, doc, true
	w.Discrepancy = revised.Discrepancy()
	w.Revisions = append(w.Revisions, Revision{Revision: next, InvoiceNumber: revised.InvoiceNumber,
		Currency: revised.Currency, TotalMinor: revised.TotalMinor, Document: doc, At: e.OccurredAt})
	return w.accept(ctx, req, e)
}

// refusalOf turns an activity's refusal of an action's data (a vendor update's PDF or number, data
// the database or S3 refuses) into a Refusal; nil for any other error.
func refusalOf(err error) *invoice.Refusal {
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) {
		return nil
	}
	switch appErr.Type() {
	case activities.ErrTypeInvalidPDF:
		return &invoice.Refusal{Code: invoice.RefusedInvalidPDF, Reason: appErr.Message()}
	case activities.ErrTypeInvoiceNumberTaken:
		return &invoice.Refusal{Code: invoice.RefusedTaken, Reason: appErr.Message()}
	case activities.ErrTypeNotPaid:
		return &invoice.Refusal{Code: invoice.RefusedNotPaid, Reason: appErr.Message()}
	case activities.ErrTypeOverCredit:
		return &invoice.Refusal{Code: invoice.RefusedOverCredit, Reason: appErr.Message()}
	case activities.ErrTypeUnprocessable:
		return &invoice.Refusal{Code: invoice.RefusedInvalid, Reason: "cannot be stored: " + appErr.Message()}
	}
	return nil
}

// accept records an accepted action's answer and moves the workflow to the event's status.
func (w *invoiceWorkflow) accept(ctx workflow.Context, req invoice.ActionRequest, e invoice.Event) error {
	count(ctx, metrics.Transitions, map[string]string{"action": string(req.Action), "from": string(e.From), "to": string(e.To)})
	if e.From != e.To {
		workflow.GetMetricsHandler(ctx).WithTags(map[string]string{"status": string(e.From)}).
			Timer(metrics.StatusTime).Record(e.OccurredAt.Sub(w.StatusSince))
	}
	w.answer(req, Answer{Action: req.Action, Accepted: true, Status: e.To})
	w.Transitions = append(w.Transitions, Transition{At: e.OccurredAt, Action: req.Action, Actor: req.Actor,
		From: e.From, To: e.To, Reason: e.Reason})
	if req.Action == invoice.ActionMarkPaid {
		w.Payment = &Payment{Date: req.PaymentDate, Reference: req.PaymentReference}
	}
	switch {
	case req.Action == invoice.ActionApprove:
		w.ApprovedBy = req.Actor.UserID
		if req.OverrideReason != "" {
			w.Override = &Statement{Reason: req.OverrideReason, By: req.Actor, At: e.OccurredAt}
		}
	case e.To == invoice.StatusAP: // returned, or revised by the vendor: the approval is gone
		w.ApprovedBy, w.Override = "", nil
	}
	switch {
	case e.To == invoice.StatusD:
		w.Dispute = &Statement{Reason: req.Reason, By: req.Actor, At: e.OccurredAt}
	case e.From == invoice.StatusD && e.To == invoice.StatusAP: // answered by a new revision
		w.Dispute = nil
	}
	return w.enter(ctx, e.To, e.OccurredAt)
}

// refuse records a refusal: an audit row and the answer; the invoice stays as it is.
func (w *invoiceWorkflow) refuse(ctx workflow.Context, req invoice.ActionRequest, r *invoice.Refusal) error {
	e := w.event(ctx, invoice.EventRefused)
	e.Action, e.Actor, e.From, e.To, e.Code, e.Reason = req.Action, req.Actor, w.Status, w.Status, string(r.Code), r.Reason
	e.UpdatePending = w.UpdatePending
	err := w.step(ctx, e.Summary(), acts.RecordEvent, e, nil)
	if refusalOf(err) != nil {
		// The store escapes what a refused request held, so this is not expected; if it happens
		// the refusal is still answered, and ops see the failure in the log and the metric.
		count(ctx, metrics.AuditFailures, map[string]string{"action": actionLabel(req.Action)})
		workflow.GetLogger(ctx).Error("refusal could not be recorded", "action", req.Action, "event_key", e.Key, "error", err)
	} else if err != nil {
		return err
	}
	if _, seen := w.Answers[req.IdempotencyKey]; !seen {
		w.answer(req, Answer{Action: req.Action, Code: r.Code, Reason: r.Reason, Status: w.Status})
	}
	count(ctx, metrics.Refusals, map[string]string{"action": actionLabel(req.Action), "code": string(r.Code)})
	workflow.GetLogger(ctx).Info("action refused", "action", req.Action, "code", r.Code, "reason", r.Reason)
	return nil
}

// actionLabel is an action as a metric label: one of the lifecycle's actions, or "other" for
// what a malformed or unknown message named, so a sender cannot grow the label set.
func actionLabel(a invoice.Action) string {
	if slices.Contains(invoice.Actions(), a) {
		return string(a)
	}
	return "other"
}

// answer keeps the first answer to an idempotency key.
func (w *invoiceWorkflow) answer(req invoice.ActionRequest, a Answer) {
	if req.IdempotencyKey != "" {
		w.Answers[req.IdempotencyKey] = a
	}
}

// enter moves the workflow into status s, decided at time at, and shows it to ops. A new status
// starts a new stay, with its own reminders.
func (w *invoiceWorkflow) enter(ctx workflow.Context, s invoice.Status, at time.Time) error {
	if s != w.Status || w.StatusSince.IsZero() {
		w.StatusSince, w.RemindersSent = at, 0
	}
	w.Status = s
	return w.show(ctx)
}

// event starts an audit event of this workflow with the next deterministic key.
func (w *invoiceWorkflow) event(ctx workflow.Context, kind invoice.EventKind) invoice.Event {
	w.EventSeq++
	prefix := w.WorkflowID
	if w.Confirmation > 1 { // the first confirmation's keys stay as they always were
		prefix = fmt.Sprintf("%s@%d", w.WorkflowID, w.Confirmation)
	}
	return invoice.Event{
		Key:           fmt.Sprintf("%s#%d", prefix, w.EventSeq),
		WorkflowID:    w.WorkflowID,
		InvoiceID:     w.InvoiceID,
		VendorID:      w.Order.VendorID,
		BuyerID:       w.Order.BuyerID,
		PONumber:      w.Order.PONumber,
		Kind:          kind,
		OccurredAt:    workflow.Now(ctx),
		UpdatePending: w.UpdatePending,
		Revision:      w.Revision,
	}
}

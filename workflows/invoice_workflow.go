// Package workflows holds the invoice workflow: one durable workflow per confirmed K2K order,
// from the eligibility check to the paid invoice, through vendor updates and their review. Its
// names (task queue, workflow type, signals and updates, query, search attributes, workflow ID)
// are the contract with workers, backends and ops.
package workflows

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/converter"
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
			activities.ErrTypeUnprocessable,
		},
	},
}

// notifyOptions give a notification hook a few tries; a hook that stays down loses the
// reminder's notification, never the reminder's audit row.
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
			Order:                    in.Order,
			StagingKey:               in.StagingKey,
			Discrepancy:              in.Order.Discrepancy(),
			Answers:                  map[string]Answer{},
			Reminders:                in.Reminders.orDefault(),
			ContinueAsNewAfterEvents: in.ContinueAsNewAfterEvents,
		}
	}
	w.Runs++
	if err := w.registerHandlers(ctx); err != nil {
		return Result{}, err
	}
	w.listen(ctx)
	ctx = workflow.WithActivityOptions(ctx, activityOptions)
	if in.Resume == nil {
		if result, done, err := w.create(ctx); done || err != nil {
			return result, err
		}
	} else if err := w.show(ctx); err != nil {
		return Result{}, err
	}
	return w.followUntilPaid(ctx)
}

// invoiceWorkflow is the running workflow: its state and the rules that change it.
type invoiceWorkflow struct {
	State
	// actedThisRun counts the actions this run handled; a run continues as new only after
	// progress, so a low history limit cannot loop.
	actedThisRun int
	// notifying counts reminder notifications still being delivered; a run ends only when none is.
	notifying int
	// applying is the action taken out of the inbox and not answered yet (its activities run);
	// validators treat it as still queued. Nothing is being applied when a run ends.
	applying *QueuedAction
}

// registerHandlers registers the status query and, for every action, an update whose validator
// refuses what Decide would refuse (refusals never enter history). An accepted update waits in
// the inbox like a signal, and returns the answer once the workflow has handled it.
func (w *invoiceWorkflow) registerHandlers(ctx workflow.Context) error {
	if err := workflow.SetQueryHandler(ctx, QueryStatus, func() (State, error) { return w.State, nil }); err != nil {
		return err
	}
	for _, m := range messages {
		handler := func(ctx workflow.Context, raw converter.RawValue) (Answer, error) {
			item := arrive(raw, m.name, m.action)
			req := item.ActionRequest
			if _, seen := w.Answers[req.IdempotencyKey]; !seen {
				w.Inbox = append(w.Inbox, item)
			}
			if err := workflow.Await(ctx, func() bool { _, ok := w.Answers[req.IdempotencyKey]; return ok }); err != nil {
				return Answer{}, err
			}
			answer := w.Answers[req.IdempotencyKey]
			if !answer.Accepted {
				return answer, RefusalError(answer.Code, answer.Reason)
			}
			return answer, nil
		}
		validator := func(ctx workflow.Context, raw converter.RawValue) error {
			item := arrive(raw, m.name, m.action)
			if item.Malformed != nil {
				return RefusalError(item.Malformed.Code, item.Malformed.Reason)
			}
			return w.validate(item.ActionRequest)
		}
		if err := workflow.SetUpdateHandlerWithOptions(ctx, m.name, handler,
			workflow.UpdateHandlerOptions{Validator: validator}); err != nil {
			return err
		}
	}
	return nil
}

// RefusalError is how an update reports a refusal: a non-retryable application error whose type
// is the refusal code, so callers can tell refusals apart without parsing text, and know that
// sending the same request again gets the same answer.
func RefusalError(code invoice.RefusalCode, reason string) error {
	return temporal.NewNonRetryableApplicationError(reason, string(code), nil)
}

// validate answers, without changing anything, whether an update would be refused now. A key
// already answered, queued or being applied, for the same action, is accepted: the handler returns
// that action's answer. While earlier actions wait in the inbox or are being applied the status is
// about to change, so only what does not depend on it is checked; the status rules then answer
// when the action's turn comes.
func (w *invoiceWorkflow) validate(req invoice.ActionRequest) error {
	if prior, seen := w.Answers[req.IdempotencyKey]; seen {
		if prior.Action == req.Action {
			return nil
		}
		return RefusalError(invoice.RefusedInvalid, reusedKey(req.IdempotencyKey, prior.Action))
	}
	pending := w.Inbox
	if w.applying != nil {
		pending = append([]QueuedAction{*w.applying}, w.Inbox...)
	}
	for _, queued := range pending {
		if queued.IdempotencyKey == req.IdempotencyKey && req.IdempotencyKey != "" {
			if queued.Action == req.Action {
				return nil
			}
			return RefusalError(invoice.RefusedInvalid, reusedKey(req.IdempotencyKey, queued.Action))
		}
	}
	if len(pending) > 0 {
		var refusal *invoice.Refusal
		if err := invoice.Admissible(w.facts(), req); errors.As(err, &refusal) {
			return RefusalError(refusal.Code, refusal.Reason)
		}
		if req.Action == invoice.ActionVendorUpdate {
			if _, err := req.Update.Revise(w.Order); err != nil {
				return RefusalError(invoice.RefusedInvalid, err.Error())
			}
		}
		return nil
	}
	if _, _, refusal := w.decide(req); refusal != nil {
		return RefusalError(refusal.Code, refusal.Reason)
	}
	return nil
}

// facts is what the lifecycle rules need to know about the invoice now.
func (w *invoiceWorkflow) facts() invoice.Facts {
	return invoice.Facts{Status: w.Status, VendorID: w.Order.VendorID, BuyerID: w.Order.BuyerID, UpdatePending: w.UpdatePending}
}

func reusedKey(key string, prior invoice.Action) string {
	return fmt.Sprintf("idempotency_key %q was already used for %s", key, prior)
}

// decide applies the lifecycle table to req and, for a vendor update, checks the revised order.
func (w *invoiceWorkflow) decide(req invoice.ActionRequest) (invoice.Status, invoice.Order, *invoice.Refusal) {
	to, err := invoice.Decide(w.facts(), req)
	var refusal *invoice.Refusal
	if errors.As(err, &refusal) {
		return w.Status, w.Order, refusal
	}
	revised := w.Order
	if req.Action == invoice.ActionVendorUpdate {
		if revised, err = req.Update.Revise(w.Order); err != nil {
			return w.Status, w.Order, &invoice.Refusal{Code: invoice.RefusedInvalid, Reason: err.Error()}
		}
	}
	return to, revised, nil
}

// create checks eligibility, stores the PDF and creates the AP invoice. done is true when the
// workflow ends here (not eligible, or the order's content was refused).
func (w *invoiceWorkflow) create(ctx workflow.Context) (Result, bool, error) {
	o := w.Order
	if err := workflow.UpsertTypedSearchAttributes(ctx, AttrVendor.ValueSet(o.VendorID),
		AttrBuyer.ValueSet(o.BuyerID), AttrPONumber.ValueSet(o.PONumber),
		AttrInvoiceNumber.ValueSet(o.InvoiceNumber)); err != nil {
		return Result{}, true, err
	}
	workflow.SetCurrentDetails(ctx, "Checking the K2K connection and both companies' settings.")

	var eligibility invoice.Eligibility
	if err := workflow.ExecuteActivity(summarized(ctx, "check the K2K connection and both settings of "+o.VendorID+" → "+o.BuyerID), acts.VerifyEligibility,
		activities.EligibilityInput{VendorID: o.VendorID, BuyerID: o.BuyerID}).Get(ctx, &eligibility); err != nil {
		return Result{}, true, err
	}
	if !eligibility.Eligible {
		r, err := w.finishWithout(ctx, OutcomeNotEligible, invoice.EventNotEligible, string(eligibility.Reason), eligibility.Detail)
		return r, true, err
	}

	var doc invoice.Document
	if err := workflow.ExecuteActivity(summarized(ctx, "store the PDF of revision 1"), acts.StorePDF, activities.StorePDFInput{
		Order: o, Revision: 1, StagingKey: w.StagingKey, RenderedAt: workflow.Now(ctx),
	}).Get(ctx, &doc); err != nil {
		r, err := w.rejectOr(ctx, err)
		return r, true, err
	}
	created := w.event(ctx, invoice.EventInvoiceCreated)
	created.To, created.Revision = invoice.StatusAP, 1
	if err := workflow.ExecuteActivity(summarized(ctx, "create AP invoice "+o.InvoiceNumber), acts.CreateAPInvoice, activities.CreateInvoiceInput{
		WorkflowID: w.WorkflowID, Order: o, Document: doc, Event: created,
	}).Get(ctx, &w.InvoiceID); err != nil {
		r, err := w.rejectOr(ctx, err)
		return r, true, err
	}
	w.Revision, w.Document = 1, doc
	count(ctx, metrics.Orders, map[string]string{"outcome": "invoice_created"})
	w.Revisions = append(w.Revisions, Revision{Revision: 1, InvoiceNumber: o.InvoiceNumber, Currency: o.Currency,
		TotalMinor: o.TotalMinor, Document: doc, At: created.OccurredAt})
	return Result{}, false, w.enter(ctx, invoice.StatusAP, created.OccurredAt)
}

// followUntilPaid handles actions one at a time, in arrival order, and reminds people of an
// invoice that waits too long, until the invoice is paid. It continues as new when the history
// grows long, handing over the whole state.
func (w *invoiceWorkflow) followUntilPaid(ctx workflow.Context) (Result, error) {
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
	w.Outcome = OutcomePaid
	count(ctx, metrics.Paid, nil)
	if err := workflow.UpsertTypedSearchAttributes(ctx, AttrOutcome.ValueSet(string(OutcomePaid))); err != nil {
		return Result{}, err
	}
	return Result{Outcome: OutcomePaid, InvoiceID: w.InvoiceID, Status: w.Status}, nil
}

// awaitInbox waits for an action, or for continue-as-new to be due; ready is false when the
// next reminder fell due first.
func (w *invoiceWorkflow) awaitInbox(ctx workflow.Context) (bool, error) {
	wake := func() bool {
		return len(w.Inbox) > 0 || w.continueAsNewDue(ctx) || len(w.unknownSignals(ctx)) > 0
	}
	due, ok := w.nextReminder()
	if !ok {
		return true, workflow.Await(ctx, wake)
	}
	wait := due.Sub(workflow.Now(ctx))
	if wait <= 0 {
		return wake(), nil
	}
	return workflow.AwaitWithOptions(ctx, workflow.AwaitOptions{Timeout: wait, TimerOptions: workflow.TimerOptions{
		Summary: fmt.Sprintf("reminder %d of %d if still in %s", w.RemindersSent+1, w.Reminders.Max, w.Status)}}, wake)
}

// nextReminder is when the next reminder of this stay falls due, if one does.
func (w *invoiceWorkflow) nextReminder() (time.Time, bool) {
	after := w.Reminders.after(w.Status)
	if after <= 0 || w.RemindersSent >= w.Reminders.Max {
		return time.Time{}, false
	}
	return w.StatusSince.Add(after * time.Duration(w.RemindersSent+1)), true
}

// remind records a reminder event and notifies the hook, without changing the status.
func (w *invoiceWorkflow) remind(ctx workflow.Context) error {
	w.RemindersSent++
	count(ctx, metrics.Reminders, map[string]string{"status": string(w.Status)})
	e := w.event(ctx, invoice.EventReminder)
	e.From, e.To, e.Code = w.Status, w.Status, "waiting_in_"+string(w.Status)
	e.Reason = fmt.Sprintf("in %s (%s) since %s, waiting for %s; reminder %d of %d", w.Status, w.Status.Label(),
		w.StatusSince.UTC().Format(time.RFC3339), w.waitingFor(), w.RemindersSent, w.Reminders.Max)
	if err := workflow.ExecuteActivity(summarized(ctx, e.Summary()), acts.RecordEvent, e).Get(ctx, nil); err != nil {
		return err
	}
	note := activities.Notification{EventKey: e.Key, Kind: string(e.Kind), WorkflowID: w.WorkflowID,
		VendorID: w.Order.VendorID, BuyerID: w.Order.BuyerID, PONumber: w.Order.PONumber,
		InvoiceNumber: w.Order.InvoiceNumber, Status: w.Status, WaitingFor: w.waitingFor(), Since: w.StatusSince,
		Reminder: w.RemindersSent}
	w.notifying++
	workflow.Go(ctx, func(ctx workflow.Context) {
		defer func() { w.notifying-- }()
		ctx = workflow.WithActivityOptions(ctx, notifyOptions)
		if err := workflow.ExecuteActivity(summarized(ctx, "notify: "+e.Reason), acts.Notify, note).Get(ctx, nil); err != nil {
			workflow.GetLogger(ctx).Warn("reminder notification not delivered", "event_key", note.EventKey, "error", err)
		}
	})
	workflow.SetCurrentDetails(ctx, w.details())
	return nil
}

// continueAsNewDue reports whether this run should hand over to a new one: the server suggests
// it, or the history reached the configured limit, and this run has made progress.
func (w *invoiceWorkflow) continueAsNewDue(ctx workflow.Context) bool {
	info := workflow.GetInfo(ctx)
	limit := w.ContinueAsNewAfterEvents
	return w.actedThisRun > 0 && (info.GetContinueAsNewSuggested() || (limit > 0 && info.GetCurrentHistoryLength() >= limit))
}

// settle answers every action queued or still arriving, and waits until every update handler has
// returned its answer and every notification is delivered (or given up), so the run can end (or
// continue as new) with nothing in flight.
func (w *invoiceWorkflow) settle(ctx workflow.Context) error {
	idle := func() bool { return workflow.AllHandlersFinished(ctx) && w.notifying == 0 }
	for {
		if err := yield(ctx); err != nil {
			return err
		}
		if err := w.drain(ctx); err != nil {
			return err
		}
		if idle() {
			return nil
		}
		if err := workflow.Await(ctx, func() bool { return len(w.Inbox) > 0 || len(w.unknownSignals(ctx)) > 0 || idle() }); err != nil {
			return err
		}
	}
}

// yield lets every other coroutine of the workflow run before this one goes on. The SDK hands a
// signal straight to a listener blocked in Receive, so it is in no channel buffer for drain to
// find until that listener has run and moved it into the inbox; without yielding, a run could
// end or continue as new with that signal still in the listener's hands.
func yield(ctx workflow.Context) error {
	done := false
	workflow.Go(ctx, func(workflow.Context) { done = true })
	return workflow.Await(ctx, func() bool { return done })
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

// listen moves every signal into the inbox as soon as it arrives, one goroutine per channel, so
// the inbox keeps arrival order even while the workflow is busy with an activity (a selector over
// several buffered channels would pick by channel, not by arrival).
func (w *invoiceWorkflow) listen(ctx workflow.Context) {
	for _, m := range messages {
		ch := workflow.GetSignalChannel(ctx, m.name)
		workflow.Go(ctx, func(ctx workflow.Context) {
			for {
				var raw converter.RawValue
				ch.Receive(ctx, &raw)
				w.Inbox = append(w.Inbox, arrive(raw, m.name, m.action))
			}
		})
	}
}

// actNext handles the oldest action in the inbox; one refused at arrival is refused now.
func (w *invoiceWorkflow) actNext(ctx workflow.Context) error {
	item := w.Inbox[0]
	w.Inbox = w.Inbox[1:]
	w.actedThisRun++
	w.applying = &item
	defer func() { w.applying = nil }()
	if item.Malformed != nil {
		return w.refuse(ctx, item.ActionRequest, item.Malformed)
	}
	return w.act(ctx, item.ActionRequest)
}

// drain answers every action left before the workflow ends or continues as new: those in the
// inbox, those that arrive while it works (the listeners move them in), and signals under
// unknown names. settle yields before it, so the listeners have emptied their channels.
func (w *invoiceWorkflow) drain(ctx workflow.Context) error {
	for w.collectUnknown(ctx); len(w.Inbox) > 0; w.collectUnknown(ctx) {
		if err := w.actNext(ctx); err != nil {
			return err
		}
	}
	return nil
}

// withMessageAction sets the action a message's name stands for. A payload naming another action
// is kept as it is, so Decide refuses the mismatch instead of guessing.
func withMessageAction(req invoice.ActionRequest, a invoice.Action) invoice.ActionRequest {
	if req.Action == "" {
		req.Action = a
	} else if req.Action != a {
		req.Action = invoice.Action(fmt.Sprintf("%s (sent as %s)", req.Action, a))
	}
	return req
}

// act decides one action and records the answer: an accepted action changes the invoice, a
// refusal leaves it as it is; both leave an audit row. A key already answered is not applied again.
func (w *invoiceWorkflow) act(ctx workflow.Context, req invoice.ActionRequest) error {
	prior, seen := w.Answers[req.IdempotencyKey]
	if seen && prior.Action == req.Action {
		workflow.GetLogger(ctx).Info("action already answered", "idempotency_key", req.IdempotencyKey, "accepted", prior.Accepted)
		return nil
	}
	if seen {
		return w.refuse(ctx, req, &invoice.Refusal{Code: invoice.RefusedInvalid, Reason: reusedKey(req.IdempotencyKey, prior.Action)})
	}
	to, revised, refusal := w.decide(req)
	switch {
	case refusal != nil:
		return w.refuse(ctx, req, refusal)
	case req.Action == invoice.ActionVendorUpdate:
		return w.revise(ctx, req, revised)
	}
	pending := w.UpdatePending && req.Action != invoice.ActionAcknowledgeUpdate
	e := w.event(ctx, invoice.EventTransition)
	e.Action, e.Actor, e.From, e.To, e.Reason, e.UpdatePending = req.Action, req.Actor, w.Status, to, req.Reason, pending
	if req.Action == invoice.ActionMarkPaid {
		e.Reason = strings.TrimSuffix(fmt.Sprintf("paid on %s, payment reference %s; %s", req.PaymentDate, req.PaymentReference, req.Reason), "; ")
	}
	err := workflow.ExecuteActivity(summarized(ctx, e.Summary()), acts.RecordEvent, e).Get(ctx, nil)
	if refusal := refusalOf(err); refusal != nil {
		return w.refuse(ctx, req, refusal)
	} else if err != nil {
		return err
	}
	w.UpdatePending = pending
	return w.accept(ctx, req, e)
}

// revise stores a vendor update as a new revision: its PDF next to the earlier ones, the revised
// invoice back in AP with the warning set. A bad PDF or an invoice number already taken is a
// refusal; the invoice is unchanged.
func (w *invoiceWorkflow) revise(ctx workflow.Context, req invoice.ActionRequest, revised invoice.Order) error {
	next := w.Revision + 1
	var doc invoice.Document
	err := workflow.ExecuteActivity(summarized(ctx, fmt.Sprintf("store the PDF of revision %d", next)), acts.StorePDF, activities.StorePDFInput{
		Order: revised, Revision: next, StagingKey: req.Update.StagingKey, RenderedAt: workflow.Now(ctx),
	}).Get(ctx, &doc)
	if refusal := refusalOf(err); refusal != nil {
		return w.refuse(ctx, req, refusal)
	} else if err != nil {
		return err
	}
	e := w.event(ctx, invoice.EventTransition)
	e.Action, e.Actor, e.From, e.To, e.Reason = req.Action, req.Actor, w.Status, invoice.StatusAP, req.Reason
	e.UpdatePending, e.Revision = true, next
	err = workflow.ExecuteActivity(summarized(ctx, fmt.Sprintf("store revision %d (%s)", next, revised.InvoiceNumber)), acts.ReviseInvoice, activities.ReviseInput{
		InvoiceID: w.InvoiceID, Revision: next, Order: revised, Document: doc, Event: e,
	}).Get(ctx, nil)
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
	return w.enter(ctx, e.To, e.OccurredAt)
}

// refuse records a refusal: an audit row and the answer; the invoice stays as it is.
func (w *invoiceWorkflow) refuse(ctx workflow.Context, req invoice.ActionRequest, r *invoice.Refusal) error {
	e := w.event(ctx, invoice.EventRefused)
	e.Action, e.Actor, e.From, e.To, e.Code, e.Reason = req.Action, req.Actor, w.Status, w.Status, string(r.Code), r.Reason
	e.UpdatePending = w.UpdatePending
	err := workflow.ExecuteActivity(summarized(ctx, e.Summary()), acts.RecordEvent, e).Get(ctx, nil)
	if refusalOf(err) != nil {
		// The store escapes what a refused request held, so this is not expected; if it happens
		// the refusal is still answered, and ops see the failure in the log and the metric.
		count(ctx, metrics.AuditFailures, map[string]string{"action": string(req.Action)})
		workflow.GetLogger(ctx).Error("refusal could not be recorded", "action", req.Action, "event_key", e.Key, "error", err)
	} else if err != nil {
		return err
	}
	if _, seen := w.Answers[req.IdempotencyKey]; !seen {
		w.answer(req, Answer{Action: req.Action, Code: r.Code, Reason: r.Reason, Status: w.Status})
	}
	count(ctx, metrics.Refusals, map[string]string{"action": string(req.Action), "code": string(r.Code)})
	workflow.GetLogger(ctx).Info("action refused", "action", req.Action, "code", r.Code, "reason", r.Reason)
	return nil
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

// show keeps the ops view current: search attributes and the workflow's current details.
func (w *invoiceWorkflow) show(ctx workflow.Context) error {
	if err := workflow.UpsertTypedSearchAttributes(ctx, AttrStatus.ValueSet(string(w.Status)),
		AttrInvoiceNumber.ValueSet(w.Order.InvoiceNumber), AttrRevision.ValueSet(int64(w.Revision)),
		AttrUpdatePending.ValueSet(w.UpdatePending), AttrStatusSince.ValueSet(w.StatusSince)); err != nil {
		return err
	}
	workflow.SetCurrentDetails(ctx, w.details())
	return nil
}

// waitingFor says who the invoice waits for in its status.
func (w *invoiceWorkflow) waitingFor() string {
	if w.UpdatePending && !w.Status.Terminal() {
		return "the buyer to review the vendor's update"
	}
	switch w.Status {
	case invoice.StatusAP:
		return "buyer procurement to approve"
	case invoice.StatusAA:
		return "buyer accounting to approve payment"
	case invoice.StatusA:
		return "buyer accounting to mark it paid"
	}
	return "nothing"
}

// details is the workflow's current details in the Temporal UI (markdown).
func (w *invoiceWorkflow) details() string {
	o := w.Order
	warning := ""
	if w.UpdatePending {
		warning = "\n\n⚠ The vendor updated this invoice; the buyer has not reviewed the update yet."
	}
	return fmt.Sprintf("**%s** (%s) since %s%s\n\nInvoice %s, revision %d: %s (PO total %s)\n\nWaiting for %s.",
		w.Status, w.Status.Label(), w.StatusSince.UTC().Format(time.RFC3339), warning, o.InvoiceNumber, w.Revision,
		invoice.FormatMoney(o.TotalMinor, o.Currency), invoice.FormatMoney(o.POTotalMinor, o.Currency), w.waitingFor())
}

// count adds one to a business counter (the SDK records nothing while the workflow replays).
func count(ctx workflow.Context, name string, tags map[string]string) {
	workflow.GetMetricsHandler(ctx).WithTags(tags).Counter(name).Inc(1)
}

// summarized gives the next activity a one-line summary for the Temporal UI.
func summarized(ctx workflow.Context, summary string) workflow.Context {
	opts := workflow.GetActivityOptions(ctx)
	opts.Summary = summary
	return workflow.WithActivityOptions(ctx, opts)
}

// event starts an audit event of this workflow with the next deterministic key.
func (w *invoiceWorkflow) event(ctx workflow.Context, kind invoice.EventKind) invoice.Event {
	w.EventSeq++
	return invoice.Event{
		Key:           fmt.Sprintf("%s#%d", w.WorkflowID, w.EventSeq),
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
	if err := workflow.ExecuteActivity(summarized(ctx, e.Summary()), acts.RecordEvent, e).Get(ctx, nil); err != nil {
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

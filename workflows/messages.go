package workflows

// Messages: the update and signal handlers, the inbox that keeps arrival order, and settling
// every message before a run ends or continues as new.

import (
	"errors"
	"fmt"

	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/k2kinvoice/autoinvoice/internal/invoice"
	"github.com/k2kinvoice/autoinvoice/internal/metrics"
)

// registerHandlers registers the status query, the confirmation update and, for every action, an update whose validator
// refuses what Decide would refuse (refusals never enter history). An accepted update waits in
// the inbox like a signal, and returns the answer once the workflow has handled it.
func (w *invoiceWorkflow) registerHandlers(ctx workflow.Context) error {
	if err := workflow.SetQueryHandlerWithOptions(ctx, QueryStatus, func() (State, error) { return w.State, nil },
		workflow.QueryHandlerOptions{Description: QueryStatusDescription}); err != nil {
		return err
	}
	settled := func() bool { return w.Status != "" || w.Outcome != "" }
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateConfirmation, func(ctx workflow.Context) (State, error) {
		if err := workflow.Await(ctx, settled); err != nil {
			return State{}, err
		}
		return w.State, nil
	}, workflow.UpdateHandlerOptions{Description: UpdateConfirmationDescription}); err != nil {
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
			err := w.validate(arrive(raw, m.name, m.action))
			var refusal *temporal.ApplicationError
			if errors.As(err, &refusal) {
				// Counted here: a validator's refusal never reaches refuse, which counts the others.
				count(ctx, metrics.Refusals, map[string]string{"action": string(m.action), "code": refusal.Type()})
			}
			return err
		}
		if err := workflow.SetUpdateHandlerWithOptions(ctx, m.name, handler,
			workflow.UpdateHandlerOptions{Validator: validator, Description: invoice.Summary(m.action) + UpdateDescriptionSuffix}); err != nil {
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
// already answered, queued or being applied, for the same action, is accepted whatever the message
// holds: the handler returns that action's answer. A message that fails admission is refused next.
// While earlier actions wait in the inbox or are being applied the status is about to change, so
// only what does not depend on it is checked; the status rules then answer when the action's turn
// comes.
func (w *invoiceWorkflow) validate(item QueuedAction) error {
	req := item.ActionRequest
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
	if item.Malformed != nil {
		return RefusalError(item.Malformed.Code, item.Malformed.Reason)
	}
	// A validator may not record the keep-currency marker (keepsCurrency): runs older than the rule
	// are checked without it here, and their vendor update is decided under it in its turn.
	keepCurrency := w.shape >= shapeKeepsCurrency
	if len(pending) > 0 {
		var refusal *invoice.Refusal
		if err := invoice.Admissible(w.facts(), req); errors.As(err, &refusal) {
			return RefusalError(refusal.Code, refusal.Reason)
		}
		if req.Action == invoice.ActionVendorUpdate {
			if _, err := w.revised(req.Update, keepCurrency); err != nil {
				return RefusalError(invoice.RefusedInvalid, err.Error())
			}
		}
		return nil
	}
	if _, _, refusal := w.decide(req, keepCurrency); refusal != nil {
		return RefusalError(refusal.Code, refusal.Reason)
	}
	return nil
}

func reusedKey(key string, prior invoice.Action) string {
	return fmt.Sprintf("idempotency_key %q was already used for %s", key, prior)
}

// listen moves every signal into the inbox as soon as it arrives, so the inbox keeps arrival
// order even while the workflow is busy with an activity. On the current shape, with the worker's
// ArrivalOrder log, one goroutine takes the signals from their channels in the order they were
// delivered. Otherwise one goroutine per message name receives its channel (a selector over
// several buffered channels would pick by channel, not by arrival): each name's signals keep their
// order, and signals of different names delivered in the same workflow task are taken by name.
// Signals under unknown names are left in their channels for drain.
func (w *invoiceWorkflow) listen(ctx workflow.Context) {
	type channel struct {
		message
		workflow.ReceiveChannel
	}
	channels := make(map[string]channel, len(messages))
	for _, m := range messages {
		channels[m.name] = channel{m, workflow.GetSignalChannelWithOptions(ctx, m.name, workflow.SignalChannelOptions{
			Description: invoice.Summary(m.action) + SignalDescriptionSuffix})}
	}
	if log := arrivalLog(ctx); log != nil && w.shape >= shapeArrivalOrder {
		// Disconnected, as Receive is: a cancellation request must not stop the inbox.
		ctx, _ := workflow.NewDisconnectedContext(ctx)
		workflow.Go(ctx, func(ctx workflow.Context) {
			for workflow.Await(ctx, func() bool { return len(log.names) > 0 }) == nil {
				for _, name := range log.names {
					if c, known := channels[name]; known {
						var raw converter.RawValue
						c.ReceiveAsync(&raw)
						w.Inbox = append(w.Inbox, arrive(raw, c.name, c.action))
					}
				}
				log.names = log.names[:0]
			}
		})
		return
	}
	for _, m := range messages {
		c := channels[m.name]
		workflow.Go(ctx, func(ctx workflow.Context) {
			for {
				var raw converter.RawValue
				c.Receive(ctx, &raw)
				w.Inbox = append(w.Inbox, arrive(raw, c.name, c.action))
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
	return w.act(ctx, item)
}

// drain answers every action left before the workflow ends or continues as new: those in the
// inbox, those that arrive while it works (moved in by listen), and signals under unknown names.
func (w *invoiceWorkflow) drain(ctx workflow.Context) error {
	for w.collectUnknown(ctx); len(w.Inbox) > 0; w.collectUnknown(ctx) {
		if err := w.actNext(ctx); err != nil {
			return err
		}
	}
	return nil
}

// settle answers every action queued or still arriving, and waits until every update handler has
// returned its answer and every notification is delivered (or given up), so the run can end (or
// continue as new) with nothing in flight. It decides that nothing is left only right after a
// yield: a signal delivered in the workflow task that ended drain's last step is moved into the
// inbox by listen's goroutines, which run after this one.
func (w *invoiceWorkflow) settle(ctx workflow.Context) error {
	idle := func() bool { return workflow.AllHandlersFinished(ctx) && w.notifying == 0 }
	for {
		if err := yield(ctx); err != nil {
			return err
		}
		w.collectUnknown(ctx)
		if len(w.Inbox) == 0 && idle() {
			return nil
		}
		if err := w.drain(ctx); err != nil {
			return err
		}
		if err := workflow.Await(ctx, func() bool { return len(w.Inbox) > 0 || len(w.unknownSignals(ctx)) > 0 || idle() }); err != nil {
			return err
		}
	}
}

// yield lets every other coroutine of the workflow run before this one goes on. A signal is in
// the inbox only once listen's goroutines have run: the SDK hands it straight to a listener
// blocked in Receive, or the ArrivalOrder log names it; without yielding, a run could end or
// continue as new with that signal not yet moved in.
func yield(ctx workflow.Context) error {
	done := false
	workflow.Go(ctx, func(workflow.Context) { done = true })
	return workflow.Await(ctx, func() bool { return done })
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

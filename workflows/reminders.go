package workflows

// Reminders: durable timers for an invoice that waits too long in its status.

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/k2kinvoice/autoinvoice/activities"
	"github.com/k2kinvoice/autoinvoice/internal/invoice"
	"github.com/k2kinvoice/autoinvoice/internal/metrics"
)

// awaitInbox waits for an action, or for continue-as-new to be due; ready is false when the
// next reminder fell due first.
func (w *invoiceWorkflow) awaitInbox(ctx workflow.Context) (bool, error) {
	wake := func() bool {
		return len(w.Inbox) > 0 || w.continueAsNewDue(ctx) || len(w.unknownSignals(ctx)) > 0
	}
	due, ok := w.nextReminder()
	if w.shape >= shapeLocalSteps {
		return w.awaitInboxOrReminder(ctx, wake, due, ok)
	}
	if !ok {
		return true, workflow.Await(ctx, wake)
	}
	wait := due.Sub(workflow.Now(ctx))
	if wait <= 0 {
		return wake(), nil
	}
	// The SDK leaves this timer running once wake holds: it fires later, for nothing.
	return workflow.AwaitWithOptions(ctx, workflow.AwaitOptions{Timeout: wait, TimerOptions: w.reminderTimerOptions()}, wake)
}

// reminderTimer is the timer of the next reminder of the current stay.
type reminderTimer struct {
	due    time.Time
	fired  workflow.Future
	cancel workflow.CancelFunc
}

// awaitInboxOrReminder is awaitInbox with one reminder timer at a time: started when a stay's next
// reminder is known, kept while the invoice waits for it, and cancelled as soon as the stay it
// belongs to ends, so it never fires for nothing. A run that ends leaves it: the server drops it.
func (w *invoiceWorkflow) awaitInboxOrReminder(ctx workflow.Context, wake func() bool, due time.Time, ok bool) (bool, error) {
	if w.reminder != nil && (!ok || !w.reminder.due.Equal(due)) {
		w.reminder.cancel()
		w.reminder = nil
	}
	if !ok {
		return true, workflow.Await(ctx, wake)
	}
	wait := due.Sub(workflow.Now(ctx))
	if wait <= 0 {
		return wake(), nil
	}
	if w.reminder == nil {
		tctx, cancel := workflow.WithCancel(ctx)
		w.reminder = &reminderTimer{due: due, cancel: cancel,
			fired: workflow.NewTimerWithOptions(tctx, wait, w.reminderTimerOptions())}
	}
	fired := w.reminder.fired
	if err := workflow.Await(ctx, func() bool { return wake() || fired.IsReady() }); err != nil {
		return false, err
	}
	if wake() {
		return true, nil
	}
	w.reminder = nil
	return false, nil
}

// reminderTimerOptions name the reminder timer in the Temporal UI.
func (w *invoiceWorkflow) reminderTimerOptions() workflow.TimerOptions {
	return workflow.TimerOptions{Summary: fmt.Sprintf("reminder %d of %d if still in %s", w.RemindersSent+1, w.Reminders.Max, w.Status)}
}

// nextReminder is when the next reminder of this stay falls due, if one does.
func (w *invoiceWorkflow) nextReminder() (time.Time, bool) {
	after := w.Reminders.after(w.Status)
	if after <= 0 || w.RemindersSent >= w.Reminders.Max {
		return time.Time{}, false
	}
	return w.StatusSince.Add(after * time.Duration(w.RemindersSent+1)), true
}

// remind records a reminder event, without changing the status. Its audit row carries whom the
// invoice waits for; written with the row, its webhook messages tell the companies.
func (w *invoiceWorkflow) remind(ctx workflow.Context) error {
	w.RemindersSent++
	count(ctx, metrics.Reminders, map[string]string{"status": string(w.Status)})
	e := w.event(ctx, invoice.EventReminder)
	e.From, e.To, e.Code = w.Status, w.Status, "waiting_in_"+string(w.Status)
	e.Reason = fmt.Sprintf("in %s (%s) since %s, waiting for %s; reminder %d of %d", w.Status, w.Status.Label(),
		w.StatusSince.UTC().Format(time.RFC3339), w.waitingFor(), w.RemindersSent, w.Reminders.Max)
	e.WaitingOn, e.Reminder = invoice.PartyBuyer, w.RemindersSent
	if w.Status == invoice.StatusD {
		e.WaitingOn = invoice.PartyVendor
	}
	if err := w.step(ctx, e.Summary(), acts.RecordEvent, e, nil); err != nil {
		return err
	}
	if w.shape < shapeWebhooks {
		w.notify(ctx, e)
	}
	workflow.SetCurrentDetails(ctx, w.details())
	return nil
}

// notify runs the retired Notify activity for reminder e, as runs older than shapeWebhooks did,
// so that their histories replay; it does not wait for it.
func (w *invoiceWorkflow) notify(ctx workflow.Context, e invoice.Event) {
	note := activities.Notification{EventKey: e.Key, Kind: string(e.Kind), WorkflowID: w.WorkflowID,
		VendorID: w.Order.VendorID, BuyerID: w.Order.BuyerID, PONumber: w.Order.PONumber,
		InvoiceNumber: w.Order.InvoiceNumber, Status: w.Status, WaitingFor: w.waitingFor(), WaitingOn: e.WaitingOn,
		Since: w.StatusSince, Reminder: e.Reminder}
	w.notifying++
	workflow.Go(ctx, func(ctx workflow.Context) {
		defer func() { w.notifying-- }()
		ctx = workflow.WithActivityOptions(ctx, notifyOptions)
		if err := workflow.ExecuteActivity(summarized(ctx, "notify: "+e.Reason), acts.Notify, note).Get(ctx, nil); err != nil {
			workflow.GetLogger(ctx).Warn("reminder notification not delivered", "event_key", note.EventKey, "error", err)
		}
	})
}

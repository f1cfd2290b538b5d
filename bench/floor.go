package main

// The floor workflows: no-op workflows with the invoice workflow's shape on the server, so that
// what an invoice costs can be told apart from what its shape costs. floorOld issues the commands
// of the workflow before the change "local-steps" (activities, an upsert after each status change,
// a reminder timer per stay that is never cancelled); floorNew those of the current one (the
// GetVersion marker, local activities, the same upserts, one reminder timer per stay, cancelled
// when the stay ends, and the confirmation update). Their steps return at once.

import (
	"context"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/k2kinvoice/autoinvoice/internal/invoice"
	"github.com/k2kinvoice/autoinvoice/workflows"
)

// The floor worker's task queue and workflow types.
const (
	floorTaskQueue = "k2k-bench-floor"
	floorOldType   = "K2KBenchFloorOld"
	floorNewType   = "K2KBenchFloorNew"
)

// floorSteps are the invoice workflow's steps, named as its activities are, doing nothing.
type floorSteps struct{}

// floorStep is what a floor step takes and returns: a name, so that the payloads are not empty.
type floorStep struct {
	Name string `json:"name"`
}

// VerifyEligibility, StorePDF, CreateAPInvoice and RecordEvent return at once.
func (*floorSteps) VerifyEligibility(_ context.Context, s floorStep) (floorStep, error) {
	return s, nil
}

func (*floorSteps) StorePDF(_ context.Context, s floorStep) (floorStep, error) { return s, nil }

func (*floorSteps) CreateAPInvoice(_ context.Context, s floorStep) (floorStep, error) { return s, nil }

func (*floorSteps) RecordEvent(_ context.Context, s floorStep) (floorStep, error) { return s, nil }

// steps refers to the floor steps by method, as the invoice workflow refers to its activities.
var steps *floorSteps

// floorState is what the floor's status query answers.
type floorState struct {
	Status  invoice.Status              `json:"status,omitempty"`
	Since   time.Time                   `json:"status_since"`
	Answers map[string]workflows.Answer `json:"answers"`
}

// floorMove is one action of the happy path and the status it leads to.
type floorMove struct {
	action   invoice.Action
	from, to invoice.Status
}

// floorMoves are the actions the bench sends, in order.
var floorMoves = []floorMove{
	{invoice.ActionApprove, invoice.StatusAP, invoice.StatusAA},
	{invoice.ActionApprovePayment, invoice.StatusAA, invoice.StatusA},
	{invoice.ActionMarkPaid, invoice.StatusA, invoice.StatusP},
}

// floor is a running floor workflow.
type floor struct {
	order invoice.Order
	state floorState
	inbox []floorMove
	keys  []string // the idempotency key of each action in the inbox
	// run is one step: an activity on the old shape, a local activity on the new one.
	run func(ctx workflow.Context, step any, name string) error
	// outcomeWithP sets the outcome in the same upsert as status P (the new shape), not after it.
	outcomeWithP bool
}

// floorOld has the shape of the invoice workflow before the change "local-steps".
func floorOld(ctx workflow.Context, o invoice.Order) (workflows.Outcome, error) {
	f := &floor{order: o, run: func(ctx workflow.Context, step any, name string) error {
		ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: time.Minute,
			Summary: name, RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, MaximumInterval: time.Minute}})
		return workflow.ExecuteActivity(ctx, step, floorStep{Name: name}).Get(ctx, nil)
	}}
	if err := f.register(ctx); err != nil {
		return "", err
	}
	// The old workflow set the search attributes ops find it by itself.
	if err := workflow.UpsertTypedSearchAttributes(ctx, workflows.AttrVendor.ValueSet(o.VendorID),
		workflows.AttrBuyer.ValueSet(o.BuyerID), workflows.AttrPONumber.ValueSet(o.PONumber),
		workflows.AttrInvoiceNumber.ValueSet(o.InvoiceNumber)); err != nil {
		return "", err
	}
	if err := f.create(ctx); err != nil {
		return "", err
	}
	for reminders := 0; f.state.Status != invoice.StatusP; {
		wait := f.state.Since.Add(reminderAfter(f.state.Status) * time.Duration(reminders+1)).Sub(workflow.Now(ctx))
		// A new timer at every turn of the loop, left running once an action arrives.
		acted, err := workflow.AwaitWithOptions(ctx, workflow.AwaitOptions{Timeout: wait,
			TimerOptions: workflow.TimerOptions{Summary: "reminder if still in " + string(f.state.Status)}},
			func() bool { return len(f.inbox) > 0 })
		if err != nil {
			return "", err
		}
		if !acted {
			reminders++
			continue
		}
		reminders = 0
		if err := f.actNext(ctx); err != nil {
			return "", err
		}
	}
	return f.paid(ctx)
}

// floorNew has the shape of the current invoice workflow.
func floorNew(ctx workflow.Context, o invoice.Order) (workflows.Outcome, error) {
	f := &floor{order: o, outcomeWithP: true, run: func(ctx workflow.Context, step any, name string) error {
		ctx = workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{ScheduleToCloseTimeout: 5 * time.Second,
			StartToCloseTimeout: 2 * time.Second, Summary: name})
		return workflow.ExecuteLocalActivity(ctx, step, floorStep{Name: name}).Get(ctx, nil)
	}}
	workflow.GetVersion(ctx, "local-steps", workflow.DefaultVersion, 3)
	if err := f.register(ctx); err != nil {
		return "", err
	}
	if err := workflow.SetUpdateHandler(ctx, workflows.UpdateConfirmation, func(ctx workflow.Context) (floorState, error) {
		err := workflow.Await(ctx, func() bool { return f.state.Status != "" })
		return f.state, err
	}); err != nil {
		return "", err
	}
	// The search attributes ops find it by were set at the start, as invoiceclient does.
	if err := f.create(ctx); err != nil {
		return "", err
	}
	var timer workflow.Future
	var cancelTimer workflow.CancelFunc
	var timerStatus invoice.Status
	for f.state.Status != invoice.StatusP {
		if timer != nil && timerStatus != f.state.Status {
			cancelTimer() // the stay it belonged to has ended
			timer = nil
		}
		if timer == nil {
			tctx, cancel := workflow.WithCancel(ctx)
			wait := f.state.Since.Add(reminderAfter(f.state.Status)).Sub(workflow.Now(ctx))
			timer, cancelTimer, timerStatus = workflow.NewTimerWithOptions(tctx, wait,
				workflow.TimerOptions{Summary: "reminder if still in " + string(f.state.Status)}), cancel, f.state.Status
		}
		fired := timer
		if err := workflow.Await(ctx, func() bool { return len(f.inbox) > 0 || fired.IsReady() }); err != nil {
			return "", err
		}
		if len(f.inbox) == 0 {
			timer = nil // a reminder would be sent here
			continue
		}
		if err := f.actNext(ctx); err != nil {
			return "", err
		}
	}
	return f.paid(ctx)
}

// reminderAfter is the default wait before a reminder in status s.
func reminderAfter(s invoice.Status) time.Duration {
	switch s {
	case invoice.StatusAA:
		return workflows.DefaultReminders.AA
	case invoice.StatusA:
		return workflows.DefaultReminders.A
	}
	return workflows.DefaultReminders.AP
}

// register sets the status query and one update per action of the happy path: accepted when the
// key is new, answered once the workflow has applied it.
func (f *floor) register(ctx workflow.Context) error {
	f.state.Answers = map[string]workflows.Answer{}
	if err := workflow.SetQueryHandler(ctx, workflows.QueryStatus, func() (floorState, error) { return f.state, nil }); err != nil {
		return err
	}
	for _, m := range floorMoves {
		name, err := workflows.SignalFor(m.action)
		if err != nil {
			return err
		}
		handler := func(ctx workflow.Context, req invoice.ActionRequest) (workflows.Answer, error) {
			f.inbox, f.keys = append(f.inbox, m), append(f.keys, req.IdempotencyKey)
			err := workflow.Await(ctx, func() bool { _, ok := f.state.Answers[req.IdempotencyKey]; return ok })
			return f.state.Answers[req.IdempotencyKey], err
		}
		validator := func(_ workflow.Context, req invoice.ActionRequest) error {
			if req.Action != m.action || req.IdempotencyKey == "" {
				return workflows.RefusalError(invoice.RefusedInvalid, "not an action of the floor's happy path")
			}
			return nil
		}
		if err := workflow.SetUpdateHandlerWithOptions(ctx, name, handler, workflow.UpdateHandlerOptions{Validator: validator}); err != nil {
			return err
		}
	}
	return nil
}

// create takes the three steps of a confirmation and enters AP.
func (f *floor) create(ctx workflow.Context) error {
	for _, s := range []struct {
		step any
		name string
	}{{steps.VerifyEligibility, "check eligibility"}, {steps.StorePDF, "store the PDF"}, {steps.CreateAPInvoice, "create the AP invoice"}} {
		if err := f.run(ctx, s.step, s.name); err != nil {
			return err
		}
	}
	return f.enter(ctx, invoice.StatusAP)
}

// actNext applies the oldest action in the inbox: its audit step, its answer, its new status.
func (f *floor) actNext(ctx workflow.Context) error {
	m, key := f.inbox[0], f.keys[0]
	f.inbox, f.keys = f.inbox[1:], f.keys[1:]
	if err := f.run(ctx, steps.RecordEvent, "record "+string(m.action)); err != nil {
		return err
	}
	f.state.Answers[key] = workflows.Answer{Action: m.action, Accepted: true, Status: m.to}
	return f.enter(ctx, m.to)
}

// enter moves to status s and shows it in the search attributes, as the invoice workflow does.
func (f *floor) enter(ctx workflow.Context, s invoice.Status) error {
	f.state.Status, f.state.Since = s, workflow.Now(ctx)
	attrs := []temporal.SearchAttributeUpdate{workflows.AttrStatus.ValueSet(string(s)),
		workflows.AttrInvoiceNumber.ValueSet(f.order.InvoiceNumber), workflows.AttrRevision.ValueSet(1),
		workflows.AttrUpdatePending.ValueSet(false), workflows.AttrStatusSince.ValueSet(f.state.Since)}
	if f.outcomeWithP && s == invoice.StatusP {
		attrs = append(attrs, workflows.AttrOutcome.ValueSet(string(workflows.OutcomePaid)))
	}
	return workflow.UpsertTypedSearchAttributes(ctx, attrs...)
}

// paid lets every update handler answer, then records the outcome.
func (f *floor) paid(ctx workflow.Context) (workflows.Outcome, error) {
	if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
		return "", err
	}
	if !f.outcomeWithP {
		if err := workflow.UpsertTypedSearchAttributes(ctx, workflows.AttrOutcome.ValueSet(string(workflows.OutcomePaid))); err != nil {
			return "", err
		}
	}
	return workflows.OutcomePaid, nil
}

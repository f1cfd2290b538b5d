// Package invoiceclient is what ERP backends and ops tools use to drive invoices: confirm an
// order (validated, companies checked, vendor PDF staged in S3, workflow started exactly once),
// send a buyer action, and read an invoice's state. The starter CLI is a thin shell around it.
package invoiceclient

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"sync"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/k2kinvoice/autoinvoice/internal/blob"
	"github.com/k2kinvoice/autoinvoice/internal/invoice"
	"github.com/k2kinvoice/autoinvoice/internal/pdf"
	"github.com/k2kinvoice/autoinvoice/internal/store"
	"github.com/k2kinvoice/autoinvoice/workflows"
)

// Client drives invoice workflows.
type Client struct {
	Temporal    client.Client
	Store       *store.Store
	Blobs       *blob.Store
	MaxPDFBytes int64
	// Reminders go into every workflow this client starts.
	Reminders workflows.ReminderPolicy

	slotsOnce sync.Once
	slots     []chan struct{}
}

// MaxUpdatesInFlight bounds the updates one client has in flight per invoice. The Temporal
// server refuses more than 10 updates in flight per workflow (history.maxInFlightUpdates), and
// a burst past that was seen to stall a workflow for a minute; callers beyond the bound wait.
const MaxUpdatesInFlight = 8

// updateSlot waits for room to send one more update to a workflow, and returns its release.
// Workflows share 256 slot sets by hash, so memory stays bounded however many invoices there are.
func (c *Client) updateSlot(ctx context.Context, workflowID string) (func(), error) {
	c.slotsOnce.Do(func() {
		c.slots = make([]chan struct{}, 256)
		for i := range c.slots {
			c.slots[i] = make(chan struct{}, MaxUpdatesInFlight)
		}
	})
	h := fnv.New32a()
	_, _ = h.Write([]byte(workflowID))
	slot := c.slots[h.Sum32()%uint32(len(c.slots))]
	select {
	case slot <- struct{}{}:
		return func() { <-slot }, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting to send an update to %s: %w", workflowID, ctx.Err())
	}
}

// Confirmation identifies the workflow of a confirmed order and, when Confirm waited for it,
// the invoice's state.
type Confirmation struct {
	WorkflowID string
	// RunID is the run the confirmation found or started; empty when it is not known (the
	// workflow had not answered within the wait, or the start was a duplicate of a closed run).
	RunID string
	// State is the invoice's state once the order was an AP invoice or ended without one; nil when
	// Confirm did not wait, or the workflow had not answered within the wait (it goes on).
	State *workflows.State
}

// Confirm starts the workflow of a confirmed order, or finds the one already there: the workflow
// ID derives from the order's business key, a running workflow is reused and a closed one is
// not started again, so a re-delivered confirmation never makes a second invoice. The one
// exception is a voided invoice: a confirmation with a new invoice number starts the order's
// workflow again, as its next confirmation (workflows.State.NextConfirmation).
//
// With wait > 0 Confirm also waits, at most that long, for the workflow's answer: the start and
// the workflow's confirmation update go in one call (update-with-start), so the answer arrives as
// soon as the invoice is in AP, without polling. A closed workflow is answered from its state; a
// worker too old to know the update is polled.
//
// stagingKey is where the vendor's own PDF waits (StagePDF staged and checked it), empty when the
// invoice's PDF is to be rendered. Bad input is refused before anything is started, with a
// *invoice.ValidationError naming each field and rule: the order's own rules, unknown companies,
// and a staging key that names no staged upload.
func (c *Client) Confirm(ctx context.Context, o invoice.Order, stagingKey string, wait time.Duration) (Confirmation, error) {
	if err := c.check(ctx, o, stagingKey); err != nil {
		return Confirmation{}, err
	}
	in := workflows.ConfirmOrder{Order: o, Reminders: c.Reminders, StagingKey: stagingKey, SearchAttributesSet: true}
	opts := StartOptions(o)
	conf, closed, err := c.start(ctx, opts, in, wait)
	if err != nil || closed == nil {
		return conf, err
	}
	next, again := closed.NextConfirmation(o)
	if !again {
		conf.State = closed
		return conf, nil
	}
	// A closed run found here again was started and closed by a concurrent confirmation
	// meanwhile: it answers this one.
	in.Confirmation = next
	opts.WorkflowIDReusePolicy = enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE
	conf, closed, err = c.start(ctx, opts, in, wait)
	if closed != nil {
		conf.State = closed
	}
	return conf, err
}

// start starts the workflow (or finds it running) and, with wait > 0, waits for its answer.
// closed is the state of a closed run under the workflow ID, which opts did not allow to start
// again.
func (c *Client) start(ctx context.Context, opts client.StartWorkflowOptions, in workflows.ConfirmOrder, wait time.Duration) (conf Confirmation, closed *workflows.State, err error) {
	conf = Confirmation{WorkflowID: opts.ID}
	var already *serviceerror.WorkflowExecutionAlreadyStarted
	if wait <= 0 {
		run, err := c.Temporal.ExecuteWorkflow(ctx, opts, workflows.InvoiceWorkflowType, in)
		if errors.As(err, &already) {
			return c.closedState(ctx, conf)
		}
		if err != nil {
			return conf, nil, fmt.Errorf("start workflow %s: %w", conf.WorkflowID, err)
		}
		conf.RunID = run.GetRunID()
		return conf, nil, nil
	}
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	start := c.Temporal.NewWithStartWorkflowOperation(opts, workflows.InvoiceWorkflowType, in)
	var st workflows.State
	handle, err := c.Temporal.UpdateWithStartWorkflow(wctx, client.UpdateWithStartWorkflowOptions{
		StartWorkflowOperation: start,
		UpdateOptions: client.UpdateWorkflowOptions{
			WorkflowID: conf.WorkflowID, UpdateName: workflows.UpdateConfirmation, WaitForStage: client.WorkflowUpdateStageCompleted,
		},
	})
	if err == nil {
		err = handle.Get(wctx, &st)
	}
	run, serr := startedRun(ctx, start)
	conf.RunID = run
	switch {
	case err == nil:
		conf.State = &st
		return conf, nil, nil
	case errors.As(serr, &already) || errors.As(err, &already):
		return c.closedState(ctx, conf)
	case run == "":
		return conf, nil, fmt.Errorf("start workflow %s: %w", conf.WorkflowID, err)
	case wctx.Err() != nil:
		return conf, nil, nil // started, not answered within the wait
	}
	// Started, but the update was not answered: a worker from before the update existed.
	if st, err = c.AwaitSettled(wctx, conf.WorkflowID); err == nil {
		conf.State = &st
	}
	return conf, nil, nil
}

// closedState reads the state of the closed run a start found.
func (c *Client) closedState(ctx context.Context, conf Confirmation) (Confirmation, *workflows.State, error) {
	st, err := c.State(ctx, conf.WorkflowID)
	if err != nil {
		return conf, nil, err
	}
	return conf, &st, nil
}

// startedRun is the run an update-with-start's start found or started, once the server answered
// it (which it has when the update call returned, unless the call failed before).
func startedRun(ctx context.Context, start client.WithStartWorkflowOperation) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	run, err := start.Get(ctx)
	if err != nil {
		return "", err
	}
	return run.GetRunID(), nil
}

// StartOptions are the options every invoice workflow of order o is started with: its ID from
// the business key, the conflict and reuse policies that make a confirmation start it once, the
// search attributes ops find it by, and its summary for the Temporal UI.
func StartOptions(o invoice.Order) client.StartWorkflowOptions {
	return client.StartWorkflowOptions{
		ID:                       workflows.InvoiceWorkflowID(o.VendorID, o.BuyerID, o.PONumber),
		TaskQueue:                workflows.TaskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		TypedSearchAttributes: temporal.NewSearchAttributes(
			workflows.AttrVendor.ValueSet(o.VendorID), workflows.AttrBuyer.ValueSet(o.BuyerID),
			workflows.AttrPONumber.ValueSet(o.PONumber), workflows.AttrInvoiceNumber.ValueSet(o.InvoiceNumber)),
		// The static summary never changes: it says the amount was the confirmed one (a vendor
		// update changes it; the current details show the current one).
		StaticSummary: fmt.Sprintf("%s: %s → %s, %s as confirmed", o.PONumber, o.VendorID, o.BuyerID,
			invoice.FormatMoney(o.TotalMinor, o.Currency)),
		StaticDetails: fmt.Sprintf("Invoice %s of %s for PO %s of %s, issued %s, %d line(s), PO total %s.",
			o.InvoiceNumber, o.VendorID, o.PONumber, o.BuyerID, o.IssueDate, len(o.Lines),
			invoice.FormatMoney(o.POTotalMinor, o.Currency)),
	}
}

// check refuses bad input with field errors before anything is started.
func (c *Client) check(ctx context.Context, o invoice.Order, stagingKey string) error {
	verr := &invoice.ValidationError{}
	if err := o.Validate(); err != nil {
		if !errors.As(err, &verr) {
			return err
		}
	}
	if o.VendorID != "" && o.BuyerID != "" {
		missing, err := c.Store.CompaniesMissing(ctx, o.VendorID, o.BuyerID)
		if err != nil {
			return err
		}
		for _, id := range missing {
			field := "buyer_id"
			if id == o.VendorID {
				field = "vendor_id"
			}
			verr.Fields = append(verr.Fields, invoice.FieldError{Field: field, Rule: fmt.Sprintf("%q is not a known company", id)})
		}
	}
	if stagingKey != "" && !invoice.IsStagingKey(stagingKey) {
		verr.Fields = append(verr.Fields, invoice.FieldError{Field: "pdf", Rule: "must be a staged upload (StagePDF), not " + strconv.Quote(stagingKey)})
	}
	if len(verr.Fields) > 0 {
		return verr
	}
	return nil
}

// StagePDF checks that data is a PDF within the size limit and uploads it to its content-addressed
// staging key, where the workflow picks it up (for a confirmation or a vendor update).
func (c *Client) StagePDF(ctx context.Context, data []byte) (string, error) {
	if rule := pdf.Check(data, c.MaxPDFBytes); rule != "" {
		return "", &invoice.ValidationError{Fields: []invoice.FieldError{{Field: "pdf", Rule: rule}}}
	}
	key := blob.StagingKey(blob.SHA256Hex(data))
	if err := c.Blobs.Put(ctx, key, data); err != nil {
		return "", fmt.Errorf("stage PDF: %w", err)
	}
	return key, nil
}

// messageName is the signal and update name of req's action, or a field error.
func messageName(req invoice.ActionRequest) (string, error) {
	name, err := workflows.SignalFor(req.Action)
	if slices.Contains(invoice.CreditNoteActions(), req.Action) {
		name, err = workflows.CreditNoteSignalFor(req.Action)
	}
	if err != nil {
		return "", &invoice.ValidationError{Fields: []invoice.FieldError{{Field: "action", Rule: err.Error()}}}
	}
	return name, nil
}

// Act sends a human action to the invoice workflow as a signal (fire-and-forget). The answer,
// accepted or refused, is in the workflow's state under the request's idempotency key.
func (c *Client) Act(ctx context.Context, workflowID string, req invoice.ActionRequest) error {
	name, err := messageName(req)
	if err != nil {
		return err
	}
	if refusal, err := c.admit(ctx, workflowID, req); err != nil {
		return err
	} else if refusal != nil {
		return refusal
	}
	if err := c.Temporal.SignalWorkflow(ctx, workflowID, "", name, req); err != nil {
		if refusal, aerr := c.closedRefusal(ctx, workflowID, req, err); aerr != nil {
			return aerr
		} else if refusal != nil {
			return refusal
		}
		return fmt.Errorf("signal %s to %s: %w", name, workflowID, err)
	}
	return nil
}

// closedRefusal turns "the workflow has completed" into a refusal, audited here since no workflow
// is left to record it; the refusal is nil for other errors. aerr is set when the refusal could
// not be audited: the caller retries then, rather than getting an answer that left no row.
func (c *Client) closedRefusal(ctx context.Context, workflowID string, req invoice.ActionRequest, err error) (refusal *invoice.Refusal, aerr error) {
	var notFound *serviceerror.NotFound
	if !errors.As(err, &notFound) {
		return nil, nil
	}
	st, qerr := c.State(ctx, workflowID)
	if qerr != nil || st.Outcome == "" {
		return nil, nil
	}
	refusal = &invoice.Refusal{Code: invoice.RefusedWrongStatus,
		Reason: fmt.Sprintf("the invoice's workflow has ended (outcome %s, status %s); %s is not possible", st.Outcome, st.Status, req.Action)}
	if st.Outcome == workflows.OutcomeVoided {
		refusal.Reason += "; the vendor may confirm the order again with a new invoice number"
	}
	if st.Outcome == workflows.OutcomePaid && req.Action == invoice.ActionVendorUpdate {
		refusal = &invoice.Refusal{Code: invoice.RefusedPaid, Reason: "the invoice is paid and cannot be updated; " + invoice.CreditNoteAdvice}
	}
	if aerr := c.AuditRefusal(ctx, workflowID, req, refusal); aerr != nil {
		return nil, aerr
	}
	return refusal, nil
}

// Do sends a human action as an update and waits for the workflow's answer: accepted, or a
// *invoice.Refusal. A refusal by the update's validator never enters the workflow's history, so
// Do writes its audit row here (keyed by the idempotency key, so a repeat writes it once).
func (c *Client) Do(ctx context.Context, workflowID string, req invoice.ActionRequest) (workflows.Answer, error) {
	name, err := messageName(req)
	if err != nil {
		return workflows.Answer{}, err
	}
	if refusal, err := c.admit(ctx, workflowID, req); err != nil {
		return workflows.Answer{}, err
	} else if refusal != nil {
		return workflows.Answer{Action: req.Action, Code: refusal.Code, Reason: refusal.Reason}, refusal
	}
	release, err := c.updateSlot(ctx, workflowID)
	if err != nil {
		return workflows.Answer{}, err
	}
	defer release()
	var answer workflows.Answer
	handle, err := c.Temporal.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID:   workflowID,
		UpdateID:     string(req.Action) + "/" + req.IdempotencyKey,
		UpdateName:   name,
		Args:         []any{req},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err == nil {
		err = handle.Get(ctx, &answer)
	}
	refusal := asRefusal(err)
	if closed, aerr := c.closedRefusal(ctx, workflowID, req, err); aerr != nil {
		return workflows.Answer{}, aerr
	} else if closed != nil {
		return workflows.Answer{Action: req.Action, Code: closed.Code, Reason: closed.Reason}, closed
	}
	if refusal == nil {
		if err != nil {
			return answer, fmt.Errorf("update %s of %s: %w", name, workflowID, err)
		}
		return answer, nil
	}
	if err := c.AuditRefusal(ctx, workflowID, req, refusal); err != nil {
		return answer, err
	}
	return workflows.Answer{Action: req.Action, Code: refusal.Code, Reason: refusal.Reason}, refusal
}

// admit applies the admission rule the workflow applies (invoice.CheckRequest) before anything
// is sent, so that a malformed request never becomes a signal or an update ID, and audits the
// refusal. err is set only when the refusal could not be audited.
func (c *Client) admit(ctx context.Context, workflowID string, req invoice.ActionRequest) (*invoice.Refusal, error) {
	var refusal *invoice.Refusal
	if !errors.As(invoice.CheckRequest(req), &refusal) {
		return nil, nil
	}
	if err := c.AuditRefusal(ctx, workflowID, req, refusal); err != nil {
		return refusal, err
	}
	return refusal, nil
}

// asRefusal reads a refusal out of an update's error: an application error typed with a
// refusal code.
func asRefusal(err error) *invoice.Refusal {
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) {
		return nil
	}
	for _, code := range invoice.RefusalCodes() {
		if appErr.Type() == string(code) {
			return &invoice.Refusal{Code: code, Reason: appErr.Message()}
		}
	}
	return nil
}

// AuditRefusal records a refusal the workflow did not record itself: one its update validator
// gave, one for a workflow that has ended, or one a caller (the gateway) gave before reaching the
// workflow. Nothing is written when the workflow answered this key and action itself; a repeat
// writes one row.
func (c *Client) AuditRefusal(ctx context.Context, workflowID string, req invoice.ActionRequest, r *invoice.Refusal) error {
	st, err := c.State(ctx, workflowID)
	if err != nil {
		return err
	}
	if prior, ok := st.Answers[req.IdempotencyKey]; ok && prior.Action == req.Action {
		return nil
	}
	e := invoice.Event{
		Key:        workflowID + "#refused/" + string(req.Action) + "/" + req.IdempotencyKey,
		WorkflowID: workflowID, InvoiceID: st.InvoiceID, VendorID: st.Order.VendorID, BuyerID: st.Order.BuyerID,
		PONumber: st.Order.PONumber, Kind: invoice.EventRefused, Action: req.Action, Actor: req.Actor,
		From: st.Status, To: st.Status, Code: string(r.Code), Reason: r.Reason, OccurredAt: time.Now().UTC(),
		UpdatePending: st.UpdatePending, Revision: st.Revision,
	}
	if workflows.IsCreditNoteWorkflowID(workflowID) {
		cn, err := c.CreditNoteState(ctx, workflowID)
		if err != nil {
			return err
		}
		e.CreditNoteID, e.VendorID, e.BuyerID, e.PONumber = cn.CreditNoteID, cn.Invoice.VendorID, cn.Invoice.BuyerID, cn.Invoice.PONumber
	}
	if err := c.Store.EventRecord(ctx, e); err != nil {
		return fmt.Errorf("audit refusal of %s: %w", req.Action, err)
	}
	return nil
}

// State reads the invoice workflow's current state through its status query.
func (c *Client) State(ctx context.Context, workflowID string) (workflows.State, error) {
	return queryStatus[workflows.State](ctx, c.Temporal, workflowID)
}

// queryStatus reads a workflow's state, of type T, through its status query.
func queryStatus[T any](ctx context.Context, tc client.Client, workflowID string) (T, error) {
	var st T
	v, err := tc.QueryWorkflow(ctx, workflowID, "", workflows.QueryStatus)
	if err != nil {
		return st, fmt.Errorf("query %s: %w", workflowID, err)
	}
	return st, v.Get(&st)
}

// AwaitAnswer polls the state until the action with idempotency key has been answered, or ctx ends.
func (c *Client) AwaitAnswer(ctx context.Context, workflowID, key string) (workflows.Answer, workflows.State, error) {
	st, err := c.awaitState(ctx, workflowID, "no answer to "+key+" from "+workflowID+" yet", false,
		func(st workflows.State) bool { _, ok := st.Answers[key]; return ok })
	return st.Answers[key], st, err
}

// AwaitSettled polls the state until the invoice exists or the workflow has an outcome.
func (c *Client) AwaitSettled(ctx context.Context, workflowID string) (workflows.State, error) {
	return c.awaitState(ctx, workflowID, "workflow "+workflowID+" has not settled", true,
		func(st workflows.State) bool { return st.Status != "" || st.Outcome != "" })
}

// awaitState polls the workflow's state every 100 ms until done holds or ctx ends. A failed
// query ends the wait, unless retryErrors (a workflow just started may not answer queries yet).
func (c *Client) awaitState(ctx context.Context, workflowID, waiting string, retryErrors bool,
	done func(workflows.State) bool) (workflows.State, error) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		st, err := c.State(ctx, workflowID)
		switch {
		case err != nil && !retryErrors:
			return st, err
		case err == nil && done(st):
			return st, nil
		}
		select {
		case <-ctx.Done():
			return st, fmt.Errorf("%s: %w (last error: %v)", waiting, ctx.Err(), err)
		case <-tick.C:
		}
	}
}

package workflows

// The credit note workflow: one durable workflow per credit note against a paid invoice, from its
// creation (PDF stored, row created in AP, within what is still uncredited) through the buyer's
// approval (procurement, then accounting) until it is applied.

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/k2kinvoice/autoinvoice/activities"
	"github.com/k2kinvoice/autoinvoice/internal/invoice"
	"github.com/k2kinvoice/autoinvoice/internal/metrics"
	"github.com/k2kinvoice/autoinvoice/internal/pathseg"
)

// CreditNoteWorkflowType is the registered name of the credit note workflow.
const CreditNoteWorkflowType = "K2KCreditNote"

// CreditNoteWorkflowID is the ID of the credit note numbered number against invoice invoiceID
// (its row ID): derived from the invoice and the number, so the same credit note issued again
// reaches the same workflow. The number is path-escaped and, when long, cut and followed by a
// digest of the whole number.
func CreditNoteWorkflowID(invoiceID int64, number string) string {
	head := fmt.Sprintf("%s%d/", invoice.CreditNoteWorkflowPrefix, invoiceID)
	return head + pathseg.Segment(number, MaxWorkflowIDBytes-len(head))
}

// IsCreditNoteWorkflowID reports whether id names a credit note's workflow (CreditNoteWorkflowID).
func IsCreditNoteWorkflowID(id string) bool {
	return strings.HasPrefix(id, invoice.CreditNoteWorkflowPrefix)
}

// Credit note message names: each is a signal and an update carrying an invoice.ActionRequest.
const (
	SignalApproveCreditNote = "approve-credit-note"
	SignalApplyCreditNote   = "apply-credit-note"
)

// creditMessages are the credit note workflow's messages, one per action of its table.
var creditMessages = messagesOf(invoice.CreditNoteActions())

// CreditNoteSignalFor names the signal (and the update) that carries a credit note action.
func CreditNoteSignalFor(a invoice.Action) (string, error) { return signalIn(creditMessages, a) }

// OutcomeApplied is how a credit note's workflow ends once the buyer applied it.
const OutcomeApplied Outcome = "applied"

// IssueCreditNote is the credit note workflow's input: the note, and the paid invoice it credits.
type IssueCreditNote struct {
	Note              invoice.CreditNote `json:"note"`
	InvoiceID         int64              `json:"invoice_id"`
	InvoiceWorkflowID string             `json:"invoice_workflow_id"`
	// Invoice is the invoice as it was paid (its last revision).
	Invoice invoice.Order `json:"invoice"`
	// SeparateDuties is the invoice's separation-of-duties setting: who approved the credit note
	// for procurement may not apply it.
	SeparateDuties bool `json:"separate_duties,omitempty"`
}

// CreditNoteState is the whole state of a credit note workflow, returned by its status query.
type CreditNoteState struct {
	IssueCreditNote
	WorkflowID   string  `json:"workflow_id"`
	CreditNoteID int64   `json:"credit_note_id,omitempty"`
	Outcome      Outcome `json:"outcome,omitempty"`
	// Code is the refusal code of a credit note rejected at creation, and Reason says why.
	Code        invoice.RefusalCode `json:"code,omitempty"`
	Reason      string              `json:"reason,omitempty"`
	Status      invoice.Status      `json:"status,omitempty"`
	StatusSince time.Time           `json:"status_since"`
	Document    invoice.Document    `json:"document"`
	// ApprovedBy is the user who approved the credit note for procurement.
	ApprovedBy  string            `json:"approved_by,omitempty"`
	Transitions []Transition      `json:"transitions"`
	Answers     map[string]Answer `json:"answers"`
	EventSeq    int               `json:"event_seq"`
	Inbox       []QueuedAction    `json:"inbox,omitempty"`
}

// CreditNoteResult is what a finished credit note workflow returns.
type CreditNoteResult struct {
	Outcome      Outcome        `json:"outcome"`
	Reason       string         `json:"reason,omitempty"`
	CreditNoteID int64          `json:"credit_note_id,omitempty"`
	Status       invoice.Status `json:"status,omitempty"`
}

// CreditNoteWorkflow creates a credit note against a paid invoice and follows it until it is
// applied. Register it under CreditNoteWorkflowType. A credit note refused at creation (the
// invoice is not paid, it is for more than is still uncredited, its number is taken, its PDF is
// not one) ends with outcome rejected and an audit row.
func CreditNoteWorkflow(ctx workflow.Context, in IssueCreditNote) (CreditNoteResult, error) {
	w := &creditNoteWorkflow{CreditNoteState: CreditNoteState{IssueCreditNote: in,
		WorkflowID: workflow.GetInfo(ctx).WorkflowExecution.ID, Answers: map[string]Answer{}}}
	if err := w.registerHandlers(ctx); err != nil {
		return CreditNoteResult{}, err
	}
	for _, m := range creditMessages {
		c := workflow.GetSignalChannelWithOptions(ctx, m.name, workflow.SignalChannelOptions{
			Description: invoice.Summary(m.action) + SignalDescriptionSuffix})
		workflow.Go(ctx, func(ctx workflow.Context) {
			for {
				var raw converter.RawValue
				c.Receive(ctx, &raw)
				w.Inbox = append(w.Inbox, arrive(raw, m.name, m.action))
			}
		})
	}
	ctx = workflow.WithActivityOptions(ctx, activityOptions)
	if err := w.create(ctx); err != nil {
		return CreditNoteResult{}, err
	}
	for w.Outcome == "" {
		if err := workflow.Await(ctx, func() bool { return len(w.Inbox) > 0 }); err != nil {
			return CreditNoteResult{}, err
		}
		if err := w.actNext(ctx); err != nil {
			return CreditNoteResult{}, err
		}
	}
	if err := w.settle(ctx); err != nil {
		return CreditNoteResult{}, err
	}
	return CreditNoteResult{Outcome: w.Outcome, Reason: w.Reason, CreditNoteID: w.CreditNoteID, Status: w.Status}, nil
}

// creditNoteWorkflow is the running credit note workflow.
type creditNoteWorkflow struct {
	CreditNoteState
	// applying is the action taken out of the inbox and not answered yet.
	applying *QueuedAction
}

// registerHandlers registers the status query, the confirmation update (answers once the credit
// note exists or was rejected) and an update per action, whose validator refuses what the table
// would.
func (w *creditNoteWorkflow) registerHandlers(ctx workflow.Context) error {
	if err := workflow.SetQueryHandlerWithOptions(ctx, QueryStatus, func() (CreditNoteState, error) { return w.CreditNoteState, nil },
		workflow.QueryHandlerOptions{Description: "The credit note's whole state: its invoice, status, transitions and answers."}); err != nil {
		return err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateConfirmation, func(ctx workflow.Context) (CreditNoteState, error) {
		err := workflow.Await(ctx, func() bool { return w.Status != "" || w.Outcome != "" })
		return w.CreditNoteState, err
	}, workflow.UpdateHandlerOptions{Description: "Answers with the credit note's state once it exists in AP, or was rejected. Changes nothing."}); err != nil {
		return err
	}
	for _, m := range creditMessages {
		handler := func(ctx workflow.Context, raw converter.RawValue) (Answer, error) {
			item := arrive(raw, m.name, m.action)
			key := item.IdempotencyKey
			if _, seen := w.Answers[key]; !seen {
				w.Inbox = append(w.Inbox, item)
			}
			if err := workflow.Await(ctx, func() bool { _, ok := w.Answers[key]; return ok }); err != nil {
				return Answer{}, err
			}
			if a := w.Answers[key]; !a.Accepted {
				return a, RefusalError(a.Code, a.Reason)
			}
			return w.Answers[key], nil
		}
		validator := func(ctx workflow.Context, raw converter.RawValue) error {
			return w.validate(arrive(raw, m.name, m.action))
		}
		if err := workflow.SetUpdateHandlerWithOptions(ctx, m.name, handler, workflow.UpdateHandlerOptions{Validator: validator,
			Description: invoice.Summary(m.action) + UpdateDescriptionSuffix}); err != nil {
			return err
		}
	}
	return nil
}

// validate answers, without changing anything, whether an update would be refused now, as the
// invoice workflow's validator does.
func (w *creditNoteWorkflow) validate(item QueuedAction) error {
	req := item.ActionRequest
	pending := w.Inbox
	if w.applying != nil {
		pending = append([]QueuedAction{*w.applying}, w.Inbox...)
	}
	prior, seen := w.Answers[req.IdempotencyKey]
	for _, q := range pending {
		if !seen && q.IdempotencyKey == req.IdempotencyKey && req.IdempotencyKey != "" {
			prior, seen = Answer{Action: q.Action}, true
		}
	}
	switch {
	case seen && prior.Action == req.Action:
		return nil
	case seen:
		return RefusalError(invoice.RefusedInvalid, reusedKey(req.IdempotencyKey, prior.Action))
	case item.Malformed != nil:
		return RefusalError(item.Malformed.Code, item.Malformed.Reason)
	}
	var refusal *invoice.Refusal
	if len(pending) > 0 {
		if errors.As(invoice.Admissible(w.facts(), req), &refusal) {
			return RefusalError(refusal.Code, refusal.Reason)
		}
		return nil
	}
	if _, err := invoice.DecideCreditNote(w.facts(), req); errors.As(err, &refusal) {
		return RefusalError(refusal.Code, refusal.Reason)
	}
	return nil
}

func (w *creditNoteWorkflow) facts() invoice.Facts {
	return invoice.Facts{Status: w.Status, VendorID: w.Invoice.VendorID, BuyerID: w.Invoice.BuyerID,
		SeparateDuties: w.SeparateDuties, ApprovedBy: w.ApprovedBy}
}

// create stores the PDF and creates the credit note in AP; a refusal ends the workflow rejected.
func (w *creditNoteWorkflow) create(ctx workflow.Context) error {
	if err := workflow.UpsertTypedSearchAttributes(ctx, AttrVendor.ValueSet(w.Invoice.VendorID), AttrBuyer.ValueSet(w.Invoice.BuyerID),
		AttrPONumber.ValueSet(w.Invoice.PONumber), AttrInvoiceNumber.ValueSet(w.Invoice.InvoiceNumber)); err != nil {
		return err
	}
	var doc invoice.Document
	issued, err := time.Parse(time.DateOnly, w.Note.IssueDate)
	if err != nil {
		issued = workflow.GetInfo(ctx).WorkflowStartTime
	}
	err = workflow.ExecuteActivity(summarized(ctx, "store the PDF of credit note "+w.Note.Number), acts.StoreCreditNotePDF,
		activities.StoreCreditNotePDFInput{Note: w.Note, Invoice: w.Invoice, RenderedAt: issued}).Get(ctx, &doc)
	if err == nil {
		created := w.event(ctx, invoice.EventCreditNote)
		created.To, created.Reason = invoice.StatusAP, fmt.Sprintf("credit note %s of %s: %s", w.Note.Number,
			invoice.FormatMoney(w.Note.TotalMinor, w.Note.Currency), w.Note.Reason)
		err = workflow.ExecuteActivity(summarized(ctx, "create credit note "+w.Note.Number), acts.CreateCreditNote,
			activities.CreateCreditNoteInput{WorkflowID: w.WorkflowID, InvoiceID: w.InvoiceID, Note: w.Note, Document: doc,
				Event: created}).Get(ctx, &w.CreditNoteID)
		if err == nil {
			w.Document = doc
			count(ctx, metrics.CreditNotes, map[string]string{"outcome": "created"})
			return w.enter(ctx, invoice.StatusAP, created.OccurredAt)
		}
	}
	refusal := refusalOf(err)
	if refusal == nil {
		return err
	}
	e := w.event(ctx, invoice.EventRejected)
	e.Code, e.Reason = string(refusal.Code), refusal.Reason
	if err := workflow.ExecuteActivity(summarized(ctx, e.Summary()), acts.RecordEvent, e).Get(ctx, nil); err != nil {
		return err
	}
	w.Outcome, w.Code, w.Reason = OutcomeRejected, refusal.Code, string(refusal.Code)+": "+refusal.Reason
	count(ctx, metrics.CreditNotes, map[string]string{"outcome": "rejected"})
	workflow.SetCurrentDetails(ctx, fmt.Sprintf("**rejected**: %s", w.Reason))
	return workflow.UpsertTypedSearchAttributes(ctx, AttrOutcome.ValueSet(string(OutcomeRejected)))
}

// actNext decides the oldest action in the inbox, records it, and answers it.
func (w *creditNoteWorkflow) actNext(ctx workflow.Context) error {
	item := w.Inbox[0]
	w.Inbox = w.Inbox[1:]
	w.applying = &item
	defer func() { w.applying = nil }()
	req := item.ActionRequest
	if prior, seen := w.Answers[req.IdempotencyKey]; seen {
		if prior.Action == req.Action {
			return nil
		}
		return w.record(ctx, req, w.Status, &invoice.Refusal{Code: invoice.RefusedInvalid, Reason: reusedKey(req.IdempotencyKey, prior.Action)})
	}
	if item.Malformed != nil {
		return w.record(ctx, req, w.Status, item.Malformed)
	}
	to, err := invoice.DecideCreditNote(w.facts(), req)
	var refusal *invoice.Refusal
	errors.As(err, &refusal)
	return w.record(ctx, req, to, refusal)
}

// record writes the audit row of an action, accepted (moving the credit note to status to) or
// refused, and answers it.
func (w *creditNoteWorkflow) record(ctx workflow.Context, req invoice.ActionRequest, to invoice.Status, refusal *invoice.Refusal) error {
	e := w.event(ctx, invoice.EventTransition)
	e.Action, e.Actor, e.From, e.To, e.Reason = req.Action, req.Actor, w.Status, to, req.Reason
	if refusal != nil {
		e.Kind, e.To, e.Code, e.Reason = invoice.EventRefused, w.Status, string(refusal.Code), refusal.Reason
	}
	err := workflow.ExecuteActivity(summarized(ctx, e.Summary()), acts.RecordEvent, e).Get(ctx, nil)
	var appErr *temporal.ApplicationError
	if err != nil && !(refusal != nil && errors.As(err, &appErr)) {
		return err // a refusal whose row the store refuses is still answered, as the invoice's are
	}
	if refusal != nil {
		if req.IdempotencyKey != "" {
			if _, seen := w.Answers[req.IdempotencyKey]; !seen {
				w.Answers[req.IdempotencyKey] = Answer{Action: req.Action, Code: refusal.Code, Reason: refusal.Reason, Status: w.Status}
			}
		}
		count(ctx, metrics.Refusals, map[string]string{"action": string(req.Action), "code": string(refusal.Code)})
		return nil
	}
	if req.IdempotencyKey != "" {
		w.Answers[req.IdempotencyKey] = Answer{Action: req.Action, Accepted: true, Status: to}
	}
	w.Transitions = append(w.Transitions, Transition{At: e.OccurredAt, Action: req.Action, Actor: req.Actor, From: e.From, To: to, Reason: e.Reason})
	if req.Action == invoice.ActionApproveCreditNote {
		w.ApprovedBy = req.Actor.UserID
	}
	count(ctx, metrics.Transitions, map[string]string{"action": string(req.Action), "from": string(e.From), "to": string(to)})
	if to == invoice.StatusCreditApplied {
		w.Outcome = OutcomeApplied
		count(ctx, metrics.CreditNotes, map[string]string{"outcome": "applied"})
	}
	return w.enter(ctx, to, e.OccurredAt)
}

// enter moves the credit note into status s and shows it to ops.
func (w *creditNoteWorkflow) enter(ctx workflow.Context, s invoice.Status, at time.Time) error {
	if s != w.Status {
		w.StatusSince = at
	}
	w.Status = s
	attrs := []temporal.SearchAttributeUpdate{AttrStatus.ValueSet(string(s)), AttrStatusSince.ValueSet(w.StatusSince)}
	if w.Outcome != "" {
		attrs = append(attrs, AttrOutcome.ValueSet(string(w.Outcome)))
	}
	if err := workflow.UpsertTypedSearchAttributes(ctx, attrs...); err != nil {
		return err
	}
	workflow.SetCurrentDetails(ctx, w.details())
	return nil
}

// details is the credit note's current details in the Temporal UI: its status, and its invoice.
func (w *creditNoteWorkflow) details() string {
	waiting := map[invoice.Status]string{invoice.StatusAP: "Waiting for buyer procurement to approve.\n\n",
		invoice.StatusAA: "Waiting for buyer accounting to apply it.\n\n"}[w.Status]
	return fmt.Sprintf("%s**%s** (%s) since %s\n\nCredit note %s of %s: %s\n\nCredits invoice %s (PO %s, workflow %s), paid at %s.",
		waiting, w.Status, w.Status.Label(), w.StatusSince.UTC().Format(time.RFC3339), w.Note.Number,
		invoice.FormatMoney(w.Note.TotalMinor, w.Note.Currency), w.Note.Reason, w.Invoice.InvoiceNumber, w.Invoice.PONumber,
		url.PathEscape(w.InvoiceWorkflowID), invoice.FormatMoney(w.Invoice.TotalMinor, w.Invoice.Currency))
}

// event starts an audit event of this credit note with the next deterministic key.
func (w *creditNoteWorkflow) event(ctx workflow.Context, kind invoice.EventKind) invoice.Event {
	w.EventSeq++
	return invoice.Event{Key: fmt.Sprintf("%s#%d", w.WorkflowID, w.EventSeq), WorkflowID: w.WorkflowID,
		InvoiceID: w.InvoiceID, CreditNoteID: w.CreditNoteID, VendorID: w.Invoice.VendorID, BuyerID: w.Invoice.BuyerID,
		PONumber: w.Invoice.PONumber, Kind: kind, OccurredAt: workflow.Now(ctx)}
}

// settle answers every action still queued or arriving and waits until every update handler has
// returned, so the run ends with nothing in flight.
func (w *creditNoteWorkflow) settle(ctx workflow.Context) error {
	for {
		if err := yield(ctx); err != nil {
			return err
		}
		if len(w.Inbox) == 0 && workflow.AllHandlersFinished(ctx) {
			return nil
		}
		for len(w.Inbox) > 0 {
			if err := w.actNext(ctx); err != nil {
				return err
			}
		}
		if err := workflow.Await(ctx, func() bool { return len(w.Inbox) > 0 || workflow.AllHandlersFinished(ctx) }); err != nil {
			return err
		}
	}
}

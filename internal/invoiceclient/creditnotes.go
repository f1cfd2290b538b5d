package invoiceclient

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/k2kinvoice/autoinvoice/internal/invoice"
	"github.com/k2kinvoice/autoinvoice/workflows"
)

// CreditNoteIssue identifies a credit note's workflow and, once it answered, its state.
type CreditNoteIssue struct {
	WorkflowID string
	// State is the credit note's state once it exists in AP or was rejected; nil when the
	// workflow had not answered within the wait (it goes on).
	State *workflows.CreditNoteState
}

// IssueCreditNote starts the credit note workflow of note against the invoice of invoiceWorkflowID
// (invoiceID, when not 0, must be that order's current invoice),
// or finds the one already there (the workflow ID derives from the invoice and the note's number,
// so issuing the same note again never makes a second one), and waits at most wait for its
// answer: in AP, or rejected with the reason (the invoice is not paid, the note is for more than
// is still uncredited, its number is taken). Bad input is refused first with a
// *invoice.ValidationError: the note's own rules, its currency, an order that has no invoice.
func (c *Client) IssueCreditNote(ctx context.Context, invoiceWorkflowID string, invoiceID int64, note invoice.CreditNote, wait time.Duration) (CreditNoteIssue, error) {
	verr := &invoice.ValidationError{}
	if err := note.Validate(); err != nil && !errors.As(err, &verr) {
		return CreditNoteIssue{}, err
	}
	st, err := c.State(ctx, invoiceWorkflowID)
	if err != nil {
		return CreditNoteIssue{}, err
	}
	switch {
	case st.InvoiceID == 0:
		verr.Fields = append(verr.Fields, invoice.FieldError{Field: "invoice", Rule: "the order has no invoice to credit (outcome " + string(st.Outcome) + ")"})
	case invoiceID != 0 && invoiceID != st.InvoiceID:
		verr.Fields = append(verr.Fields, invoice.FieldError{Field: "invoice", Rule: fmt.Sprintf(
			"invoice %d was voided; the order's current invoice is %d", invoiceID, st.InvoiceID)})
	case note.Currency != "" && note.Currency != st.Order.Currency:
		verr.Fields = append(verr.Fields, invoice.FieldError{Field: "credit_note.currency", Rule: "must be " + st.Order.Currency + ", the invoice's currency"})
	}
	if len(verr.Fields) > 0 {
		return CreditNoteIssue{}, verr
	}
	id := workflows.CreditNoteWorkflowID(st.InvoiceID, note.Number)
	in := workflows.IssueCreditNote{Note: note, InvoiceID: st.InvoiceID, InvoiceWorkflowID: invoiceWorkflowID, Invoice: st.Order,
		SeparateDuties: st.SeparateDuties}
	// As its invoice's workflow is started (policies, search attributes), under its own ID and summary.
	opts := StartOptions(st.Order)
	opts.ID, opts.StaticDetails = id, ""
	opts.StaticSummary = fmt.Sprintf("credit note %s: %s against invoice %s (PO %s)", note.Number,
		invoice.FormatMoney(note.TotalMinor, note.Currency), st.Order.InvoiceNumber, st.Order.PONumber)
	issue := CreditNoteIssue{WorkflowID: id}
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	var cn workflows.CreditNoteState
	start := c.Temporal.NewWithStartWorkflowOperation(opts, workflows.CreditNoteWorkflowType, in)
	handle, err := c.Temporal.UpdateWithStartWorkflow(wctx, client.UpdateWithStartWorkflowOptions{
		StartWorkflowOperation: start,
		UpdateOptions: client.UpdateWorkflowOptions{WorkflowID: id, UpdateName: workflows.UpdateConfirmation,
			WaitForStage: client.WorkflowUpdateStageCompleted},
	})
	if err == nil {
		err = handle.Get(wctx, &cn)
	}
	var closed *serviceerror.WorkflowExecutionAlreadyStarted
	_, serr := startedRun(ctx, start)
	switch {
	case err == nil:
	case errors.As(serr, &closed) || errors.As(err, &closed): // issued and finished before: its state answers
		if cn, err = c.CreditNoteState(ctx, id); err != nil {
			return issue, err
		}
	case wctx.Err() != nil:
		return issue, nil
	default:
		return issue, fmt.Errorf("issue credit note %s: %w", id, err)
	}
	issue.State = &cn
	return issue, nil
}

// CreditNoteState reads a credit note workflow's state through its status query.
func (c *Client) CreditNoteState(ctx context.Context, workflowID string) (workflows.CreditNoteState, error) {
	return queryStatus[workflows.CreditNoteState](ctx, c.Temporal, workflowID)
}

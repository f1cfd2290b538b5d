package activities

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/k2kinvoice/autoinvoice/internal/blob"
	"github.com/k2kinvoice/autoinvoice/internal/invoice"
	"github.com/k2kinvoice/autoinvoice/internal/pdf"
	"github.com/k2kinvoice/autoinvoice/internal/store"
)

// StoreCreditNotePDFInput says which credit note PDF to store: the vendor's, waiting at the
// note's staging key, or one rendered from the note against Invoice at RenderedAt.
type StoreCreditNotePDFInput struct {
	Note       invoice.CreditNote `json:"note"`
	Invoice    invoice.Order      `json:"invoice"`
	RenderedAt time.Time          `json:"rendered_at"`
}

// StoreCreditNotePDF places the credit note's PDF next to its invoice's, content-addressed, and
// returns where it is. Idempotent as StorePDF is.
func (a *Activities) StoreCreditNotePDF(ctx context.Context, in StoreCreditNotePDFInput) (invoice.Document, error) {
	o := in.Invoice
	return a.storePDF(ctx, in.Note.StagingKey, func() ([]byte, error) { return pdf.RenderCreditNote(in.Note, o, in.RenderedAt) },
		func(digest string) string {
			return blob.CreditNoteKey(o.BuyerID, o.VendorID, o.InvoiceNumber, in.Note.Number, digest)
		})
}

// CreateCreditNoteInput is the credit note to create against InvoiceID, and its creation event.
type CreateCreditNoteInput struct {
	WorkflowID string             `json:"workflow_id"`
	InvoiceID  int64              `json:"invoice_id"`
	Note       invoice.CreditNote `json:"note"`
	Document   invoice.Document   `json:"document"`
	Event      invoice.Event      `json:"event"`
}

// CreateCreditNote creates the credit note in AP and returns its ID. Idempotent on the workflow
// ID. Non-retryable refusals: the invoice is not paid (ErrTypeNotPaid), the note is for more than
// is still uncredited (ErrTypeOverCredit), its number is taken (ErrTypeInvoiceNumberTaken), it is
// not in the invoice's currency (ErrTypeUnprocessable).
func (a *Activities) CreateCreditNote(ctx context.Context, in CreateCreditNoteInput) (int64, error) {
	c, err := a.Store.CreditNoteCreate(ctx, store.NewCreditNote{WorkflowID: in.WorkflowID, InvoiceID: in.InvoiceID,
		Note: in.Note, Document: in.Document, Event: in.Event})
	switch {
	case errors.Is(err, store.ErrNotPaid):
		return 0, temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeNotPaid, err)
	case errors.Is(err, store.ErrOverCredit):
		return 0, temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeOverCredit, err)
	case errors.Is(err, store.ErrCurrency):
		return 0, temporal.NewNonRetryableApplicationError("credit_note.currency: "+err.Error(), ErrTypeUnprocessable, err)
	case errors.Is(err, store.ErrConflict):
		return 0, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("credit_note.number %q is already used by another credit note of vendor %s for buyer %s",
				in.Note.Number, in.Event.VendorID, in.Event.BuyerID), ErrTypeInvoiceNumberTaken, err)
	case err != nil:
		return 0, permanent(err)
	}
	return c.ID, nil
}

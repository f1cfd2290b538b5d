package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/k2kinvoice/autoinvoice/internal/invoice"
)

// Errors of a credit note against its invoice; each is a business refusal, not an outage.
var (
	// ErrNotPaid: the invoice is not paid, so it takes no credit note.
	ErrNotPaid = errors.New("the invoice is not paid")
	// ErrOverCredit: the credit note is for more than what is still uncredited.
	ErrOverCredit = errors.New("more than what is still uncredited")
	// ErrCurrency: the credit note is not in the invoice's currency.
	ErrCurrency = errors.New("not in the invoice's currency")
)

// CreditNote is a credit note as stored.
type CreditNote struct {
	ID         int64
	WorkflowID string
	InvoiceID  int64
	VendorID   string
	BuyerID    string
	Note       invoice.CreditNote
	Status     invoice.Status
	Document   invoice.Document
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// NewCreditNote is what creating a credit note needs: its invoice, its content and PDF, the
// workflow that owns it and the event recording its creation.
type NewCreditNote struct {
	WorkflowID string
	InvoiceID  int64
	Note       invoice.CreditNote
	Document   invoice.Document
	Event      invoice.Event
}

const creditNoteColumns = `id, workflow_id, invoice_id, vendor_id, buyer_id, number, issue_date, currency, total_minor,
	reason, lines, status, pdf_key, pdf_size, pdf_sha256, pdf_source, created_at, updated_at`

func scanCreditNote(row pgx.Row) (CreditNote, error) {
	var c CreditNote
	var issued time.Time
	var source string
	err := row.Scan(&c.ID, &c.WorkflowID, &c.InvoiceID, &c.VendorID, &c.BuyerID, &c.Note.Number, &issued, &c.Note.Currency,
		&c.Note.TotalMinor, &c.Note.Reason, &c.Note.Lines, &c.Status, &c.Document.Key, &c.Document.Size, &c.Document.SHA256,
		&source, &c.CreatedAt, &c.UpdatedAt)
	c.Note.IssueDate, c.Document.Source = issued.Format(time.DateOnly), invoice.PDFSource(source)
	return c, err
}

// CreditNoteCreate creates a credit note in AP against its invoice, and records its creation, in
// one transaction that holds the invoice row: the invoice must be paid (ErrNotPaid), the note in
// its currency (ErrCurrency), and all its credit notes together at most its total
// (ErrOverCredit); a number the vendor already gave another credit note for this buyer is
// ErrConflict. Idempotent on the workflow ID: called again it returns the credit note there.
func (s *Store) CreditNoteCreate(ctx context.Context, n NewCreditNote) (CreditNote, error) {
	var c CreditNote
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		c, err = scanCreditNote(tx.QueryRow(ctx, `SELECT `+creditNoteColumns+` FROM credit_notes WHERE workflow_id = $1`, n.WorkflowID))
		if !errors.Is(err, pgx.ErrNoRows) {
			return err // created before (a retry), or a failure
		}
		var status invoice.Status
		var currency string
		var total, credited int64
		if err := tx.QueryRow(ctx, `
			SELECT i.status, i.currency, i.total_minor,
				(SELECT coalesce(sum(total_minor), 0) FROM credit_notes WHERE invoice_id = i.id)
			FROM vendor_invoices i WHERE i.id = $1 FOR UPDATE`, n.InvoiceID).Scan(&status, &currency, &total, &credited); err != nil {
			return err
		}
		switch {
		case status != invoice.StatusP:
			return fmt.Errorf("invoice %d is in %s (%s): %w", n.InvoiceID, status, status.Label(), ErrNotPaid)
		case n.Note.Currency != currency:
			return fmt.Errorf("credit note in %s, invoice in %s: %w", n.Note.Currency, currency, ErrCurrency)
		case n.Note.TotalMinor > total-credited:
			return fmt.Errorf("%s, but the invoice's total is %s and %s of it is credited already, so %s is left: %w",
				invoice.FormatMoney(n.Note.TotalMinor, currency), invoice.FormatMoney(total, currency),
				invoice.FormatMoney(credited, currency), invoice.FormatMoney(total-credited, currency), ErrOverCredit)
		}
		c, err = scanCreditNote(tx.QueryRow(ctx, `
			INSERT INTO credit_notes (workflow_id, invoice_id, vendor_id, buyer_id, number, issue_date, currency,
				total_minor, reason, lines, status, pdf_key, pdf_size, pdf_sha256, pdf_source)
			SELECT $1, id, vendor_id, buyer_id, $3, $4, $5, $6, $7, $8, 'AP', $9, $10, $11, $12
			FROM vendor_invoices WHERE id = $2
			RETURNING `+creditNoteColumns,
			n.WorkflowID, n.InvoiceID, n.Note.Number, n.Note.IssueDate, n.Note.Currency, n.Note.TotalMinor, n.Note.Reason,
			n.Note.Lines, n.Document.Key, n.Document.Size, n.Document.SHA256, string(n.Document.Source)))
		if err != nil {
			return err
		}
		e := n.Event
		e.CreditNoteID = c.ID
		return insertEvent(ctx, tx, e)
	})
	return c, mapError(err, "credit note "+n.Note.Number)
}

// CreditNotesOf lists an invoice's credit notes, oldest first.
func (s *Store) CreditNotesOf(ctx context.Context, invoiceID int64) ([]CreditNote, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+creditNoteColumns+` FROM credit_notes WHERE invoice_id = $1 ORDER BY id`, invoiceID)
	if err != nil {
		return nil, mapError(err, "credit notes")
	}
	notes, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (CreditNote, error) { return scanCreditNote(row) })
	return notes, mapError(err, "credit notes")
}

// CreditNoteGet reads one credit note.
func (s *Store) CreditNoteGet(ctx context.Context, id int64) (CreditNote, error) {
	c, err := scanCreditNote(s.pool.QueryRow(ctx, `SELECT `+creditNoteColumns+` FROM credit_notes WHERE id = $1`, id))
	return c, mapError(err, fmt.Sprintf("credit note %d", id))
}

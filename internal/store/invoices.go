package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/k2kinvoice/autoinvoice/internal/invoice"
)

// NewInvoice is what creating an AP invoice needs: the order, its PDF, the workflow that owns it
// and the event that records the creation.
type NewInvoice struct {
	WorkflowID string
	// Confirmation numbers the confirmations of the workflow's order, from 1: a voided order
	// confirmed again gets a new invoice (0 means 1).
	Confirmation int
	// Tolerance is the buyer's tolerance the order was confirmed under (zero: none).
	Tolerance invoice.Tolerance
	Order     invoice.Order
	Document  invoice.Document
	Event     invoice.Event
}

// Invoice is a vendor invoice as the buyer's PO Reconciliation sees it.
type Invoice struct {
	ID              int64
	WorkflowID      string
	Confirmation    int
	VendorID        string
	BuyerID         string
	PONumber        string
	InvoiceNumber   string
	Status          invoice.Status
	CurrentRevision int
	Currency        string
	TotalMinor      int64
	POTotalMinor    int64
	UpdatePending   bool
	// Tolerance is the buyer's tolerance the order was confirmed under (zero: none).
	Tolerance invoice.Tolerance
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Revision is one version of an invoice, with its PDF.
type Revision struct {
	InvoiceID     int64
	Revision      int
	InvoiceNumber string
	IssueDate     time.Time
	Currency      string
	TotalMinor    int64
	Lines         []invoice.Line
	Document      invoice.Document
}

const invoiceColumns = `id, workflow_id, confirmation, vendor_id, buyer_id, po_number, invoice_number, status,
	current_revision, currency, total_minor, po_total_minor, update_pending,
	tolerance_amount_minor, coalesce(tolerance_currency, ''), tolerance_percent_bp, created_at, updated_at`

func scanInvoice(row pgx.Row) (Invoice, error) {
	var i Invoice
	err := row.Scan(&i.ID, &i.WorkflowID, &i.Confirmation, &i.VendorID, &i.BuyerID, &i.PONumber, &i.InvoiceNumber,
		&i.Status, &i.CurrentRevision, &i.Currency, &i.TotalMinor, &i.POTotalMinor, &i.UpdatePending,
		&i.Tolerance.AmountMinor, &i.Tolerance.Currency, &i.Tolerance.PercentBP, &i.CreatedAt, &i.UpdatedAt)
	return i, err
}

// InvoiceCreate creates the invoice in status AP with revision 1 and records its creation
// event, in one transaction. It is idempotent on the workflow ID and confirmation: called again
// for them it returns the invoice already there. An invoice number already used by another order
// of the same vendor and buyer is ErrConflict.
func (s *Store) InvoiceCreate(ctx context.Context, n NewInvoice) (Invoice, error) {
	var inv Invoice
	confirmation := max(n.Confirmation, 1)
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		inv, err = scanInvoice(tx.QueryRow(ctx, `
			INSERT INTO vendor_invoices (workflow_id, confirmation, vendor_id, buyer_id, po_number, invoice_number,
				status, current_revision, currency, total_minor, po_total_minor,
				tolerance_amount_minor, tolerance_currency, tolerance_percent_bp)
			VALUES ($1, $2, $3, $4, $5, $6, 'AP', 1, $7, $8, $9, $10, nullif($11, ''), $12)
			ON CONFLICT (workflow_id, confirmation) DO NOTHING
			RETURNING `+invoiceColumns,
			n.WorkflowID, confirmation, n.Order.VendorID, n.Order.BuyerID, n.Order.PONumber, n.Order.InvoiceNumber,
			n.Order.Currency, n.Order.TotalMinor, n.Order.POTotalMinor,
			n.Tolerance.AmountMinor, n.Tolerance.Currency, n.Tolerance.PercentBP))
		if errors.Is(err, pgx.ErrNoRows) {
			// Created before (a retry): the first write stands.
			inv, err = scanInvoice(tx.QueryRow(ctx, `SELECT `+invoiceColumns+` FROM vendor_invoices
				WHERE workflow_id = $1 AND confirmation = $2`, n.WorkflowID, confirmation))
			if err == nil && inv.InvoiceNumber != n.Order.InvoiceNumber {
				// Another order's invoice holds this confirmation: never adopt it.
				return fmt.Errorf("confirmation %d of %s is invoice %s: %w", confirmation, n.WorkflowID, inv.InvoiceNumber, ErrConflict)
			}
			return err
		}
		if err != nil {
			return err
		}
		if err := insertRevision(ctx, tx, inv.ID, 1, n.Order, n.Document); err != nil {
			return err
		}
		e := n.Event
		e.InvoiceID = inv.ID
		return insertEvent(ctx, tx, e)
	})
	return inv, mapError(err, "invoice create "+n.WorkflowID)
}

// InvoiceByWorkflowID reads the invoice of a workflow's latest confirmation.
func (s *Store) InvoiceByWorkflowID(ctx context.Context, workflowID string) (Invoice, error) {
	inv, err := scanInvoice(s.pool.QueryRow(ctx, `SELECT `+invoiceColumns+` FROM vendor_invoices
		WHERE workflow_id = $1 ORDER BY confirmation DESC LIMIT 1`, workflowID))
	return inv, mapError(err, "invoice "+workflowID)
}

// querier is what the queries below need: the pool or a transaction.
type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// insertRevision stores revision number rev of an invoice: its content and its PDF.
func insertRevision(ctx context.Context, q querier, invoiceID int64, rev int, o invoice.Order, d invoice.Document) error {
	_, err := q.Exec(ctx, `
		INSERT INTO invoice_revisions (invoice_id, revision, invoice_number, issue_date, currency,
			total_minor, lines, pdf_key, pdf_size, pdf_sha256, pdf_source)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		invoiceID, rev, o.InvoiceNumber, o.IssueDate, o.Currency, o.TotalMinor, o.Lines, d.Key, d.Size, d.SHA256, string(d.Source))
	return err
}

// eventRecorded reports whether the event with this key is stored already (a retried write).
func eventRecorded(ctx context.Context, q querier, key string) (bool, error) {
	var exists bool
	err := q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM invoice_events WHERE event_key = $1)`, key).Scan(&exists)
	return exists, err
}

// RevisionGet reads one revision of an invoice.
func (s *Store) RevisionGet(ctx context.Context, invoiceID int64, revision int) (Revision, error) {
	r, err := scanRevision(invoiceID, s.pool.QueryRow(ctx, `SELECT `+revisionColumns+`
		FROM invoice_revisions WHERE invoice_id = $1 AND revision = $2`, invoiceID, revision))
	return r, mapError(err, fmt.Sprintf("invoice %d revision %d", invoiceID, revision))
}

// revisionColumns are the columns scanRevision reads, in its order.
const revisionColumns = `revision, invoice_number, issue_date, currency, total_minor, lines, pdf_key, pdf_size, pdf_sha256, pdf_source`

// scanRevision reads one revision row of invoice invoiceID (revisionColumns).
func scanRevision(invoiceID int64, row pgx.Row) (Revision, error) {
	r := Revision{InvoiceID: invoiceID}
	var source string
	err := row.Scan(&r.Revision, &r.InvoiceNumber, &r.IssueDate, &r.Currency, &r.TotalMinor, &r.Lines,
		&r.Document.Key, &r.Document.Size, &r.Document.SHA256, &source)
	r.Document.Source = invoice.PDFSource(source)
	return r, err
}

// EventRecord appends an audit event. When the event moves the status (From ≠ To), the invoice
// row moves with it in the same transaction, guarded by the expected status: if the row is in
// another status the write is refused with ErrConflict and nothing is stored. Recording an event
// whose key is already stored is a no-op, so a retried activity never writes twice.
func (s *Store) EventRecord(ctx context.Context, e invoice.Event) error {
	e = e.Storable()
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if exists, err := eventRecorded(ctx, tx, e.Key); err != nil || exists {
			return err
		}
		switch {
		case e.Kind == invoice.EventTransition && e.CreditNoteID != 0:
			tag, err := tx.Exec(ctx, `UPDATE credit_notes SET status = $2, updated_at = now() WHERE id = $1 AND status = $3`,
				e.CreditNoteID, string(e.To), string(e.From))
			if err != nil {
				return err
			}
			if tag.RowsAffected() != 1 {
				return fmt.Errorf("credit note %d is not in status %s: %w", e.CreditNoteID, e.From, ErrConflict)
			}
		case e.Kind == invoice.EventTransition:
			tag, err := tx.Exec(ctx, `
				UPDATE vendor_invoices SET status = $2, update_pending = $4, updated_at = now()
				WHERE id = $1 AND status = $3`, e.InvoiceID, string(e.To), string(e.From), e.UpdatePending)
			if err != nil {
				return err
			}
			if tag.RowsAffected() != 1 {
				return fmt.Errorf("invoice %d is not in status %s: %w", e.InvoiceID, e.From, ErrConflict)
			}
		}
		return insertEvent(ctx, tx, e)
	})
	return mapError(err, "event "+e.Key)
}

// insertEvent appends e; a key already stored (a concurrent retry) is left as it is. Every
// audit row is written through here, its texts made storable whatever a refused request held. In
// the same transaction, a row that is new goes to the webhook outbox (enqueueWebhook): an event is
// delivered if and only if it was recorded.
func insertEvent(ctx context.Context, tx pgx.Tx, e invoice.Event) error {
	e = e.Storable()
	tag, err := tx.Exec(ctx, `
		INSERT INTO invoice_events (event_key, workflow_id, invoice_id, vendor_id, buyer_id, po_number,
			kind, action, actor_company_id, actor_user_id, actor_role, from_status, to_status, code,
			reason, occurred_at, update_pending, revision, credit_note_id, waiting_on, reminder)
		VALUES ($1, $2, nullif($3, 0), $4, $5, $6, $7, nullif($8, ''), nullif($9, ''), nullif($10, ''),
			nullif($11, ''), nullif($12, ''), nullif($13, ''), nullif($14, ''), nullif($15, ''), $16,
			$17, nullif($18, 0), nullif($19, 0), nullif($20, ''), nullif($21, 0))
		ON CONFLICT (event_key) DO NOTHING`,
		e.Key, e.WorkflowID, e.InvoiceID, e.VendorID, e.BuyerID, e.PONumber, string(e.Kind), string(e.Action),
		e.Actor.CompanyID, e.Actor.UserID, string(e.Actor.Role), string(e.From), string(e.To), e.Code,
		e.Reason, e.OccurredAt, e.UpdatePending, e.Revision, e.CreditNoteID, string(e.WaitingOn), e.Reminder)
	if err != nil || tag.RowsAffected() == 0 {
		return err
	}
	return enqueueWebhook(ctx, tx, e.Key, e.Type(), e.WorkflowID, e.OccurredAt, e, e.VendorID, e.BuyerID)
}

// EventsByWorkflowID lists a workflow's audit events in the order they were recorded.
func (s *Store) EventsByWorkflowID(ctx context.Context, workflowID string) ([]invoice.Event, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT event_key, workflow_id, coalesce(invoice_id, 0), vendor_id, buyer_id, po_number, kind,
			coalesce(action, ''), coalesce(actor_company_id, ''), coalesce(actor_user_id, ''),
			coalesce(actor_role, ''), coalesce(from_status, ''), coalesce(to_status, ''),
			coalesce(code, ''), coalesce(reason, ''), occurred_at, coalesce(update_pending, false),
			coalesce(revision, 0), coalesce(credit_note_id, 0), coalesce(waiting_on, ''), coalesce(reminder, 0)
		FROM invoice_events WHERE workflow_id = $1 ORDER BY id`, workflowID)
	if err != nil {
		return nil, mapError(err, "events "+workflowID)
	}
	events, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (invoice.Event, error) {
		var e invoice.Event
		err := row.Scan(&e.Key, &e.WorkflowID, &e.InvoiceID, &e.VendorID, &e.BuyerID, &e.PONumber,
			&e.Kind, &e.Action, &e.Actor.CompanyID, &e.Actor.UserID, &e.Actor.Role, &e.From, &e.To,
			&e.Code, &e.Reason, &e.OccurredAt, &e.UpdatePending, &e.Revision, &e.CreditNoteID, &e.WaitingOn, &e.Reminder)
		return e, err
	})
	return events, mapError(err, "events "+workflowID)
}

// InvoiceRevision is a vendor update to store: the revised order, its PDF, and the event that
// records it (From is the status it leaves; the invoice returns to AP with the warning set).
type InvoiceRevision struct {
	InvoiceID int64
	Revision  int
	Order     invoice.Order
	Document  invoice.Document
	Event     invoice.Event
}

// InvoiceRevise stores a new revision and moves the invoice to it, in one transaction: the
// revision row (the earlier ones stay), the invoice's current number, amount and revision, status
// AP, the warning flag, and the audit event. Guarded by the expected status and previous revision,
// and idempotent on the event key. A new invoice number that another invoice of the same vendor
// and buyer has is ErrConflict, and nothing is stored.
func (s *Store) InvoiceRevise(ctx context.Context, r InvoiceRevision) error {
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if exists, err := eventRecorded(ctx, tx, r.Event.Storable().Key); err != nil || exists {
			return err
		}
		tag, err := tx.Exec(ctx, `
			UPDATE vendor_invoices SET invoice_number = $2, currency = $3, total_minor = $4,
				current_revision = $5, status = 'AP', update_pending = true, updated_at = now()
			WHERE id = $1 AND status = $6 AND current_revision = $5 - 1`,
			r.InvoiceID, r.Order.InvoiceNumber, r.Order.Currency, r.Order.TotalMinor, r.Revision, string(r.Event.From))
		if err != nil {
			return err
		}
		if tag.RowsAffected() != 1 {
			return fmt.Errorf("invoice %d is not in status %s at revision %d: %w", r.InvoiceID, r.Event.From, r.Revision-1, ErrConflict)
		}
		if err := insertRevision(ctx, tx, r.InvoiceID, r.Revision, r.Order, r.Document); err != nil {
			return err
		}
		return insertEvent(ctx, tx, r.Event)
	})
	return mapError(err, fmt.Sprintf("invoice %d revision %d", r.InvoiceID, r.Revision))
}

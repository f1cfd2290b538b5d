package store

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/k2kinvoice/autoinvoice/internal/invoice"
)

// InvoiceFilter selects a company's invoices, newest first, a page at a time (keyset paging:
// AfterID is the last ID of the previous page).
type InvoiceFilter struct {
	BuyerID     string // the buyer's PO Reconciliation; or
	VendorID    string // the vendor's own invoices (exactly one of the two)
	Status      invoice.Status
	Counterpart string // the other company: the vendor for a buyer's list, the buyer for a vendor's
	PONumber    string
	Warning     *bool // a vendor update awaits review
	Discrepancy *bool // invoice total differs from the PO total
	AfterID     int64
	Limit       int
}

// InvoiceList returns one page of invoices matching f.
func (s *Store) InvoiceList(ctx context.Context, f InvoiceFilter) ([]Invoice, error) {
	query, args := InvoiceListQuery(f)
	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, mapError(err, "invoice list")
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Invoice, error) { return scanInvoice(row) })
	return list, mapError(err, "invoice list")
}

// InvoiceListQuery is the SQL InvoiceList runs for f, and its arguments: for EXPLAIN, to see
// which index a list's shape uses.
func InvoiceListQuery(f InvoiceFilter) (string, []any) {
	var where []string
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, fmt.Sprintf(cond, len(args)))
	}
	if f.BuyerID != "" {
		add("buyer_id = $%d", f.BuyerID)
		if f.Counterpart != "" {
			add("vendor_id = $%d", f.Counterpart)
		}
	} else {
		add("vendor_id = $%d", f.VendorID)
		if f.Counterpart != "" {
			add("buyer_id = $%d", f.Counterpart)
		}
	}
	if f.Status != "" {
		add("status = $%d", string(f.Status))
	}
	if f.PONumber != "" {
		add("po_number = $%d", f.PONumber)
	}
	if f.Warning != nil {
		add("update_pending = $%d", *f.Warning)
	}
	if f.Discrepancy != nil {
		add("(total_minor <> po_total_minor) = $%d", *f.Discrepancy)
	}
	if f.AfterID > 0 {
		add("id < $%d", f.AfterID)
	}
	args = append(args, f.Limit)
	return `SELECT ` + invoiceColumns + ` FROM vendor_invoices WHERE ` +
		strings.Join(where, " AND ") + fmt.Sprintf(` ORDER BY id DESC LIMIT $%d`, len(args)), args
}

// InvoiceGet reads one invoice by ID.
func (s *Store) InvoiceGet(ctx context.Context, id int64) (Invoice, error) {
	inv, err := scanInvoice(s.pool.QueryRow(ctx, `SELECT `+invoiceColumns+` FROM vendor_invoices WHERE id = $1`, id))
	return inv, mapError(err, fmt.Sprintf("invoice %d", id))
}

// Revisions lists an invoice's revisions, oldest first.
func (s *Store) Revisions(ctx context.Context, invoiceID int64) ([]Revision, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+revisionColumns+`
		FROM invoice_revisions WHERE invoice_id = $1 ORDER BY revision`, invoiceID)
	if err != nil {
		return nil, mapError(err, "revisions")
	}
	revs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Revision, error) { return scanRevision(invoiceID, row) })
	return revs, mapError(err, "revisions")
}

package store

import (
	"context"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/k2kinvoice/autoinvoice/internal/invoice"
)

// Company is an ERP company with its two K2K opt-in settings.
type Company struct {
	ID   string
	Name string
	// AutoInvoiceSync is the vendor setting "Allow Automatic Invoice Synchronization with the
	// Buyer Company".
	AutoInvoiceSync bool
	// AcceptK2KInvoices is the buyer setting "Allow Invoices coming from K2K orders to be
	// automatically uploaded".
	AcceptK2KInvoices bool
	// SeparateDuties is the buyer setting "separation of duties": the user who approved an
	// invoice for procurement may not approve its payment nor mark it paid.
	SeparateDuties bool
}

// ConnectionStatus is the status of a K2K connection.
type ConnectionStatus string

// The connection statuses; only an active connection carries invoices.
const (
	ConnectionPending    ConnectionStatus = "pending"
	ConnectionActive     ConnectionStatus = "active"
	ConnectionSuspended  ConnectionStatus = "suspended"
	ConnectionTerminated ConnectionStatus = "terminated"
)

// CompanyUpsert creates a company or updates its name and all its settings.
func (s *Store) CompanyUpsert(ctx context.Context, c Company) error {
	_, err := s.CompanySet(ctx, c.ID, c.Name, CompanySettings{AutoInvoiceSync: &c.AutoInvoiceSync,
		AcceptK2KInvoices: &c.AcceptK2KInvoices, SeparateDuties: &c.SeparateDuties})
	return err
}

// CompanySettings are settings to change; a nil one keeps its value (on a new company, its
// default: both opt-ins off, separation of duties on, as the schema has them).
type CompanySettings struct {
	AutoInvoiceSync   *bool
	AcceptK2KInvoices *bool
	SeparateDuties    *bool
}

// CompanySet creates a company or renames it, changes the settings given and keeps the others,
// and returns the company as stored.
func (s *Store) CompanySet(ctx context.Context, id, name string, set CompanySettings) (Company, error) {
	c := Company{ID: id, Name: name}
	// The coalesce defaults of a new company repeat the columns' defaults (migrations 00001, 00005).
	err := s.pool.QueryRow(ctx, `
		INSERT INTO companies (id, name, auto_invoice_sync, accept_k2k_invoices, separate_duties)
		VALUES ($1, $2, coalesce($3, false), coalesce($4, false), coalesce($5, true))
		ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name,
			auto_invoice_sync = coalesce($3, companies.auto_invoice_sync),
			accept_k2k_invoices = coalesce($4, companies.accept_k2k_invoices),
			separate_duties = coalesce($5, companies.separate_duties),
			updated_at = now()
		RETURNING auto_invoice_sync, accept_k2k_invoices, separate_duties`,
		id, name, set.AutoInvoiceSync, set.AcceptK2KInvoices, set.SeparateDuties).
		Scan(&c.AutoInvoiceSync, &c.AcceptK2KInvoices, &c.SeparateDuties)
	return c, mapError(err, "company upsert "+id)
}

// CompanyGet reads one company.
func (s *Store) CompanyGet(ctx context.Context, id string) (Company, error) {
	var c Company
	err := s.pool.QueryRow(ctx, `
		SELECT id, name, auto_invoice_sync, accept_k2k_invoices, separate_duties FROM companies WHERE id = $1`, id).
		Scan(&c.ID, &c.Name, &c.AutoInvoiceSync, &c.AcceptK2KInvoices, &c.SeparateDuties)
	return c, mapError(err, "company "+id)
}

// CompaniesMissing returns those of ids that are not known companies, in the order given.
func (s *Store) CompaniesMissing(ctx context.Context, ids ...string) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT id FROM companies WHERE id = ANY($1)`, ids)
	if err != nil {
		return nil, mapError(err, "companies")
	}
	known, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, mapError(err, "companies")
	}
	var missing []string
	for _, id := range ids {
		if !slices.Contains(known, id) {
			missing = append(missing, id)
		}
	}
	return missing, nil
}

// ConnectionUpsert creates the K2K connection from vendor to buyer or changes its status.
func (s *Store) ConnectionUpsert(ctx context.Context, vendorID, buyerID string, status ConnectionStatus) error {
	_, err := s.pool.Exec(ctx, `
		INSERT INTO k2k_connections (vendor_id, buyer_id, status) VALUES ($1, $2, $3)
		ON CONFLICT (vendor_id, buyer_id) DO UPDATE SET status = EXCLUDED.status, updated_at = now()`,
		vendorID, buyerID, string(status))
	return mapError(err, "connection upsert "+vendorID+" -> "+buyerID)
}

// ConnectionFacts reads what eligibility depends on, in one round trip.
func (s *Store) ConnectionFacts(ctx context.Context, vendorID, buyerID string) (invoice.ConnectionFacts, error) {
	var f invoice.ConnectionFacts
	var status *string
	err := s.pool.QueryRow(ctx, `
		SELECT v.id IS NOT NULL, b.id IS NOT NULL, c.status,
		       coalesce(v.auto_invoice_sync, false), coalesce(b.accept_k2k_invoices, false),
		       coalesce(b.separate_duties, false),
		       coalesce(t.amount_minor, 0), coalesce(t.currency, ''), coalesce(t.percent_bp, 0)
		FROM (SELECT $1::text AS vendor_id, $2::text AS buyer_id) k
		LEFT JOIN companies v ON v.id = k.vendor_id
		LEFT JOIN companies b ON b.id = k.buyer_id
		LEFT JOIN k2k_connections c ON c.vendor_id = k.vendor_id AND c.buyer_id = k.buyer_id
		LEFT JOIN LATERAL (
			-- The connection's own tolerance, else the buyer's.
			SELECT amount_minor, currency, percent_bp FROM tolerances
			WHERE buyer_id = k.buyer_id AND vendor_id IN (k.vendor_id, '')
			ORDER BY vendor_id = '' LIMIT 1) t ON true`,
		vendorID, buyerID).
		Scan(&f.VendorKnown, &f.BuyerKnown, &status, &f.VendorSyncEnabled, &f.BuyerUploadOn, &f.BuyerSeparatesDuties,
			&f.Tolerance.AmountMinor, &f.Tolerance.Currency, &f.Tolerance.PercentBP)
	if err != nil {
		return f, mapError(err, "connection facts")
	}
	f.ConnectionFound = status != nil
	f.ConnectionActive = status != nil && ConnectionStatus(*status) == ConnectionActive
	return f, nil
}

// ToleranceSet sets the buyer's tolerance: for every vendor when vendorID is "", else for the
// connection with that vendor (it then replaces the buyer's). A zero tolerance removes it.
// Orders confirmed from now on take it; invoices keep the one they were confirmed under.
func (s *Store) ToleranceSet(ctx context.Context, buyerID, vendorID string, t invoice.Tolerance) error {
	if t == (invoice.Tolerance{}) {
		_, err := s.pool.Exec(ctx, `DELETE FROM tolerances WHERE buyer_id = $1 AND vendor_id = $2`, buyerID, vendorID)
		return mapError(err, "tolerance of "+buyerID)
	}
	_, err := s.pool.Exec(ctx, `
		INSERT INTO tolerances (buyer_id, vendor_id, amount_minor, currency, percent_bp) VALUES ($1, $2, $3, nullif($4, ''), $5)
		ON CONFLICT (buyer_id, vendor_id) DO UPDATE SET amount_minor = EXCLUDED.amount_minor,
			currency = EXCLUDED.currency, percent_bp = EXCLUDED.percent_bp, updated_at = now()`,
		buyerID, vendorID, t.AmountMinor, t.Currency, t.PercentBP)
	return mapError(err, "tolerance of "+buyerID)
}

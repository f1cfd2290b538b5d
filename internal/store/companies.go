package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

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
	ConnectionPending    ConnectionStatus = invoice.ConnectionPending
	ConnectionActive     ConnectionStatus = invoice.ConnectionActive
	ConnectionSuspended  ConnectionStatus = invoice.ConnectionSuspended
	ConnectionRejected   ConnectionStatus = invoice.ConnectionRejected
	ConnectionTerminated ConnectionStatus = invoice.ConnectionTerminated
)

// CompanyUpsert creates a company or updates its name and all its settings, as the operator.
func (s *Store) CompanyUpsert(ctx context.Context, c Company) error {
	_, err := s.CompanySet(ctx, c.ID, c.Name, CompanySettings{AutoInvoiceSync: &c.AutoInvoiceSync,
		AcceptK2KInvoices: &c.AcceptK2KInvoices, SeparateDuties: &c.SeparateDuties}, Operator)
	return err
}

// CompanySettings are settings to change; a nil one keeps its value (on a new company, its
// default: both opt-ins off, separation of duties on, as the schema has them).
type CompanySettings struct {
	AutoInvoiceSync   *bool
	AcceptK2KInvoices *bool
	SeparateDuties    *bool
}

// Changer is who changes a setting or a connection, for the audit: the user a request named and
// the API key it came with.
type Changer struct {
	UserID   string
	APIKeyID string
}

// Operator is the changer of what the ops CLI changes.
var Operator = Changer{UserID: "operator (starter)"}

// CompanySet creates a company or renames it, changes the settings given and keeps the others,
// and returns the company as stored. Each setting it changes on an existing company is audited
// (settings_changes) with by.
func (s *Store) CompanySet(ctx context.Context, id, name string, set CompanySettings, by Changer) (Company, error) {
	return s.companyChange(ctx, id, &name, set, by)
}

// CompanySettingsChange changes the settings given of an existing company (ErrNotFound
// otherwise), keeps the others, audits each change with by, and returns the company.
func (s *Store) CompanySettingsChange(ctx context.Context, id string, set CompanySettings, by Changer) (Company, error) {
	return s.companyChange(ctx, id, nil, set, by)
}

func (s *Store) companyChange(ctx context.Context, id string, name *string, set CompanySettings, by Changer) (Company, error) {
	c := Company{ID: id}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var old Company
		err := tx.QueryRow(ctx, `SELECT auto_invoice_sync, accept_k2k_invoices, separate_duties FROM companies WHERE id = $1 FOR UPDATE`, id).
			Scan(&old.AutoInvoiceSync, &old.AcceptK2KInvoices, &old.SeparateDuties)
		existed := err == nil
		switch {
		case errors.Is(err, pgx.ErrNoRows) && name == nil:
			return fmt.Errorf("company %s: %w", id, ErrNotFound)
		case err != nil && !errors.Is(err, pgx.ErrNoRows):
			return err
		}
		// The coalesce defaults of a new company repeat the columns' defaults (migrations 00001, 00005).
		query := `INSERT INTO companies (id, name, auto_invoice_sync, accept_k2k_invoices, separate_duties)
			VALUES ($1, $2, coalesce($3, false), coalesce($4, false), coalesce($5, true))
			RETURNING name, auto_invoice_sync, accept_k2k_invoices, separate_duties`
		if existed {
			query = `UPDATE companies SET name = coalesce($2, name), auto_invoice_sync = coalesce($3, auto_invoice_sync),
				accept_k2k_invoices = coalesce($4, accept_k2k_invoices), separate_duties = coalesce($5, separate_duties),
				updated_at = now()
			WHERE id = $1 RETURNING name, auto_invoice_sync, accept_k2k_invoices, separate_duties`
		}
		if err := tx.QueryRow(ctx, query, id, name, set.AutoInvoiceSync, set.AcceptK2KInvoices, set.SeparateDuties).
			Scan(&c.Name, &c.AutoInvoiceSync, &c.AcceptK2KInvoices, &c.SeparateDuties); err != nil {
			return err
		}
		if !existed {
			return nil
		}
		for _, ch := range []struct {
			setting  string
			old, new bool
		}{{"auto_invoice_sync", old.AutoInvoiceSync, c.AutoInvoiceSync}, {"accept_k2k_invoices", old.AcceptK2KInvoices, c.AcceptK2KInvoices},
			{"separate_duties", old.SeparateDuties, c.SeparateDuties}} {
			if ch.old == ch.new {
				continue
			}
			if err := recordSettingChange(ctx, tx, id, ch.setting, fmt.Sprint(ch.old), fmt.Sprint(ch.new), by); err != nil {
				return err
			}
		}
		return nil
	})
	return c, mapError(err, "company "+id)
}

// recordSettingChange audits a change of the company's setting, from old to new, by by.
func recordSettingChange(ctx context.Context, tx pgx.Tx, companyID, setting, old, new string, by Changer) error {
	_, err := tx.Exec(ctx, `INSERT INTO settings_changes (company_id, setting, old_value, new_value, user_id, api_key_id)
		VALUES ($1, $2, $3, $4, $5, $6)`, companyID, setting, old, new, by.UserID, by.APIKeyID)
	return err
}

// SettingsChange is one audited change of a company's setting.
type SettingsChange struct {
	Setting  string    `json:"setting"`
	Old      string    `json:"old_value"`
	New      string    `json:"new_value"`
	UserID   string    `json:"user_id"`
	APIKeyID string    `json:"api_key_id,omitempty"`
	At       time.Time `json:"changed_at"`
}

// SettingsChanges lists a company's setting changes, newest first, at most limit.
func (s *Store) SettingsChanges(ctx context.Context, companyID string, limit int) ([]SettingsChange, error) {
	rows, err := s.pool.Query(ctx, `SELECT setting, old_value, new_value, user_id, api_key_id, changed_at FROM settings_changes
		WHERE company_id = $1 ORDER BY id DESC LIMIT $2`, companyID, limit)
	if err != nil {
		return nil, mapError(err, "settings changes")
	}
	changes, err := pgx.CollectRows(rows, pgx.RowToStructByPos[SettingsChange])
	return changes, mapError(err, "settings changes")
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

// ConnectionFacts reads what eligibility depends on, in one round trip.
func (s *Store) ConnectionFacts(ctx context.Context, vendorID, buyerID string) (invoice.ConnectionFacts, error) {
	var f invoice.ConnectionFacts
	var status *string
	err := s.pool.QueryRow(ctx, `
		SELECT v.id IS NOT NULL, b.id IS NOT NULL, c.status,
		       coalesce(v.auto_invoice_sync, false), coalesce(b.accept_k2k_invoices, false),
		       coalesce(b.separate_duties, false),
		       coalesce(t.amount_minor, 0), coalesce(t.currency, ''), coalesce(t.percent_bp, 0),
		       coalesce(x.enabled, false)
		FROM (SELECT $1::text AS vendor_id, $2::text AS buyer_id) k
		LEFT JOIN companies v ON v.id = k.vendor_id
		LEFT JOIN companies b ON b.id = k.buyer_id
		LEFT JOIN k2k_connections c ON c.vendor_id = k.vendor_id AND c.buyer_id = k.buyer_id
		LEFT JOIN LATERAL (
			-- The connection's own tolerance, else the buyer's.
			SELECT amount_minor, currency, percent_bp FROM tolerances
			WHERE buyer_id = k.buyer_id AND vendor_id IN (k.vendor_id, '')
			ORDER BY vendor_id = '' LIMIT 1) t ON true
		LEFT JOIN accounting_exports x ON x.buyer_id = k.buyer_id`,
		vendorID, buyerID).
		Scan(&f.VendorKnown, &f.BuyerKnown, &status, &f.VendorSyncEnabled, &f.BuyerUploadOn, &f.BuyerSeparatesDuties,
			&f.Tolerance.AmountMinor, &f.Tolerance.Currency, &f.Tolerance.PercentBP, &f.BuyerExports)
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

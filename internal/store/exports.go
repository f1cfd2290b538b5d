package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// AccountingExport is a buyer's accounting system endpoint: where approved invoices are sent, and
// the secret their deliveries are signed with.
type AccountingExport struct {
	BuyerID string
	URL     string
	Secret  string
	Enabled bool
}

// AccountingExportSet configures the buyer's export (a new secret only when secret is not ""),
// audited as the setting accounting_export with by (the URL and whether it is on; never the secret).
// Orders confirmed from then on are exported when it is on.
func (s *Store) AccountingExportSet(ctx context.Context, buyerID, url, secret string, enabled bool, by Changer) error {
	stored, err := s.seal(secret)
	if err != nil {
		return err
	}
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		var old AccountingExport
		err := tx.QueryRow(ctx, `SELECT url, enabled FROM accounting_exports WHERE buyer_id = $1 FOR UPDATE`, buyerID).Scan(&old.URL, &old.Enabled)
		existed := err == nil
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if !existed && secret == "" {
			return fmt.Errorf("accounting export of %s: a secret is needed the first time: %w", buyerID, ErrInvalidData)
		}
		query := `INSERT INTO accounting_exports (buyer_id, url, secret, enabled) VALUES ($1, $2, $3, $4)`
		if existed { // a check constraint sees the proposed row even when it conflicts: update instead
			query = `UPDATE accounting_exports SET url = $2, enabled = $4, updated_at = now(),
				secret = CASE WHEN $3 = '' THEN secret ELSE $3 END WHERE buyer_id = $1`
		}
		if _, err := tx.Exec(ctx, query, buyerID, url, stored, enabled); err != nil {
			return err
		}
		describe := func(e AccountingExport, present bool) string {
			if !present {
				return "none"
			}
			return fmt.Sprintf("%s (enabled=%t)", e.URL, e.Enabled)
		}
		newValue := describe(AccountingExport{URL: url, Enabled: enabled}, true)
		if secret != "" && existed {
			newValue += ", new secret"
		}
		if existed && newValue == describe(old, true) {
			return nil
		}
		return recordSettingChange(ctx, tx, buyerID, "accounting_export", describe(old, existed), newValue, by)
	})
	return mapError(err, "accounting export of "+buyerID)
}

// AccountingExportGet reads the buyer's export; ErrNotFound when it has none.
func (s *Store) AccountingExportGet(ctx context.Context, buyerID string) (AccountingExport, error) {
	e := AccountingExport{BuyerID: buyerID}
	err := s.pool.QueryRow(ctx, `SELECT url, secret, enabled FROM accounting_exports WHERE buyer_id = $1`, buyerID).
		Scan(&e.URL, &e.Secret, &e.Enabled)
	if err == nil {
		e.Secret, err = s.open(e.Secret)
	}
	return e, mapError(err, "accounting export of "+buyerID)
}

package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/k2kinvoice/autoinvoice/internal/invoice"
)

// ConnectionChange is one audited change of a K2K connection, as webhook receivers get it.
type ConnectionChange struct {
	VendorID  string    `json:"vendor_id"`
	BuyerID   string    `json:"buyer_id"`
	Action    string    `json:"action"`
	From      string    `json:"from"`
	To        string    `json:"to"`
	CompanyID string    `json:"company_id"`
	UserID    string    `json:"user_id"`
	At        time.Time `json:"changed_at"`
	// Refused is the refusal code of a refused action (the status unchanged), with its reason.
	Refused invoice.RefusalCode `json:"refused,omitempty"`
	Reason  string              `json:"reason,omitempty"`
}

// ConnectionUpsert creates the K2K connection from vendor to buyer or sets its status, as the
// operator (no handshake); the change is audited and delivered as a connection.set event.
func (s *Store) ConnectionUpsert(ctx context.Context, vendorID, buyerID string, status ConnectionStatus) error {
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		c, err := lockConnection(ctx, tx, vendorID, buyerID)
		if err != nil {
			return err
		}
		return setConnection(ctx, tx, c, "set", string(status), Operator.UserID, Operator)
	})
	return mapError(err, "connection upsert "+vendorID+" -> "+buyerID)
}

// ConnectionAct applies company's handshake action (by its user) to the connection from vendor
// to buyer, decided by invoice.DecideConnection under a lock on the pair: a refusal is a
// *invoice.Refusal and changes nothing; an accepted change is audited and delivered to both
// companies' webhook endpoints as a connection.<action> event.
func (s *Store) ConnectionAct(ctx context.Context, vendorID, buyerID string, action invoice.ConnectionAction, company string, by Changer) (invoice.Connection, error) {
	var c invoice.Connection
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		if c, err = lockConnection(ctx, tx, vendorID, buyerID); err != nil {
			return err
		}
		to, err := invoice.DecideConnection(c, action, company)
		if err != nil {
			return err
		}
		if action == invoice.ConnectionRequest {
			c.RequestedBy = company
		}
		if err := setConnection(ctx, tx, c, string(action), to, company, by); err != nil {
			return err
		}
		c.Status = to
		return nil
	})
	var refusal *invoice.Refusal
	if errors.As(err, &refusal) {
		if err := s.inTx(ctx, func(tx pgx.Tx) error { return refuseConnection(ctx, tx, c, string(action), company, by, refusal) }); err != nil {
			return c, mapError(err, "connection "+vendorID+" -> "+buyerID)
		}
		return c, refusal
	}
	return c, mapError(err, "connection "+vendorID+" -> "+buyerID)
}

// refuseConnection audits a refused action on the pair's connection, its status unchanged, and
// queues it as a connection.refused event for the pair's endpoints when the actor is one of the
// two companies. A third company's attempt is recorded, not announced to the pair, and only on a
// connection that exists: a pair with none may name companies that do not exist either.
func refuseConnection(ctx context.Context, tx pgx.Tx, c invoice.Connection, action, company string, by Changer, refusal *invoice.Refusal) error {
	stranger := company != c.VendorID && company != c.BuyerID
	if stranger && c.Status == "" {
		return nil
	}
	ch := ConnectionChange{VendorID: c.VendorID, BuyerID: c.BuyerID, Action: invoice.EscapeText(action, 64), From: c.Status, To: c.Status,
		CompanyID: company, UserID: by.UserID, Refused: refusal.Code, Reason: invoice.EscapeText(refusal.Reason, 500)}
	id, err := insertConnectionChange(ctx, tx, &ch)
	if err != nil || stranger {
		return err
	}
	return enqueueWebhook(ctx, tx, fmt.Sprintf("connection-change/%d", id), invoice.ConnectionEventType("refused"),
		"k2k-connection/"+c.VendorID+"/"+c.BuyerID, ch.At, ch, c.VendorID, c.BuyerID)
}

// insertConnectionChange writes ch to the audit table, sets its time, and returns its id.
func insertConnectionChange(ctx context.Context, tx pgx.Tx, ch *ConnectionChange) (int64, error) {
	var id int64
	err := tx.QueryRow(ctx, `INSERT INTO connection_changes (vendor_id, buyer_id, action, from_status, to_status, company_id, user_id, refused, reason)
		VALUES ($1, $2, $3, $4, $5, $6, $7, nullif($8, ''), nullif($9, '')) RETURNING id, changed_at`,
		ch.VendorID, ch.BuyerID, ch.Action, ch.From, ch.To, ch.CompanyID, ch.UserID, string(ch.Refused), ch.Reason).Scan(&id, &ch.At)
	return id, err
}

// lockConnection reads the pair's connection and holds it (an empty status when there is none).
func lockConnection(ctx context.Context, tx pgx.Tx, vendorID, buyerID string) (invoice.Connection, error) {
	c := invoice.Connection{VendorID: vendorID, BuyerID: buyerID}
	// Serialise the first request of a pair too: no row exists yet to lock.
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext($1))`, vendorID+"/"+buyerID); err != nil {
		return c, err
	}
	err := tx.QueryRow(ctx, `SELECT status, coalesce(requested_by, '') FROM k2k_connections WHERE vendor_id = $1 AND buyer_id = $2`,
		vendorID, buyerID).Scan(&c.Status, &c.RequestedBy)
	if errors.Is(err, pgx.ErrNoRows) {
		return c, nil
	}
	return c, err
}

// setConnection stores the pair's new status, audits the change and queues it for both
// companies' webhook endpoints.
func setConnection(ctx context.Context, tx pgx.Tx, c invoice.Connection, action, to, company string, by Changer) error {
	if _, err := tx.Exec(ctx, `
		INSERT INTO k2k_connections (vendor_id, buyer_id, status, requested_by) VALUES ($1, $2, $3, nullif($4, ''))
		ON CONFLICT (vendor_id, buyer_id) DO UPDATE SET status = EXCLUDED.status,
			requested_by = coalesce(EXCLUDED.requested_by, k2k_connections.requested_by), updated_at = now()`,
		c.VendorID, c.BuyerID, to, c.RequestedBy); err != nil {
		return err
	}
	ch := ConnectionChange{VendorID: c.VendorID, BuyerID: c.BuyerID, Action: action, From: c.Status, To: to, CompanyID: company, UserID: by.UserID}
	id, err := insertConnectionChange(ctx, tx, &ch)
	if err != nil {
		return err
	}
	return enqueueWebhook(ctx, tx, fmt.Sprintf("connection-change/%d", id), invoice.ConnectionEventType(action),
		"k2k-connection/"+c.VendorID+"/"+c.BuyerID, ch.At, ch, c.VendorID, c.BuyerID)
}

// Connections lists the company's K2K connections, as vendor and as buyer.
func (s *Store) Connections(ctx context.Context, companyID string) ([]invoice.Connection, error) {
	rows, err := s.pool.Query(ctx, `SELECT vendor_id, buyer_id, status, coalesce(requested_by, '') FROM k2k_connections
		WHERE vendor_id = $1 OR buyer_id = $1 ORDER BY vendor_id, buyer_id`, companyID)
	if err != nil {
		return nil, mapError(err, "connections")
	}
	cs, err := pgx.CollectRows(rows, pgx.RowToStructByPos[invoice.Connection])
	return cs, mapError(err, "connections")
}

// ConnectionChanges lists the pair's audited changes, oldest first.
func (s *Store) ConnectionChanges(ctx context.Context, vendorID, buyerID string) ([]ConnectionChange, error) {
	rows, err := s.pool.Query(ctx, `SELECT vendor_id, buyer_id, action, from_status, to_status, company_id, user_id, changed_at,
			coalesce(refused, ''), coalesce(reason, '')
		FROM connection_changes WHERE vendor_id = $1 AND buyer_id = $2 ORDER BY id`, vendorID, buyerID)
	if err != nil {
		return nil, mapError(err, "connection changes")
	}
	chs, err := pgx.CollectRows(rows, pgx.RowToStructByPos[ConnectionChange])
	return chs, mapError(err, "connection changes")
}

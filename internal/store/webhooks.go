package store

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/k2kinvoice/autoinvoice/internal/invoice"
)

// WebhookPayload is the body of a webhook message about an invoice or a credit note: Standard
// Webhooks' type, timestamp and data, the data being the audit event. (A connection change's
// message has the same form, its data a ConnectionChange.)
type WebhookPayload struct {
	Type      string        `json:"type"`
	Timestamp time.Time     `json:"timestamp"`
	Data      invoice.Event `json:"data"`
}

// enqueueWebhook writes a message about what happened to the outbox of every active endpoint of
// the companies that takes its type, in the caller's transaction: the event key names it, the
// ordering key orders it among its kin, data goes into the Standard Webhooks body.
func enqueueWebhook(ctx context.Context, tx pgx.Tx, eventKey, eventType, orderingKey string, at time.Time, data any, companies ...string) error {
	payload, err := json.Marshal(struct {
		Type      string    `json:"type"`
		Timestamp time.Time `json:"timestamp"`
		Data      any       `json:"data"`
	}{eventType, at.UTC(), data})
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `
		INSERT INTO webhook_outbox (endpoint_id, event_key, event_type, ordering_key, payload)
		SELECT ep.id, $1, $2, $3, $4 FROM webhook_endpoints ep
		WHERE ep.active AND ep.company_id = ANY ($5) AND (cardinality(ep.event_types) = 0 OR $2 = ANY (ep.event_types))`,
		eventKey, eventType, orderingKey, payload, companies)
	return err
}

// WebhookEndpoint is a company's registered receiver of its invoices' events.
type WebhookEndpoint struct {
	ID        int64
	CompanyID string
	URL       string
	// EventTypes filters the types delivered (invoice.EventTypes); empty: every type.
	EventTypes []string
	Active     bool
	CreatedAt  time.Time
}

// WebhookEndpointAdd registers an endpoint and returns it with its signing secret ("whsec_" and
// base64 of 32 random bytes), which is shown only now. Events recorded from now on are delivered
// to it. The registration is audited as the company's setting webhook_endpoint, with by.
func (s *Store) WebhookEndpointAdd(ctx context.Context, companyID, url string, eventTypes []string, by Changer) (WebhookEndpoint, string, error) {
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return WebhookEndpoint{}, "", err
	}
	secret := "whsec_" + base64.StdEncoding.EncodeToString(raw)
	if eventTypes == nil {
		eventTypes = []string{}
	}
	ep := WebhookEndpoint{CompanyID: companyID, URL: url, EventTypes: eventTypes, Active: true}
	stored, err := s.seal(secret)
	if err != nil {
		return WebhookEndpoint{}, "", err
	}
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `INSERT INTO webhook_endpoints (company_id, url, secret, event_types) VALUES ($1, $2, $3, $4)
			RETURNING id, created_at`, companyID, url, stored, eventTypes).Scan(&ep.ID, &ep.CreatedAt); err != nil {
			return err
		}
		return recordSettingChange(ctx, tx, companyID, "webhook_endpoint", "none", ep.describe(), by)
	})
	return ep, secret, mapError(err, "webhook endpoint of "+companyID)
}

// describe is the endpoint as its audit rows show it: ID, URL, event types, on or off.
func (ep WebhookEndpoint) describe() string {
	types := "every event type"
	if len(ep.EventTypes) > 0 {
		types = strings.Join(ep.EventTypes, ", ")
	}
	return fmt.Sprintf("#%d %s (%s; enabled=%t)", ep.ID, ep.URL, types, ep.Active)
}

// WebhookEndpointSetActive turns an endpoint off (nothing more is written to its outbox) or on
// again; a change is audited as the company's setting webhook_endpoint, with by.
func (s *Store) WebhookEndpointSetActive(ctx context.Context, id int64, active bool, by Changer) error {
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		ep := WebhookEndpoint{ID: id}
		err := tx.QueryRow(ctx, `SELECT company_id, url, event_types, active FROM webhook_endpoints WHERE id = $1 FOR UPDATE`, id).
			Scan(&ep.CompanyID, &ep.URL, &ep.EventTypes, &ep.Active)
		if err != nil || ep.Active == active { // no row: ErrNotFound (mapError)
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE webhook_endpoints SET active = $2, updated_at = now() WHERE id = $1`, id, active); err != nil {
			return err
		}
		old := ep.describe()
		ep.Active = active
		return recordSettingChange(ctx, tx, ep.CompanyID, "webhook_endpoint", old, ep.describe(), by)
	})
	return mapError(err, fmt.Sprintf("webhook endpoint %d", id))
}

// WebhookEndpoints lists a company's endpoints, oldest first (every company's when companyID is "").
func (s *Store) WebhookEndpoints(ctx context.Context, companyID string) ([]WebhookEndpoint, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, company_id, url, event_types, active, created_at FROM webhook_endpoints
		WHERE $1 = '' OR company_id = $1 ORDER BY id`, companyID)
	if err != nil {
		return nil, mapError(err, "webhook endpoints")
	}
	eps, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (WebhookEndpoint, error) {
		var ep WebhookEndpoint
		err := row.Scan(&ep.ID, &ep.CompanyID, &ep.URL, &ep.EventTypes, &ep.Active, &ep.CreatedAt)
		return ep, err
	})
	return eps, mapError(err, "webhook endpoints")
}

// WebhookMessage is one message of the outbox, to deliver to its endpoint.
type WebhookMessage struct {
	ID          int64
	EndpointID  int64
	URL         string
	Secret      string
	EventKey    string
	EventType   string
	OrderingKey string
	Payload     json.RawMessage
	Attempts    int
	CreatedAt   time.Time
	DeliveredAt *time.Time
	LastError   string
}

// MessageID is the message's webhook-id: stable across its attempts and redeliveries, so a
// receiver can drop one it has processed.
func (m WebhookMessage) MessageID() string { return fmt.Sprintf("msg_%d", m.ID) }

// WebhookAttempt is the result of one delivery attempt, for the delivery log.
type WebhookAttempt struct {
	StatusCode int           // 0 when no answer came
	Err        string        // empty on success
	Duration   time.Duration // how long the attempt took
}

// WebhookDeliverNext takes the next messages that are due, at most limit, each the oldest
// undelivered one of its endpoint and invoice, so that one invoice's messages reach an endpoint in
// order; deliver sends each and says how it went. Each message is held (row lock, SKIP LOCKED)
// while it is sent, so several dispatchers share the outbox without sending one message twice at
// once. A delivered message is marked; a failed one is due again after backoff(attempts). It
// returns how many messages it took.
//
// Once ctx ends no message is taken, but the one being sent is still recorded as it went: a
// message its receiver took before a worker stopped is marked delivered, not sent again.
func (s *Store) WebhookDeliverNext(ctx context.Context, limit int, deliver func(WebhookMessage) WebhookAttempt,
	backoff func(attempts int) time.Duration) (int, error) {
	taken := 0
	for taken < limit && ctx.Err() == nil {
		done, err := s.webhookDeliverOne(ctx, deliver, backoff)
		if err != nil || !done {
			return taken, err
		}
		taken++
	}
	return taken, nil
}

// deliveryBookkeeping bounds the transaction that holds a message while it is sent (the POST's
// own timeout is shorter) and records how it went, which goes on after the caller's context ends.
const deliveryBookkeeping = time.Minute

func (s *Store) webhookDeliverOne(ctx context.Context, deliver func(WebhookMessage) WebhookAttempt,
	backoff func(attempts int) time.Duration) (bool, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), deliveryBookkeeping)
	defer cancel()
	found := false
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var m WebhookMessage
		err := tx.QueryRow(ctx, `
			SELECT o.id, o.endpoint_id, ep.url, ep.secret, o.event_key, o.event_type, o.ordering_key, o.payload, o.attempts, o.created_at
			FROM webhook_outbox o JOIN webhook_endpoints ep ON ep.id = o.endpoint_id
			WHERE o.delivered_at IS NULL AND o.next_attempt_at <= now() AND ep.active
			  AND NOT EXISTS (SELECT 1 FROM webhook_outbox p WHERE p.endpoint_id = o.endpoint_id
			                  AND p.ordering_key = o.ordering_key AND p.delivered_at IS NULL AND p.id < o.id)
			ORDER BY o.next_attempt_at, o.id LIMIT 1
			FOR UPDATE OF o SKIP LOCKED`).
			Scan(&m.ID, &m.EndpointID, &m.URL, &m.Secret, &m.EventKey, &m.EventType, &m.OrderingKey, &m.Payload, &m.Attempts, &m.CreatedAt)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		} else if err != nil {
			return err
		}
		found = true
		if m.Secret, err = s.open(m.Secret); err != nil {
			return err
		}
		a := deliver(m)
		if _, err := tx.Exec(ctx, `INSERT INTO webhook_deliveries (outbox_id, status_code, error, duration_ms)
			VALUES ($1, nullif($2, 0), nullif($3, ''), $4)`, m.ID, a.StatusCode, a.Err, a.Duration.Milliseconds()); err != nil {
			return err
		}
		if a.Err == "" {
			_, err = tx.Exec(ctx, `UPDATE webhook_outbox SET delivered_at = now(), attempts = attempts + 1, last_error = NULL WHERE id = $1`, m.ID)
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE webhook_outbox SET attempts = attempts + 1, last_error = $2,
			next_attempt_at = now() + $3 * interval '1 millisecond' WHERE id = $1`, m.ID, a.Err, backoff(m.Attempts+1).Milliseconds())
		return err
	})
	return found, mapError(err, "webhook outbox")
}

// WebhookMessages lists an endpoint's messages, newest first, at most limit: the delivery log's
// view of what was sent, what waits and why it failed.
func (s *Store) WebhookMessages(ctx context.Context, endpointID int64, limit int) ([]WebhookMessage, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, endpoint_id, event_key, event_type, ordering_key, payload, attempts,
			created_at, delivered_at, coalesce(last_error, '')
		FROM webhook_outbox WHERE endpoint_id = $1 ORDER BY id DESC LIMIT $2`, endpointID, limit)
	if err != nil {
		return nil, mapError(err, "webhook messages")
	}
	msgs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (WebhookMessage, error) {
		var m WebhookMessage
		err := row.Scan(&m.ID, &m.EndpointID, &m.EventKey, &m.EventType, &m.OrderingKey, &m.Payload, &m.Attempts,
			&m.CreatedAt, &m.DeliveredAt, &m.LastError)
		return m, err
	})
	return msgs, mapError(err, "webhook messages")
}

// WebhookRedeliver sends a message again, under the same webhook-id: due now, as if new; the
// messages of its invoice after it wait for it again only if they are not delivered yet.
func (s *Store) WebhookRedeliver(ctx context.Context, messageID int64) error {
	tag, err := s.pool.Exec(ctx, `UPDATE webhook_outbox SET delivered_at = NULL, next_attempt_at = now() WHERE id = $1`, messageID)
	if err == nil && tag.RowsAffected() == 0 {
		return fmt.Errorf("webhook message %d: %w", messageID, ErrNotFound)
	}
	return mapError(err, fmt.Sprintf("webhook message %d", messageID))
}

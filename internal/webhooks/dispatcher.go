// Package webhooks delivers the audit events of a company's invoices to the endpoints it
// registered: from the transactional outbox the store writes with every audit row, in order per
// invoice, at least once, signed per the Standard Webhooks specification (webhook-id,
// webhook-timestamp, webhook-signature: HMAC-SHA256 with the endpoint's secret), retried with
// backoff, every attempt logged.
package webhooks

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/k2kinvoice/autoinvoice/internal/store"
)

// Dispatcher sends the outbox's messages. Several may run (one per worker): each message is held
// by one at a time, and one invoice's messages reach an endpoint in order.
type Dispatcher struct {
	Store  *store.Store
	Client *http.Client
	Log    *slog.Logger
	// Idle is how long to wait before looking again when nothing was due.
	Idle time.Duration
	// Now is the clock the signatures' timestamps come from (time.Now when nil).
	Now func() time.Time
}

// NewDispatcher sends with a 10-second timeout per attempt and looks for work every second when idle.
func NewDispatcher(s *store.Store, log *slog.Logger) *Dispatcher {
	return &Dispatcher{Store: s, Client: &http.Client{Timeout: 10 * time.Second}, Log: log, Idle: time.Second}
}

// Backoff is how long a message waits after its n-th failed attempt: 1 s, doubling, at most 5
// minutes. A message is retried until it is delivered or its endpoint is turned off, so a
// receiver down for an hour gets everything, in order, a few minutes after it is back.
func Backoff(n int) time.Duration {
	if n > 9 {
		return 5 * time.Minute
	}
	return min(time.Second<<max(n-1, 0), 5*time.Minute)
}

// Run delivers until ctx ends.
func (d *Dispatcher) Run(ctx context.Context) error {
	for {
		n, err := d.Store.WebhookDeliverNext(ctx, 100, func(m store.WebhookMessage) store.WebhookAttempt { return d.Deliver(ctx, m) }, Backoff)
		if err != nil && ctx.Err() == nil {
			d.Log.Error("webhook outbox", "error", err)
		}
		if n > 0 && err == nil {
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(d.Idle):
		}
	}
}

// Deliver sends one message: a POST of its payload with the Standard Webhooks headers. Any 2xx
// answer delivers it; anything else is a failed attempt.
func (d *Dispatcher) Deliver(ctx context.Context, m store.WebhookMessage) store.WebhookAttempt {
	start := time.Now()
	attempt := func(code int, err error) store.WebhookAttempt {
		a := store.WebhookAttempt{StatusCode: code, Duration: time.Since(start)}
		if err != nil {
			a.Err = err.Error()
			d.Log.Warn("webhook not delivered", "message", m.MessageID(), "endpoint", m.EndpointID, "event", m.EventKey,
				"attempt", m.Attempts+1, "error", err)
		}
		return a
	}
	now := time.Now
	if d.Now != nil {
		now = d.Now
	}
	answer, err := Post(ctx, d.Client, m.URL, m.Secret, m.MessageID(), now(), m.Payload, nil)
	if err != nil {
		return attempt(0, err)
	}
	if answer.Code/100 != 2 {
		return attempt(answer.Code, fmt.Errorf("the endpoint answered %s", answer.Status))
	}
	return attempt(answer.Code, nil)
}

package activities

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/k2kinvoice/autoinvoice/internal/invoice"
)

// Notification tells people that an invoice waits for them. It is posted as JSON.
type Notification struct {
	EventKey      string         `json:"event_key"`
	Kind          string         `json:"kind"` // "reminder"
	WorkflowID    string         `json:"workflow_id"`
	VendorID      string         `json:"vendor_id"`
	BuyerID       string         `json:"buyer_id"`
	PONumber      string         `json:"po_number"`
	InvoiceNumber string         `json:"invoice_number"`
	Status        invoice.Status `json:"status"`
	WaitingFor    string         `json:"waiting_for"`
	// WaitingOn is the side of the connection the invoice waits for: the vendor for a disputed
	// invoice, the buyer otherwise.
	WaitingOn invoice.Party `json:"waiting_on"`
	Since     time.Time     `json:"since"`
	Reminder  int           `json:"reminder"` // 1 for the first reminder in this status
}

// Notifier posts notifications to a webhook URL.
type Notifier struct {
	URL    string
	Client *http.Client
}

// NewNotifier posts to url with a bounded timeout; nil when url is empty (no hook configured).
func NewNotifier(url string) *Notifier {
	if url == "" {
		return nil
	}
	return &Notifier{URL: url, Client: &http.Client{Timeout: 10 * time.Second}}
}

// Send posts n. A 2xx answer is delivered; 4xx other than 408 and 429 is a non-retryable refusal
// of the hook; anything else is retried by the activity's policy.
func (n *Notifier) Send(ctx context.Context, note Notification) error {
	body, err := json.Marshal(note)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("notify %s: %w", n.URL, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", note.EventKey)
	resp, err := n.Client.Do(req)
	if err != nil {
		return fmt.Errorf("notify %s: %w", n.URL, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return nil
	case resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != http.StatusRequestTimeout && resp.StatusCode != http.StatusTooManyRequests:
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("notify %s: %s", n.URL, resp.Status), "NotificationRefused", nil)
	}
	return fmt.Errorf("notify %s: %s", n.URL, resp.Status)
}

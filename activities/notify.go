package activities

import (
	"context"
	"time"

	"github.com/k2kinvoice/autoinvoice/internal/invoice"
)

// Notification is the input of the retired Notify activity, which runs older than the webhook
// events still schedule.
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

// Notify is the retired reminder hook. Runs started before reminders went out as webhook events
// still schedule it for each reminder; it does nothing, since the reminder's audit row already
// queued its webhook messages.
func (a *Activities) Notify(context.Context, Notification) error { return nil }

package invoice

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// EventKind classifies an audit event.
type EventKind string

// The kinds of audit event.
const (
	EventNotEligible    EventKind = "not_eligible"        // the order did not become an invoice
	EventRejected       EventKind = "rejected"            // the order's content was refused (e.g. not a PDF)
	EventInvoiceCreated EventKind = "invoice_created"     // the AP invoice exists
	EventTransition     EventKind = "transition"          // an accepted action moved the status
	EventRefused        EventKind = "refused"             // an action was refused; nothing changed
	EventReminder       EventKind = "reminder"            // the invoice has waited too long in its status
	EventCreditNote     EventKind = "credit_note_created" // a credit note against the invoice exists, in AP
)

// Event is one audit row: who, when, from, to, why. Key is unique per event and derived from the
// workflow, so recording the same event again (an activity retry) is a no-op.
type Event struct {
	Key        string `json:"key"`
	WorkflowID string `json:"workflow_id"`
	InvoiceID  int64  `json:"invoice_id,omitempty"` // 0 before the invoice exists
	// CreditNoteID names the credit note an event is about (0: the invoice itself); its
	// transitions move the credit note, not the invoice.
	CreditNoteID int64     `json:"credit_note_id,omitempty"`
	VendorID     string    `json:"vendor_id"`
	BuyerID      string    `json:"buyer_id"`
	PONumber     string    `json:"po_number"`
	Kind         EventKind `json:"kind"`
	Action       Action    `json:"action,omitempty"`
	Actor        Actor     `json:"actor"`
	From         Status    `json:"from,omitempty"`
	To           Status    `json:"to,omitempty"`
	Code         string    `json:"code,omitempty"` // refusal code or not-eligible reason
	Reason       string    `json:"reason,omitempty"`
	OccurredAt   time.Time `json:"occurred_at"`
	// UpdatePending is the warning flag after the event: a vendor update awaits review.
	UpdatePending bool `json:"update_pending"`
	// Revision is the invoice's revision after the event (0 before the invoice exists).
	Revision int `json:"revision,omitempty"`
	// WaitingOn and Reminder describe a reminder: the side of the connection the invoice waits
	// for (the vendor for a disputed invoice, the buyer otherwise), and which reminder of the
	// stay in its status it is (1 for the first).
	WaitingOn Party `json:"waiting_on,omitempty"`
	Reminder  int   `json:"reminder,omitempty"`
}

// CreditNoteWorkflowPrefix starts the workflow ID of every credit note.
const CreditNoteWorkflowPrefix = "k2k-credit-note/"

// Type is the event's type for webhook receivers: "invoice." or "credit_note." and what happened
// ("invoice.transition", "invoice.refused", "invoice.reminder", "credit_note.created", …).
func (e Event) Type() string {
	if e.CreditNoteID != 0 || strings.HasPrefix(e.WorkflowID, CreditNoteWorkflowPrefix) {
		return "credit_note." + strings.TrimPrefix(string(e.Kind), "credit_note_")
	}
	return "invoice." + strings.TrimPrefix(string(e.Kind), "invoice_")
}

// EventTypes lists every event type a webhook endpoint may filter on.
func EventTypes() []string {
	var types []string
	for _, k := range []EventKind{EventNotEligible, EventRejected, EventInvoiceCreated, EventTransition, EventRefused, EventReminder} {
		types = append(types, Event{Kind: k}.Type())
	}
	for _, k := range []EventKind{EventCreditNote, EventTransition, EventRefused, EventRejected} {
		types = append(types, Event{Kind: k, WorkflowID: CreditNoteWorkflowPrefix}.Type())
	}
	for _, a := range append(ConnectionActions(), "set", "refused") {
		types = append(types, ConnectionEventType(string(a)))
	}
	return types
}

// CheckEventType returns the rule t breaks as an event type a webhook endpoint filters on, ""
// when it is one.
func CheckEventType(t string) string {
	if slices.Contains(EventTypes(), t) {
		return ""
	}
	return fmt.Sprintf("%q is not one of the event types; it must be one of %v", t, EventTypes())
}

// ConnectionEventType is the webhook event type of a connection change: "connection." and the
// handshake action ("set" when the operator set the status, "refused" for a refused action).
func ConnectionEventType(action string) string { return "connection." + action }

// PDFSource says where an invoice's PDF came from.
type PDFSource string

// The PDF sources.
const (
	PDFFromVendor PDFSource = "vendor"   // uploaded by the vendor with the confirmation
	PDFRendered   PDFSource = "rendered" // rendered from the order lines
)

// Document locates an invoice PDF in object storage. Only this travels through Temporal, never
// the bytes.
type Document struct {
	Key    string    `json:"key"`
	Size   int64     `json:"size"`
	SHA256 string    `json:"sha256"` // lower-case hex
	Source PDFSource `json:"source"`
}

// Summary is the event in one line, for the Temporal UI: "refused mark_paid by GLOBEX/bob (AP)".
func (e Event) Summary() string {
	line := "record " + string(e.Kind)
	if e.Action != "" {
		line += " " + string(e.Action)
	}
	if e.Actor.CompanyID != "" {
		line += " by " + e.Actor.CompanyID + "/" + e.Actor.UserID
	}
	switch {
	case e.From != "" && e.To != "" && e.From != e.To:
		line += " (" + string(e.From) + " → " + string(e.To) + ")"
	case e.To != "":
		line += " (" + string(e.To) + ")"
	case e.Code != "":
		line += ": " + e.Code
	}
	return line
}

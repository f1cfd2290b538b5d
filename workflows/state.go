package workflows

import (
	"time"

	"github.com/k2kinvoice/autoinvoice/internal/invoice"
)

// ConfirmOrder is the workflow's input: a validated confirmed order and, when the vendor supplied
// its own PDF, the staging key the starter uploaded it to. PDF bytes never travel here.
type ConfirmOrder struct {
	Order      invoice.Order `json:"order"`
	StagingKey string        `json:"staging_key,omitempty"`
}

// Outcome is how an invoice workflow ended; empty while it runs.
type Outcome string

// The outcomes.
const (
	OutcomePaid        Outcome = "paid"         // the invoice went through the lifecycle and was paid
	OutcomeNotEligible Outcome = "not_eligible" // connection inactive or a company did not opt in
	OutcomeRejected    Outcome = "rejected"     // the order's content was refused (bad PDF, invoice number taken)
)

// Transition is one accepted action in the invoice's history.
type Transition struct {
	At     time.Time      `json:"at"`
	Action invoice.Action `json:"action"`
	Actor  invoice.Actor  `json:"actor"`
	From   invoice.Status `json:"from"`
	To     invoice.Status `json:"to"`
}

// Answer is the first answer given to an idempotency key: a re-delivered action gets it again
// instead of being applied twice.
type Answer struct {
	Action   invoice.Action      `json:"action"`
	Accepted bool                `json:"accepted"`
	Code     invoice.RefusalCode `json:"code,omitempty"`
	Reason   string              `json:"reason,omitempty"`
	Status   invoice.Status      `json:"status"` // the status after the action
}

// State is the whole state of one invoice workflow, returned by the status query. It is one
// serializable value, so it can be handed over whole when the workflow continues as new.
type State struct {
	WorkflowID  string           `json:"workflow_id"`
	Order       invoice.Order    `json:"order"`
	StagingKey  string           `json:"staging_key,omitempty"`
	Outcome     Outcome          `json:"outcome,omitempty"`
	Reason      string           `json:"reason,omitempty"`
	InvoiceID   int64            `json:"invoice_id,omitempty"`
	Status      invoice.Status   `json:"status,omitempty"`
	StatusSince time.Time        `json:"status_since"`
	Revision    int              `json:"revision,omitempty"`
	Document    invoice.Document `json:"document"`
	// Discrepancy is the invoice total minus the PO total, in minor units (0 when they agree).
	Discrepancy int64             `json:"discrepancy_minor"`
	Transitions []Transition      `json:"transitions"`
	Answers     map[string]Answer `json:"answers"`
	// EventSeq numbers the audit events this workflow wrote; it makes their keys.
	EventSeq int `json:"event_seq"`
	// Inbox holds the actions received and not yet handled, oldest first.
	Inbox []invoice.ActionRequest `json:"inbox,omitempty"`
}

// Result is what a finished invoice workflow returns.
type Result struct {
	Outcome   Outcome        `json:"outcome"`
	Reason    string         `json:"reason,omitempty"`
	InvoiceID int64          `json:"invoice_id,omitempty"`
	Status    invoice.Status `json:"status,omitempty"`
}

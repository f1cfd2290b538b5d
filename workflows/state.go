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
	// Reminders says when to remind people of an invoice waiting in a status; zero values take
	// DefaultReminders.
	Reminders ReminderPolicy `json:"reminders"`
	// SearchAttributesSet says the start set K2KVendor, K2KBuyer, K2KPONumber and K2KInvoiceNumber
	// to this order's values (invoiceclient.StartOptions does), so the workflow need not.
	SearchAttributesSet bool `json:"search_attributes_set,omitempty"`
	// ContinueAsNewAfterEvents continues the workflow as new once its history holds this many
	// events, besides whenever the server suggests it. 0: only when suggested. For tests.
	ContinueAsNewAfterEvents int `json:"continue_as_new_after_events,omitempty"`
	// Confirmation numbers the confirmations of this order (0 or 1: the first). A voided order
	// confirmed again with a new invoice number starts a new run with the next number
	// (invoiceclient decides); each confirmation owns its invoice row.
	Confirmation int `json:"confirmation,omitempty"`
	// ExportWindow is how long an export to the buyer's accounting system is retried before the
	// invoice goes to F; 0: DefaultExportWindow.
	ExportWindow time.Duration `json:"export_window,omitempty"`
	// Resume is the state handed over by continue-as-new; nil on the first run.
	Resume *State `json:"resume,omitempty"`
}

// ReminderPolicy is how long an invoice may wait in each status before a reminder, and how many
// reminders one stay in a status gets. A zero duration sends no reminders for that status.
type ReminderPolicy struct {
	AP time.Duration `json:"ap"`
	AA time.Duration `json:"aa"`
	A  time.Duration `json:"a"`
	// D reminds the vendor of a disputed invoice.
	D   time.Duration `json:"d"`
	Max int           `json:"max"`
}

// DefaultReminders remind procurement after 3 days in AP, accounting after 2 days in AA and after
// 7 days in A, and the vendor after 5 days in D, at most 3 times per stay.
var DefaultReminders = ReminderPolicy{AP: 72 * time.Hour, AA: 48 * time.Hour, A: 7 * 24 * time.Hour, D: 5 * 24 * time.Hour, Max: 3}

// orDefault fills what p leaves unset from DefaultReminders.
func (p ReminderPolicy) orDefault() ReminderPolicy {
	if p == (ReminderPolicy{}) {
		return DefaultReminders
	}
	if p.Max == 0 {
		p.Max = DefaultReminders.Max
	}
	return p
}

// after is how long an invoice may wait in status s before a reminder (0: never).
func (p ReminderPolicy) after(s invoice.Status) time.Duration {
	switch s {
	case invoice.StatusAP:
		return p.AP
	case invoice.StatusAA:
		return p.AA
	case invoice.StatusA:
		return p.A
	case invoice.StatusD:
		return p.D
	}
	return 0
}

// Outcome is how an invoice workflow ended; empty while it runs.
type Outcome string

// The outcomes.
const (
	OutcomePaid        Outcome = "paid"         // the invoice went through the lifecycle and was paid
	OutcomeNotEligible Outcome = "not_eligible" // connection inactive or a company did not opt in
	OutcomeRejected    Outcome = "rejected"     // the order's content was refused (bad PDF, invoice number taken)
	OutcomeVoided      Outcome = "voided"       // the vendor voided the disputed invoice; the order may be confirmed again
)

// Outcomes lists every outcome, of invoices and of credit notes (OutcomeApplied).
func Outcomes() []Outcome {
	return []Outcome{OutcomePaid, OutcomeNotEligible, OutcomeRejected, OutcomeVoided, OutcomeApplied}
}

// outcomeOf is how the lifecycle ended in terminal status s.
func outcomeOf(s invoice.Status) Outcome {
	if s == invoice.StatusV {
		return OutcomeVoided
	}
	return OutcomePaid
}

// Export is the result of sending the invoice to the buyer's accounting system.
type Export struct {
	Key       string    `json:"key"`
	Reference string    `json:"reference,omitempty"` // the accounting system's, when synchronized
	Failure   string    `json:"failure,omitempty"`   // why it failed
	At        time.Time `json:"at"`
}

// DefaultExportWindow is how long an export is retried before it fails.
const DefaultExportWindow = time.Hour

// Statement is a reason someone gave with an action that is still in force: the buyer's dispute
// for the vendor to answer, or procurement's override of the tolerance.
type Statement struct {
	Reason string        `json:"reason"`
	By     invoice.Actor `json:"by"`
	At     time.Time     `json:"at"`
}

// Revision is one version of the invoice: the first from the confirmation, the next ones from
// vendor updates. Every revision's PDF stays in storage.
type Revision struct {
	Revision      int              `json:"revision"`
	InvoiceNumber string           `json:"invoice_number"`
	Currency      string           `json:"currency"`
	TotalMinor    int64            `json:"total_minor"`
	Document      invoice.Document `json:"document"`
	At            time.Time        `json:"at"`
}

// Transition is one accepted action in the invoice's history.
type Transition struct {
	At     time.Time      `json:"at"`
	Action invoice.Action `json:"action"`
	Actor  invoice.Actor  `json:"actor"`
	From   invoice.Status `json:"from"`
	To     invoice.Status `json:"to"`
	Reason string         `json:"reason,omitempty"` // the actor's reason; for a payment, its date and reference
}

// Payment is how the invoice was paid, as accounting reported it.
type Payment struct {
	Date      string `json:"date"` // YYYY-MM-DD
	Reference string `json:"reference"`
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
	WorkflowID string `json:"workflow_id"`
	// Confirmation numbers this confirmation of the order (0 or 1: the first; ConfirmOrder).
	Confirmation int              `json:"confirmation,omitempty"`
	Order        invoice.Order    `json:"order"`
	StagingKey   string           `json:"staging_key,omitempty"`
	Outcome      Outcome          `json:"outcome,omitempty"`
	Reason       string           `json:"reason,omitempty"`
	InvoiceID    int64            `json:"invoice_id,omitempty"`
	Status       invoice.Status   `json:"status,omitempty"`
	StatusSince  time.Time        `json:"status_since"`
	Revision     int              `json:"revision,omitempty"`
	Document     invoice.Document `json:"document"`
	// UpdatePending is the warning flag: a vendor update the buyer has not acknowledged yet.
	UpdatePending bool `json:"update_pending"`
	// SeparateDuties is the buyer's separation-of-duties setting when the order was confirmed:
	// ApprovedBy may then neither approve the payment nor mark the invoice paid.
	SeparateDuties bool `json:"separate_duties,omitempty"`
	// ApprovedBy is the user whose procurement approval is in force (empty in AP).
	ApprovedBy string `json:"approved_by,omitempty"`
	// Tolerance is the buyer's tolerance when the order was confirmed (nil: none), and Standing
	// where the current revision's discrepancy stands against it.
	Tolerance *invoice.Tolerance `json:"tolerance,omitempty"`
	Standing  invoice.Standing   `json:"tolerance_standing,omitempty"`
	// Override is procurement's reason to approve a discrepancy beyond the tolerance, while that
	// approval is in force.
	Override *Statement `json:"tolerance_override,omitempty"`
	// Exports says approved invoices go to the buyer's accounting system (Eligibility.Exports),
	// retried for ExportWindow; Export is the last sending's result.
	Exports      bool          `json:"exports,omitempty"`
	ExportWindow time.Duration `json:"export_window,omitempty"`
	Export       *Export       `json:"export,omitempty"`
	// Dispute is the buyer's dispute while the invoice is in D, for the vendor to answer.
	Dispute   *Statement `json:"dispute,omitempty"`
	Revisions []Revision `json:"revisions"`
	Payment   *Payment   `json:"payment,omitempty"`
	// Discrepancy is the current invoice total minus the PO total, in minor units (0 when they
	// agree). Blocks approve only beyond the buyer's tolerance (Standing).
	Discrepancy int64             `json:"discrepancy_minor"`
	Transitions []Transition      `json:"transitions"`
	Answers     map[string]Answer `json:"answers"`
	// EventSeq numbers the audit events this workflow wrote; it makes their keys.
	EventSeq int `json:"event_seq"`
	// Inbox holds the actions received and not yet handled, oldest first.
	Inbox []QueuedAction `json:"inbox,omitempty"`
	// RemindersSent counts the reminders of the current stay in Status.
	RemindersSent int            `json:"reminders_sent"`
	Reminders     ReminderPolicy `json:"reminder_policy"`
	// ContinueAsNewAfterEvents is carried from the input to every run.
	ContinueAsNewAfterEvents int `json:"continue_as_new_after_events,omitempty"`
	// Runs counts the workflow runs this invoice has lived through (1 before any continue-as-new).
	Runs int `json:"runs"`
}

// Result is what a finished invoice workflow returns.
type Result struct {
	Outcome   Outcome        `json:"outcome"`
	Reason    string         `json:"reason,omitempty"`
	InvoiceID int64          `json:"invoice_id,omitempty"`
	Status    invoice.Status `json:"status,omitempty"`
}

// NextConfirmation says whether order o, confirmed while s is the state of the order's closed
// workflow, starts a new run, and its confirmation number. It does when the invoice was voided (or
// a confirmation after a void was rejected) and o carries an invoice number that run never used:
// the same number again is the earlier confirmation delivered again, answered with s.
func (s State) NextConfirmation(o invoice.Order) (int, bool) {
	if s.Outcome != OutcomeVoided && (s.Outcome != OutcomeRejected || s.Confirmation < 2) {
		return 0, false
	}
	if o.InvoiceNumber == s.Order.InvoiceNumber {
		return 0, false
	}
	for _, r := range s.Revisions {
		if o.InvoiceNumber == r.InvoiceNumber {
			return 0, false
		}
	}
	return max(s.Confirmation, 1) + 1, true
}

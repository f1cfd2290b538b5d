package invoice

import (
	"strings"
	"time"
)

// CreditNote is a vendor's credit against one of its paid invoices: its own number (unique per
// vendor and buyer among credit notes), date, amount, reason and lines, and optionally the
// vendor's own PDF (staged like an invoice's). Its currency is the invoice's. Several partial
// credit notes may follow one invoice, together at most its total.
type CreditNote struct {
	Number     string `json:"number"`
	IssueDate  string `json:"issue_date"`
	Currency   string `json:"currency"`
	TotalMinor int64  `json:"total_minor"`
	Reason     string `json:"reason"`
	Lines      []Line `json:"lines"`
	StagingKey string `json:"staging_key,omitempty"`
}

// StatusCreditApplied is a credit note's last status: approved by the buyer and applied to the
// invoice (terminal). Before it a credit note is in AP, then AA, as an invoice is.
const StatusCreditApplied Status = "CA"

// CreditNoteStatuses lists a credit note's statuses, in order.
func CreditNoteStatuses() []Status { return []Status{StatusAP, StatusAA, StatusCreditApplied} }

// The actions on a credit note.
const (
	ActionApproveCreditNote Action = "approve_credit_note" // procurement approves it: AP → AA
	ActionApplyCreditNote   Action = "apply_credit_note"   // accounting applies it to the invoice: AA → CA
)

// creditTable is a credit note's lifecycle: the buyer's procurement approves it, then accounting
// applies it (another user than the approver, when the buyer separates duties).
var creditTable = []rule{
	{action: ActionApproveCreditNote, summary: "Buyer procurement approves the credit note (AP → AA).", from: []Status{StatusAP}, to: StatusAA, party: PartyBuyer, roles: []Role{RoleProcurement}},
	{action: ActionApplyCreditNote, summary: "Buyer accounting applies the credit note to the invoice (AA → CA).", from: []Status{StatusAA}, to: StatusCreditApplied, party: PartyBuyer, roles: []Role{RoleAccounting}, notByApprover: true},
}

// CreditNoteActions lists the actions on a credit note, in lifecycle order.
func CreditNoteActions() []Action { return actionsOf(creditTable) }

// DecideCreditNote applies the credit note's table as Decide applies the invoice's.
func DecideCreditNote(f Facts, req ActionRequest) (Status, error) {
	return decideIn(creditTable, "credit note", f, req)
}

// Validate checks every rule of a credit note on its own and reports all broken ones at once,
// with field names under "credit_note.". What depends on the invoice (paid, its currency, what is
// still uncredited) is checked against it when the credit note is created.
func (c CreditNote) Validate() error {
	v := &ValidationError{}
	checkText(v, "credit_note.number", c.Number, MaxNumberLen)
	if _, err := time.Parse(time.DateOnly, c.IssueDate); err != nil {
		v.add("credit_note.issue_date", "must be a calendar date as YYYY-MM-DD")
	}
	if rule := CheckCurrency(c.Currency); rule != "" {
		v.add("credit_note.currency", rule)
	}
	if c.TotalMinor <= 0 {
		v.add("credit_note.total_minor", "must be greater than zero")
	}
	checkFreeText(v, "credit_note.reason", c.Reason, MaxReasonLen)
	if strings.TrimSpace(c.Reason) == "" {
		v.add("credit_note.reason", "is required: the buyer reads why the invoice is credited")
	}
	checkLines(v, "credit_note.", c.TotalMinor, c.Lines)
	if c.StagingKey != "" && !IsStagingKey(c.StagingKey) {
		v.add("credit_note.staging_key", "must be a staged upload: staging/ followed by the PDF's SHA-256 in hex and .pdf")
	}
	return v.orNil()
}

// The refusals of a credit note against its invoice.
const (
	// RefusedOverCredit: the credit note's amount is more than what is still uncredited.
	RefusedOverCredit RefusalCode = "over_credit"
	// RefusedNotPaid: only a paid invoice takes a credit note.
	RefusedNotPaid RefusalCode = "invoice_not_paid"
)

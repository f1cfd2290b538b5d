package invoice

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Status is the buyer-side status of a vendor invoice, with the ERP's own codes.
type Status string

// The statuses of docs/design.md §3.
const (
	StatusAP Status = "AP" // pending approval by procurement
	StatusAA Status = "AA" // pending approval by accounting
	StatusA  Status = "A"  // approved, ready to pay
	StatusP  Status = "P"  // paid (terminal)
	StatusD  Status = "D"  // disputed by the buyer, waiting for the vendor
	StatusV  Status = "V"  // voided by the vendor (terminal)
	StatusES Status = "ES" // sent to the buyer's accounting system, waiting for its answer
	StatusS  Status = "S"  // synchronized: the buyer's accounting system took it
	StatusF  Status = "F"  // the export to the buyer's accounting system failed
)

// Statuses lists every status, in lifecycle order.
func Statuses() []Status {
	return []Status{StatusAP, StatusAA, StatusA, StatusES, StatusS, StatusF, StatusP, StatusD, StatusV}
}

// Label is the status as the buyer's screens name it.
func (s Status) Label() string {
	switch s {
	case StatusAP:
		return "pending approval by procurement"
	case StatusAA:
		return "pending approval by accounting"
	case StatusA:
		return "approved, ready to pay"
	case StatusP:
		return "paid"
	case StatusD:
		return "disputed, waiting for the vendor"
	case StatusV:
		return "voided by the vendor"
	case StatusCreditApplied:
		return "applied"
	case StatusES:
		return "sent to accounting"
	case StatusS:
		return "synchronized with accounting"
	case StatusF:
		return "export to accounting failed"
	}
	return string(s)
}

// Terminal reports whether no action can move the invoice any more: it is paid or voided.
func (s Status) Terminal() bool { return s == StatusP || s == StatusV }

// Action is a human action on an invoice. Each one is sent as a signal named after it.
type Action string

// The actions of the lifecycle (docs/design.md §3).
const (
	ActionApprove               Action = "approve"                 // procurement approves: AP → AA
	ActionApprovePayment        Action = "approve_payment"         // accounting approves payment: AA → A
	ActionReturnToProcurement   Action = "return_to_procurement"   // accounting returns it: AA → AP, with a reason
	ActionCancelPaymentApproval Action = "cancel_payment_approval" // accounting takes approval back: A → AA
	ActionMarkPaid              Action = "mark_paid"               // accounting marks paid: A → P
	ActionVendorUpdate          Action = "vendor_update"           // vendor sends a new revision: AP/AA/A/D → AP, warning set
	ActionAcknowledgeUpdate     Action = "acknowledge_update"      // buyer reviewed the new revision: warning cleared
	ActionDispute               Action = "dispute"                 // buyer disputes the invoice: AP/AA → D, with a reason
	ActionVoid                  Action = "void"                    // vendor voids the disputed invoice: D → V, with a reason
	ActionSendToAccounting      Action = "send_to_accounting"      // accounting sends it (again) to its accounting system: A/F → ES
	ActionReturnToApproved      Action = "return_to_approved"      // accounting takes it back from its accounting system: ES/S/F → A
)

// Role is the role a user acts in.
type Role string

// The roles that act on invoices.
const (
	RoleProcurement Role = "procurement" // buyer: approves invoices
	RoleAccounting  Role = "accounting"  // buyer: approves payments and pays
	RoleVendor      Role = "vendor"      // vendor's backend or staff
	// RoleAdmin is an API key's role, not an actor's: it manages its own company's settings and
	// connections, and acts on no invoice.
	RoleAdmin Role = "admin"
)

// Party is the side of the K2K connection an actor belongs to.
type Party string

// The two sides of a connection.
const (
	PartyBuyer  Party = "buyer"
	PartyVendor Party = "vendor"
)

// Actor is who sends an action: a user of a company, acting in a role.
type Actor struct {
	CompanyID string `json:"company_id"`
	UserID    string `json:"user_id"`
	Role      Role   `json:"role"`
}

// ActionRequest is one human action as it reaches the workflow, as a signal or update payload.
// IdempotencyKey makes a re-delivered action apply once.
type ActionRequest struct {
	Action           Action         `json:"action"`
	Actor            Actor          `json:"actor"`
	IdempotencyKey   string         `json:"idempotency_key"`
	Reason           string         `json:"reason,omitempty"`            // required to return to procurement, dispute or void
	PaymentDate      string         `json:"payment_date,omitempty"`      // mark_paid: YYYY-MM-DD
	PaymentReference string         `json:"payment_reference,omitempty"` // mark_paid: bank or ERP reference
	Update           *InvoiceUpdate `json:"update,omitempty"`            // vendor_update: the new revision
	// OverrideReason lets approve accept a discrepancy beyond the buyer's tolerance; it is audited.
	OverrideReason string `json:"override_reason,omitempty"`
}

// rule is one row of the lifecycle table: the action, from which statuses it is allowed, where
// it leads (empty: the status stays), which party and roles may send it, and how it depends on the
// unreviewed-update warning.
type rule struct {
	action Action
	// summary says what the action does, for people: the Temporal UI's message descriptions.
	summary string
	from    []Status
	to      Status
	party   Party
	roles   []Role
	// blockedByWarning refuses the action while a vendor update awaits the buyer's review.
	blockedByWarning bool
	// needsWarning allows the action only while a vendor update awaits review.
	needsWarning bool
	// notByApprover refuses the action to the user whose procurement approval is in force, when
	// the buyer separates duties.
	notByApprover bool
	// reasonFor, when set, requires a reason, which the other side reads: "is required to " and it.
	reasonFor string
	// withinTolerance refuses the action when the discrepancy is beyond the buyer's tolerance,
	// unless the request carries an override reason.
	withinTolerance bool
	// needsExport allows the action only when the buyer exports to an accounting system.
	needsExport bool
}

var buyerRoles = []Role{RoleProcurement, RoleAccounting}

// table is the lifecycle table of docs/design.md §3, in lifecycle order. New actions are new
// rows: the workflow's message names, the starter's commands and the gateway's routes derive
// from it.
var table = []rule{
	{action: ActionApprove, summary: "Buyer procurement approves the invoice (AP → AA).", from: []Status{StatusAP}, to: StatusAA, party: PartyBuyer, roles: []Role{RoleProcurement}, blockedByWarning: true, withinTolerance: true},
	{action: ActionApprovePayment, summary: "Buyer accounting approves payment (AA → A).", from: []Status{StatusAA}, to: StatusA, party: PartyBuyer, roles: []Role{RoleAccounting}, blockedByWarning: true, notByApprover: true},
	{action: ActionReturnToProcurement, summary: "Buyer accounting returns the invoice to procurement, with a reason (AA → AP).", from: []Status{StatusAA}, to: StatusAP, party: PartyBuyer, roles: []Role{RoleAccounting}, reasonFor: "return an invoice to procurement"},
	{action: ActionCancelPaymentApproval, summary: "Buyer accounting takes the payment approval back (A → AA).", from: []Status{StatusA}, to: StatusAA, party: PartyBuyer, roles: []Role{RoleAccounting}},
	{action: ActionMarkPaid, summary: "Buyer accounting marks the invoice paid, with date and reference (A or S → P).", from: []Status{StatusA, StatusS}, to: StatusP, party: PartyBuyer, roles: []Role{RoleAccounting}, blockedByWarning: true, notByApprover: true},
	{action: ActionVendorUpdate, summary: "The vendor sends a new revision: back to AP, approvals cleared, warning set.", from: []Status{StatusAP, StatusAA, StatusA, StatusD}, to: StatusAP, party: PartyVendor, roles: []Role{RoleVendor}},
	{action: ActionAcknowledgeUpdate, summary: "The buyer has reviewed the vendor's update: clears the warning.", from: []Status{StatusAP, StatusAA, StatusA, StatusD}, party: PartyBuyer, roles: buyerRoles, needsWarning: true},
	{action: ActionDispute, summary: "The buyer disputes the invoice, with a reason for the vendor (AP/AA → D).", from: []Status{StatusAP, StatusAA}, to: StatusD, party: PartyBuyer, roles: buyerRoles, reasonFor: "dispute an invoice"},
	{action: ActionSendToAccounting, summary: "Buyer accounting sends the invoice to its accounting system (A or F → ES); the answer leads to S or F.", from: []Status{StatusA, StatusF}, to: StatusES, party: PartyBuyer, roles: []Role{RoleAccounting}, needsExport: true},
	{action: ActionReturnToApproved, summary: "Buyer accounting takes the invoice back from its accounting system (ES, S or F → A).", from: []Status{StatusES, StatusS, StatusF}, to: StatusA, party: PartyBuyer, roles: []Role{RoleAccounting}},
	{action: ActionVoid, summary: "The vendor voids the disputed invoice, with a reason (D → V); the PO can be invoiced again.", from: []Status{StatusD}, to: StatusV, party: PartyVendor, roles: []Role{RoleVendor}, reasonFor: "void an invoice"},
}

// rules is every rule by action: the invoice's table and the credit note's (creditTable).
var rules = func() map[Action]rule {
	m := make(map[Action]rule, len(table)+len(creditTable))
	for _, r := range append(slices.Clone(table), creditTable...) {
		m[r.action] = r
	}
	return m
}()

// Summary says what action a does, in one line for people; empty for an unknown action.
func Summary(a Action) string { return rules[a].summary }

// Actions lists every action on an invoice, in lifecycle order.
func Actions() []Action { return actionsOf(table) }

func actionsOf(table []rule) []Action {
	actions := make([]Action, len(table))
	for i, r := range table {
		actions[i] = r.action
	}
	return actions
}

// Facts is what a decision needs to know about an invoice.
type Facts struct {
	Status   Status
	VendorID string
	BuyerID  string
	// UpdatePending is the warning flag: a vendor update the buyer has not reviewed yet.
	UpdatePending bool
	// SeparateDuties is the buyer's separation-of-duties setting as it was when the order was
	// confirmed (Eligibility.SeparateDuties).
	SeparateDuties bool
	// ApprovedBy is the user whose procurement approval is in force (empty in AP).
	ApprovedBy string
	// Exports says the buyer sends approved invoices to its accounting system (Eligibility.Exports).
	Exports bool
	// Tolerance is the buyer's tolerance as it was when the order was confirmed
	// (Eligibility.Tolerance); Discrepancy, POTotal and Currency are the current invoice's.
	Tolerance   Tolerance
	Discrepancy int64
	POTotal     int64
	Currency    string
}

// RefusalCode classifies why an action was refused.
type RefusalCode string

// The refusal codes.
const (
	RefusedInvalid     RefusalCode = "invalid_request"      // the request itself is malformed
	RefusedWrongActor  RefusalCode = "wrong_actor"          // this company or role may not send it
	RefusedWrongStatus RefusalCode = "not_allowed_in_state" // not allowed in the current status
	RefusedNoInvoice   RefusalCode = "no_invoice"           // the order did not become an invoice
	RefusedUnreviewed  RefusalCode = "update_unreviewed"    // a vendor update awaits the buyer's review
	RefusedPaid        RefusalCode = "invoice_paid"         // a paid invoice cannot be updated
	RefusedTaken       RefusalCode = "invoice_number_taken" // the new invoice number belongs to another invoice
	RefusedInvalidPDF  RefusalCode = "invalid_pdf"          // the vendor's new PDF is not a PDF or too large
	RefusedSameUser    RefusalCode = "same_user"            // the user who approved for procurement may not also approve payment or pay
	// RefusedOverTolerance: the discrepancy is beyond the buyer's tolerance and approve carries no override reason.
	RefusedOverTolerance RefusalCode = "discrepancy_over_tolerance"
)

// RefusalCodes lists every refusal code, for callers that map them (the gateway, the CLI).
func RefusalCodes() []RefusalCode {
	return []RefusalCode{RefusedInvalid, RefusedWrongActor, RefusedWrongStatus, RefusedNoInvoice,
		RefusedUnreviewed, RefusedPaid, RefusedTaken, RefusedInvalidPDF, RefusedSameUser, RefusedOverTolerance,
		RefusedOverCredit, RefusedNotPaid}
}

// Refusal is a business answer: the action is not applied, the invoice is unchanged.
type Refusal struct {
	Code   RefusalCode `json:"code"`
	Reason string      `json:"reason"`
	// Fields names each broken field and rule of an invalid_request, when the refusal came from
	// the admission rule (CheckRequest).
	Fields []FieldError `json:"fields,omitempty"`
}

func (r *Refusal) Error() string { return string(r.Code) + ": " + r.Reason }

func refuse(code RefusalCode, format string, args ...any) *Refusal {
	return &Refusal{Code: code, Reason: fmt.Sprintf(format, args...)}
}

// Decide applies the lifecycle table: it returns the status the action leads to, or a *Refusal
// saying why it may not happen. It checks, in order, the request, the actor and the status.
func Decide(f Facts, req ActionRequest) (Status, error) {
	return decideIn(table, "invoice", f, req)
}

// decideIn applies one table, of the invoice or of a credit note (what names the document).
func decideIn(table []rule, what string, f Facts, req ActionRequest) (Status, error) {
	if err := Admissible(f, req); err != nil {
		return f.Status, err
	}
	i := slices.IndexFunc(table, func(r rule) bool { return r.action == req.Action })
	if i < 0 {
		return f.Status, refuse(RefusedInvalid, "%s is not an action on a %s (%s)", req.Action, what, actionsOf(table))
	}
	r := table[i]
	if f.Status == "" {
		return f.Status, refuse(RefusedNoInvoice, "there is no invoice for this order (not yet, or the order did not become one), so %s is not possible", req.Action)
	}
	if req.Action == ActionVendorUpdate && f.Status == StatusP {
		return f.Status, refuse(RefusedPaid, "the invoice is paid and cannot be updated; "+CreditNoteAdvice)
	}
	if !slices.Contains(r.from, f.Status) {
		return f.Status, refuse(RefusedWrongStatus, "%s is allowed in status %v, the %s is in %s (%s)",
			req.Action, r.from, what, f.Status, f.Status.Label())
	}
	if r.blockedByWarning && f.UpdatePending {
		return f.Status, refuse(RefusedUnreviewed, "the vendor updated the invoice; the buyer must acknowledge the update before %s", req.Action)
	}
	if r.needsExport && !f.Exports {
		return f.Status, refuse(RefusedWrongStatus, "the buyer sends no invoices to an accounting system (no export configured when the order was confirmed)")
	}
	if r.needsWarning && !f.UpdatePending {
		return f.Status, refuse(RefusedWrongStatus, "there is no unreviewed vendor update to acknowledge")
	}
	if r.notByApprover && f.SeparateDuties && f.ApprovedBy != "" && req.Actor.UserID == f.ApprovedBy {
		return f.Status, refuse(RefusedSameUser, "%s approved this %s for procurement, and the buyer separates duties: another user must %s",
			shortened(f.ApprovedBy), what, req.Action)
	}
	if r.withinTolerance && strings.TrimSpace(req.OverrideReason) == "" &&
		f.Tolerance.Stand(f.Discrepancy, f.POTotal, f.Currency) == StandingBeyond {
		return f.Status, refuse(RefusedOverTolerance, "the invoice total differs from the PO total by %s, beyond the buyer's tolerance (%s); %s with an override_reason to accept it",
			FormatMoney(f.Discrepancy, f.Currency), f.Tolerance.Describe(f.Currency), req.Action)
	}
	if r.to == "" {
		return f.Status, nil
	}
	return r.to, nil
}

// Admissible checks what does not depend on the invoice's status: the request passes
// CheckRequest, and the actor's company and role may send it. Decide starts with it; an update
// validator uses it alone while earlier actions wait to be applied.
func Admissible(f Facts, req ActionRequest) error {
	if err := CheckRequest(req); err != nil {
		return err
	}
	r := rules[req.Action]
	party := PartyVendor
	company := f.VendorID
	if r.party == PartyBuyer {
		party, company = PartyBuyer, f.BuyerID
	}
	if req.Actor.CompanyID != company {
		return refuse(RefusedWrongActor, "%s may only be sent by the %s company %s, not by %s",
			req.Action, party, company, req.Actor.CompanyID)
	}
	if !slices.Contains(r.roles, req.Actor.Role) {
		return refuse(RefusedWrongActor, "%s needs role %v, not %q", req.Action, r.roles, req.Actor.Role)
	}
	return nil
}

// shortened cuts a value quoted in a refusal to 100 bytes; %q then escapes what is not printable.
func shortened(s string) string {
	if len(s) > 100 {
		return s[:100] + "…"
	}
	return s
}

// ReasonRule is the rule an action that needs a reason states ("is required to dispute an
// invoice"); empty when the reason is optional.
func ReasonRule(a Action) string {
	if rules[a].reasonFor == "" {
		return ""
	}
	return "is required to " + rules[a].reasonFor
}

// CreditNoteAdvice says how a paid invoice is corrected.
const CreditNoteAdvice = "issue a credit note instead (POST /v1/credit-notes, or the starter's credit-note issue)"

// Roles lists every role an actor may name.
func Roles() []Role { return []Role{RoleProcurement, RoleAccounting, RoleVendor} }

// Limits on an action's texts.
const (
	MaxUserIDLen           = 200
	MaxIdempotencyKeyLen   = 200
	MaxReasonLen           = 1000
	MaxPaymentReferenceLen = 100
)

// CheckRequest is the admission rule every action passes, whichever door it came through
// (gateway, starter, client library, raw signal, raw update), before it can be applied or
// stored: the action and the role are known, every text is valid UTF-8 within its length and
// without control or bidirectional formatting characters, and the fields the action needs are
// there. It names every broken field and rule in one invalid_request refusal.
func CheckRequest(req ActionRequest) error {
	if _, ok := rules[req.Action]; !ok {
		return refuse(RefusedInvalid, "action %q is not one of %v", shortened(string(req.Action)), append(Actions(), CreditNoteActions()...))
	}
	v := &ValidationError{}
	checkCompanyID(v, "actor.company_id", req.Actor.CompanyID)
	checkText(v, "actor.user_id", req.Actor.UserID, MaxUserIDLen)
	if !slices.Contains(Roles(), req.Actor.Role) {
		v.add("actor.role", fmt.Sprintf("must be one of %v", Roles()))
	}
	checkText(v, "idempotency_key", req.IdempotencyKey, MaxIdempotencyKeyLen)
	checkFreeText(v, "reason", req.Reason, MaxReasonLen)
	checkFreeText(v, "payment_reference", req.PaymentReference, MaxPaymentReferenceLen)
	checkFreeText(v, "override_reason", req.OverrideReason, MaxReasonLen)
	if req.OverrideReason != "" && !rules[req.Action].withinTolerance {
		v.add("override_reason", "is only for "+string(ActionApprove))
	}
	if _, err := time.Parse(time.DateOnly, req.PaymentDate); err != nil && (req.PaymentDate != "" || req.Action == ActionMarkPaid) {
		v.add("payment_date", "must be a calendar date as YYYY-MM-DD")
	}
	if rule := ReasonRule(req.Action); rule != "" && strings.TrimSpace(req.Reason) == "" {
		v.add("reason", rule)
	}
	switch req.Action {
	case ActionMarkPaid:
		if strings.TrimSpace(req.PaymentReference) == "" {
			v.add("payment_reference", "is required to mark an invoice paid")
		}
	case ActionVendorUpdate:
		if req.Update == nil {
			v.add("update", "is required: the new invoice number, issue date, currency, total and lines")
		} else {
			req.Update.check(v)
		}
	}
	if req.Update != nil && req.Action != ActionVendorUpdate {
		v.add("update", "is only for "+string(ActionVendorUpdate))
	}
	if len(v.Fields) > 0 {
		return &Refusal{Code: RefusedInvalid, Reason: v.Error(), Fields: v.Fields}
	}
	return nil
}

// EligibilityReason says why an order may not become an invoice.
type EligibilityReason string

// The not-eligible reasons of docs/design.md §1.
const (
	ReasonUnknownCompany      EligibilityReason = "unknown_company"
	ReasonNoConnection        EligibilityReason = "no_connection"
	ReasonConnectionInactive  EligibilityReason = "connection_inactive"
	ReasonVendorSyncDisabled  EligibilityReason = "vendor_sync_disabled"
	ReasonBuyerUploadDisabled EligibilityReason = "buyer_upload_disabled"
)

// Eligibility is the answer of the eligibility check: eligible, or the reason why not.
type Eligibility struct {
	Eligible bool              `json:"eligible"`
	Reason   EligibilityReason `json:"reason,omitempty"`
	Detail   string            `json:"detail,omitempty"`
	// SeparateDuties is the buyer's separation-of-duties setting when the order was confirmed; an
	// eligible invoice keeps it for its whole life (see Facts).
	SeparateDuties bool `json:"separate_duties,omitempty"`
	// Tolerance is the buyer's tolerance for this vendor when the order was confirmed (nil: none);
	// the invoice keeps it for its whole life.
	Tolerance *Tolerance `json:"tolerance,omitempty"`
	// Exports says the buyer sends approved invoices to its accounting system (its export was
	// configured and on when the order was confirmed).
	Exports bool `json:"exports,omitempty"`
}

// ConnectionFacts is what eligibility depends on, as read from the store.
type ConnectionFacts struct {
	VendorKnown       bool
	BuyerKnown        bool
	ConnectionFound   bool
	ConnectionActive  bool
	VendorSyncEnabled bool // vendor: "Allow Automatic Invoice Synchronization with the Buyer Company"
	BuyerUploadOn     bool // buyer: "Allow Invoices coming from K2K orders to be automatically uploaded"
	// BuyerSeparatesDuties is the buyer's separation-of-duties setting: the user who approved an
	// invoice for procurement may not approve its payment nor mark it paid.
	BuyerSeparatesDuties bool
	// Tolerance is the buyer's tolerance for this connection: the connection's own, else the
	// buyer's; zero when it set none.
	Tolerance Tolerance
	// BuyerExports says the buyer has an accounting export configured and on.
	BuyerExports bool
}

// DecideEligibility applies docs/design.md §1: the connection is active and both companies opted in.
func DecideEligibility(f ConnectionFacts) Eligibility {
	switch {
	case !f.VendorKnown || !f.BuyerKnown:
		return Eligibility{Reason: ReasonUnknownCompany, Detail: "the vendor or the buyer company is not known"}
	case !f.ConnectionFound:
		return Eligibility{Reason: ReasonNoConnection, Detail: "no K2K connection links this vendor and buyer"}
	case !f.ConnectionActive:
		return Eligibility{Reason: ReasonConnectionInactive, Detail: "the K2K connection is not active"}
	case !f.VendorSyncEnabled:
		return Eligibility{Reason: ReasonVendorSyncDisabled,
			Detail: `the vendor has not enabled "Allow Automatic Invoice Synchronization with the Buyer Company"`}
	case !f.BuyerUploadOn:
		return Eligibility{Reason: ReasonBuyerUploadDisabled,
			Detail: `the buyer has not enabled "Allow Invoices coming from K2K orders to be automatically uploaded"`}
	}
	e := Eligibility{Eligible: true, SeparateDuties: f.BuyerSeparatesDuties, Exports: f.BuyerExports}
	if f.Tolerance != (Tolerance{}) {
		e.Tolerance = &f.Tolerance
	}
	return e
}

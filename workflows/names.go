package workflows

import (
	"fmt"
	"net/url"
	"strings"

	"go.temporal.io/sdk/temporal"

	"github.com/k2kinvoice/autoinvoice/internal/invoice"
	"github.com/k2kinvoice/autoinvoice/internal/pathseg"
)

// TaskQueue is the task queue the invoice workflow and its activities run on.
const TaskQueue = "k2k-invoice"

// InvoiceWorkflowType is the registered name of the invoice workflow.
const InvoiceWorkflowType = "K2KInvoice"

// QueryStatus returns the invoice's current State.
const QueryStatus = "status"

// UpdateConfirmation answers a confirmation with the invoice's State, once the order is an AP
// invoice or the workflow ended without one. invoiceclient sends it with the workflow's start
// (update-with-start), so a confirmation is answered in one round trip; it changes nothing, and
// sent again later it answers with the state then.
const UpdateConfirmation = "confirmation"

// Descriptions of the messages, as the Temporal UI shows them: a signal or an update says what
// its action does (invoice.Summary) and how the sender learns the answer.
const (
	UpdateConfirmationDescription = "Answers with the invoice's state once the confirmed order is an AP invoice, or ended without one (not eligible, rejected). Changes nothing."
	QueryStatusDescription        = "The invoice's whole state: order, status and since when, revisions and their PDFs, warning, transitions, and the answer to every idempotency key."
	SignalDescriptionSuffix       = " Fire-and-forget: the answer is in the status query under the request's idempotency key."
	UpdateDescriptionSuffix       = " Answers accepted, or refused with a reason (a non-retryable error whose type is the refusal code)."
)

// Message names, one per human action: the action's name with '-' for '_'. Each is the name of
// a signal (fire-and-forget) and of an update (the caller waits for accepted or refused) carrying
// the same invoice.ActionRequest. The constants are for callers; the workflow derives its list
// from invoice.Actions(), so a new action needs no change here.
const (
	SignalApprove               = "approve"
	SignalApprovePayment        = "approve-payment"
	SignalReturnToProcurement   = "return-to-procurement"
	SignalCancelPaymentApproval = "cancel-payment-approval"
	SignalMarkPaid              = "mark-paid"
	SignalVendorUpdate          = "vendor-update"
	SignalAcknowledgeUpdate     = "acknowledge-update"
	SignalDispute               = "dispute"
	SignalVoid                  = "void"
	SignalSendToAccounting      = "send-to-accounting"
	SignalReturnToApproved      = "return-to-approved"
)

// message pairs a message name with the action it carries.
type message struct {
	name   string
	action invoice.Action
}

// messages are the workflow's messages, one per action of the lifecycle table.
var messages = messagesOf(invoice.Actions())

// messagesOf names a message after each action: the action's name with '-' for '_'.
func messagesOf(actions []invoice.Action) []message {
	var m []message
	for _, a := range actions {
		m = append(m, message{name: strings.ReplaceAll(string(a), "_", "-"), action: a})
	}
	return m
}

// SignalFor names the signal (and the update) that carries an action.
func SignalFor(a invoice.Action) (string, error) { return signalIn(messages, a) }

// signalIn names the message of ms that carries a.
func signalIn(ms []message, a invoice.Action) (string, error) {
	for _, m := range ms {
		if m.action == a {
			return m.name, nil
		}
	}
	var actions []invoice.Action
	for _, m := range ms {
		actions = append(actions, m.action)
	}
	return "", fmt.Errorf("action %q is not one of %v", a, actions)
}

// ActionFor is the action a message name carries: the inverse of SignalFor.
func ActionFor(name string) (invoice.Action, error) {
	for _, m := range messages {
		if m.name == name {
			return m.action, nil
		}
	}
	return "", fmt.Errorf("%q is not a message of the invoice workflow; its messages are %v", name, messageNames())
}

// Search attributes for ops in the Temporal UI. They must be registered on the namespace
// (the dev stack and docker-compose do it from SearchAttributes).
var (
	AttrVendor        = temporal.NewSearchAttributeKeyKeyword("K2KVendor")
	AttrBuyer         = temporal.NewSearchAttributeKeyKeyword("K2KBuyer")
	AttrPONumber      = temporal.NewSearchAttributeKeyKeyword("K2KPONumber")
	AttrInvoiceNumber = temporal.NewSearchAttributeKeyKeyword("K2KInvoiceNumber")
	AttrStatus        = temporal.NewSearchAttributeKeyKeyword("K2KStatus")
	AttrOutcome       = temporal.NewSearchAttributeKeyKeyword("K2KOutcome")
	AttrUpdatePending = temporal.NewSearchAttributeKeyBool("K2KUpdatePending")
	AttrRevision      = temporal.NewSearchAttributeKeyInt64("K2KRevision")
	AttrStatusSince   = temporal.NewSearchAttributeKeyTime("K2KStatusSince")
)

// SearchAttributeSpec is a search attribute's name and its type as the Temporal CLI spells it.
type SearchAttributeSpec struct {
	Name string
	Type string
}

// SearchAttributes lists every search attribute the workflow sets, for registration.
func SearchAttributes() []SearchAttributeSpec {
	return []SearchAttributeSpec{
		{AttrVendor.GetName(), "Keyword"},
		{AttrBuyer.GetName(), "Keyword"},
		{AttrPONumber.GetName(), "Keyword"},
		{AttrInvoiceNumber.GetName(), "Keyword"},
		{AttrStatus.GetName(), "Keyword"},
		{AttrOutcome.GetName(), "Keyword"},
		{AttrUpdatePending.GetName(), "Bool"},
		{AttrRevision.GetName(), "Int"},
		{AttrStatusSince.GetName(), "Datetime"},
	}
}

const workflowIDPrefix = "k2k-invoice"

// MaxWorkflowIDBytes bounds invoice workflow IDs: the Temporal server's SQL persistence stores
// workflow IDs as VARCHAR(255), and its dynamic config refuses longer ones (limit.maxIDLength).
const MaxWorkflowIDBytes = 255

// maxCompanyIDBytes is the longest company ID (invoice's company ID rule: 64 ASCII characters).
const maxCompanyIDBytes = 64

// InvoiceWorkflowID is the workflow ID of a confirmed order, derived from its business key so
// that a re-delivered confirmation finds the same workflow: k2k-invoice/{vendor}/{buyer}/{po},
// each part path-escaped, so a PO number holding '/' cannot collide with another key. A PO number
// too long to fit in MaxWorkflowIDBytes is cut and followed by "~" and a digest of the whole
// number, so IDs stay distinct; the K2KPONumber search attribute always holds it whole.
func InvoiceWorkflowID(vendorID, buyerID, poNumber string) string {
	poBudget := MaxWorkflowIDBytes - len(workflowIDPrefix) - 2*maxCompanyIDBytes - 3
	return strings.Join([]string{workflowIDPrefix, url.PathEscape(vendorID), url.PathEscape(buyerID),
		pathseg.Segment(poNumber, poBudget)}, "/")
}

package workflows

import (
	"strings"
	"testing"

	"github.com/k2kinvoice/autoinvoice/internal/invoice"
)

// TestInvoiceWorkflowIDFitsTheServer: whatever valid business key an order has, its workflow ID
// fits the Temporal server's SQL persistence (255 bytes), two keys never share an ID, and an
// ordinary key reads as it is.
func TestInvoiceWorkflowIDFitsTheServer(t *testing.T) {
	company := strings.Repeat("C", 64) // the longest company ID
	ids := map[string]string{}
	for _, po := range []string{strings.Repeat("ä", 64), strings.Repeat("ä", 63) + "ö", strings.Repeat("😀", 64),
		strings.Repeat("/", 64), strings.Repeat("a", 113), strings.Repeat("a", 114)} {
		id := InvoiceWorkflowID(company, company, po)
		if len(id) > MaxWorkflowIDBytes {
			t.Errorf("PO %q: ID %q is %d bytes, want at most %d", po, id, len(id), MaxWorkflowIDBytes)
		}
		if prev, dup := ids[id]; dup {
			t.Errorf("POs %q and %q share the ID %s", prev, po, id)
		}
		ids[id] = po
	}
	if got := InvoiceWorkflowID("ACME", "GLOBEX", "PO 2024/001"); got != "k2k-invoice/ACME/GLOBEX/PO%202024%2F001" {
		t.Errorf("ordinary key: %q", got)
	}
}

// TestMessageNamesFollowTheTable: every action of the lifecycle table has a message, the exported
// names are those the workflow listens to, and ActionFor inverts SignalFor.
func TestMessageNamesFollowTheTable(t *testing.T) {
	constants := map[invoice.Action]string{
		invoice.ActionApprove: SignalApprove, invoice.ActionApprovePayment: SignalApprovePayment,
		invoice.ActionReturnToProcurement: SignalReturnToProcurement, invoice.ActionCancelPaymentApproval: SignalCancelPaymentApproval,
		invoice.ActionMarkPaid: SignalMarkPaid, invoice.ActionVendorUpdate: SignalVendorUpdate,
		invoice.ActionAcknowledgeUpdate: SignalAcknowledgeUpdate, invoice.ActionDispute: SignalDispute,
		invoice.ActionVoid: SignalVoid, invoice.ActionSendToAccounting: SignalSendToAccounting,
		invoice.ActionReturnToApproved: SignalReturnToApproved,
	}
	if len(constants) != len(invoice.Actions()) {
		t.Errorf("%d message constants for %d actions", len(constants), len(invoice.Actions()))
	}
	for _, a := range invoice.Actions() {
		name, err := SignalFor(a)
		if err != nil || name != constants[a] {
			t.Errorf("SignalFor(%s) = %q, %v; want the constant %q", a, name, err, constants[a])
		}
		if back, err := ActionFor(name); err != nil || back != a {
			t.Errorf("ActionFor(%q) = %q, %v; want %s", name, back, err, a)
		}
	}
	if _, err := ActionFor("approve_payment"); err == nil {
		t.Error("ActionFor accepted an action's own name instead of its message name")
	}
}

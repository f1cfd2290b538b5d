package workflows

import (
	"strings"
	"testing"
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

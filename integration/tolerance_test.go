package integration

import (
	"strings"
	"testing"
)

// TestToleranceThroughTheStarter: `tolerance set` gives the buyer a tolerance; an order beyond it is
// refused at approve (exit 3, discrepancy_over_tolerance) until approve carries --override-reason;
// a bad tolerance is refused naming the field.
func TestToleranceThroughTheStarter(t *testing.T) {
	o := eligible(t)
	if code, stdout, stderr := runStarter(t, "tolerance", "set", "--buyer", o.BuyerID, "--amount-minor", "1000", "--currency", "EUR",
		"--percent-bp", "50"); code != 0 || !strings.Contains(stdout, "tolerance  "+o.BuyerID+" for every vendor: 10.00 EUR and 0.50 % of the PO total") {
		t.Fatalf("tolerance set: exit %d\n%s%s", code, stdout, stderr)
	}
	if code, _, stderr := runStarter(t, "tolerance", "set", "--buyer", o.BuyerID, "--amount-minor", "1000"); code == 0 ||
		!strings.Contains(stderr, "tolerance.currency") {
		t.Errorf("a tolerance without its currency: exit %d, want a refusal naming tolerance.currency:\n%s", code, stderr)
	}
	orderFile := writeFile(t, "order.json", orderJSON(t, o, func(m map[string]any) { m["po_total_minor"] = o.TotalMinor - 2000 }))
	if code, stdout, stderr := runStarter(t, "confirm", orderFile); code != 0 || !strings.Contains(stdout, "status     AP") {
		t.Fatalf("confirm: exit %d\n%s\n%s", code, stdout, stderr)
	}
	target := []string{"--vendor", o.VendorID, "--buyer", o.BuyerID, "--po", o.PONumber, "--company", o.BuyerID, "--user", "alice", "--role", "procurement"}
	code, stdout, _ := runStarter(t, append([]string{"approve"}, target...)...)
	if code != 3 || !strings.Contains(stdout, "refused    discrepancy_over_tolerance") {
		t.Errorf("approve beyond the tolerance: exit %d, want 3 and the refusal:\n%s", code, stdout)
	}
	code, stdout, _ = runStarter(t, append([]string{"approve", "--override-reason", "freight surcharge agreed"}, target...)...)
	if code != 0 || !strings.Contains(stdout, "accepted   status AA") {
		t.Errorf("approve with an override: exit %d:\n%s", code, stdout)
	}
	_, status, _ := runStarter(t, "status", "--vendor", o.VendorID, "--buyer", o.BuyerID, "--po", o.PONumber)
	if !strings.Contains(status, "tolerance  beyond (10.00 EUR and 0.50 % of the PO total); override by alice: freight surcharge agreed") {
		t.Errorf("status does not show the standing and the override:\n%s", status)
	}
}

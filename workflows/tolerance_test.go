package workflows

import (
	"errors"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/k2kinvoice/autoinvoice/internal/invoice"
)

// The buyer's tolerance as it was at confirmation: approve beyond it is refused (as a signal, and by
// the update validator) unless it carries an override reason, which is audited and shown until a
// vendor update replaces the revision; the state says where the invoice stands.
func TestTolerance_OverrideAndVendorUpdate(t *testing.T) {
	h := newHarness(t)
	tol := invoice.Tolerance{AmountMinor: 500, Currency: "EUR"}
	h.eligibility = invoice.Eligibility{Eligible: true, Tolerance: &tol}
	o := testOrder()
	o.POTotalMinor = o.TotalMinor - 1000 // 10.00 EUR more than ordered: beyond 5.00 EUR
	var start, overridden, revised State
	h.at(30*time.Second, func() { start = h.state() })
	h.send(time.Minute, approve("approve-plain", procurement))
	validated := h.update(2*time.Minute, SignalApprove, "u1", approve("approve-update", procurement).req)
	override := approve("approve-override", procurement)
	override.req.OverrideReason = "price rise agreed by phone"
	h.send(3*time.Minute, override)
	h.at(3*time.Minute+30*time.Second, func() { overridden = h.state() })
	// The revision brings the total within 5.00 EUR of the PO total: the override is gone with it.
	u := revisedUpdate()
	u.TotalMinor, u.Lines = o.POTotalMinor+300, []invoice.Line{{Description: "Widgets", Quantity: 1, UnitPriceMinor: o.POTotalMinor + 300}}
	h.send(4*time.Minute, vendorUpdate("vu-1", vendorUser, u), acknowledge("ack-1", procurement))
	h.at(4*time.Minute+30*time.Second, func() { revised = h.state() })
	h.send(5*time.Minute, approve("approve-after-update", procurement), approvePayment("approve-payment-1", accounting),
		markPaid("mark-paid-1", accounting))
	h.runWith(ConfirmOrder{Order: o})
	h.assertPaid()

	events := h.recorded()
	h.assertEvents(events, wantCreated, refused(invoice.ActionApprove, invoice.StatusAP, invoice.RefusedOverTolerance),
		wantApprove, wantVendorUpdate(invoice.StatusAA), wantAck(invoice.StatusAP), wantApprove, wantApprovePayment, wantMarkPaid)
	var appErr *temporal.ApplicationError
	if out := validated.outcome(); !errors.As(out.Rejected, &appErr) || appErr.Type() != string(invoice.RefusedOverTolerance) {
		t.Errorf("update without override: %+v, want the validator's %s", out, invoice.RefusedOverTolerance)
	}
	if len(events) > 2 && events[2].Reason != "tolerance override: price rise agreed by phone" {
		t.Errorf("approve's audit reason = %q, want the override", events[2].Reason)
	}
	if start.Standing != invoice.StandingBeyond || start.Tolerance == nil || *start.Tolerance != tol {
		t.Errorf("at the start: standing %s tolerance %+v, want beyond %+v", start.Standing, start.Tolerance, tol)
	}
	if ov := overridden.Override; ov == nil || ov.Reason != "price rise agreed by phone" || ov.By != procurement {
		t.Errorf("after the override: %+v", ov)
	}
	if revised.Override != nil || revised.Standing != invoice.StandingWithin {
		t.Errorf("after the vendor update: override %+v standing %s, want none and within", revised.Override, revised.Standing)
	}
	if a := overridden.Answers["approve-plain"]; !strings.Contains(a.Reason, "beyond the buyer's tolerance (5.00 EUR)") {
		t.Errorf("refusal reason %q", a.Reason)
	}
}

package gateway_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/k2kinvoice/autoinvoice/internal/gateway"
	"github.com/k2kinvoice/autoinvoice/internal/invoice"
)

// TestTolerance: with the buyer's tolerance of 10.00 EUR and 1 % of the PO total, the list and
// the invoice say where each invoice stands; approve is refused beyond it (409
// discrepancy_over_tolerance) unless it carries an override reason, which the audit log keeps. A
// connection's own tolerance replaces the buyer's for the orders confirmed after it was set.
func TestTolerance(t *testing.T) {
	p := newParty(t)
	ctx := context.Background()
	buyerWide := invoice.Tolerance{AmountMinor: 1000, Currency: "EUR", PercentBP: 100}
	if err := deps.Store.ToleranceSet(ctx, p.Order.BuyerID, "", buyerWide); err != nil {
		t.Fatal(err)
	}
	confirmWith := func(tag string, poTotalLess int64) (invoice.Order, gateway.OrderResponse) {
		return confirm(t, p, func(o *invoice.Order) {
			o.PONumber += "-" + tag
			o.InvoiceNumber += "-" + tag
			o.POTotalMinor = o.TotalMinor - poTotalLess
		})
	}
	_, exact := confirmWith("exact", 0)
	_, within := confirmWith("within", 900)  // 9.00 EUR, and under 1 % of the PO total
	_, beyond := confirmWith("beyond", 5000) // 50.00 EUR: beyond 10.00 EUR
	for _, c := range []struct {
		id   int64
		want invoice.Standing
	}{{exact.InvoiceID, invoice.StandingExact}, {within.InvoiceID, invoice.StandingWithin}, {beyond.InvoiceID, invoice.StandingBeyond}} {
		v := decode[gateway.InvoiceView](t, get(t, fmt.Sprintf("/v1/invoices/%d", c.id), p.Procurement), http.StatusOK)
		if v.ToleranceStanding != c.want || v.Tolerance == nil || *v.Tolerance != buyerWide {
			t.Errorf("invoice %d: standing %s tolerance %+v, want %s under %+v", c.id, v.ToleranceStanding, v.Tolerance, c.want, buyerWide)
		}
	}
	l := decode[gateway.InvoiceList](t, get(t, "/v1/invoices?po="+p.Order.PONumber+"-beyond", p.Procurement), http.StatusOK)
	if len(l.Invoices) != 1 || l.Invoices[0].ToleranceStanding != invoice.StandingBeyond {
		t.Errorf("list by PO: %+v, want the invoice beyond the tolerance", l.Invoices)
	}

	problem(t, act(t, beyond.InvoiceID, "approve", p.Procurement, `{}`, nil),
		want{status: http.StatusConflict, slug: "refused", title: "The action was refused", code: "discrepancy_over_tolerance",
			detail: "differs from the PO total by 50.00 EUR, beyond the buyer's tolerance (10.00 EUR and 1.00 % of the PO total)"})
	accepted(t, act(t, within.InvoiceID, "approve", p.Procurement, `{}`, nil), invoice.ActionApprove, invoice.StatusAA)
	accepted(t, act(t, beyond.InvoiceID, "approve", p.Procurement, `{"override_reason": "price rise agreed by phone"}`,
		map[string]string{"K2K-User": "alice"}), invoice.ActionApprove, invoice.StatusAA)
	problem(t, act(t, within.InvoiceID, "approve-payment", p.Accounting, `{"override_reason": "x"}`, nil),
		want{status: http.StatusUnprocessableEntity, slug: "validation", title: "The request is not valid", code: "invalid_request",
			fields: [][2]string{{"override_reason", "is only for approve"}}})
	v := decode[gateway.InvoiceView](t, get(t, fmt.Sprintf("/v1/invoices/%d", beyond.InvoiceID), p.Procurement), http.StatusOK)
	var audited []string
	for _, e := range v.Events {
		if e.Action == invoice.ActionApprove {
			audited = append(audited, fmt.Sprintf("%s %s %s", e.Kind, e.Code, e.Reason))
		}
	}
	if got := strings.Join(audited, " | "); got != "refused discrepancy_over_tolerance "+
		"the invoice total differs from the PO total by 50.00 EUR, beyond the buyer's tolerance (10.00 EUR and 1.00 % of the PO total); approve with an override_reason to accept it"+
		" | transition  tolerance override: price rise agreed by phone" {
		t.Errorf("approve events: %s", got)
	}

	// The connection's own tolerance (5 % only) replaces the buyer's for orders confirmed later.
	if err := deps.Store.ToleranceSet(ctx, p.Order.BuyerID, p.Order.VendorID, invoice.Tolerance{PercentBP: 500}); err != nil {
		t.Fatal(err)
	}
	_, later := confirmWith("later", 5000)
	lv := decode[gateway.InvoiceView](t, get(t, fmt.Sprintf("/v1/invoices/%d", later.InvoiceID), p.Procurement), http.StatusOK)
	if lv.ToleranceStanding != invoice.StandingWithin || lv.Tolerance == nil || *lv.Tolerance != (invoice.Tolerance{PercentBP: 500}) {
		t.Errorf("after the connection's tolerance: standing %s under %+v, want within 5 %%", lv.ToleranceStanding, lv.Tolerance)
	}
	accepted(t, act(t, later.InvoiceID, "approve", p.Procurement, `{}`, nil), invoice.ActionApprove, invoice.StatusAA)
	// Removing both leaves discrepancies informational again.
	for _, vendor := range []string{"", p.Order.VendorID} {
		if err := deps.Store.ToleranceSet(ctx, p.Order.BuyerID, vendor, invoice.Tolerance{}); err != nil {
			t.Fatal(err)
		}
	}
	_, none := confirmWith("none", 5000)
	if nv := decode[gateway.InvoiceView](t, get(t, fmt.Sprintf("/v1/invoices/%d", none.InvoiceID), p.Procurement), http.StatusOK); nv.ToleranceStanding != invoice.StandingNoTolerance || nv.Tolerance != nil {
		t.Errorf("without tolerances: standing %s under %+v, want no_tolerance", nv.ToleranceStanding, nv.Tolerance)
	}
	accepted(t, act(t, none.InvoiceID, "approve", p.Procurement, `{}`, nil), invoice.ActionApprove, invoice.StatusAA)
}

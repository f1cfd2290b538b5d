package gateway_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/k2kinvoice/autoinvoice/internal/gateway"
	"github.com/k2kinvoice/autoinvoice/internal/invoice"
	"github.com/k2kinvoice/autoinvoice/internal/invoiceclient"
	"github.com/k2kinvoice/autoinvoice/internal/testenv"
)

// bulk sends an approval to many invoices with the key; header adds headers (K2K-User).
func bulk(t *testing.T, action, token, key string, ids []int64, header map[string]string) answer {
	t.Helper()
	return call{method: http.MethodPost, path: "/v1/invoices/actions/" + action, token: token, idem: key,
		ctype: "application/json", body: []byte(fmt.Sprintf(`{"invoice_ids":%s}`, strings.Join(strings.Fields(fmt.Sprint(ids)), ","))),
		header: header}.send(t)
}

// confirmMany confirms n orders of the party (its PO and invoice numbers with -0, -1, …) and
// returns their invoice IDs.
func confirmMany(t *testing.T, p testenv.Party, n int) []int64 {
	t.Helper()
	ids := make([]int64, n)
	for i := range ids {
		_, r := confirm(t, p, func(o *invoice.Order) {
			o.PONumber, o.InvoiceNumber = fmt.Sprintf("%s-%d", o.PONumber, i), fmt.Sprintf("%s-%d", o.InvoiceNumber, i)
		})
		ids[i] = r.InvoiceID
	}
	return ids
}

// TestBulkApprovalAnswersEachInvoice: every invoice named gets its own answer in the order asked
// (accepted; refused with its code and reason, by the gateway's own check or by the workflow;
// not found for another company's or an unknown ID), the refusals do not stop the others, and the
// same request sent again replays the answer. The vendor's key may not approve: each item is
// refused wrong_actor.
func TestBulkApprovalAnswersEachInvoice(t *testing.T) {
	t.Parallel()
	p := newParty(t)
	ids := confirmMany(t, p, 3)
	accepted(t, act(t, ids[1], "approve", p.Procurement, `{}`, nil), invoice.ActionApprove, invoice.StatusAA)
	_, foreign := confirm(t, newParty(t), nil)

	key := newIdem()
	asked := []int64{ids[0], ids[1], foreign.InvoiceID, 1 << 60, ids[2]}
	first := bulk(t, "approve", p.Procurement, key, asked, map[string]string{"K2K-User": "alice"})
	got := decode[gateway.BulkActionResponse](t, first, http.StatusOK)
	want := []gateway.BulkItem{
		{InvoiceID: ids[0], Accepted: true, Status: invoice.StatusAA},
		{InvoiceID: ids[1], Status: invoice.StatusAA, Code: string(invoice.RefusedWrongStatus)},
		{InvoiceID: foreign.InvoiceID, Code: "not_found"},
		{InvoiceID: 1 << 60, Code: "not_found"},
		{InvoiceID: ids[2], Accepted: true, Status: invoice.StatusAA},
	}
	if got.Action != invoice.ActionApprove || len(got.Items) != len(want) {
		t.Fatalf("answer %s", first)
	}
	for i, w := range want {
		if g := got.Items[i]; g.InvoiceID != w.InvoiceID || g.Accepted != w.Accepted || g.Status != w.Status || g.Code != w.Code ||
			(g.Code == "") != (g.Detail == "") {
			t.Errorf("item %d = %+v, want %+v, with a detail exactly when refused", i, g, w)
		}
	}
	if again := bulk(t, "approve", p.Procurement, key, asked, map[string]string{"K2K-User": "alice"}); string(again.body) != string(first.body) ||
		again.header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("sent again: %s, want the first answer replayed", again)
	}
	v := invoiceView(t, ids[0], p.Procurement)
	if len(v.Events) < 2 || v.Events[1].Actor.UserID != "alice" || v.Events[1].Action != invoice.ActionApprove {
		t.Errorf("events of the first invoice %+v, want alice's approval", v.Events)
	}

	// The gateway's own check: the vendor's key may not approve; each item is refused, and audited.
	byVendor := decode[gateway.BulkActionResponse](t, bulk(t, "approve", p.Vendor, newIdem(), ids[:1], nil), http.StatusOK)
	if len(byVendor.Items) != 1 || byVendor.Items[0].Code != string(invoice.RefusedWrongActor) || byVendor.Items[0].Accepted {
		t.Errorf("approve by the vendor's key: %+v, want refused wrong_actor", byVendor.Items)
	}

	// Accounting approves the payments of both invoices in AA at once.
	pay := decode[gateway.BulkActionResponse](t, bulk(t, "approve-payment", p.Accounting, newIdem(), []int64{ids[0], ids[2]}, nil), http.StatusOK)
	for _, item := range pay.Items {
		if !item.Accepted || item.Status != invoice.StatusA {
			t.Errorf("approve-payment in bulk: %+v, want accepted into A", item)
		}
	}
}

// TestBulkApprovalRefusesBadRequestsWhole: a bulk request that names no invoice, too many, one
// twice, an action that is no approval, or a key too long for its items' keys is refused with 422
// naming the field, before anything is sent; an unknown action is 404.
func TestBulkApprovalRefusesBadRequestsWhole(t *testing.T) {
	t.Parallel()
	p := newParty(t)
	for _, tc := range []struct {
		name, action, key string
		ids               []int64
		field, rule       string
	}{
		{"none", "approve", newIdem(), []int64{}, "invoice_ids", "must name between 1 and 100 invoices, got 0"},
		{"too many", "approve", newIdem(), make([]int64, invoiceclient.MaxBulk+1), "invoice_ids", "got 101"},
		{"twice the same", "approve", newIdem(), []int64{7, 8, 7}, "invoice_ids[2]", "names the same invoice as invoice_ids[0]"},
		{"not an approval", "mark-paid", newIdem(), []int64{7}, "action", "must be one of [approve approve_payment]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			problem(t, bulk(t, tc.action, p.Procurement, tc.key, tc.ids, nil), want{status: http.StatusUnprocessableEntity,
				slug: "validation", title: "The request is not valid", fields: [][2]string{{tc.field, tc.rule}}})
		})
	}
	problem(t, bulk(t, "approve-everything", p.Procurement, newIdem(), []int64{7}, nil), want{status: http.StatusNotFound, slug: "not-found", title: "Not found"})
}

// TestLongestIdempotencyKeys: every Idempotency-Key the header allows (200 bytes) works for a single
// action and for a bulk one, although the company's ID and the items' suffixes would not fit
// beside it in an action's key; sent again, each answers the same and applies nothing twice.
func TestLongestIdempotencyKeys(t *testing.T) {
	t.Parallel()
	p := newParty(t)
	ids := confirmMany(t, p, 2)
	single := strings.Repeat("s", 200)
	for range 2 {
		a := call{method: http.MethodPost, path: fmt.Sprintf("/v1/invoices/%d/actions/approve", ids[0]), token: p.Procurement, idem: single,
			ctype: "application/json", body: []byte(`{}`)}.send(t)
		accepted(t, a, invoice.ActionApprove, invoice.StatusAA)
	}
	many := strings.Repeat("m", 200)
	for range 2 {
		r := decode[gateway.BulkActionResponse](t, bulk(t, "approve-payment", p.Accounting, many, []int64{ids[0]}, nil), http.StatusOK)
		if len(r.Items) != 1 || !r.Items[0].Accepted || r.Items[0].Status != invoice.StatusA {
			t.Fatalf("bulk approve-payment with a 200-byte key: %+v, want accepted into A", r.Items)
		}
	}
	v := invoiceView(t, ids[0], p.Procurement)
	transitions := 0
	for _, e := range v.Events {
		if e.Kind == invoice.EventTransition {
			transitions++
		}
	}
	if transitions != 2 {
		t.Errorf("%d transitions after each request was sent twice, want 2 (approve, approve payment): %+v", transitions, v.Events)
	}
}

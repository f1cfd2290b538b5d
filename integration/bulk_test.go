package integration

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/k2kinvoice/autoinvoice/internal/gateway"
	"github.com/k2kinvoice/autoinvoice/internal/invoice"
	"github.com/k2kinvoice/autoinvoice/internal/invoiceclient"
)

// TestBulkApproval approves invoices in bulk through the gateway and the starter: each item gets
// its own answer (accepted, refused with its code, not found) and one refusal does not stop the
// others; the whole request sent again replays its answer; the same items sent again through the
// other door under the same derived keys apply nothing twice; bad requests are refused whole.
func TestBulkApproval(t *testing.T) {
	gwTimed(t, "bulk_test.go")
	p := newGWParty(t)
	var ids []int64
	var workflows []string
	for i := range 3 {
		o := p.o
		o.PONumber, o.InvoiceNumber = fmt.Sprintf("%s-B%d", p.o.PONumber, i), fmt.Sprintf("%s-B%d", p.o.InvoiceNumber, i)
		r := gwConfirm(t, p.vendor, o, "")
		ids, workflows = append(ids, r.InvoiceID), append(workflows, r.WorkflowID)
	}
	gwAct(t, ids[1], "approve", p.procurement, nil, invoice.StatusAA) // approved already: refused in bulk
	stranger := newGWParty(t)
	strangerInvoice := gwConfirm(t, stranger.vendor, stranger.o, "")

	key := newIdem()
	body := mustJSON(t, gateway.BulkActionBody{InvoiceIDs: []int64{ids[0], ids[1], strangerInvoice.InvoiceID, ids[2]}})
	send := func() gwResp {
		return gwDo(t, gwReq{method: http.MethodPost, path: "/v1/invoices/actions/approve", token: p.procurement, idem: key,
			contentType: "application/json", body: body, header: map[string]string{"K2K-User": "alice"}})
	}
	first := send()
	got := decodeAs[gateway.BulkActionResponse](t, first, http.StatusOK)
	t.Logf("bulk approve answered: %s", first.body)
	want := []gateway.BulkItem{
		{InvoiceID: ids[0], Accepted: true, Status: invoice.StatusAA},
		{InvoiceID: ids[1], Status: invoice.StatusAA, Code: string(invoice.RefusedWrongStatus)},
		{InvoiceID: strangerInvoice.InvoiceID, Code: "not_found"},
		{InvoiceID: ids[2], Accepted: true, Status: invoice.StatusAA},
	}
	if got.Action != invoice.ActionApprove || len(got.Items) != len(want) {
		t.Fatalf("answer %+v", got)
	}
	for i, w := range want {
		g := got.Items[i]
		if g.InvoiceID != w.InvoiceID || g.Accepted != w.Accepted || g.Status != w.Status || g.Code != w.Code || (g.Code != "" && g.Detail == "") {
			t.Errorf("item %d = %+v, want %+v with a detail when refused", i, g, w)
		}
	}
	// The same request again: the stored answer, byte for byte.
	again := send()
	if again.status != http.StatusOK || string(again.body) != string(first.body) || again.header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("the request sent again answered %s (replayed %q), want the first answer replayed", again, again.header.Get("Idempotent-Replayed"))
	}
	// The stranger's invoice was not touched, nor audited for this buyer.
	if got := count(t, `SELECT count(*) FROM invoice_events WHERE workflow_id = $1 AND kind IN ('transition', 'refused')`, strangerInvoice.WorkflowID); got != 0 {
		t.Errorf("%d events on another company's invoice", got)
	}
	// The same items through the starter, under the same derived keys (the gateway's key is the
	// company's): the invoices already approved by these items answer accepted again, and nothing is
	// applied or audited twice.
	transitions := func() int {
		return count(t, `SELECT count(*) FROM invoice_events WHERE workflow_id = ANY($1) AND kind = 'transition'`, workflows)
	}
	before := transitions()
	code, stdout, stderr := runStarter(t, "bulk", "approve", "--company", p.o.BuyerID, "--user", "alice", "--role", "procurement",
		"--key", p.o.BuyerID+"/"+key, workflows[0], workflows[2])
	if code != 0 || strings.Count(stdout, "accepted   ") != 2 {
		t.Errorf("starter bulk approve of the same items: exit %d, want 0 and two accepted:\n%s%s", code, stdout, stderr)
	}
	if after := transitions(); after != before {
		t.Errorf("%d transitions after the same items were sent again, %d before", after, before)
	}
	// approve-payment in bulk through the starter: all three are in AA now.
	code, stdout, _ = runStarter(t, "bulk", "approve-payment", "--company", p.o.BuyerID, "--user", "bob", "--role", "accounting",
		workflows[0], workflows[1], workflows[2])
	if code != 0 || strings.Count(stdout, "accepted   ") != 3 {
		t.Errorf("starter bulk approve-payment: exit %d, want 0 and three accepted:\n%s", code, stdout)
	}
	code, stdout, _ = runStarter(t, "bulk", "approve-payment", "--company", p.o.BuyerID, "--user", "bob", "--role", "accounting", workflows[0])
	if code != 3 || !strings.Contains(stdout, "refused    "+workflows[0]+" "+string(invoice.RefusedWrongStatus)) {
		t.Errorf("starter bulk approve-payment of an invoice already in A: exit %d, want 3 and a refusal:\n%s", code, stdout)
	}

	// Refused whole, before anything is sent: another action, too many, twice the same; through
	// the starter, a key too long for its items' keys (the gateway hashes a key that long).
	for _, tc := range []struct {
		name, path, key string
		ids             []int64
		field           string
	}{
		{"not an approval", "/v1/invoices/actions/mark-paid", newIdem(), []int64{ids[0]}, "action"},
		{"none", "/v1/invoices/actions/approve", newIdem(), []int64{}, "invoice_ids"},
		{"too many", "/v1/invoices/actions/approve", newIdem(), make([]int64, invoiceclient.MaxBulk+1), "invoice_ids"},
		{"twice the same", "/v1/invoices/actions/approve", newIdem(), []int64{ids[0], ids[2], ids[0]}, "invoice_ids[2]"},
	} {
		r := gwDo(t, gwReq{method: http.MethodPost, path: tc.path, token: p.procurement, idem: tc.key,
			contentType: "application/json", body: mustJSON(t, gateway.BulkActionBody{InvoiceIDs: tc.ids})})
		pr := problemOf(t, r, http.StatusUnprocessableEntity)
		found := false
		for _, f := range pr.Errors {
			found = found || f.Field == tc.field
		}
		if !found {
			t.Errorf("%s: problem %+v does not name %s", tc.name, pr, tc.field)
		}
	}
	code, _, stderr = runStarter(t, "bulk", "approve", "--company", p.o.BuyerID, "--user", "alice", "--role", "procurement", workflows[0], workflows[0])
	if code != 2 || !strings.Contains(stderr, "workflow-id[1]") {
		t.Errorf("starter bulk approve naming one invoice twice: exit %d, want 2 naming workflow-id[1]:\n%s", code, stderr)
	}
	code, _, stderr = runStarter(t, "bulk", "approve", "--company", p.o.BuyerID, "--user", "alice", "--role", "procurement",
		"--key", strings.Repeat("k", invoiceclient.MaxBulkKeyLen+1), workflows[0])
	if code != 2 || !strings.Contains(stderr, "--key: must be at most 183 bytes in a bulk request") {
		t.Errorf("starter bulk approve with a key too long for its items: exit %d, want 2 naming --key:\n%s", code, stderr)
	}
}

package integration

// The gateway's authorization matrix: every action, sent by the right company and role, by the
// other side of the connection, by a third company, by the wrong role, and without a valid key.

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"testing"

	"github.com/k2kinvoice/autoinvoice/internal/blob"
	"github.com/k2kinvoice/autoinvoice/internal/gateway"
	"github.com/k2kinvoice/autoinvoice/internal/invoice"
	"github.com/k2kinvoice/autoinvoice/internal/store"
	"github.com/k2kinvoice/autoinvoice/workflows"
)

// badCredentials are Authorization headers that must be answered 401, given a valid token of the
// right company and role and the token of a revoked key.
func badCredentials(valid, revoked string) map[string]string {
	tampered := []byte(valid)
	if tampered[len(tampered)-1] == '0' {
		tampered[len(tampered)-1] = '1'
	} else {
		tampered[len(tampered)-1] = '0'
	}
	return map[string]string{
		"no Authorization":      "",
		"not a bearer token":    "Basic dXNlcjpwYXNzd29yZA==",
		"malformed key":         "Bearer k2k_not-a-key",
		"key without prefix":    "Bearer " + valid[len("k2k_"):],
		"wrong secret":          "Bearer " + string(tampered),
		"revoked key":           "Bearer " + revoked,
		"empty bearer token":    "Bearer ",
		"SQL as the bearer key": "Bearer k2k_' OR '1'='1",
	}
}

// revokedToken creates a key for the company and role and revokes it.
func revokedToken(t *testing.T, company string, role invoice.Role) string {
	t.Helper()
	id, tok := apiKey(t, company, role)
	if err := deps.Store.APIKeyRevoke(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	return tok
}

// unauthenticated requires 401 for every bad credential, with a WWW-Authenticate challenge.
func unauthenticated(t *testing.T, req gwReq, creds map[string]string) {
	t.Helper()
	for name, header := range creds {
		r := req
		r.token, r.idem = "", newIdem()
		r.header = map[string]string{"Authorization": header}
		resp := gwDo(t, r)
		if resp.status != http.StatusUnauthorized || resp.header.Get("WWW-Authenticate") == "" {
			t.Errorf("%s %s with %s: %s, want 401 with a challenge", req.method, req.path, name, resp)
			continue
		}
		problemOf(t, resp, http.StatusUnauthorized)
	}
}

// TestGatewayAuthorizationMatrix walks one invoice through every action. Before each accepted call
// by the right company and role, the same request is sent by the other side of the connection
// (403), by a third company (404, as if the invoice did not exist), by the right company in a
// wrong role (403), and with missing, malformed and revoked keys (401); none of them changes it.
func TestGatewayAuthorizationMatrix(t *testing.T) {
	gwTimed(t, "gateway_authz_test.go")
	ctx := context.Background()
	p := newGWParty(t)
	third := newGWParty(t)
	thirdKeys := map[string]string{"third buyer's procurement": third.procurement, "third buyer's accounting": third.accounting,
		"third vendor": third.vendor}
	thirdInv := gwConfirm(t, third.vendor, third.o, "")
	inv := gwConfirm(t, p.vendor, p.o, "")
	// A second order of the same parties, disputed and voided.
	o2 := p.o
	o2.PONumber, o2.InvoiceNumber = o2.PONumber+"-2", o2.InvoiceNumber+"-2"
	inv2 := gwConfirm(t, p.vendor, o2, "")
	// A third, confirmed once the buyer exports to its accounting system (which takes everything).
	acc := newAccountingSystem(t)
	if err := deps.Store.AccountingExportSet(ctx, p.o.BuyerID, acc.srv.URL, acc.secret, true, store.Operator); err != nil {
		t.Fatal(err)
	}
	o3 := p.o
	o3.PONumber, o3.InvoiceNumber = o3.PONumber+"-3", o3.InvoiceNumber+"-3"
	inv3 := gwConfirm(t, p.vendor, o3, "")
	B, V := p.o.BuyerID, p.o.VendorID
	keys := map[string]string{} // company/role → token
	key := func(company string, role invoice.Role) string {
		k := company + "/" + string(role)
		if keys[k] == "" {
			keys[k] = token(t, company, role)
		}
		return keys[k]
	}
	keys[B+"/procurement"], keys[B+"/accounting"], keys[V+"/vendor"] = p.procurement, p.accounting, p.vendor

	type who struct {
		company string
		role    invoice.Role
	}
	revised := revisedOrder(p.o)
	steps := []struct {
		action string
		order  int // 0: the first order, 1: the second, 2: the third
		body   any
		right  who
		// wrong roles of the right company; other side of the connection (any role)
		wrongRoles []who
		otherSide  []who
		want       invoice.Status
	}{
		{action: workflows.SignalApprove, right: who{B, invoice.RoleProcurement},
			wrongRoles: []who{{B, invoice.RoleAccounting}, {B, invoice.RoleVendor}},
			otherSide:  []who{{V, invoice.RoleVendor}, {V, invoice.RoleProcurement}}, want: invoice.StatusAA},
		{action: workflows.SignalReturnToProcurement, body: map[string]any{"reason": "unit price differs from the PO"},
			right:      who{B, invoice.RoleAccounting},
			wrongRoles: []who{{B, invoice.RoleProcurement}, {B, invoice.RoleVendor}},
			otherSide:  []who{{V, invoice.RoleVendor}, {V, invoice.RoleAccounting}}, want: invoice.StatusAP},
		{action: workflows.SignalApprove, right: who{B, invoice.RoleProcurement}, want: invoice.StatusAA},
		{action: workflows.SignalApprovePayment, right: who{B, invoice.RoleAccounting},
			wrongRoles: []who{{B, invoice.RoleProcurement}, {B, invoice.RoleVendor}},
			otherSide:  []who{{V, invoice.RoleVendor}, {V, invoice.RoleAccounting}}, want: invoice.StatusA},
		{action: workflows.SignalCancelPaymentApproval, body: map[string]any{"reason": "hold: goods receipt missing"},
			right:      who{B, invoice.RoleAccounting},
			wrongRoles: []who{{B, invoice.RoleProcurement}, {B, invoice.RoleVendor}},
			otherSide:  []who{{V, invoice.RoleVendor}, {V, invoice.RoleAccounting}}, want: invoice.StatusAA},
		{action: workflows.SignalApprovePayment, right: who{B, invoice.RoleAccounting}, want: invoice.StatusA},
		{action: workflows.SignalVendorUpdate, body: map[string]any{"reason": "520 delivered", "update": updateOf(revised, "")},
			right:      who{V, invoice.RoleVendor},
			wrongRoles: []who{{V, invoice.RoleAccounting}, {V, invoice.RoleProcurement}},
			otherSide:  []who{{B, invoice.RoleProcurement}, {B, invoice.RoleAccounting}, {B, invoice.RoleVendor}}, want: invoice.StatusAP},
		{action: workflows.SignalAcknowledgeUpdate, right: who{B, invoice.RoleProcurement},
			wrongRoles: []who{{B, invoice.RoleVendor}},
			otherSide:  []who{{V, invoice.RoleVendor}, {V, invoice.RoleProcurement}}, want: invoice.StatusAP},
		{action: workflows.SignalApprove, right: who{B, invoice.RoleProcurement}, want: invoice.StatusAA},
		{action: workflows.SignalApprovePayment, right: who{B, invoice.RoleAccounting}, want: invoice.StatusA},
		{action: workflows.SignalMarkPaid, body: map[string]any{"payment_date": "2026-12-01", "payment_reference": "SEPA-2026-12-01-77"},
			right:      who{B, invoice.RoleAccounting},
			wrongRoles: []who{{B, invoice.RoleProcurement}, {B, invoice.RoleVendor}},
			otherSide:  []who{{V, invoice.RoleVendor}, {V, invoice.RoleAccounting}}, want: invoice.StatusP},
		{action: workflows.SignalDispute, order: 1, body: map[string]any{"reason": "not ordered"},
			right:      who{B, invoice.RoleProcurement},
			wrongRoles: []who{{B, invoice.RoleVendor}},
			otherSide:  []who{{V, invoice.RoleVendor}, {V, invoice.RoleProcurement}}, want: invoice.StatusD},
		{action: workflows.SignalVoid, order: 1, body: map[string]any{"reason": "sent in error"},
			right:      who{V, invoice.RoleVendor},
			wrongRoles: []who{{V, invoice.RoleProcurement}, {V, invoice.RoleAccounting}},
			otherSide:  []who{{B, invoice.RoleProcurement}, {B, invoice.RoleAccounting}, {B, invoice.RoleVendor}}, want: invoice.StatusV},
		{action: workflows.SignalApprove, order: 2, right: who{B, invoice.RoleProcurement}, want: invoice.StatusAA},
		{action: workflows.SignalApprovePayment, order: 2, right: who{B, invoice.RoleAccounting}, want: invoice.StatusA},
		// Sent on approval; taken back once the accounting system has answered (the action waits for it).
		{action: workflows.SignalReturnToApproved, order: 2, right: who{B, invoice.RoleAccounting},
			wrongRoles: []who{{B, invoice.RoleProcurement}, {B, invoice.RoleVendor}},
			otherSide:  []who{{V, invoice.RoleVendor}, {V, invoice.RoleAccounting}}, want: invoice.StatusA},
		{action: workflows.SignalSendToAccounting, order: 2, right: who{B, invoice.RoleAccounting},
			wrongRoles: []who{{B, invoice.RoleProcurement}, {B, invoice.RoleVendor}},
			otherSide:  []who{{V, invoice.RoleVendor}, {V, invoice.RoleProcurement}}, want: invoice.StatusES},
	}
	checked := map[string]bool{}
	acceptedOn := map[string]int{} // accepted actions by workflow ID
	for _, s := range steps {
		body := s.body
		if body == nil {
			body = map[string]any{}
		}
		on := []gateway.OrderResponse{inv, inv2, inv3}[s.order]
		path := fmt.Sprintf("/v1/invoices/%d/actions/%s", on.InvoiceID, s.action)
		req := gwReq{method: http.MethodPost, path: path, contentType: "application/json", body: mustJSON(t, body)}
		send := func(tok string) gwResp {
			r := req
			r.token, r.idem = tok, newIdem()
			return gwDo(t, r)
		}
		if len(s.wrongRoles) > 0 {
			checked[s.action] = true
			for _, w := range s.otherSide {
				if pr := problemOf(t, send(key(w.company, w.role)), http.StatusForbidden); pr.Code != string(invoice.RefusedWrongActor) {
					t.Errorf("%s by the other side %s/%s: code %q, want wrong_actor", s.action, w.company, w.role, pr.Code)
				}
			}
			for _, w := range s.wrongRoles {
				if pr := problemOf(t, send(key(w.company, w.role)), http.StatusForbidden); pr.Code != string(invoice.RefusedWrongActor) {
					t.Errorf("%s by %s in role %s: code %q, want wrong_actor", s.action, w.company, w.role, pr.Code)
				}
			}
			for name, tok := range thirdKeys {
				if r := send(tok); r.status != http.StatusNotFound {
					t.Errorf("%s by the %s: %s, want 404", s.action, name, r)
				}
			}
			unauthenticated(t, req, badCredentials(key(s.right.company, s.right.role), revokedToken(t, s.right.company, s.right.role)))
			// The workflow's own transitions (the export's) are not the callers'.
			st, err := client.State(ctx, on.WorkflowID)
			byCallers := slices.DeleteFunc(slices.Clone(st.Transitions), func(tr workflows.Transition) bool { return tr.Actor.UserID == "k2k-export" })
			if err != nil || len(byCallers) != acceptedOn[on.WorkflowID] {
				t.Fatalf("after the refused %s calls: %d transitions by callers (%v), want %d: a refused call changed the invoice",
					s.action, len(byCallers), err, acceptedOn[on.WorkflowID])
			}
		}
		a := decodeAs[gateway.ActionResponse](t, send(key(s.right.company, s.right.role)), http.StatusOK)
		if !a.Accepted || a.Status != s.want {
			t.Fatalf("%s by %s/%s: %+v, want accepted into %s", s.action, s.right.company, s.right.role, a, s.want)
		}
		acceptedOn[on.WorkflowID]++
	}
	accepted := acceptedOn[inv.WorkflowID]
	for _, a := range invoice.Actions() {
		name, _ := workflows.SignalFor(a)
		if !checked[name] {
			t.Errorf("action %s has no row in the matrix", name)
		}
	}
	// Paid: the right company and role are refused by the status, not by who they are.
	if pr := problemOf(t, gwPostJSON(t, fmt.Sprintf("/v1/invoices/%d/actions/approve", inv.InvoiceID), p.procurement, map[string]any{}),
		http.StatusConflict); pr.Code != string(invoice.RefusedWrongStatus) {
		t.Errorf("approve of a paid invoice: code %q, want %s", pr.Code, invoice.RefusedWrongStatus)
	}
	if pr := problemOf(t, gwPostJSON(t, fmt.Sprintf("/v1/invoices/%d/actions/vendor-update", inv.InvoiceID), p.vendor,
		map[string]any{"update": updateOf(revisedOrder(revised), "")}), http.StatusConflict); pr.Code != string(invoice.RefusedPaid) {
		t.Errorf("vendor-update of a paid invoice: code %q, want %s", pr.Code, invoice.RefusedPaid)
	}
	st, err := client.State(ctx, inv.WorkflowID)
	if err != nil || st.Status != invoice.StatusP || len(st.Transitions) != accepted {
		t.Fatalf("final state %s with %d transitions (%v), want P after %d", st.Status, len(st.Transitions), err, accepted)
	}
	for _, tr := range st.Transitions {
		if tr.Actor.CompanyID != B && tr.Actor.CompanyID != V {
			t.Errorf("transition %s by %s", tr.Action, tr.Actor.CompanyID)
		}
	}
	refusedRows := 0
	events, _ := deps.Store.EventsByWorkflowID(ctx, inv.WorkflowID)
	for _, e := range events {
		if e.Kind == invoice.EventRefused && e.Code == string(invoice.RefusedWrongActor) {
			refusedRows++
		}
	}
	t.Logf("audit rows of wrong_actor refusals answered 403 by the gateway: %d", refusedRows)

	// Reads: both sides and every role of them see the invoice; a third company gets 404, the
	// same answer as for an invoice that does not exist, and does not find it in its lists.
	getPath := fmt.Sprintf("/v1/invoices/%d", inv.InvoiceID)
	pdfPath := getPath + "/revisions/2/pdf"
	for k, tok := range keys {
		decodeAs[gateway.InvoiceView](t, gwGet(t, getPath, tok), http.StatusOK)
		if r := gwGet(t, pdfPath, tok); r.status != http.StatusOK {
			t.Errorf("PDF link for %s: %s", k, r)
		}
	}
	missing := gwGet(t, "/v1/invoices/999999999999", third.procurement)
	problemOf(t, missing, http.StatusNotFound)
	for name, tok := range thirdKeys {
		for _, path := range []string{getPath, pdfPath, getPath + "/revisions/1/pdf"} {
			r := gwGet(t, path, tok)
			problemOf(t, r, http.StatusNotFound)
			if !bytes.Equal(r.body, missing.body) {
				t.Errorf("GET %s by the %s answers %s, unlike a missing invoice's %s", path, name, r.body, missing.body)
			}
		}
		for _, q := range []string{"", "po=" + url.QueryEscape(p.o.PONumber), "vendor=" + url.QueryEscape(V),
			"buyer=" + url.QueryEscape(B), "status=P"} {
			ids, _ := listIDs(t, tok, q)
			if slices.Contains(ids, inv.InvoiceID) {
				t.Errorf("the %s's list ?%s holds the invoice %d", name, q, inv.InvoiceID)
			}
		}
	}
	// The third company still sees its own invoice (the 404s are not a broken key).
	if ids, _ := listIDs(t, third.procurement, ""); !slices.Equal(ids, []int64{thirdInv.InvoiceID}) {
		t.Errorf("third buyer's list = %v, want [%d]", ids, thirdInv.InvoiceID)
	}
	decodeAs[gateway.InvoiceView](t, gwGet(t, fmt.Sprintf("/v1/invoices/%d", thirdInv.InvoiceID), third.vendor), http.StatusOK)
	// Reads need a valid key too.
	for _, path := range []string{"/v1/invoices", getPath, pdfPath} {
		unauthenticated(t, gwReq{method: http.MethodGet, path: path},
			badCredentials(p.procurement, revokedToken(t, B, invoice.RoleProcurement)))
	}
}

// TestGatewayOnlyTheVendorConfirmsItsOrders: an order is confirmed by a vendor key of its vendor;
// every other key is refused 403 and a missing or bad key 401, and nothing is started.
func TestGatewayOnlyTheVendorConfirmsItsOrders(t *testing.T) {
	gwTimed(t, "gateway_authz_test.go")
	p := newGWParty(t)
	third := newGWParty(t)
	body := mustJSON(t, map[string]any{"order": p.o})
	req := gwReq{method: http.MethodPost, path: "/v1/orders", contentType: "application/json", body: body}
	for name, tok := range map[string]string{
		"buyer's procurement":              p.procurement,
		"buyer's accounting":               p.accounting,
		"buyer in the vendor role":         token(t, p.o.BuyerID, invoice.RoleVendor),
		"vendor's accounting":              token(t, p.o.VendorID, invoice.RoleAccounting),
		"vendor's procurement":             token(t, p.o.VendorID, invoice.RoleProcurement),
		"another vendor":                   third.vendor,
		"another buyer":                    third.procurement,
		"another buyer in the vendor role": token(t, third.o.BuyerID, invoice.RoleVendor),
	} {
		r := req
		r.token, r.idem = tok, newIdem()
		if pr := problemOf(t, gwDo(t, r), http.StatusForbidden); pr.Code != string(invoice.RefusedWrongActor) {
			t.Errorf("order by the %s: code %q, want wrong_actor", name, pr.Code)
		}
	}
	unauthenticated(t, req, badCredentials(p.vendor, revokedToken(t, p.o.VendorID, invoice.RoleVendor)))
	data := renderPDF(t, p.o, "unauthenticated upload")
	unauthenticated(t, gwReq{method: http.MethodPost, path: "/v1/uploads", contentType: "application/pdf", body: data},
		badCredentials(p.vendor, revokedToken(t, p.o.VendorID, invoice.RoleVendor)))
	notStaged(t, data)
	noInvoice(t, p.o)
	// The vendor's own key confirms it.
	gwConfirm(t, p.vendor, p.o, "")
}

// TestGatewayVendorUpdateCannotReadAnotherCompanysPDF: a vendor update names its PDF by an
// upload_id; it must not be able to make another company's stored PDF its own new revision (and
// then download it) by naming that object's key.
func TestGatewayVendorUpdateCannotReadAnotherCompanysPDF(t *testing.T) {
	gwTimed(t, "gateway_authz_test.go")
	ctx := context.Background()
	victim := newGWParty(t)
	victimInv := gwConfirm(t, victim.vendor, victim.o, "")
	victimRev, err := deps.Store.RevisionGet(ctx, victimInv.InvoiceID, 1)
	if err != nil {
		t.Fatal(err)
	}
	attacker := newGWParty(t)
	inv := gwConfirm(t, attacker.vendor, attacker.o, "")
	r := gwPostJSON(t, fmt.Sprintf("/v1/invoices/%d/actions/vendor-update", inv.InvoiceID), attacker.vendor,
		map[string]any{"update": updateOf(revisedOrder(attacker.o), victimRev.Document.Key)})
	if r.status >= 400 && r.status < 500 {
		problemOf(t, r, r.status)
		return
	}
	if r.status != http.StatusOK {
		t.Fatalf("vendor-update naming another company's object: %s", r)
	}
	got := pdfLinkBytes(t, inv.InvoiceID, 2, attacker.vendor)
	if blob.SHA256Hex(got) == victimRev.Document.SHA256 {
		t.Errorf("BUG: vendor %s made buyer %s's invoice PDF (%s of vendor %s) revision 2 of its own invoice and downloaded it: "+
			"the gateway passes update.staging_key from the request body to the workflow, which reads any key in the bucket",
			attacker.o.VendorID, victim.o.BuyerID, victimRev.Document.Key, victim.o.VendorID)
	}
}

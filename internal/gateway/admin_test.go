package gateway_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/k2kinvoice/autoinvoice/internal/gateway"
	"github.com/k2kinvoice/autoinvoice/internal/invoice"
	"github.com/k2kinvoice/autoinvoice/internal/store"
)

// patch is a PATCH of a JSON body with a key.
func patch(t *testing.T, path, token, body string, header map[string]string) answer {
	t.Helper()
	return call{method: http.MethodPatch, path: path, token: token, idem: newIdem(), ctype: "application/json", body: []byte(body), header: header}.send(t)
}

// TestAdminSettings: an admin key reads its company's settings and changes one flag at a time,
// the others kept, each change audited with who; other keys may not, and admin keys act on no invoice.
func TestAdminSettings(t *testing.T) {
	p := newParty(t)
	admin := apiKey(t, p.Order.BuyerID, invoice.RoleAdmin)
	before := decode[gateway.SettingsView](t, get(t, "/v1/admin/settings", admin), http.StatusOK)
	if before.CompanyID != p.Order.BuyerID || !before.AcceptK2KInvoices || len(before.Changes) != 0 {
		t.Fatalf("settings = %+v, want the buyer's with accept_k2k_invoices on and no changes", before)
	}
	flipped := !before.SeparateDuties
	after := decode[gateway.SettingsView](t, patch(t, "/v1/admin/settings", admin, fmt.Sprintf(`{"separate_duties": %t}`, flipped),
		map[string]string{"K2K-User": "erin"}), http.StatusOK)
	if after.SeparateDuties != flipped || !after.AcceptK2KInvoices || after.AutoInvoiceSync != before.AutoInvoiceSync {
		t.Errorf("after changing separate_duties: %+v, want only that changed", after)
	}
	if len(after.Changes) != 1 || after.Changes[0].Setting != "separate_duties" || after.Changes[0].Old != fmt.Sprint(before.SeparateDuties) ||
		after.Changes[0].New != fmt.Sprint(flipped) || after.Changes[0].UserID != "erin" || after.Changes[0].APIKeyID == "" {
		t.Errorf("changes = %+v, want separate_duties %t → %t by erin with the key", after.Changes, before.SeparateDuties, flipped)
	}
	// The same value again changes nothing and adds no audit row.
	same := decode[gateway.SettingsView](t, patch(t, "/v1/admin/settings", admin, fmt.Sprintf(`{"separate_duties": %t}`, flipped), nil), http.StatusOK)
	if len(same.Changes) != 1 {
		t.Errorf("setting the same value again: %d changes, want still 1", len(same.Changes))
	}
	problem(t, patch(t, "/v1/admin/settings", admin, `{}`, nil),
		want{status: http.StatusUnprocessableEntity, slug: "validation", title: "The request is not valid", fields: [][2]string{{"body", "at least one"}}})
	problem(t, patch(t, "/v1/admin/settings", admin, `{"auto_invoice_sync": "yes"}`, nil),
		want{status: http.StatusUnprocessableEntity, slug: "validation", title: "The request is not valid",
			fields: [][2]string{{"auto_invoice_sync", "must be a bool"}}})
	problem(t, get(t, "/v1/admin/settings", p.Procurement),
		want{status: http.StatusForbidden, slug: "forbidden", code: "wrong_actor", detail: "only an admin key"})
	problem(t, get(t, "/v1/invoices", admin), want{status: http.StatusForbidden, slug: "forbidden", code: "wrong_actor", detail: "act on no invoice"})
}

// TestConnectionHandshake: the vendor's admin requests a connection, may not accept it itself,
// the buyer's admin accepts it; an order confirmed then is invoiced; suspended by the buyer, a new
// confirmation is not eligible while an open invoice goes on; reactivated, orders are invoiced
// again. Every change, and every refused action, is audited; each is queued for both companies'
// webhook endpoints, except a refusal of a company that is not one of the two.
func TestConnectionHandshake(t *testing.T) {
	ctx := context.Background()
	p := partyOf(t, true, true, "")
	v, b := p.Order.VendorID, p.Order.BuyerID
	vendorAdmin, buyerAdmin := apiKey(t, v, invoice.RoleAdmin), apiKey(t, b, invoice.RoleAdmin)
	if _, _, err := deps.Store.WebhookEndpointAdd(ctx, b, "http://127.0.0.1:9/hook", nil, store.Operator); err != nil {
		t.Fatal(err)
	}
	path := func(action string) string { return fmt.Sprintf("/v1/admin/connections/%s/%s/%s", v, b, action) }
	c := decode[invoice.Connection](t, post(t, "/v1/admin/connections", vendorAdmin, map[string]string{"vendor_id": v, "buyer_id": b}), http.StatusCreated)
	if c.Status != invoice.ConnectionPending || c.RequestedBy != v {
		t.Fatalf("requested: %+v, want pending, requested by %s", c, v)
	}
	problem(t, post(t, path("accept"), vendorAdmin, map[string]any{}),
		want{status: http.StatusForbidden, slug: "forbidden", code: "wrong_actor", detail: "the other company must accept"})
	problem(t, post(t, path("suspend"), buyerAdmin, map[string]any{}),
		want{status: http.StatusConflict, slug: "refused", title: "The action was refused", code: "not_allowed_in_state", detail: "pending"})
	strangerID := newParty(t).Order.BuyerID
	stranger := apiKey(t, strangerID, invoice.RoleAdmin)
	problem(t, post(t, path("accept"), stranger, map[string]any{}), want{status: http.StatusForbidden, slug: "forbidden", code: "wrong_actor"})
	if c = decode[invoice.Connection](t, post(t, path("accept"), buyerAdmin, map[string]any{}), http.StatusOK); c.Status != invoice.ConnectionActive {
		t.Fatalf("accepted: %+v", c)
	}
	_, open := confirm(t, p, nil)

	if c = decode[invoice.Connection](t, post(t, path("suspend"), buyerAdmin, map[string]any{}), http.StatusOK); c.Status != invoice.ConnectionSuspended {
		t.Fatalf("suspended: %+v", c)
	}
	suspended := p.Order
	suspended.PONumber, suspended.InvoiceNumber = suspended.PONumber+"-S", suspended.InvoiceNumber+"-S"
	r := decode[gateway.OrderResponse](t, post(t, "/v1/orders", p.Vendor, map[string]any{"order": suspended}), http.StatusOK)
	if r.Outcome != "not_eligible" || r.InvoiceID != 0 {
		t.Errorf("confirmed during suspension: %+v, want not_eligible", r)
	}
	accepted(t, act(t, open.InvoiceID, "approve", p.Procurement, `{}`, nil), invoice.ActionApprove, invoice.StatusAA)

	if c = decode[invoice.Connection](t, post(t, path("reactivate"), vendorAdmin, map[string]any{}), http.StatusOK); c.Status != invoice.ConnectionActive {
		t.Fatalf("reactivated: %+v", c)
	}
	confirm(t, p, func(o *invoice.Order) { o.PONumber += "-R"; o.InvoiceNumber += "-R" })
	list := decode[gateway.ConnectionList](t, get(t, "/v1/admin/connections", buyerAdmin), http.StatusOK)
	if len(list.Connections) != 1 || list.Connections[0] != (invoice.Connection{VendorID: v, BuyerID: b, Status: invoice.ConnectionActive, RequestedBy: v}) {
		t.Errorf("buyer's connections = %+v", list.Connections)
	}
	changes, err := deps.Store.ConnectionChanges(ctx, v, b)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ch := range changes {
		line := fmt.Sprintf("%s %s→%s by %s", ch.Action, ch.From, ch.To, ch.CompanyID)
		if ch.Refused != "" {
			line += fmt.Sprintf(" refused %s (%s)", ch.Refused, ch.Reason)
		}
		got = append(got, line)
	}
	wantChanges := []string{
		"request →pending by " + v,
		"accept pending→pending by " + v + " refused wrong_actor (" + v + " asked for this connection; the other company must accept it)",
		"suspend pending→pending by " + b + " refused not_allowed_in_state (suspend suspends an active connection; the connection is pending)",
		"accept pending→pending by " + strangerID + " refused wrong_actor (only " + v + " or " + b + " may accept their connection)",
		"accept pending→active by " + b, "suspend active→suspended by " + b, "reactivate suspended→active by " + v,
	}
	if strings.Join(got, "\n") != strings.Join(wantChanges, "\n") {
		t.Errorf("audited changes\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(wantChanges, "\n"))
	}
	// The pair's admins read the same steps through the API, without the third company's attempt;
	// anyone else gets 404.
	history := fmt.Sprintf("/v1/admin/connections/%s/%s/changes", v, b)
	for _, key := range []string{vendorAdmin, buyerAdmin} {
		var read []string
		for _, ch := range decode[gateway.ConnectionChangeList](t, get(t, history, key), http.StatusOK).Changes {
			read = append(read, fmt.Sprintf("%s %s→%s by %s %s", ch.Action, ch.From, ch.To, ch.CompanyID, ch.Refused))
		}
		if want := fmt.Sprintf("[request →pending by %[1]s  accept pending→pending by %[1]s wrong_actor suspend pending→pending by %[2]s not_allowed_in_state "+
			"accept pending→active by %[2]s  suspend active→suspended by %[2]s  reactivate suspended→active by %[1]s ]", v, b); fmt.Sprint(read) != want {
			t.Errorf("GET %s = %v\nwant %s", history, read, want)
		}
	}
	problem(t, get(t, history, stranger), want{status: http.StatusNotFound, slug: "not-found", title: "Not found"})

	// A third company acting on a pair that has no connection (here, companies that do not exist)
	// is refused and leaves no row: nothing real is named.
	problem(t, post(t, "/v1/admin/connections/NO-SUCH-V/NO-SUCH-B/accept", stranger, map[string]any{}),
		want{status: http.StatusForbidden, slug: "forbidden", code: "wrong_actor"})
	if none, err := deps.Store.ConnectionChanges(ctx, "NO-SUCH-V", "NO-SUCH-B"); err != nil || len(none) != 0 {
		t.Errorf("changes recorded for a pair with no connection: %+v, %v", none, err)
	}
	eps, _ := deps.Store.WebhookEndpoints(ctx, b)
	msgs, err := deps.Store.WebhookMessages(ctx, eps[0].ID, 100)
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, m := range msgs {
		if m.OrderingKey == "k2k-connection/"+v+"/"+b {
			types = append([]string{m.EventType}, types...)
		}
	}
	if fmt.Sprint(types) != "[connection.request connection.refused connection.refused connection.accept connection.suspend connection.reactivate]" {
		t.Errorf("connection events queued for the buyer's endpoint: %v", types)
	}
}

// TestAdminAccountingExport: a buyer's admin configures its accounting export; the secret is
// required the first time, checked, kept when left out and never returned; the change is audited.
func TestAdminAccountingExport(t *testing.T) {
	p := newParty(t)
	admin := apiKey(t, p.Order.BuyerID, invoice.RoleAdmin)
	problem(t, get(t, "/v1/admin/accounting-export", admin), want{status: http.StatusNotFound, slug: "not-found", title: "Not found"})
	put := func(body string) answer {
		return call{method: http.MethodPut, path: "/v1/admin/accounting-export", token: admin, idem: newIdem(), ctype: "application/json",
			body: []byte(body), header: map[string]string{"K2K-User": "erin"}}.send(t)
	}
	problem(t, put(`{"url": "https://acc.example/k2k"}`), want{status: http.StatusUnprocessableEntity, slug: "validation",
		title: "The request is not valid", fields: [][2]string{{"secret", "is required the first time"}}})
	problem(t, put(`{"url": "ftp://acc", "secret": "plain"}`), want{status: http.StatusUnprocessableEntity, slug: "validation",
		title: "The request is not valid", fields: [][2]string{{"url", "absolute http or https"}, {"secret", "whsec_"}}})
	v := decode[gateway.AccountingExportView](t, put(`{"url": "https://acc.example/k2k", "secret": "whsec_c2VjcmV0"}`), http.StatusOK)
	if v != (gateway.AccountingExportView{URL: "https://acc.example/k2k", Enabled: true, SecretSet: true}) {
		t.Errorf("configured: %+v", v)
	}
	decode[gateway.AccountingExportView](t, put(`{"url": "https://acc.example/v2", "enabled": false}`), http.StatusOK)
	a := get(t, "/v1/admin/accounting-export", admin)
	if got := decode[gateway.AccountingExportView](t, a, http.StatusOK); got != (gateway.AccountingExportView{URL: "https://acc.example/v2", Enabled: false, SecretSet: true}) ||
		strings.Contains(string(a.body), "c2VjcmV0") {
		t.Errorf("read back: %s", a.body)
	}
	stored, err := deps.Store.AccountingExportGet(context.Background(), p.Order.BuyerID)
	if err != nil || stored.Secret != "whsec_c2VjcmV0" {
		t.Errorf("the secret left out was not kept: %+v, %v", stored, err)
	}
	changes, _ := deps.Store.SettingsChanges(context.Background(), p.Order.BuyerID, 10)
	if len(changes) != 2 || changes[0].Setting != "accounting_export" || changes[0].New != "https://acc.example/v2 (enabled=false)" ||
		changes[1].Old != "none" || changes[0].UserID != "erin" {
		t.Errorf("audited changes = %+v", changes)
	}
	problem(t, get(t, "/v1/admin/accounting-export", p.Accounting), want{status: http.StatusForbidden, slug: "forbidden", code: "wrong_actor"})
}

// TestAdminWebhooks: a company's admin registers a webhook endpoint (the secret answered once),
// lists it, reads its delivery log and redelivers a message under the same webhook-id; another
// company's admin sees none of it.
func TestAdminWebhooks(t *testing.T) {
	p := newParty(t)
	admin := apiKey(t, p.Order.BuyerID, invoice.RoleAdmin)
	var mu sync.Mutex
	var secret string
	var ids []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		wh, err := standardwebhooks.NewWebhook(secret)
		if err == nil {
			err = wh.Verify(body, r.Header)
		}
		if err != nil {
			t.Errorf("delivery %s does not verify: %v", r.Header.Get("webhook-id"), err)
		}
		ids = append(ids, r.Header.Get("webhook-id"))
	}))
	defer srv.Close()
	problem(t, post(t, "/v1/admin/webhooks", admin, map[string]any{"url": "ftp://x", "event_types": []string{"invoice.nope"}}),
		want{status: http.StatusUnprocessableEntity, slug: "validation", title: "The request is not valid",
			fields: [][2]string{{"url", "http or https"}, {"event_types[0]", "must be one of"}}})
	mu.Lock()
	ep := decode[gateway.WebhookEndpointView](t, post(t, "/v1/admin/webhooks", admin, map[string]any{"url": srv.URL}), http.StatusCreated)
	secret = ep.Secret
	mu.Unlock()
	if !strings.HasPrefix(ep.Secret, "whsec_") || !ep.Active || len(ep.EventTypes) != 0 {
		t.Fatalf("endpoint = %+v", ep)
	}
	list := decode[gateway.WebhookEndpointList](t, get(t, "/v1/admin/webhooks", admin), http.StatusOK)
	if len(list.Endpoints) != 1 || list.Endpoints[0].ID != ep.ID || list.Endpoints[0].Secret != "" {
		t.Errorf("list = %+v, want the endpoint without its secret", list)
	}
	confirm(t, p, nil)
	messages := fmt.Sprintf("/v1/admin/webhooks/%d/messages", ep.ID)
	var log gateway.WebhookMessageList
	for range 100 {
		if log = decode[gateway.WebhookMessageList](t, get(t, messages, admin), http.StatusOK); len(log.Messages) == 1 && log.Messages[0].DeliveredAt != nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(log.Messages) != 1 || log.Messages[0].EventType != "invoice.created" || log.Messages[0].DeliveredAt == nil || log.Messages[0].Attempts != 1 {
		t.Fatalf("delivery log = %+v, want invoice.created delivered once", log.Messages)
	}
	id := log.Messages[0].WebhookID
	decode[map[string]string](t, post(t, messages+"/"+id+"/redeliver", admin, map[string]any{}), http.StatusAccepted)
	for range 100 {
		mu.Lock()
		n := len(ids)
		mu.Unlock()
		if n >= 2 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	mu.Lock()
	if fmt.Sprint(ids) != fmt.Sprintf("[%s %s]", id, id) {
		t.Errorf("deliveries %v, want %s twice", ids, id)
	}
	mu.Unlock()
	other := apiKey(t, newParty(t).Order.BuyerID, invoice.RoleAdmin)
	problem(t, get(t, messages, other), want{status: http.StatusNotFound, slug: "not-found", title: "Not found"})
	if l := decode[gateway.WebhookEndpointList](t, get(t, "/v1/admin/webhooks", other), http.StatusOK); len(l.Endpoints) != 0 {
		t.Errorf("another company lists %+v", l.Endpoints)
	}
	// The registration and turning it off (twice: the second changes nothing) are audited as settings.
	for range 2 {
		if err := deps.Store.WebhookEndpointSetActive(context.Background(), ep.ID, false, store.Operator); err != nil {
			t.Fatal(err)
		}
	}
	registered := fmt.Sprintf("#%d %s (every event type; enabled=true)", ep.ID, srv.URL)
	var changes []string
	for _, ch := range decode[gateway.SettingsView](t, get(t, "/v1/admin/settings", admin), http.StatusOK).Changes {
		changes = append(changes, fmt.Sprintf("%s: %s → %s by %s", ch.Setting, ch.Old, ch.New, ch.UserID))
	}
	want := []string{
		"webhook_endpoint: none → " + registered + " by api-key:" + p.Order.BuyerID + " admin test key",
		"webhook_endpoint: " + registered + " → " + strings.Replace(registered, "enabled=true", "enabled=false", 1) + " by " + store.Operator.UserID,
	}
	slices.Sort(changes)
	if slices.Sort(want); !slices.Equal(changes, want) {
		t.Errorf("audited settings changes\n%s\nwant\n%s", strings.Join(changes, "\n"), strings.Join(want, "\n"))
	}
}

// TestAdminRoutesRefuseAMalformedUser: every admin route that changes something answers a
// malformed K2K-User with 400 naming the header, as the invoice actions do, and changes nothing:
// the audit log never names someone the request did not.
func TestAdminRoutesRefuseAMalformedUser(t *testing.T) {
	ctx := context.Background()
	p := newParty(t)
	v, b := p.Order.VendorID, p.Order.BuyerID
	vendorAdmin, buyerAdmin := apiKey(t, v, invoice.RoleAdmin), apiKey(t, b, invoice.RoleAdmin)
	bad := map[string]string{"K2K-User": "jürgen"}
	send := func(method, path, token, body string) answer {
		return call{method: method, path: path, token: token, idem: newIdem(), ctype: "application/json", body: []byte(body), header: bad}.send(t)
	}
	refused := want{status: http.StatusBadRequest, slug: "bad-request", title: "The request cannot be read",
		fields: [][2]string{{"K2K-User", "printable ASCII"}}}
	problem(t, send(http.MethodPatch, "/v1/admin/settings", buyerAdmin, `{"separate_duties": true}`), refused)
	problem(t, send(http.MethodPut, "/v1/admin/accounting-export", buyerAdmin, `{"url": "https://acc.example/k2k", "secret": "whsec_c2VjcmV0"}`), refused)
	problem(t, send(http.MethodPost, "/v1/admin/connections", vendorAdmin, fmt.Sprintf(`{"vendor_id": %q, "buyer_id": %q}`, v, b)), refused)
	problem(t, send(http.MethodPost, fmt.Sprintf("/v1/admin/connections/%s/%s/suspend", v, b), buyerAdmin, `{}`), refused)

	settings := decode[gateway.SettingsView](t, get(t, "/v1/admin/settings", buyerAdmin), http.StatusOK)
	if settings.SeparateDuties || len(settings.Changes) != 0 {
		t.Errorf("settings after refused changes: %+v, want unchanged and no audit row", settings)
	}
	problem(t, get(t, "/v1/admin/accounting-export", buyerAdmin), want{status: http.StatusNotFound, slug: "not-found", title: "Not found"})
	cs, err := deps.Store.Connections(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 1 || cs[0].Status != invoice.ConnectionActive {
		t.Errorf("connections after refused changes: %+v, want the one active connection", cs)
	}
}

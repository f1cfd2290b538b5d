package gateway_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/k2kinvoice/autoinvoice/internal/blob"
	"github.com/k2kinvoice/autoinvoice/internal/gateway"
	"github.com/k2kinvoice/autoinvoice/internal/invoice"
)

// act sends an action with the key and a JSON body; header adds headers (K2K-User).
func act(t *testing.T, id int64, action, token, body string, header map[string]string) answer {
	t.Helper()
	return call{method: http.MethodPost, path: fmt.Sprintf("/v1/invoices/%d/actions/%s", id, action), token: token, idem: newIdem(),
		ctype: "application/json", body: []byte(body), header: header}.send(t)
}

// accepted requires an action answered accepted into status.
func accepted(t *testing.T, a answer, action invoice.Action, status invoice.Status) {
	t.Helper()
	if r := decode[gateway.ActionResponse](t, a, http.StatusOK); r != (gateway.ActionResponse{Action: action, Accepted: true, Status: status}) {
		t.Fatalf("%s: %+v, want accepted into %s", action, r, status)
	}
}

// update is a vendor update of o to a new revision of total 131900 (one more freight line).
func update(o invoice.Order, extra string) string {
	return fmt.Sprintf(`{"reason":"one more pallet","update":{"invoice_number":%q,"issue_date":"2026-11-28","currency":"EUR",`+
		`"total_minor":131900,"lines":[{"description":"Steel brackets, 40 mm","quantity":500,"unit_price_minor":189},`+
		`{"description":"Assembly service","quantity":8,"unit_price_minor":4500},{"description":"Freight","quantity":1,"unit_price_minor":1400}]%s}}`,
		o.InvoiceNumber+"-R", extra)
}

// TestActionsWalkTheLifecycle sends every action through its route, synchronously and
// asynchronously, from the party allowed to, and checks the answers and the audit trail.
func TestActionsWalkTheLifecycle(t *testing.T) {
	t.Parallel()
	p := newParty(t)
	_, created := confirm(t, p, nil)
	id := created.InvoiceID

	// A vendor update whose body names a raw staging key: the key is dropped, the PDF rendered.
	staged := decode[gateway.Upload](t, upload(t, "", p.Vendor, newIdem(), pdfOf("raw key "+p.Order.PONumber)), http.StatusCreated)
	raw := `,"staging_key":"` + blob.StagingKey(staged.UploadID) + `"`
	accepted(t, act(t, id, "vendor-update", p.Vendor, update(p.Order, raw), nil), invoice.ActionVendorUpdate, invoice.StatusAP)
	v := invoiceView(t, id, p.Procurement)
	if len(v.Revisions) != 2 || v.Revisions[1].PDFSource != string(invoice.PDFRendered) || !v.UpdatePending || v.TotalMinor != 131900 {
		t.Fatalf("after the update: %+v, revisions %+v; want revision 2 rendered and the warning", v.InvoiceSummary, v.Revisions)
	}
	// While the warning stands, approve is refused by the workflow: 409 with the code.
	problem(t, act(t, id, "approve", p.Procurement, `{}`, nil), want{status: http.StatusConflict, slug: "refused",
		title: "The action was refused", code: string(invoice.RefusedUnreviewed)})
	accepted(t, act(t, id, "acknowledge-update", p.Procurement, `{}`, map[string]string{"K2K-User": "paula@buyer"}),
		invoice.ActionAcknowledgeUpdate, invoice.StatusAP)
	accepted(t, act(t, id, "approve", p.Procurement, `{}`, nil), invoice.ActionApprove, invoice.StatusAA)
	accepted(t, act(t, id, "return-to-procurement", p.Accounting, `{"reason":"wrong cost centre"}`, nil), invoice.ActionReturnToProcurement, invoice.StatusAP)
	accepted(t, act(t, id, "approve", p.Procurement, `{}`, nil), invoice.ActionApprove, invoice.StatusAA)

	// Asynchronously: 202 queued, then the invoice moves.
	q := call{method: http.MethodPost, path: fmt.Sprintf("/v1/invoices/%d/actions/approve-payment?async=true", id), token: p.Accounting,
		idem: newIdem(), ctype: "application/json", body: []byte(`{}`)}.send(t)
	if r := decode[gateway.ActionResponse](t, q, http.StatusAccepted); r != (gateway.ActionResponse{Action: invoice.ActionApprovePayment, Queued: true}) {
		t.Fatalf("async answer %+v", r)
	}
	for i := 0; invoiceView(t, id, p.Accounting).Status != invoice.StatusA; i++ {
		if i == 300 {
			t.Fatal("the queued approve-payment never moved the invoice to A")
		}
		time.Sleep(100 * time.Millisecond)
	}
	accepted(t, act(t, id, "cancel-payment-approval", p.Accounting, `{}`, nil), invoice.ActionCancelPaymentApproval, invoice.StatusAA)
	accepted(t, act(t, id, "approve-payment", p.Accounting, `{}`, nil), invoice.ActionApprovePayment, invoice.StatusA)
	accepted(t, act(t, id, "mark-paid", p.Accounting, `{"payment_date":"2026-12-15","payment_reference":"SEPA-1"}`, nil),
		invoice.ActionMarkPaid, invoice.StatusP)

	// The audit trail names who acted: the K2K-User header, else the API key's label.
	v = invoiceView(t, id, p.Vendor)
	var users []string
	for _, e := range v.Events {
		if e.Kind == invoice.EventTransition {
			users = append(users, string(e.Action)+" by "+e.Actor.UserID)
		}
	}
	procurement, accounting := "api-key:"+p.Order.BuyerID+" procurement test key", "api-key:"+p.Order.BuyerID+" accounting test key"
	want := []string{"vendor_update by api-key:" + p.Order.VendorID + " vendor test key", "acknowledge_update by paula@buyer", "approve by " + procurement,
		"return_to_procurement by " + accounting, "approve by " + procurement, "approve_payment by " + accounting,
		"cancel_payment_approval by " + accounting, "approve_payment by " + accounting, "mark_paid by " + accounting}
	if strings.Join(users, "; ") != strings.Join(want, "; ") {
		t.Errorf("audit trail:\n %s\nwant\n %s", strings.Join(users, "; "), strings.Join(want, "; "))
	}
}

// TestVendorUpdateWithUpload: a vendor update names its PDF by an upload of POST /v1/uploads.
func TestVendorUpdateWithUpload(t *testing.T) {
	t.Parallel()
	p := newParty(t)
	_, created := confirm(t, p, nil)
	data := pdfOf("revision 2 of " + p.Order.PONumber)
	up := decode[gateway.Upload](t, upload(t, "", p.Vendor, newIdem(), data), http.StatusCreated)
	accepted(t, act(t, created.InvoiceID, "vendor-update", p.Vendor, update(p.Order, "")[:len(update(p.Order, ""))-1]+`,"pdf_upload":"`+up.UploadID+`"}`, nil),
		invoice.ActionVendorUpdate, invoice.StatusAP)
	v := invoiceView(t, created.InvoiceID, p.Vendor)
	if len(v.Revisions) != 2 || v.Revisions[1].PDFSource != string(invoice.PDFFromVendor) || v.Revisions[1].PDFSHA256 != up.UploadID {
		t.Errorf("revisions %+v, want revision 2 of the upload", v.Revisions)
	}
}

// TestActionRefusals: each way an action is refused, and the problem it is answered with.
func TestActionRefusals(t *testing.T) {
	t.Parallel()
	p := newParty(t)
	_, created := confirm(t, p, nil)
	id := created.InvoiceID
	stranger := newParty(t)
	validation := func(code string, fields ...[2]string) want {
		return want{status: http.StatusUnprocessableEntity, slug: "validation", title: "The request is not valid", code: code, fields: fields}
	}
	notFound := want{status: http.StatusNotFound, slug: "not-found", title: "Not found", detail: "no such resource for this API key"}
	for _, c := range []struct {
		name, path, token, ctype, body string
		header                         map[string]string
		want                           want
	}{
		{name: "another company's invoice", token: stranger.Procurement, want: notFound},
		{name: "another company's vendor", token: stranger.Vendor, want: notFound},
		{name: "an unknown action", path: "delete", want: notFound},
		{name: "an action in the wrong form", path: "approve_payment", want: notFound},
		{name: "an invoice ID of 0", path: "/v1/invoices/0/actions/approve", want: notFound},
		{name: "a negative invoice ID", path: "/v1/invoices/-1/actions/approve", want: notFound},
		{name: "an invoice ID not a number", path: "/v1/invoices/x/actions/approve", want: notFound},
		{name: "no such invoice", path: "/v1/invoices/987654321/actions/approve", want: notFound},
		{name: "text/plain", ctype: "text/plain", want: want{status: http.StatusUnsupportedMediaType, slug: "unsupported-media-type",
			detail: "send the action's body as application/json"}},
		{name: "an unknown field", body: `{"approved_by":"ceo"}`, want: validation("", [2]string{"approved_by", "not a known field"})},
		{name: "a duplicate member", body: `{"reason":"a","reason":"b"}`, want: validation("", [2]string{"reason", "appears more than once"})},
		{name: "invalid UTF-8", body: "{\"reason\":\"\xff\"}", want: validation("", [2]string{"reason", "valid UTF-8"})},
		{name: "no body", body: " ", want: validation("", [2]string{"body", ""})},
		{name: "a long K2K-User", header: map[string]string{"K2K-User": strings.Repeat("u", 201)}, want: want{status: http.StatusBadRequest,
			slug: "bad-request", title: "The request cannot be read", detail: "K2K-User must be at most 200 bytes",
			fields: [][2]string{{"K2K-User", "must be at most 200 bytes"}}}},
		{name: "a K2K-User not ASCII", header: map[string]string{"K2K-User": "jürgen"}, want: want{status: http.StatusBadRequest,
			slug: "bad-request", title: "The request cannot be read", fields: [][2]string{{"K2K-User", "printable ASCII"}}}},
		{name: "the vendor approves", token: p.Vendor, want: want{status: http.StatusForbidden, slug: "forbidden",
			code: string(invoice.RefusedWrongActor)}},
		{name: "accounting approves", token: p.Accounting, want: want{status: http.StatusForbidden, slug: "forbidden",
			code: string(invoice.RefusedWrongActor)}},
		{name: "mark-paid without a reference", path: "mark-paid", token: p.Accounting, body: `{"payment_date":"2026-12-01"}`,
			want: validation(string(invoice.RefusedInvalid), [2]string{"payment_reference", ""})},
		{name: "approve-payment in AP", path: "approve-payment", token: p.Accounting, want: want{status: http.StatusConflict,
			slug: "refused", title: "The action was refused", code: string(invoice.RefusedWrongStatus)}},
		{name: "pdf_upload without an update", path: "vendor-update", token: p.Vendor, body: `{"pdf_upload":"` + strings.Repeat("a", 64) + `"}`,
			want: validation("", [2]string{"pdf_upload", "goes with an update"})},
		{name: "a malformed pdf_upload", path: "vendor-update", token: p.Vendor, body: update(p.Order, "")[:len(update(p.Order, ""))-1] + `,"pdf_upload":"x"}`,
			want: validation("", [2]string{"pdf_upload", "64 hex digits"})},
		{name: "an unknown pdf_upload", path: "vendor-update", token: p.Vendor,
			body: update(p.Order, "")[:len(update(p.Order, ""))-1] + `,"pdf_upload":"` + strings.Repeat("0", 64) + `"}`,
			want: validation("", [2]string{"pdf_upload", "no upload has this upload_id"})},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := c.path
			if !strings.HasPrefix(path, "/") {
				path = fmt.Sprintf("/v1/invoices/%d/actions/%s", id, map[bool]string{true: "approve", false: path}[path == ""])
			}
			tok, ct, body := c.token, c.ctype, c.body
			if tok == "" {
				tok = p.Procurement
			}
			if ct == "" {
				ct = "application/json"
			}
			if body == "" {
				body = `{}`
			}
			a := call{method: http.MethodPost, path: path, token: tok, idem: newIdem(), ctype: ct, body: []byte(body), header: c.header}.send(t)
			problem(t, a, c.want)
		})
	}
	// The refusals the gateway decided itself are in the audit trail; nothing moved.
	v := invoiceView(t, id, p.Procurement)
	refused := map[string]int{}
	for _, e := range v.Events {
		if e.Kind == invoice.EventRefused {
			refused[string(e.Action)+" "+e.Code]++
		}
	}
	if refused["approve wrong_actor"] != 2 || refused["mark_paid invalid_request"] != 1 || v.Status != invoice.StatusAP || v.Revision != 1 {
		t.Errorf("invoice %s revision %d, refusals audited %v; want AP, 1, two wrong_actor approvals and an invalid mark_paid",
			v.Status, v.Revision, refused)
	}
}

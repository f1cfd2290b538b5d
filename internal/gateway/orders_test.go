package gateway_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/k2kinvoice/autoinvoice/internal/blob"
	"github.com/k2kinvoice/autoinvoice/internal/gateway"
	"github.com/k2kinvoice/autoinvoice/internal/invoice"
	"github.com/k2kinvoice/autoinvoice/internal/store"
	"github.com/k2kinvoice/autoinvoice/internal/testenv"
	"github.com/k2kinvoice/autoinvoice/workflows"
)

// orderWith posts a body of the content type to /v1/orders with the key.
func orderWith(t *testing.T, token, ctype string, body []byte) answer {
	t.Helper()
	return call{method: http.MethodPost, path: "/v1/orders", token: token, idem: newIdem(), ctype: ctype, body: body}.send(t)
}

// invoiceView gets one invoice with the key.
func invoiceView(t *testing.T, id int64, token string) gateway.InvoiceView {
	t.Helper()
	return decode[gateway.InvoiceView](t, get(t, fmt.Sprintf("/v1/invoices/%d", id), token), http.StatusOK)
}

// TestConfirmOrderWithUpload: a PDF staged with POST /v1/uploads and named in a JSON order
// becomes revision 1 of the invoice.
func TestConfirmOrderWithUpload(t *testing.T) {
	t.Parallel()
	p := newParty(t)
	data := pdfOf("upload for " + p.Order.PONumber)
	up := decode[gateway.Upload](t, upload(t, "", p.Vendor, newIdem(), data), http.StatusCreated)
	if sum := blob.SHA256Hex(data); up.UploadID != sum || up.SHA256 != sum || up.Size != int64(len(data)) {
		t.Fatalf("upload %+v, want id and sha256 %s and size %d", up, sum, len(data))
	}
	r := decode[gateway.OrderResponse](t, post(t, "/v1/orders", p.Vendor, map[string]any{"order": p.Order, "pdf_upload": up.UploadID}), http.StatusCreated)
	if r.WorkflowID != workflows.InvoiceWorkflowID(p.Order.VendorID, p.Order.BuyerID, p.Order.PONumber) || r.InvoiceID <= 0 || r.Status != invoice.StatusAP {
		t.Fatalf("order answer %+v", r)
	}
	v := invoiceView(t, r.InvoiceID, p.Vendor)
	if len(v.Revisions) != 1 || v.Revisions[0].PDFSource != string(invoice.PDFFromVendor) || v.Revisions[0].PDFSHA256 != up.UploadID ||
		v.Revisions[0].PDFSize != up.Size {
		t.Errorf("revisions %+v, want the upload as revision 1", v.Revisions)
	}
	// Upload IDs that are not one.
	for id, rule := range map[string]string{"../staging/x.pdf": "64 hex digits", strings.Repeat("0", 64): "no upload has this upload_id"} {
		o := p.Order
		o.PONumber += "-x"
		problem(t, post(t, "/v1/orders", p.Vendor, map[string]any{"order": o, "pdf_upload": id}),
			want{status: http.StatusUnprocessableEntity, slug: "validation", title: "The request is not valid", fields: [][2]string{{"pdf_upload", rule}}})
	}
}

// TestConfirmOrderMultipart: the order and its PDF in one multipart request.
func TestConfirmOrderMultipart(t *testing.T) {
	t.Parallel()
	p := newParty(t)
	data := pdfOf("multipart " + p.Order.PONumber)
	ct, body := testenv.MultipartForm(t, [2]string{"order", string(testenv.MustJSON(t, p.Order))}, [2]string{"pdf", string(data)})
	r := decode[gateway.OrderResponse](t, orderWith(t, p.Vendor, ct, body), http.StatusCreated)
	v := invoiceView(t, r.InvoiceID, p.Procurement)
	if r.Status != invoice.StatusAP || len(v.Revisions) != 1 || v.Revisions[0].PDFSHA256 != blob.SHA256Hex(data) ||
		v.Revisions[0].PDFSource != string(invoice.PDFFromVendor) {
		t.Errorf("order %+v, revisions %+v: want the multipart PDF", r, v.Revisions)
	}
	// An order part alone: the PDF is rendered.
	o := p.Order
	o.PONumber, o.InvoiceNumber = o.PONumber+"-rendered", o.InvoiceNumber+"-rendered"
	ct, body = testenv.MultipartForm(t, [2]string{"order", string(testenv.MustJSON(t, o))})
	r = decode[gateway.OrderResponse](t, orderWith(t, p.Vendor, ct, body), http.StatusCreated)
	if v := invoiceView(t, r.InvoiceID, p.Vendor); len(v.Revisions) != 1 || v.Revisions[0].PDFSource != string(invoice.PDFRendered) {
		t.Errorf("revisions %+v, want a rendered PDF", v.Revisions)
	}

	bad := p.Order
	bad.TotalMinor = -5
	validation := func(field, rule string) want {
		return want{status: http.StatusUnprocessableEntity, slug: "validation", title: "The request is not valid", fields: [][2]string{{field, rule}}}
	}
	unreadable := want{status: http.StatusBadRequest, slug: "bad-request", title: "The request cannot be read", detail: "the multipart body cannot be read: "}
	for name, c := range map[string]struct {
		parts [][2]string
		raw   string // a body sent as is with boundary B, instead of parts
		want  want
	}{
		"no order part":      {parts: [][2]string{{"pdf", string(data)}}, want: validation("order", "a multipart part named order")},
		"an unknown part":    {parts: [][2]string{{"order", string(testenv.MustJSON(t, p.Order))}, {"attachment", "x"}}, want: validation("attachment", "is not a known part")},
		"a pdf part not PDF": {parts: [][2]string{{"order", string(testenv.MustJSON(t, p.Order))}, {"pdf", "<html>%%EOF"}}, want: validation("pdf", "is not a PDF")},
		"an invalid order":   {parts: [][2]string{{"order", string(testenv.MustJSON(t, bad))}, {"pdf", string(data)}}, want: validation("order.total_minor", "greater than zero")},
		"a malformed header": {raw: "--B\r\nno colon here\r\n\r\nx\r\n--B--\r\n", want: unreadable},
		"a part cut short":   {raw: "--B\r\nContent-Disposition: form-data; name=\"order\"\r\n\r\n{\"vendor_id\":", want: unreadable},
		"no part at all":     {raw: "--B--\r\n", want: validation("order", "a multipart part named order")},
		"no boundary line":   {raw: "nothing", want: validation("order", "a multipart part named order")},
	} {
		t.Run(name, func(t *testing.T) {
			ct, body := "multipart/form-data; boundary=B", []byte(c.raw)
			if c.parts != nil {
				ct, body = testenv.MultipartForm(t, c.parts...)
			}
			problem(t, orderWith(t, p.Vendor, ct, body), c.want)
		})
	}
	problem(t, orderWith(t, p.Vendor, "multipart/form-data", body), want{status: http.StatusBadRequest, slug: "bad-request",
		title: "The request cannot be read", detail: "multipart/form-data needs a boundary"})
	if st, err := deps.Store.InvoiceList(t.Context(), store.InvoiceFilter{VendorID: p.Order.VendorID, Limit: 10}); err != nil || len(st) != 2 {
		t.Errorf("the vendor has %d invoices (%v), want the 2 confirmed", len(st), err)
	}
}

// TestConfirmOrderRefusals: who may confirm, what an order must be, and an order that does not
// become an invoice.
func TestConfirmOrderRefusals(t *testing.T) {
	t.Parallel()
	p := newParty(t)
	other := newParty(t)
	forbidden := want{status: http.StatusForbidden, slug: "forbidden", code: string(invoice.RefusedWrongActor),
		detail: "only a vendor key of company " + p.Order.VendorID + " may confirm its orders"}
	for name, token := range map[string]string{
		"the buyer":                     p.Procurement,
		"another vendor":                other.Vendor,
		"the vendor's company as buyer": apiKey(t, p.Order.VendorID, invoice.RoleAccounting),
	} {
		t.Run(name, func(t *testing.T) {
			problem(t, post(t, "/v1/orders", token, map[string]any{"order": p.Order}), forbidden)
		})
	}
	validation := func(fields ...[2]string) want {
		return want{status: http.StatusUnprocessableEntity, slug: "validation", title: "The request is not valid", fields: fields}
	}
	unknownBuyer := p.Order
	unknownBuyer.BuyerID = "NOBODY-" + p.Order.BuyerID
	for name, c := range map[string]struct {
		ctype string
		body  string
		want  want
	}{
		"no order":            {body: `{}`, want: validation([2]string{"order", "is required"})},
		"an unknown field":    {body: `{"order":{},"priority":"high"}`, want: validation([2]string{"priority", "not a known field"})},
		"a duplicate member":  {body: `{"order":{},"order":{}}`, want: validation([2]string{"order", "appears more than once"})},
		"invalid UTF-8":       {body: "{\"order\":{\"po_number\":\"\xff\"}}", want: validation([2]string{"order.po_number", "valid UTF-8"})},
		"two values":          {body: `{} {}`, want: validation([2]string{"body", "exactly one JSON object"})},
		"an invalid order":    {body: `{"order":{"vendor_id":"` + p.Order.VendorID + `"}}`, want: validation([2]string{"order.buyer_id", ""}, [2]string{"order.lines", ""})},
		"an order's own rule": {body: string(testenv.MustJSON(t, map[string]any{"order": unknownBuyer})), want: validation([2]string{"order.buyer_id", "is not a known company"})},
		"text/plain": {ctype: "text/plain", body: `{}`, want: want{status: http.StatusUnsupportedMediaType, slug: "unsupported-media-type",
			detail: "send application/json or multipart/form-data"}},
	} {
		t.Run(name, func(t *testing.T) {
			ct := c.ctype
			if ct == "" {
				ct = "application/json; charset=utf-8"
			}
			problem(t, orderWith(t, p.Vendor, ct, []byte(c.body)), c.want)
		})
	}

	// Not eligible (the buyer takes no K2K invoices): 200 with the outcome, no invoice.
	ne := partyOf(t, true, false, store.ConnectionActive)
	r := decode[gateway.OrderResponse](t, post(t, "/v1/orders", ne.Vendor, map[string]any{"order": ne.Order}), http.StatusOK)
	if r.Outcome != workflows.OutcomeNotEligible || r.Reason == "" || r.InvoiceID != 0 || r.Status != "" ||
		r.WorkflowID != workflows.InvoiceWorkflowID(ne.Order.VendorID, ne.Order.BuyerID, ne.Order.PONumber) {
		t.Errorf("not-eligible answer %+v", r)
	}
}

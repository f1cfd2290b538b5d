package gateway_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/k2kinvoice/autoinvoice/internal/gateway"
	"github.com/k2kinvoice/autoinvoice/internal/invoice"
	"github.com/k2kinvoice/autoinvoice/internal/testenv"
)

// TestCreditNotesThroughTheGateway: the vendor credits a paid invoice twice in part, the buyer
// approves and applies each, and the invoice shows them and its net amount; more than is left is
// refused (409 over_credit), as is a credit note on an unpaid invoice (409 invoice_not_paid) or
// from another key than the vendor's (403); the same request sent again is answered the same.
func TestCreditNotesThroughTheGateway(t *testing.T) {
	p := newParty(t)
	o, unpaid := confirm(t, p, nil)
	_, paid := confirm(t, p, func(o *invoice.Order) { o.PONumber += "-P"; o.InvoiceNumber += "-P" })
	accepted(t, act(t, paid.InvoiceID, "approve", p.Procurement, `{}`, map[string]string{"K2K-User": "alice"}), invoice.ActionApprove, invoice.StatusAA)
	accepted(t, act(t, paid.InvoiceID, "approve-payment", p.Accounting, `{}`, map[string]string{"K2K-User": "bob"}), invoice.ActionApprovePayment, invoice.StatusA)
	accepted(t, act(t, paid.InvoiceID, "mark-paid", p.Accounting, `{"payment_date": "2026-11-30", "payment_reference": "SEPA-9"}`,
		map[string]string{"K2K-User": "bob"}), invoice.ActionMarkPaid, invoice.StatusP)

	note := func(invoiceID int64, number string, amount int64) map[string]any {
		return map[string]any{"invoice_id": invoiceID, "credit_note": invoice.CreditNote{Number: number, IssueDate: "2026-12-02",
			Currency: o.Currency, TotalMinor: amount, Reason: "goods returned",
			Lines: []invoice.Line{{Description: "Returned", Quantity: 1, UnitPriceMinor: amount}}}}
	}
	problem(t, post(t, "/v1/credit-notes", p.Vendor, note(unpaid.InvoiceID, "CN-U", 100)),
		want{status: http.StatusConflict, slug: "refused", title: "The action was refused", code: "invoice_not_paid", detail: "is in AP"})
	problem(t, post(t, "/v1/credit-notes", p.Procurement, note(paid.InvoiceID, "CN-X", 100)),
		want{status: http.StatusForbidden, slug: "forbidden", code: "wrong_actor", detail: "only a vendor key"})
	problem(t, post(t, "/v1/credit-notes", p.Vendor, map[string]any{"credit_note": nil}),
		want{status: http.StatusUnprocessableEntity, slug: "validation", title: "The request is not valid",
			fields: [][2]string{{"invoice_id", "is required"}, {"credit_note", "is required"}}})

	first := call{method: http.MethodPost, path: "/v1/credit-notes", token: p.Vendor, idem: newIdem(), ctype: "application/json",
		body: testenv.MustJSON(t, note(paid.InvoiceID, "CN-1", 40000))}
	cn1 := decode[gateway.CreditNoteView](t, first.send(t), http.StatusCreated)
	if cn1.Status != invoice.StatusAP || cn1.Number != "CN-1" || cn1.InvoiceID != paid.InvoiceID || cn1.PDFSource != "rendered" || cn1.PDFSize == 0 {
		t.Fatalf("credit note = %+v, want CN-1 in AP with a rendered PDF", cn1)
	}
	if again := decode[gateway.CreditNoteView](t, first.send(t), http.StatusCreated); again.ID != cn1.ID {
		t.Errorf("the same request again made credit note %d, want %d", again.ID, cn1.ID)
	}
	cn2 := decode[gateway.CreditNoteView](t, post(t, "/v1/credit-notes", p.Vendor, note(paid.InvoiceID, "CN-2", 50000)), http.StatusCreated)
	for _, cn := range []gateway.CreditNoteView{cn1, cn2} {
		path := fmt.Sprintf("/v1/credit-notes/%d/actions/", cn.ID)
		problem(t, call{method: http.MethodPost, path: path + "apply-credit-note", token: p.Accounting, idem: newIdem(), ctype: "application/json",
			body: []byte(`{}`)}.send(t), want{status: http.StatusConflict, slug: "refused", title: "The action was refused", code: "not_allowed_in_state", detail: "AP"})
		for _, step := range []struct {
			action, token string
			want          invoice.Status
		}{{"approve-credit-note", p.Procurement, invoice.StatusAA}, {"apply-credit-note", p.Accounting, invoice.StatusCreditApplied}} {
			a := decode[gateway.ActionResponse](t, call{method: http.MethodPost, path: path + step.action, token: step.token, idem: newIdem(),
				ctype: "application/json", body: []byte(`{}`)}.send(t), http.StatusOK)
			if !a.Accepted || a.Status != step.want {
				t.Fatalf("%s of %s: %+v, want accepted into %s", step.action, cn.Number, a, step.want)
			}
		}
	}
	v := decode[gateway.InvoiceView](t, get(t, fmt.Sprintf("/v1/invoices/%d", paid.InvoiceID), p.Procurement), http.StatusOK)
	if len(v.CreditNotes) != 2 || v.CreditedMinor != 90000 || v.NetMinor != v.TotalMinor-90000 ||
		v.CreditNotes[0].Status != invoice.StatusCreditApplied || v.CreditNotes[1].Status != invoice.StatusCreditApplied {
		t.Errorf("invoice: %d credit notes %+v, credited %d, net %d of %d; want both applied, 90000 credited", len(v.CreditNotes), v.CreditNotes,
			v.CreditedMinor, v.NetMinor, v.TotalMinor)
	}
	// The vendor's own PDF, uploaded first, is stored as the credit note's.
	data := pdfOf("credit note CN-PDF of " + p.Order.PONumber)
	up := decode[gateway.Upload](t, upload(t, "", p.Vendor, newIdem(), data), http.StatusCreated)
	withPDF := note(paid.InvoiceID, "CN-PDF", 100)
	withPDF["pdf_upload"] = up.UploadID
	cnPDF := decode[gateway.CreditNoteView](t, post(t, "/v1/credit-notes", p.Vendor, withPDF), http.StatusCreated)
	if cnPDF.PDFSource != string(invoice.PDFFromVendor) || cnPDF.PDFSHA256 != up.UploadID {
		t.Errorf("credit note with an uploaded PDF: %+v, want the upload (%s)", cnPDF, up.UploadID)
	}
	left := v.TotalMinor - 90000 - 100
	problem(t, post(t, "/v1/credit-notes", p.Vendor, note(paid.InvoiceID, "CN-3", left+1)),
		want{status: http.StatusConflict, slug: "refused", title: "The action was refused", code: "over_credit",
			detail: invoice.FormatMoney(left, o.Currency) + " is left"})
}

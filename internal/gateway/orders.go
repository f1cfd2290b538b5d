package gateway

// POST /v1/orders: a confirmed order, as JSON or multipart with its PDF.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"

	"github.com/k2kinvoice/autoinvoice/internal/invoice"
	"github.com/k2kinvoice/autoinvoice/workflows"
)

// OrderRequest is the JSON body of POST /v1/orders.
type OrderRequest struct {
	Order json.RawMessage `json:"order"`
	// PDFUpload is the upload_id of the vendor's PDF staged with POST /v1/uploads (optional).
	PDFUpload string `json:"pdf_upload,omitempty"`
}

// OrderResponse answers a confirmed order.
type OrderResponse struct {
	WorkflowID string            `json:"workflow_id"`
	InvoiceID  int64             `json:"invoice_id,omitempty"`
	Status     invoice.Status    `json:"status,omitempty"`
	Outcome    workflows.Outcome `json:"outcome,omitempty"`
	Reason     string            `json:"reason,omitempty"`
}

// confirmOrder confirms an order: JSON ({"order": …, "pdf_upload": …}) or multipart/form-data
// with an "order" part (JSON) and an optional "pdf" part. Only the order's vendor may confirm it.
// It answers 201 with the invoice once it is in AP, 200 with the outcome when the order did not
// become an invoice, or 202 when the workflow has not settled within a few seconds.
func (s *Server) confirmOrder(w http.ResponseWriter, r *http.Request) {
	var orderJSON, vendorPDF []byte
	stagingKey := ""
	switch mediaType(r) {
	case "application/json":
		var req OrderRequest
		if !s.decodeJSON(w, r, &req) {
			return
		}
		if req.Order == nil {
			invalid(w, invoice.FieldError{Field: "order", Rule: "is required"})
			return
		}
		orderJSON = req.Order
		if req.PDFUpload != "" {
			var ok bool
			if stagingKey, ok = s.stagedKey(r.Context(), w, "pdf_upload", req.PDFUpload); !ok {
				return
			}
		}
	case "multipart/form-data":
		var ok bool
		if orderJSON, vendorPDF, ok = s.readMultipartOrder(w, r); !ok {
			return
		}
	default:
		writeProblem(w, Problem{Type: problemType("unsupported-media-type"), Status: http.StatusUnsupportedMediaType,
			Detail: "send application/json or multipart/form-data"})
		return
	}
	o, err := invoice.DecodeOrder(bytes.NewReader(orderJSON))
	if err != nil {
		s.fail(w, prefixFields(err, "order."))
		return
	}
	key := principal(r)
	if key.CompanyID != o.VendorID || key.Role != invoice.RoleVendor {
		writeProblem(w, Problem{Type: problemType("forbidden"), Status: http.StatusForbidden, Code: string(invoice.RefusedWrongActor),
			Detail: fmt.Sprintf("only a vendor key of company %s may confirm its orders", o.VendorID)})
		return
	}
	if vendorPDF != nil { // sent in the multipart body: checked and staged once, here
		if stagingKey, err = s.Invoices.StagePDF(r.Context(), vendorPDF); err != nil {
			s.fail(w, err)
			return
		}
	}
	conf, err := s.Invoices.Confirm(r.Context(), o, stagingKey, confirmWait)
	if err != nil {
		s.fail(w, prefixFields(err, "order."))
		return
	}
	resp, st := OrderResponse{WorkflowID: conf.WorkflowID}, conf.State
	switch {
	case st == nil:
		writeJSON(w, http.StatusAccepted, resp)
	case st.Outcome != "" && st.Outcome != workflows.OutcomePaid:
		resp.Outcome, resp.Reason = st.Outcome, st.Reason
		writeJSON(w, http.StatusOK, resp)
	default:
		resp.InvoiceID, resp.Status, resp.Outcome = st.InvoiceID, st.Status, st.Outcome
		writeJSON(w, http.StatusCreated, resp)
	}
}

// readMultipartOrder reads the "order" and "pdf" parts of a multipart body.
func (s *Server) readMultipartOrder(w http.ResponseWriter, r *http.Request) ([]byte, []byte, bool) {
	_, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if params["boundary"] == "" {
		badRequest(w, "multipart/form-data needs a boundary")
		return nil, nil, false
	}
	mr := multipart.NewReader(r.Body, params["boundary"])
	var orderJSON, vendorPDF []byte
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			badRequest(w, "the multipart body cannot be read: "+err.Error())
			return nil, nil, false
		}
		data, err := io.ReadAll(part)
		if err != nil {
			badRequest(w, "the multipart body cannot be read: "+err.Error())
			return nil, nil, false
		}
		switch part.FormName() {
		case "order":
			orderJSON = data
		case "pdf":
			vendorPDF = data
		default:
			invalid(w, invoice.FieldError{Field: part.FormName(), Rule: `is not a known part; send "order" and optionally "pdf"`})
			return nil, nil, false
		}
	}
	if orderJSON == nil {
		invalid(w, invoice.FieldError{Field: "order", Rule: "is required (a multipart part named order)"})
		return nil, nil, false
	}
	return orderJSON, vendorPDF, true
}

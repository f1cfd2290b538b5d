package gateway

// Credit notes: POST /v1/credit-notes issues one against a paid invoice, and
// POST /v1/credit-notes/{id}/actions/{action} approves or applies it.

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/k2kinvoice/autoinvoice/internal/invoice"
	"github.com/k2kinvoice/autoinvoice/internal/store"
	"github.com/k2kinvoice/autoinvoice/workflows"
)

// CreditNoteRequest is the JSON body of POST /v1/credit-notes.
type CreditNoteRequest struct {
	// InvoiceID is the paid invoice to credit.
	InvoiceID  int64               `json:"invoice_id"`
	CreditNote *invoice.CreditNote `json:"credit_note"`
	// PDFUpload is the upload_id of the vendor's PDF of the credit note (optional: else rendered).
	PDFUpload string `json:"pdf_upload,omitempty"`
}

// CreditNoteView is one credit note of an invoice.
type CreditNoteView struct {
	ID         int64          `json:"id"`
	WorkflowID string         `json:"workflow_id"`
	InvoiceID  int64          `json:"invoice_id"`
	Number     string         `json:"number"`
	IssueDate  string         `json:"issue_date"`
	Currency   string         `json:"currency"`
	TotalMinor int64          `json:"total_minor"`
	Reason     string         `json:"reason"`
	Lines      []invoice.Line `json:"lines"`
	Status     invoice.Status `json:"status"`
	PDFSize    int64          `json:"pdf_size"`
	PDFSHA256  string         `json:"pdf_sha256"`
	PDFSource  string         `json:"pdf_source"`
	CreatedAt  time.Time      `json:"created_at"`
}

func creditNoteView(c store.CreditNote) CreditNoteView {
	return CreditNoteView{ID: c.ID, WorkflowID: c.WorkflowID, InvoiceID: c.InvoiceID, Number: c.Note.Number,
		IssueDate: c.Note.IssueDate, Currency: c.Note.Currency, TotalMinor: c.Note.TotalMinor, Reason: c.Note.Reason,
		Lines: c.Note.Lines, Status: c.Status, PDFSize: c.Document.Size, PDFSHA256: c.Document.SHA256,
		PDFSource: string(c.Document.Source), CreatedAt: c.CreatedAt}
}

// issueCreditNote issues a credit note against the body's invoice: only its vendor may. It answers
// 201 with the credit note in AP, 409 when it was refused (invoice_not_paid, over_credit,
// invoice_number_taken), 422 for bad input, 202 when the workflow has not answered yet.
func (s *Server) issueCreditNote(w http.ResponseWriter, r *http.Request) {
	var req CreditNoteRequest
	if !s.decodeJSON(w, r, &req) {
		return
	}
	if req.CreditNote == nil || req.InvoiceID <= 0 {
		var fields []invoice.FieldError
		if req.InvoiceID <= 0 {
			fields = append(fields, invoice.FieldError{Field: "invoice_id", Rule: "is required: the ID of the paid invoice to credit"})
		}
		if req.CreditNote == nil {
			fields = append(fields, invoice.FieldError{Field: "credit_note", Rule: "is required"})
		}
		invalid(w, fields...)
		return
	}
	inv, err := s.invoiceOf(r.Context(), principal(r).CompanyID, req.InvoiceID)
	if errors.Is(err, store.ErrNotFound) {
		invalid(w, invoice.FieldError{Field: "invoice_id", Rule: "names no invoice of your company"})
		return
	} else if err != nil {
		s.internal(w, err)
		return
	}
	if key := principal(r); key.CompanyID != inv.VendorID || key.Role != invoice.RoleVendor {
		writeProblem(w, Problem{Type: problemType("forbidden"), Status: http.StatusForbidden, Code: string(invoice.RefusedWrongActor),
			Detail: "only a vendor key of company " + inv.VendorID + " may issue credit notes on its invoices"})
		return
	}
	note := *req.CreditNote
	note.StagingKey = "" // a PDF comes only as an upload of this company's, never as a raw key
	if req.PDFUpload != "" {
		var ok bool
		if note.StagingKey, ok = s.stagedKey(r.Context(), w, "pdf_upload", req.PDFUpload); !ok {
			return
		}
	}
	issued, err := s.Invoices.IssueCreditNote(r.Context(), inv.WorkflowID, inv.ID, note, confirmWait)
	if err != nil {
		s.fail(w, err)
		return
	}
	st := issued.State
	switch {
	case st == nil:
		writeJSON(w, http.StatusAccepted, map[string]string{"workflow_id": issued.WorkflowID})
	case st.Outcome == workflows.OutcomeRejected:
		s.fail(w, &invoice.Refusal{Code: st.Code, Reason: strings.TrimPrefix(st.Reason, string(st.Code)+": ")})
	default:
		c, err := s.Store.CreditNoteGet(r.Context(), st.CreditNoteID)
		if err != nil {
			s.internal(w, err)
			return
		}
		writeJSON(w, http.StatusCreated, creditNoteView(c))
	}
}

// actOnCreditNote sends an action to a credit note's workflow as an update: 200 accepted, 409
// refused, as the invoice actions answer.
func (s *Server) actOnCreditNote(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		notFound(w)
		return
	}
	c, err := s.Store.CreditNoteGet(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && principal(r).CompanyID != c.VendorID && principal(r).CompanyID != c.BuyerID) {
		notFound(w)
		return
	} else if err != nil {
		s.internal(w, err)
		return
	}
	var b ActionBody
	action, actor, ok := s.actionRequest(w, r, &b, creditActionByName)
	if !ok {
		return
	}
	req := invoice.ActionRequest{Action: action, Actor: actor, Reason: b.Reason, PaymentDate: b.PaymentDate,
		PaymentReference: b.PaymentReference, Update: b.Update, OverrideReason: b.OverrideReason,
		IdempotencyKey: actionKey(actor.CompanyID, r.Header.Get("Idempotency-Key"), invoice.MaxIdempotencyKeyLen)}
	if err := s.admissibleOn(r.Context(), c.WorkflowID, c.VendorID, c.BuyerID, req); err != nil {
		s.fail(w, err)
		return
	}
	answer, err := s.Invoices.Do(r.Context(), c.WorkflowID, req)
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, ActionResponse{Action: answer.Action, Accepted: answer.Accepted, Status: answer.Status})
}

// creditActionByName maps the path's action names (the credit note workflow's message names) to
// actions.
var creditActionByName = func() map[string]invoice.Action {
	m := map[string]invoice.Action{}
	for _, a := range invoice.CreditNoteActions() {
		name, _ := workflows.CreditNoteSignalFor(a)
		m[name] = a
	}
	return m
}()

package gateway

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/k2kinvoice/autoinvoice/internal/blob"
	"github.com/k2kinvoice/autoinvoice/internal/invoice"
	"github.com/k2kinvoice/autoinvoice/internal/pdf"
	"github.com/k2kinvoice/autoinvoice/internal/store"
	"github.com/k2kinvoice/autoinvoice/workflows"
)

func byteCount(n int64) string { return strconv.FormatInt(n, 10) + " bytes" }

// uploadIDPattern is an upload's ID: the SHA-256 of its content.
var uploadIDPattern = regexp.MustCompile(`^[0-9a-f]{64}$`)

// Upload is a staged PDF, referred to by its ID in an order or a vendor update.
type Upload struct {
	UploadID string `json:"upload_id"`
	Size     int64  `json:"size"`
	SHA256   string `json:"sha256"`
}

// upload stages a PDF sent as the raw body (Content-Type: application/pdf).
func (s *Server) upload(w http.ResponseWriter, r *http.Request) {
	if mediaType(r) != "application/pdf" {
		writeProblem(w, Problem{Type: problemType("unsupported-media-type"), Status: http.StatusUnsupportedMediaType,
			Detail: "send the PDF as the body with Content-Type: application/pdf"})
		return
	}
	data, _ := io.ReadAll(r.Body)
	if _, err := s.Invoices.StagePDF(r.Context(), data); err != nil {
		s.fail(w, err)
		return
	}
	digest := blob.SHA256Hex(data)
	writeJSON(w, http.StatusCreated, Upload{UploadID: digest, Size: int64(len(data)), SHA256: digest})
}

// mediaType is the request's media type, lower case, without parameters.
func mediaType(r *http.Request) string {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return mt
}

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
	var orderJSON []byte
	var vendorPDF []byte
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
			data, ok := s.stagedPDF(r.Context(), w, "pdf_upload", req.PDFUpload)
			if !ok {
				return
			}
			vendorPDF = data
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
	conf, err := s.Invoices.Confirm(r.Context(), o, vendorPDF)
	if err != nil {
		s.fail(w, prefixFields(err, "order."))
		return
	}
	wait, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	st, err := s.Invoices.AwaitSettled(wait, conf.WorkflowID)
	resp := OrderResponse{WorkflowID: conf.WorkflowID}
	switch {
	case err != nil:
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
			if rule := pdf.Check(data, s.Invoices.MaxPDFBytes); rule != "" {
				invalid(w, invoice.FieldError{Field: "pdf", Rule: rule})
				return nil, nil, false
			}
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

// stagedPDF reads a PDF staged by POST /v1/uploads.
func (s *Server) stagedPDF(ctx context.Context, w http.ResponseWriter, field, id string) ([]byte, bool) {
	if !uploadIDPattern.MatchString(id) {
		invalid(w, invoice.FieldError{Field: field, Rule: "must be an upload_id from POST /v1/uploads (64 hex digits)"})
		return nil, false
	}
	data, _, err := s.Blobs.Get(ctx, blob.StagingKey(id), s.Invoices.MaxPDFBytes)
	if errors.Is(err, blob.ErrNotFound) {
		invalid(w, invoice.FieldError{Field: field, Rule: "no upload has this upload_id"})
		return nil, false
	} else if err != nil {
		s.internal(w, err)
		return nil, false
	}
	return data, true
}

// decodeJSON reads a JSON body of at most MaxJSONBytes into v, strictly; on failure it has
// answered the request and returns false.
func (s *Server) decodeJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	body, _ := io.ReadAll(r.Body)
	if len(body) > MaxJSONBytes {
		writeProblem(w, Problem{Type: problemType("too-large"), Status: http.StatusRequestEntityTooLarge,
			Detail: "a JSON body must be at most " + byteCount(MaxJSONBytes)})
		return false
	}
	if err := invoice.DecodeStrict(bytes.NewReader(body), v); err != nil {
		s.fail(w, err)
		return false
	}
	return true
}

// prefixFields names fields of a nested document by their full path.
func prefixFields(err error, prefix string) error {
	var v *invoice.ValidationError
	if errors.As(err, &v) {
		for i := range v.Fields {
			if !strings.HasPrefix(v.Fields[i].Field, "pdf") {
				v.Fields[i].Field = prefix + v.Fields[i].Field
			}
		}
	}
	return err
}

// fail answers an error from below: field errors are 422, refusals 409 (403 for the wrong actor),
// anything else 500.
func (s *Server) fail(w http.ResponseWriter, err error) {
	var v *invoice.ValidationError
	var refusal *invoice.Refusal
	switch {
	case errors.As(err, &v):
		invalid(w, v.Fields...)
	case errors.As(err, &refusal) && refusal.Code == invoice.RefusedInvalid:
		writeProblem(w, Problem{Type: problemType("validation"), Title: "The request is not valid", Status: http.StatusUnprocessableEntity,
			Code: string(refusal.Code), Detail: refusal.Reason, Errors: refusal.Fields})
	case errors.As(err, &refusal) && refusal.Code == invoice.RefusedWrongActor:
		writeProblem(w, Problem{Type: problemType("forbidden"), Status: http.StatusForbidden, Code: string(refusal.Code), Detail: refusal.Reason})
	case errors.As(err, &refusal):
		writeProblem(w, Problem{Type: problemType("refused"), Title: "The action was refused", Status: http.StatusConflict,
			Code: string(refusal.Code), Detail: refusal.Reason})
	default:
		s.internal(w, err)
	}
}

// InvoiceSummary is an invoice in a list.
type InvoiceSummary struct {
	ID               int64          `json:"id"`
	WorkflowID       string         `json:"workflow_id"`
	VendorID         string         `json:"vendor_id"`
	BuyerID          string         `json:"buyer_id"`
	PONumber         string         `json:"po_number"`
	InvoiceNumber    string         `json:"invoice_number"`
	Status           invoice.Status `json:"status"`
	Revision         int            `json:"revision"`
	Currency         string         `json:"currency"`
	TotalMinor       int64          `json:"total_minor"`
	POTotalMinor     int64          `json:"po_total_minor"`
	DiscrepancyMinor int64          `json:"discrepancy_minor"`
	UpdatePending    bool           `json:"update_pending"`
	CreatedAt        time.Time      `json:"created_at"`
	UpdatedAt        time.Time      `json:"updated_at"`
}

func summary(i store.Invoice) InvoiceSummary {
	return InvoiceSummary{ID: i.ID, WorkflowID: i.WorkflowID, VendorID: i.VendorID, BuyerID: i.BuyerID, PONumber: i.PONumber,
		InvoiceNumber: i.InvoiceNumber, Status: i.Status, Revision: i.CurrentRevision, Currency: i.Currency,
		TotalMinor: i.TotalMinor, POTotalMinor: i.POTotalMinor, DiscrepancyMinor: i.TotalMinor - i.POTotalMinor,
		UpdatePending: i.UpdatePending, CreatedAt: i.CreatedAt, UpdatedAt: i.UpdatedAt}
}

// InvoiceList is a page of invoices.
type InvoiceList struct {
	Invoices      []InvoiceSummary `json:"invoices"`
	NextPageToken string           `json:"next_page_token,omitempty"`
}

// listInvoices lists the key's company's invoices: a buyer's PO Reconciliation for buyer roles,
// the vendor's own invoices for the vendor role.
func (s *Server) listInvoices(w http.ResponseWriter, r *http.Request) {
	key := principal(r)
	q := r.URL.Query()
	f := store.InvoiceFilter{Limit: 20, Status: invoice.Status(q.Get("status")), PONumber: q.Get("po")}
	var fields []invoice.FieldError
	if key.Role == invoice.RoleVendor {
		f.VendorID, f.Counterpart = key.CompanyID, q.Get("buyer")
	} else {
		f.BuyerID, f.Counterpart = key.CompanyID, q.Get("vendor")
	}
	switch f.Status {
	case "", invoice.StatusAP, invoice.StatusAA, invoice.StatusA, invoice.StatusP:
	default:
		fields = append(fields, invoice.FieldError{Field: "status", Rule: "must be one of AP, AA, A, P"})
	}
	for name, dst := range map[string]**bool{"warning": &f.Warning, "discrepancy": &f.Discrepancy} {
		if v := q.Get(name); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				fields = append(fields, invoice.FieldError{Field: name, Rule: "must be true or false"})
			}
			*dst = &b
		}
	}
	if v := q.Get("page_size"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			fields = append(fields, invoice.FieldError{Field: "page_size", Rule: "must be a whole number from 1 to 100"})
		}
		f.Limit = n
	}
	if v := q.Get("page_token"); v != "" {
		raw, err := base64.RawURLEncoding.DecodeString(v)
		id, err2 := strconv.ParseInt(string(raw), 10, 64)
		if err != nil || err2 != nil || id <= 0 {
			fields = append(fields, invoice.FieldError{Field: "page_token", Rule: "is not a token from a previous page"})
		}
		f.AfterID = id
	}
	for _, p := range []string{"vendor", "buyer", "po"} {
		if !utf8.ValidString(q.Get(p)) || utf8.RuneCountInString(q.Get(p)) > 64 || strings.IndexFunc(q.Get(p), func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
			fields = append(fields, invoice.FieldError{Field: p, Rule: "must be at most 64 printable characters"})
		}
	}
	if len(fields) > 0 {
		invalid(w, fields...)
		return
	}
	list, err := s.Store.InvoiceList(r.Context(), f)
	if err != nil {
		s.internal(w, err)
		return
	}
	out := InvoiceList{Invoices: make([]InvoiceSummary, 0, len(list))}
	for _, i := range list {
		out.Invoices = append(out.Invoices, summary(i))
	}
	if len(list) == f.Limit {
		out.NextPageToken = base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(list[len(list)-1].ID, 10)))
	}
	writeJSON(w, http.StatusOK, out)
}

// visibleInvoice reads the invoice of the path's {id} if the key's company is its vendor or
// buyer; otherwise it answers 404, so another company's invoice is not revealed.
func (s *Server) visibleInvoice(w http.ResponseWriter, r *http.Request) (store.Invoice, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		notFound(w)
		return store.Invoice{}, false
	}
	inv, err := s.Store.InvoiceGet(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		notFound(w)
		return store.Invoice{}, false
	} else if err != nil {
		s.internal(w, err)
		return store.Invoice{}, false
	}
	if c := principal(r).CompanyID; c != inv.VendorID && c != inv.BuyerID {
		notFound(w)
		return store.Invoice{}, false
	}
	return inv, true
}

// RevisionView is one revision of an invoice.
type RevisionView struct {
	Revision      int            `json:"revision"`
	InvoiceNumber string         `json:"invoice_number"`
	IssueDate     string         `json:"issue_date"`
	Currency      string         `json:"currency"`
	TotalMinor    int64          `json:"total_minor"`
	Lines         []invoice.Line `json:"lines"`
	PDFSize       int64          `json:"pdf_size"`
	PDFSHA256     string         `json:"pdf_sha256"`
	PDFSource     string         `json:"pdf_source"`
}

// InvoiceView is one invoice with its revisions and audit events.
type InvoiceView struct {
	InvoiceSummary
	Revisions []RevisionView  `json:"revisions"`
	Events    []invoice.Event `json:"events"`
}

func (s *Server) getInvoice(w http.ResponseWriter, r *http.Request) {
	inv, ok := s.visibleInvoice(w, r)
	if !ok {
		return
	}
	revs, err := s.Store.Revisions(r.Context(), inv.ID)
	if err != nil {
		s.internal(w, err)
		return
	}
	events, err := s.Store.EventsByWorkflowID(r.Context(), inv.WorkflowID)
	if err != nil {
		s.internal(w, err)
		return
	}
	view := InvoiceView{InvoiceSummary: summary(inv), Revisions: make([]RevisionView, 0, len(revs)), Events: events}
	for _, rv := range revs {
		view.Revisions = append(view.Revisions, RevisionView{Revision: rv.Revision, InvoiceNumber: rv.InvoiceNumber,
			IssueDate: rv.IssueDate.Format(time.DateOnly), Currency: rv.Currency, TotalMinor: rv.TotalMinor, Lines: rv.Lines,
			PDFSize: rv.Document.Size, PDFSHA256: rv.Document.SHA256, PDFSource: string(rv.Document.Source)})
	}
	writeJSON(w, http.StatusOK, view)
}

// PDFLink is a short-lived download link of a revision's PDF.
type PDFLink struct {
	URL       string    `json:"url"`
	ExpiresAt time.Time `json:"expires_at"`
	SHA256    string    `json:"sha256"`
}

func (s *Server) pdfLink(w http.ResponseWriter, r *http.Request) {
	inv, ok := s.visibleInvoice(w, r)
	if !ok {
		return
	}
	n, err := strconv.Atoi(r.PathValue("revision"))
	if err != nil || n < 1 {
		notFound(w)
		return
	}
	rev, err := s.Store.RevisionGet(r.Context(), inv.ID, n)
	if errors.Is(err, store.ErrNotFound) {
		notFound(w)
		return
	} else if err != nil {
		s.internal(w, err)
		return
	}
	url, err := s.Blobs.PresignGet(r.Context(), rev.Document.Key, s.PresignTTL)
	if err != nil {
		s.internal(w, err)
		return
	}
	writeJSON(w, http.StatusOK, PDFLink{URL: url, ExpiresAt: time.Now().Add(s.PresignTTL).UTC(), SHA256: rev.Document.SHA256})
}

// ActionBody is the JSON body of POST /v1/invoices/{id}/actions/{action}. The actor comes from
// the API key (company and role) and the K2K-User header (the user, for the audit log).
type ActionBody struct {
	Reason           string                 `json:"reason,omitempty"`
	PaymentDate      string                 `json:"payment_date,omitempty"`
	PaymentReference string                 `json:"payment_reference,omitempty"`
	Update           *invoice.InvoiceUpdate `json:"update,omitempty"`
	// PDFUpload is the upload_id of the vendor's PDF of a new revision (vendor-update only).
	PDFUpload string `json:"pdf_upload,omitempty"`
}

// ActionResponse answers an action.
type ActionResponse struct {
	Action   invoice.Action `json:"action"`
	Accepted bool           `json:"accepted"`
	Status   invoice.Status `json:"status,omitempty"`
	// Queued is true for ?async=true: the action was delivered and will be answered in the invoice.
	Queued bool `json:"queued,omitempty"`
}

// act sends an action to the invoice's workflow: as an update by default (200 accepted, 409
// refused with the reason), or as a signal with ?async=true (202).
func (s *Server) act(w http.ResponseWriter, r *http.Request) {
	inv, ok := s.visibleInvoice(w, r)
	if !ok {
		return
	}
	action, known := actionByName[r.PathValue("action")]
	if !known {
		notFound(w)
		return
	}
	if mediaType(r) != "application/json" {
		writeProblem(w, Problem{Type: problemType("unsupported-media-type"), Status: http.StatusUnsupportedMediaType,
			Detail: "send the action's body as application/json ({} when it has no fields)"})
		return
	}
	var b ActionBody
	if !s.decodeJSON(w, r, &b) {
		return
	}
	user := r.Header.Get("K2K-User")
	if user == "" {
		user = "api-key:" + principal(r).Label
	} else if rule := checkHeaderValue(user); rule != "" {
		badRequest(w, "K2K-User "+rule, invoice.FieldError{Field: "K2K-User", Rule: rule})
		return
	}
	key := principal(r)
	req := invoice.ActionRequest{Action: action, Actor: invoice.Actor{CompanyID: key.CompanyID, UserID: user, Role: key.Role},
		IdempotencyKey: key.CompanyID + "/" + r.Header.Get("Idempotency-Key"), Reason: b.Reason,
		PaymentDate: b.PaymentDate, PaymentReference: b.PaymentReference, Update: b.Update}
	if b.Update != nil {
		b.Update.StagingKey = "" // a PDF comes only as an upload of this company's, never as a raw key
	}
	if b.PDFUpload != "" {
		if b.Update == nil {
			invalid(w, invoice.FieldError{Field: "pdf_upload", Rule: "goes with an update (vendor-update only)"})
			return
		}
		if _, ok := s.stagedPDF(r.Context(), w, "pdf_upload", b.PDFUpload); !ok {
			return
		}
		b.Update.StagingKey = blob.StagingKey(b.PDFUpload)
	}
	if err := invoice.Admissible(invoice.Facts{VendorID: inv.VendorID, BuyerID: inv.BuyerID}, req); err != nil {
		var refusal *invoice.Refusal
		if errors.As(err, &refusal) {
			if aerr := s.Invoices.AuditRefusal(r.Context(), inv.WorkflowID, req, refusal); aerr != nil {
				s.internal(w, aerr)
				return
			}
		}
		s.fail(w, err)
		return
	}
	if r.URL.Query().Get("async") == "true" {
		if err := s.Invoices.Act(r.Context(), inv.WorkflowID, req); err != nil {
			s.fail(w, err)
			return
		}
		writeJSON(w, http.StatusAccepted, ActionResponse{Action: action, Queued: true})
		return
	}
	answer, err := s.Invoices.Do(r.Context(), inv.WorkflowID, req)
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, ActionResponse{Action: answer.Action, Accepted: answer.Accepted, Status: answer.Status})
}

// actionByName maps the path's action names (the workflow's message names) to actions.
var actionByName = func() map[string]invoice.Action {
	m := map[string]invoice.Action{}
	for _, a := range invoice.Actions() {
		name, _ := workflows.SignalFor(a)
		m[name] = a
	}
	return m
}()

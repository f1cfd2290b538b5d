package gateway

// POST /v1/invoices/{id}/actions/{action}: a human action, sent as an update (or a signal).

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"

	"github.com/k2kinvoice/autoinvoice/internal/invoice"
	"github.com/k2kinvoice/autoinvoice/internal/store"
	"github.com/k2kinvoice/autoinvoice/workflows"
)

// ActionBody is the JSON body of POST /v1/invoices/{id}/actions/{action}. The actor comes from
// the API key (company and role) and the K2K-User header (the user, for the audit log).
type ActionBody struct {
	Reason           string                 `json:"reason,omitempty"`
	PaymentDate      string                 `json:"payment_date,omitempty"`
	PaymentReference string                 `json:"payment_reference,omitempty"`
	Update           *invoice.InvoiceUpdate `json:"update,omitempty"`
	// PDFUpload is the upload_id of the vendor's PDF of a new revision (vendor-update only).
	PDFUpload string `json:"pdf_upload,omitempty"`
	// OverrideReason approves a discrepancy beyond the buyer's tolerance (approve only).
	OverrideReason string `json:"override_reason,omitempty"`
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
	var b ActionBody
	action, actor, ok := s.actionRequest(w, r, &b, actionByName)
	if !ok {
		return
	}
	req := invoice.ActionRequest{Action: action, Actor: actor,
		IdempotencyKey: actionKey(actor.CompanyID, r.Header.Get("Idempotency-Key"), invoice.MaxIdempotencyKeyLen), Reason: b.Reason,
		PaymentDate: b.PaymentDate, PaymentReference: b.PaymentReference, Update: b.Update, OverrideReason: b.OverrideReason}
	if b.Update != nil {
		b.Update.StagingKey = "" // a PDF comes only as an upload of this company's, never as a raw key
	}
	if b.PDFUpload != "" {
		if b.Update == nil {
			invalid(w, invoice.FieldError{Field: "pdf_upload", Rule: "goes with an update (vendor-update only)"})
			return
		}
		key, ok := s.stagedKey(r.Context(), w, "pdf_upload", b.PDFUpload)
		if !ok {
			return
		}
		b.Update.StagingKey = key
	}
	if err := s.admissible(r.Context(), inv, req); err != nil {
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

// actionKey is the idempotency key of what a request sends for company under its Idempotency-Key
// key: "company/key", or, when that would be longer than limit, "company/sha256:" and the key's
// SHA-256 in hex (at most 136 bytes). So every key the header allows works, and still names one
// request of one company.
func actionKey(company, key string, limit int) string {
	if k := company + "/" + key; len(k) <= limit {
		return k
	}
	sum := sha256.Sum256([]byte(key))
	return company + "/sha256:" + hex.EncodeToString(sum[:])
}

// actionRequest reads what every action route takes: the action its path names among names (404
// for any other name), its JSON body into body (415 for another media type), and the actor: the API key's
// company and role, and the user the K2K-User header names (the key's label when it names none).
// It answers the request itself when one of them is wrong.
func (s *Server) actionRequest(w http.ResponseWriter, r *http.Request, body any, names map[string]invoice.Action) (invoice.Action, invoice.Actor, bool) {
	action, known := names[r.PathValue("action")]
	if !known {
		notFound(w)
		return "", invoice.Actor{}, false
	}
	if mediaType(r) != "application/json" {
		writeProblem(w, Problem{Type: problemType("unsupported-media-type"), Status: http.StatusUnsupportedMediaType,
			Detail: "send the action's body as application/json ({} when it has no fields)"})
		return "", invoice.Actor{}, false
	}
	if !s.decodeJSON(w, r, body) {
		return "", invoice.Actor{}, false
	}
	user, ok := requestUser(w, r)
	if !ok {
		return "", invoice.Actor{}, false
	}
	key := principal(r)
	return action, invoice.Actor{CompanyID: key.CompanyID, UserID: user, Role: key.Role}, true
}

// requestUser is the user a request acts as, for the audit log: the one its K2K-User header
// names, else "api-key:" and the key's label. A malformed K2K-User is answered 400 here (ok false):
// every route that records who acted reads the header through it.
func requestUser(w http.ResponseWriter, r *http.Request) (user string, ok bool) {
	user = r.Header.Get("K2K-User")
	if user == "" {
		return "api-key:" + principal(r).Label, true
	}
	if rule := checkHeaderValue(user); rule != "" {
		badRequest(w, "K2K-User "+rule, invoice.FieldError{Field: "K2K-User", Rule: rule})
		return "", false
	}
	return user, true
}

// admissible checks what the gateway can before the workflow: the request itself, and that the
// actor's company and role may send it on this invoice. A refusal is audited and returned; any
// other error is an outage.
func (s *Server) admissible(ctx context.Context, inv store.Invoice, req invoice.ActionRequest) error {
	return s.admissibleOn(ctx, inv.WorkflowID, inv.VendorID, inv.BuyerID, req)
}

// admissibleOn is admissible for the workflow of an invoice or a credit note of vendor and buyer.
func (s *Server) admissibleOn(ctx context.Context, workflowID, vendorID, buyerID string, req invoice.ActionRequest) error {
	err := invoice.Admissible(invoice.Facts{VendorID: vendorID, BuyerID: buyerID}, req)
	var refusal *invoice.Refusal
	if errors.As(err, &refusal) {
		if aerr := s.Invoices.AuditRefusal(ctx, workflowID, req, refusal); aerr != nil {
			return aerr
		}
	}
	return err
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

package gateway

// POST /v1/invoices/actions/{action}: one approval sent to many invoices.

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/k2kinvoice/autoinvoice/internal/invoice"
	"github.com/k2kinvoice/autoinvoice/internal/invoiceclient"
	"github.com/k2kinvoice/autoinvoice/internal/store"
)

// BulkActionBody is the JSON body of POST /v1/invoices/actions/{action}: the invoices to act on,
// at most invoiceclient.MaxBulk, each once.
type BulkActionBody struct {
	InvoiceIDs []int64 `json:"invoice_ids"`
}

// BulkActionResponse answers a bulk action: one answer per invoice, in the order asked.
type BulkActionResponse struct {
	Action invoice.Action `json:"action"`
	Items  []BulkItem     `json:"items"`
}

// BulkItem is one invoice's answer in a bulk action.
type BulkItem struct {
	InvoiceID int64 `json:"invoice_id"`
	Accepted  bool  `json:"accepted"`
	// Status is the invoice's status after the answer (empty for an invoice not found).
	Status invoice.Status `json:"status,omitempty"`
	// Code is the refusal code, or not_found for an ID that is no invoice of the caller's company.
	Code   string `json:"code,omitempty"`
	Detail string `json:"detail,omitempty"`
}

// codeNotFound is a bulk item's code for an invoice the caller may not see.
const codeNotFound = "not_found"

// actInBulk sends one approval to each invoice named, each under its own idempotency key derived
// from the request's (invoiceclient.ItemKey), and answers 200 with every item's answer: accepted,
// refused with its code, or not found. One item's refusal does not stop the others. When an item
// cannot be answered (an outage) the whole request answers 500 and may be sent again with the same
// Idempotency-Key: the items already applied keep their answers.
func (s *Server) actInBulk(w http.ResponseWriter, r *http.Request) {
	var b BulkActionBody
	action, actor, ok := s.actionRequest(w, r, &b, actionByName)
	if !ok {
		return
	}
	ids := make([]string, len(b.InvoiceIDs))
	for i, id := range b.InvoiceIDs {
		ids[i] = strconv.FormatInt(id, 10)
	}
	key := actionKey(actor.CompanyID, r.Header.Get("Idempotency-Key"), invoiceclient.MaxBulkKeyLen)
	if err := invoiceclient.CheckBulk(action, "Idempotency-Key", key, "invoice_ids", ids); err != nil {
		s.fail(w, err)
		return
	}
	answers := make([]BulkItem, len(b.InvoiceIDs))
	var items []invoiceclient.BulkItem
	var at []int // the answer each item fills
	for i, id := range b.InvoiceIDs {
		answers[i].InvoiceID = id
		inv, err := s.invoiceOf(r.Context(), actor.CompanyID, id)
		if errors.Is(err, store.ErrNotFound) {
			answers[i].Code, answers[i].Detail = codeNotFound, "no invoice of your company has this ID"
			continue
		} else if err != nil {
			s.internal(w, err)
			return
		}
		req := invoice.ActionRequest{Action: action, Actor: actor, IdempotencyKey: invoiceclient.ItemKey(key, inv.WorkflowID)}
		answers[i].Status = inv.Status // as last stored; the workflow's answer replaces it
		var refusal *invoice.Refusal
		if err := s.admissible(r.Context(), inv, req); errors.As(err, &refusal) {
			answers[i].Code, answers[i].Detail = string(refusal.Code), refusal.Reason
			continue
		} else if err != nil {
			s.internal(w, err)
			return
		}
		items, at = append(items, invoiceclient.BulkItem{WorkflowID: inv.WorkflowID, Request: req}), append(at, i)
	}
	for k, a := range s.Invoices.DoEach(r.Context(), items) {
		if a.Err != nil {
			s.internal(w, a.Err)
			return
		}
		item := &answers[at[k]]
		item.Accepted = a.Answer.Accepted
		if a.Answer.Status != "" {
			item.Status = a.Answer.Status
		}
		if a.Refusal != nil {
			item.Code, item.Detail = string(a.Refusal.Code), a.Refusal.Reason
		}
	}
	writeJSON(w, http.StatusOK, BulkActionResponse{Action: action, Items: answers})
}

package gateway

// GET /v1/invoices, /v1/invoices/{id} and its revisions' PDF links: what a company may see of
// its invoices.

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/k2kinvoice/autoinvoice/internal/invoice"
	"github.com/k2kinvoice/autoinvoice/internal/store"
)

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
	// ToleranceStanding is where the discrepancy stands against the buyer's tolerance the invoice
	// was confirmed under: exact, no_tolerance, within or beyond (approve then needs an override).
	ToleranceStanding invoice.Standing   `json:"tolerance_standing"`
	Tolerance         *invoice.Tolerance `json:"tolerance,omitempty"`
	CreatedAt         time.Time          `json:"created_at"`
	UpdatedAt         time.Time          `json:"updated_at"`
}

func summary(i store.Invoice) InvoiceSummary {
	var tolerance *invoice.Tolerance
	if i.Tolerance != (invoice.Tolerance{}) {
		tolerance = &i.Tolerance
	}
	return InvoiceSummary{ToleranceStanding: i.Tolerance.Stand(i.TotalMinor-i.POTotalMinor, i.POTotalMinor, i.Currency), Tolerance: tolerance, ID: i.ID, WorkflowID: i.WorkflowID, VendorID: i.VendorID, BuyerID: i.BuyerID, PONumber: i.PONumber,
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
	if f.Status != "" && !slices.Contains(invoice.Statuses(), f.Status) {
		fields = append(fields, invoice.FieldError{Field: "status", Rule: fmt.Sprintf("must be one of %v", invoice.Statuses())})
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
	inv, err := s.invoiceOf(r.Context(), principal(r).CompanyID, id)
	if errors.Is(err, store.ErrNotFound) {
		notFound(w)
		return store.Invoice{}, false
	} else if err != nil {
		s.internal(w, err)
		return store.Invoice{}, false
	}
	return inv, true
}

// invoiceOf reads invoice id if company is its vendor or its buyer; store.ErrNotFound otherwise,
// so that another company's invoice looks the same as one that does not exist.
func (s *Server) invoiceOf(ctx context.Context, company string, id int64) (store.Invoice, error) {
	inv, err := s.Store.InvoiceGet(ctx, id)
	if err == nil && company != inv.VendorID && company != inv.BuyerID {
		return store.Invoice{}, store.ErrNotFound
	}
	return inv, err
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
	Dispute   *DisputeView    `json:"dispute,omitempty"`
	// CreditNotes are the invoice's credit notes, oldest first; CreditedMinor is what the applied
	// ones credit, and NetMinor the total less it.
	CreditNotes   []CreditNoteView `json:"credit_notes"`
	CreditedMinor int64            `json:"credited_minor"`
	NetMinor      int64            `json:"net_minor"`
}

// DisputeView is the buyer's dispute of an invoice in D or V.
type DisputeView struct {
	Reason string       `json:"reason"`
	UserID string       `json:"user_id"`
	Role   invoice.Role `json:"role"`
	At     time.Time    `json:"at"`
}

// disputeOf is the last dispute among events, for an invoice in status D or V.
func disputeOf(status invoice.Status, events []invoice.Event) *DisputeView {
	if status != invoice.StatusD && status != invoice.StatusV {
		return nil
	}
	for _, e := range slices.Backward(events) {
		if e.Kind == invoice.EventTransition && e.Action == invoice.ActionDispute {
			return &DisputeView{Reason: e.Reason, UserID: e.Actor.UserID, Role: e.Actor.Role, At: e.OccurredAt}
		}
	}
	return nil
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
	// A voided order confirmed again has several invoices under one workflow: each shows its own.
	events = slices.DeleteFunc(events, func(e invoice.Event) bool { return e.InvoiceID != 0 && e.InvoiceID != inv.ID })
	notes, err := s.Store.CreditNotesOf(r.Context(), inv.ID)
	if err != nil {
		s.internal(w, err)
		return
	}
	view := InvoiceView{InvoiceSummary: summary(inv), Revisions: make([]RevisionView, 0, len(revs)), Events: events,
		Dispute: disputeOf(inv.Status, events), CreditNotes: make([]CreditNoteView, 0, len(notes)), NetMinor: inv.TotalMinor}
	for _, c := range notes {
		view.CreditNotes = append(view.CreditNotes, creditNoteView(c))
		if c.Status == invoice.StatusCreditApplied {
			view.CreditedMinor += c.Note.TotalMinor
		}
	}
	view.NetMinor -= view.CreditedMinor
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

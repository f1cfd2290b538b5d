package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/k2kinvoice/autoinvoice/internal/einvoice"
	"github.com/k2kinvoice/autoinvoice/internal/invoice"
	"github.com/k2kinvoice/autoinvoice/internal/store"
	"github.com/k2kinvoice/autoinvoice/internal/webhooks"
)

// ErrTypeExportRefused: the buyer's accounting system refused the invoice (a 4xx answer), or the
// buyer's export is gone or off. Retrying does not change it.
const ErrTypeExportRefused = "ExportRefused"

// ExportInput is an invoice to send to its buyer's accounting system. Key is the delivery's stable
// key: every attempt of one sending carries it, so the receiving side takes it once.
type ExportInput struct {
	Key        string        `json:"key"`
	WorkflowID string        `json:"workflow_id"`
	InvoiceID  int64         `json:"invoice_id"`
	Revision   int           `json:"revision"`
	Order      invoice.Order `json:"order"`
}

// ExportResult is the accounting system's answer: its own reference for the invoice.
type ExportResult struct {
	Reference string `json:"reference"`
}

// ExportDocument is what the accounting system receives: the invoice, its revisions, a link to
// the current revision's PDF (valid a week) and its EN 16931 XML.
type ExportDocument struct {
	Key         string           `json:"key"`
	WorkflowID  string           `json:"workflow_id"`
	InvoiceID   int64            `json:"invoice_id"`
	Invoice     invoice.Order    `json:"invoice"`
	Revision    int              `json:"revision"`
	Revisions   []ExportRevision `json:"revisions"`
	PDFURL      string           `json:"pdf_url"`
	PDFSHA256   string           `json:"pdf_sha256"`
	EInvoiceXML string           `json:"einvoice_xml"`
}

// ExportRevision is one revision of the exported invoice.
type ExportRevision struct {
	Revision      int    `json:"revision"`
	InvoiceNumber string `json:"invoice_number"`
	IssueDate     string `json:"issue_date"`
	TotalMinor    int64  `json:"total_minor"`
	PDFSHA256     string `json:"pdf_sha256"`
}

// ExportInvoice sends the invoice to its buyer's accounting system: a POST of ExportDocument,
// signed per Standard Webhooks with the buyer's secret (webhook-id is the input's Key, the same
// on every attempt, and Idempotency-Key repeats it). A 2xx answer may carry {"reference": "…"};
// a 4xx answer, or an export that is gone or off, is a non-retryable ErrTypeExportRefused; any
// other failure is retried.
func (a *Activities) ExportInvoice(ctx context.Context, in ExportInput) (ExportResult, error) {
	cfg, err := a.Store.AccountingExportGet(ctx, in.Order.BuyerID)
	switch {
	case errors.Is(err, store.ErrNotFound) || err == nil && !cfg.Enabled:
		return ExportResult{}, temporal.NewNonRetryableApplicationError("the buyer's accounting export is not configured or is off", ErrTypeExportRefused, err)
	case err != nil:
		return ExportResult{}, err
	}
	doc, err := a.exportDocument(ctx, in)
	if err != nil {
		return ExportResult{}, err
	}
	body, err := json.Marshal(doc)
	if err != nil {
		return ExportResult{}, err
	}
	answer, err := webhooks.Post(ctx, exportClient, cfg.URL, cfg.Secret, in.Key, time.Now(), body, http.Header{"Idempotency-Key": {in.Key}})
	switch {
	case errors.Is(err, webhooks.ErrEndpoint):
		return ExportResult{}, temporal.NewNonRetryableApplicationError("the buyer's export: "+err.Error(), ErrTypeExportRefused, err)
	case err != nil:
		return ExportResult{}, fmt.Errorf("send to %s: %w", cfg.URL, err)
	}
	switch {
	case answer.Code/100 == 2:
		var r ExportResult
		_ = json.Unmarshal(answer.Body, &r) // a 2xx without a reference is still taken
		return ExportResult{Reference: invoice.EscapeText(r.Reference, 200)}, nil
	case answer.Code/100 == 4:
		return ExportResult{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("the accounting system refused the invoice: %s: %s",
			answer.Status, invoice.EscapeText(string(answer.Body), 300)), ErrTypeExportRefused, nil)
	}
	return ExportResult{}, fmt.Errorf("the accounting system answered %s", answer.Status)
}

// exportDocument gathers what the accounting system receives.
func (a *Activities) exportDocument(ctx context.Context, in ExportInput) (ExportDocument, error) {
	revs, err := a.Store.Revisions(ctx, in.InvoiceID)
	if err != nil {
		return ExportDocument{}, err
	}
	doc := ExportDocument{Key: in.Key, WorkflowID: in.WorkflowID, InvoiceID: in.InvoiceID, Invoice: in.Order, Revision: in.Revision}
	for _, r := range revs {
		doc.Revisions = append(doc.Revisions, ExportRevision{Revision: r.Revision, InvoiceNumber: r.InvoiceNumber,
			IssueDate: r.IssueDate.Format(time.DateOnly), TotalMinor: r.TotalMinor, PDFSHA256: r.Document.SHA256})
		if r.Revision == in.Revision {
			if doc.PDFURL, err = a.Blobs.PresignGet(ctx, r.Document.Key, 7*24*time.Hour); err != nil {
				return ExportDocument{}, err
			}
			doc.PDFSHA256 = r.Document.SHA256
		}
	}
	xml, err := einvoice.Invoice(in.Order)
	if err != nil {
		return ExportDocument{}, permanent(err)
	}
	doc.EInvoiceXML = string(xml)
	return doc, nil
}

// exportClient is the HTTP client of exports: bounded, so a hung accounting system is a failed
// attempt, retried.
var exportClient = &http.Client{Timeout: 20 * time.Second}

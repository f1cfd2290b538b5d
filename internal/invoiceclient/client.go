// Package invoiceclient is what ERP backends and ops tools use to drive invoices: confirm an
// order (validated, companies checked, vendor PDF staged in S3, workflow started exactly once),
// send a buyer action, and read an invoice's state. The starter CLI is a thin shell around it.
package invoiceclient

import (
	"context"
	"errors"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/k2kinvoice/autoinvoice/internal/blob"
	"github.com/k2kinvoice/autoinvoice/internal/invoice"
	"github.com/k2kinvoice/autoinvoice/internal/pdf"
	"github.com/k2kinvoice/autoinvoice/internal/store"
	"github.com/k2kinvoice/autoinvoice/workflows"
)

// Client drives invoice workflows.
type Client struct {
	Temporal    client.Client
	Store       *store.Store
	Blobs       *blob.Store
	MaxPDFBytes int64
}

// Confirmation identifies the workflow of a confirmed order.
type Confirmation struct {
	WorkflowID string
	RunID      string
}

// Confirm starts the workflow of a confirmed order, or returns the one already there: the workflow
// ID derives from the order's business key, a running workflow is reused and a closed one is
// never started again, so a re-delivered confirmation never makes a second invoice.
//
// Bad input is refused before anything is stored or started, with a *invoice.ValidationError
// naming each field and rule: the order's own rules, unknown companies, and a vendor PDF (nil when
// none) that is not a PDF by content or is too large.
func (c *Client) Confirm(ctx context.Context, o invoice.Order, vendorPDF []byte) (Confirmation, error) {
	if err := c.check(ctx, o, vendorPDF); err != nil {
		return Confirmation{}, err
	}
	in := workflows.ConfirmOrder{Order: o}
	if vendorPDF != nil {
		in.StagingKey = blob.StagingKey(blob.SHA256Hex(vendorPDF))
		if err := c.Blobs.Put(ctx, in.StagingKey, vendorPDF); err != nil {
			return Confirmation{}, fmt.Errorf("stage vendor PDF: %w", err)
		}
	}
	id := workflows.InvoiceWorkflowID(o.VendorID, o.BuyerID, o.PONumber)
	run, err := c.Temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                       id,
		TaskQueue:                workflows.TaskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		TypedSearchAttributes: temporal.NewSearchAttributes(
			workflows.AttrVendor.ValueSet(o.VendorID), workflows.AttrBuyer.ValueSet(o.BuyerID),
			workflows.AttrPONumber.ValueSet(o.PONumber), workflows.AttrInvoiceNumber.ValueSet(o.InvoiceNumber)),
		StaticSummary: fmt.Sprintf("%s: %s → %s, %s", o.PONumber, o.VendorID, o.BuyerID,
			invoice.FormatMoney(o.TotalMinor, o.Currency)),
		StaticDetails: fmt.Sprintf("Invoice %s of %s for PO %s of %s, issued %s, %d line(s), PO total %s.",
			o.InvoiceNumber, o.VendorID, o.PONumber, o.BuyerID, o.IssueDate, len(o.Lines),
			invoice.FormatMoney(o.POTotalMinor, o.Currency)),
	}, workflows.InvoiceWorkflowType, in)
	if err != nil {
		return Confirmation{}, fmt.Errorf("start workflow %s: %w", id, err)
	}
	return Confirmation{WorkflowID: id, RunID: run.GetRunID()}, nil
}

// check refuses bad input with field errors before anything is stored.
func (c *Client) check(ctx context.Context, o invoice.Order, vendorPDF []byte) error {
	verr := &invoice.ValidationError{}
	if err := o.Validate(); err != nil {
		if !errors.As(err, &verr) {
			return err
		}
	}
	if o.VendorID != "" && o.BuyerID != "" {
		missing, err := c.Store.CompaniesMissing(ctx, o.VendorID, o.BuyerID)
		if err != nil {
			return err
		}
		for _, id := range missing {
			field := "buyer_id"
			if id == o.VendorID {
				field = "vendor_id"
			}
			verr.Fields = append(verr.Fields, invoice.FieldError{Field: field, Rule: fmt.Sprintf("%q is not a known company", id)})
		}
	}
	if vendorPDF != nil {
		if rule := pdf.Check(vendorPDF, c.MaxPDFBytes); rule != "" {
			verr.Fields = append(verr.Fields, invoice.FieldError{Field: "pdf", Rule: rule})
		}
	}
	if len(verr.Fields) > 0 {
		return verr
	}
	return nil
}

// Act sends a human action to the invoice workflow as a signal (fire-and-forget). The answer,
// accepted or refused, is in the workflow's state under the request's idempotency key.
func (c *Client) Act(ctx context.Context, workflowID string, req invoice.ActionRequest) error {
	name, err := workflows.SignalFor(req.Action)
	if err != nil {
		return &invoice.ValidationError{Fields: []invoice.FieldError{{Field: "action", Rule: err.Error()}}}
	}
	if err := c.Temporal.SignalWorkflow(ctx, workflowID, "", name, req); err != nil {
		return fmt.Errorf("signal %s to %s: %w", name, workflowID, err)
	}
	return nil
}

// State reads the invoice workflow's current state through its status query.
func (c *Client) State(ctx context.Context, workflowID string) (workflows.State, error) {
	var st workflows.State
	v, err := c.Temporal.QueryWorkflow(ctx, workflowID, "", workflows.QueryStatus)
	if err != nil {
		return st, fmt.Errorf("query %s: %w", workflowID, err)
	}
	return st, v.Get(&st)
}

// AwaitAnswer polls the state until the action with idempotency key has been answered, or ctx ends.
func (c *Client) AwaitAnswer(ctx context.Context, workflowID, key string) (workflows.Answer, workflows.State, error) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		st, err := c.State(ctx, workflowID)
		if err != nil {
			return workflows.Answer{}, st, err
		}
		if a, ok := st.Answers[key]; ok {
			return a, st, nil
		}
		select {
		case <-ctx.Done():
			return workflows.Answer{}, st, fmt.Errorf("no answer to %s from %s yet: %w", key, workflowID, ctx.Err())
		case <-tick.C:
		}
	}
}

// AwaitSettled polls the state until the invoice exists or the workflow has an outcome.
func (c *Client) AwaitSettled(ctx context.Context, workflowID string) (workflows.State, error) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		st, err := c.State(ctx, workflowID)
		if err == nil && (st.Status != "" || st.Outcome != "") {
			return st, nil
		}
		select {
		case <-ctx.Done():
			return st, fmt.Errorf("workflow %s has not settled: %w (last error: %v)", workflowID, ctx.Err(), err)
		case <-tick.C:
		}
	}
}

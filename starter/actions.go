package main

// Sending buyer and vendor actions, as updates (or signals with --async).

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/alecthomas/kong"
	"github.com/google/uuid"

	"github.com/k2kinvoice/autoinvoice/internal/invoice"
	"github.com/k2kinvoice/autoinvoice/workflows"
)

// target names an invoice by its order's business key, or by workflow ID.
type target struct {
	Vendor     string `help:"Vendor company ID of the order."`
	Buyer      string `help:"Buyer company ID of the order."`
	PO         string `name:"po" help:"PO number of the order."`
	WorkflowID string `name:"workflow-id" help:"The invoice workflow's ID, instead of --vendor/--buyer/--po."`
}

func (t target) id() (string, error) {
	if t.WorkflowID != "" {
		return t.WorkflowID, nil
	}
	var fields []invoice.FieldError
	for _, f := range []struct{ name, value string }{{"--vendor", t.Vendor}, {"--buyer", t.Buyer}, {"--po", t.PO}} {
		if f.value == "" {
			fields = append(fields, invoice.FieldError{Field: f.name, Rule: "is required (or give --workflow-id)"})
		}
	}
	if fields != nil {
		return "", &invoice.ValidationError{Fields: fields}
	}
	return workflows.InvoiceWorkflowID(t.Vendor, t.Buyer, t.PO), nil
}

type actionCmd struct {
	target
	Company string        `required:"" help:"Company ID of the acting user."`
	User    string        `required:"" help:"ID of the acting user."`
	Role    string        `required:"" enum:"procurement,accounting,vendor" help:"Role the user acts in."`
	Key     string        `help:"Idempotency key; the same key is applied once (default: a new UUID)."`
	Reason  string        `help:"Free-text reason, kept in the audit log."`
	Async   bool          `help:"Send a signal (fire-and-forget) instead of an update that waits for the answer."`
	Wait    time.Duration `default:"30s" help:"How long to wait for the workflow's answer (0 with --async: do not wait)."`
}

type approveCmd struct {
	actionCmd
	OverrideReason string `name:"override-reason" help:"Approve a discrepancy beyond the buyer's tolerance, for this reason (audited)."`
}

func (c *approveCmd) Run(ctx context.Context, root *cli) error {
	return c.send(ctx, root, invoice.ActionRequest{Action: invoice.ActionApprove, OverrideReason: c.OverrideReason}, nil)
}

// reasonCmd sends an action that needs a reason (return-to-procurement, dispute, void).
type reasonCmd struct {
	actionCmd
}

type markPaidCmd struct {
	actionCmd
	PaymentDate      string `required:"" name:"payment-date" help:"Date of payment, YYYY-MM-DD."`
	PaymentReference string `required:"" name:"payment-reference" help:"Bank or ERP payment reference."`
}

type vendorUpdateCmd struct {
	actionCmd
	Update string `arg:"" type:"existingfile" help:"The new revision as JSON: invoice_number, issue_date, currency, total_minor, lines."`
	PDF    string `name:"pdf" type:"existingfile" help:"The vendor's own PDF of the new revision; without it one is rendered."`
}

// Run sends the action a simple command is named after (its name is the workflow's message name).
func (c *actionCmd) Run(ctx context.Context, root *cli, kctx *kong.Context) error {
	action, err := workflows.ActionFor(kctx.Selected().Name)
	if err != nil {
		return err
	}
	return c.send(ctx, root, invoice.ActionRequest{Action: action}, nil)
}

func (c *reasonCmd) Run(ctx context.Context, root *cli, kctx *kong.Context) error {
	action, err := workflows.ActionFor(kctx.Selected().Name)
	if err != nil {
		return err
	}
	if rule := invoice.ReasonRule(action); rule != "" && strings.TrimSpace(c.Reason) == "" {
		return &invoice.ValidationError{Fields: []invoice.FieldError{{Field: "--reason", Rule: rule}}}
	}
	return c.send(ctx, root, invoice.ActionRequest{Action: action}, nil)
}

func (c *markPaidCmd) Run(ctx context.Context, root *cli) error {
	return c.send(ctx, root, invoice.ActionRequest{Action: invoice.ActionMarkPaid,
		PaymentDate: c.PaymentDate, PaymentReference: c.PaymentReference}, nil)
}

func (c *vendorUpdateCmd) Run(ctx context.Context, root *cli) error {
	f, err := os.Open(c.Update)
	if err != nil {
		return err
	}
	defer f.Close()
	var update invoice.InvoiceUpdate
	if err := invoice.DecodeStrict(f, &update); err != nil {
		return err
	}
	var vendorPDF []byte
	if c.PDF != "" {
		if vendorPDF, err = readLimited(c.PDF, 100<<20); err != nil {
			return err
		}
	}
	return c.send(ctx, root, invoice.ActionRequest{Action: invoice.ActionVendorUpdate, Update: &update}, vendorPDF)
}

// send delivers the action, as an update (the answer comes back) or with --async as a signal
// (then, unless --wait is 0, it polls the state for the answer). A vendor PDF is staged first.
func (c *actionCmd) send(ctx context.Context, root *cli, req invoice.ActionRequest, vendorPDF []byte) error {
	id, err := c.id()
	if err != nil {
		return err
	}
	return c.sendTo(ctx, id, req, vendorPDF)
}

// sendTo is send to the workflow id names (an invoice's or a credit note's).
func (c *actionCmd) sendTo(ctx context.Context, id string, req invoice.ActionRequest, vendorPDF []byte) error {
	var err error
	req.Actor = invoice.Actor{CompanyID: c.Company, UserID: c.User, Role: invoice.Role(c.Role)}
	req.IdempotencyKey, req.Reason = c.Key, c.Reason
	if req.IdempotencyKey == "" {
		req.IdempotencyKey = uuid.NewString()
	}
	deps, err := connect(ctx)
	if err != nil {
		return err
	}
	defer deps.Close()
	ic := deps.InvoiceClient()
	if vendorPDF != nil {
		if req.Update.StagingKey, err = ic.StagePDF(ctx, vendorPDF); err != nil {
			return err
		}
	}
	wctx, cancel := context.WithTimeout(ctx, c.Wait)
	defer cancel()
	var answer workflows.Answer
	if c.Async {
		if err := ic.Act(ctx, id, req); err != nil {
			return err
		}
		fmt.Printf("signalled  %s by %s/%s (%s), key %s\n", req.Action, c.Company, c.User, c.Role, req.IdempotencyKey)
		if c.Wait <= 0 {
			return nil
		}
		if answer, _, err = ic.AwaitAnswer(wctx, id, req.IdempotencyKey); err != nil {
			return err
		}
	} else {
		fmt.Printf("update     %s by %s/%s (%s), key %s\n", req.Action, c.Company, c.User, c.Role, req.IdempotencyKey)
		var refusal *invoice.Refusal
		if answer, err = ic.Do(wctx, id, req); err != nil && !errors.As(err, &refusal) {
			return err
		}
	}
	if !answer.Accepted {
		fmt.Printf("refused    %s: %s\n", answer.Code, answer.Reason)
		return errRefused
	}
	fmt.Printf("accepted   status %s (%s)\n", answer.Status, answer.Status.Label())
	return nil
}

package main

// Credit notes: issue one against a paid invoice, approve it, apply it.

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/alecthomas/kong"

	"github.com/k2kinvoice/autoinvoice/internal/invoice"
	"github.com/k2kinvoice/autoinvoice/workflows"
)

type creditNoteCmd struct {
	Issue   creditNoteIssueCmd  `cmd:"" help:"The vendor issues a credit note against its paid invoice (it then waits in AP)."`
	Approve creditNoteActionCmd `cmd:"" help:"Buyer procurement approves the credit note (AP → AA)."`
	Apply   creditNoteActionCmd `cmd:"" help:"Buyer accounting applies the credit note to the invoice (AA → CA)."`
}

type creditNoteIssueCmd struct {
	target
	Note string        `arg:"" type:"existingfile" help:"The credit note as JSON: number, issue_date, currency, total_minor, reason, lines."`
	PDF  string        `name:"pdf" type:"existingfile" help:"The vendor's own PDF of the credit note; without it one is rendered."`
	Wait time.Duration `default:"30s" help:"How long to wait for the credit note to land in AP."`
}

func (c *creditNoteIssueCmd) Run(ctx context.Context) error {
	id, err := c.id()
	if err != nil {
		return err
	}
	f, err := os.Open(c.Note)
	if err != nil {
		return err
	}
	var note invoice.CreditNote
	err = invoice.DecodeStrict(f, &note)
	f.Close()
	if err != nil {
		return err
	}
	deps, err := connect(ctx)
	if err != nil {
		return err
	}
	defer deps.Close()
	if note.StagingKey, err = stageFile(ctx, deps, c.PDF); err != nil {
		return err
	}
	issued, err := deps.InvoiceClient().IssueCreditNote(ctx, id, 0, note, c.Wait)
	if err != nil {
		return err
	}
	fmt.Printf("workflow   %s\n", issued.WorkflowID)
	st := issued.State
	switch {
	case st == nil:
		return fmt.Errorf("workflow %s has not answered within %s; it goes on", issued.WorkflowID, c.Wait)
	case st.Outcome == workflows.OutcomeRejected:
		fmt.Printf("refused    %s\n", st.Reason)
		return errRefused
	}
	fmt.Printf("credit     note #%d %s of %s against invoice #%d %s: %s\n", st.CreditNoteID, st.Note.Number,
		invoice.FormatMoney(st.Note.TotalMinor, st.Note.Currency), st.InvoiceID, st.Invoice.InvoiceNumber, st.Note.Reason)
	fmt.Printf("status     %s (%s)\n", st.Status, st.Status.Label())
	fmt.Printf("pdf        s3 key %s (%d bytes, sha256 %s, %s)\n", st.Document.Key, st.Document.Size, st.Document.SHA256, st.Document.Source)
	return nil
}

// creditNoteActionCmd approves or applies a credit note, named by its invoice's order and its number.
type creditNoteActionCmd struct {
	actionCmd
	Number string `required:"" help:"The credit note's number."`
}

func (c *creditNoteActionCmd) Run(ctx context.Context, kctx *kong.Context) error {
	invoiceWorkflow, err := c.id()
	if err != nil {
		return err
	}
	action := map[string]invoice.Action{"approve": invoice.ActionApproveCreditNote, "apply": invoice.ActionApplyCreditNote}[kctx.Selected().Name]
	deps, err := connect(ctx)
	if err != nil {
		return err
	}
	inv, err := deps.Store.InvoiceByWorkflowID(ctx, invoiceWorkflow)
	deps.Close()
	if err != nil {
		return err
	}
	return c.sendTo(ctx, workflows.CreditNoteWorkflowID(inv.ID, c.Number), invoice.ActionRequest{Action: action}, nil)
}

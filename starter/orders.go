package main

// Confirming orders and reading an invoice's state.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/k2kinvoice/autoinvoice/internal/app"
	"github.com/k2kinvoice/autoinvoice/internal/invoice"
	"github.com/k2kinvoice/autoinvoice/internal/store"
	"github.com/k2kinvoice/autoinvoice/workflows"
)

type confirmCmd struct {
	Order string        `arg:"" type:"existingfile" help:"Order confirmation as JSON."`
	PDF   string        `name:"pdf" type:"existingfile" help:"The vendor's own invoice PDF; without it one is rendered from the lines."`
	Wait  time.Duration `default:"30s" help:"How long to wait for the invoice to land in AP (0: do not wait)."`
}

func (c *confirmCmd) Run(ctx context.Context, root *cli) error {
	f, err := os.Open(c.Order)
	if err != nil {
		return err
	}
	order, err := invoice.DecodeOrder(f)
	f.Close()
	if err != nil {
		return err
	}
	deps, err := connect(ctx)
	if err != nil {
		return err
	}
	defer deps.Close()
	ic := deps.InvoiceClient()
	stagingKey, err := stageFile(ctx, deps, c.PDF)
	if err != nil {
		return err
	}
	conf, err := ic.Confirm(ctx, order, stagingKey, c.Wait)
	if err != nil {
		return err
	}
	fmt.Printf("workflow   %s (run %s)\n", conf.WorkflowID, conf.RunID)
	fmt.Printf("temporal   %s\n", root.uiLink(deps.Namespace, conf.WorkflowID))
	switch {
	case c.Wait <= 0:
		return nil
	case conf.State == nil:
		return fmt.Errorf("workflow %s has not settled within %s; it goes on (see `starter status`)", conf.WorkflowID, c.Wait)
	}
	printState(*conf.State)
	return nil
}

// readLimited reads a file, refusing one larger than max without reading it all: the size rule is
// reported as a field error like the other PDF rules.
func readLimited(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > max {
		return nil, &invoice.ValidationError{Fields: []invoice.FieldError{{Field: "pdf", Rule: fmt.Sprintf("must be at most %d bytes", max)}}}
	}
	return data, nil
}

// stageFile stages the vendor's PDF at path for a workflow to pick up; "" when path is "".
func stageFile(ctx context.Context, deps *app.Deps, path string) (string, error) {
	if path == "" {
		return "", nil
	}
	data, err := readLimited(path, deps.Config.PDFMaxBytes)
	if err != nil {
		return "", err
	}
	return deps.InvoiceClient().StagePDF(ctx, data)
}

func printState(st workflows.State) {
	if st.Outcome != "" && st.InvoiceID == 0 {
		fmt.Printf("outcome    %s: %s\n", st.Outcome, st.Reason)
		return
	}
	if st.Outcome == workflows.OutcomeVoided {
		fmt.Printf("outcome    voided by the vendor: %s (the order may be confirmed again with a new invoice number)\n", st.Reason)
	}
	o := st.Order
	fmt.Printf("invoice    #%d %s, %s (PO %s total %s, discrepancy %s)\n", st.InvoiceID, o.InvoiceNumber,
		invoice.FormatMoney(o.TotalMinor, o.Currency), o.PONumber, invoice.FormatMoney(o.POTotalMinor, o.Currency),
		invoice.FormatMoney(st.Discrepancy, o.Currency))
	warning := ""
	if st.UpdatePending {
		warning = ", WARNING: vendor update not reviewed yet"
	}
	fmt.Printf("status     %s (%s), revision %d%s\n", st.Status, st.Status.Label(), st.Revision, warning)
	if st.Standing != "" && st.Standing != invoice.StandingExact {
		tolerance := invoice.Tolerance{}
		if st.Tolerance != nil {
			tolerance = *st.Tolerance
		}
		line := fmt.Sprintf("tolerance  %s (%s)", st.Standing, tolerance.Describe(o.Currency))
		if st.Override != nil {
			line += fmt.Sprintf("; override by %s: %s", st.Override.By.UserID, st.Override.Reason)
		}
		fmt.Println(line)
	}
	if st.Dispute != nil {
		fmt.Printf("dispute    by %s (%s) at %s: %s\n", st.Dispute.By.UserID, st.Dispute.By.Role,
			st.Dispute.At.UTC().Format(time.RFC3339), st.Dispute.Reason)
	}
	if st.Confirmation > 1 {
		fmt.Printf("confirmed  %d times: the earlier invoices of this order were voided\n", st.Confirmation)
	}
	if st.SeparateDuties && st.ApprovedBy != "" {
		fmt.Printf("duties     approved by %s, who may not approve payment or mark paid (the buyer separates duties)\n", st.ApprovedBy)
	}
	fmt.Printf("pdf        s3 key %s (%d bytes, sha256 %s, %s)\n", st.Document.Key, st.Document.Size, st.Document.SHA256, st.Document.Source)
}

type statusCmd struct {
	target
	JSON bool `name:"json" help:"Print the whole state as JSON."`
}

func (c *statusCmd) Run(ctx context.Context) error {
	id, err := c.id()
	if err != nil {
		return err
	}
	deps, err := connect(ctx)
	if err != nil {
		return err
	}
	defer deps.Close()
	st, err := deps.InvoiceClient().State(ctx, id)
	if err != nil {
		return err
	}
	if !c.JSON {
		printState(st)
		for _, t := range st.Transitions {
			fmt.Printf("history    %s %-24s %-2s → %-2s by %s/%s (%s)\n", t.At.UTC().Format(time.RFC3339), t.Action,
				t.From, t.To, t.Actor.CompanyID, t.Actor.UserID, t.Actor.Role)
		}
		return printCreditNotes(ctx, deps.Store, st)
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(st)
}

// printCreditNotes lists the invoice's credit notes and its net amount, when it has any.
func printCreditNotes(ctx context.Context, s *store.Store, st workflows.State) error {
	if st.InvoiceID == 0 {
		return nil
	}
	notes, err := s.CreditNotesOf(ctx, st.InvoiceID)
	if err != nil || len(notes) == 0 {
		return err
	}
	var credited int64
	for _, n := range notes {
		fmt.Printf("credit     note %s of %s, %s (%s): %s\n", n.Note.Number, invoice.FormatMoney(n.Note.TotalMinor, n.Note.Currency),
			n.Status, n.Status.Label(), n.Note.Reason)
		if n.Status == invoice.StatusCreditApplied {
			credited += n.Note.TotalMinor
		}
	}
	fmt.Printf("net        %s (%s credited by applied credit notes)\n", invoice.FormatMoney(st.Order.TotalMinor-credited, st.Order.Currency),
		invoice.FormatMoney(credited, st.Order.Currency))
	return nil
}

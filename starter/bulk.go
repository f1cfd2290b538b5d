package main

// Approving many invoices in one command.

import (
	"context"
	"fmt"
	"time"

	"github.com/alecthomas/kong"
	"github.com/google/uuid"

	"github.com/k2kinvoice/autoinvoice/internal/invoice"
	"github.com/k2kinvoice/autoinvoice/internal/invoiceclient"
	"github.com/k2kinvoice/autoinvoice/workflows"
)

type bulkCmd struct {
	Approve        bulkActionCmd `cmd:"" help:"Buyer procurement approves each invoice named (AP → AA)."`
	ApprovePayment bulkActionCmd `cmd:"" name:"approve-payment" help:"Buyer accounting approves payment of each invoice named (AA → A)."`
}

type bulkActionCmd struct {
	WorkflowIDs []string      `arg:"" name:"workflow-id" help:"The invoices' workflow IDs (at most 100, each once)."`
	Company     string        `required:"" help:"Company ID of the acting user."`
	User        string        `required:"" help:"ID of the acting user."`
	Role        string        `required:"" enum:"procurement,accounting" help:"Role the user acts in."`
	Key         string        `help:"Idempotency key of the whole request; each invoice's item gets its own key derived from it, so the same command sent again applies nothing twice (default: a new UUID)."`
	Wait        time.Duration `default:"60s" help:"How long to wait for all the answers."`
}

// Run sends the approval the command is named after (its message name) to every workflow named
// and prints each one's answer. It exits 3 when any invoice refused it, and 1 when any could not
// be answered (sending the same command again with the same --key is then safe).
func (c *bulkActionCmd) Run(ctx context.Context, kctx *kong.Context) error {
	action, err := workflows.ActionFor(kctx.Selected().Name)
	if err != nil {
		return err
	}
	if c.Key == "" {
		c.Key = uuid.NewString()
	}
	if err := invoiceclient.CheckBulk(action, "--key", c.Key, "workflow-id", c.WorkflowIDs); err != nil {
		return err
	}
	actor := invoice.Actor{CompanyID: c.Company, UserID: c.User, Role: invoice.Role(c.Role)}
	items := make([]invoiceclient.BulkItem, len(c.WorkflowIDs))
	for i, id := range c.WorkflowIDs {
		items[i] = invoiceclient.BulkItem{WorkflowID: id,
			Request: invoice.ActionRequest{Action: action, Actor: actor, IdempotencyKey: invoiceclient.ItemKey(c.Key, id)}}
	}
	deps, err := connect(ctx)
	if err != nil {
		return err
	}
	defer deps.Close()
	wctx, cancel := context.WithTimeout(ctx, c.Wait)
	defer cancel()
	fmt.Printf("bulk       %s of %d invoices by %s/%s (%s), key %s\n", action, len(items), c.Company, c.User, c.Role, c.Key)
	var refused, failed int
	for i, a := range deps.InvoiceClient().DoEach(wctx, items) {
		id := c.WorkflowIDs[i]
		switch {
		case a.Err != nil:
			failed++
			fmt.Printf("failed     %s: %v\n", id, a.Err)
		case a.Refusal != nil:
			refused++
			fmt.Printf("refused    %s %s: %s\n", id, a.Refusal.Code, a.Refusal.Reason)
		default:
			fmt.Printf("accepted   %s status %s (%s)\n", id, a.Answer.Status, a.Answer.Status.Label())
		}
	}
	switch {
	case failed > 0:
		return fmt.Errorf("%d of %d invoices could not be answered; send the same command again with --key %s", failed, len(items), c.Key)
	case refused > 0:
		return errRefused
	}
	return nil
}

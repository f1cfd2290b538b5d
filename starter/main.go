// Command starter is what ERP backends and ops use to drive K2K invoices from a shell:
//
//	starter confirm ORDER.json [--pdf INVOICE.pdf]   confirm an order (starts its workflow once)
//	starter approve|approve-payment|... ...          send a buyer or vendor action (an update;
//	                                                 --async sends a signal)
//	starter bulk approve|approve-payment WF...        one approval to many invoices, each answered
//	starter status --vendor V --buyer B --po PO      show an invoice's state (--json: all of it)
//	starter company upsert / connection upsert       set up companies, connections and settings
//
// Exit codes: 0 done, 1 failure, 2 bad input (nothing was started), 3 action refused.
// Configuration comes from the environment: see internal/config.
package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"syscall"

	"github.com/alecthomas/kong"

	"github.com/k2kinvoice/autoinvoice/internal/app"
	"github.com/k2kinvoice/autoinvoice/internal/config"
	"github.com/k2kinvoice/autoinvoice/internal/invoice"
)

// Exit codes.
const (
	exitFailure  = 1
	exitBadInput = 2
	exitRefused  = 3
)

type cli struct {
	Confirm               confirmCmd      `cmd:"" help:"Confirm a K2K order from a JSON file; starts its invoice workflow once."`
	Approve               approveCmd      `cmd:"" help:"Buyer procurement approves the invoice (AP → AA)."`
	ApprovePayment        actionCmd       `cmd:"" name:"approve-payment" help:"Buyer accounting approves payment (AA → A)."`
	ReturnToProcurement   reasonCmd       `cmd:"" name:"return-to-procurement" help:"Buyer accounting returns the invoice to procurement (AA → AP), with a reason."`
	CancelPaymentApproval actionCmd       `cmd:"" name:"cancel-payment-approval" help:"Buyer accounting takes the payment approval back (A → AA)."`
	MarkPaid              markPaidCmd     `cmd:"" name:"mark-paid" help:"Buyer accounting marks the invoice paid (A → P)."`
	VendorUpdate          vendorUpdateCmd `cmd:"" name:"vendor-update" help:"The vendor sends a new revision of the invoice (back to AP, warning set)."`
	AcknowledgeUpdate     actionCmd       `cmd:"" name:"acknowledge-update" help:"The buyer has reviewed the vendor's update (clears the warning)."`
	Dispute               reasonCmd       `cmd:"" help:"The buyer disputes the invoice (AP/AA → D), with a reason for the vendor."`
	Void                  reasonCmd       `cmd:"" help:"The vendor voids the disputed invoice (D → V), with a reason; the order may be confirmed again."`
	Bulk                  bulkCmd         `cmd:"" help:"Approve many invoices in one command: each gets its own answer."`
	CreditNote            creditNoteCmd   `cmd:"" name:"credit-note" help:"Credit a paid invoice, and approve and apply the credit."`
	Status                statusCmd       `cmd:"" help:"Show an invoice's current state."`
	APIKey                apiKeyCmd       `cmd:"" name:"apikey" help:"Create and revoke the gateway's API keys."`
	Company               companyCmd      `cmd:"" help:"Manage companies and their K2K settings."`
	Connection            connectionCmd   `cmd:"" help:"Manage K2K connections."`
	Tolerance             toleranceCmd    `cmd:"" help:"Set how far an invoice total may differ from its PO total before approval needs an override."`
	Webhook               webhookCmd      `cmd:"" help:"Manage companies' webhook endpoints and their deliveries."`
	Receive               receiveCmd      `cmd:"" help:"Receive signed deliveries (webhooks, the accounting export), verify and print them."`

	UIURL string `name:"ui-url" env:"K2K_TEMPORAL_UI_URL" default:"http://localhost:8233" help:"Base URL of the Temporal UI, for links."`
}

// errRefused marks an action the workflow refused; the answer was printed already.
var errRefused = errors.New("action refused")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	var c cli
	kctx := kong.Parse(&c, kong.Name("starter"),
		kong.Description("Confirms K2K orders and sends buyer actions to their invoice workflows."),
		kong.BindTo(ctx, (*context.Context)(nil)), kong.Bind(&c),
		// A command line that does not parse is bad input like any other (kong's own code is 80).
		kong.Exit(func(code int) {
			if code != 0 {
				code = exitBadInput
			}
			os.Exit(code)
		}))
	err := kctx.Run()
	stop()
	var verr *invoice.ValidationError
	switch {
	case err == nil:
	case errors.As(err, &verr):
		fmt.Fprintln(os.Stderr, "error: bad input, nothing was started:")
		for _, f := range verr.Fields {
			fmt.Fprintf(os.Stderr, "  %s: %s\n", f.Field, f.Rule)
		}
		os.Exit(exitBadInput)
	case errors.Is(err, errRefused):
		os.Exit(exitRefused)
	default:
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(exitFailure)
	}
}

// connect reads the configuration and connects to PostgreSQL, S3 and Temporal.
func connect(ctx context.Context) (*app.Deps, error) {
	cfg, err := config.Load()
	if err != nil {
		return nil, err
	}
	return app.Connect(ctx, cfg, app.NewLogger(cfg.LogLevel))
}

// uiLink is the Temporal UI page of a workflow.
func (c *cli) uiLink(namespace, workflowID string) string {
	return fmt.Sprintf("%s/namespaces/%s/workflows/%s", c.UIURL, url.PathEscape(namespace), url.PathEscape(workflowID))
}

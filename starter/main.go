// Command starter is what ERP backends and ops use to drive K2K invoices from a shell:
//
//	starter confirm ORDER.json [--pdf INVOICE.pdf]   confirm an order (starts its workflow once)
//	starter approve|approve-payment|... ...          send a buyer or vendor action (an update;
//	                                                 --async sends a signal)
//	starter status --vendor V --buyer B --po PO      show an invoice's state (--json: all of it)
//	starter company upsert / connection upsert       set up companies, connections and settings
//
// Exit codes: 0 done, 1 failure, 2 bad input (nothing was started), 3 action refused.
// Configuration comes from the environment: see internal/config.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/alecthomas/kong"
	"github.com/google/uuid"

	"github.com/k2kinvoice/autoinvoice/internal/app"
	"github.com/k2kinvoice/autoinvoice/internal/config"
	"github.com/k2kinvoice/autoinvoice/internal/invoice"
	"github.com/k2kinvoice/autoinvoice/internal/store"
	"github.com/k2kinvoice/autoinvoice/workflows"
)

// Exit codes.
const (
	exitFailure  = 1
	exitBadInput = 2
	exitRefused  = 3
)

type cli struct {
	Confirm               confirmCmd      `cmd:"" help:"Confirm a K2K order from a JSON file; starts its invoice workflow once."`
	Approve               actionCmd       `cmd:"" help:"Buyer procurement approves the invoice (AP → AA)."`
	ApprovePayment        actionCmd       `cmd:"" name:"approve-payment" help:"Buyer accounting approves payment (AA → A)."`
	ReturnToProcurement   returnCmd       `cmd:"" name:"return-to-procurement" help:"Buyer accounting returns the invoice to procurement (AA → AP), with a reason."`
	CancelPaymentApproval actionCmd       `cmd:"" name:"cancel-payment-approval" help:"Buyer accounting takes the payment approval back (A → AA)."`
	MarkPaid              markPaidCmd     `cmd:"" name:"mark-paid" help:"Buyer accounting marks the invoice paid (A → P)."`
	VendorUpdate          vendorUpdateCmd `cmd:"" name:"vendor-update" help:"The vendor sends a new revision of the invoice (back to AP, warning set)."`
	AcknowledgeUpdate     actionCmd       `cmd:"" name:"acknowledge-update" help:"The buyer has reviewed the vendor's update (clears the warning)."`
	Status                statusCmd       `cmd:"" help:"Show an invoice's current state."`
	APIKey                apiKeyCmd       `cmd:"" name:"apikey" help:"Create and revoke the gateway's API keys."`
	Company               companyCmd      `cmd:"" help:"Manage companies and their K2K settings."`
	Connection            connectionCmd   `cmd:"" help:"Manage K2K connections."`

	UIURL string `name:"ui-url" env:"K2K_TEMPORAL_UI_URL" default:"http://localhost:8233" help:"Base URL of the Temporal UI, for links."`
}

// errRefused marks an action the workflow refused; the answer was printed already.
var errRefused = errors.New("action refused")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	var c cli
	kctx := kong.Parse(&c, kong.Name("starter"),
		kong.Description("Confirms K2K orders and sends buyer actions to their invoice workflows."),
		kong.BindTo(ctx, (*context.Context)(nil)), kong.Bind(&c))
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
	stagingKey := ""
	if c.PDF != "" {
		vendorPDF, err := readLimited(c.PDF, deps.Config.PDFMaxBytes)
		if err != nil {
			return err
		}
		if stagingKey, err = ic.StagePDF(ctx, vendorPDF); err != nil {
			return err
		}
	}
	conf, err := ic.Confirm(ctx, order, stagingKey)
	if err != nil {
		return err
	}
	fmt.Printf("workflow   %s (run %s)\n", conf.WorkflowID, conf.RunID)
	fmt.Printf("temporal   %s\n", root.uiLink(deps.Namespace, conf.WorkflowID))
	if c.Wait <= 0 {
		return nil
	}
	wctx, cancel := context.WithTimeout(ctx, c.Wait)
	defer cancel()
	st, err := ic.AwaitSettled(wctx, conf.WorkflowID)
	if err != nil {
		return err
	}
	printState(st)
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

func printState(st workflows.State) {
	if st.Outcome != "" && st.Outcome != workflows.OutcomePaid {
		fmt.Printf("outcome    %s: %s\n", st.Outcome, st.Reason)
		return
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
	fmt.Printf("pdf        s3 key %s (%d bytes, sha256 %s, %s)\n", st.Document.Key, st.Document.Size, st.Document.SHA256, st.Document.Source)
}

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

type returnCmd struct {
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

func (c *returnCmd) Run(ctx context.Context, root *cli) error {
	if strings.TrimSpace(c.Reason) == "" {
		return &invoice.ValidationError{Fields: []invoice.FieldError{{Field: "--reason", Rule: "is required to return an invoice to procurement"}}}
	}
	return c.send(ctx, root, invoice.ActionRequest{Action: invoice.ActionReturnToProcurement}, nil)
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
		return nil
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(st)
}

type companyCmd struct {
	Upsert companyUpsertCmd `cmd:"" help:"Create a company or update its name and settings."`
}

type companyUpsertCmd struct {
	ID                string `required:"" help:"Company ID (letters, digits, '.', '_', '-')."`
	Name              string `required:"" help:"Company name."`
	AutoInvoiceSync   bool   `name:"auto-invoice-sync" help:"Vendor setting: Allow Automatic Invoice Synchronization with the Buyer Company."`
	AcceptK2KInvoices bool   `name:"accept-k2k-invoices" help:"Buyer setting: Allow Invoices coming from K2K orders to be automatically uploaded."`
}

func (c *companyUpsertCmd) Run(ctx context.Context) error {
	if err := invoice.CheckCompanyID("--id", c.ID); err != nil {
		return err
	}
	return withStore(ctx, func(st *store.Store) error {
		if err := st.CompanyUpsert(ctx, store.Company{ID: c.ID, Name: c.Name,
			AutoInvoiceSync: c.AutoInvoiceSync, AcceptK2KInvoices: c.AcceptK2KInvoices}); err != nil {
			return err
		}
		fmt.Printf("company    %s %q: auto-invoice-sync=%t accept-k2k-invoices=%t\n", c.ID, c.Name, c.AutoInvoiceSync, c.AcceptK2KInvoices)
		return nil
	})
}

type connectionCmd struct {
	Upsert connectionUpsertCmd `cmd:"" help:"Create the K2K connection from a vendor to a buyer, or set its status."`
}

type connectionUpsertCmd struct {
	Vendor string `required:"" help:"Vendor company ID."`
	Buyer  string `required:"" help:"Buyer company ID."`
	Status string `required:"" enum:"pending,active,suspended,terminated" help:"Connection status."`
}

func (c *connectionUpsertCmd) Run(ctx context.Context) error {
	return withStore(ctx, func(st *store.Store) error {
		if err := st.ConnectionUpsert(ctx, c.Vendor, c.Buyer, store.ConnectionStatus(c.Status)); err != nil {
			return err
		}
		fmt.Printf("connection %s → %s: %s\n", c.Vendor, c.Buyer, c.Status)
		return nil
	})
}

// withStore runs fn with a store on DATABASE_URL; company and connection set-up need nothing else.
func withStore(ctx context.Context, fn func(*store.Store) error) error {
	cfg, err := config.Load()
	if err != nil {
		return err
	}
	st, err := store.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer st.Close()
	return fn(st)
}

type apiKeyCmd struct {
	Create apiKeyCreateCmd `cmd:"" help:"Create an API key for a company and role; prints it once."`
	Revoke apiKeyRevokeCmd `cmd:"" help:"Revoke an API key by its ID."`
}

type apiKeyCreateCmd struct {
	Company string `required:"" help:"Company the key acts for."`
	Role    string `required:"" enum:"procurement,accounting,vendor" help:"Role the key acts in."`
	Label   string `required:"" help:"What the key is for (shown in audit rows as api-key:LABEL when no K2K-User is sent)."`
}

func (c *apiKeyCreateCmd) Run(ctx context.Context) error {
	return withStore(ctx, func(st *store.Store) error {
		key, secret, err := st.APIKeyCreate(ctx, c.Company, invoice.Role(c.Role), c.Label)
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "api key %s for %s (%s), %q; keep it now, it cannot be shown again:\n", key.ID, key.CompanyID, key.Role, key.Label)
		fmt.Println(secret)
		return nil
	})
}

type apiKeyRevokeCmd struct {
	ID string `arg:"" help:"The key's ID (the part after k2k_)."`
}

func (c *apiKeyRevokeCmd) Run(ctx context.Context) error {
	return withStore(ctx, func(st *store.Store) error {
		if err := st.APIKeyRevoke(ctx, c.ID); err != nil {
			return err
		}
		fmt.Printf("revoked    api key %s\n", c.ID)
		return nil
	})
}

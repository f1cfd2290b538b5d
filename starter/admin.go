package main

// Setting up companies, K2K connections and the gateway's API keys, straight in PostgreSQL.

import (
	"context"
	"fmt"
	"os"

	"github.com/k2kinvoice/autoinvoice/internal/app"
	"github.com/k2kinvoice/autoinvoice/internal/config"
	"github.com/k2kinvoice/autoinvoice/internal/invoice"
	"github.com/k2kinvoice/autoinvoice/internal/store"
)

type companyCmd struct {
	Upsert companyUpsertCmd `cmd:"" help:"Create a company, or rename it and change the settings given (the others keep their values)."`
}

type companyUpsertCmd struct {
	ID                string `required:"" help:"Company ID (letters, digits, '.', '_', '-')."`
	Name              string `required:"" help:"Company name."`
	AutoInvoiceSync   *bool  `name:"auto-invoice-sync" negatable:"" help:"Vendor setting: Allow Automatic Invoice Synchronization with the Buyer Company (a new company: off)."`
	AcceptK2KInvoices *bool  `name:"accept-k2k-invoices" negatable:"" help:"Buyer setting: Allow Invoices coming from K2K orders to be automatically uploaded (a new company: off)."`
	SeparateDuties    *bool  `name:"separate-duties" negatable:"" help:"Buyer setting: the user who approved an invoice for procurement may not approve its payment nor mark it paid (a new company: on)."`
}

func (c *companyUpsertCmd) Run(ctx context.Context) error {
	if err := invoice.CheckCompanyID("--id", c.ID); err != nil {
		return err
	}
	return withStore(ctx, func(st *store.Store) error {
		stored, err := st.CompanySet(ctx, c.ID, c.Name, store.CompanySettings{
			AutoInvoiceSync: c.AutoInvoiceSync, AcceptK2KInvoices: c.AcceptK2KInvoices, SeparateDuties: c.SeparateDuties}, store.Operator)
		if err != nil {
			return err
		}
		fmt.Printf("company    %s %q: auto-invoice-sync=%t accept-k2k-invoices=%t separate-duties=%t\n",
			stored.ID, stored.Name, stored.AutoInvoiceSync, stored.AcceptK2KInvoices, stored.SeparateDuties)
		return nil
	})
}

type connectionCmd struct {
	Upsert connectionUpsertCmd `cmd:"" help:"Create the K2K connection from a vendor to a buyer, or set its status."`
}

type connectionUpsertCmd struct {
	Vendor string `required:"" help:"Vendor company ID."`
	Buyer  string `required:"" help:"Buyer company ID."`
	Status string `required:"" enum:"pending,active,suspended,rejected,terminated" help:"Connection status."`
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

type toleranceCmd struct {
	Set toleranceSetCmd `cmd:"" help:"Set the buyer's tolerance, for every vendor or for one connection; orders confirmed from now on take it."`
}

type toleranceSetCmd struct {
	Buyer       string `required:"" help:"Buyer company ID."`
	Vendor      string `help:"Vendor company ID: the tolerance of this connection only (it replaces the buyer's)."`
	AmountMinor int64  `name:"amount-minor" help:"Absolute tolerance in minor units of --currency (0: none)."`
	Currency    string `help:"Currency of --amount-minor (ISO 4217)."`
	PercentBP   int64  `name:"percent-bp" help:"Tolerance as a share of the PO total, in basis points: 250 is 2.5 percent (0: none)."`
}

func (c *toleranceSetCmd) Run(ctx context.Context) error {
	t := invoice.Tolerance{AmountMinor: c.AmountMinor, Currency: c.Currency, PercentBP: c.PercentBP}
	v := &invoice.ValidationError{}
	t.Check(v, "tolerance")
	if len(v.Fields) > 0 {
		return v
	}
	return withStore(ctx, func(st *store.Store) error {
		if err := st.ToleranceSet(ctx, c.Buyer, c.Vendor, t); err != nil {
			return err
		}
		scope := "every vendor"
		if c.Vendor != "" {
			scope = "vendor " + c.Vendor
		}
		if t == (invoice.Tolerance{}) {
			fmt.Printf("tolerance  %s for %s: none (discrepancies are informational)\n", c.Buyer, scope)
			return nil
		}
		fmt.Printf("tolerance  %s for %s: %s\n", c.Buyer, scope, t.Describe(t.Currency))
		return nil
	})
}

// withStore runs fn with a store on DATABASE_URL; company and connection set-up need nothing else.
func withStore(ctx context.Context, fn func(*store.Store) error) error {
	cfg, err := config.Load()
	if err != nil {
		return err
	}
	st, err := app.OpenStore(ctx, cfg)
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
	Role    string `required:"" enum:"procurement,accounting,vendor,admin" help:"Role the key acts in (admin: the company's own settings and connections, not invoices)."`
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

package testenv

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/k2kinvoice/autoinvoice/internal/invoice"
	"github.com/k2kinvoice/autoinvoice/internal/store"
)

var partySeq atomic.Int64

// Parties creates a vendor and a buyer unique to this call, with the given settings and a
// connection in the given status (none when empty), and returns a valid order between them:
// three lines, a total 18.50 over its PO total.
func Parties(ctx context.Context, st *store.Store, vendorSync, buyerUpload bool, connection store.ConnectionStatus) (invoice.Order, error) {
	n := fmt.Sprintf("%d-%d", time.Now().UnixNano()%1e9, partySeq.Add(1))
	o := invoice.Order{
		VendorID: "VEND-" + n, BuyerID: "BUY-" + n, PONumber: "PO/" + n, InvoiceNumber: "INV-" + n,
		IssueDate: "2026-11-27", Currency: "EUR", TotalMinor: 131850, POTotalMinor: 130000,
		Lines: []invoice.Line{
			{Description: "Steel brackets, 40 mm", Quantity: 500, UnitPriceMinor: 189},
			{Description: "Assembly service", Quantity: 8, UnitPriceMinor: 4500},
			{Description: "Freight", Quantity: 1, UnitPriceMinor: 1350},
		},
	}
	for _, c := range []store.Company{
		{ID: o.VendorID, Name: "Vendor " + n, AutoInvoiceSync: vendorSync},
		{ID: o.BuyerID, Name: "Buyer " + n, AcceptK2KInvoices: buyerUpload},
	} {
		if err := st.CompanyUpsert(ctx, c); err != nil {
			return invoice.Order{}, err
		}
	}
	if connection != "" {
		if err := st.ConnectionUpsert(ctx, o.VendorID, o.BuyerID, connection); err != nil {
			return invoice.Order{}, err
		}
	}
	return o, nil
}

// Party is an order between a fresh vendor and buyer, with API keys of the vendor and of the
// buyer's two roles.
type Party struct {
	Order                           invoice.Order
	Vendor, Procurement, Accounting string
}

// NewParty is Parties with a key for each of the three roles, labelled "COMPANY role test key".
func NewParty(ctx context.Context, st *store.Store, vendorSync, buyerUpload bool, connection store.ConnectionStatus) (Party, error) {
	o, err := Parties(ctx, st, vendorSync, buyerUpload, connection)
	if err != nil {
		return Party{}, err
	}
	p := Party{Order: o}
	for _, k := range []struct {
		company string
		role    invoice.Role
		token   *string
	}{{o.VendorID, invoice.RoleVendor, &p.Vendor}, {o.BuyerID, invoice.RoleProcurement, &p.Procurement}, {o.BuyerID, invoice.RoleAccounting, &p.Accounting}} {
		if *k.token, err = APIKey(ctx, st, k.company, k.role); err != nil {
			return Party{}, err
		}
	}
	return p, nil
}

// APIKey creates a key of the company and role, labelled "COMPANY role test key", and returns its
// token.
func APIKey(ctx context.Context, st *store.Store, company string, role invoice.Role) (string, error) {
	_, token, err := st.APIKeyCreate(ctx, company, role, fmt.Sprintf("%s %s test key", company, role))
	return token, err
}

package gateway

import (
	"bytes"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/k2kinvoice/autoinvoice/internal/invoice"
)

// fuzzOrder is the order a fuzzed vendor update revises; it breaks no rule.
func fuzzOrder() invoice.Order {
	return invoice.Order{VendorID: "ACME", BuyerID: "GLOBEX", PONumber: "PO-1", InvoiceNumber: "INV-1",
		IssueDate: "2026-11-27", Currency: "EUR", TotalMinor: 1350, POTotalMinor: 1350,
		Lines: []invoice.Line{{Description: "Freight", Quantity: 1, UnitPriceMinor: 1350}}}
}

var fuzzActionSeeds = []string{
	`{}`,
	`{"reason":"quantities do not match"}`,
	`{"payment_date":"2026-11-30","payment_reference":"SEPA-123"}`,
	`{"payment_date":"2026-02-30","payment_reference":"   "}`,
	`{"update":{"invoice_number":"INV-1-R2","issue_date":"2026-11-28","currency":"EUR","total_minor":134350,` +
		`"lines":[{"description":"Steel brackets","quantity":500,"unit_price_minor":194},{"description":"Freight","quantity":1,"unit_price_minor":37350}]},` +
		`"pdf_upload":"` + strings.Repeat("ab", 32) + `"}`,
	`{"update":{"invoice_number":"","issue_date":"x","currency":"XXX","total_minor":-1,"lines":[]}}`,
	`{"update":{"invoice_number":"I","issue_date":"2026-11-28","currency":"EUR","total_minor":1,` +
		`"lines":[{"description":"d","quantity":9223372036854775807,"unit_price_minor":2}]}}`,
	`{"update":{"total_minor":9223372036854775808}}`,
	`{"update":{"invoice_number":"I","issue_date":"2026-11-28","currency":"EUR","total_minor":1,"lines":[{"description":"d","quantity":1,"unit_price_minor":1}],"staging_key":"invoices/OTHER/ACME/INV-9/r1/x.pdf"}}`,
	`{"update":null}`,
	`{"update":{}}`,
	`{"update":{"lines":[{"description":"\u0000","quantity":1}]}}`,
	`{"reason":"x","extra":1}`,
	`{"REASON":"case-insensitive match"}`,
	`{"reason":"' OR 1=1; --"}`,
	`{"update":` + strings.Repeat(`{"lines":[`, 100) + strings.Repeat(`]}`, 100) + `}`,
	`{} {}`,
	`{}x`,
	`null`,
	`[]`,
	``,
}

// FuzzDecodeActionBody: the gateway's strict decoding of an action body (invoice.DecodeStrict)
// never panics and refuses with field errors; an update
// it lets through either revises the order into a valid one or is refused with field errors named
// "update.…"; and the request built from the body gets an answer from the lifecycle's admission
// check (nil or a *Refusal with a known code) for every action.
func FuzzDecodeActionBody(f *testing.F) {
	for _, s := range fuzzActionSeeds {
		f.Add([]byte(s))
	}
	codes := invoice.RefusalCodes()
	f.Fuzz(func(t *testing.T, data []byte) {
		var b ActionBody
		if err := invoice.DecodeStrict(bytes.NewReader(data), &b); err != nil {
			var v *invoice.ValidationError
			if !errors.As(err, &v) || len(v.Fields) == 0 {
				t.Fatalf("DecodeStrict(%q) = %T %v, want a *ValidationError with fields", data, err, err)
			}
			for _, fe := range v.Fields {
				if fe.Rule == "" {
					t.Errorf("DecodeStrict(%q): field %q without a rule", data, fe.Field)
				}
			}
			return
		}
		if b.Update != nil {
			o := fuzzOrder()
			revised, err := b.Update.Revise(o)
			if !reflect.DeepEqual(o, fuzzOrder()) {
				t.Fatalf("Revise changed the order it revises: %+v", o)
			}
			if err != nil {
				var v *invoice.ValidationError
				if !errors.As(err, &v) {
					t.Fatalf("Revise(%q) = %T %v, want a *ValidationError", data, err, err)
				}
				if len(v.Fields) == 0 {
					t.Fatalf("Revise(%q): a ValidationError without fields", data)
				}
				for _, fe := range v.Fields {
					if !strings.HasPrefix(fe.Field, "update.") || fe.Rule == "" {
						t.Errorf("Revise(%q): field error %+v, want update.<field> and a rule", data, fe)
					}
				}
			} else {
				if err := revised.Validate(); err != nil {
					t.Fatalf("Revise(%q) accepted an order that does not validate: %v", data, err)
				}
				if revised.VendorID != o.VendorID || revised.BuyerID != o.BuyerID || revised.PONumber != o.PONumber ||
					revised.POTotalMinor != o.POTotalMinor {
					t.Fatalf("Revise(%q) changed the order's key or PO total: %+v", data, revised)
				}
			}
		}
		// What act() sends for each action, from each party: admitted, or refused with a known code.
		o := fuzzOrder()
		facts := invoice.Facts{VendorID: o.VendorID, BuyerID: o.BuyerID}
		for _, a := range invoice.Actions() {
			for _, actor := range []invoice.Actor{
				{CompanyID: o.BuyerID, UserID: "alice", Role: invoice.RoleProcurement},
				{CompanyID: o.BuyerID, UserID: "bob", Role: invoice.RoleAccounting},
				{CompanyID: o.VendorID, UserID: "victor", Role: invoice.RoleVendor},
			} {
				req := invoice.ActionRequest{Action: a, Actor: actor, IdempotencyKey: actor.CompanyID + "/k1",
					Reason: b.Reason, PaymentDate: b.PaymentDate, PaymentReference: b.PaymentReference, Update: b.Update}
				err := invoice.Admissible(facts, req)
				if err == nil {
					continue
				}
				var refusal *invoice.Refusal
				if !errors.As(err, &refusal) || !slices.Contains(codes, refusal.Code) || refusal.Reason == "" {
					t.Fatalf("Admissible(%s by %s, %q) = %T %v, want nil or a *Refusal with a known code", a, actor.Role, data, err, err)
				}
			}
		}
	})
}

// FuzzListQuery is left out: listInvoices parses its query inline and then calls
// (*store.Store).InvoiceList on a concrete store, which needs a database (store.Open pings it),
// so the parsing cannot be exercised alone.

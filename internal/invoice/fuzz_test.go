package invoice_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"math/big"
	"reflect"
	"strings"
	"testing"

	"github.com/k2kinvoice/autoinvoice/internal/invoice"
)

// fuzzOrderSeeds are the seed corpus of FuzzDecodeOrder: a valid order and variations that reach
// each kind of rule and decoding error.
var fuzzOrderSeeds = []string{
	// valid: 500 × 1.89 + 8 × 45.00 + 1 × 13.50 = 1318.50 EUR
	`{"vendor_id":"ACME","buyer_id":"GLOBEX","po_number":"PO-1","invoice_number":"INV-1","issue_date":"2026-11-27",` +
		`"currency":"EUR","total_minor":131850,"po_total_minor":131850,"lines":[{"description":"Steel brackets",` +
		`"quantity":500,"unit_price_minor":189},{"description":"Assembly","quantity":8,"unit_price_minor":4500},` +
		`{"description":"Freight","quantity":1,"unit_price_minor":1350}]}`,
	// valid, zero-decimal currency, free line
	`{"vendor_id":"a","buyer_id":"b","po_number":"1","invoice_number":"1","issue_date":"2024-02-29","currency":"JPY",` +
		`"total_minor":1,"po_total_minor":9223372036854775807,"lines":[{"description":"x","quantity":1,"unit_price_minor":1},` +
		`{"description":"gift","quantity":3,"unit_price_minor":0}]}`,
	// overflow: a number beyond int64, a line product and a sum beyond int64
	`{"vendor_id":"A","buyer_id":"B","po_number":"P","invoice_number":"I","issue_date":"2026-01-01","currency":"EUR",` +
		`"total_minor":9223372036854775808,"po_total_minor":1,"lines":[{"description":"d","quantity":1,"unit_price_minor":1}]}`,
	`{"vendor_id":"A","buyer_id":"B","po_number":"P","invoice_number":"I","issue_date":"2026-01-01","currency":"EUR",` +
		`"total_minor":1,"po_total_minor":1,"lines":[{"description":"d","quantity":4294967296,"unit_price_minor":4294967296}]}`,
	`{"vendor_id":"A","buyer_id":"B","po_number":"P","invoice_number":"I","issue_date":"2026-01-01","currency":"EUR",` +
		`"total_minor":1,"po_total_minor":1,"lines":[{"description":"d","quantity":1,"unit_price_minor":9223372036854775807},` +
		`{"description":"e","quantity":1,"unit_price_minor":1}]}`,
	`{"total_minor":-9223372036854775809,"po_total_minor":1e3,"lines":[{"quantity":1.5,"unit_price_minor":-1}]}`,
	`{"total_minor":1e400}`,
	// unicode: non-Latin text, combining marks, RTL override, NUL, invalid UTF-8, surrogates
	`{"vendor_id":"ÄCME","buyer_id":"買い手","po_number":"PO-№1","invoice_number":"INV\u202e1","issue_date":"2026-11-27",` +
		`"currency":"€UR","total_minor":1,"po_total_minor":1,"lines":[{"description":"Stahl ✓ é\u0301","quantity":1,"unit_price_minor":1}]}`,
	"{\"vendor_id\":\"A\",\"buyer_id\":\"B\",\"po_number\":\"P\\u0000\",\"invoice_number\":\"\xff\xfe\",\"issue_date\":\"2026-11-27\"," +
		"\"currency\":\"EUR\",\"total_minor\":1,\"po_total_minor\":1,\"lines\":[{\"description\":\"\\ud800\",\"quantity\":1,\"unit_price_minor\":1}]}",
	// SQL and shell metacharacters, path separators
	`{"vendor_id":"A'; DROP TABLE vendor_invoices;--","buyer_id":"B\" OR 1=1 --","po_number":"../../etc/passwd",` +
		`"invoice_number":"$(rm -rf /)","issue_date":"2026-11-27' OR '1'='1","currency":"EUR","total_minor":1,` +
		`"po_total_minor":1,"lines":[{"description":"%s%n%x","quantity":1,"unit_price_minor":1}]}`,
	// deep nesting, wrong types, unknown and duplicate fields, trailing data
	`{"lines":` + strings.Repeat("[", 200) + strings.Repeat("]", 200) + `}`,
	`{"vendor_id":{"a":{"b":{"c":[1,2,{"d":null}]}}}}`,
	`{"lines":[{"description":["x"],"quantity":"1","unit_price_minor":true}]}`,
	`{"lines":{"0":{}}}`,
	`{"vendor_id":"A","unknown":1}`,
	`{"":1}`,
	`{"vendor_id":"A","vendor_id":"A"}`,
	`{"VENDOR_ID":"A"}`,
	`{} {}`,
	`{}]`,
	`[]`,
	`null`,
	`"order"`,
	``,
	` `,
	`{`,
	`{"lines":[]}`,
	`{"issue_date":"2026-02-30","currency":"XAU","lines":[{"description":" padded ","quantity":0}]}`,
}

// FuzzDecodeOrder: whatever the input, DecodeOrder does not panic and either returns a valid
// order, whose lines add up to its total, or a *ValidationError naming at least one field and rule.
func FuzzDecodeOrder(f *testing.F) {
	for _, s := range fuzzOrderSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		o, err := invoice.DecodeOrder(bytes.NewReader(data))
		if err != nil {
			var v *invoice.ValidationError
			if !errors.As(err, &v) {
				t.Fatalf("DecodeOrder(%q) = %T %v, want a *ValidationError", data, err, err)
			}
			if len(v.Fields) == 0 {
				t.Fatalf("DecodeOrder(%q): a ValidationError without fields", data)
			}
			for _, fe := range v.Fields {
				if fe.Rule == "" {
					t.Errorf("DecodeOrder(%q): field %q without a rule", data, fe.Field)
				}
			}
			if !reflect.DeepEqual(o, invoice.Order{}) {
				t.Errorf("DecodeOrder(%q) returned an order with its error: %+v", data, o)
			}
			return
		}
		if err := o.Validate(); err != nil {
			t.Fatalf("DecodeOrder(%q) accepted an order that does not validate: %v", data, err)
		}
		// The lines add up to the total, computed without any chance of overflow.
		sum := new(big.Int)
		for i, l := range o.Lines {
			if l.Quantity <= 0 || l.UnitPriceMinor < 0 {
				t.Fatalf("DecodeOrder(%q) accepted line %d: %+v", data, i, l)
			}
			amount := new(big.Int).Mul(big.NewInt(l.Quantity), big.NewInt(l.UnitPriceMinor))
			if amount.Cmp(big.NewInt(l.LineAmount())) != 0 {
				t.Fatalf("DecodeOrder(%q): line %d amount is %d, want %s", data, i, l.LineAmount(), amount)
			}
			sum.Add(sum, amount)
		}
		if sum.Cmp(big.NewInt(o.TotalMinor)) != 0 {
			t.Fatalf("DecodeOrder(%q): the lines add up to %s, the total is %d", data, sum, o.TotalMinor)
		}
		if o.TotalMinor <= 0 || o.POTotalMinor <= 0 || len(o.Lines) == 0 || len(o.Lines) > invoice.MaxLines {
			t.Fatalf("DecodeOrder(%q) accepted %+v", data, o)
		}
		// A valid order survives its own JSON: what the gateway hands to the workflow decodes the same.
		again, err := json.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		o2, err := invoice.DecodeOrder(bytes.NewReader(again))
		if err != nil || !reflect.DeepEqual(o, o2) {
			t.Fatalf("DecodeOrder(%q) = %+v, which does not survive a round trip: %+v, %v", data, o, o2, err)
		}
	})
}

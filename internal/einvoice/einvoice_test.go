package einvoice

import (
	"bytes"
	"encoding/xml"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/k2kinvoice/autoinvoice/internal/invoice"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/ from the current output")

// The strings that must survive every format as written.
const (
	greek  = "Ελληνικά"
	polish = "Zażółć gęślą jaźń"
	czech  = "Příliš žluťoučký kůň"
)

func smallOrder() invoice.Order {
	return invoice.Order{
		VendorID:      "ACME-01",
		BuyerID:       "BUYCO_2",
		PONumber:      "PO-2026-0001",
		InvoiceNumber: "INV-7",
		IssueDate:     "2026-03-15",
		Currency:      "EUR",
		TotalMinor:    14345,
		POTotalMinor:  14345,
		Lines: []invoice.Line{
			{Description: "Widget", Quantity: 1, UnitPriceMinor: 12345},
			{Description: "Schraube Ø 5 mm – Größe M <M5> & \"Mutter\"", Quantity: 2, UnitPriceMinor: 1000},
		},
	}
}

func europeanOrder() invoice.Order {
	o := smallOrder()
	o.Lines = []invoice.Line{
		{Description: greek, Quantity: 3, UnitPriceMinor: 5},
		{Description: polish, Quantity: 1, UnitPriceMinor: 100000},
		{Description: czech, Quantity: 7, UnitPriceMinor: 0},
	}
	o.TotalMinor = 100015
	return o
}

func jpyOrder() invoice.Order {
	o := smallOrder()
	o.Currency = "JPY"
	o.Lines = []invoice.Line{{Description: "Bolt", Quantity: 4, UnitPriceMinor: 250}, {Description: "Nut", Quantity: 1, UnitPriceMinor: 1000}}
	o.TotalMinor = 2000
	return o
}

func manyLinesOrder() invoice.Order {
	o := smallOrder()
	o.Lines = nil
	for i := range invoice.MaxLines {
		o.Lines = append(o.Lines, invoice.Line{Description: fmt.Sprintf("Item %d", i+1), Quantity: int64(i + 1), UnitPriceMinor: 1})
	}
	o.TotalMinor = invoice.MaxLines * (invoice.MaxLines + 1) / 2
	return o
}

func creditNote() invoice.CreditNote {
	return invoice.CreditNote{
		Number:     "CN-1",
		IssueDate:  "2026-04-01",
		Currency:   "EUR",
		TotalMinor: 1000,
		Reason:     "Damaged on delivery: " + czech,
		Lines:      []invoice.Line{{Description: "Schraube, beschädigt", Quantity: 1, UnitPriceMinor: 1000}},
	}
}

func mustInvoice(t *testing.T, o invoice.Order) []byte {
	t.Helper()
	data, err := Invoice(o)
	if err != nil {
		t.Fatalf("Invoice: %v", err)
	}
	return data
}

func mustCreditNote(t *testing.T, c invoice.CreditNote, o invoice.Order) []byte {
	t.Helper()
	data, err := CreditNote(c, o)
	if err != nil {
		t.Fatalf("CreditNote: %v", err)
	}
	return data
}

// texts returns the character data of every element with the given local name, in order.
func texts(t *testing.T, doc []byte, local string) []string {
	t.Helper()
	var found []string
	d := xml.NewDecoder(bytes.NewReader(doc))
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			return found
		}
		if err != nil {
			t.Fatalf("generated XML does not parse: %v", err)
		}
		if start, ok := tok.(xml.StartElement); ok && start.Name.Local == local {
			var s string
			if err := d.DecodeElement(&s, &start); err != nil {
				t.Fatalf("element %s: %v", local, err)
			}
			found = append(found, s)
		}
	}
}

func TestGolden(t *testing.T) {
	for _, tc := range []struct {
		file string
		doc  func(t *testing.T) []byte
	}{
		{"invoice.xml", func(t *testing.T) []byte { return mustInvoice(t, smallOrder()) }},
		{"creditnote.xml", func(t *testing.T) []byte { return mustCreditNote(t, creditNote(), smallOrder()) }},
	} {
		t.Run(tc.file, func(t *testing.T) {
			got := tc.doc(t)
			path := filepath.Join("testdata", tc.file)
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("read golden file (go test ./internal/einvoice -update writes it): %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("output differs from %s (review, then go test ./internal/einvoice -update):\n%s", path, got)
			}
		})
	}
}

func TestInvoiceFields(t *testing.T) {
	doc := mustInvoice(t, smallOrder())
	for _, tc := range []struct {
		element string
		want    []string
	}{
		{"ID", []string{"urn:cen.eu:en16931:2017", "INV-7", "ACME-01", "BUYCO_2"}}, // guideline, invoice, seller, buyer
		{"TypeCode", []string{"380", "VAT", "VAT", "VAT"}},                         // document, two lines, breakdown
		{"DateTimeString", []string{"20260315"}},
		{"IssuerAssignedID", []string{"PO-2026-0001"}},
		{"InvoiceCurrencyCode", []string{"EUR"}},
		{"Name", []string{"Widget", "Schraube Ø 5 mm – Größe M <M5> & \"Mutter\"", "ACME-01", "BUYCO_2"}},
		{"LineID", []string{"1", "2"}},
		{"BilledQuantity", []string{"1", "2"}},
		{"ChargeAmount", []string{"123.45", "10.00"}},
		{"LineTotalAmount", []string{"123.45", "20.00", "143.45"}},
		{"CategoryCode", []string{"O", "O", "O"}},
		{"ExemptionReasonCode", []string{"VATEX-EU-O"}},
		{"BasisAmount", []string{"143.45"}},
		{"CalculatedAmount", []string{"0.00"}},
		{"TaxBasisTotalAmount", []string{"143.45"}},
		{"TaxTotalAmount", []string{"0.00"}},
		{"GrandTotalAmount", []string{"143.45"}},
		{"DuePayableAmount", []string{"143.45"}},
		{"RateApplicablePercent", nil}, // BR-O-05: category O has no rate
		{"InvoiceReferencedDocument", nil},
	} {
		if got := texts(t, doc, tc.element); !slices.Equal(got, tc.want) {
			t.Errorf("%s = %q, want %q", tc.element, got, tc.want)
		}
	}
}

func TestInvoiceKeepsEuropeanScripts(t *testing.T) {
	doc := mustInvoice(t, europeanOrder())
	if got, want := texts(t, doc, "Name")[:3], []string{greek, polish, czech}; !slices.Equal(got, want) {
		t.Errorf("item names = %q, want %q", got, want)
	}
	if !bytes.Contains(doc, []byte("<ram:Name>"+greek+"</ram:Name>")) {
		t.Errorf("Greek is escaped or changed in the XML; want it written as UTF-8")
	}
	if got, want := texts(t, doc, "ChargeAmount"), []string{"0.05", "1000.00", "0.00"}; !slices.Equal(got, want) {
		t.Errorf("net prices = %q, want %q", got, want)
	}
}

func TestAmountsHaveTheCurrencyMinorDigits(t *testing.T) {
	for _, tc := range []struct {
		currency            string
		wantPrice, wantLine string
		wantTotal, wantTax  string
	}{
		{"EUR", "2.50", "10.00", "20.00", "0.00"},
		{"JPY", "250", "1000", "2000", "0"},
		{"BHD", "0.250", "1.000", "2.000", "0.000"},
	} {
		t.Run(tc.currency, func(t *testing.T) {
			o := jpyOrder()
			o.Currency = tc.currency
			doc := mustInvoice(t, o)
			if got := texts(t, doc, "ChargeAmount")[0]; got != tc.wantPrice {
				t.Errorf("net price = %q, want %q", got, tc.wantPrice)
			}
			if got := texts(t, doc, "LineTotalAmount")[0]; got != tc.wantLine {
				t.Errorf("line amount = %q, want %q", got, tc.wantLine)
			}
			if got := texts(t, doc, "GrandTotalAmount")[0]; got != tc.wantTotal {
				t.Errorf("grand total = %q, want %q", got, tc.wantTotal)
			}
			if got := texts(t, doc, "TaxTotalAmount")[0]; got != tc.wantTax {
				t.Errorf("tax total = %q, want %q", got, tc.wantTax)
			}
			if want := `<ram:TaxTotalAmount currencyID="` + tc.currency + `">`; !bytes.Contains(doc, []byte(want)) {
				t.Errorf("XML lacks %s", want)
			}
		})
	}
}

func TestManyLinesAreNumberedInOrder(t *testing.T) {
	doc := mustInvoice(t, manyLinesOrder())
	ids := texts(t, doc, "LineID")
	if len(ids) != invoice.MaxLines || ids[0] != "1" || ids[len(ids)-1] != fmt.Sprint(invoice.MaxLines) {
		t.Fatalf("%d line IDs from %q to %q, want 1 to %d", len(ids), ids[0], ids[len(ids)-1], invoice.MaxLines)
	}
	if got := texts(t, doc, "LineTotalAmount"); got[invoice.MaxLines-1] != "5.00" || got[invoice.MaxLines] != "1252.50" {
		t.Errorf("last line amount %q and document total %q, want 5.00 and 1252.50", got[invoice.MaxLines-1], got[invoice.MaxLines])
	}
}

func TestCreditNoteFields(t *testing.T) {
	doc := mustCreditNote(t, creditNote(), smallOrder())
	for _, tc := range []struct {
		element string
		want    []string
	}{
		{"TypeCode", []string{"381", "VAT", "VAT"}},
		{"DateTimeString", []string{"20260401", "20260315"}}, // its own date, the credited invoice's
		{"Content", []string{"Damaged on delivery: " + czech}},
		{"IssuerAssignedID", []string{"PO-2026-0001", "INV-7"}},
		{"GrandTotalAmount", []string{"10.00"}},
		{"DuePayableAmount", []string{"10.00"}},
	} {
		if got := texts(t, doc, tc.element); !slices.Equal(got, tc.want) {
			t.Errorf("%s = %q, want %q", tc.element, got, tc.want)
		}
	}
}

func TestOutputIsDeterministic(t *testing.T) {
	first := mustInvoice(t, europeanOrder())
	for range 20 {
		if again := mustInvoice(t, europeanOrder()); !bytes.Equal(again, first) {
			t.Fatal("two encodings of the same order differ")
		}
	}
	other := europeanOrder()
	other.InvoiceNumber = "INV-8"
	if bytes.Equal(mustInvoice(t, other), first) {
		t.Error("another invoice number gives the same bytes")
	}
}

func TestInvalidInputIsRefused(t *testing.T) {
	noLines := smallOrder()
	noLines.Lines = nil
	badDate := creditNote()
	badDate.IssueDate = "01.04.2026"
	for _, tc := range []struct {
		name   string
		call   func() ([]byte, error)
		phrase string
	}{
		{"order without lines", func() ([]byte, error) { return Invoice(noLines) }, "lines"},
		{"credit note with a German date", func() ([]byte, error) { return CreditNote(badDate, smallOrder()) }, "credit_note.issue_date"},
		{"credit note against an invalid invoice", func() ([]byte, error) { return CreditNote(creditNote(), noLines) }, "credited invoice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data, err := tc.call()
			if err == nil || !strings.Contains(err.Error(), tc.phrase) || data != nil {
				t.Errorf("got %d bytes and error %v, want no bytes and an error naming %q", len(data), err, tc.phrase)
			}
		})
	}
}

func TestDecimal(t *testing.T) {
	for _, tc := range []struct {
		minor  int64
		digits int
		want   string
	}{
		{0, 2, "0.00"},
		{5, 2, "0.05"},
		{12345, 2, "123.45"},
		{100, 2, "1.00"},
		{1000, 0, "1000"},
		{0, 0, "0"},
		{7, 3, "0.007"},
		{1234567, 3, "1234.567"},
		{9223372036854775807, 2, "92233720368547758.07"},
	} {
		if got := decimal(tc.minor, tc.digits); got != tc.want {
			t.Errorf("decimal(%d, %d) = %q, want %q", tc.minor, tc.digits, got, tc.want)
		}
	}
}

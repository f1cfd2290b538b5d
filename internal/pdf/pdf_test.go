package pdf

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/k2kinvoice/autoinvoice/internal/invoice"
)

const maxBytes = 10 << 20

var renderedAt = time.Date(2026, 3, 15, 10, 30, 0, 0, time.UTC)

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
			{Description: "Schraube Ø 5 mm – Größe M", Quantity: 2, UnitPriceMinor: 1000},
		},
	}
}

func render(t *testing.T, o invoice.Order, revision int, at time.Time) []byte {
	t.Helper()
	if err := o.Validate(); err != nil {
		t.Fatalf("test order is not valid: %v", err)
	}
	data, err := Render(o, revision, at)
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	return data
}

func TestRenderIsAPDF(t *testing.T) {
	many := smallOrder()
	many.Lines = nil
	for range invoice.MaxLines {
		many.Lines = append(many.Lines, invoice.Line{Description: "Item", Quantity: 1, UnitPriceMinor: 100})
	}
	many.TotalMinor = invoice.MaxLines * 100
	jpy := smallOrder()
	jpy.Currency = "JPY"

	for _, tc := range []struct {
		name  string
		order invoice.Order
	}{
		{"small order", smallOrder()},
		{"MaxLines lines over several pages", many},
		{"JPY", jpy},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := render(t, tc.order, 1, renderedAt)
			if rule := Check(data, maxBytes); rule != "" {
				t.Errorf("Check(rendered PDF) = %q, want \"\"", rule)
			}
			if !bytes.HasPrefix(data, []byte("%PDF-1.")) {
				t.Errorf("rendered PDF starts with %q, want %%PDF-1.", data[:min(len(data), 8)])
			}
		})
	}
}

func TestRenderMoreLinesMakeALargerPDF(t *testing.T) {
	small := render(t, smallOrder(), 1, renderedAt)
	o := smallOrder()
	o.Lines = nil
	for range 200 {
		o.Lines = append(o.Lines, invoice.Line{Description: "Item", Quantity: 1, UnitPriceMinor: 100})
	}
	o.TotalMinor = 200 * 100
	if large := render(t, o, 1, renderedAt); len(large) <= len(small) {
		t.Errorf("200-line PDF has %d bytes, 2-line PDF %d: want the larger order to render larger", len(large), len(small))
	}
}

func TestRenderIsDeterministic(t *testing.T) {
	base := render(t, smallOrder(), 1, renderedAt)
	other := smallOrder()
	other.InvoiceNumber = "INV-8"

	for _, tc := range []struct {
		name     string
		order    invoice.Order
		revision int
		at       time.Time
		same     bool
	}{
		{"same order, revision and time", smallOrder(), 1, renderedAt, true},
		{"same instant in another zone", smallOrder(), 1, renderedAt.In(time.FixedZone("CET", 3600)), true},
		{"a second later", smallOrder(), 1, renderedAt.Add(time.Second), false},
		{"a day later", smallOrder(), 1, renderedAt.AddDate(0, 0, 1), false},
		{"another revision", smallOrder(), 2, renderedAt, false},
		{"another invoice number", other, 1, renderedAt, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := render(t, tc.order, tc.revision, tc.at)
			if equal := bytes.Equal(got, base); equal != tc.same {
				t.Errorf("bytes equal to the base render = %v, want %v", equal, tc.same)
			}
		})
	}
}

func TestConcurrentRendersAreIdentical(t *testing.T) {
	base := render(t, europeanOrder(), 1, renderedAt)
	results := make(chan []byte, 8)
	for range cap(results) {
		go func() {
			data, _ := Render(europeanOrder(), 1, renderedAt)
			results <- data
		}()
	}
	for range cap(results) {
		if got := <-results; !bytes.Equal(got, base) {
			t.Fatal("a render running beside others differs from a render alone")
		}
	}
}

func TestCheck(t *testing.T) {
	valid, err := Render(smallOrder(), 1, renderedAt)
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	for _, tc := range []struct {
		name   string
		data   []byte
		limit  int64
		phrase string // "" when the data passes
	}{
		{"rendered PDF", valid, maxBytes, ""},
		{"exactly at the limit", valid, int64(len(valid)), ""},
		{"trailing newline", append(bytes.Clone(valid), '\n'), maxBytes, ""},
		{"trailing CRLF, spaces and NULs", append(bytes.Clone(valid), "\r\n \t\x00\x00"...), maxBytes, ""},
		{"minimal PDF 2.0 frame", []byte("%PDF-2.0\n%%EOF"), maxBytes, ""},
		{"nil", nil, maxBytes, "must not be empty"},
		{"empty", []byte{}, maxBytes, "must not be empty"},
		{"one byte over the limit", valid, int64(len(valid)) - 1, "must be at most"},
		{"over a tiny limit", []byte("%PDF-1.4\n%%EOF"), 4, "must be at most 4 bytes, is 14"},
		{"HTML", []byte("<!DOCTYPE html><html><body>%PDF-1.4</body></html>\n%%EOF"), maxBytes, "is not a PDF"},
		{"PNG", []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR%%EOF"), maxBytes, "is not a PDF"},
		{"ZIP", []byte("PK\x03\x04\x14\x00\x00\x00%%EOF"), maxBytes, "is not a PDF"},
		{"%PDF- without version digit", []byte("%PDF-\n%%EOF"), maxBytes, "is not a PDF"},
		{"%PDF- with a letter for version", []byte("%PDF-x.4\n%%EOF"), maxBytes, "is not a PDF"},
		{"unknown major version", []byte("%PDF-3.0\n%%EOF"), maxBytes, "is not a PDF"},
		{"lower-case magic", []byte("%pdf-1.4\n%%EOF"), maxBytes, "is not a PDF"},
		{"white space before the magic", append([]byte("\n"), valid...), maxBytes, "is not a PDF"},
		{"truncated PDF", valid[:len(valid)/2], maxBytes, "does not end with %%EOF"},
		{"last byte cut", valid[:len(bytes.TrimRight(valid, "\r\n"))-1], maxBytes, "does not end with %%EOF"},
		{"garbage after %%EOF", append(bytes.Clone(valid), "<script>"...), maxBytes, "does not end with %%EOF"},
		{"header only", []byte("%PDF-1.7"), maxBytes, "does not end with %%EOF"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Check(tc.data, tc.limit)
			switch {
			case tc.phrase == "" && got != "":
				t.Errorf("Check = %q, want \"\"", got)
			case tc.phrase != "" && !strings.Contains(got, tc.phrase):
				t.Errorf("Check = %q, want it to contain %q", got, tc.phrase)
			}
		})
	}
}

// TestRenderTextBeyondTheFonts: a rune beyond the Basic Multilingual Plane (an emoji) in a
// number or a line renders as U+FFFD instead of failing, and the rest prints as written.
func TestRenderTextBeyondTheFonts(t *testing.T) {
	o := smallOrder()
	o.PONumber = strings.Repeat("ä", 64)
	o.InvoiceNumber = "Rechnung " + strings.Repeat("ß", 30) + " 😀"
	o.Lines[0].Description = "Stifte 🖊 rot"
	text := poppler(t, "pdftotext", writePDF(t, render(t, o, 1, time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC))), "-")
	for _, want := range []string{"Rechnung " + strings.Repeat("ß", 30) + " \uFFFD", "Stifte \uFFFD rot", strings.Repeat("ä", 64)} {
		if !strings.Contains(text, want) {
			t.Errorf("extracted text lacks %q:\n%s", want, text)
		}
	}
}

// BenchmarkRender measures rendering one invoice (fonts embedded, the XML attached): the CPU and
// the bytes each invoice costs the worker (docs/performance.md).
func BenchmarkRender(b *testing.B) {
	for name, o := range map[string]invoice.Order{"three lines": smallOrder(), "Greek, Polish and Czech lines": europeanOrder()} {
		b.Run(name, func(b *testing.B) {
			var size int
			for b.Loop() {
				data, err := Render(o, 1, time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC))
				if err != nil {
					b.Fatal(err)
				}
				size = len(data)
			}
			b.ReportMetric(float64(size), "pdf-bytes")
		})
	}
}

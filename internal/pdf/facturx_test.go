package pdf

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/k2kinvoice/autoinvoice/internal/einvoice"
	"github.com/k2kinvoice/autoinvoice/internal/invoice"
)

// The strings in European scripts that a rendered PDF must show as written.
const (
	greek  = "Ελληνικά"
	polish = "Zażółć gęślą jaźń"
	czech  = "Příliš žluťoučký kůň"
)

// poppler runs a poppler-utils command (pdftotext, pdfdetach) with args, failing the test when
// it is not installed or fails.
func poppler(t *testing.T, name string, args ...string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is not installed: reading the rendered PDF needs it. Install the Debian package poppler-utils "+
			"(scripts/system-packages.sh does).", name)
	}
	out, err := exec.Command(path, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// writePDF writes data to a file in a fresh temporary directory and returns its path.
func writePDF(t *testing.T, data []byte) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "rendered.pdf")
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

func europeanOrder() invoice.Order {
	o := smallOrder()
	o.Lines = []invoice.Line{
		{Description: greek, Quantity: 1, UnitPriceMinor: 100},
		{Description: polish, Quantity: 2, UnitPriceMinor: 200},
		{Description: czech, Quantity: 3, UnitPriceMinor: 300},
		{Description: "Schraube Ø 5 mm – Größe M", Quantity: 4, UnitPriceMinor: 400},
	}
	o.TotalMinor = 100 + 400 + 900 + 1600
	return o
}

func creditNote() invoice.CreditNote {
	return invoice.CreditNote{
		Number: "CN-1", IssueDate: "2026-04-01", Currency: "EUR", TotalMinor: 200,
		Reason: "Ζημιά κατά τη μεταφορά", Lines: []invoice.Line{{Description: polish, Quantity: 1, UnitPriceMinor: 200}},
	}
}

func renderCreditNote(t *testing.T, c invoice.CreditNote, o invoice.Order, at time.Time) []byte {
	t.Helper()
	data, err := RenderCreditNote(c, o, at)
	if err != nil {
		t.Fatalf("RenderCreditNote: %v", err)
	}
	return data
}

func TestRenderedTextKeepsEuropeanScripts(t *testing.T) {
	for _, tc := range []struct {
		name string
		pdf  []byte
		want []string
	}{
		{"invoice", render(t, europeanOrder(), 1, renderedAt),
			[]string{"Invoice INV-7", greek, polish, czech, "Schraube Ø 5 mm – Größe M", "30.00 EUR"}},
		{"credit note", renderCreditNote(t, creditNote(), europeanOrder(), renderedAt),
			[]string{"Credit note CN-1", "Reason: Ζημιά κατά τη μεταφορά", polish, "2.00 EUR"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			text := poppler(t, "pdftotext", "-enc", "UTF-8", writePDF(t, tc.pdf), "-")
			for _, s := range tc.want {
				if !strings.Contains(text, s) {
					t.Errorf("extracted text lacks %q; it is:\n%s", s, text)
				}
			}
		})
	}
}

func TestRenderAttachesTheEInvoice(t *testing.T) {
	o := europeanOrder()
	wantInvoice, err := einvoice.Invoice(o)
	if err != nil {
		t.Fatal(err)
	}
	wantCredit, err := einvoice.CreditNote(creditNote(), o)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		pdf  []byte
		want []byte
	}{
		{"invoice", render(t, o, 1, renderedAt), wantInvoice},
		{"credit note", renderCreditNote(t, creditNote(), o, renderedAt), wantCredit},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := writePDF(t, tc.pdf)
			if list, want := poppler(t, "pdfdetach", "-list", file), "1 embedded files\n1: "+einvoice.FileName+"\n"; list != want {
				t.Fatalf("pdfdetach -list = %q, want %q", list, want)
			}
			saved := filepath.Join(t.TempDir(), "saved.xml")
			// By number: pdfdetach 22.12 answers "Invalid file name" to -savefile factur-x.xml on
			// this PDF; -list above has checked that file 1 is named so.
			poppler(t, "pdfdetach", "-save", "1", "-o", saved, file)
			got, err := os.ReadFile(saved)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tc.want) {
				t.Errorf("attached %s differs from the generated XML:\n%s", einvoice.FileName, got)
			}
		})
	}
}

func TestRenderRefusesAnInvalidOrder(t *testing.T) {
	o := smallOrder()
	o.IssueDate = "15.03.2026"
	if data, err := Render(o, 1, renderedAt); err == nil || !strings.Contains(err.Error(), "issue_date") || data != nil {
		t.Errorf("Render = %d bytes, error %v; want no PDF and an error naming issue_date", len(data), err)
	}
}

func TestRenderCreditNoteIsDeterministic(t *testing.T) {
	base := renderCreditNote(t, creditNote(), europeanOrder(), renderedAt)
	for range 5 {
		if again := renderCreditNote(t, creditNote(), europeanOrder(), renderedAt); !bytes.Equal(again, base) {
			t.Fatal("two renders of the same credit note at the same time differ")
		}
	}
	if later := renderCreditNote(t, creditNote(), europeanOrder(), renderedAt.Add(time.Second)); bytes.Equal(later, base) {
		t.Error("a render a second later gives the same bytes")
	}
}

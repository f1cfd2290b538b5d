// Package pdf renders an invoice PDF from a confirmed order's lines, and checks by content that a
// vendor-supplied file is a PDF.
package pdf

import (
	"bytes"
	"fmt"
	"time"

	"github.com/go-pdf/fpdf"

	"github.com/k2kinvoice/autoinvoice/internal/invoice"
)

// Render draws the invoice of order o. The output is deterministic: the same order and time give
// the same bytes, so a retried render lands on the same content-addressed key.
func Render(o invoice.Order, revision int, at time.Time) ([]byte, error) {
	return sheet{title: "Invoice " + o.InvoiceNumber, author: o.VendorID, facts: []string{
		"Vendor: " + o.VendorID,
		"Buyer: " + o.BuyerID,
		"Purchase order: " + o.PONumber,
		"Issue date: " + o.IssueDate,
		fmt.Sprintf("Revision: %d", revision),
	}, currency: o.Currency, lines: o.Lines, total: o.TotalMinor}.draw(at)
}

// RenderCreditNote draws credit note c against invoice o (as it was paid), deterministically as
// Render does.
func RenderCreditNote(c invoice.CreditNote, o invoice.Order, at time.Time) ([]byte, error) {
	return sheet{title: "Credit note " + c.Number, author: o.VendorID, facts: []string{
		"Vendor: " + o.VendorID,
		"Buyer: " + o.BuyerID,
		"Credits invoice: " + o.InvoiceNumber + " (purchase order " + o.PONumber + ")",
		"Issue date: " + c.IssueDate,
		"Reason: " + c.Reason,
	}, currency: c.Currency, lines: c.Lines, total: c.TotalMinor}.draw(at)
}

// sheet is what a rendered document shows: a title, facts about it, its lines and total.
type sheet struct {
	title, author string
	facts         []string
	currency      string
	lines         []invoice.Line
	total         int64
}

func (s sheet) draw(at time.Time) ([]byte, error) {
	doc := fpdf.New("P", "mm", "A4", "")
	doc.SetCreationDate(at.UTC())
	doc.SetModificationDate(at.UTC())
	doc.SetCatalogSort(true)
	doc.SetTitle(s.title, true)
	doc.SetAuthor(s.author, true)
	doc.SetCreator("K2K Auto-Invoice", true)
	tr := doc.UnicodeTranslatorFromDescriptor("") // UTF-8 to the core fonts' cp1252
	doc.AddPage()

	doc.SetFont("Helvetica", "B", 18)
	doc.CellFormat(0, 10, tr(s.title), "", 1, "L", false, 0, "")
	doc.SetFont("Helvetica", "", 10)
	for _, line := range s.facts {
		doc.CellFormat(0, 6, tr(line), "", 1, "L", false, 0, "")
	}
	doc.Ln(6)

	widths := []float64{95, 20, 35, 40}
	doc.SetFont("Helvetica", "B", 10)
	for i, h := range []string{"Description", "Qty", "Unit price", "Amount"} {
		align := "R"
		if i == 0 {
			align = "L"
		}
		doc.CellFormat(widths[i], 7, h, "B", 0, align, false, 0, "")
	}
	doc.Ln(-1)
	doc.SetFont("Helvetica", "", 10)
	for _, l := range s.lines {
		doc.CellFormat(widths[0], 6, tr(l.Description), "", 0, "L", false, 0, "")
		doc.CellFormat(widths[1], 6, fmt.Sprint(l.Quantity), "", 0, "R", false, 0, "")
		doc.CellFormat(widths[2], 6, invoice.FormatMoney(l.UnitPriceMinor, s.currency), "", 0, "R", false, 0, "")
		doc.CellFormat(widths[3], 6, invoice.FormatMoney(l.LineAmount(), s.currency), "", 1, "R", false, 0, "")
	}
	doc.SetFont("Helvetica", "B", 11)
	doc.CellFormat(widths[0]+widths[1]+widths[2], 8, "Total", "T", 0, "R", false, 0, "")
	doc.CellFormat(widths[3], 8, invoice.FormatMoney(s.total, s.currency), "T", 1, "R", false, 0, "")

	var buf bytes.Buffer
	if err := doc.Output(&buf); err != nil {
		return nil, fmt.Errorf("render %s: %w", s.title, err)
	}
	return buf.Bytes(), nil
}

// Check returns the rule a supposed PDF breaks, or "" when it is a PDF within maxBytes. It looks
// at the content, never at a file name or a declared type: a PDF starts with "%PDF-" and a
// version, and ends with "%%EOF" (followed at most by white space).
func Check(data []byte, maxBytes int64) string {
	switch {
	case len(data) == 0:
		return "must not be empty"
	case int64(len(data)) > maxBytes:
		return fmt.Sprintf("must be at most %d bytes, is %d", maxBytes, len(data))
	case !bytes.HasPrefix(data, []byte("%PDF-1.")) && !bytes.HasPrefix(data, []byte("%PDF-2.")):
		return "is not a PDF: it does not start with %PDF-1. or %PDF-2."
	case !bytes.HasSuffix(bytes.TrimRight(data, " \t\r\n\x00"), []byte("%%EOF")):
		return "is not a complete PDF: it does not end with %%EOF"
	}
	return ""
}

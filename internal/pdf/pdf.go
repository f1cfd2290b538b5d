// Package pdf renders an invoice PDF from a confirmed order's lines, and checks by content that a
// vendor-supplied file is a PDF.
//
// A rendered PDF is a hybrid e-invoice in the manner of Factur-X / ZUGFeRD 2: it shows the
// document to a person, and carries its EN 16931 XML (package einvoice, built from the same
// order) as the embedded file factur-x.xml. Text is set in the Go fonts (regular and bold),
// embedded as TrueType subsets, so names and lines in any European script print as written.
//
// # How close to PDF/A-3 (and so to Factur-X) it is
//
// It is not PDF/A-3, and claims nowhere to be. What it has: every font embedded, no
// encryption, no transparency, no JavaScript, no external content, and the XML as a document
// attachment (in the EmbeddedFiles name tree, its file specification naming it factur-x.xml in
// /UF; pdfdetach lists it so). What it lacks for PDF/A-3 and for Factur-X:
//   - XMP metadata: neither the pdfaid identification (part 3, conformance B) nor the Factur-X
//     extension schema (fx:DocumentType INVOICE, fx:DocumentFileName factur-x.xml, fx:Version,
//     fx:ConformanceLevel EN 16931) nor Dublin Core and xmp dates matching the Info dictionary;
//   - an output intent with an embedded ICC profile (e.g. sRGB): colours are device gray;
//   - on the file specification: /AFRelationship /Data (or /Alternative) and /F equal to /UF
//     (fpdf writes /F as empty); on the embedded file: /Subtype /text#2Fxml and /Params /ModDate;
//     and the catalog's /AF array pointing at the file specification;
//   - a file identifier (/ID) in the trailer, a header version of at least 1.4 with a binary
//     comment line (fpdf writes %PDF-1.3), and subset tags (ABCDEF+) on the subset fonts' names.
//
// fpdf v0.9.0 can write none of these but the XMP stream, and XMP alone would claim a PDF/A
// conformance the file does not have, so none is written. A reader that looks for an embedded
// file named factur-x.xml finds the XML; a Factur-X or PDF/A validator (veraPDF, Mustang)
// would refuse the PDF as not PDF/A-3.
package pdf

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/go-pdf/fpdf"
	"golang.org/x/image/font/gofont/gobold"
	"golang.org/x/image/font/gofont/goregular"

	"github.com/k2kinvoice/autoinvoice/internal/einvoice"
	"github.com/k2kinvoice/autoinvoice/internal/invoice"
)

// drawable is text as the PDF's fonts can carry it: a rune beyond the Basic Multilingual Plane
// (an emoji, say, which the Go fonts do not have either, and which fpdf cannot map) becomes U+FFFD.
// The text is kept as written everywhere else (the database, the e-invoice XML).
func drawable(text string) string {
	return strings.Map(func(r rune) rune {
		if r > 0xFFFF {
			return unicode.ReplacementChar
		}
		return r
	}, text)
}

// font is the family the Go fonts are registered under, in regular ("") and bold ("B").
const font = "Go"

// Render draws the invoice of order o, with its EN 16931 XML (einvoice.Invoice) attached as
// factur-x.xml. The output is deterministic: the same order and time give the same bytes, so a
// retried render lands on the same content-addressed key. The order must be valid.
func Render(o invoice.Order, revision int, at time.Time) ([]byte, error) {
	cii, err := einvoice.Invoice(o)
	if err != nil {
		return nil, fmt.Errorf("render invoice %s: %w", o.InvoiceNumber, err)
	}
	return sheet{title: "Invoice " + o.InvoiceNumber, author: o.VendorID, facts: []string{
		"Vendor: " + o.VendorID,
		"Buyer: " + o.BuyerID,
		"Purchase order: " + o.PONumber,
		"Issue date: " + o.IssueDate,
		fmt.Sprintf("Revision: %d", revision),
	}, currency: o.Currency, lines: o.Lines, total: o.TotalMinor, einvoice: cii}.draw(at)
}

// RenderCreditNote draws credit note c against invoice o (as it was paid), with its EN 16931 XML
// (einvoice.CreditNote) attached as factur-x.xml, deterministically as Render does. Both must be
// valid.
func RenderCreditNote(c invoice.CreditNote, o invoice.Order, at time.Time) ([]byte, error) {
	cii, err := einvoice.CreditNote(c, o)
	if err != nil {
		return nil, fmt.Errorf("render credit note %s: %w", c.Number, err)
	}
	return sheet{title: "Credit note " + c.Number, author: o.VendorID, facts: []string{
		"Vendor: " + o.VendorID,
		"Buyer: " + o.BuyerID,
		"Credits invoice: " + o.InvoiceNumber + " (purchase order " + o.PONumber + ")",
		"Issue date: " + c.IssueDate,
		"Reason: " + c.Reason,
	}, currency: c.Currency, lines: c.Lines, total: c.TotalMinor, einvoice: cii}.draw(at)
}

// sheet is what a rendered document shows: a title, facts about it, its lines and total; and
// the e-invoice XML it carries.
type sheet struct {
	title, author string
	facts         []string
	currency      string
	lines         []invoice.Line
	total         int64
	einvoice      []byte
}

// newDocument starts the PDF of s: its metadata dated at, the Go fonts, and the e-invoice
// attached as factur-x.xml. Fonts are embedded as subsets of the runes used; fpdf names and
// orders everything it writes deterministically.
func (s sheet) newDocument(at time.Time) *fpdf.Fpdf {
	doc := fpdf.New("P", "mm", "A4", "")
	doc.SetCreationDate(at.UTC())
	doc.SetModificationDate(at.UTC())
	doc.SetCatalogSort(true)
	doc.SetTitle(s.title, true)
	doc.SetAuthor(s.author, true)
	doc.SetCreator("K2K Auto-Invoice", true)
	doc.AddUTF8FontFromBytes(font, "", goregular.TTF)
	doc.AddUTF8FontFromBytes(font, "B", gobold.TTF)
	doc.SetAttachments([]fpdf.Attachment{{
		Content:     s.einvoice,
		Filename:    einvoice.FileName,
		Description: "EN 16931 e-invoice (UN/CEFACT CII)",
	}})
	return doc
}

// draw renders s as a PDF dated at.
func (s sheet) draw(at time.Time) ([]byte, error) {
	s.title, s.author = drawable(s.title), drawable(s.author)
	for i := range s.facts {
		s.facts[i] = drawable(s.facts[i])
	}
	s.lines = slices.Clone(s.lines)
	for i := range s.lines {
		s.lines[i].Description = drawable(s.lines[i].Description)
	}
	doc := s.newDocument(at)
	doc.AddPage()

	doc.SetFont(font, "B", 18)
	doc.CellFormat(0, 10, s.title, "", 1, "L", false, 0, "")
	doc.SetFont(font, "", 10)
	for _, line := range s.facts {
		doc.CellFormat(0, 6, line, "", 1, "L", false, 0, "")
	}
	doc.Ln(6)

	widths := []float64{95, 20, 35, 40}
	doc.SetFont(font, "B", 10)
	for i, h := range []string{"Description", "Qty", "Unit price", "Amount"} {
		align := "R"
		if i == 0 {
			align = "L"
		}
		doc.CellFormat(widths[i], 7, h, "B", 0, align, false, 0, "")
	}
	doc.Ln(-1)
	doc.SetFont(font, "", 10)
	for _, l := range s.lines {
		doc.CellFormat(widths[0], 6, l.Description, "", 0, "L", false, 0, "")
		doc.CellFormat(widths[1], 6, fmt.Sprint(l.Quantity), "", 0, "R", false, 0, "")
		doc.CellFormat(widths[2], 6, invoice.FormatMoney(l.UnitPriceMinor, s.currency), "", 0, "R", false, 0, "")
		doc.CellFormat(widths[3], 6, invoice.FormatMoney(l.LineAmount(), s.currency), "", 1, "R", false, 0, "")
	}
	doc.SetFont(font, "B", 11)
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

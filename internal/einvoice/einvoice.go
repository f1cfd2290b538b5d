// Package einvoice builds the machine-readable e-invoice of an order: a European standard
// EN 16931 invoice in the UN/CEFACT Cross Industry Invoice (CII D16B) syntax, as Factur-X 1.0 and
// ZUGFeRD 2 embed it in a PDF under the name FileName. It declares the EN 16931 profile
// (guideline urn:cen.eu:en16931:2017) and uses only elements that the Factur-X BASIC profile
// also has, so the XML is valid against both profiles' official schemas (see schema/README.md).
//
// It writes what an order holds and nothing else. Every document has: its number, issue date
// (format 102), type code (380 invoice, 381 credit note), the seller (the vendor's company ID as
// identifier and name), the buyer (likewise), the buyer's purchase order number, the currency,
// each line (line number, description as item name, quantity in unit C62 "one", net unit price,
// line amount, VAT category) and the totals. Amounts are decimals with the currency's ISO 4217
// minor digits (123.45 EUR, 1000 JPY); quantities are whole numbers.
//
// # VAT
//
// Orders carry no VAT: no rate, no tax amount, no VAT identifiers. The documents therefore use
// the one VAT category that needs none of these: "O", services outside the scope of tax, with
// the exemption reason "Not subject to VAT" and code VATEX-EU-O. Every line is in category O
// without a rate (BR-O-05), the VAT breakdown has the invoice total as basis and 0 as tax
// (BR-O-09), and the total tax is 0. Categories "E" (exempt) and "Z" (zero rated) were not
// chosen: both require the seller's VAT identifier (BR-E-02, BR-Z-02), which the data lacks.
// When vendors charge VAT, the order has to carry the rate, the category and the VAT
// identifiers, and this package a breakdown per category.
//
// # Missing for full EN 16931
//
// The XML is valid against the official schemas (tested), but not every EN 16931 business rule
// can hold, because the order lacks the data. Run by hand (with Saxon-HE; not part of the
// tests), the CEN EN 16931 CII Schematron v1.3.16 reports exactly these fatal errors:
//   - BR-08, BR-09, BR-10, BR-11: the seller's and the buyer's postal address (BG-5, BG-8) with
//     at least a country code (BT-40, BT-55). No address is written, and none is made up.
//   - BR-DEC-09, -12, -14, -18, -23 (only for currencies with three minor digits: BHD, KWD, TND…):
//     amounts have at most two decimals. They are written with the currency's three.
//
// The Factur-X 1.09 EN 16931 Schematron reports the same (with BR-DEC-19 and -20 too), plus
// FX-SCH-A-000032 and -000419 (the postal addresses again) and the warning PEPPOL-EN16931-R008 (the empty, schema-required
// ApplicableHeaderTradeDelivery: there is no delivery date or place to put in it). Further gaps
// that no Schematron reports:
//   - The parties' names (BT-27, BT-44) should be their registered names; the company IDs stand
//     in for them, and the IDs carry no scheme (BT-29, BT-46).
//   - EN 16931 asks for a payment due date (BT-9) or payment terms (BT-20) when an amount is
//     due (BR-CO-25, which the CII Schematron v1.3.16 does not test); neither is known.
//   - Payment means (BG-16, e.g. the vendor's IBAN) are optional and absent.
//   - The unit of measure is always C62 ("one"): orders have no unit.
package einvoice

import (
	"encoding/xml"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/k2kinvoice/autoinvoice/internal/invoice"
)

// FileName is the name that Factur-X and ZUGFeRD 2 give the XML attached to the PDF.
const FileName = "factur-x.xml"

// The UN/UNECE codes the documents use.
const (
	guideline       = "urn:cen.eu:en16931:2017" // BT-24: the EN 16931 profile (Factur-X "EN 16931", ZUGFeRD "COMFORT")
	typeInvoice     = "380"                     // UNTDID 1001: commercial invoice
	typeCreditNote  = "381"                     // UNTDID 1001: credit note
	dateFormat      = "102"                     // UNTDID 2379: CCYYMMDD
	unitOne         = "C62"                     // UN/ECE Rec 20: one (a unit of count)
	taxTypeVAT      = "VAT"                     // UNTDID 5153
	vatOutOfScope   = "O"                       // UNCL 5305: services outside scope of tax
	exemptionCode   = "VATEX-EU-O"              // CEF VATEX: not subject to VAT
	exemptionReason = "Not subject to VAT"
)

// Invoice returns the CII XML of order o's invoice (type 380). The order must be valid; the
// output is deterministic.
func Invoice(o invoice.Order) ([]byte, error) {
	if err := o.Validate(); err != nil {
		return nil, fmt.Errorf("e-invoice of invoice %q: %w", o.InvoiceNumber, err)
	}
	doc, err := document(o, o.InvoiceNumber, typeInvoice, o.IssueDate, o.Currency, o.Lines, o.TotalMinor)
	if err != nil {
		return nil, fmt.Errorf("e-invoice of invoice %q: %w", o.InvoiceNumber, err)
	}
	return encode(doc)
}

// CreditNote returns the CII XML of credit note c (type 381) against the invoice of order o: the
// parties and purchase order are the invoice's, the credited invoice's number and date are its
// preceding invoice reference (BG-3), and the reason is a note. Both must be valid; the output is
// deterministic.
func CreditNote(c invoice.CreditNote, o invoice.Order) ([]byte, error) {
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("e-invoice of credit note %q: %w", c.Number, err)
	}
	if err := o.Validate(); err != nil {
		return nil, fmt.Errorf("e-invoice of credit note %q: credited invoice: %w", c.Number, err)
	}
	doc, err := document(o, c.Number, typeCreditNote, c.IssueDate, c.Currency, c.Lines, c.TotalMinor)
	if err != nil {
		return nil, fmt.Errorf("e-invoice of credit note %q: %w", c.Number, err)
	}
	invoiceDate, err := date(o.IssueDate)
	if err != nil {
		return nil, fmt.Errorf("e-invoice of credit note %q: credited invoice: %w", c.Number, err)
	}
	doc.Document.Notes = []note{{Content: c.Reason}}
	doc.Transaction.Settlement.Preceding = &referencedDocument{IssuerAssignedID: o.InvoiceNumber, IssueDate: invoiceDate}
	return encode(doc)
}

// document builds what invoices and credit notes share: the parties and purchase order of o,
// and the given number, type, date, currency, lines and total.
func document(o invoice.Order, number, typeCode, issueDate, currency string, lines []invoice.Line, total int64) (crossIndustryInvoice, error) {
	issued, err := date(issueDate)
	if err != nil {
		return crossIndustryInvoice{}, err
	}
	digits := invoice.MinorDigits(currency)
	totalText := decimal(total, digits)
	return crossIndustryInvoice{
		RSM: "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
		RAM: "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
		QDT: "urn:un:unece:uncefact:data:standard:QualifiedDataType:100",
		UDT: "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100",

		Context:  documentContext{Guideline: guideline},
		Document: exchangedDocument{ID: number, TypeCode: typeCode, IssueDateTime: issued},
		Transaction: transaction{
			Lines: lineItems(lines, digits),
			Agreement: headerAgreement{
				Seller:     tradeParty{ID: o.VendorID, Name: o.VendorID},
				Buyer:      tradeParty{ID: o.BuyerID, Name: o.BuyerID},
				BuyerOrder: o.PONumber,
			},
			Settlement: headerSettlement{
				Currency: currency,
				Tax: tradeTax{
					CalculatedAmount: decimal(0, digits), TypeCode: taxTypeVAT, ExemptionReason: exemptionReason,
					BasisAmount: totalText, CategoryCode: vatOutOfScope, ExemptionReasonCode: exemptionCode,
				},
				Totals: monetarySummation{
					LineTotal: totalText, TaxBasisTotal: totalText,
					TaxTotal:   currencyAmount{Currency: currency, Value: decimal(0, digits)},
					GrandTotal: totalText, DuePayable: totalText,
				},
			},
		},
	}, nil
}

// lineItems numbers the lines from 1 and writes their prices and amounts with digits decimals.
func lineItems(lines []invoice.Line, digits int) []lineItem {
	items := make([]lineItem, len(lines))
	for i, l := range lines {
		items[i] = lineItem{
			LineID:   strconv.Itoa(i + 1),
			Name:     l.Description,
			NetPrice: decimal(l.UnitPriceMinor, digits),
			Quantity: quantity{Unit: unitOne, Value: strconv.FormatInt(l.Quantity, 10)},
			Settlement: lineSettlement{
				Tax:   tradeTax{TypeCode: taxTypeVAT, CategoryCode: vatOutOfScope},
				Total: decimal(l.LineAmount(), digits),
			},
		}
	}
	return items
}

// date turns a YYYY-MM-DD date into a CII date of format 102 (YYYYMMDD).
func date(isoDate string) (dateTime, error) {
	d, err := time.Parse(time.DateOnly, isoDate)
	if err != nil {
		return dateTime{}, fmt.Errorf("issue date %q is not YYYY-MM-DD", isoDate)
	}
	return dateTime{Format: dateFormat, Value: d.Format("20060102")}, nil
}

// decimal writes a non-negative amount of minor units as a decimal with digits places:
// decimal(12345, 2) is "123.45", decimal(5, 2) "0.05", decimal(1000, 0) "1000".
func decimal(minor int64, digits int) string {
	s := strconv.FormatInt(minor, 10)
	if digits == 0 {
		return s
	}
	if short := digits + 1 - len(s); short > 0 {
		s = strings.Repeat("0", short) + s
	}
	return s[:len(s)-digits] + "." + s[len(s)-digits:]
}

// encode writes the document as indented UTF-8 XML with its declaration.
func encode(doc crossIndustryInvoice) ([]byte, error) {
	body, err := xml.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode e-invoice: %w", err)
	}
	return append(append([]byte(xml.Header), body...), '\n'), nil
}

package invoice

import (
	"fmt"
	"io"
	"regexp"
	"time"
)

// Limits on an order's text and size. They keep a single order well inside a Temporal payload
// and a PDF page budget; a real order with more lines is split by the ERP.
const (
	MaxLines          = 500
	MaxNumberLen      = 64
	MaxDescriptionLen = 200
)

// companyIDPattern is what the ERP uses as company codes. Company IDs go into workflow IDs and S3
// keys, so they stay within a safe alphabet.
var companyIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// Order is a confirmed K2K order as the vendor's backend sends it: the business key (vendor,
// buyer, PO number), the invoice it becomes, and its lines. Money is integer minor units of
// Currency (cents for EUR), never floats.
type Order struct {
	VendorID      string `json:"vendor_id"`
	BuyerID       string `json:"buyer_id"`
	PONumber      string `json:"po_number"`
	InvoiceNumber string `json:"invoice_number"`
	IssueDate     string `json:"issue_date"` // YYYY-MM-DD
	Currency      string `json:"currency"`
	TotalMinor    int64  `json:"total_minor"`
	POTotalMinor  int64  `json:"po_total_minor"`
	Lines         []Line `json:"lines"`
}

// Line is one order line. Its amount is Quantity × UnitPriceMinor; the lines add up to the total.
type Line struct {
	Description    string `json:"description"`
	Quantity       int64  `json:"quantity"`
	UnitPriceMinor int64  `json:"unit_price_minor"`
}

// Discrepancy is the invoice total minus the PO total: positive when the vendor invoices more than
// was ordered. It is reported to the buyer, and blocks approve only beyond the buyer's tolerance (Tolerance).
func (o Order) Discrepancy() int64 { return o.TotalMinor - o.POTotalMinor }

// DecodeOrder reads one order from JSON and validates it. Every error is a *ValidationError naming
// the field and the rule, including JSON that does not parse, unknown fields and numbers that are
// not integers or do not fit in int64.
func DecodeOrder(r io.Reader) (Order, error) {
	var o Order
	if err := DecodeStrict(r, &o); err != nil {
		return Order{}, err
	}
	if err := o.Validate(); err != nil {
		return Order{}, err
	}
	return o, nil
}

// Validate checks every rule of an order and reports all broken ones at once.
func (o Order) Validate() error {
	v := &ValidationError{}
	checkCompanyID(v, "vendor_id", o.VendorID)
	checkCompanyID(v, "buyer_id", o.BuyerID)
	if o.VendorID != "" && o.VendorID == o.BuyerID {
		v.add("buyer_id", "must differ from vendor_id")
	}
	checkText(v, "po_number", o.PONumber, MaxNumberLen)
	if o.POTotalMinor <= 0 {
		v.add("po_total_minor", "must be greater than zero")
	}
	checkInvoice(v, "", o.InvoiceNumber, o.IssueDate, o.Currency, o.TotalMinor, o.Lines)
	return v.orNil()
}

// checkInvoice checks the invoice's own content, the part a vendor update replaces; field names
// start with prefix.
func checkInvoice(v *ValidationError, prefix, number, issueDate, currency string, total int64, lines []Line) {
	checkText(v, prefix+"invoice_number", number, MaxNumberLen)
	if _, err := time.Parse(time.DateOnly, issueDate); err != nil {
		v.add(prefix+"issue_date", "must be a calendar date as YYYY-MM-DD")
	}
	if rule := CheckCurrency(currency); rule != "" {
		v.add(prefix+"currency", rule)
	}
	if total <= 0 {
		v.add(prefix+"total_minor", "must be greater than zero")
	}
	checkLines(v, prefix, total, lines)
}

// checkLines validates each line and that the lines add up to the total without overflowing.
func checkLines(v *ValidationError, prefix string, total int64, lines []Line) {
	switch {
	case len(lines) == 0:
		v.add(prefix+"lines", "must hold at least one line")
		return
	case len(lines) > MaxLines:
		v.add(prefix+"lines", fmt.Sprintf("must hold at most %d lines", MaxLines))
		return
	}
	var sum int64
	sumOK := true
	for i, l := range lines {
		field := fmt.Sprintf("%slines[%d]", prefix, i)
		checkText(v, field+".description", l.Description, MaxDescriptionLen)
		if l.Quantity <= 0 {
			v.add(field+".quantity", "must be greater than zero")
			sumOK = false
			continue
		}
		if l.UnitPriceMinor < 0 {
			v.add(field+".unit_price_minor", "must not be negative")
			sumOK = false
			continue
		}
		amount, ok := mulMinor(l.Quantity, l.UnitPriceMinor)
		if !ok {
			v.add(field, "quantity × unit_price_minor overflows a signed 64-bit integer")
			sumOK = false
			continue
		}
		if sum, ok = addMinor(sum, amount); !ok {
			v.add(prefix+"lines", "the sum of the lines overflows a signed 64-bit integer")
			return
		}
	}
	if sumOK && total > 0 && sum != total {
		v.add(prefix+"total_minor", fmt.Sprintf("must equal the sum of the lines (%d), got %d", sum, total))
	}
}

// LineAmount is a line's amount in minor units. Valid orders never overflow.
func (l Line) LineAmount() int64 {
	amount, _ := mulMinor(l.Quantity, l.UnitPriceMinor)
	return amount
}

func checkCompanyID(v *ValidationError, field, id string) {
	switch {
	case id == "":
		v.add(field, "is required")
	case !companyIDPattern.MatchString(id):
		v.add(field, "must be 1-64 characters of letters, digits, '.', '_' or '-', starting with a letter or digit")
	}
}

// CheckCompanyID returns a field error when id is not a valid company ID.
func CheckCompanyID(field, id string) error {
	v := &ValidationError{}
	checkCompanyID(v, field, id)
	return v.orNil()
}

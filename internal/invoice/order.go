package invoice

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
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
// was ordered. It is reported to the buyer, never blocking.
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

// DecodeStrict reads exactly one JSON object into v, refusing unknown fields and anything after
// the object. Every error is a *ValidationError naming the field and the rule.
func DecodeStrict(r io.Reader, v any) error {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return &ValidationError{Fields: []FieldError{{Field: "body", Rule: "must hold exactly one JSON object, with nothing after it"}}}
	}
	return nil
}

// decodeError turns encoding/json's errors into field errors.
func decodeError(err error) error {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	field, rule := "body", "is not valid JSON: "+err.Error()
	switch {
	case errors.As(err, &typeErr):
		field = typeErr.Field
		if field == "" {
			field = "body"
		}
		rule = "must be " + jsonTypeName(typeErr.Type.Kind().String()) + ", not " + typeErr.Value
		if strings.HasPrefix(typeErr.Value, "number") && typeErr.Type.Kind().String() == "int64" {
			rule = "must be a whole number of minor units that fits in a signed 64-bit integer"
		}
	case errors.As(err, &syntaxErr):
		rule = fmt.Sprintf("is not valid JSON at byte %d: %v", syntaxErr.Offset, syntaxErr)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field = strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		rule = "is not a known field"
	case errors.Is(err, io.EOF):
		rule = "is empty; expected a JSON object"
	case errors.Is(err, io.ErrUnexpectedEOF):
		rule = "is cut short: the JSON ends before the object does"
	}
	return &ValidationError{Fields: []FieldError{{Field: field, Rule: rule}}}
}

func jsonTypeName(kind string) string {
	switch kind {
	case "int64":
		return "a whole number"
	case "string":
		return "a string"
	case "slice":
		return "an array"
	case "struct":
		return "an object"
	}
	return "a " + kind
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
	checkText(v, "invoice_number", o.InvoiceNumber, MaxNumberLen)
	if _, err := time.Parse(time.DateOnly, o.IssueDate); err != nil {
		v.add("issue_date", "must be a calendar date as YYYY-MM-DD")
	}
	if rule := CheckCurrency(o.Currency); rule != "" {
		v.add("currency", rule)
	}
	if o.TotalMinor <= 0 {
		v.add("total_minor", "must be greater than zero")
	}
	if o.POTotalMinor <= 0 {
		v.add("po_total_minor", "must be greater than zero")
	}
	o.checkLines(v)
	return v.orNil()
}

// checkLines validates each line and that the lines add up to the total without overflowing.
func (o Order) checkLines(v *ValidationError) {
	switch {
	case len(o.Lines) == 0:
		v.add("lines", "must hold at least one line")
		return
	case len(o.Lines) > MaxLines:
		v.add("lines", fmt.Sprintf("must hold at most %d lines", MaxLines))
		return
	}
	var sum int64
	sumOK := true
	for i, l := range o.Lines {
		field := fmt.Sprintf("lines[%d]", i)
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
			v.add("lines", "the sum of the lines overflows a signed 64-bit integer")
			return
		}
	}
	if sumOK && o.TotalMinor > 0 && sum != o.TotalMinor {
		v.add("total_minor", fmt.Sprintf("must equal the sum of the lines (%d), got %d", sum, o.TotalMinor))
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

// checkText requires a non-empty, trimmed, printable string of at most max characters.
func checkText(v *ValidationError, field, s string, max int) {
	switch {
	case s == "":
		v.add(field, "is required")
	case !utf8.ValidString(s):
		v.add(field, "must be valid UTF-8")
	case utf8.RuneCountInString(s) > max:
		v.add(field, fmt.Sprintf("must be at most %d characters", max))
	case strings.TrimSpace(s) != s:
		v.add(field, "must not start or end with white space")
	case strings.IndexFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0:
		v.add(field, "must not contain control or non-printable characters")
	}
}

// checkFreeText returns the rule an optional free-text value breaks, or "": valid UTF-8, no
// control characters but line breaks and tabs (PostgreSQL refuses NUL), at most max characters.
func checkFreeText(s string, max int) string {
	switch {
	case !utf8.ValidString(s):
		return "must be valid UTF-8"
	case utf8.RuneCountInString(s) > max:
		return fmt.Sprintf("must be at most %d characters", max)
	case strings.IndexFunc(s, func(r rune) bool { return unicode.IsControl(r) && r != '\n' && r != '\t' }) >= 0:
		return "must not contain control characters other than line breaks and tabs"
	}
	return ""
}

// CheckCompanyID returns a field error when id is not a valid company ID.
func CheckCompanyID(field, id string) error {
	v := &ValidationError{}
	checkCompanyID(v, field, id)
	return v.orNil()
}

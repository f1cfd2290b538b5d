package invoice

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
)

// validOrder is an order that breaks no rule: 1 × 123.45 + 2 × 10.00 = 143.45 EUR.
func validOrder() Order {
	return Order{
		VendorID:      "ACME-01",
		BuyerID:       "BUYCO_2",
		PONumber:      "PO-2026-0001",
		InvoiceNumber: "INV-7",
		IssueDate:     "2026-03-15",
		Currency:      "EUR",
		TotalMinor:    14345,
		POTotalMinor:  14000,
		Lines: []Line{
			{Description: "Widget", Quantity: 1, UnitPriceMinor: 12345},
			{Description: "Bolt", Quantity: 2, UnitPriceMinor: 1000},
		},
	}
}

// validJSON is validOrder as the vendor's backend sends it.
const validJSON = `{
  "vendor_id": "ACME-01",
  "buyer_id": "BUYCO_2",
  "po_number": "PO-2026-0001",
  "invoice_number": "INV-7",
  "issue_date": "2026-03-15",
  "currency": "EUR",
  "total_minor": 14345,
  "po_total_minor": 14000,
  "lines": [
    {"description": "Widget", "quantity": 1, "unit_price_minor": 12345},
    {"description": "Bolt", "quantity": 2, "unit_price_minor": 1000}
  ]
}`

// orderJSON returns validJSON with some top-level fields replaced (raw JSON values) or removed
// (nil), so a case states only what it changes.
func orderJSON(t *testing.T, change map[string]any) string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(validJSON), &m); err != nil {
		t.Fatalf("validJSON: %v", err)
	}
	for k, v := range change {
		if v == nil {
			delete(m, k)
			continue
		}
		m[k] = json.RawMessage(v.(string))
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatalf("orderJSON: %v", err)
	}
	return string(b)
}

// fieldErrors returns the field errors of err, failing the test when err is not a *ValidationError.
func fieldErrors(t *testing.T, err error) []FieldError {
	t.Helper()
	if err == nil {
		t.Fatal("got no error, want a *ValidationError")
	}
	var v *ValidationError
	if !errors.As(err, &v) {
		t.Fatalf("got %T (%v), want a *ValidationError", err, err)
	}
	if !IsValidation(err) || !IsValidation(fmt.Errorf("wrapped: %w", err)) {
		t.Errorf("IsValidation(%v) = false, want true (also when wrapped)", err)
	}
	return v.Fields
}

// wantOneFieldError checks that err reports exactly one broken rule, on field, with phrase in it.
func wantOneFieldError(t *testing.T, err error, field, phrase string) {
	t.Helper()
	fields := fieldErrors(t, err)
	if len(fields) != 1 {
		t.Fatalf("got %d field errors %v, want exactly one on %q", len(fields), fields, field)
	}
	if fields[0].Field != field {
		t.Errorf("Field = %q, want %q (rule %q)", fields[0].Field, field, fields[0].Rule)
	}
	if !strings.Contains(fields[0].Rule, phrase) {
		t.Errorf("Rule = %q, want it to contain %q", fields[0].Rule, phrase)
	}
}

func TestDecodeOrderValid(t *testing.T) {
	for _, tc := range []struct {
		name string
		body string
	}{
		{"as sent", validJSON},
		{"trailing white space", validJSON + "\n\t "},
		{"leading white space", "\n  " + validJSON},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeOrder(strings.NewReader(tc.body))
			if err != nil {
				t.Fatalf("DecodeOrder: %v", err)
			}
			if want := validOrder(); !reflect.DeepEqual(got, want) {
				t.Errorf("DecodeOrder = %+v, want %+v", got, want)
			}
		})
	}
}

func TestValidateValid(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(o *Order)
	}{
		{"as is", func(*Order) {}},
		{"free line (zero unit price)", func(o *Order) {
			o.Lines = append(o.Lines, Line{Description: "Sample", Quantity: 3, UnitPriceMinor: 0})
		}},
		{"64-character numbers and company ids", func(o *Order) {
			o.PONumber = strings.Repeat("P", MaxNumberLen)
			o.InvoiceNumber = strings.Repeat("I", MaxNumberLen)
			o.VendorID = strings.Repeat("v", 64)
			o.BuyerID = strings.Repeat("b", 64)
		}},
		{"non-ASCII printable text", func(o *Order) { o.Lines[0].Description = "Schraube Ø 5 mm – Größe M" }},
		{"exactly MaxLines lines", func(o *Order) {
			o.Lines = make([]Line, MaxLines)
			for i := range o.Lines {
				o.Lines[i] = Line{Description: "Item", Quantity: 1, UnitPriceMinor: 100}
			}
			o.TotalMinor = MaxLines * 100
		}},
		{"JPY", func(o *Order) { o.Currency = "JPY" }},
		{"leap day", func(o *Order) { o.IssueDate = "2028-02-29" }},
		{"PO total differs from invoice total", func(o *Order) { o.POTotalMinor = 99999999 }},
		{"largest amount", func(o *Order) {
			o.Lines = []Line{{Description: "Everything", Quantity: 1, UnitPriceMinor: math.MaxInt64}}
			o.TotalMinor = math.MaxInt64
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := validOrder()
			tc.mutate(&o)
			if err := o.Validate(); err != nil {
				t.Errorf("Validate: %v, want nil", err)
			}
		})
	}
}

func TestValidateRules(t *testing.T) {
	half := int64(math.MaxInt64/2 + 1)
	for _, tc := range []struct {
		name   string
		mutate func(o *Order)
		field  string
		phrase string
	}{
		// Required fields.
		{"missing vendor_id", func(o *Order) { o.VendorID = "" }, "vendor_id", "is required"},
		{"missing buyer_id", func(o *Order) { o.BuyerID = "" }, "buyer_id", "is required"},
		{"missing po_number", func(o *Order) { o.PONumber = "" }, "po_number", "is required"},
		{"missing invoice_number", func(o *Order) { o.InvoiceNumber = "" }, "invoice_number", "is required"},
		{"missing issue_date", func(o *Order) { o.IssueDate = "" }, "issue_date", "YYYY-MM-DD"},
		{"missing currency", func(o *Order) { o.Currency = "" }, "currency", "ISO 4217"},
		{"missing total_minor", func(o *Order) { o.TotalMinor = 0 }, "total_minor", "greater than zero"},
		{"missing po_total_minor", func(o *Order) { o.POTotalMinor = 0 }, "po_total_minor", "greater than zero"},
		{"missing lines", func(o *Order) { o.Lines = nil }, "lines", "at least one line"},
		{"empty lines", func(o *Order) { o.Lines = []Line{} }, "lines", "at least one line"},

		// Companies.
		{"vendor is buyer", func(o *Order) { o.BuyerID = o.VendorID }, "buyer_id", "must differ from vendor_id"},
		{"space in vendor_id", func(o *Order) { o.VendorID = "ACME CO" }, "vendor_id", "letters, digits"},
		{"slash in buyer_id", func(o *Order) { o.BuyerID = "BUY/CO" }, "buyer_id", "letters, digits"},
		{"vendor_id starts with dash", func(o *Order) { o.VendorID = "-ACME" }, "vendor_id", "starting with a letter or digit"},
		{"non-ASCII buyer_id", func(o *Order) { o.BuyerID = "BÜYCO" }, "buyer_id", "letters, digits"},
		{"65-character vendor_id", func(o *Order) { o.VendorID = strings.Repeat("v", 65) }, "vendor_id", "1-64 characters"},

		// Amounts.
		{"zero total", func(o *Order) { o.TotalMinor = 0 }, "total_minor", "greater than zero"},
		{"negative total", func(o *Order) { o.TotalMinor = -14345 }, "total_minor", "greater than zero"},
		{"negative PO total", func(o *Order) { o.POTotalMinor = -1 }, "po_total_minor", "greater than zero"},
		{"negative unit price", func(o *Order) { o.Lines[1].UnitPriceMinor = -1000 }, "lines[1].unit_price_minor", "must not be negative"},
		{"zero quantity", func(o *Order) { o.Lines[0].Quantity = 0 }, "lines[0].quantity", "greater than zero"},
		{"negative quantity", func(o *Order) { o.Lines[1].Quantity = -2 }, "lines[1].quantity", "greater than zero"},
		{"lines do not add up", func(o *Order) { o.TotalMinor = 14346 }, "total_minor", "must equal the sum of the lines (14345)"},
		{"line amount overflows", func(o *Order) {
			o.Lines = []Line{{Description: "Big", Quantity: 2, UnitPriceMinor: half}}
		}, "lines[0]", "overflows a signed 64-bit integer"},
		{"line amount overflows at the edge", func(o *Order) {
			o.Lines = []Line{{Description: "Big", Quantity: math.MaxInt64, UnitPriceMinor: math.MaxInt64}}
		}, "lines[0]", "overflows"},
		{"sum of lines overflows", func(o *Order) {
			o.Lines = []Line{
				{Description: "Half", Quantity: 1, UnitPriceMinor: half},
				{Description: "Half", Quantity: 1, UnitPriceMinor: half},
			}
		}, "lines", "sum of the lines overflows"},

		// Currency.
		{"unknown currency", func(o *Order) { o.Currency = "XYZ" }, "currency", "is not an ISO 4217 currency code"},
		{"lower-case currency", func(o *Order) { o.Currency = "eur" }, "currency", "three upper-case letters"},
		{"currency too long", func(o *Order) { o.Currency = "EURO" }, "currency", "three upper-case letters"},

		// Text fields.
		{"control character in po_number", func(o *Order) { o.PONumber = "PO-\x07-1" }, "po_number", "control or non-printable"},
		{"NUL in po_number", func(o *Order) { o.PONumber = "PO\x001" }, "po_number", "control or non-printable"},
		{"newline inside invoice_number", func(o *Order) { o.InvoiceNumber = "INV\n7" }, "invoice_number", "control or non-printable"},
		{"65-character po_number", func(o *Order) { o.PONumber = strings.Repeat("9", MaxNumberLen+1) }, "po_number", "at most 64 characters"},
		{"65-rune po_number", func(o *Order) { o.PONumber = strings.Repeat("é", MaxNumberLen+1) }, "po_number", "at most 64 characters"},
		{"leading space in invoice_number", func(o *Order) { o.InvoiceNumber = " INV-7" }, "invoice_number", "white space"},
		{"trailing space in invoice_number", func(o *Order) { o.InvoiceNumber = "INV-7 " }, "invoice_number", "white space"},
		{"invalid UTF-8 in po_number", func(o *Order) { o.PONumber = "PO\xff" }, "po_number", "valid UTF-8"},
		{"missing line description", func(o *Order) { o.Lines[1].Description = "" }, "lines[1].description", "is required"},
		{"over-long line description", func(o *Order) {
			o.Lines[0].Description = strings.Repeat("d", MaxDescriptionLen+1)
		}, "lines[0].description", "at most 200 characters"},

		// Dates.
		{"February 30th", func(o *Order) { o.IssueDate = "2026-02-30" }, "issue_date", "calendar date"},
		{"not a leap year", func(o *Order) { o.IssueDate = "2026-02-29" }, "issue_date", "calendar date"},
		{"day first", func(o *Order) { o.IssueDate = "15.03.2026" }, "issue_date", "YYYY-MM-DD"},
		{"date with time", func(o *Order) { o.IssueDate = "2026-03-15T10:00:00Z" }, "issue_date", "YYYY-MM-DD"},

		// Size.
		{"too many lines", func(o *Order) {
			o.Lines = make([]Line, MaxLines+1)
			for i := range o.Lines {
				o.Lines[i] = Line{Description: "Item", Quantity: 1, UnitPriceMinor: 1}
			}
			o.TotalMinor = MaxLines + 1
		}, "lines", "at most 500 lines"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := validOrder()
			tc.mutate(&o)
			wantOneFieldError(t, o.Validate(), tc.field, tc.phrase)
		})
	}
}

func TestValidateReportsEveryBrokenRule(t *testing.T) {
	o := validOrder()
	o.VendorID = ""
	o.PONumber = " PO"
	o.Currency = "eur"
	o.TotalMinor = -5
	o.Lines[0].Quantity = 0
	o.Lines[1].UnitPriceMinor = -1
	fields := fieldErrors(t, o.Validate())
	want := []string{"vendor_id", "po_number", "currency", "total_minor", "lines[0].quantity", "lines[1].unit_price_minor"}
	var got []string
	for _, f := range fields {
		got = append(got, f.Field)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("fields = %v, want %v", got, want)
	}
	var v *ValidationError
	errors.As(o.Validate(), &v)
	msg := v.Error()
	if !strings.HasPrefix(msg, "invalid input: ") || !strings.Contains(msg, "vendor_id: is required; ") ||
		!strings.Contains(msg, "lines[1].unit_price_minor: must not be negative") {
		t.Errorf("Error() = %q, want every field and rule listed", msg)
	}
}

func TestDecodeOrderRules(t *testing.T) {
	for _, tc := range []struct {
		name   string
		body   func(t *testing.T) string
		field  string
		phrase string
	}{
		// Each required field left out of the JSON.
		{"vendor_id left out", change(map[string]any{"vendor_id": nil}), "vendor_id", "is required"},
		{"buyer_id left out", change(map[string]any{"buyer_id": nil}), "buyer_id", "is required"},
		{"po_number left out", change(map[string]any{"po_number": nil}), "po_number", "is required"},
		{"invoice_number left out", change(map[string]any{"invoice_number": nil}), "invoice_number", "is required"},
		{"issue_date left out", change(map[string]any{"issue_date": nil}), "issue_date", "YYYY-MM-DD"},
		{"currency left out", change(map[string]any{"currency": nil}), "currency", "ISO 4217"},
		{"total_minor left out", change(map[string]any{"total_minor": nil}), "total_minor", "greater than zero"},
		{"po_total_minor left out", change(map[string]any{"po_total_minor": nil}), "po_total_minor", "greater than zero"},
		{"lines left out", change(map[string]any{"lines": nil}), "lines", "at least one line"},
		{"lines null", change(map[string]any{"lines": `null`}), "lines", "at least one line"},

		// Numbers.
		{"number too big for int64", change(map[string]any{"total_minor": `99999999999999999999`}), "total_minor", "64-bit"},
		{"number just past int64", change(map[string]any{"po_total_minor": `9223372036854775808`}), "po_total_minor", "64-bit"},
		{"fractional amount", change(map[string]any{"total_minor": `12.5`}), "total_minor", "whole number"},
		{"string for a number", change(map[string]any{"total_minor": `"14345"`}), "total_minor", "must be a whole number"},
		{"number for a string", change(map[string]any{"po_number": `12345`}), "po_number", "must be a string"},
		{"object for lines", change(map[string]any{"lines": `{}`}), "lines", "must be an array"},

		// Shape of the body.
		{"unknown field", change(map[string]any{"discount": `5`}), "discount", "is not a known field"},
		{"malformed JSON", lit(`{"vendor_id": "ACME-01",,}`), "body", "not valid JSON"},
		{"truncated JSON", lit(`{"vendor_id": "ACME-01"`), "body", "cut short"},
		{"empty body", lit(``), "body", "empty"},
		{"white space only", lit(" \n\t"), "body", "empty"},
		{"array instead of object", lit(`[]`), "body", "must be an object"},
		{"two JSON objects", lit(validJSON + validJSON), "body", "exactly one JSON object"},
		{"object then garbage", lit(validJSON + ` x`), "body", "exactly one JSON object"},

		// Validation after decoding.
		{"vendor is buyer", change(map[string]any{"buyer_id": `"ACME-01"`}), "buyer_id", "must differ"},
		{"lower-case currency", change(map[string]any{"currency": `"eur"`}), "currency", "upper-case"},
		{"unknown currency", change(map[string]any{"currency": `"XYZ"`}), "currency", "not an ISO 4217"},
		{"control character in po_number", change(map[string]any{"po_number": `"PO\u0007"`}), "po_number", "control"},
		{"65-character po_number", change(map[string]any{"po_number": `"` + strings.Repeat("x", 65) + `"`}), "po_number", "at most 64"},
		{"trailing space in invoice_number", change(map[string]any{"invoice_number": `"INV-7 "`}), "invoice_number", "white space"},
		{"February 30th", change(map[string]any{"issue_date": `"2026-02-30"`}), "issue_date", "calendar date"},
		{"negative total", change(map[string]any{"total_minor": `-1`}), "total_minor", "greater than zero"},
		{"lines do not add up", change(map[string]any{"total_minor": `14000`}), "total_minor", "sum of the lines"},
		{"negative unit price", change(map[string]any{"lines": `[{"description":"x","quantity":1,"unit_price_minor":-1}]`}),
			"lines[0].unit_price_minor", "must not be negative"},
		{"zero quantity", change(map[string]any{"lines": `[{"description":"x","quantity":0,"unit_price_minor":14345}]`}),
			"lines[0].quantity", "greater than zero"},
		{"line amount overflows", change(map[string]any{"lines": `[{"description":"x","quantity":3,"unit_price_minor":4611686018427387904}]`}),
			"lines[0]", "overflows"},
		{"sum of lines overflows", change(map[string]any{"lines": `[{"description":"a","quantity":1,"unit_price_minor":9223372036854775807},` +
			`{"description":"b","quantity":1,"unit_price_minor":1}]`}), "lines", "sum of the lines overflows"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := DecodeOrder(strings.NewReader(tc.body(t)))
			wantOneFieldError(t, err, tc.field, tc.phrase)
			if !reflect.DeepEqual(o, Order{}) {
				t.Errorf("DecodeOrder returned %+v with its error, want the zero Order", o)
			}
		})
	}
}

// TestDecodeOrderNestedTypeError documents where a type error inside a line is reported. The
// decoder knows the path but not the index, so the field is "lines.quantity" rather than the
// "lines[0].quantity" that FieldError's documentation promises (see the report).
func TestDecodeOrderNestedTypeError(t *testing.T) {
	body := orderJSON(t, map[string]any{"lines": `[{"description":"x","quantity":"1","unit_price_minor":14345}]`})
	fields := fieldErrors(t, decodeOnly(body))
	if len(fields) != 1 || !strings.HasPrefix(fields[0].Field, "lines") || !strings.HasSuffix(fields[0].Field, "quantity") ||
		!strings.Contains(fields[0].Rule, "whole number") {
		t.Errorf("fields = %v, want one error on the line's quantity saying it must be a whole number", fields)
	}
}

// TestDecodeOrderRejectsTrailingGarbage: a body that holds one order followed by a stray closing
// bracket or brace is not valid JSON and not "exactly one JSON object", so it must be refused.
func TestDecodeOrderRejectsTrailingGarbage(t *testing.T) {
	for _, tail := range []string{"]", "}", " ] "} {
		t.Run(fmt.Sprintf("%q", tail), func(t *testing.T) {
			_, err := DecodeOrder(strings.NewReader(validJSON + tail))
			if err == nil {
				t.Fatalf("DecodeOrder(valid order + %q) = nil error, want a *ValidationError on body", tail)
			}
			fields := fieldErrors(t, err)
			if len(fields) != 1 || fields[0].Field != "body" {
				t.Errorf("fields = %v, want one error on body", fields)
			}
		})
	}
}

func decodeOnly(body string) error {
	_, err := DecodeOrder(strings.NewReader(body))
	return err
}

// change builds a case body from validJSON with the given changes.
func change(c map[string]any) func(t *testing.T) string {
	return func(t *testing.T) string { return orderJSON(t, c) }
}

// lit builds a case body from a literal.
func lit(s string) func(t *testing.T) string {
	return func(*testing.T) string { return s }
}

func TestDiscrepancy(t *testing.T) {
	for _, tc := range []struct {
		total, po, want int64
	}{
		{14345, 14345, 0},
		{14345, 14000, 345},
		{14000, 14345, -345},
		{1, 100000, -99999},
	} {
		o := validOrder()
		o.TotalMinor, o.POTotalMinor = tc.total, tc.po
		if got := o.Discrepancy(); got != tc.want {
			t.Errorf("Discrepancy(total %d, PO %d) = %d, want %d", tc.total, tc.po, got, tc.want)
		}
	}
}

func TestLineAmount(t *testing.T) {
	for _, tc := range []struct {
		line Line
		want int64
	}{
		{Line{Quantity: 2, UnitPriceMinor: 1000}, 2000},
		{Line{Quantity: 7, UnitPriceMinor: 0}, 0},
		{Line{Quantity: 1, UnitPriceMinor: math.MaxInt64}, math.MaxInt64},
		{Line{Quantity: 2, UnitPriceMinor: math.MaxInt64}, 0}, // overflow: never in a valid order
	} {
		if got := tc.line.LineAmount(); got != tc.want {
			t.Errorf("%+v.LineAmount() = %d, want %d", tc.line, got, tc.want)
		}
	}
}

func TestFormatMoney(t *testing.T) {
	for _, tc := range []struct {
		minor int64
		code  string
		want  string
	}{
		{12345, "EUR", "123.45 EUR"},
		{5, "EUR", "0.05 EUR"},
		{100, "EUR", "1.00 EUR"},
		{0, "EUR", "0.00 EUR"},
		{-12345, "EUR", "-123.45 EUR"},
		{-5, "EUR", "-0.05 EUR"},
		{12345, "USD", "123.45 USD"},
		{12345, "JPY", "12345 JPY"},
		{0, "JPY", "0 JPY"},
		{-12345, "JPY", "-12345 JPY"},
		{12345, "KWD", "12.345 KWD"},
		{12345, "XYZ", "123.45 XYZ"}, // unknown code: two digits
		{math.MaxInt64, "EUR", "92233720368547758.07 EUR"},
		{math.MinInt64, "EUR", "-92233720368547758.08 EUR"},
		{math.MinInt64, "JPY", "-9223372036854775808 JPY"},
	} {
		t.Run(fmt.Sprintf("%d %s", tc.minor, tc.code), func(t *testing.T) {
			if got := FormatMoney(tc.minor, tc.code); got != tc.want {
				t.Errorf("FormatMoney(%d, %q) = %q, want %q", tc.minor, tc.code, got, tc.want)
			}
		})
	}
}

func TestMinorDigits(t *testing.T) {
	for code, want := range map[string]int{"EUR": 2, "USD": 2, "JPY": 0, "KWD": 3, "XYZ": 2, "": 2} {
		if got := MinorDigits(code); got != want {
			t.Errorf("MinorDigits(%q) = %d, want %d", code, got, want)
		}
	}
}

func TestCheckCurrency(t *testing.T) {
	for _, tc := range []struct {
		code   string
		phrase string // "" when valid
	}{
		{"EUR", ""},
		{"USD", ""},
		{"JPY", ""},
		{"CHF", ""},
		{"XYZ", "is not an ISO 4217 currency code"},
		{"ABC", "is not an ISO 4217 currency code"},
		{"eur", "three upper-case letters"},
		{"Eur", "three upper-case letters"},
		{"", "three upper-case letters"},
		{"EU", "three upper-case letters"},
		{"EURO", "three upper-case letters"},
		{" EUR", "three upper-case letters"},
		{"E1R", "three upper-case letters"},
		{"XOF", ""},
		{"XAU", "not a currency to invoice in"},
		{"XXX", "not a currency to invoice in"},
		{"XTS", "not a currency to invoice in"},
	} {
		t.Run(fmt.Sprintf("%q", tc.code), func(t *testing.T) {
			got := CheckCurrency(tc.code)
			switch {
			case tc.phrase == "" && got != "":
				t.Errorf("CheckCurrency(%q) = %q, want valid", tc.code, got)
			case tc.phrase != "" && !strings.Contains(got, tc.phrase):
				t.Errorf("CheckCurrency(%q) = %q, want it to contain %q", tc.code, got, tc.phrase)
			}
		})
	}
}

func TestCheckCompanyID(t *testing.T) {
	for _, tc := range []struct {
		id     string
		phrase string
	}{
		{"ACME", ""},
		{"a.b_c-9", ""},
		{"9ACME", ""},
		{"", "is required"},
		{"_ACME", "starting with a letter or digit"},
		{"AC ME", "letters, digits"},
		{strings.Repeat("x", 65), "1-64 characters"},
	} {
		err := CheckCompanyID("company", tc.id)
		if tc.phrase == "" {
			if err != nil {
				t.Errorf("CheckCompanyID(%q) = %v, want nil", tc.id, err)
			}
			continue
		}
		wantOneFieldError(t, err, "company", tc.phrase)
	}
}

func TestFieldErrorError(t *testing.T) {
	if got, want := (FieldError{Field: "lines[1].quantity", Rule: "must be greater than zero"}).Error(),
		"lines[1].quantity: must be greater than zero"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if IsValidation(errors.New("other")) || IsValidation(nil) {
		t.Error("IsValidation of a non-validation error = true, want false")
	}
}

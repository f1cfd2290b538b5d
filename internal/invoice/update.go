package invoice

import (
	"fmt"
	"regexp"
)

// InvoiceUpdate is a vendor's new revision of an invoice: its own invoice number, date, total and
// lines, and optionally its own PDF (staged in S3 by the client, like a confirmation's). The
// order's business key (vendor, buyer, PO number), its PO total and its currency do not change:
// Currency must repeat the invoice's.
type InvoiceUpdate struct {
	InvoiceNumber string `json:"invoice_number"`
	IssueDate     string `json:"issue_date"`
	Currency      string `json:"currency"`
	TotalMinor    int64  `json:"total_minor"`
	Lines         []Line `json:"lines"`
	StagingKey    string `json:"staging_key,omitempty"`
}

// stagingKeyPattern is the only form of key a vendor PDF may be read from: a staged upload,
// named by its SHA-256. Any other object of the bucket (another buyer's invoice) is out of reach.
var stagingKeyPattern = regexp.MustCompile(`^staging/[0-9a-f]{64}\.pdf$`)

// IsStagingKey reports whether key names a staged upload (staging/SHA256.pdf), the only place a
// vendor PDF is taken from.
func IsStagingKey(key string) bool { return stagingKeyPattern.MatchString(key) }

// check adds the update's broken rules to v, with field names under "update.".
func (u InvoiceUpdate) check(v *ValidationError) {
	checkInvoice(v, "update.", u.InvoiceNumber, u.IssueDate, u.Currency, u.TotalMinor, u.Lines)
	if u.StagingKey != "" && !IsStagingKey(u.StagingKey) {
		v.add("update.staging_key", "must be a staged upload: staging/ followed by the PDF's SHA-256 in hex and .pdf")
	}
}

// Revise returns order o as this update changes it, or a *ValidationError naming the update's
// broken fields ("update.total_minor"). An update may not change the invoice's currency: the PO
// total, and the discrepancy against it, are in the currency the order was confirmed in.
func (u InvoiceUpdate) Revise(o Order) (Order, error) {
	return u.revise(o, true)
}

// ReviseAnyCurrency is Revise as it was before the currency was fixed: it lets an update change
// the currency. Only invoices whose histories were made under that rule use it, so that they
// replay as they ran.
func (u InvoiceUpdate) ReviseAnyCurrency(o Order) (Order, error) {
	return u.revise(o, false)
}

func (u InvoiceUpdate) revise(o Order, keepCurrency bool) (Order, error) {
	v := &ValidationError{}
	u.check(v)
	if keepCurrency && u.Currency != o.Currency && CheckCurrency(u.Currency) == "" {
		v.add("update.currency", fmt.Sprintf("must stay %s, the invoice's currency: a vendor update cannot change it (the PO total is in %s)",
			o.Currency, o.Currency))
	}
	if err := v.orNil(); err != nil {
		return o, err
	}
	o.InvoiceNumber, o.IssueDate, o.Currency, o.TotalMinor, o.Lines = u.InvoiceNumber, u.IssueDate, u.Currency, u.TotalMinor, u.Lines
	return o, nil
}

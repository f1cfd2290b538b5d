package invoice

import "errors"

// InvoiceUpdate is a vendor's new revision of an invoice: its own invoice number, date, currency,
// total and lines, and optionally its own PDF (staged in S3 by the client, like a confirmation's).
// The order's business key (vendor, buyer, PO number) and PO total do not change.
type InvoiceUpdate struct {
	InvoiceNumber string `json:"invoice_number"`
	IssueDate     string `json:"issue_date"`
	Currency      string `json:"currency"`
	TotalMinor    int64  `json:"total_minor"`
	Lines         []Line `json:"lines"`
	StagingKey    string `json:"staging_key,omitempty"`
}

// Revise returns order o as this update changes it, validated with the order's rules. Field
// errors name the update's fields ("update.total_minor").
func (u InvoiceUpdate) Revise(o Order) (Order, error) {
	o.InvoiceNumber, o.IssueDate, o.Currency, o.TotalMinor, o.Lines = u.InvoiceNumber, u.IssueDate, u.Currency, u.TotalMinor, u.Lines
	err := o.Validate()
	var v *ValidationError
	if errors.As(err, &v) {
		for i := range v.Fields {
			v.Fields[i].Field = "update." + v.Fields[i].Field
		}
	}
	return o, err
}

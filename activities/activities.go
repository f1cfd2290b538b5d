// Package activities holds the invoice workflow's side effects: the eligibility check and the
// invoice rows in PostgreSQL, the PDF in S3-compatible storage. Every activity is idempotent, so
// Temporal may retry any of them after a crash or a timeout without a second invoice or object.
package activities

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/k2kinvoice/autoinvoice/internal/blob"
	"github.com/k2kinvoice/autoinvoice/internal/invoice"
	"github.com/k2kinvoice/autoinvoice/internal/metrics"
	"github.com/k2kinvoice/autoinvoice/internal/pdf"
	"github.com/k2kinvoice/autoinvoice/internal/store"
)

// Application error types of business refusals. They are non-retryable: retrying cannot change
// the answer, so the workflow handles them as outcomes.
const (
	ErrTypeInvalidPDF         = "InvalidPDF"
	ErrTypeInvoiceNumberTaken = "InvoiceNumberTaken"
	ErrTypeStatusConflict     = "StatusConflict"
	// ErrTypeNotPaid and ErrTypeOverCredit refuse a credit note against its invoice: the invoice
	// is not paid, or the note is for more than is still uncredited.
	ErrTypeNotPaid    = "InvoiceNotPaid"
	ErrTypeOverCredit = "OverCredit"
	// ErrTypeUnprocessable: PostgreSQL, the S3 server or the PDF renderer refused the data
	// itself. Retrying the same data cannot succeed, so the workflow records a refusal or a
	// rejected outcome instead of retrying without end.
	ErrTypeUnprocessable = "Unprocessable"
)

// permanent marks what retrying cannot fix as a non-retryable ErrTypeUnprocessable: values
// PostgreSQL refuses (data exceptions, integrity violations no business rule maps) and requests
// the S3 server calls malformed. Everything else (connection refused, timeouts, throttling,
// credentials, a missing bucket) comes back as it was and is retried until an operator repairs
// it; the pending activity's last failure shows it in the Temporal UI meanwhile.
func permanent(err error) error {
	if errors.Is(err, store.ErrInvalidData) || errors.Is(err, blob.ErrRejected) {
		return temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeUnprocessable, err)
	}
	return err
}

// Activities carries the activities' dependencies. Register a *Activities with the worker; the
// workflow refers to its methods through a nil *Activities, never by name strings.
type Activities struct {
	Store       *store.Store
	Blobs       *blob.Store
	MaxPDFBytes int64
}

// EligibilityInput names the two companies of an order.
type EligibilityInput struct {
	VendorID string `json:"vendor_id"`
	BuyerID  string `json:"buyer_id"`
}

// VerifyEligibility answers whether the order may become an invoice: the K2K connection is active
// and both companies opted in. Not eligible is a result, not an error. Read-only, so idempotent.
func (a *Activities) VerifyEligibility(ctx context.Context, in EligibilityInput) (invoice.Eligibility, error) {
	facts, err := a.Store.ConnectionFacts(ctx, in.VendorID, in.BuyerID)
	if err != nil {
		return invoice.Eligibility{}, permanent(err)
	}
	return invoice.DecideEligibility(facts), nil
}

// StorePDFInput says which PDF to store: the vendor's, waiting at StagingKey, or (when StagingKey
// is empty) one rendered from the order at RenderedAt.
type StorePDFInput struct {
	Order      invoice.Order `json:"order"`
	Revision   int           `json:"revision"`
	StagingKey string        `json:"staging_key,omitempty"`
	RenderedAt time.Time     `json:"rendered_at"`
}

// StorePDF places the invoice PDF at its final content-addressed key and returns where it is,
// with its size and SHA-256. Idempotent: the key is the content's digest, the put skips an
// object already there, and rendering is deterministic. A vendor file that is not a PDF or is too
// large is a non-retryable ErrTypeInvalidPDF.
func (a *Activities) StorePDF(ctx context.Context, in StorePDFInput) (invoice.Document, error) {
	return a.storePDF(ctx, in.StagingKey, func() ([]byte, error) { return pdf.Render(in.Order, in.Revision, in.RenderedAt) },
		func(digest string) string {
			return blob.InvoiceKey(in.Order.BuyerID, in.Order.VendorID, in.Order.InvoiceNumber, in.Revision, digest)
		})
}

// storePDF places a document's PDF at the key its digest names: the vendor's, waiting at
// stagingKey, or (when stagingKey is empty) the one render draws.
func (a *Activities) storePDF(ctx context.Context, stagingKey string, render func() ([]byte, error), keyOf func(digest string) string) (invoice.Document, error) {
	var data []byte
	source := invoice.PDFRendered
	if stagingKey != "" {
		if !invoice.IsStagingKey(stagingKey) {
			return invoice.Document{}, invalidPDF("staging key "+stagingKey+" is not a staged upload", nil)
		}
		source = invoice.PDFFromVendor
		var err error
		data, _, err = a.Blobs.Get(ctx, stagingKey, a.MaxPDFBytes)
		switch {
		case errors.Is(err, blob.ErrTooLarge):
			return invoice.Document{}, invalidPDF(fmt.Sprintf("must be at most %d bytes", a.MaxPDFBytes), err)
		case errors.Is(err, blob.ErrNotFound):
			return invoice.Document{}, invalidPDF("staged file "+stagingKey+" does not exist", err)
		case err != nil:
			return invoice.Document{}, permanent(err)
		}
		if rule := pdf.Check(data, a.MaxPDFBytes); rule != "" {
			return invoice.Document{}, invalidPDF(rule, nil)
		}
	} else {
		var err error
		if data, err = render(); err != nil {
			// Rendering is deterministic: the same document fails the same way every time.
			return invoice.Document{}, temporal.NewNonRetryableApplicationError("pdf: cannot render: "+err.Error(), ErrTypeUnprocessable, err)
		}
	}
	digest := blob.SHA256Hex(data)
	key := keyOf(digest)
	if err := a.Blobs.Put(ctx, key, data); err != nil {
		return invoice.Document{}, permanent(err)
	}
	activity.GetLogger(ctx).Info("PDF stored", "key", key, "bytes", len(data), "source", source)
	activity.GetMetricsHandler(ctx).WithTags(map[string]string{"source": string(source)}).
		Counter(metrics.PDFBytes).Inc(int64(len(data)))
	return invoice.Document{Key: key, Size: int64(len(data)), SHA256: digest, Source: source}, nil
}

func invalidPDF(rule string, cause error) error {
	return temporal.NewNonRetryableApplicationError("pdf: "+rule, ErrTypeInvalidPDF, cause)
}

// CreateInvoiceInput is the AP invoice to create and the event recording its creation.
type CreateInvoiceInput struct {
	WorkflowID string `json:"workflow_id"`
	// Confirmation numbers the order's confirmations (0 or 1: the first); a voided order
	// confirmed again gets a new invoice.
	Confirmation int `json:"confirmation,omitempty"`
	// Tolerance is the buyer's tolerance the order was confirmed under (nil: none).
	Tolerance *invoice.Tolerance `json:"tolerance,omitempty"`
	Order     invoice.Order      `json:"order"`
	Document  invoice.Document   `json:"document"`
	Event     invoice.Event      `json:"event"`
}

// CreateAPInvoice creates the invoice row in status AP with revision 1 and returns its ID.
// Idempotent on the workflow ID and confirmation. An invoice number the vendor already used for
// another invoice of this buyer (a voided one included) is a non-retryable ErrTypeInvoiceNumberTaken.
func (a *Activities) CreateAPInvoice(ctx context.Context, in CreateInvoiceInput) (int64, error) {
	n := store.NewInvoice{WorkflowID: in.WorkflowID, Confirmation: in.Confirmation, Order: in.Order, Document: in.Document, Event: in.Event}
	if in.Tolerance != nil {
		n.Tolerance = *in.Tolerance
	}
	inv, err := a.Store.InvoiceCreate(ctx, n)
	if errors.Is(err, store.ErrConflict) {
		return 0, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("invoice_number %q is already used by another invoice of vendor %s for buyer %s",
				in.Order.InvoiceNumber, in.Order.VendorID, in.Order.BuyerID),
			ErrTypeInvoiceNumberTaken, err)
	}
	if err != nil {
		return 0, permanent(err)
	}
	return inv.ID, nil
}

// RecordEvent appends an audit event and, for a transition, moves the invoice row's status
// guarded by the expected one. Idempotent on the event key. A row in another status than the
// workflow expects is a non-retryable ErrTypeStatusConflict (someone changed it outside).
func (a *Activities) RecordEvent(ctx context.Context, e invoice.Event) error {
	err := a.Store.EventRecord(ctx, e)
	if errors.Is(err, store.ErrConflict) {
		return temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeStatusConflict, err)
	}
	return permanent(err)
}

// ReviseInput is a vendor update to store: the revised order and its PDF as revision Revision,
// and the event recording it.
type ReviseInput struct {
	InvoiceID int64            `json:"invoice_id"`
	Revision  int              `json:"revision"`
	Order     invoice.Order    `json:"order"`
	Document  invoice.Document `json:"document"`
	Event     invoice.Event    `json:"event"`
}

// ReviseInvoice stores a vendor update as a new revision (the earlier ones and their PDFs stay)
// and puts the invoice back in AP with the warning set. Idempotent on the event key. A new
// invoice number already used by another invoice is a non-retryable ErrTypeInvoiceNumberTaken.
func (a *Activities) ReviseInvoice(ctx context.Context, in ReviseInput) error {
	err := a.Store.InvoiceRevise(ctx, store.InvoiceRevision{
		InvoiceID: in.InvoiceID, Revision: in.Revision, Order: in.Order, Document: in.Document, Event: in.Event,
	})
	if errors.Is(err, store.ErrConflict) {
		// Either the number is taken, or the row moved outside the workflow: tell them apart.
		current, rerr := a.Store.InvoiceGet(ctx, in.InvoiceID)
		if rerr != nil {
			return rerr // a read that failed says nothing yet: retry
		}
		if current.Status == in.Event.From && current.CurrentRevision == in.Revision-1 {
			return temporal.NewNonRetryableApplicationError(
				fmt.Sprintf("invoice_number %q is already used by another invoice of vendor %s for buyer %s",
					in.Order.InvoiceNumber, in.Order.VendorID, in.Order.BuyerID),
				ErrTypeInvoiceNumberTaken, err)
		}
		return temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeStatusConflict, err)
	}
	return permanent(err)
}

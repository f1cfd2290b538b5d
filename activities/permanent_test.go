package activities

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"go.temporal.io/sdk/temporal"

	"github.com/k2kinvoice/autoinvoice/internal/blob"
	"github.com/k2kinvoice/autoinvoice/internal/store"
)

// TestPermanent: what retrying cannot fix becomes a non-retryable Unprocessable error; outages
// and everything else come back unchanged, to be retried.
func TestPermanent(t *testing.T) {
	for _, tc := range []struct {
		name      string
		err       error
		permanent bool
	}{
		{"data PostgreSQL refuses", fmt.Errorf("event k: %w: invalid byte sequence", store.ErrInvalidData), true},
		{"request S3 refuses", fmt.Errorf("s3 put b/k: %w", blob.ErrRejected), true},
		{"connection refused", errors.New("dial tcp 127.0.0.1:5432: connect: connection refused"), false},
		{"object missing", fmt.Errorf("s3 get b/k: %w", blob.ErrNotFound), false},
	} {
		got := permanent(tc.err)
		var appErr *temporal.ApplicationError
		isPermanent := errors.As(got, &appErr) && appErr.Type() == ErrTypeUnprocessable && appErr.NonRetryable()
		if isPermanent != tc.permanent {
			t.Errorf("%s: permanent(%v) = %v, want permanent %v", tc.name, tc.err, got, tc.permanent)
		}
		if !tc.permanent && got != tc.err {
			t.Errorf("%s: the error was changed to %v", tc.name, got)
		}
	}
}

// TestStorePDFReadsOnlyStagedUploads: whatever a message names, StorePDF reads a vendor PDF only
// from a staged upload; any other key (another buyer's invoice) is refused before S3 is asked.
func TestStorePDFReadsOnlyStagedUploads(t *testing.T) {
	a := &Activities{} // no blob store: reaching S3 would panic
	for _, key := range []string{"invoices/OTHER/ACME/INV-1/r1/" + strings.Repeat("a", 64) + ".pdf",
		"staging/../invoices/x.pdf", "staging/" + strings.Repeat("A", 64) + ".pdf"} {
		_, err := a.StorePDF(context.Background(), StorePDFInput{StagingKey: key})
		var appErr *temporal.ApplicationError
		if !errors.As(err, &appErr) || appErr.Type() != ErrTypeInvalidPDF || !appErr.NonRetryable() {
			t.Errorf("StorePDF(%q) = %v, want a non-retryable %s", key, err, ErrTypeInvalidPDF)
		}
	}
}

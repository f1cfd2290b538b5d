package activities

import (
	"errors"
	"fmt"
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

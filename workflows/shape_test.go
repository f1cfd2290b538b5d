package workflows

import (
	"errors"
	"slices"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/k2kinvoice/autoinvoice/activities"
	"github.com/k2kinvoice/autoinvoice/internal/invoice"
)

// A step that keeps failing past its quick local tries is handed to an activity, which retries
// it without end (and shows ops the failure as a pending activity); the invoice goes on.
func TestInvoiceWorkflow_StepFallsBackToAnActivity(t *testing.T) {
	h := newHarness(t)
	h.storeErr = func(attempt int) error {
		if attempt < 5 {
			return errors.New("s3: connection refused")
		}
		return nil
	}
	h.happyPath(time.Hour)
	h.run()
	h.assertPaid()
	h.mu.Lock()
	defer h.mu.Unlock()
	if want := []bool{true, true, true, false, false}; !slices.Equal(h.storeLocal, want) {
		t.Errorf("StorePDF attempts local = %v, want %v (three local tries, then the activity's)", h.storeLocal, want)
	}
}

// A refusal from a local step is not retried, locally or as an activity.
func TestInvoiceWorkflow_RefusedStepIsNotHandedOver(t *testing.T) {
	h := newHarness(t)
	// Retryable by its flag, refused by its type: the retry policies name the type.
	h.storeErr = func(int) error {
		return temporal.NewApplicationError("pdf: not a PDF file", activities.ErrTypeInvalidPDF)
	}
	h.run()
	if r := h.result(); r.Outcome != OutcomeRejected {
		t.Fatalf("result %+v, want rejected", r)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if !slices.Equal(h.storeLocal, []bool{true}) {
		t.Errorf("StorePDF attempts local = %v, want one local attempt", h.storeLocal)
	}
}

// The confirmation update answers with the state once the invoice is in AP, or once the order
// ended without one.
func TestInvoiceWorkflow_ConfirmationUpdate(t *testing.T) {
	for _, tc := range []struct {
		name     string
		eligible bool
		want     func(State) bool
	}{
		{"invoice in AP", true, func(s State) bool { return s.Status == invoice.StatusAP && s.InvoiceID == testInvoiceID }},
		{"not eligible", false, func(s State) bool { return s.Outcome == OutcomeNotEligible && s.Status == "" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			if !tc.eligible {
				h.eligibility = invoice.Eligibility{Reason: invoice.ReasonConnectionInactive, Detail: "suspended"}
			}
			var got State
			var completed bool
			var updateErr error
			h.at(0, func() {
				h.env.UpdateWorkflow(UpdateConfirmation, "confirm-1", &testsuite.TestUpdateCallback{
					OnAccept: func() {},
					OnReject: func(err error) { updateErr = err },
					OnComplete: func(result any, err error) {
						completed, updateErr = true, err
						if s, ok := result.(State); ok {
							got = s
						}
					},
				})
			})
			if tc.eligible {
				h.happyPath(time.Hour)
			}
			h.run()
			if !completed || updateErr != nil || !tc.want(got) {
				t.Errorf("confirmation: completed %v, error %v, state status %q outcome %q invoice %d",
					completed, updateErr, got.Status, got.Outcome, got.InvoiceID)
			}
		})
	}
}

package workflows

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

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

// everyShape lists every version of the local-steps marker a running invoice may have.
var everyShape = []workflow.Version{workflow.DefaultVersion, shapeLocalSteps, shapeArrivalOrder, shapeKeepsCurrency, shapeWebhooks}

// harnessAtShape is a harness started at t0 whose run takes version v of the local-steps marker.
func harnessAtShape(t *testing.T, v workflow.Version) *harness {
	h := newHarness(t)
	h.env.SetStartTime(t0)
	h.env.OnGetVersion(changeLocalSteps, workflow.DefaultVersion, shapeCurrent).Return(v)
	return h
}

// TestInvoiceWorkflow_EveryVersionPays runs a vendor update and the happy path on every version
// of the local-steps marker a running invoice may have: each pays with the same result, sets the
// outcome only once paid (with status P from version 1, in an upsert of its own before), renders
// its first PDF dated as its version says (the start before version 1, the issue date from it),
// and only runs older than the current version ask for the keep-currency marker.
func TestInvoiceWorkflow_EveryVersionPays(t *testing.T) {
	for _, v := range everyShape {
		t.Run(fmt.Sprintf("version %d", v), func(t *testing.T) {
			h := harnessAtShape(t, v)
			h.env.OnGetVersion(changeKeepCurrency, workflow.DefaultVersion, workflow.Version(1)).
				Run(func(mock.Arguments) {
					if v >= shapeKeepsCurrency {
						t.Errorf("version %d asked for %s", v, changeKeepCurrency)
					}
				}).Return(workflow.Version(1)).Maybe()
			var upserts []temporal.SearchAttributes
			h.env.OnUpsertTypedSearchAttributes(mock.Anything).Run(func(args mock.Arguments) {
				upserts = append(upserts, args.Get(0).(temporal.SearchAttributes))
			}).Return(nil)
			h.send(30*time.Second, vendorUpdate("vu-1", vendorUser, revisedUpdate()))
			h.send(40*time.Second, acknowledge("ack-1", procurement))
			h.happyPath(time.Minute)
			h.run()
			if _, s := h.assertPaid(); s.Revision != 2 {
				t.Errorf("revision %d, want 2", s.Revision)
			}

			var outcomes []string
			for i, u := range upserts {
				if o, ok := u.GetKeyword(AttrOutcome); ok {
					outcomes = append(outcomes, fmt.Sprintf("%d:%s", i, o))
					status, _ := u.GetKeyword(AttrStatus)
					if v >= shapeLocalSteps && status != string(invoice.StatusP) {
						t.Errorf("upsert %d sets the outcome %s with status %q, want it with P", i, o, status)
					}
				}
			}
			if len(outcomes) != 1 || !strings.HasSuffix(outcomes[0], ":"+string(OutcomePaid)) || !strings.HasPrefix(outcomes[0], fmt.Sprint(len(upserts)-1)+":") {
				t.Errorf("outcome upserts %v of %d upserts, want one, the last, setting %s", outcomes, len(upserts), OutcomePaid)
			}
			h.mu.Lock()
			defer h.mu.Unlock()
			want := time.Date(2024, 5, 2, 0, 0, 0, 0, time.UTC) // testOrder's issue date
			if v == workflow.DefaultVersion {
				want = t0
			}
			if got := h.storeCalls[0].RenderedAt; !got.Equal(want) {
				t.Errorf("the PDF is rendered as of %s, want %s", got, want)
			}
		})
	}
}

package workflows

import (
	"testing"
	"time"

	"github.com/k2kinvoice/autoinvoice/internal/invoice"
)

// An update that arrives while an earlier action is being applied (taken from the inbox by
// actNext, its RecordEvent still running) must be judged after that action, as the rules judge
// actions in arrival order. validate checks only what does not depend on the status while
// earlier actions wait in the inbox, but the action being applied is no longer in the inbox nor
// answered yet: the validator judges the update against the status before that action (and does
// not see its idempotency key). Here approve (AP → AA) is taken in at 1m and recorded until
// 1m10s; the update arrives at 1m1s, after the approve is in the workflow's hands.
func TestUpdate_ValidatorSeesTheActionBeingApplied(t *testing.T) {
	for _, first := range []string{"signal", "update"} {
		t.Run("approve-payment right after an approve "+first+" is accepted", func(t *testing.T) {
			h := newHarness(t)
			h.recordDelay = 10 * time.Second
			if first == "signal" {
				h.send(time.Minute, approve("approve-1", procurement))
			} else {
				h.update(time.Minute, SignalApprove, "u-approve", approve("approve-1", procurement).req)
			}
			u := h.update(time.Minute+time.Second, SignalApprovePayment, "u-approve-payment",
				approvePayment("approve-payment-1", accounting).req)
			var s State
			h.at(5*time.Minute, func() {
				s = h.state()
				h.env.CancelWorkflow()
			})
			h.run()
			checkAnswered(t, u, invoice.ActionApprovePayment, invoice.StatusA)
			if s.Status != invoice.StatusA {
				t.Errorf("status after approve and approve-payment = %s, want A", s.Status)
			}
			h.assertEvents(h.recorded(), wantCreated, wantApprove, wantApprovePayment)
		})
	}
	t.Run("the key of the approve reused for approve-payment is refused as reused", func(t *testing.T) {
		h := newHarness(t)
		h.recordDelay = 10 * time.Second
		h.send(time.Minute, approve("k", procurement))
		u := h.update(time.Minute+time.Second, SignalApprovePayment, "u-reused", approvePayment("k", accounting).req)
		pay := h.payFrom(5*time.Minute, invoice.StatusAA)
		h.run()
		_, s := h.assertPaid()
		checkRejected(t, u, invoice.RefusedInvalid)
		checkAnswer(t, s.Answers, "k", invoice.ActionApprove, true, "", invoice.StatusAA)
		h.assertEvents(h.recorded(), wants(wantCreated, wantApprove, pay)...)
	})
}

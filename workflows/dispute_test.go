package workflows

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/temporal"

	"github.com/k2kinvoice/autoinvoice/internal/invoice"
)

// Disputes and voids: the buyer disputes an invoice in AP or AA (D, waiting for the vendor), the
// vendor answers with a new revision (back to AP with the warning) or voids it (V, outcome voided).

const (
	reasonDisputed = "unit price is 20.00, not 22.00 as agreed"
	reasonVoided   = "issued against the wrong PO; a new invoice follows"
)

func dispute(key string, actor invoice.Actor, reason string) signal {
	return signal{SignalDispute, invoice.ActionRequest{Actor: actor, IdempotencyKey: key, Reason: reason}}
}

func void(key string, actor invoice.Actor, reason string) signal {
	return signal{SignalVoid, invoice.ActionRequest{Actor: actor, IdempotencyKey: key, Reason: reason}}
}

// From AP (by procurement) and from AA (by accounting): disputed, the vendor's update brings the
// invoice back to AP with the warning and without the dispute; then it is paid.
func TestDispute_UpdateAnswersIt(t *testing.T) {
	for _, tc := range []struct {
		from   invoice.Status
		by     invoice.Actor
		before []signal
		wants  []want
	}{
		{invoice.StatusAP, procurement, nil, nil},
		{invoice.StatusAA, accounting, []signal{approve("approve-1", procurement)}, []want{wantApprove}},
	} {
		t.Run("from "+string(tc.from), func(t *testing.T) {
			h := newHarness(t)
			for i, s := range tc.before {
				h.send(time.Duration(i+1)*time.Minute, s)
			}
			h.send(10*time.Minute, dispute("dispute-1", tc.by, reasonDisputed))
			var disputed, answered State
			h.at(10*time.Minute+30*time.Second, func() { disputed = h.state() })
			h.send(11*time.Minute, approve("approve-in-d", procurement))
			h.send(12*time.Minute, vendorUpdate("vendor-update-1", vendorUser, revisedUpdate()))
			h.at(12*time.Minute+30*time.Second, func() { answered = h.state() })
			h.send(13*time.Minute, acknowledge("ack-1", procurement))
			pay := h.payFrom(14*time.Minute, invoice.StatusAP)
			h.run()
			h.assertPaid()

			h.assertEvents(h.recorded(), wants(wantCreated, tc.wants,
				transition(invoice.ActionDispute, tc.from, invoice.StatusD),
				refused(invoice.ActionApprove, invoice.StatusD, invoice.RefusedWrongStatus),
				wantVendorUpdate(invoice.StatusD), wantAck(invoice.StatusAP), pay)...)
			if disputed.Status != invoice.StatusD || disputed.Dispute == nil || disputed.Dispute.Reason != reasonDisputed ||
				disputed.Dispute.By != tc.by || disputed.ApprovedBy != "" && tc.from == invoice.StatusAP {
				t.Errorf("disputed state: status %s dispute %+v", disputed.Status, disputed.Dispute)
			}
			if a := disputed.Answers["dispute-1"]; !a.Accepted || a.Status != invoice.StatusD {
				t.Errorf("dispute answer = %+v, want accepted in D", a)
			}
			if answered.Status != invoice.StatusAP || answered.Dispute != nil || !answered.UpdatePending || answered.Revision != 2 ||
				answered.ApprovedBy != "" {
				t.Errorf("after the vendor's update: status %s dispute %+v pending %v revision %d approved by %q",
					answered.Status, answered.Dispute, answered.UpdatePending, answered.Revision, answered.ApprovedBy)
			}
		})
	}
}

// Voided: the workflow ends with outcome voided and the vendor's reason; actions sent before the
// void are answered first, and the dispute stays visible.
func TestDispute_VoidEndsTheWorkflow(t *testing.T) {
	h := newHarness(t)
	var outcome string
	h.env.OnUpsertTypedSearchAttributes(mock.Anything).Run(func(args mock.Arguments) {
		if o, ok := args.Get(0).(temporal.SearchAttributes).GetKeyword(AttrOutcome); ok {
			outcome = o
		}
	}).Return(nil)
	h.send(time.Minute, dispute("dispute-1", procurement, reasonDisputed))
	h.send(2*time.Minute, void("void-by-buyer", procurement, reasonVoided))
	h.send(3*time.Minute, void("void-1", vendorUser, reasonVoided))
	h.run()
	r := h.result()
	if r.Outcome != OutcomeVoided || r.Status != invoice.StatusV || r.Reason != reasonVoided || r.InvoiceID != testInvoiceID {
		t.Errorf("result = %+v, want voided in V with the vendor's reason", r)
	}
	h.assertEvents(h.recorded(), wantCreated, transition(invoice.ActionDispute, invoice.StatusAP, invoice.StatusD),
		refused(invoice.ActionVoid, invoice.StatusD, invoice.RefusedWrongActor),
		transition(invoice.ActionVoid, invoice.StatusD, invoice.StatusV))
	s := h.state()
	if s.Outcome != OutcomeVoided || s.Dispute == nil || s.Dispute.Reason != reasonDisputed {
		t.Errorf("final state: outcome %s dispute %+v", s.Outcome, s.Dispute)
	}
	if outcome != string(OutcomeVoided) {
		t.Errorf("%s = %q, want voided", AttrOutcome.GetName(), outcome)
	}
}

// What may not happen: a dispute without a reason, in A, by the vendor; a void outside D.
func TestDispute_Refusals(t *testing.T) {
	h := newHarness(t)
	h.send(time.Minute, void("void-in-ap", vendorUser, reasonVoided))
	h.send(2*time.Minute, dispute("dispute-vendor", vendorUser, reasonDisputed))
	h.send(3*time.Minute, dispute("dispute-no-reason", procurement, "  "))
	h.send(4*time.Minute, approve("approve-1", procurement), approvePayment("approve-payment-1", accounting))
	h.send(5*time.Minute, dispute("dispute-in-a", accounting, reasonDisputed))
	h.send(6*time.Minute, markPaid("mark-paid-1", accounting))
	h.run()
	h.assertPaid()
	h.assertEvents(h.recorded(), wantCreated,
		refused(invoice.ActionVoid, invoice.StatusAP, invoice.RefusedWrongStatus),
		refused(invoice.ActionDispute, invoice.StatusAP, invoice.RefusedWrongActor),
		refused(invoice.ActionDispute, invoice.StatusAP, invoice.RefusedInvalid),
		wantApprove, wantApprovePayment,
		refused(invoice.ActionDispute, invoice.StatusA, invoice.RefusedWrongStatus), wantMarkPaid)
	if a := h.state().Answers["dispute-no-reason"]; !strings.Contains(a.Reason, "reason: is required to dispute an invoice") {
		t.Errorf("answer = %+v, want the reason rule", a)
	}
}

// In D the vendor is reminded (DefaultReminders.D), not the buyer.
func TestDispute_RemindsTheVendor(t *testing.T) {
	h := newHarness(t)
	h.env.SetStartTime(t0)
	h.send(time.Hour, dispute("dispute-1", procurement, reasonDisputed))
	h.send(time.Hour+DefaultReminders.D+time.Hour, void("void-1", vendorUser, reasonVoided))
	h.runWith(ConfirmOrder{Order: testOrder(), Reminders: ReminderPolicy{D: DefaultReminders.D}})
	if r := h.result(); r.Outcome != OutcomeVoided {
		t.Fatalf("result = %+v, want voided", r)
	}
	events := h.recorded()
	h.assertEvents(events, wantCreated, transition(invoice.ActionDispute, invoice.StatusAP, invoice.StatusD),
		wantReminder(invoice.StatusD), transition(invoice.ActionVoid, invoice.StatusD, invoice.StatusV))
	if len(events) == 4 {
		checkReminder(t, events[2], invoice.StatusD, t0.Add(time.Hour), 1, DefaultReminders.Max,
			"the vendor to update or void the disputed invoice")
	}
}

// A later confirmation of a voided order creates its invoice under its number and keys its audit
// rows apart from the first confirmation's.
func TestDispute_LaterConfirmationOwnsItsInvoice(t *testing.T) {
	h := newHarness(t)
	h.confirmation = 2
	h.happyPath(time.Minute)
	h.runWith(ConfirmOrder{Order: testOrder(), Confirmation: 2})
	_, s := h.assertPaid()
	if s.Confirmation != 2 {
		t.Errorf("state confirmation = %d, want 2", s.Confirmation)
	}
	h.recorded() // checks the keys: WorkflowID@2#n
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.createCalls) != 1 || h.createCalls[0].Confirmation != 2 {
		t.Errorf("CreateAPInvoice inputs = %+v, want confirmation 2", h.createCalls)
	}
}

// A dispute needs no review of a pending vendor update first, and keeps its warning; the buyer can
// acknowledge the update in D, which clears the warning and leaves the invoice disputed.
func TestDispute_WithAPendingUpdate(t *testing.T) {
	h := newHarness(t)
	var disputed, acked State
	h.send(time.Minute, vendorUpdate("vu-1", vendorUser, revisedUpdate()))
	h.send(2*time.Minute, dispute("dispute-1", accounting, reasonDisputed))
	h.at(2*time.Minute+30*time.Second, func() { disputed = h.state() })
	h.send(3*time.Minute, acknowledge("ack-in-d", procurement))
	h.at(3*time.Minute+30*time.Second, func() { acked = h.state() })
	h.send(4*time.Minute, void("void-1", vendorUser, reasonVoided))
	h.run()
	if r := h.result(); r.Outcome != OutcomeVoided {
		t.Fatalf("result = %+v, want voided", r)
	}
	h.assertEvents(h.recorded(), wantCreated, wantVendorUpdate(invoice.StatusAP),
		transition(invoice.ActionDispute, invoice.StatusAP, invoice.StatusD), wantAck(invoice.StatusD),
		transition(invoice.ActionVoid, invoice.StatusD, invoice.StatusV))
	if disputed.Status != invoice.StatusD || !disputed.UpdatePending {
		t.Errorf("disputed with a pending update: status %s pending %v, want D with the warning", disputed.Status, disputed.UpdatePending)
	}
	if acked.Status != invoice.StatusD || acked.UpdatePending || acked.Dispute == nil {
		t.Errorf("after the acknowledgement: status %s pending %v dispute %+v, want D without the warning, still disputed",
			acked.Status, acked.UpdatePending, acked.Dispute)
	}
}

package workflows

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/k2kinvoice/autoinvoice/activities"
	"github.com/k2kinvoice/autoinvoice/internal/invoice"
)

// The lifecycle of docs/design.md §3 through the workflow: every row accepted and refused, sent as
// signals and as updates; reminders; continue-as-new; the status query. The harness and its
// helpers are in invoice_workflow_test.go.

var (
	// vendorUser is the vendor's backend: the only actor that may send a vendor update.
	vendorUser = invoice.Actor{CompanyID: testVendor, UserID: "u-vendor", Role: invoice.RoleVendor}
	// buyerAsVendor belongs to the buyer but claims the vendor role.
	buyerAsVendor = invoice.Actor{CompanyID: testBuyer, UserID: "u-buyer-v", Role: invoice.RoleVendor}
	// vendorAccounting belongs to the vendor but claims the accounting role.
	vendorAccounting = invoice.Actor{CompanyID: testVendor, UserID: "u-vendor-acc", Role: invoice.RoleAccounting}
	// strangerAccounting belongs to neither company.
	strangerAccounting = invoice.Actor{CompanyID: "OTHER-9", UserID: "u-stranger", Role: invoice.RoleAccounting}
)

const reasonReturned = "quantities do not match the goods received"

// t0 is when the tests that pin the clock start.
var t0 = time.Date(2024, 6, 3, 9, 0, 0, 0, time.UTC)

// revisedUpdate is a valid vendor update of testOrder: a new number, date and total (an express
// fee added), with the vendor's own PDF.
func revisedUpdate() *invoice.InvoiceUpdate {
	return &invoice.InvoiceUpdate{
		InvoiceNumber: "INV-77-R2",
		IssueDate:     "2024-05-20",
		Currency:      "EUR",
		TotalMinor:    13000,
		Lines: []invoice.Line{
			{Description: "Widgets", Quantity: 5, UnitPriceMinor: 2000},
			{Description: "Shipping", Quantity: 1, UnitPriceMinor: 2500},
			{Description: "Express fee", Quantity: 1, UnitPriceMinor: 500},
		},
		StagingKey: stagedR2,
	}
}

// revisedOrder is testOrder as revisedUpdate changes it.
func revisedOrder() invoice.Order {
	o, u := testOrder(), revisedUpdate()
	o.InvoiceNumber, o.IssueDate, o.Currency, o.TotalMinor, o.Lines = u.InvoiceNumber, u.IssueDate, u.Currency, u.TotalMinor, u.Lines
	return o
}

func vendorUpdate(key string, actor invoice.Actor, u *invoice.InvoiceUpdate) signal {
	return signal{SignalVendorUpdate, invoice.ActionRequest{Actor: actor, IdempotencyKey: key, Update: u}}
}

func acknowledge(key string, actor invoice.Actor) signal {
	return signal{SignalAcknowledgeUpdate, invoice.ActionRequest{Actor: actor, IdempotencyKey: key}}
}

func returnToProcurement(key string, actor invoice.Actor, reason string) signal {
	return signal{SignalReturnToProcurement, invoice.ActionRequest{Actor: actor, IdempotencyKey: key, Reason: reason}}
}

func cancelPaymentApproval(key string, actor invoice.Actor) signal {
	return signal{SignalCancelPaymentApproval, invoice.ActionRequest{Actor: actor, IdempotencyKey: key}}
}

// withKey is s with another idempotency key, e.g. to send the same request as an update.
func withKey(s signal, key string) signal {
	s.req.IdempotencyKey = key
	return s
}

func transition(a invoice.Action, from, to invoice.Status) want {
	return want{kind: invoice.EventTransition, action: a, from: from, to: to}
}

func wantVendorUpdate(from invoice.Status) want {
	return transition(invoice.ActionVendorUpdate, from, invoice.StatusAP)
}

func wantAck(in invoice.Status) want {
	return transition(invoice.ActionAcknowledgeUpdate, in, in)
}

func wantReminder(in invoice.Status) want {
	return want{kind: invoice.EventReminder, from: in, to: in, code: "waiting_in_" + string(in)}
}

// payFrom sends the actions that take an invoice without warning from s to P, a minute apart
// from start, and returns the audit rows they write.
func (h *harness) payFrom(start time.Duration, s invoice.Status) []want {
	var wants []want
	at := start
	if s == invoice.StatusAP {
		h.send(at, approve("pay-approve", procurement))
		wants = append(wants, wantApprove)
		at += time.Minute
	}
	if s == invoice.StatusAP || s == invoice.StatusAA {
		h.send(at, approvePayment("pay-approve-payment", accounting))
		wants = append(wants, wantApprovePayment)
		at += time.Minute
	}
	h.send(at, markPaid("pay-mark-paid", accounting))
	return append(wants, wantMarkPaid)
}

func wants(ws ...any) []want {
	var out []want
	for _, w := range ws {
		switch w := w.(type) {
		case want:
			out = append(out, w)
		case []want:
			out = append(out, w...)
		default:
			panic(fmt.Sprintf("wants: %T", w))
		}
	}
	return out
}

// resumedState is the state a run resumes from: an invoice in status s since t0, with a pending
// vendor update (revision 2) when pending is set. Its events #1 to #5 were written before.
func resumedState(wid string, s invoice.Status, pending bool) State {
	o := testOrder()
	st := State{
		WorkflowID: wid, Order: o, InvoiceID: testInvoiceID, Status: s, StatusSince: t0, Revision: 1,
		Document: testDocument,
		Revisions: []Revision{{Revision: 1, InvoiceNumber: o.InvoiceNumber, Currency: o.Currency,
			TotalMinor: o.TotalMinor, Document: testDocument, At: t0.Add(-time.Hour)}},
		Discrepancy: o.Discrepancy(), Answers: map[string]Answer{}, EventSeq: 5, Reminders: DefaultReminders, Runs: 1,
	}
	if pending {
		r := revisedOrder()
		doc := documentFor(activities.StorePDFInput{Order: r, Revision: 2})
		st.Order, st.Revision, st.Document, st.UpdatePending, st.Discrepancy = r, 2, doc, true, r.Discrepancy()
		st.Revisions = append(st.Revisions, Revision{Revision: 2, InvoiceNumber: r.InvoiceNumber, Currency: r.Currency,
			TotalMinor: r.TotalMinor, Document: doc, At: t0})
	}
	return st
}

// resume prepares h to run from st: the clock starts at st.StatusSince, event keys after
// st.EventSeq.
func (h *harness) resume(st State) ConfirmOrder {
	h.seqBase = st.EventSeq
	h.env.SetStartTime(st.StatusSince)
	return ConfirmOrder{Order: st.Order, Resume: &st}
}

// codeOf is the type of an application error: the refusal code of a refused update.
func codeOf(err error) string {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		return appErr.Type()
	}
	return ""
}

func checkAnswer(t *testing.T, answers map[string]Answer, key string, action invoice.Action, accepted bool,
	code invoice.RefusalCode, status invoice.Status) {
	t.Helper()
	a, ok := answers[key]
	if !ok {
		t.Errorf("no answer for %q; answers %v", key, keys(answers))
		return
	}
	if a.Action != action || a.Accepted != accepted || a.Code != code || a.Status != status {
		t.Errorf("answer %q = %+v, want action %s accepted %v code %q status %s", key, a, action, accepted, code, status)
	}
	if !accepted && a.Reason == "" {
		t.Errorf("answer %q is a refusal without a reason", key)
	}
}

// checkRejected checks that the update's validator rejected it with code: the handler never ran.
func checkRejected(t *testing.T, u *updateCall, code invoice.RefusalCode) {
	t.Helper()
	o := u.outcome()
	switch {
	case !o.Sent:
		t.Errorf("update %s %q was not sent", u.name, u.id)
	case o.Rejected == nil:
		t.Errorf("update %s %q was not rejected (accepted %v, completed %v, answer %+v, err %v), want %s",
			u.name, u.id, o.Accepted, o.Completed, o.Answer, o.Err, code)
	case codeOf(o.Rejected) != string(code):
		t.Errorf("update %s %q rejected with %v (type %q), want %s", u.name, u.id, o.Rejected, codeOf(o.Rejected), code)
	case o.Accepted || o.Completed:
		t.Errorf("update %s %q rejected but also accepted %v / completed %v", u.name, u.id, o.Accepted, o.Completed)
	}
}

// checkAnswered checks that the update was accepted and returned an accepted Answer in status.
func checkAnswered(t *testing.T, u *updateCall, action invoice.Action, status invoice.Status) {
	t.Helper()
	o := u.outcome()
	if !o.Sent || !o.Accepted || o.Rejected != nil || !o.Completed || o.Err != nil {
		t.Errorf("update %s %q: sent %v accepted %v rejected %v completed %v err %v, want accepted and completed",
			u.name, u.id, o.Sent, o.Accepted, o.Rejected, o.Completed, o.Err)
		return
	}
	if want := (Answer{Action: action, Accepted: true, Status: status}); o.Answer != want {
		t.Errorf("update %s %q answer = %+v, want %+v", u.name, u.id, o.Answer, want)
	}
}

// checkRefusedWhenApplied checks that the validator accepted the update but the workflow refused
// it when it came to apply it: the handler returns the refusal as an error typed by its code.
func checkRefusedWhenApplied(t *testing.T, u *updateCall, code invoice.RefusalCode, status invoice.Status) {
	t.Helper()
	o := u.outcome()
	if !o.Sent || !o.Accepted || o.Rejected != nil || !o.Completed {
		t.Errorf("update %s %q: sent %v accepted %v rejected %v completed %v, want accepted and completed",
			u.name, u.id, o.Sent, o.Accepted, o.Rejected, o.Completed)
		return
	}
	if codeOf(o.Err) != string(code) {
		t.Errorf("update %s %q error = %v (type %q), want a %s refusal", u.name, u.id, o.Err, codeOf(o.Err), code)
	}
	if o.Answer.Accepted || (o.Answer != Answer{} && (o.Answer.Code != code || o.Answer.Status != status)) {
		t.Errorf("update %s %q answer = %+v, want refused %s in %s", u.name, u.id, o.Answer, code, status)
	}
}

func (h *harness) storeInputs() []activities.StorePDFInput {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]activities.StorePDFInput(nil), h.storeCalls...)
}

func (h *harness) reviseInputs() []activities.ReviseInput {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]activities.ReviseInput(nil), h.reviseCalls...)
}

func (h *harness) notifications() []activities.Notification {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]activities.Notification(nil), h.notifyCalls...)
}

// rawEvents are the audit rows written, without the key checks of recorded (for runs that spend
// a key on a failed activity).
func (h *harness) rawEvents() []invoice.Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]invoice.Event(nil), h.events...)
}

// assertUnchangedFirstRevision checks that s is still the first revision of testOrder.
func assertUnchangedFirstRevision(t *testing.T, s State, status invoice.Status) {
	t.Helper()
	if s.Status != status || s.Revision != 1 || !reflect.DeepEqual(s.Order, testOrder()) || len(s.Revisions) != 1 ||
		s.UpdatePending || s.Document != testDocument || s.Discrepancy != 500 {
		t.Errorf("state = status %s revision %d order %+v revisions %d pending %v document %+v discrepancy %d, "+
			"want the first revision unchanged in %s", s.Status, s.Revision, s.Order, len(s.Revisions), s.UpdatePending,
			s.Document, s.Discrepancy, status)
	}
}

// ---- 1. The lifecycle table, row by row ----

// AA → AP: accounting returns the invoice to procurement; the reason is kept in the audit row.
// Without a reason, or from another status, it is refused.
func TestLifecycle_ReturnToProcurement(t *testing.T) {
	h := newHarness(t)
	h.send(time.Minute, returnToProcurement("return-in-AP", accounting, reasonReturned))
	h.send(2*time.Minute, approve("approve-1", procurement))
	h.send(3*time.Minute, returnToProcurement("return-blank", accounting, "  "))
	h.send(4*time.Minute, returnToProcurement("return-1", accounting, reasonReturned))
	var mid State
	h.at(4*time.Minute+30*time.Second, func() { mid = h.state() })
	pay := h.payFrom(5*time.Minute, invoice.StatusAP)
	h.run()
	_, s := h.assertPaid()

	events := h.recorded()
	h.assertEvents(events, wants(wantCreated,
		refused(invoice.ActionReturnToProcurement, invoice.StatusAP, invoice.RefusedWrongStatus),
		wantApprove,
		refused(invoice.ActionReturnToProcurement, invoice.StatusAA, invoice.RefusedInvalid),
		transition(invoice.ActionReturnToProcurement, invoice.StatusAA, invoice.StatusAP),
		pay)...)
	if len(events) > 4 {
		if !strings.Contains(events[3].Reason, "reason") {
			t.Errorf("refusal without reason says %q, want it to name the reason", events[3].Reason)
		}
		if e := events[4]; e.Reason != reasonReturned || e.Actor != accounting || e.UpdatePending {
			t.Errorf("return event = %+v, want reason %q kept, actor accounting", e, reasonReturned)
		}
	}
	if mid.Status != invoice.StatusAP {
		t.Errorf("status after the return = %s, want AP", mid.Status)
	}
	checkAnswer(t, mid.Answers, "return-in-AP", invoice.ActionReturnToProcurement, false, invoice.RefusedWrongStatus, invoice.StatusAP)
	checkAnswer(t, mid.Answers, "return-blank", invoice.ActionReturnToProcurement, false, invoice.RefusedInvalid, invoice.StatusAA)
	checkAnswer(t, mid.Answers, "return-1", invoice.ActionReturnToProcurement, true, "", invoice.StatusAP)
	if len(s.Transitions) != 5 {
		t.Fatalf("transitions = %+v, want 5", s.Transitions)
	}
	if tr := s.Transitions[1]; tr.Action != invoice.ActionReturnToProcurement || tr.Actor != accounting ||
		tr.From != invoice.StatusAA || tr.To != invoice.StatusAP {
		t.Errorf("transition 1 = %+v, want the return AA → AP by accounting", tr)
	}
}

// A → AA: accounting cancels the payment approval; the invoice is approved for payment again and
// paid. From another status it is refused.
func TestLifecycle_CancelPaymentApproval(t *testing.T) {
	h := newHarness(t)
	h.send(time.Minute, approve("approve-1", procurement))
	h.send(2*time.Minute, cancelPaymentApproval("cancel-in-AA", accounting))
	h.send(3*time.Minute, approvePayment("approve-payment-1", accounting))
	h.send(4*time.Minute, cancelPaymentApproval("cancel-1", accounting))
	var mid State
	h.at(4*time.Minute+30*time.Second, func() { mid = h.state() })
	pay := h.payFrom(5*time.Minute, invoice.StatusAA)
	h.run()
	_, s := h.assertPaid()

	events := h.recorded()
	h.assertEvents(events, wants(wantCreated, wantApprove,
		refused(invoice.ActionCancelPaymentApproval, invoice.StatusAA, invoice.RefusedWrongStatus),
		wantApprovePayment,
		transition(invoice.ActionCancelPaymentApproval, invoice.StatusA, invoice.StatusAA),
		pay)...)
	if len(events) > 4 && events[4].Actor != accounting {
		t.Errorf("cancel event actor = %+v", events[4].Actor)
	}
	if mid.Status != invoice.StatusAA {
		t.Errorf("status after the cancel = %s, want AA", mid.Status)
	}
	checkAnswer(t, mid.Answers, "cancel-in-AA", invoice.ActionCancelPaymentApproval, false, invoice.RefusedWrongStatus, invoice.StatusAA)
	checkAnswer(t, mid.Answers, "cancel-1", invoice.ActionCancelPaymentApproval, true, "", invoice.StatusAA)
	if len(s.Transitions) != 5 {
		t.Errorf("transitions = %+v, want 5", s.Transitions)
	}
}

// A → P with a payment date and reference; the workflow completes. A bad date, a missing
// reference or another status is refused.
func TestLifecycle_MarkPaid(t *testing.T) {
	h := newHarness(t)
	h.send(time.Minute, markPaid("paid-in-AP", accounting))
	h.send(2*time.Minute, approve("approve-1", procurement))
	h.send(3*time.Minute, markPaid("paid-in-AA", accounting))
	h.send(4*time.Minute, approvePayment("approve-payment-1", accounting))
	badDate := markPaid("paid-bad-date", accounting)
	badDate.req.PaymentDate = "2024-02-30"
	h.send(5*time.Minute, badDate)
	blankRef := markPaid("paid-blank-ref", accounting)
	blankRef.req.PaymentReference = " "
	h.send(6*time.Minute, blankRef)
	h.send(7*time.Minute, markPaid("mark-paid-1", accounting))
	h.run()
	_, s := h.assertPaid()

	events := h.recorded()
	h.assertEvents(events, wantCreated,
		refused(invoice.ActionMarkPaid, invoice.StatusAP, invoice.RefusedWrongStatus),
		wantApprove,
		refused(invoice.ActionMarkPaid, invoice.StatusAA, invoice.RefusedWrongStatus),
		wantApprovePayment,
		refused(invoice.ActionMarkPaid, invoice.StatusA, invoice.RefusedInvalid),
		refused(invoice.ActionMarkPaid, invoice.StatusA, invoice.RefusedInvalid),
		wantMarkPaid)
	if len(events) == 8 {
		if !strings.Contains(events[5].Reason, "payment_date") || !strings.Contains(events[6].Reason, "payment_reference") {
			t.Errorf("refusal reasons %q, %q, want them to name payment_date and payment_reference",
				events[5].Reason, events[6].Reason)
		}
		if e := events[7]; e.Actor != accounting || e.InvoiceID != testInvoiceID {
			t.Errorf("mark-paid event = %+v", e)
		}
	}
	checkAnswer(t, s.Answers, "mark-paid-1", invoice.ActionMarkPaid, true, "", invoice.StatusP)
	if s.Transitions[len(s.Transitions)-1].To != invoice.StatusP || !s.Status.Terminal() {
		t.Errorf("final transitions %+v, status %s", s.Transitions, s.Status)
	}
}

// AP, AA and A → AP: a vendor update stores the new PDF as revision 2, revises the invoice, sets
// the warning and clears approvals. Approve is refused until the buyer acknowledges the update;
// the acknowledgement clears the warning in place, and a second one is refused.
func TestLifecycle_VendorUpdate(t *testing.T) {
	cases := []struct {
		from   invoice.Status
		before []signal
		wants  []want
	}{
		{invoice.StatusAP, nil, nil},
		{invoice.StatusAA, []signal{approve("approve-1", procurement)}, []want{wantApprove}},
		{invoice.StatusA, []signal{approve("approve-1", procurement), approvePayment("approve-payment-1", accounting)},
			[]want{wantApprove, wantApprovePayment}},
	}
	for _, tc := range cases {
		t.Run("from "+string(tc.from), func(t *testing.T) {
			h := newHarness(t)
			for i, s := range tc.before {
				h.send(time.Duration(i+1)*time.Minute, s)
			}
			h.send(10*time.Minute, vendorUpdate("vendor-update-1", vendorUser, revisedUpdate()))
			var mid, acked State
			h.at(10*time.Minute+30*time.Second, func() { mid = h.state() })
			h.send(11*time.Minute, approve("approve-blocked", procurement))
			h.send(12*time.Minute, acknowledge("ack-1", procurement))
			h.at(12*time.Minute+30*time.Second, func() { acked = h.state() })
			h.send(13*time.Minute, acknowledge("ack-2", accounting))
			pay := h.payFrom(14*time.Minute, invoice.StatusAP)
			h.run()
			_, s := h.assertPaid()

			events := h.recorded()
			h.assertEvents(events, wants(wantCreated, tc.wants, wantVendorUpdate(tc.from),
				refused(invoice.ActionApprove, invoice.StatusAP, invoice.RefusedUnreviewed),
				wantAck(invoice.StatusAP),
				refused(invoice.ActionAcknowledgeUpdate, invoice.StatusAP, invoice.RefusedWrongStatus),
				pay)...)

			stores := h.storeInputs()
			if len(stores) != 2 {
				t.Fatalf("StorePDF calls = %+v, want 2", stores)
			}
			sp := stores[1]
			if sp.Revision != 2 || sp.StagingKey != stagedR2 || !reflect.DeepEqual(sp.Order, revisedOrder()) ||
				sp.RenderedAt.IsZero() {
				t.Errorf("StorePDF for the update = %+v, want revision 2, the update's staging key, the revised order", sp)
			}
			doc2 := documentFor(sp)
			revs := h.reviseInputs()
			if len(revs) != 1 {
				t.Fatalf("ReviseInvoice calls = %d, want 1", len(revs))
			}
			ri := revs[0]
			if ri.InvoiceID != testInvoiceID || ri.Revision != 2 || !reflect.DeepEqual(ri.Order, revisedOrder()) ||
				ri.Document != doc2 {
				t.Errorf("ReviseInvoice input = %+v", ri)
			}
			n := len(tc.before) + 2
			e := ri.Event
			if e.Kind != invoice.EventTransition || e.Action != invoice.ActionVendorUpdate || e.From != tc.from ||
				e.To != invoice.StatusAP || !e.UpdatePending || e.Revision != 2 || e.Actor != vendorUser ||
				e.InvoiceID != testInvoiceID || e.Key != fmt.Sprintf("%s#%d", h.wid, n) {
				t.Errorf("ReviseInvoice event = %+v, want transition vendor_update %s → AP, pending, revision 2, key #%d",
					e, tc.from, n)
			}

			if mid.Status != invoice.StatusAP || mid.Revision != 2 || !mid.UpdatePending || mid.Document != doc2 ||
				!reflect.DeepEqual(mid.Order, revisedOrder()) || mid.Discrepancy != 1000 {
				t.Errorf("state after the update = status %s revision %d pending %v document %+v discrepancy %d order %+v",
					mid.Status, mid.Revision, mid.UpdatePending, mid.Document, mid.Discrepancy, mid.Order)
			}
			if len(mid.Revisions) != 2 {
				t.Fatalf("revisions = %+v, want 2", mid.Revisions)
			}
			o := testOrder()
			if r := mid.Revisions[0]; r.Revision != 1 || r.InvoiceNumber != o.InvoiceNumber || r.TotalMinor != o.TotalMinor ||
				r.Document != testDocument {
				t.Errorf("revision 1 = %+v, want it kept", r)
			}
			if r := mid.Revisions[1]; r.Revision != 2 || r.InvoiceNumber != "INV-77-R2" || r.Currency != "EUR" ||
				r.TotalMinor != 13000 || r.Document != doc2 || !r.At.Equal(e.OccurredAt) {
				t.Errorf("revision 2 = %+v", r)
			}
			if tr := mid.Transitions[len(mid.Transitions)-1]; tr.Action != invoice.ActionVendorUpdate || tr.Actor != vendorUser ||
				tr.From != tc.from || tr.To != invoice.StatusAP {
				t.Errorf("last transition = %+v", tr)
			}
			if tc.from != invoice.StatusAP && !mid.StatusSince.Equal(e.OccurredAt) {
				t.Errorf("status since %v, want the update's time %v (a new stay in AP)", mid.StatusSince, e.OccurredAt)
			}
			checkAnswer(t, mid.Answers, "vendor-update-1", invoice.ActionVendorUpdate, true, "", invoice.StatusAP)

			i := len(tc.before) + 2 // the refused approve
			if len(events) > i+2 {
				if events[i].UpdatePending != true || events[i].Revision != 2 {
					t.Errorf("refused approve = %+v, want pending, revision 2", events[i])
				}
				if a := events[i+1]; a.UpdatePending || a.Actor != procurement || a.Revision != 2 {
					t.Errorf("acknowledge event = %+v, want the warning cleared by procurement", a)
				}
			}
			if acked.UpdatePending || acked.Status != invoice.StatusAP || acked.Revision != 2 {
				t.Errorf("state after the acknowledgement: pending %v status %s revision %d", acked.UpdatePending,
					acked.Status, acked.Revision)
			}
			if tr := acked.Transitions[len(acked.Transitions)-1]; tr.Action != invoice.ActionAcknowledgeUpdate ||
				tr.From != invoice.StatusAP || tr.To != invoice.StatusAP {
				t.Errorf("acknowledge transition = %+v", tr)
			}
			checkAnswer(t, s.Answers, "approve-blocked", invoice.ActionApprove, false, invoice.RefusedUnreviewed, invoice.StatusAP)
			checkAnswer(t, s.Answers, "ack-1", invoice.ActionAcknowledgeUpdate, true, "", invoice.StatusAP)
			checkAnswer(t, s.Answers, "ack-2", invoice.ActionAcknowledgeUpdate, false, invoice.RefusedWrongStatus, invoice.StatusAP)
			if s.Revision != 2 || s.UpdatePending || s.Discrepancy != 1000 || s.Order.InvoiceNumber != "INV-77-R2" {
				t.Errorf("final state revision %d pending %v discrepancy %d invoice %s", s.Revision, s.UpdatePending,
					s.Discrepancy, s.Order.InvoiceNumber)
			}
		})
	}
}

// Approve, approve payment and mark paid are refused with update_unreviewed while the warning is
// set, as signals (audited) and as updates (rejected by the validator); after the
// acknowledgement they go through. Only AP can carry the warning through the lifecycle (a vendor
// update always leads to AP, approve is blocked), so AA and A with the warning are resumed states.
func TestLifecycle_ApprovalsBlockedWhileUpdateUnreviewed(t *testing.T) {
	cases := []struct {
		in      invoice.Status
		blocked signal
	}{
		{invoice.StatusAP, approve("blocked", procurement)},
		{invoice.StatusAA, approvePayment("blocked", accounting)},
		{invoice.StatusA, markPaid("blocked", accounting)},
	}
	for _, tc := range cases {
		t.Run(string(tc.in), func(t *testing.T) {
			h := newHarness(t)
			in := h.resume(resumedState(h.wid, tc.in, true))
			h.send(time.Minute, tc.blocked)
			u := h.update(2*time.Minute, tc.blocked.name, "update-blocked", withKey(tc.blocked, "blocked-as-update").req)
			h.send(3*time.Minute, acknowledge("ack-1", accounting))
			pay := h.payFrom(4*time.Minute, tc.in)
			h.runWith(in)
			_, s := h.assertPaid()

			action := actionOf(tc.blocked.name)
			h.assertEvents(h.recorded(), wants(refused(action, tc.in, invoice.RefusedUnreviewed), wantAck(tc.in), pay)...)
			checkRejected(t, u, invoice.RefusedUnreviewed)
			checkAnswer(t, s.Answers, "blocked", action, false, invoice.RefusedUnreviewed, tc.in)
			if _, ok := s.Answers["blocked-as-update"]; ok {
				t.Errorf("the rejected update left an answer")
			}
			if v, st, c, _ := h.counts(); v != 0 || st != 0 || c != 0 {
				t.Errorf("a resumed run called VerifyEligibility %d, StorePDF %d, CreateAPInvoice %d times", v, st, c)
			}
		})
	}
}

// actionOf is the action a message name carries.
func actionOf(name string) invoice.Action {
	for _, m := range messages {
		if m.name == name {
			return m.action
		}
	}
	return ""
}

// Acknowledging when no update is pending is refused, as a signal and as an update.
func TestLifecycle_AcknowledgeWithoutPendingUpdateRefused(t *testing.T) {
	h := newHarness(t)
	h.send(time.Minute, acknowledge("ack-early", procurement))
	u := h.update(2*time.Minute, SignalAcknowledgeUpdate, "update-ack", acknowledge("ack-update", accounting).req)
	pay := h.payFrom(3*time.Minute, invoice.StatusAP)
	h.run()
	_, s := h.assertPaid()
	h.assertEvents(h.recorded(), wants(wantCreated,
		refused(invoice.ActionAcknowledgeUpdate, invoice.StatusAP, invoice.RefusedWrongStatus), pay)...)
	checkAnswer(t, s.Answers, "ack-early", invoice.ActionAcknowledgeUpdate, false, invoice.RefusedWrongStatus, invoice.StatusAP)
	checkRejected(t, u, invoice.RefusedWrongStatus)
}

// A vendor update of a paid invoice is refused with invoice_paid. The workflow completes once
// paid, so the update arrives together with mark-paid and is answered by the final drain.
func TestLifecycle_VendorUpdateOnPaidInvoiceRefused(t *testing.T) {
	t.Run("signal in the same callback as mark-paid", func(t *testing.T) {
		h := newHarness(t)
		h.send(time.Minute, approve("approve-1", procurement))
		h.send(2*time.Minute, approvePayment("approve-payment-1", accounting))
		h.send(3*time.Minute, markPaid("mark-paid-1", accounting), vendorUpdate("vendor-update-late", vendorUser, revisedUpdate()))
		h.run()
		_, s := h.assertPaid()
		events := h.recorded()
		h.assertEvents(events, wantCreated, wantApprove, wantApprovePayment, wantMarkPaid,
			refused(invoice.ActionVendorUpdate, invoice.StatusP, invoice.RefusedPaid))
		checkAnswer(t, s.Answers, "vendor-update-late", invoice.ActionVendorUpdate, false, invoice.RefusedPaid, invoice.StatusP)
		if len(events) == 5 && (events[4].Actor != vendorUser || !strings.Contains(events[4].Reason, "credit note")) {
			t.Errorf("refusal = %+v, want the vendor and a reason naming a credit note", events[4])
		}
		if len(h.storeInputs()) != 1 || len(h.reviseInputs()) != 0 {
			t.Errorf("StorePDF %d ReviseInvoice %d calls, want 1 and 0", len(h.storeInputs()), len(h.reviseInputs()))
		}
		assertUnchangedFirstRevision(t, s, invoice.StatusP)
	})
	t.Run("update accepted in A, refused once paid", func(t *testing.T) {
		// mark-paid's RecordEvent takes 10s; the update arrives meanwhile, while the invoice is
		// still in A, so the validator accepts it; the workflow applies it after P and refuses it.
		h := newHarness(t)
		h.recordDelay = 10 * time.Second
		h.send(time.Minute, approve("approve-1", procurement))
		h.send(2*time.Minute, approvePayment("approve-payment-1", accounting))
		h.send(3*time.Minute, markPaid("mark-paid-1", accounting))
		u := h.update(3*time.Minute+time.Second, SignalVendorUpdate, "update-late",
			vendorUpdate("vendor-update-late", vendorUser, revisedUpdate()).req)
		h.run()
		_, s := h.assertPaid()
		h.assertEvents(h.recorded(), wantCreated, wantApprove, wantApprovePayment, wantMarkPaid,
			refused(invoice.ActionVendorUpdate, invoice.StatusP, invoice.RefusedPaid))
		checkRefusedWhenApplied(t, u, invoice.RefusedPaid, invoice.StatusP)
		checkAnswer(t, s.Answers, "vendor-update-late", invoice.ActionVendorUpdate, false, invoice.RefusedPaid, invoice.StatusP)
		assertUnchangedFirstRevision(t, s, invoice.StatusP)
	})
}

// A vendor update whose lines do not add up to its total is refused as invalid_request naming
// update.total_minor, as a signal (audited) and as an update (rejected by the validator).
func TestLifecycle_VendorUpdateInvalidOrderRefused(t *testing.T) {
	bad := revisedUpdate()
	bad.TotalMinor = 99999
	h := newHarness(t)
	h.send(time.Minute, vendorUpdate("vendor-update-bad", vendorUser, bad))
	u := h.update(2*time.Minute, SignalVendorUpdate, "update-bad", vendorUpdate("vendor-update-bad-2", vendorUser, bad).req)
	var mid State
	h.at(150*time.Second, func() { mid = h.state() })
	pay := h.payFrom(3*time.Minute, invoice.StatusAP)
	h.run()
	_, s := h.assertPaid()

	events := h.recorded()
	h.assertEvents(events, wants(wantCreated,
		refused(invoice.ActionVendorUpdate, invoice.StatusAP, invoice.RefusedInvalid), pay)...)
	if len(events) > 1 && !strings.Contains(events[1].Reason, "update.total_minor") {
		t.Errorf("refusal reason %q, want it to name update.total_minor", events[1].Reason)
	}
	checkRejected(t, u, invoice.RefusedInvalid)
	if err := u.outcome().Rejected; err != nil && !strings.Contains(err.Error(), "update.total_minor") {
		t.Errorf("validator refusal %q, want it to name update.total_minor", err)
	}
	checkAnswer(t, s.Answers, "vendor-update-bad", invoice.ActionVendorUpdate, false, invoice.RefusedInvalid, invoice.StatusAP)
	if len(h.storeInputs()) != 1 || len(h.reviseInputs()) != 0 {
		t.Errorf("StorePDF %d ReviseInvoice %d calls, want 1 and 0", len(h.storeInputs()), len(h.reviseInputs()))
	}
	assertUnchangedFirstRevision(t, mid, invoice.StatusAP)
}

// StorePDF refusing the update's PDF (non-retryable InvalidPDF) refuses the update with
// invalid_pdf; the invoice stays as it was, in AA, without the warning.
func TestLifecycle_VendorUpdateInvalidPDFRefused(t *testing.T) {
	h := newHarness(t)
	h.storeErr = func(attempt int) error {
		if attempt >= 2 {
			return temporal.NewNonRetryableApplicationError("pdf: not a PDF file", activities.ErrTypeInvalidPDF, nil)
		}
		return nil
	}
	h.send(time.Minute, approve("approve-1", procurement))
	u := h.update(2*time.Minute, SignalVendorUpdate, "update-bad-pdf",
		vendorUpdate("vendor-update-1", vendorUser, revisedUpdate()).req)
	var mid State
	h.at(150*time.Second, func() { mid = h.state() })
	pay := h.payFrom(3*time.Minute, invoice.StatusAA)
	h.run()
	_, s := h.assertPaid()

	events := h.recorded()
	h.assertEvents(events, wants(wantCreated, wantApprove,
		refused(invoice.ActionVendorUpdate, invoice.StatusAA, invoice.RefusedInvalidPDF), pay)...)
	if len(events) > 2 {
		if e := events[2]; e.Reason != "pdf: not a PDF file" || e.UpdatePending || e.Revision != 1 || e.Actor != vendorUser {
			t.Errorf("refusal = %+v", e)
		}
	}
	checkRefusedWhenApplied(t, u, invoice.RefusedInvalidPDF, invoice.StatusAA)
	checkAnswer(t, s.Answers, "vendor-update-1", invoice.ActionVendorUpdate, false, invoice.RefusedInvalidPDF, invoice.StatusAA)
	if stores := h.storeInputs(); len(stores) != 2 || stores[1].Revision != 2 || stores[1].StagingKey != stagedR2 {
		t.Errorf("StorePDF calls = %+v, want the first and one non-retried attempt for revision 2", stores)
	}
	if n := len(h.reviseInputs()); n != 0 {
		t.Errorf("ReviseInvoice called %d times, want never", n)
	}
	assertUnchangedFirstRevision(t, mid, invoice.StatusAA)
}

// ReviseInvoice refusing the new invoice number (non-retryable InvoiceNumberTaken) refuses the
// update with invoice_number_taken; the invoice stays as it was.
func TestLifecycle_VendorUpdateInvoiceNumberTakenRefused(t *testing.T) {
	h := newHarness(t)
	h.reviseErr = func(int, activities.ReviseInput) error {
		return temporal.NewNonRetryableApplicationError(`invoice_number "INV-77-R2" is already used`,
			activities.ErrTypeInvoiceNumberTaken, nil)
	}
	h.send(time.Minute, approve("approve-1", procurement))
	h.send(2*time.Minute, vendorUpdate("vendor-update-1", vendorUser, revisedUpdate()))
	var mid State
	h.at(150*time.Second, func() { mid = h.state() })
	pay := h.payFrom(3*time.Minute, invoice.StatusAA)
	h.run()
	_, s := h.assertPaid()

	// The failed ReviseInvoice spent key #3 on its event, which was not written.
	events := h.rawEvents()
	h.assertEvents(events, wants(wantCreated, wantApprove,
		refused(invoice.ActionVendorUpdate, invoice.StatusAA, invoice.RefusedTaken), pay)...)
	for i, n := range []int{1, 2, 4, 5, 6} {
		if i < len(events) && events[i].Key != fmt.Sprintf("%s#%d", h.wid, n) {
			t.Errorf("event %d key %q, want #%d", i, events[i].Key, n)
		}
	}
	if revs := h.reviseInputs(); len(revs) != 1 || revs[0].Event.Key != h.wid+"#3" {
		t.Errorf("ReviseInvoice calls = %+v, want one (non-retryable) with key #3", revs)
	}
	checkAnswer(t, s.Answers, "vendor-update-1", invoice.ActionVendorUpdate, false, invoice.RefusedTaken, invoice.StatusAA)
	assertUnchangedFirstRevision(t, mid, invoice.StatusAA)
}

// Every action from a company or a role that may not send it is refused with wrong_actor, in a
// status where the right actor would be accepted: as a signal (audited, with the actor) and as an
// update (rejected by the validator, not audited).
func TestLifecycle_WrongActorsRefused(t *testing.T) {
	type step struct {
		sig  signal
		want want
	}
	wrong := func(s signal, in invoice.Status) step {
		return step{s, refused(actionOf(s.name), in, invoice.RefusedWrongActor)}
	}
	ap, aa, a := invoice.StatusAP, invoice.StatusAA, invoice.StatusA
	steps := []step{
		wrong(approve("approve-by-vendor", vendorStaff), ap),
		wrong(approve("approve-by-accounting", accounting), ap),
		wrong(vendorUpdate("update-by-buyer", buyerAsVendor, revisedUpdate()), ap),
		wrong(vendorUpdate("update-by-vendor-procurement", vendorStaff, revisedUpdate()), ap),
		{vendorUpdate("vendor-update-1", vendorUser, revisedUpdate()), wantVendorUpdate(ap)},
		wrong(acknowledge("ack-by-vendor", vendorUser), ap),
		wrong(acknowledge("ack-by-buyer-in-vendor-role", buyerAsVendor), ap),
		{acknowledge("ack-1", procurement), wantAck(ap)},
		{approve("approve-1", procurement), wantApprove},
		wrong(approvePayment("approve-payment-by-procurement", procurement), aa),
		wrong(approvePayment("approve-payment-by-vendor", vendorAccounting), aa),
		wrong(returnToProcurement("return-by-procurement", procurement, reasonReturned), aa),
		wrong(returnToProcurement("return-by-stranger", strangerAccounting, reasonReturned), aa),
		{approvePayment("approve-payment-1", accounting), wantApprovePayment},
		wrong(cancelPaymentApproval("cancel-by-procurement", procurement), a),
		wrong(cancelPaymentApproval("cancel-by-vendor", vendorAccounting), a),
		wrong(markPaid("paid-by-procurement", procurement), a),
		wrong(markPaid("paid-by-stranger", strangerAccounting), a),
		{markPaid("mark-paid-1", accounting), wantMarkPaid},
	}
	h := newHarness(t)
	wantEvents := []want{wantCreated}
	var updates []*updateCall
	for i, st := range steps {
		at := time.Duration(i+1) * time.Minute
		h.send(at, st.sig)
		wantEvents = append(wantEvents, st.want)
		if st.want.kind == invoice.EventRefused {
			updates = append(updates, h.update(at+30*time.Second, st.sig.name, "update-"+st.sig.req.IdempotencyKey,
				withKey(st.sig, "as-update-"+st.sig.req.IdempotencyKey).req))
		}
	}
	h.run()
	_, s := h.assertPaid()

	events := h.recorded()
	h.assertEvents(events, wantEvents...)
	if len(events) == len(wantEvents) {
		for i, st := range steps {
			if e := events[i+1]; e.Actor != st.sig.req.Actor {
				t.Errorf("event %d actor %+v, want %+v", i+1, e.Actor, st.sig.req.Actor)
			}
		}
	}
	for _, st := range steps {
		if st.want.kind == invoice.EventRefused {
			checkAnswer(t, s.Answers, st.sig.req.IdempotencyKey, st.want.action, false, invoice.RefusedWrongActor, st.want.from)
		}
	}
	for _, u := range updates {
		checkRejected(t, u, invoice.RefusedWrongActor)
		if _, ok := s.Answers[u.req.IdempotencyKey]; ok {
			t.Errorf("rejected update %s left an answer", u.req.IdempotencyKey)
		}
	}
	if len(s.Transitions) != 5 {
		t.Errorf("transitions = %d, want 5", len(s.Transitions))
	}
}

// ---- 2. Updates ----

// The validator rejects what the workflow would refuse: OnReject with the refusal code, the
// handler never runs, no audit row, no answer; the key stays free for a later request.
func TestUpdate_ValidatorRejectsRefusedActions(t *testing.T) {
	badUpdate := revisedUpdate()
	badUpdate.TotalMinor = 1
	h := newHarness(t)
	rejected := []struct {
		u    *updateCall
		code invoice.RefusalCode
	}{
		{h.update(time.Minute, SignalApprovePayment, "u1", approvePayment("early-ap", accounting).req), invoice.RefusedWrongStatus},
		{h.update(time.Minute+time.Second, SignalApprove, "u2", approve("approve-by-vendor", vendorStaff).req), invoice.RefusedWrongActor},
		{h.update(time.Minute+2*time.Second, SignalApprove, "u3", approve("", procurement).req), invoice.RefusedInvalid},
		{h.update(time.Minute+3*time.Second, SignalReturnToProcurement, "u4",
			returnToProcurement("return-blank", accounting, "").req), invoice.RefusedInvalid},
		{h.update(time.Minute+4*time.Second, SignalAcknowledgeUpdate, "u5", acknowledge("ack", procurement).req), invoice.RefusedWrongStatus},
		{h.update(time.Minute+5*time.Second, SignalMarkPaid, "u6", markPaid("paid", accounting).req), invoice.RefusedWrongStatus},
		{h.update(time.Minute+6*time.Second, SignalVendorUpdate, "u7",
			vendorUpdate("bad-update", vendorUser, badUpdate).req), invoice.RefusedInvalid},
		{h.update(time.Minute+7*time.Second, SignalCancelPaymentApproval, "u8",
			cancelPaymentApproval("cancel", accounting).req), invoice.RefusedWrongStatus},
		// A payload naming another action than the update it came on.
		{h.update(time.Minute+8*time.Second, SignalApprove, "u9", invoice.ActionRequest{Action: invoice.ActionMarkPaid,
			Actor: procurement, IdempotencyKey: "mismatch"}), invoice.RefusedInvalid},
	}
	var mid State
	var midRecords int
	h.at(2*time.Minute, func() {
		mid = h.state()
		_, _, _, midRecords = h.counts()
	})
	approved := h.update(3*time.Minute, SignalApprove, "u10", approve("approve-1", procurement).req)
	// The key the validator rejected in AP is free: the same request is accepted in AA.
	early := h.update(4*time.Minute, SignalApprovePayment, "u11", approvePayment("early-ap", accounting).req)
	paid := h.update(5*time.Minute, SignalMarkPaid, "u12", markPaid("mark-paid-1", accounting).req)
	h.run()
	_, s := h.assertPaid()

	for _, r := range rejected {
		checkRejected(t, r.u, r.code)
	}
	if mid.Status != invoice.StatusAP || len(mid.Answers) != 0 || mid.EventSeq != 1 || len(mid.Inbox) != 0 || midRecords != 0 {
		t.Errorf("after the rejected updates: status %s answers %v event_seq %d inbox %d RecordEvent calls %d, "+
			"want AP and no trace", mid.Status, keys(mid.Answers), mid.EventSeq, len(mid.Inbox), midRecords)
	}
	checkAnswered(t, approved, invoice.ActionApprove, invoice.StatusAA)
	checkAnswered(t, early, invoice.ActionApprovePayment, invoice.StatusA)
	checkAnswered(t, paid, invoice.ActionMarkPaid, invoice.StatusP)
	h.assertEvents(h.recorded(), wantCreated, wantApprove, wantApprovePayment, wantMarkPaid)
	if _, _, _, record := h.counts(); record != 3 {
		t.Errorf("RecordEvent called %d times, want 3 (rejected updates write nothing)", record)
	}
	h.env.AssertNotCalled(t, "ReviseInvoice", mock.Anything, mock.Anything)
	if len(s.Answers) != 3 {
		t.Errorf("answers %v, want only the three accepted keys", keys(s.Answers))
	}
}

// An accepted update returns the workflow's Answer once the workflow has applied it, for every
// action of the lifecycle.
func TestUpdate_AcceptedUpdatesReturnTheAnswer(t *testing.T) {
	h := newHarness(t)
	type call struct {
		u      *updateCall
		action invoice.Action
		to     invoice.Status
	}
	var calls []call
	add := func(s signal, to invoice.Status) {
		at := time.Duration(len(calls)+1) * time.Minute
		calls = append(calls, call{h.update(at, s.name, "update-"+s.req.IdempotencyKey, s.req), actionOf(s.name), to})
	}
	add(vendorUpdate("vendor-update-1", vendorUser, revisedUpdate()), invoice.StatusAP)
	add(acknowledge("ack-1", procurement), invoice.StatusAP)
	add(approve("approve-1", procurement), invoice.StatusAA)
	add(returnToProcurement("return-1", accounting, reasonReturned), invoice.StatusAP)
	add(approve("approve-2", procurement), invoice.StatusAA)
	add(approvePayment("approve-payment-1", accounting), invoice.StatusA)
	add(cancelPaymentApproval("cancel-1", accounting), invoice.StatusAA)
	add(approvePayment("approve-payment-2", accounting), invoice.StatusA)
	add(markPaid("mark-paid-1", accounting), invoice.StatusP)
	h.run()
	_, s := h.assertPaid()
	for _, c := range calls {
		checkAnswered(t, c.u, c.action, c.to)
		checkAnswer(t, s.Answers, c.u.req.IdempotencyKey, c.action, true, "", c.to)
	}
	h.assertEvents(h.recorded(), wantCreated, wantVendorUpdate(invoice.StatusAP), wantAck(invoice.StatusAP), wantApprove,
		transition(invoice.ActionReturnToProcurement, invoice.StatusAA, invoice.StatusAP), wantApprove,
		wantApprovePayment, transition(invoice.ActionCancelPaymentApproval, invoice.StatusA, invoice.StatusAA),
		wantApprovePayment, wantMarkPaid)
	if len(s.Transitions) != len(calls) {
		t.Errorf("transitions = %d, want %d", len(s.Transitions), len(calls))
	}
}

// Updates with an idempotency key already used for the same action (under other update IDs) get
// the first answer and are applied once, whether they come after the first was answered, or
// together with it; a signal with the key writes nothing either.
func TestUpdate_DuplicateIdempotencyKeyAnsweredOnce(t *testing.T) {
	h := newHarness(t)
	first := h.update(time.Minute, SignalApprove, "u-approve-1", approve("approve-1", procurement).req)
	// Later, in AA, where a new approve would be refused: it gets the first answer.
	again := h.update(2*time.Minute, SignalApprove, "u-approve-2", approve("approve-1", procurement).req)
	var together []*updateCall
	h.at(3*time.Minute, func() {
		together = append(together,
			h.updateNow(SignalApprovePayment, "u-ap-1", approvePayment("approve-payment-1", accounting).req),
			h.updateNow(SignalApprovePayment, "u-ap-2", approvePayment("approve-payment-1", accounting).req))
	})
	h.send(4*time.Minute, approvePayment("approve-payment-1", accounting))
	var mid State
	h.at(4*time.Minute+30*time.Second, func() { mid = h.state() })
	paid := h.update(5*time.Minute, SignalMarkPaid, "u-paid", markPaid("mark-paid-1", accounting).req)
	h.run()
	h.assertPaid()

	checkAnswered(t, first, invoice.ActionApprove, invoice.StatusAA)
	checkAnswered(t, again, invoice.ActionApprove, invoice.StatusAA)
	if len(together) != 2 {
		t.Fatalf("the concurrent updates were not sent")
	}
	for _, u := range together {
		checkAnswered(t, u, invoice.ActionApprovePayment, invoice.StatusA)
	}
	checkAnswered(t, paid, invoice.ActionMarkPaid, invoice.StatusP)
	h.assertEvents(h.recorded(), wantCreated, wantApprove, wantApprovePayment, wantMarkPaid)
	if _, _, _, record := h.counts(); record != 3 {
		t.Errorf("RecordEvent called %d times, want 3", record)
	}
	if mid.Status != invoice.StatusA || len(mid.Transitions) != 2 || len(mid.Inbox) != 0 {
		t.Errorf("after the duplicates: status %s, %d transitions, inbox %d; want A, 2, empty", mid.Status,
			len(mid.Transitions), len(mid.Inbox))
	}
}

// An idempotency key reused for another action is rejected by the validator (no audit row) and
// keeps its first answer.
func TestUpdate_KeyReusedForAnotherActionRejected(t *testing.T) {
	h := newHarness(t)
	first := h.update(time.Minute, SignalApprove, "u1", approve("k", procurement).req)
	reused := h.update(2*time.Minute, SignalApprovePayment, "u2", approvePayment("k", accounting).req)
	h.send(3*time.Minute, approvePayment("approve-payment-1", accounting))
	h.send(4*time.Minute, markPaid("mark-paid-1", accounting))
	h.run()
	_, s := h.assertPaid()
	checkAnswered(t, first, invoice.ActionApprove, invoice.StatusAA)
	checkRejected(t, reused, invoice.RefusedInvalid)
	if err := reused.outcome().Rejected; err != nil && !strings.Contains(err.Error(), `idempotency_key "k" was already used for approve`) {
		t.Errorf("rejection = %q, want it to say the key was used for approve", err)
	}
	h.assertEvents(h.recorded(), wantCreated, wantApprove, wantApprovePayment, wantMarkPaid)
	checkAnswer(t, s.Answers, "k", invoice.ActionApprove, true, "", invoice.StatusAA)
}

// The validator judges an update against the state when it arrives; one that the workflow
// refuses when it applies it (the state moved on meanwhile) completes with the refusal as an
// error typed by its code, and leaves an audit row.
func TestUpdate_AcceptedByValidatorRefusedWhenApplied(t *testing.T) {
	h := newHarness(t)
	var both []*updateCall
	h.at(time.Minute, func() {
		both = append(both,
			h.updateNow(SignalApprove, "u1", approve("approve-1", procurement).req),
			h.updateNow(SignalApprove, "u2", approve("approve-2", procurement).req))
	})
	pay := h.payFrom(2*time.Minute, invoice.StatusAA)
	h.run()
	_, s := h.assertPaid()
	if len(both) != 2 {
		t.Fatal("updates not sent")
	}
	checkAnswered(t, both[0], invoice.ActionApprove, invoice.StatusAA)
	checkRefusedWhenApplied(t, both[1], invoice.RefusedWrongStatus, invoice.StatusAA)
	h.assertEvents(h.recorded(), wants(wantCreated, wantApprove,
		refused(invoice.ActionApprove, invoice.StatusAA, invoice.RefusedWrongStatus), pay)...)
	checkAnswer(t, s.Answers, "approve-2", invoice.ActionApprove, false, invoice.RefusedWrongStatus, invoice.StatusAA)
}

// ---- 3. Reminders ----

// checkReminder checks a reminder event: n of max in status in, whose stay began at since,
// waiting for waitingFor, on the vendor in D and on the buyer elsewhere.
func checkReminder(t *testing.T, e invoice.Event, in invoice.Status, since time.Time, n, max int, waitingFor string) {
	t.Helper()
	if e.Kind != invoice.EventReminder || e.From != in || e.To != in || e.Code != "waiting_in_"+string(in) ||
		e.InvoiceID != testInvoiceID || e.Actor != (invoice.Actor{}) || e.Action != "" {
		t.Errorf("reminder event = %+v", e)
	}
	want := fmt.Sprintf("since %s, waiting for %s; reminder %d of %d", since.UTC().Format(time.RFC3339), waitingFor, n, max)
	if !strings.Contains(e.Reason, want) {
		t.Errorf("reminder reason %q, want it to say %q", e.Reason, want)
	}
	waitingOn := invoice.PartyBuyer
	if in == invoice.StatusD {
		waitingOn = invoice.PartyVendor
	}
	if e.WaitingOn != waitingOn || e.Reminder != n {
		t.Errorf("reminder waiting_on %q reminder %d, want %q and %d", e.WaitingOn, e.Reminder, waitingOn, n)
	}
}

// checkNotification checks the Notify call a run older than shapeWebhooks makes for reminder e.
func checkNotification(t *testing.T, h *harness, e invoice.Event, notes []activities.Notification, since time.Time, waitingFor string) {
	t.Helper()
	var note *activities.Notification
	for i := range notes {
		if notes[i].EventKey == e.Key {
			if note != nil {
				t.Errorf("two notifications for %s", e.Key)
			}
			note = &notes[i]
		}
	}
	if note == nil {
		t.Errorf("no notification for reminder %s; notifications %+v", e.Key, notes)
		return
	}
	o := testOrder()
	if note.Kind != string(invoice.EventReminder) || note.WorkflowID != h.wid || note.VendorID != testVendor ||
		note.BuyerID != testBuyer || note.PONumber != testPO || note.InvoiceNumber != o.InvoiceNumber ||
		note.Status != e.From || note.WaitingFor != waitingFor || !note.Since.Equal(since) || note.Reminder != e.Reminder ||
		note.WaitingOn != e.WaitingOn {
		t.Errorf("notification = %+v, want the one of reminder %+v since %v waiting for %s", *note, e, since, waitingFor)
	}
}

// Reminders on every version of the local-steps marker: the same reminder event on each; runs
// older than shapeWebhooks also run the retired Notify for it (so their histories replay), the
// current one does not.
func TestReminders_NotifyOnlyOnOlderRuns(t *testing.T) {
	for _, v := range everyShape {
		t.Run(fmt.Sprintf("version %d", v), func(t *testing.T) {
			h := harnessAtShape(t, v)
			h.env.OnGetVersion(changeKeepCurrency, workflow.DefaultVersion, workflow.Version(1)).Return(workflow.Version(1)).Maybe()
			h.env.OnUpsertTypedSearchAttributes(mock.Anything).Return(nil).Maybe()
			h.happyPath(73 * time.Hour)
			h.runWith(ConfirmOrder{Order: testOrder(), Reminders: ReminderPolicy{AP: 72 * time.Hour, Max: 1}})
			h.assertPaid()
			events := h.recorded()
			if len(events) < 2 {
				t.Fatalf("events %+v, want the reminder second", events)
			}
			checkReminder(t, events[1], invoice.StatusAP, t0, 1, 1, "buyer procurement to approve")
			notes := h.notifications()
			if v >= shapeWebhooks {
				if len(notes) != 0 {
					t.Errorf("version %d ran Notify: %+v", v, notes)
				}
				return
			}
			if len(notes) != 1 {
				t.Errorf("version %d: %d notifications, want 1: %+v", v, len(notes), notes)
			}
			checkNotification(t, h, events[1], notes, t0, "buyer procurement to approve")
		})
	}
}

// With {AP 72h, AA 48h, A 0, Max 2}: reminders after 72h and 144h in AP, none after (the cap), the
// status unchanged; the count restarts in AA (after 48h and 96h); none in A.
func TestReminders_PolicyAndCap(t *testing.T) {
	h := newHarness(t)
	h.env.SetStartTime(t0)
	snaps := map[string]*State{}
	look := func(name string, at time.Duration) {
		sn := &State{}
		snaps[name] = sn
		h.at(at, func() { *sn = h.state() })
	}
	look("71h", 71*time.Hour)
	look("73h", 73*time.Hour)
	look("145h", 145*time.Hour)
	look("249h", 249*time.Hour)
	h.send(250*time.Hour, approve("approve-1", procurement))
	look("297h", 297*time.Hour)
	look("299h", 299*time.Hour)
	h.send(400*time.Hour, approvePayment("approve-payment-1", accounting))
	h.send(400*time.Hour+30*24*time.Hour, markPaid("mark-paid-1", accounting))
	h.runWith(ConfirmOrder{Order: testOrder(), Reminders: ReminderPolicy{AP: 72 * time.Hour, AA: 48 * time.Hour, Max: 2}})
	_, s := h.assertPaid()

	events := h.recorded()
	h.assertEvents(events, wantCreated, wantReminder(invoice.StatusAP), wantReminder(invoice.StatusAP), wantApprove,
		wantReminder(invoice.StatusAA), wantReminder(invoice.StatusAA), wantApprovePayment, wantMarkPaid)
	if notes := h.notifications(); len(notes) != 0 {
		t.Errorf("Notify ran on the current version: %+v", notes)
	}
	if len(events) != 8 {
		t.FailNow()
	}
	created, approved := events[0].OccurredAt, events[3].OccurredAt
	if !created.Equal(t0) {
		t.Errorf("created at %v, want %v", created, t0)
	}
	for i, d := range map[int]time.Duration{1: 72 * time.Hour, 2: 144 * time.Hour} {
		if got := events[i].OccurredAt.Sub(created); got != d {
			t.Errorf("AP reminder %d after %v, want %v", i, got, d)
		}
	}
	for i, d := range map[int]time.Duration{4: 48 * time.Hour, 5: 96 * time.Hour} {
		if got := events[i].OccurredAt.Sub(approved); got != d {
			t.Errorf("AA reminder %d after %v in AA, want %v", i-3, got, d)
		}
	}
	checkReminder(t, events[1], invoice.StatusAP, created, 1, 2, "buyer procurement to approve")
	checkReminder(t, events[2], invoice.StatusAP, created, 2, 2, "buyer procurement to approve")
	checkReminder(t, events[4], invoice.StatusAA, approved, 1, 2, "buyer accounting to approve payment")
	checkReminder(t, events[5], invoice.StatusAA, approved, 2, 2, "buyer accounting to approve payment")

	for name, want := range map[string]struct {
		status       invoice.Status
		sent         int
		transitions  int
		statusSince  time.Time
		eventsBefore int
	}{
		"71h":  {invoice.StatusAP, 0, 0, created, 1},
		"73h":  {invoice.StatusAP, 1, 0, created, 2},
		"145h": {invoice.StatusAP, 2, 0, created, 3},
		"249h": {invoice.StatusAP, 2, 0, created, 3},
		"297h": {invoice.StatusAA, 0, 1, approved, 4},
		"299h": {invoice.StatusAA, 1, 1, approved, 5},
	} {
		sn := snaps[name]
		if sn.Status != want.status || sn.RemindersSent != want.sent ||
			len(sn.Transitions) != want.transitions || !sn.StatusSince.Equal(want.statusSince) || sn.EventSeq != want.eventsBefore {
			t.Errorf("at %s: status %s reminders_sent %d transitions %d since %v event_seq %d, want %+v",
				name, sn.Status, sn.RemindersSent, len(sn.Transitions), sn.StatusSince, sn.EventSeq, want)
		}
	}
	if s.Reminders != (ReminderPolicy{AP: 72 * time.Hour, AA: 48 * time.Hour, Max: 2}) {
		t.Errorf("policy = %+v", s.Reminders)
	}
}

// Without a policy, DefaultReminders apply: 3 reminders after 3, 6 and 9 days in AP, none in AA
// within 2 days, one after 7 days in A.
func TestReminders_DefaultPolicy(t *testing.T) {
	h := newHarness(t)
	h.env.SetStartTime(t0)
	h.send(300*time.Hour, approve("approve-1", procurement))
	h.send(301*time.Hour, approvePayment("approve-payment-1", accounting))
	h.send(301*time.Hour+7*24*time.Hour+time.Hour, markPaid("mark-paid-1", accounting))
	h.run()
	_, s := h.assertPaid()
	if s.Reminders != DefaultReminders {
		t.Errorf("policy = %+v, want DefaultReminders %+v", s.Reminders, DefaultReminders)
	}
	events := h.recorded()
	h.assertEvents(events, wantCreated, wantReminder(invoice.StatusAP), wantReminder(invoice.StatusAP),
		wantReminder(invoice.StatusAP), wantApprove, wantApprovePayment, wantReminder(invoice.StatusA), wantMarkPaid)
	if len(events) != 8 {
		t.FailNow()
	}
	for i := 1; i <= 3; i++ {
		if got := events[i].OccurredAt.Sub(t0); got != time.Duration(i)*72*time.Hour {
			t.Errorf("AP reminder %d after %v", i, got)
		}
		checkReminder(t, events[i], invoice.StatusAP, t0, i, 3, "buyer procurement to approve")
	}
	inA := events[5].OccurredAt
	if got := events[6].OccurredAt.Sub(inA); got != 7*24*time.Hour {
		t.Errorf("A reminder after %v in A, want 7 days", got)
	}
	checkReminder(t, events[6], invoice.StatusA, inA, 1, 3, "buyer accounting to mark it paid")
}

// A policy that sets some durations only takes the default cap; a zero duration sends none.
func TestReminders_PartialPolicyTakesDefaultMax(t *testing.T) {
	h := newHarness(t)
	h.send(5*time.Hour, approve("approve-1", procurement))
	h.send(500*time.Hour, approvePayment("approve-payment-1", accounting))
	h.send(1000*time.Hour, markPaid("mark-paid-1", accounting))
	h.runWith(ConfirmOrder{Order: testOrder(), Reminders: ReminderPolicy{AP: time.Hour}})
	_, s := h.assertPaid()
	if want := (ReminderPolicy{AP: time.Hour, Max: DefaultReminders.Max}); s.Reminders != want {
		t.Errorf("policy = %+v, want %+v", s.Reminders, want)
	}
	h.assertEvents(h.recorded(), wantCreated, wantReminder(invoice.StatusAP), wantReminder(invoice.StatusAP),
		wantReminder(invoice.StatusAP), wantApprove, wantApprovePayment, wantMarkPaid)
}

// ---- 4. Continue-as-new ----

// continuedAsNew returns the input the workflow continued as new with; it fails the test when the
// workflow ended otherwise.
func (h *harness) continuedAsNew() ConfirmOrder {
	h.t.Helper()
	if !h.env.IsWorkflowCompleted() {
		h.t.Fatal("workflow did not complete")
	}
	err := h.env.GetWorkflowError()
	var can *workflow.ContinueAsNewError
	if !errors.As(err, &can) {
		h.t.Fatalf("workflow error = %v (%T), want a continue-as-new", err, err)
	}
	if can.WorkflowType == nil || can.WorkflowType.Name != InvoiceWorkflowType {
		h.t.Errorf("continued as %+v, want workflow type %s", can.WorkflowType, InvoiceWorkflowType)
	}
	var next ConfirmOrder
	if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &next); err != nil {
		h.t.Fatalf("decoding the continue-as-new input: %v", err)
	}
	if next.Resume == nil {
		h.t.Fatal("continue-as-new input has no Resume state")
	}
	return next
}

// With a low history limit the workflow continues as new after progress, once every action
// received just before the hand-over is answered in the old run; the new run carries the whole
// state, creates nothing again, numbers events after the old ones and completes the lifecycle.
func TestContinueAsNew_HandsOverWholeStateAndResumes(t *testing.T) {
	h := newHarness(t)
	h.env.SetStartTime(t0)
	h.recordDelay = 10 * time.Second
	policy := ReminderPolicy{AP: 72 * time.Hour, AA: 48 * time.Hour, Max: 2}
	h.send(time.Minute, approve("approve-1", procurement))
	vu := h.update(2*time.Minute, SignalVendorUpdate, "u-vendor-update", vendorUpdate("vendor-update-1", vendorUser, revisedUpdate()).req)
	h.send(3*time.Minute, approve("approve-blocked", procurement))
	// The acknowledgement's RecordEvent takes 10s; the messages below arrive meanwhile and wait in
	// the inbox.
	ack := h.update(4*time.Minute, SignalAcknowledgeUpdate, "u-ack", acknowledge("ack-1", procurement).req)
	h.send(4*time.Minute+2*time.Second, approve("approve-2", procurement))
	h.send(4*time.Minute+3*time.Second, approve("approve-wrong", vendorStaff))
	ackAgain := h.update(4*time.Minute+4*time.Second, SignalAcknowledgeUpdate, "u-ack-again", acknowledge("ack-1", procurement).req)
	// The test environment reports a history length of 0 unless told otherwise: tell it the
	// history reached the limit, still while the acknowledgement is being recorded. When the
	// acknowledgement is done, the run hands over, after answering what waits in the inbox.
	h.at(4*time.Minute+5*time.Second, func() { h.env.SetCurrentHistoryLength(25) })
	h.runWith(ConfirmOrder{Order: testOrder(), ContinueAsNewAfterEvents: 20, Reminders: policy})
	next := h.continuedAsNew()

	h.assertEvents(h.recorded(), wantCreated, wantApprove, wantVendorUpdate(invoice.StatusAA),
		refused(invoice.ActionApprove, invoice.StatusAP, invoice.RefusedUnreviewed), wantAck(invoice.StatusAP),
		wantApprove, refused(invoice.ActionApprove, invoice.StatusAA, invoice.RefusedWrongActor))
	checkAnswered(t, vu, invoice.ActionVendorUpdate, invoice.StatusAP)
	checkAnswered(t, ack, invoice.ActionAcknowledgeUpdate, invoice.StatusAP)
	checkAnswered(t, ackAgain, invoice.ActionAcknowledgeUpdate, invoice.StatusAP)

	r := next.Resume
	if r.Status != invoice.StatusAA || r.Revision != 2 || r.UpdatePending || r.EventSeq != 7 || len(r.Inbox) != 0 ||
		r.InvoiceID != testInvoiceID || r.WorkflowID != h.wid || r.Runs != 1 || r.Outcome != "" ||
		r.ContinueAsNewAfterEvents != 20 || r.Reminders != policy || r.RemindersSent != 0 || r.Discrepancy != 1000 ||
		!reflect.DeepEqual(r.Order, revisedOrder()) || len(r.Revisions) != 2 || r.Document.Key == testDocument.Key {
		t.Errorf("handed-over state = %+v", *r)
	}
	if q := h.state(); !reflect.DeepEqual(q, *r) {
		t.Errorf("handed-over state differs from the old run's last state:\n got %+v\nwant %+v", *r, q)
	}
	if !reflect.DeepEqual(next.Order, r.Order) {
		t.Errorf("continue-as-new order %+v, want the current order", next.Order)
	}
	wantTr := []invoice.Action{invoice.ActionApprove, invoice.ActionVendorUpdate, invoice.ActionAcknowledgeUpdate, invoice.ActionApprove}
	if len(r.Transitions) != len(wantTr) {
		t.Errorf("handed-over transitions = %+v", r.Transitions)
	} else {
		for i, a := range wantTr {
			if r.Transitions[i].Action != a {
				t.Errorf("transition %d = %+v, want %s", i, r.Transitions[i], a)
			}
		}
		if !r.StatusSince.Equal(r.Transitions[3].At) {
			t.Errorf("status since %v, want the last approve at %v", r.StatusSince, r.Transitions[3].At)
		}
	}
	checkAnswer(t, r.Answers, "approve-1", invoice.ActionApprove, true, "", invoice.StatusAA)
	checkAnswer(t, r.Answers, "vendor-update-1", invoice.ActionVendorUpdate, true, "", invoice.StatusAP)
	checkAnswer(t, r.Answers, "approve-blocked", invoice.ActionApprove, false, invoice.RefusedUnreviewed, invoice.StatusAP)
	checkAnswer(t, r.Answers, "ack-1", invoice.ActionAcknowledgeUpdate, true, "", invoice.StatusAP)
	checkAnswer(t, r.Answers, "approve-2", invoice.ActionApprove, true, "", invoice.StatusAA)
	checkAnswer(t, r.Answers, "approve-wrong", invoice.ActionApprove, false, invoice.RefusedWrongActor, invoice.StatusAA)
	if len(r.Answers) != 6 {
		t.Errorf("handed-over answers %v, want 6", keys(r.Answers))
	}

	// The next run, in a new environment, from the handed-over input.
	h2 := newHarness(t)
	h2.seqBase = r.EventSeq
	h2.env.SetStartTime(h.env.Now())
	h2.send(time.Minute, approve("approve-2", procurement)) // re-delivered from the old run: answered there
	h2.send(2*time.Minute, approvePayment("approve-payment-1", accounting))
	h2.send(3*time.Minute, markPaid("mark-paid-1", accounting))
	h2.runWith(next)
	_, s := h2.assertPaid()
	if v, st, c, record := h2.counts(); v != 0 || st != 0 || c != 0 || record != 2 {
		t.Errorf("resumed run: VerifyEligibility %d StorePDF %d CreateAPInvoice %d RecordEvent %d calls, want 0 0 0 2",
			v, st, c, record)
	}
	h2.env.AssertNotCalled(t, "VerifyEligibility", mock.Anything, mock.Anything)
	h2.env.AssertNotCalled(t, "StorePDF", mock.Anything, mock.Anything)
	h2.env.AssertNotCalled(t, "CreateAPInvoice", mock.Anything, mock.Anything)
	events := h2.recorded() // keys #8, #9
	h2.assertEvents(events, wantApprovePayment, wantMarkPaid)
	if len(events) == 2 && (events[0].Revision != 2 || events[0].InvoiceID != testInvoiceID) {
		t.Errorf("resumed run event = %+v, want revision 2 of invoice %d", events[0], testInvoiceID)
	}
	if s.Runs != 2 || len(s.Transitions) != 6 || s.EventSeq != 9 || len(s.Answers) != 8 || s.Revision != 2 ||
		len(s.Revisions) != 2 || s.Order.InvoiceNumber != "INV-77-R2" {
		t.Errorf("final state runs %d transitions %d event_seq %d answers %v revision %d revisions %d invoice %s",
			s.Runs, len(s.Transitions), s.EventSeq, keys(s.Answers), s.Revision, len(s.Revisions), s.Order.InvoiceNumber)
	}
}

// A run that has not handled an action yet does not continue as new, however long the history
// or whatever the server suggests: no loop of empty runs. After its first action it does.
func TestContinueAsNew_NotWithoutProgress(t *testing.T) {
	cases := []struct {
		name  string
		setup func(h *harness) ConfirmOrder
		runs  int // Runs of the run under test
	}{
		{"first run over the limit from the start", func(h *harness) ConfirmOrder {
			h.env.SetStartTime(t0)
			h.env.SetCurrentHistoryLength(100)
			return ConfirmOrder{Order: testOrder(), ContinueAsNewAfterEvents: 20}
		}, 1},
		{"resumed run over the limit", func(h *harness) ConfirmOrder {
			st := resumedState(h.wid, invoice.StatusAP, false)
			st.ContinueAsNewAfterEvents = 20
			h.env.SetCurrentHistoryLength(100)
			return h.resume(st)
		}, 2},
		{"resumed run the server asks to continue", func(h *harness) ConfirmOrder {
			st := resumedState(h.wid, invoice.StatusAP, false)
			h.env.SetContinueAsNewSuggested(true)
			return h.resume(st)
		}, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			in := tc.setup(h)
			// Reminders are not progress: the first falls due after 72h in AP.
			var early State
			var running bool
			h.at(80*time.Hour, func() { early, running = h.state(), !h.env.IsWorkflowCompleted() })
			h.send(81*time.Hour, approve("approve-1", procurement))
			h.runWith(in)
			next := h.continuedAsNew()
			if !running || early.Status != invoice.StatusAP || early.Runs != tc.runs || early.RemindersSent != 1 {
				t.Errorf("after 80h: running %v status %s runs %d reminders %d, want still running in AP, run %d, 1 reminder",
					running, early.Status, early.Runs, early.RemindersSent, tc.runs)
			}
			r := next.Resume
			if r.Status != invoice.StatusAA || r.Runs != tc.runs || len(r.Transitions) != 1 || len(r.Inbox) != 0 {
				t.Errorf("handed over status %s runs %d transitions %+v inbox %d, want AA after the approve, run %d",
					r.Status, r.Runs, r.Transitions, len(r.Inbox), tc.runs)
			}
			h.assertEvents(h.recorded(), wants(func() []want {
				if tc.runs == 1 {
					return []want{wantCreated}
				}
				return nil
			}(), wantReminder(invoice.StatusAP), wantApprove)...)
		})
	}
}

// On a run older than shapeWebhooks, a reminder's Notify must not be lost when the run hands over
// right after the reminder: remind starts Notify in a goroutine and returns, and continue-as-new
// falls due meanwhile (the history reaches the limit while the reminder's RecordEvent runs). The
// run hands over only once nothing is in flight, Notify included, so it completes in the old run
// or, had it not started, in the new one.
func TestContinueAsNew_ReminderNotificationSurvivesHandOver(t *testing.T) {
	h := newHarness(t)
	h.env.SetStartTime(t0)
	h.env.OnGetVersion(changeLocalSteps, workflow.DefaultVersion, shapeCurrent).Return(shapeKeepsCurrency)
	h.recordDelay = 10 * time.Second
	h.notifyDelay = 5 * time.Second // a healthy hook that takes a moment to answer
	h.send(time.Minute, approve("approve-1", procurement))
	// approve is recorded at 1m10s; the AA reminder falls due 48h later, its RecordEvent takes
	// 10s, and the history reaches the limit meanwhile.
	h.at(time.Minute+10*time.Second+48*time.Hour+5*time.Second, func() { h.env.SetCurrentHistoryLength(25) })
	h.runWith(ConfirmOrder{Order: testOrder(), ContinueAsNewAfterEvents: 20})
	next := h.continuedAsNew()
	events := h.recorded()
	h.assertEvents(events, wantCreated, wantApprove, wantReminder(invoice.StatusAA))
	if len(events) != 3 {
		t.FailNow()
	}
	reminderKey := events[2].Key

	h2 := newHarness(t)
	h2.env.OnGetVersion(changeLocalSteps, workflow.DefaultVersion, shapeCurrent).Return(shapeKeepsCurrency)
	h2.seqBase = next.Resume.EventSeq
	h2.env.SetStartTime(h.env.Now())
	h2.payFrom(time.Minute, invoice.StatusAA)
	h2.runWith(next)
	h2.assertPaid()

	var sent []string
	for _, n := range append(h.notifications(), h2.notifications()...) {
		sent = append(sent, n.EventKey)
	}
	found := false
	for _, k := range sent {
		found = found || k == reminderKey
	}
	if !found {
		t.Errorf("the notification of reminder %s was never delivered: the run continued as new with Notify in "+
			"flight (handed over reminders_sent %d), and the new run did not send it; notifications sent: %v",
			reminderKey, next.Resume.RemindersSent, sent)
	}
}

// ---- 5. Query ----

// The status query reports the status, revision, warning, the invoice total beside the PO total
// with the discrepancy, and the transitions, under the JSON names of the contract.
func TestQuery_StatusRevisionWarningTotalsTransitions(t *testing.T) {
	h := newHarness(t)
	h.send(time.Minute, approve("approve-1", procurement))
	h.send(2*time.Minute, vendorUpdate("vendor-update-1", vendorUser, revisedUpdate()))
	var raw, rawAcked map[string]any
	var typed State
	query := func(into *map[string]any) func() {
		return func() {
			v, err := h.env.QueryWorkflow(QueryStatus)
			if err != nil {
				t.Errorf("query: %v", err)
				return
			}
			if err := v.Get(into); err != nil {
				t.Errorf("decoding the query result: %v", err)
			}
		}
	}
	h.at(3*time.Minute, query(&raw))
	h.at(3*time.Minute, func() { typed = h.state() })
	h.send(4*time.Minute, acknowledge("ack-1", procurement))
	h.at(5*time.Minute, query(&rawAcked))
	h.payFrom(6*time.Minute, invoice.StatusAP)
	h.run()
	h.assertPaid()

	if raw == nil || rawAcked == nil {
		t.Fatal("queries did not run")
	}
	order, _ := raw["order"].(map[string]any)
	transitions, _ := raw["transitions"].([]any)
	if raw["status"] != "AP" || raw["revision"] != float64(2) || raw["update_pending"] != true ||
		raw["discrepancy_minor"] != float64(1000) || order["total_minor"] != float64(13000) ||
		order["po_total_minor"] != float64(12000) || order["invoice_number"] != "INV-77-R2" || len(transitions) != 2 {
		t.Errorf("query after the update = %v", raw)
	}
	for i, tr := range transitions {
		m, _ := tr.(map[string]any)
		for _, k := range []string{"at", "action", "actor", "from", "to"} {
			if _, ok := m[k]; !ok {
				t.Errorf("transition %d has no %q: %v", i, k, m)
			}
		}
	}
	if len(transitions) == 2 {
		if m, _ := transitions[1].(map[string]any); m["action"] != "vendor_update" || m["from"] != "AA" || m["to"] != "AP" {
			t.Errorf("transition 1 = %v", m)
		}
	}
	if rawAcked["update_pending"] != false || rawAcked["status"] != "AP" {
		t.Errorf("query after the acknowledgement: status %v update_pending %v", rawAcked["status"], rawAcked["update_pending"])
	}
	if typed.Order.TotalMinor-typed.Order.POTotalMinor != typed.Discrepancy || typed.Discrepancy != 1000 {
		t.Errorf("typed state totals %d - %d, discrepancy %d", typed.Order.TotalMinor, typed.Order.POTotalMinor, typed.Discrepancy)
	}
}

// usdUpdate is revisedUpdate in another currency than the invoice's.
func usdUpdate() *invoice.InvoiceUpdate {
	u := revisedUpdate()
	u.Currency = "USD"
	return u
}

// A vendor update in another currency is refused on update.currency: by the validator as an
// update, audited as a signal. The invoice keeps its currency, revision and PO total.
func TestVendorUpdateKeepsTheCurrency(t *testing.T) {
	h := newHarness(t)
	call := h.update(time.Minute, SignalVendorUpdate, "vu-usd-update",
		invoice.ActionRequest{Actor: vendorUser, IdempotencyKey: "vu-usd-update", Update: usdUpdate()})
	h.send(2*time.Minute, vendorUpdate("vu-usd-signal", vendorUser, usdUpdate()))
	h.happyPath(3 * time.Minute)
	h.run()
	_, s := h.assertPaid()
	checkRejected(t, call, invoice.RefusedInvalid)
	if o := call.outcome(); o.Rejected == nil || !strings.Contains(o.Rejected.Error(), "update.currency: must stay EUR") {
		t.Errorf("the update's refusal %v does not name update.currency", o.Rejected)
	}
	if a := s.Answers["vu-usd-signal"]; a.Accepted || a.Code != invoice.RefusedInvalid || !strings.Contains(a.Reason, "update.currency: must stay EUR") {
		t.Errorf("the signal's answer %+v, want refused on update.currency", a)
	}
	h.assertEvents(h.recorded(), wantCreated, refused(invoice.ActionVendorUpdate, invoice.StatusAP, invoice.RefusedInvalid),
		wantApprove, wantApprovePayment, wantMarkPaid)
	if s.Order.Currency != "EUR" || s.Revision != 1 || s.Order.POTotalMinor != testOrder().POTotalMinor {
		t.Errorf("order %s revision %d PO total %d, want EUR, 1 and the PO total unchanged", s.Order.Currency, s.Revision, s.Order.POTotalMinor)
	}
}

// Runs started before the currency rule: one whose first vendor update comes after the rule
// follows it (its keep-currency marker says so); one that decided a vendor update without the
// marker (before the rule) keeps the rule it ran under, so its history replays as it ran.
func TestVendorUpdateCurrencyOnOlderRuns(t *testing.T) {
	for _, tc := range []struct {
		name   string
		keep   workflow.Version
		accept bool
	}{{"first update after the rule", 1, false}, {"updates decided before the rule", workflow.DefaultVersion, true}} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.env.OnGetVersion(changeLocalSteps, workflow.DefaultVersion, shapeCurrent).Return(shapeArrivalOrder)
			h.env.OnGetVersion(changeKeepCurrency, workflow.DefaultVersion, 1).Return(tc.keep)
			h.send(time.Minute, vendorUpdate("vu-usd", vendorUser, usdUpdate()))
			h.send(2*time.Minute, acknowledge("ack-1", procurement))
			h.happyPath(3 * time.Minute)
			h.run()
			_, s := h.assertPaid()
			if a := s.Answers["vu-usd"]; a.Accepted != tc.accept {
				t.Errorf("vendor update in USD: %+v, want accepted %v", a, tc.accept)
			}
			if want := map[bool]string{true: "USD", false: "EUR"}[tc.accept]; s.Order.Currency != want {
				t.Errorf("currency %s, want %s", s.Order.Currency, want)
			}
		})
	}
}

// While an earlier action is being applied, the validator checks only what does not depend on the
// status, and that includes the currency rule: an update in another currency is refused up front.
func TestVendorUpdateInAnotherCurrencyRefusedWhileAnotherActionIsApplied(t *testing.T) {
	h := newHarness(t)
	h.recordDelay = 30 * time.Second
	h.send(time.Minute, approve("approve-1", procurement))
	call := h.update(time.Minute+10*time.Second, SignalVendorUpdate, "vu-usd",
		invoice.ActionRequest{Actor: vendorUser, IdempotencyKey: "vu-usd", Update: usdUpdate()})
	h.send(5*time.Minute, approvePayment("approve-payment-1", accounting))
	h.send(6*time.Minute, markPaid("mark-paid-1", accounting))
	h.run()
	h.assertPaid()
	checkRejected(t, call, invoice.RefusedInvalid)
}

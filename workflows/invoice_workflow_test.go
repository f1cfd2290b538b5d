package workflows

import (
	"errors"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/temporal"

	"github.com/k2kinvoice/autoinvoice/activities"
	"github.com/k2kinvoice/autoinvoice/internal/invoice"
)

// Case 1: an eligible order without a staging key becomes an AP invoice and is paid.
func TestInvoiceWorkflow_HappyPath(t *testing.T) {
	h := newHarness(t)
	h.happyPath(time.Minute)
	h.run()
	_, s := h.assertPaid()

	verify, store, create, _ := h.counts()
	if verify != 1 || store != 1 || create != 1 {
		t.Fatalf("activity calls: verify %d store %d create %d, want 1 each", verify, store, create)
	}
	if got := h.verifyCalls[0]; got != (activities.EligibilityInput{VendorID: testVendor, BuyerID: testBuyer}) {
		t.Errorf("VerifyEligibility input = %+v", got)
	}
	sp := h.storeCalls[0]
	if sp.Revision != 1 || sp.StagingKey != "" || sp.Order.InvoiceNumber != "INV-77" || sp.RenderedAt.IsZero() {
		t.Errorf("StorePDF input = %+v, want revision 1, no staging key, the order, a render time", sp)
	}
	ci := h.createCalls[0]
	if ci.WorkflowID != h.wid || ci.Document != testDocument || ci.Order.PONumber != testPO {
		t.Errorf("CreateAPInvoice input = %+v", ci)
	}
	if ci.Event.Kind != invoice.EventInvoiceCreated || ci.Event.To != invoice.StatusAP || ci.Event.From != "" {
		t.Errorf("CreateAPInvoice event = %+v, want invoice_created to AP", ci.Event)
	}

	events := h.recorded()
	h.assertEvents(events, wantCreated, wantApprove, wantApprovePayment, wantMarkPaid)
	for i, e := range events[1:] {
		if e.InvoiceID != testInvoiceID {
			t.Errorf("transition event %d has invoice ID %d, want %d", i, e.InvoiceID, testInvoiceID)
		}
	}
	if len(events) == 4 {
		if events[1].Actor != procurement || events[2].Actor != accounting || events[3].Actor != accounting {
			t.Errorf("event actors = %v %v %v", events[1].Actor, events[2].Actor, events[3].Actor)
		}
	}

	if len(s.Transitions) != 3 {
		t.Fatalf("state has %d transitions, want 3: %+v", len(s.Transitions), s.Transitions)
	}
	wantTr := []Transition{
		{Action: invoice.ActionApprove, Actor: procurement, From: invoice.StatusAP, To: invoice.StatusAA},
		{Action: invoice.ActionApprovePayment, Actor: accounting, From: invoice.StatusAA, To: invoice.StatusA},
		{Action: invoice.ActionMarkPaid, Actor: accounting, From: invoice.StatusA, To: invoice.StatusP,
			Reason: "paid on 2024-06-01, payment reference BANK-REF-9"},
	}
	if s.Payment == nil || *s.Payment != (Payment{Date: "2024-06-01", Reference: "BANK-REF-9"}) {
		t.Errorf("payment = %+v, want 2024-06-01 / BANK-REF-9", s.Payment)
	}
	for i, tr := range s.Transitions {
		at := tr.At
		tr.At = time.Time{}
		if tr != wantTr[i] {
			t.Errorf("transition %d = %+v, want %+v", i, tr, wantTr[i])
		}
		if i > 0 && !at.After(s.Transitions[i-1].At) {
			t.Errorf("transition %d at %v is not after the previous one at %v", i, at, s.Transitions[i-1].At)
		}
	}
	if s.Revision != 1 || s.InvoiceID != testInvoiceID || s.EventSeq != 4 || s.Discrepancy != 500 {
		t.Errorf("state revision %d invoice %d event_seq %d discrepancy %d, want 1 %d 4 500",
			s.Revision, s.InvoiceID, s.EventSeq, s.Discrepancy, testInvoiceID)
	}
	for _, key := range []string{"approve-1", "approve-payment-1", "mark-paid-1"} {
		if a, ok := s.Answers[key]; !ok || !a.Accepted {
			t.Errorf("answer for %s = %+v (present %v), want accepted", key, a, ok)
		}
	}
}

// A vendor-supplied PDF's staging key is handed to StorePDF.
func TestInvoiceWorkflow_StagingKeyPassedToStorePDF(t *testing.T) {
	h := newHarness(t)
	h.happyPath(time.Minute)
	h.runWith(ConfirmOrder{Order: testOrder(), StagingKey: stagedABC})
	_, s := h.assertPaid()
	if len(h.storeCalls) != 1 || h.storeCalls[0].StagingKey != stagedABC || h.storeCalls[0].Revision != 1 {
		t.Errorf("StorePDF calls = %+v", h.storeCalls)
	}
	if s.StagingKey != stagedABC {
		t.Errorf("state staging key = %q", s.StagingKey)
	}
}

// Case 2: an order that is not eligible ends with the reason and creates nothing.
func TestInvoiceWorkflow_NotEligible(t *testing.T) {
	reasons := []invoice.EligibilityReason{
		invoice.ReasonConnectionInactive, invoice.ReasonVendorSyncDisabled, invoice.ReasonBuyerUploadDisabled,
		invoice.ReasonNoConnection, invoice.ReasonUnknownCompany,
	}
	for _, reason := range reasons {
		t.Run(string(reason), func(t *testing.T) {
			h := newHarness(t)
			h.eligibility = invoice.Eligibility{Reason: reason, Detail: "detail of " + string(reason)}
			h.run()
			r := h.result()
			if r.Outcome != OutcomeNotEligible || r.Status != "" || r.InvoiceID != 0 {
				t.Errorf("result = %+v, want outcome not_eligible, no status, no invoice", r)
			}
			if want := string(reason) + ": detail of " + string(reason); r.Reason != want {
				t.Errorf("result reason = %q, want %q", r.Reason, want)
			}
			_, store, create, record := h.counts()
			if store != 0 || create != 0 {
				t.Errorf("StorePDF called %d times, CreateAPInvoice %d times, want never", store, create)
			}
			h.env.AssertNotCalled(t, "StorePDF", mock.Anything, mock.Anything)
			h.env.AssertNotCalled(t, "CreateAPInvoice", mock.Anything, mock.Anything)
			if record != 1 {
				t.Errorf("RecordEvent called %d times, want 1", record)
			}
			events := h.recorded()
			h.assertEvents(events, want{kind: invoice.EventNotEligible, code: string(reason)})
			if len(events) == 1 && (events[0].Reason != "detail of "+string(reason) || events[0].InvoiceID != 0) {
				t.Errorf("not_eligible event = %+v", events[0])
			}
			s := h.state()
			if s.Outcome != OutcomeNotEligible || s.Status != "" || s.InvoiceID != 0 || s.Reason != r.Reason {
				t.Errorf("state = %+v", s)
			}
		})
	}
}

// Case 3: a refusal of the order's content (a bad PDF, an invoice number already used) ends the
// workflow as rejected, with an audit row.
func TestInvoiceWorkflow_Rejected(t *testing.T) {
	t.Run("invalid PDF", func(t *testing.T) {
		h := newHarness(t)
		h.storeErr = func(int) error {
			return temporal.NewNonRetryableApplicationError("pdf: not a PDF file", activities.ErrTypeInvalidPDF, nil)
		}
		h.runWith(ConfirmOrder{Order: testOrder(), StagingKey: stagedBad})
		r := h.result()
		if r.Outcome != OutcomeRejected || r.Status != "" || r.InvoiceID != 0 {
			t.Errorf("result = %+v, want rejected without invoice", r)
		}
		if want := activities.ErrTypeInvalidPDF + ": pdf: not a PDF file"; r.Reason != want {
			t.Errorf("result reason = %q, want %q", r.Reason, want)
		}
		_, store, create, _ := h.counts()
		if store != 1 {
			t.Errorf("StorePDF called %d times, want once (non-retryable)", store)
		}
		if create != 0 {
			t.Errorf("CreateAPInvoice called %d times, want never", create)
		}
		events := h.recorded()
		h.assertEvents(events, want{kind: invoice.EventRejected, code: activities.ErrTypeInvalidPDF})
		if len(events) == 1 && events[0].Reason != "pdf: not a PDF file" {
			t.Errorf("rejected event reason = %q", events[0].Reason)
		}
		if s := h.state(); s.Outcome != OutcomeRejected || s.Status != "" {
			t.Errorf("state outcome %q status %q", s.Outcome, s.Status)
		}
	})
	t.Run("invoice number taken", func(t *testing.T) {
		h := newHarness(t)
		h.createErr = temporal.NewNonRetryableApplicationError(`invoice_number "INV-77" is already used`,
			activities.ErrTypeInvoiceNumberTaken, nil)
		h.run()
		r := h.result()
		if r.Outcome != OutcomeRejected || r.Status != "" || r.InvoiceID != 0 {
			t.Errorf("result = %+v, want rejected without invoice", r)
		}
		if !strings.HasPrefix(r.Reason, activities.ErrTypeInvoiceNumberTaken+": ") {
			t.Errorf("result reason = %q", r.Reason)
		}
		_, store, create, _ := h.counts()
		if store != 1 || create != 1 {
			t.Errorf("StorePDF %d CreateAPInvoice %d calls, want 1 and 1 (non-retryable)", store, create)
		}
		// CreateAPInvoice failed, so its invoice_created event was not written (the mock only
		// keeps it on success): the rejected row carries key #2, #1 was spent on the attempt.
		h.mu.Lock()
		events := append([]invoice.Event(nil), h.events...)
		createdKey := h.createCalls[0].Event.Key
		h.mu.Unlock()
		if len(events) != 1 || events[0].Kind != invoice.EventRejected ||
			events[0].Code != activities.ErrTypeInvoiceNumberTaken {
			t.Fatalf("events:\n%s", describe(events))
		}
		if events[0].Key == createdKey || events[0].Key != h.wid+"#2" {
			t.Errorf("rejected event key %q, created attempt key %q", events[0].Key, createdKey)
		}
		if s := h.state(); s.Outcome != OutcomeRejected || s.Status != "" || s.InvoiceID != 0 {
			t.Errorf("state outcome %q status %q invoice %d", s.Outcome, s.Status, s.InvoiceID)
		}
	})
}

// An infrastructure failure of StorePDF is retried, not turned into a rejection.
func TestInvoiceWorkflow_StorePDFInfrastructureErrorIsRetried(t *testing.T) {
	h := newHarness(t)
	h.storeErr = func(attempt int) error {
		if attempt < 3 {
			return errors.New("s3: connection reset")
		}
		return nil
	}
	h.happyPath(time.Hour)
	h.run()
	h.assertPaid()
	if _, attempts, _, _ := h.counts(); attempts != 3 {
		t.Errorf("StorePDF attempts = %d, want 3", attempts)
	}
}

// Case 4: an action out of order is refused and audited; the invoice stays where it was.
func TestInvoiceWorkflow_OutOfOrderRefused(t *testing.T) {
	h := newHarness(t)
	h.send(time.Minute, markPaid("early-paid", accounting))
	var mid State
	h.env.RegisterDelayedCallback(func() { mid = h.state() }, 90*time.Second)
	h.happyPath(2 * time.Minute)
	h.run()
	_, s := h.assertPaid()

	if mid.Status != invoice.StatusAP || len(mid.Transitions) != 0 {
		t.Errorf("after the early mark-paid: status %q, %d transitions, want AP and none", mid.Status, len(mid.Transitions))
	}
	if a := mid.Answers["early-paid"]; a.Accepted || a.Code != invoice.RefusedWrongStatus || a.Status != invoice.StatusAP {
		t.Errorf("answer to the early mark-paid = %+v", a)
	}
	events := h.recorded()
	h.assertEvents(events, wantCreated,
		refused(invoice.ActionMarkPaid, invoice.StatusAP, invoice.RefusedWrongStatus),
		wantApprove, wantApprovePayment, wantMarkPaid)
	if len(events) > 1 && (events[1].Actor != accounting || events[1].Reason == "") {
		t.Errorf("refused event = %+v, want the actor and a reason", events[1])
	}
	if len(s.Transitions) != 3 {
		t.Errorf("transitions = %d, want 3", len(s.Transitions))
	}
}

// Case 5: the vendor company, or a buyer user in the wrong role, may not approve.
func TestInvoiceWorkflow_WrongActorRefused(t *testing.T) {
	h := newHarness(t)
	h.send(time.Minute, approve("vendor-approve", vendorStaff))
	h.send(2*time.Minute, approve("accounting-approve", accounting))
	var mid State
	h.env.RegisterDelayedCallback(func() { mid = h.state() }, 150*time.Second)
	h.happyPath(3 * time.Minute)
	h.run()
	h.assertPaid()

	if mid.Status != invoice.StatusAP || len(mid.Transitions) != 0 {
		t.Errorf("after the wrong actors: status %q, %d transitions, want AP and none", mid.Status, len(mid.Transitions))
	}
	for _, key := range []string{"vendor-approve", "accounting-approve"} {
		if a, ok := mid.Answers[key]; !ok || a.Accepted || a.Code != invoice.RefusedWrongActor || a.Status != invoice.StatusAP {
			t.Errorf("answer %s = %+v (present %v), want refused wrong_actor in AP", key, a, ok)
		}
	}
	events := h.recorded()
	h.assertEvents(events, wantCreated,
		refused(invoice.ActionApprove, invoice.StatusAP, invoice.RefusedWrongActor),
		refused(invoice.ActionApprove, invoice.StatusAP, invoice.RefusedWrongActor),
		wantApprove, wantApprovePayment, wantMarkPaid)
	if len(events) > 2 && (events[1].Actor != vendorStaff || events[2].Actor != accounting) {
		t.Errorf("refused actors = %v, %v", events[1].Actor, events[2].Actor)
	}
}

// Case 6: a re-delivered signal (same idempotency key) is applied once.
func TestInvoiceWorkflow_RedeliveredSignalAppliedOnce(t *testing.T) {
	h := newHarness(t)
	// Twice in one callback, and once more later when the invoice has moved on.
	h.send(time.Minute, approve("approve-1", procurement), approve("approve-1", procurement))
	h.send(90*time.Second, approve("approve-1", procurement))
	var mid State
	h.env.RegisterDelayedCallback(func() { mid = h.state() }, 100*time.Second)
	h.send(2*time.Minute, approvePayment("approve-payment-1", accounting))
	h.send(3*time.Minute, markPaid("mark-paid-1", accounting))
	h.run()
	_, s := h.assertPaid()

	if mid.Status != invoice.StatusAA || len(mid.Transitions) != 1 {
		t.Errorf("after the re-deliveries: status %q, %d transitions, want AA and 1", mid.Status, len(mid.Transitions))
	}
	if a, ok := s.Answers["approve-1"]; !ok || !a.Accepted || a.Status != invoice.StatusAA || a.Action != invoice.ActionApprove {
		t.Errorf("answer approve-1 = %+v (present %v), want accepted, AA", a, ok)
	}
	events := h.recorded()
	h.assertEvents(events, wantCreated, wantApprove, wantApprovePayment, wantMarkPaid)
	_, _, _, record := h.counts()
	if record != 3 {
		t.Errorf("RecordEvent called %d times, want 3 (re-deliveries write nothing)", record)
	}
}

// Case 7: a signal without an idempotency key is refused as an invalid request.
func TestInvoiceWorkflow_MissingIdempotencyKeyRefused(t *testing.T) {
	h := newHarness(t)
	h.send(time.Minute, approve("", procurement))
	var mid State
	h.env.RegisterDelayedCallback(func() { mid = h.state() }, 90*time.Second)
	h.happyPath(2 * time.Minute)
	h.run()
	h.assertPaid()

	if mid.Status != invoice.StatusAP {
		t.Errorf("after the keyless approve: status %q, want AP", mid.Status)
	}
	if _, ok := mid.Answers[""]; ok {
		t.Errorf("an answer was stored under the empty key")
	}
	events := h.recorded()
	h.assertEvents(events, wantCreated,
		refused(invoice.ActionApprove, invoice.StatusAP, invoice.RefusedInvalid),
		wantApprove, wantApprovePayment, wantMarkPaid)
	if len(events) > 1 && !strings.Contains(events[1].Reason, "idempotency_key") {
		t.Errorf("refusal reason = %q, want it to name idempotency_key", events[1].Reason)
	}
}

// Other malformed requests are refused as invalid too: mark-paid without a payment date or
// reference, and a payload whose action differs from the signal it came on.
func TestInvoiceWorkflow_InvalidRequestsRefused(t *testing.T) {
	h := newHarness(t)
	h.send(time.Minute, approve("approve-1", procurement))
	h.send(2*time.Minute, approvePayment("approve-payment-1", accounting))
	noDate := markPaid("paid-no-date", accounting)
	noDate.req.PaymentDate = ""
	noRef := markPaid("paid-no-ref", accounting)
	noRef.req.PaymentReference = ""
	mismatch := markPaid("paid-on-approve", accounting)
	mismatch.name = SignalApprove
	mismatch.req.Action = invoice.ActionMarkPaid
	h.send(3*time.Minute, noDate)
	h.send(4*time.Minute, noRef)
	h.send(5*time.Minute, mismatch)
	h.send(6*time.Minute, markPaid("mark-paid-1", accounting))
	h.run()
	h.assertPaid()

	events := h.recorded()
	h.assertEvents(events, wantCreated, wantApprove, wantApprovePayment,
		refused(invoice.ActionMarkPaid, invoice.StatusA, invoice.RefusedInvalid),
		refused(invoice.ActionMarkPaid, invoice.StatusA, invoice.RefusedInvalid),
		refused("mark_paid (sent as approve)", invoice.StatusA, invoice.RefusedInvalid),
		wantMarkPaid)
}

// Case 8: signals still queued when the invoice becomes paid are answered (refused) before the
// workflow completes.
func TestInvoiceWorkflow_QueuedSignalsDrainedAfterPaid(t *testing.T) {
	t.Run("same channel", func(t *testing.T) {
		h := newHarness(t)
		h.send(time.Minute, approve("approve-1", procurement))
		h.send(2*time.Minute, approvePayment("approve-payment-1", accounting))
		h.send(3*time.Minute, markPaid("mark-paid-1", accounting), markPaid("mark-paid-2", accounting))
		h.run()
		_, s := h.assertPaid()
		events := h.recorded()
		h.assertEvents(events, wantCreated, wantApprove, wantApprovePayment, wantMarkPaid,
			refused(invoice.ActionMarkPaid, invoice.StatusP, invoice.RefusedWrongStatus))
		if a := s.Answers["mark-paid-2"]; a.Accepted || a.Code != invoice.RefusedWrongStatus || a.Status != invoice.StatusP {
			t.Errorf("answer mark-paid-2 = %+v", a)
		}
	})
	t.Run("other channels", func(t *testing.T) {
		// Three signals arrive together; mark-paid is handled first, and the two queued behind it
		// are answered after P in arrival order (approve-payment-2 was sent before approve-2).
		h := newHarness(t)
		h.send(time.Minute, approve("approve-1", procurement))
		h.send(2*time.Minute, approvePayment("approve-payment-1", accounting))
		h.send(3*time.Minute, markPaid("mark-paid-1", accounting), approvePayment("approve-payment-2", accounting),
			approve("approve-2", procurement))
		h.run()
		_, s := h.assertPaid()
		h.assertEvents(h.recorded(), wantCreated, wantApprove, wantApprovePayment, wantMarkPaid,
			refused(invoice.ActionApprovePayment, invoice.StatusP, invoice.RefusedWrongStatus),
			refused(invoice.ActionApprove, invoice.StatusP, invoice.RefusedWrongStatus))
		for _, k := range []string{"approve-2", "approve-payment-2"} {
			if a := s.Answers[k]; a.Accepted || a.Code != invoice.RefusedWrongStatus || a.Status != invoice.StatusP {
				t.Errorf("answer %s = %+v", k, a)
			}
		}
	})
	t.Run("arriving during the final transition", func(t *testing.T) {
		// The extra signals arrive while mark-paid's RecordEvent runs, so they are still queued
		// when the status becomes P: the drain refuses them in P.
		h := newHarness(t)
		h.recordDelay = 10 * time.Second
		h.send(time.Minute, approve("approve-1", procurement))
		h.send(2*time.Minute, approvePayment("approve-payment-1", accounting))
		h.send(3*time.Minute, markPaid("mark-paid-1", accounting))
		h.send(3*time.Minute+time.Second, approve("approve-2", procurement), markPaid("mark-paid-2", accounting))
		h.run()
		_, s := h.assertPaid()
		events := h.recorded()
		h.assertEvents(events, wantCreated, wantApprove, wantApprovePayment, wantMarkPaid,
			refused(invoice.ActionApprove, invoice.StatusP, invoice.RefusedWrongStatus),
			refused(invoice.ActionMarkPaid, invoice.StatusP, invoice.RefusedWrongStatus))
		for _, k := range []string{"approve-2", "mark-paid-2"} {
			if a := s.Answers[k]; a.Accepted || a.Code != invoice.RefusedWrongStatus || a.Status != invoice.StatusP {
				t.Errorf("answer %s = %+v", k, a)
			}
		}
	})
}

// Signals queued while the workflow is busy (here: while approve's RecordEvent runs) are handled
// in arrival order: a mark-paid sent before an approve-payment is refused in AA, not applied after
// it. A selector over the channels would take them by channel and pay an invoice that was not yet
// payment-approved when mark-paid was sent.
func TestInvoiceWorkflow_QueuedSignalsTakenInArrivalOrder(t *testing.T) {
	forEachArrivalMode(t, func(t *testing.T, h *harness) {
		h.recordDelay = 30 * time.Second
		h.send(time.Minute, approve("approve-1", procurement))
		h.send(time.Minute+10*time.Second, markPaid("mark-paid-early", accounting))
		h.send(time.Minute+20*time.Second, approvePayment("approve-payment-1", accounting))
		h.send(5*time.Minute, markPaid("mark-paid-1", accounting))
		h.run()
		events := h.recorded()
		if len(events) >= 4 && events[2].Action == invoice.ActionApprovePayment && events[3].Kind == invoice.EventTransition &&
			events[3].Action == invoice.ActionMarkPaid {
			t.Fatalf("queued signals were taken in channel order, not arrival order; "+
				"mark-paid-early (sent before approve-payment-1) paid the invoice:\n%s", describe(events))
		}
		_, s := h.assertPaid()
		h.assertEvents(events, wantCreated, wantApprove,
			refused(invoice.ActionMarkPaid, invoice.StatusAA, invoice.RefusedWrongStatus),
			wantApprovePayment, wantMarkPaid)
		if a := s.Answers["mark-paid-early"]; a.Accepted {
			t.Errorf("answer mark-paid-early = %+v, want refused", a)
		}
	})
}

// A signal that arrives while the workflow drains the queue after P is answered and audited
// before the workflow completes, even on a channel the drain has already taken from (here
// approve, while approve-payment's refusal is being recorded).
func TestInvoiceWorkflow_SignalArrivingDuringDrainIsAnswered(t *testing.T) {
	forEachArrivalMode(t, func(t *testing.T, h *harness) {
		h.recordDelay = 10 * time.Second
		h.send(time.Minute, approve("approve-1", procurement))
		h.send(2*time.Minute, approvePayment("approve-payment-1", accounting))
		h.send(3*time.Minute, markPaid("mark-paid-1", accounting))
		// Queued during mark-paid's RecordEvent (3m to 3m10s): drained in P, its refusal recorded
		// from 3m10s to 3m20s.
		h.send(3*time.Minute+time.Second, approvePayment("approve-payment-2", accounting))
		// Arrives during that recording, on the approve channel the drain has already visited.
		h.send(3*time.Minute+15*time.Second, approve("approve-3", procurement))
		h.run()
		_, s := h.assertPaid()
		events := h.recorded()
		if _, ok := s.Answers["approve-3"]; !ok {
			t.Fatalf("approve-3, signalled during the drain, was never answered nor audited; "+
				"answers %v, events:\n%s", keys(s.Answers), describe(events))
		}
		h.assertEvents(events, wantCreated, wantApprove, wantApprovePayment, wantMarkPaid,
			refused(invoice.ActionApprovePayment, invoice.StatusP, invoice.RefusedWrongStatus),
			refused(invoice.ActionApprove, invoice.StatusP, invoice.RefusedWrongStatus))
	})
}

func keys(m map[string]Answer) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// A refused request's answer is kept under its key: re-sending the same key after the invoice
// moved on is not applied (the first answer stands), and writes no audit row.
func TestInvoiceWorkflow_RefusedKeyIsNotRetried(t *testing.T) {
	h := newHarness(t)
	h.send(time.Minute, approvePayment("ap-1", accounting)) // refused in AP
	h.send(2*time.Minute, approve("approve-1", procurement))
	h.send(3*time.Minute, approvePayment("ap-1", accounting)) // same key: ignored
	var mid State
	h.env.RegisterDelayedCallback(func() { mid = h.state() }, 4*time.Minute)
	h.send(5*time.Minute, approvePayment("ap-2", accounting))
	h.send(6*time.Minute, markPaid("mark-paid-1", accounting))
	h.run()
	h.assertPaid()
	if mid.Status != invoice.StatusAA {
		t.Errorf("status after re-sending a refused key = %q, want AA", mid.Status)
	}
	if a := mid.Answers["ap-1"]; a.Accepted || a.Code != invoice.RefusedWrongStatus || a.Status != invoice.StatusAP {
		t.Errorf("answer ap-1 = %+v, want the first refusal", a)
	}
	h.assertEvents(h.recorded(), wantCreated,
		refused(invoice.ActionApprovePayment, invoice.StatusAP, invoice.RefusedWrongStatus),
		wantApprove, wantApprovePayment, wantMarkPaid)
}

// Case 9: the status query returns the whole state, during the run and after completion.
func TestInvoiceWorkflow_Query(t *testing.T) {
	t.Run("before the invoice exists", func(t *testing.T) {
		h := newHarness(t)
		h.verifyDelay = time.Hour
		var early State
		var queried bool
		h.env.RegisterDelayedCallback(func() { early, queried = h.state(), true }, time.Minute)
		h.happyPath(2 * time.Hour)
		h.run()
		h.assertPaid()
		if !queried {
			t.Fatal("the early query did not run")
		}
		if early.WorkflowID != h.wid || early.Order.PONumber != testPO || early.Status != "" ||
			early.InvoiceID != 0 || early.Document != (invoice.Document{}) || early.Outcome != "" {
			t.Errorf("state while checking eligibility = %+v", early)
		}
	})
	t.Run("in AP", func(t *testing.T) {
		h := newHarness(t)
		var ap State
		h.env.RegisterDelayedCallback(func() { ap = h.state() }, 30*time.Second)
		h.happyPath(time.Minute)
		h.run()
		h.assertPaid()
		if ap.Status != invoice.StatusAP || ap.InvoiceID != testInvoiceID || ap.Document != testDocument ||
			ap.Revision != 1 || ap.Outcome != "" || ap.StatusSince.IsZero() || ap.EventSeq != 1 {
			t.Errorf("state in AP = %+v", ap)
		}
	})
	t.Run("after completion", func(t *testing.T) {
		h := newHarness(t)
		h.happyPath(time.Minute)
		h.run()
		_, s := h.assertPaid()
		if s.WorkflowID != h.wid || s.Document != testDocument || s.InvoiceID != testInvoiceID ||
			s.Order.InvoiceNumber != "INV-77" || s.Discrepancy != 500 || s.StatusSince.IsZero() {
			t.Errorf("final state = %+v", s)
		}
	})
}

// Case 10: an infrastructure failure of RecordEvent is retried with the same event (same key)
// until it succeeds, and the workflow goes on.
func TestInvoiceWorkflow_RecordEventRetried(t *testing.T) {
	h := newHarness(t)
	failures := 0
	h.recordErr = func(_ int, e invoice.Event) error {
		if e.Kind == invoice.EventTransition && e.Action == invoice.ActionApprove && failures < 2 {
			failures++
			return errors.New("postgres: connection refused")
		}
		return nil
	}
	h.happyPath(time.Minute)
	h.run()
	_, s := h.assertPaid()
	events := h.recorded()
	h.assertEvents(events, wantCreated, wantApprove, wantApprovePayment, wantMarkPaid)

	h.mu.Lock()
	attempts := append([]invoice.Event(nil), h.recordAttempts...)
	h.mu.Unlock()
	if len(attempts) != 5 {
		t.Fatalf("RecordEvent attempts = %d, want 5 (approve three times, then two):\n%s", len(attempts), describe(attempts))
	}
	for i := 1; i < 3; i++ {
		if attempts[i] != attempts[0] {
			t.Errorf("retry %d sent %+v, want the same event %+v", i, attempts[i], attempts[0])
		}
	}
	if len(s.Transitions) != 3 {
		t.Errorf("transitions = %d, want 3", len(s.Transitions))
	}
}

// A business conflict from RecordEvent (the row changed outside the workflow) is not retried and
// fails the workflow.
func TestInvoiceWorkflow_RecordEventStatusConflictFailsWorkflow(t *testing.T) {
	h := newHarness(t)
	h.recordErr = func(_ int, e invoice.Event) error {
		if e.Action == invoice.ActionApprove {
			return temporal.NewNonRetryableApplicationError("status changed", activities.ErrTypeStatusConflict, nil)
		}
		return nil
	}
	h.happyPath(time.Minute)
	h.run()
	if !h.env.IsWorkflowCompleted() {
		t.Fatal("workflow did not complete")
	}
	err := h.env.GetWorkflowError()
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || appErr.Type() != activities.ErrTypeStatusConflict {
		t.Fatalf("workflow error = %v, want a %s application error", err, activities.ErrTypeStatusConflict)
	}
	if _, _, _, record := h.counts(); record != 1 {
		t.Errorf("RecordEvent attempts = %d, want 1 (non-retryable)", record)
	}
}

// An action that arrives while the invoice is still being created waits in the inbox and is
// handled once the invoice is in AP.
func TestInvoiceWorkflow_EarlyActionWaitsForTheInvoice(t *testing.T) {
	h := newHarness(t)
	h.verifyDelay = 10 * time.Minute
	h.send(time.Minute, approve("approve-early", procurement))
	h.send(20*time.Minute, approvePayment("approve-payment-1", accounting))
	h.send(21*time.Minute, markPaid("mark-paid-1", accounting))
	h.run()
	h.assertPaid()
	h.assertEvents(h.recorded(), wantCreated, wantApprove, wantApprovePayment, wantMarkPaid)
}

// Actions sent to an order that does not become an invoice are answered and audited as refused.
func TestInvoiceWorkflow_ActionOnNotEligibleOrderRefused(t *testing.T) {
	h := newHarness(t)
	h.eligibility = invoice.Eligibility{Reason: invoice.ReasonBuyerUploadDisabled, Detail: "off"}
	h.verifyDelay = 10 * time.Minute
	h.send(time.Minute, approve("approve-early", procurement))
	h.run()
	if r := h.result(); r.Outcome != OutcomeNotEligible {
		t.Fatalf("result = %+v, want not_eligible", r)
	}
	h.assertEvents(h.recorded(), want{kind: invoice.EventNotEligible, code: string(invoice.ReasonBuyerUploadDisabled)},
		refused(invoice.ActionApprove, "", invoice.RefusedNoInvoice))
	if a := h.state().Answers["approve-early"]; a.Accepted || a.Code != invoice.RefusedNoInvoice {
		t.Errorf("answer = %+v, want refused no_invoice", a)
	}
}

// An idempotency key reused for another action is refused, and the key keeps its first answer.
func TestInvoiceWorkflow_KeyReusedForAnotherActionRefused(t *testing.T) {
	h := newHarness(t)
	h.send(time.Minute, approve("k", procurement))
	h.send(2*time.Minute, approvePayment("k", accounting))
	h.send(3*time.Minute, approvePayment("approve-payment-1", accounting))
	h.send(4*time.Minute, markPaid("mark-paid-1", accounting))
	h.run()
	_, s := h.assertPaid()
	h.assertEvents(h.recorded(), wantCreated, wantApprove,
		refused(invoice.ActionApprovePayment, invoice.StatusAA, invoice.RefusedInvalid),
		wantApprovePayment, wantMarkPaid)
	if a := s.Answers["k"]; !a.Accepted || a.Action != invoice.ActionApprove {
		t.Errorf("answer of k = %+v, want the first answer (approve accepted)", a)
	}
}

// buyerUser is user of the test buyer in role.
func buyerUser(user string, role invoice.Role) invoice.Actor {
	return invoice.Actor{CompanyID: testBuyer, UserID: user, Role: role}
}

// TestInvoiceWorkflow_SeparationOfDuties: for a buyer that separates duties (as eligibility
// reported it at confirmation), the procurement approver's payment approval and payment are
// refused with same_user and audited; another accounting user's go through. After a return to
// procurement the next approver is the one that counts.
func TestInvoiceWorkflow_SeparationOfDuties(t *testing.T) {
	h := newHarness(t)
	h.eligibility = invoice.Eligibility{Eligible: true, SeparateDuties: true}
	aliceAcc, bob := buyerUser("alice", invoice.RoleAccounting), accounting
	h.send(time.Minute, approve("approve-1", buyerUser("alice", invoice.RoleProcurement)))
	h.send(2*time.Minute, approvePayment("approve-payment-alice", aliceAcc))
	h.send(3*time.Minute, approvePayment("approve-payment-bob", bob))
	h.send(4*time.Minute, markPaid("mark-paid-alice", aliceAcc))
	h.send(5*time.Minute, markPaid("mark-paid-bob", bob))
	h.run()
	_, s := h.assertPaid()
	h.assertEvents(h.recorded(), wantCreated, wantApprove,
		refused(invoice.ActionApprovePayment, invoice.StatusAA, invoice.RefusedSameUser),
		wantApprovePayment,
		refused(invoice.ActionMarkPaid, invoice.StatusA, invoice.RefusedSameUser),
		wantMarkPaid)
	for _, key := range []string{"approve-payment-alice", "mark-paid-alice"} {
		if a := s.Answers[key]; a.Accepted || a.Code != invoice.RefusedSameUser || !strings.Contains(a.Reason, "alice approved this invoice") {
			t.Errorf("answer %s = %+v, want refused same_user naming alice", key, a)
		}
	}
	if !s.SeparateDuties || s.ApprovedBy != "alice" {
		t.Errorf("state separate_duties %v approved_by %q, want true and alice", s.SeparateDuties, s.ApprovedBy)
	}
}

// TestInvoiceWorkflow_SeparationOfDutiesFollowsTheApprovalInForce: a return to procurement clears
// the approval; the user who approves again is the one barred, the first approver no longer is.
func TestInvoiceWorkflow_SeparationOfDutiesFollowsTheApprovalInForce(t *testing.T) {
	h := newHarness(t)
	h.eligibility = invoice.Eligibility{Eligible: true, SeparateDuties: true}
	aliceAcc, carolAcc := buyerUser("alice", invoice.RoleAccounting), buyerUser("carol", invoice.RoleAccounting)
	h.send(time.Minute, approve("approve-1", buyerUser("alice", invoice.RoleProcurement)))
	h.send(2*time.Minute, signal{SignalReturnToProcurement, invoice.ActionRequest{Actor: accounting, IdempotencyKey: "return-1",
		Reason: "wrong cost centre"}})
	h.send(3*time.Minute, approve("approve-2", buyerUser("carol", invoice.RoleProcurement)))
	h.send(4*time.Minute, approvePayment("approve-payment-carol", carolAcc))
	h.send(5*time.Minute, approvePayment("approve-payment-alice", aliceAcc))
	h.send(6*time.Minute, markPaid("mark-paid-1", accounting))
	h.run()
	_, s := h.assertPaid()
	if a := s.Answers["approve-payment-carol"]; a.Accepted || a.Code != invoice.RefusedSameUser {
		t.Errorf("carol, the approver in force: %+v, want refused same_user", a)
	}
	if a := s.Answers["approve-payment-alice"]; !a.Accepted {
		t.Errorf("alice, whose approval was returned: %+v, want accepted", a)
	}
}

// An action answered after P, while the workflow drains its inbox, whose audit write fails for
// good (the stored invoice is not what the workflow knows) fails the workflow, as it would before
// P, instead of being dropped while the run ends.
func TestInvoiceWorkflow_DrainStopsOnAFailedStep(t *testing.T) {
	h := newHarness(t)
	h.recordDelay = 10 * time.Second
	h.recordErr = func(_ int, e invoice.Event) error {
		if e.Kind == invoice.EventRefused && e.Action == invoice.ActionApprove {
			return temporal.NewNonRetryableApplicationError("status changed", activities.ErrTypeStatusConflict, nil)
		}
		return nil
	}
	h.happyPath(time.Minute)
	// Queued during mark-paid's audit write, refused in P: its row cannot be written.
	h.send(3*time.Minute+time.Second, approve("approve-late", procurement))
	h.run()
	if !h.env.IsWorkflowCompleted() {
		t.Fatal("workflow did not complete")
	}
	var appErr *temporal.ApplicationError
	if err := h.env.GetWorkflowError(); !errors.As(err, &appErr) || appErr.Type() != activities.ErrTypeStatusConflict {
		t.Fatalf("workflow error = %v, want the %s of the drained action's audit write", err, activities.ErrTypeStatusConflict)
	}
}

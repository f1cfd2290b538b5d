package workflows

import (
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/k2kinvoice/autoinvoice/activities"
	"github.com/k2kinvoice/autoinvoice/internal/invoice"
)

// Model-based fuzzing of the invoice workflow. The fuzz input decodes into a sequence of actions
// (valid and invalid, as signals and as updates, with reused idempotency keys, vendor updates the
// activities refuse, waits long enough for reminders) that the test environment delivers to the
// workflow, chaining runs when it continues as new. A model built from the pure rules
// (invoice.Decide, InvoiceUpdate.Revise, the idempotency rule, the reminder policy) predicts every
// step; after each delivery the workflow's state must equal the model's, and at the end so must
// the audit rows, the notifications, every update's outcome and every idempotency key's answer.
// Closing signals (acknowledge, approve, approve payment, mark paid, as needed) take every
// sequence to P, so the workflow ends.
//
// Input layout: byte 0 chooses the run (bits 0-1: continue-as-new limit, bits 2-3: reminder
// policy, bit 4: the history also reaches the limit when a reminder falls due, bit 5: the buyer
// separates duties); then two bytes a
// step. The first, op: bits 0-2 the action (index in invoice.Actions; 7 repeats an earlier
// message as it was), bit 3 sent as an update instead of a signal, bits 4-7 the variant
// (fuzzRequest). The second, arg: bits 0-2 the wait before it (fuzzWaits), bit 3 sent in the same
// callback as the previous signal (when both are signals), bits 4-7 which earlier message to
// repeat or whose key to reuse.
//
// Ordering: each callback comes 1s plus whole hours after the previous one and every activity
// mock answers at once, so the workflow has handled a delivery before the next arrives, and
// reminders (whole hours after a delivery) never fall on the instant of a delivery. Signals sent
// in one callback queue in the order sent; the model takes them in that order.
//
// Continue-as-new: the test environment reports the history length it is told. Each callback
// grows it by fuzzHistoryPerMessage a message, once the test environment has handed every message
// of the callback to the workflow; while some are still queued it reports 0. The server fails a
// workflow task that continues as new while new messages arrive, and retries it with them; the
// test environment would instead drop them, which is not what is tested here. With bit 4 of the
// first byte, the history also reaches the limit when a reminder's timer fires, so a run hands
// over with that reminder due and the next one sends it.
//
// FUZZ_MODEL_STATS=FILE appends one line per execution (see stats); FUZZ_MODEL_LOG=1 keeps the
// SDK's debug log.

const (
	fuzzMaxSteps    = 48
	fuzzBadPDF      = "staging/not-a-pdf.pdf" // StorePDF refuses it as invalid_pdf
	fuzzTakenNumber = "INV-TAKEN-1"           // ReviseInvoice refuses it as invoice_number_taken
	// fuzzCheckAfter is when the state is queried after a delivery: before the next delivery
	// and before any reminder, which all fall on whole seconds.
	fuzzCheckAfter = 500 * time.Millisecond
	// fuzzHistoryPerMessage is how much a message grows the emulated history (the test
	// environment reports what it is told).
	fuzzHistoryPerMessage = 4
)

var (
	fuzzWaits = [8]time.Duration{0, 0, 0, 0, time.Hour, 5 * time.Hour, 49 * time.Hour, 170 * time.Hour}
	// fuzzCANLimits are the ContinueAsNewAfterEvents of a run (0: never).
	fuzzCANLimits = [4]int{0, 6, 12, 25}
	fuzzPolicies  = [4]ReminderPolicy{
		DefaultReminders,
		{AP: 2 * time.Hour, AA: 3 * time.Hour, A: 5 * time.Hour, Max: 2},
		{AP: time.Hour, A: time.Hour, Max: 1},
		{AA: 4 * time.Hour, Max: 3},
	}
)

func FuzzWorkflowModel(f *testing.F) {
	for _, seed := range fuzzSeeds() {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		seq := decodeFuzzSequence(data)
		seq.run(t)
		seq.check(t)
		seq.stats(t)
	})
}

// ---- The sequence ----

// fuzzMessage is one action sent to the workflow, and what the model expects of it.
type fuzzMessage struct {
	signal      // the message name and the request
	update bool // sent as an update (else as a signal)
	want   fuzzOutcome
	call   *updateCall // the update as sent
}

// fuzzOutcome is what an update's caller is told.
type fuzzOutcome struct {
	rejected bool                // refused by the validator: no answer kept, no audit row
	code     invoice.RefusalCode // the refusal, by the validator or when the workflow applied it
	answer   Answer              // accepted: the answer returned
}

// fuzzDelivery is what one callback sends: one update, or signals in order.
type fuzzDelivery struct {
	at      time.Duration // since the workflow started
	msgs    []*fuzzMessage
	closing bool // added to take the invoice to P, so the workflow ends
	// reached: the model says the workflow still runs when it arrives (it ends once paid).
	reached bool
	want    fuzzSnapshot

	delivered, checked bool
	got                State // queried fuzzCheckAfter after the delivery
}

// fuzzSequence is one decoded input, the model's predictions and what the runs saw.
type fuzzSequence struct {
	separate   bool // the buyer separates duties (eligibility says so at confirmation)
	canAfter   int
	canAtTimer bool // the history reaches the limit when a reminder falls due
	policy     ReminderPolicy
	deliveries []*fuzzDelivery
	model      *fuzzModel
	paidEarly  bool // paid before the closing steps

	runs   int
	events []invoice.Event
	notes  []activities.Notification
	result Result
	final  State
}

func decodeFuzzSequence(data []byte) *fuzzSequence {
	s := &fuzzSequence{policy: fuzzPolicies[0]}
	if len(data) > 0 {
		s.canAfter, s.policy, s.canAtTimer = fuzzCANLimits[data[0]&3], fuzzPolicies[data[0]>>2&3], data[0]&16 != 0
		s.separate = data[0]&32 != 0
		data = data[1:]
	}
	var msgs []*fuzzMessage
	var at time.Duration
	for i := 0; i+1 < len(data) && len(msgs) < fuzzMaxSteps; i += 2 {
		op, arg := data[i], data[i+1]
		m := fuzzMessageFrom(op, arg, len(msgs), msgs)
		msgs = append(msgs, m)
		if last := len(s.deliveries) - 1; arg&8 != 0 && !m.update && last >= 0 && !s.deliveries[last].msgs[0].update {
			s.deliveries[last].msgs = append(s.deliveries[last].msgs, m)
			continue
		}
		at += time.Second + fuzzWaits[arg&7]
		s.deliveries = append(s.deliveries, &fuzzDelivery{at: at, msgs: []*fuzzMessage{m}})
	}
	s.model = newFuzzModel(s.policy, s.separate)
	for _, d := range s.deliveries {
		s.model.deliver(d)
	}
	s.paidEarly = s.model.status == invoice.StatusP
	for n := 0; s.model.status != invoice.StatusP; n++ {
		d := &fuzzDelivery{at: at + time.Duration(n+1)*time.Second, closing: true,
			msgs: []*fuzzMessage{{signal: s.model.nextToPay(fmt.Sprintf("close-%d", n))}}}
		s.deliveries = append(s.deliveries, d)
		s.model.deliver(d)
	}
	return s
}

// fuzzMessageFrom decodes message n from its two bytes; earlier are the messages before it.
func fuzzMessageFrom(op, arg byte, n int, earlier []*fuzzMessage) *fuzzMessage {
	asUpdate := op&8 != 0
	pick := int(arg >> 4)
	if op&7 == 7 {
		if len(earlier) > 0 {
			return &fuzzMessage{signal: earlier[pick%len(earlier)].signal, update: asUpdate}
		}
		op &^= 7 // nothing to repeat yet: an approve
	}
	action := invoice.Actions()[op&7]
	var reuse string
	if len(earlier) > 0 {
		reuse = earlier[pick%len(earlier)].req.IdempotencyKey
	}
	name, err := SignalFor(action)
	if err != nil {
		panic(err)
	}
	return &fuzzMessage{signal: signal{name, fuzzRequest(action, op>>4, n, reuse)}, update: asUpdate}
}

// fuzzRequest is request n for action: valid for variants 0 to 6 (and 12 to 14) for other actions
// than a vendor update, for variants 0 to 5 for a vendor update, else broken the variant's way.
// Variant 6 is the procurement approver's user for the buyer's actions (refused to approve
// payment or pay when the buyer separates duties) and another currency for a vendor update.
func fuzzRequest(action invoice.Action, variant byte, n int, reuse string) invoice.ActionRequest {
	req := invoice.ActionRequest{Actor: accounting, IdempotencyKey: fmt.Sprintf("k%d", n)}
	switch action {
	case invoice.ActionApprove:
		req.Actor = procurement
	case invoice.ActionAcknowledgeUpdate:
		if n%2 == 0 {
			req.Actor = procurement
		}
	case invoice.ActionVendorUpdate:
		u := revisedUpdate()
		u.InvoiceNumber = fmt.Sprintf("INV-77-R%d", n)
		req.Actor, req.Update = vendorUser, u
	case invoice.ActionReturnToProcurement:
		req.Reason = reasonReturned
	case invoice.ActionMarkPaid:
		req.PaymentDate, req.PaymentReference = "2024-06-01", fmt.Sprintf("BANK-%d", n)
	}
	switch variant {
	case 6: // the procurement approver's user, in the role the action needs; an update in USD
		if req.Actor.CompanyID == testBuyer {
			req.Actor.UserID = procurement.UserID
		}
		if req.Update != nil {
			req.Update.Currency = "USD"
		}
	case 7: // the other company of the connection, in the right role
		if req.Actor.CompanyID == testBuyer {
			req.Actor.CompanyID = testVendor
		} else {
			req.Actor.CompanyID = testBuyer
		}
	case 8:
		req.Actor.CompanyID = strangerAccounting.CompanyID
	case 9: // the right company, a role that may not send it
		switch action {
		case invoice.ActionApprove:
			req.Actor.Role = invoice.RoleAccounting
		case invoice.ActionVendorUpdate:
			req.Actor.Role = invoice.RoleProcurement
		case invoice.ActionAcknowledgeUpdate:
			req.Actor.Role = invoice.RoleVendor
		default:
			req.Actor.Role = invoice.RoleProcurement
		}
	case 10: // a required field missing or malformed
		switch {
		case action == invoice.ActionReturnToProcurement:
			req.Reason = "  "
		case action == invoice.ActionMarkPaid && n%2 == 0:
			req.PaymentDate = "2024-02-30"
		case action == invoice.ActionMarkPaid:
			req.PaymentReference = ""
		case action == invoice.ActionVendorUpdate:
			req.Update = nil
		default:
			req.Actor.UserID = ""
		}
	case 11:
		req.IdempotencyKey = ""
	case 12: // lines that do not add up to the total
		if req.Update != nil {
			req.Update.TotalMinor++
		}
	case 13:
		if req.Update != nil {
			req.Update.StagingKey = fuzzBadPDF
		}
	case 14:
		if req.Update != nil {
			req.Update.InvoiceNumber = fuzzTakenNumber
		}
	case 15:
		if reuse != "" {
			req.IdempotencyKey = reuse
		}
	}
	return req
}

// ---- The model ----

// fuzzEvent is an audit row the model expects.
type fuzzEvent struct {
	seq      int
	kind     invoice.EventKind
	action   invoice.Action
	actor    invoice.Actor
	from, to invoice.Status
	code     string
	pending  bool
	revision int
	reminder int // which reminder of the stay (reminders only); the fuzzed statuses wait on the buyer
}

// fuzzSnapshot is the model's state after a delivery, as the status query must show it.
type fuzzSnapshot struct {
	status      invoice.Status
	pending     bool
	revision    int
	reminded    int
	seq         int
	transitions int
	answers     map[string]Answer
}

// fuzzModel is the invoice as the pure rules say it must be. Times are since the start.
type fuzzModel struct {
	policy      ReminderPolicy
	separate    bool   // the buyer separates duties
	approvedBy  string // the user whose procurement approval is in force
	status      invoice.Status
	pending     bool
	order       invoice.Order
	revision    int
	since       time.Duration // when the current stay in status began
	reminded    int           // reminders of this stay
	seq         int           // audit event keys spent
	answers     map[string]Answer
	events      []fuzzEvent
	transitions []Transition
}

func newFuzzModel(policy ReminderPolicy, separate bool) *fuzzModel {
	m := &fuzzModel{policy: policy, separate: separate, status: invoice.StatusAP, order: testOrder(), revision: 1, seq: 1,
		answers: map[string]Answer{}}
	m.events = []fuzzEvent{{seq: 1, kind: invoice.EventInvoiceCreated, to: invoice.StatusAP, revision: 1}}
	return m
}

// deliver applies d's messages at d.at, after the reminders due before it. Once the invoice is
// paid the workflow has ended: nothing more arrives.
func (m *fuzzModel) deliver(d *fuzzDelivery) {
	m.remindBefore(d.at)
	if m.status == invoice.StatusP {
		return
	}
	d.reached = true
	for _, msg := range d.msgs {
		msg.want = m.apply(msg, d.at)
	}
	d.want = fuzzSnapshot{status: m.status, pending: m.pending, revision: m.revision, reminded: m.reminded,
		seq: m.seq, transitions: len(m.transitions), answers: maps.Clone(m.answers)}
}

// remindBefore sends the reminders of the current stay that fall due before at.
func (m *fuzzModel) remindBefore(at time.Duration) {
	after := map[invoice.Status]time.Duration{invoice.StatusAP: m.policy.AP, invoice.StatusAA: m.policy.AA,
		invoice.StatusA: m.policy.A}
	for after[m.status] > 0 && m.reminded < m.policy.Max && m.since+after[m.status]*time.Duration(m.reminded+1) < at {
		m.reminded++
		m.seq++
		m.events = append(m.events, fuzzEvent{seq: m.seq, kind: invoice.EventReminder, from: m.status, to: m.status,
			code: "waiting_in_" + string(m.status), pending: m.pending, revision: m.revision, reminder: m.reminded})
	}
}

func (m *fuzzModel) facts() invoice.Facts {
	return invoice.Facts{Status: m.status, VendorID: testVendor, BuyerID: testBuyer, UpdatePending: m.pending,
		SeparateDuties: m.separate, ApprovedBy: m.approvedBy}
}

// apply decides one message as the rules say: a key keeps its first answer, a key reused for
// another action is refused; otherwise Decide (and Revise for a vendor update), then the
// activities' refusals of a vendor update. An update the rules refuse is refused by its
// validator, which leaves no trace.
func (m *fuzzModel) apply(msg *fuzzMessage, at time.Duration) fuzzOutcome {
	req := msg.req
	req.Action = actionOf(msg.name)
	if prior, ok := m.answers[req.IdempotencyKey]; ok {
		if prior.Action == req.Action {
			if prior.Accepted {
				return fuzzOutcome{answer: prior}
			}
			return fuzzOutcome{code: prior.Code}
		}
		return m.refuse(msg.update, req, invoice.RefusedInvalid)
	}
	to, err := invoice.Decide(m.facts(), req)
	revised := m.order
	if err == nil && req.Action == invoice.ActionVendorUpdate {
		if revised, err = req.Update.Revise(m.order); err != nil {
			err = &invoice.Refusal{Code: invoice.RefusedInvalid, Reason: err.Error()}
		}
	}
	var refusal *invoice.Refusal
	if errors.As(err, &refusal) {
		return m.refuse(msg.update, req, refusal.Code)
	} else if err != nil {
		panic(err)
	}
	pending := m.pending && req.Action != invoice.ActionAcknowledgeUpdate
	if req.Action == invoice.ActionVendorUpdate {
		if req.Update.StagingKey == fuzzBadPDF {
			return m.refuse(false, req, invoice.RefusedInvalidPDF)
		}
		m.seq++ // the revision's event, spent even when ReviseInvoice refuses it
		if revised.InvoiceNumber == fuzzTakenNumber {
			return m.refuse(false, req, invoice.RefusedTaken)
		}
		m.order, pending = revised, true
		m.revision++
	} else {
		m.seq++
	}
	m.events = append(m.events, fuzzEvent{seq: m.seq, kind: invoice.EventTransition, action: req.Action, actor: req.Actor,
		from: m.status, to: to, pending: pending, revision: m.revision})
	m.transitions = append(m.transitions, Transition{Action: req.Action, Actor: req.Actor, From: m.status, To: to})
	answer := Answer{Action: req.Action, Accepted: true, Status: to}
	m.answers[req.IdempotencyKey] = answer
	m.pending = pending
	if req.Action == invoice.ActionApprove {
		m.approvedBy = req.Actor.UserID
	} else if to == invoice.StatusAP {
		m.approvedBy = ""
	}
	if to != m.status {
		m.since, m.reminded = at, 0
	}
	m.status = to
	return fuzzOutcome{answer: answer}
}

// refuse refuses req with code: by the update's validator (byValidator), or in the workflow, with
// an audit row and the answer kept under a new key.
func (m *fuzzModel) refuse(byValidator bool, req invoice.ActionRequest, code invoice.RefusalCode) fuzzOutcome {
	if byValidator {
		return fuzzOutcome{rejected: true, code: code}
	}
	m.seq++
	m.events = append(m.events, fuzzEvent{seq: m.seq, kind: invoice.EventRefused, action: req.Action, actor: req.Actor,
		from: m.status, to: m.status, code: string(code), pending: m.pending, revision: m.revision})
	if _, seen := m.answers[req.IdempotencyKey]; !seen && req.IdempotencyKey != "" {
		m.answers[req.IdempotencyKey] = Answer{Action: req.Action, Code: code, Status: m.status}
	}
	return fuzzOutcome{code: code}
}

// nextToPay is the signal that takes the invoice one step closer to P.
func (m *fuzzModel) nextToPay(key string) signal {
	switch {
	case m.pending:
		return acknowledge(key, procurement)
	case m.status == invoice.StatusAP:
		return approve(key, procurement)
	case m.status == invoice.StatusAA:
		return approvePayment(key, accounting)
	}
	return markPaid(key, accounting)
}

// ---- Running it ----

var (
	devNullOnce sync.Once
	devNull     *os.File
)

// quietHarness is newHarness with the test environment's logger writing nowhere (it writes to
// the os.Stdout of its creation): fuzzing starts thousands of environments.
func quietHarness(t *testing.T) *harness {
	if os.Getenv("FUZZ_MODEL_LOG") != "" {
		return newHarness(t)
	}
	devNullOnce.Do(func() {
		var err error
		if devNull, err = os.OpenFile(os.DevNull, os.O_WRONLY, 0); err != nil {
			panic(err)
		}
	})
	stdout := os.Stdout
	os.Stdout = devNull
	defer func() { os.Stdout = stdout }()
	return newHarness(t)
}

// run delivers the sequence, one run after the other while the workflow continues as new, each
// in a new environment starting where the previous one stopped.
func (s *fuzzSequence) run(t *testing.T) {
	in := ConfirmOrder{Order: testOrder(), Reminders: s.policy, ContinueAsNewAfterEvents: s.canAfter}
	var offset time.Duration // where this run starts
	for s.runs = 1; ; s.runs++ {
		if s.runs > 2*len(s.deliveries)+1 {
			t.Fatalf("%d runs for %d deliveries\n%s", s.runs, len(s.deliveries), s.describe())
		}
		h := quietHarness(t)
		h.env.SetTestTimeout(10 * time.Second)
		// Fuzzing workers share the machine: a workflow task may take longer than the default
		// second of the SDK's deadlock detector without being stuck.
		opts := workerOptions
		opts.DeadlockDetectionTimeout = 10 * time.Second
		h.env.SetWorkerOptions(opts)
		h.env.SetStartTime(t0.Add(offset))
		h.eligibility.SeparateDuties = s.separate
		h.storeErr = func(attempt int) error { // called with h.mu held
			if h.storeCalls[attempt-1].StagingKey == fuzzBadPDF {
				return temporal.NewNonRetryableApplicationError("pdf: not a PDF file", activities.ErrTypeInvalidPDF, nil)
			}
			return nil
		}
		h.reviseErr = func(_ int, in activities.ReviseInput) error {
			if in.Order.InvoiceNumber == fuzzTakenNumber {
				return temporal.NewNonRetryableApplicationError("invoice_number "+fuzzTakenNumber+" is already used",
					activities.ErrTypeInvoiceNumberTaken, nil)
			}
			return nil
		}
		history := 0
		if s.canAtTimer && s.canAfter > 0 {
			h.env.SetOnTimerFiredListener(func(string) { h.env.SetCurrentHistoryLength(max(history, s.canAfter)) })
		}
		for i, d := range s.deliveries {
			if !d.delivered {
				if d.at <= offset {
					t.Fatalf("delivery %d at %v was never delivered, and run %d starts at %v\n%s", i, d.at, s.runs,
						offset, s.describe())
				}
				h.at(d.at-offset, func() {
					d.delivered = true
					h.env.SetCurrentHistoryLength(0)
					for j, m := range d.msgs {
						if m.update {
							m.call = h.updateNow(m.name, fmt.Sprintf("u%d.%d", i, j), m.req)
						} else {
							h.env.SignalWorkflow(m.name, m.req)
						}
					}
					h.at(0, func() { // once every message is in the workflow's hands
						history += fuzzHistoryPerMessage * len(d.msgs)
						h.env.SetCurrentHistoryLength(history)
					})
				})
			}
			if !d.checked {
				h.at(d.at+fuzzCheckAfter-offset, func() { d.got, d.checked = h.state(), true })
			}
		}
		h.runWith(in)
		s.events = append(s.events, h.rawEvents()...)
		s.notes = append(s.notes, h.notifications()...)
		var can *workflow.ContinueAsNewError
		if h.env.IsWorkflowCompleted() && errors.As(h.env.GetWorkflowError(), &can) {
			in, offset = h.continuedAsNew(), h.env.Now().Sub(t0)
			continue
		}
		if !h.env.IsWorkflowCompleted() || h.env.GetWorkflowError() != nil {
			t.Fatalf("run %d did not complete: %v\n%s", s.runs, h.env.GetWorkflowError(), s.describe())
		}
		s.result, s.final = h.result(), h.state()
		return
	}
}

// check compares what the runs saw with the model.
func (s *fuzzSequence) check(t *testing.T) {
	t.Helper()
	var errs []string
	fail := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	for i, d := range s.deliveries {
		if d.delivered != d.reached {
			fail("delivery %d: delivered %v, want %v (the workflow ends once paid)", i, d.delivered, d.reached)
		}
		if !d.reached || !d.delivered {
			continue
		}
		got := d.got
		if !d.checked { // the workflow ended with this delivery
			got = s.final
		}
		if diff := d.want.diff(got); diff != "" {
			fail("after delivery %d: %s", i, diff)
		}
		for j, m := range d.msgs {
			if m.update {
				if diff := m.want.diff(m.call); diff != "" {
					fail("delivery %d message %d: %s", i, j, diff)
				}
			}
		}
	}
	m := s.model
	if diff := diffEvents(s.final.WorkflowID, m.events, s.events); diff != "" {
		fail("audit rows: %s", diff)
	}
	if len(s.notes) != 0 {
		fail("Notify ran %d times on the current version: reminders go out as webhook events only", len(s.notes))
	}
	if want := (Result{Outcome: OutcomePaid, InvoiceID: testInvoiceID, Status: invoice.StatusP}); s.result != want {
		fail("result %+v, want %+v", s.result, want)
	}
	f := s.final
	if f.Runs != s.runs || f.Outcome != OutcomePaid || f.Payment == nil || len(f.Revisions) != m.revision ||
		f.Discrepancy != m.order.Discrepancy() || !reflect.DeepEqual(f.Order, m.order) {
		fail("final state: runs %d (want %d) outcome %q payment %v revisions %d (want %d) discrepancy %d order %+v, want %+v",
			f.Runs, s.runs, f.Outcome, f.Payment, len(f.Revisions), m.revision, f.Discrepancy, f.Order, m.order)
	}
	var transitions []Transition
	for _, tr := range f.Transitions {
		transitions = append(transitions, Transition{Action: tr.Action, Actor: tr.Actor, From: tr.From, To: tr.To})
	}
	if !slices.Equal(transitions, m.transitions) {
		fail("transitions %+v, want %+v", transitions, m.transitions)
	}
	if len(errs) > 0 {
		t.Fatalf("the workflow differs from the model:\n  %s\n%s", strings.Join(errs, "\n  "), s.describe())
	}
}

// diff says how the queried state differs from the snapshot, or "".
func (w fuzzSnapshot) diff(s State) string {
	var out []string
	if s.Status != w.status || s.UpdatePending != w.pending || s.Revision != w.revision || s.RemindersSent != w.reminded ||
		s.EventSeq != w.seq || len(s.Transitions) != w.transitions || len(s.Inbox) != 0 {
		out = append(out, fmt.Sprintf("status %s pending %v revision %d reminders %d event_seq %d transitions %d inbox %d, "+
			"want %s %v %d %d %d %d 0", s.Status, s.UpdatePending, s.Revision, s.RemindersSent, s.EventSeq,
			len(s.Transitions), len(s.Inbox), w.status, w.pending, w.revision, w.reminded, w.seq, w.transitions))
	}
	for k, a := range s.Answers {
		want, ok := w.answers[k]
		if !ok {
			out = append(out, fmt.Sprintf("answer %q = %+v, want none", k, a))
			continue
		}
		if a.Reason == "" && !a.Accepted {
			out = append(out, fmt.Sprintf("answer %q is a refusal without a reason", k))
		}
		if a.Reason = ""; a != want {
			out = append(out, fmt.Sprintf("answer %q = %+v, want %+v", k, a, want))
		}
	}
	for k, want := range w.answers {
		if _, ok := s.Answers[k]; !ok {
			out = append(out, fmt.Sprintf("no answer for %q, want %+v", k, want))
		}
	}
	slices.Sort(out)
	return strings.Join(out, "; ")
}

// diff says how the update's outcome differs from the model's, or "".
func (w fuzzOutcome) diff(u *updateCall) string {
	if u == nil {
		return "update not sent"
	}
	o := u.outcome()
	var ok bool
	switch {
	case w.rejected:
		ok = o.Rejected != nil && codeOf(o.Rejected) == string(w.code) && !o.Accepted && !o.Completed
	case w.code != "":
		ok = o.Accepted && o.Completed && o.Rejected == nil && codeOf(o.Err) == string(w.code)
	default:
		ok = o.Accepted && o.Completed && o.Rejected == nil && o.Err == nil && o.Answer == w.answer
	}
	if ok {
		return ""
	}
	return fmt.Sprintf("update %s %s: accepted %v rejected %v completed %v answer %+v err %v; want %s",
		u.name, u.req.IdempotencyKey, o.Accepted, o.Rejected, o.Completed, o.Answer, o.Err, w)
}

func (w fuzzOutcome) String() string {
	switch {
	case w.rejected:
		return "rejected by the validator: " + string(w.code)
	case w.code != "":
		return "accepted, then refused: " + string(w.code)
	}
	return fmt.Sprintf("answered %+v", w.answer)
}

// diffEvents says how the audit rows written differ from the model's, or "".
func diffEvents(wid string, want []fuzzEvent, got []invoice.Event) string {
	var out []string
	for i := range max(len(want), len(got)) {
		if i >= len(want) || i >= len(got) {
			out = append(out, fmt.Sprintf("%d rows, want %d", len(got), len(want)))
			break
		}
		w, e := want[i], got[i]
		g := fuzzEvent{kind: e.Kind, action: e.Action, actor: e.Actor, from: e.From, to: e.To, code: e.Code,
			pending: e.UpdatePending, revision: e.Revision, reminder: e.Reminder}
		if e.Kind == invoice.EventReminder && e.WaitingOn != invoice.PartyBuyer {
			out = append(out, fmt.Sprintf("row %d = %s waits on %q, want the buyer", i, e.Key, e.WaitingOn))
		}
		if _, err := fmt.Sscanf(strings.TrimPrefix(e.Key, wid+"#"), "%d", &g.seq); err != nil || g != w {
			out = append(out, fmt.Sprintf("row %d = %s %+v, want %+v", i, e.Key, g, w))
		}
	}
	return strings.Join(out, "; ")
}

// describe lists the deliveries, one message a line, with what the model expects, and the audit
// rows written.
func (s *fuzzSequence) describe() string {
	var b strings.Builder
	fmt.Fprintf(&b, "sequence (continue-as-new after %d events, also at reminders %v; reminders %+v; %d runs):\n",
		s.canAfter, s.canAtTimer, s.policy, s.runs)
	for i, d := range s.deliveries {
		for j, m := range d.msgs {
			via := "signal"
			if m.update {
				via = "update"
			}
			r := m.req
			fmt.Fprintf(&b, "  %2d.%d +%-10v %s %s key=%q actor=%s/%s/%s", i, j, d.at, via, m.name, r.IdempotencyKey,
				r.Actor.CompanyID, r.Actor.UserID, r.Actor.Role)
			if r.Reason != "" || r.PaymentDate != "" || r.PaymentReference != "" {
				fmt.Fprintf(&b, " reason=%q paid=%q/%q", r.Reason, r.PaymentDate, r.PaymentReference)
			}
			if u := r.Update; u != nil {
				fmt.Fprintf(&b, " update=%s/%d/%s", u.InvoiceNumber, u.TotalMinor, u.StagingKey)
			}
			switch {
			case !d.reached:
				b.WriteString(" (after paid: not delivered)")
			case m.update:
				fmt.Fprintf(&b, " → %s", m.want)
			}
			if j == len(d.msgs)-1 && d.reached {
				fmt.Fprintf(&b, " ⇒ %s pending=%v rev=%d", d.want.status, d.want.pending, d.want.revision)
			}
			b.WriteString("\n")
		}
	}
	return b.String() + "audit rows:\n" + describe(s.events)
}

// stats appends a line about this execution to $FUZZ_MODEL_STATS: the sequence's hash, its
// messages (decoded, and delivered with the closing ones), deliveries, runs and reminders,
// whether it was paid before the closing steps, and whether the buyer separated duties.
func (s *fuzzSequence) stats(t *testing.T) {
	path := os.Getenv("FUZZ_MODEL_STATS")
	if path == "" {
		return
	}
	h := fnv.New64a()
	msgs, reached := 0, 0
	for _, d := range s.deliveries {
		if d.reached {
			reached += len(d.msgs)
		}
		if d.closing {
			continue
		}
		fmt.Fprintf(h, "%d|", d.at)
		for _, m := range d.msgs {
			fmt.Fprintf(h, "%s %v %+v %+v;", m.name, m.update, m.req, m.req.Update)
			msgs++
		}
	}
	fmt.Fprintf(h, "%d %v %+v %v", s.canAfter, s.canAtTimer, s.policy, s.separate)
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	reminders := 0
	for _, e := range s.model.events {
		if e.kind == invoice.EventReminder {
			reminders++
		}
	}
	fmt.Fprintf(f, "%016x %d %d %d %d %d %v %v\n", h.Sum64(), msgs, reached, len(s.deliveries), s.runs, reminders,
		s.paidEarly, s.separate)
}

// ---- Seeds ----

// fuzzStep encodes one step of a seed: action index (7: repeat), update, variant, wait index,
// same callback as the previous signal, and which earlier message to repeat or reuse.
func fuzzStep(action int, update bool, variant, wait int, burst bool, pick int) []byte {
	op := byte(action) | byte(variant)<<4
	if update {
		op |= 8
	}
	arg := byte(wait) | byte(pick)<<4
	if burst {
		arg |= 8
	}
	return []byte{op, arg}
}

// fuzzSeeds are sequences worth starting from: the lifecycle's paths, every kind of refusal as a
// signal and as an update, duplicated keys, reminders and continue-as-new.
func fuzzSeeds() [][]byte {
	const (
		approveA, approvePaymentA, returnA, cancelA, markPaidA, vendorUpdateA, ackA, repeatA = 0, 1, 2, 3, 4, 5, 6, 7
	)
	sig := func(a int) []byte { return fuzzStep(a, false, 0, 0, false, 0) }
	upd := func(a int) []byte { return fuzzStep(a, true, 0, 0, false, 0) }
	seed := func(config byte, steps ...[]byte) []byte {
		return slices.Concat(append([][]byte{{config}}, steps...)...)
	}
	// a long mixed sequence: every action, variant and wait, both ways, some in one callback; its
	// mark-paid comes from procurement until the last
	long := []byte{16 | 8 | 2}
	for i := range fuzzMaxSteps {
		variant := (i * 5) % 16
		if i%8 == markPaidA && i < fuzzMaxSteps-8 {
			variant = 9
		}
		long = append(long, fuzzStep(i%8, i%3 == 0, variant, (i*3)%8, i%5 == 4, i%16)...)
	}
	return [][]byte{
		{},
		long,
		seed(0, sig(approveA), sig(approvePaymentA), sig(markPaidA)),
		seed(0, upd(approveA), upd(approvePaymentA), upd(markPaidA)),
		// every row of the table, updates and signals mixed, continuing as new often
		seed(1, upd(vendorUpdateA), sig(approveA), upd(approveA), sig(ackA), upd(approveA), sig(returnA),
			upd(approveA), upd(approvePaymentA), sig(cancelA), upd(approvePaymentA), upd(vendorUpdateA), upd(ackA),
			sig(approveA), sig(approvePaymentA), upd(markPaidA)),
		// wrong company, stranger, wrong role, missing field, missing key, for each action
		seed(2, fuzzStep(approveA, false, 7, 0, false, 0), fuzzStep(approveA, true, 8, 0, false, 0),
			fuzzStep(approveA, false, 9, 0, false, 0), fuzzStep(approveA, true, 10, 0, false, 0),
			fuzzStep(approveA, false, 11, 0, false, 0), fuzzStep(vendorUpdateA, true, 7, 0, false, 0),
			fuzzStep(vendorUpdateA, false, 9, 0, false, 0), fuzzStep(vendorUpdateA, false, 10, 0, false, 0),
			fuzzStep(ackA, false, 9, 0, false, 0), sig(approveA), fuzzStep(returnA, false, 10, 0, false, 0),
			fuzzStep(returnA, true, 10, 0, false, 0), fuzzStep(approvePaymentA, true, 9, 0, false, 0), sig(approvePaymentA),
			fuzzStep(markPaidA, false, 10, 0, false, 0), fuzzStep(markPaidA, true, 10, 0, false, 1),
			fuzzStep(cancelA, false, 8, 0, false, 0), fuzzStep(markPaidA, true, 11, 0, false, 0), sig(markPaidA)),
		// separation of duties: the procurement approver's payment approval and payment, as signals and
		// updates, refused; a return to procurement clears the approval
		seed(32, sig(approveA), fuzzStep(approvePaymentA, false, 6, 0, false, 0), fuzzStep(approvePaymentA, true, 6, 0, false, 0),
			sig(returnA), fuzzStep(approveA, true, 0, 0, false, 0), sig(approvePaymentA),
			fuzzStep(markPaidA, true, 6, 0, false, 0), fuzzStep(markPaidA, false, 6, 0, false, 0), sig(markPaidA)),
		// duplicated keys: same action as signal and update, another action as signal and update
		seed(0, sig(approveA), fuzzStep(repeatA, false, 0, 0, false, 0), fuzzStep(repeatA, true, 0, 0, false, 0),
			fuzzStep(approvePaymentA, true, 15, 0, false, 0), fuzzStep(approvePaymentA, false, 15, 0, false, 0),
			sig(markPaidA), fuzzStep(repeatA, true, 0, 0, false, 5), sig(approvePaymentA),
			fuzzStep(markPaidA, true, 15, 0, false, 5), fuzzStep(markPaidA, false, 15, 0, false, 5)),
		// vendor updates refused: invalid order, invalid PDF, invoice number taken; then valid ones
		seed(5, fuzzStep(vendorUpdateA, false, 12, 0, false, 0), fuzzStep(vendorUpdateA, true, 12, 0, false, 0),
			fuzzStep(vendorUpdateA, false, 13, 0, false, 0), fuzzStep(vendorUpdateA, true, 13, 0, false, 0),
			fuzzStep(vendorUpdateA, false, 14, 0, false, 0), fuzzStep(vendorUpdateA, true, 14, 0, false, 0),
			fuzzStep(repeatA, true, 0, 0, false, 3), sig(approveA), upd(vendorUpdateA), upd(vendorUpdateA), sig(ackA),
			fuzzStep(ackA, true, 0, 0, false, 0), sig(approveA), sig(approvePaymentA), sig(vendorUpdateA)),
		// reminders in every status, with the default policy and shorter ones, across continue-as-new
		seed(0, fuzzStep(approveA, false, 0, 7, false, 0), fuzzStep(approvePaymentA, false, 0, 6, false, 0),
			fuzzStep(markPaidA, false, 0, 7, false, 0)),
		seed(16|4|1, fuzzStep(approveA, false, 0, 5, false, 0), fuzzStep(ackA, false, 0, 6, false, 0),
			fuzzStep(approvePaymentA, true, 0, 5, false, 0), fuzzStep(cancelA, false, 0, 4, false, 0),
			fuzzStep(approvePaymentA, false, 0, 7, false, 0), fuzzStep(vendorUpdateA, true, 0, 5, false, 0)),
		seed(8|2, fuzzStep(ackA, false, 0, 4, false, 0), fuzzStep(approveA, true, 0, 6, false, 0),
			fuzzStep(approvePaymentA, false, 0, 6, false, 0)),
		seed(16|12|3, fuzzStep(approveA, false, 0, 7, false, 0), fuzzStep(returnA, true, 0, 6, false, 0),
			fuzzStep(approveA, false, 0, 6, false, 0)),
		// several signals in one callback: queued in order, the ones after mark-paid answered in P
		seed(1, sig(approveA), sig(approvePaymentA), sig(markPaidA), fuzzStep(vendorUpdateA, false, 0, 0, true, 0),
			fuzzStep(approveA, false, 0, 0, true, 0), fuzzStep(repeatA, false, 0, 0, true, 2)),
		seed(2, sig(vendorUpdateA), fuzzStep(approveA, false, 0, 0, true, 0), fuzzStep(ackA, false, 0, 0, true, 0),
			fuzzStep(approveA, false, 0, 0, true, 0), fuzzStep(repeatA, false, 0, 0, true, 3),
			fuzzStep(approvePaymentA, false, 15, 0, true, 3)),
	}
}

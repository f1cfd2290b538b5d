package integration

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"

	"github.com/k2kinvoice/autoinvoice/internal/invoice"
	"github.com/k2kinvoice/autoinvoice/internal/testenv"
	"github.com/k2kinvoice/autoinvoice/workflows"
)

// TestConcurrentActionsOnOneInvoice takes these settings from the environment, to reproduce a run:
//
//	K2K_CONCURRENCY_SEED      the seed of the mix and its order (logged by every run)
//	K2K_CONCURRENCY_MODE      mixed (default), signals or updates: how the actions are sent
//	K2K_CONCURRENCY_UPDATES   how many updates may be in flight at once (default 8)
//
// Updates are capped by default: with more than about ten updates in flight on one workflow (the
// dev server's history.maxInFlightUpdates is 10), Temporal 1.29.1 intermittently stops starting the
// workflow's tasks and aborts the updates ("workflow update was aborted") until the callers give
// up, a minute later. K2K_CONCURRENCY_UPDATES=100 reproduces it in about one run in five.
const defaultConcurrentUpdates = 8

// envInt reads an integer setting, def when unset.
func envInt(t *testing.T, name string, def uint64) uint64 {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		t.Fatalf("%s=%q: %v", name, v, err)
	}
	return n
}

// shot is one action fired at the invoice, and what came back to its sender.
type shot struct {
	req       invoice.ActionRequest
	viaUpdate bool // client.Do; else client.Act
	duplicate bool // re-sends an earlier request with the same key
	answer    workflows.Answer
	err       error
}

// userOf names each idempotency key's sender uniquely, so audit rows (which do not store the
// key) can be traced back to their key.
func userOf(key string) string { return "u-" + key }

// concurrentMix is n distinct actions from the right actors (a few from the wrong one, which are
// always refused and keep the invoice away from paid), half sent as signals and half as updates
// (mode "signals" or "updates": all), followed by dup re-sends of earlier keys by either way,
// shuffled.
func concurrentMix(o invoice.Order, n, dup int, mode string, rng *rand.Rand) []*shot {
	via := func(update bool) bool {
		switch mode {
		case "signals":
			return false
		case "updates":
			return true
		}
		return update
	}
	procurement := func(key string) invoice.Actor { return buyer(o, userOf(key), invoice.RoleProcurement) }
	accounting := func(key string) invoice.Actor { return buyer(o, userOf(key), invoice.RoleAccounting) }
	kinds := []func(key string, i int) invoice.ActionRequest{
		func(key string, _ int) invoice.ActionRequest {
			return invoice.ActionRequest{Action: invoice.ActionApprove, Actor: procurement(key)}
		},
		func(key string, _ int) invoice.ActionRequest {
			return invoice.ActionRequest{Action: invoice.ActionApprovePayment, Actor: accounting(key)}
		},
		func(key string, _ int) invoice.ActionRequest {
			return invoice.ActionRequest{Action: invoice.ActionReturnToProcurement, Actor: accounting(key), Reason: "check the quantities of " + key}
		},
		func(key string, _ int) invoice.ActionRequest {
			return invoice.ActionRequest{Action: invoice.ActionCancelPaymentApproval, Actor: accounting(key)}
		},
		func(key string, i int) invoice.ActionRequest {
			if i%2 == 0 {
				return invoice.ActionRequest{Action: invoice.ActionAcknowledgeUpdate, Actor: accounting(key)}
			}
			return invoice.ActionRequest{Action: invoice.ActionAcknowledgeUpdate, Actor: procurement(key)}
		},
	}
	var shots []*shot
	for i := range n {
		key := fmt.Sprintf("k%03d", i)
		var req invoice.ActionRequest
		switch {
		case i%25 == 7: // a vendor update now and then, with a rendered PDF
			r := revisedOrder(o)
			r.InvoiceNumber = fmt.Sprintf("%s-U%d", o.InvoiceNumber, i)
			req = invoice.ActionRequest{Action: invoice.ActionVendorUpdate,
				Actor: invoice.Actor{CompanyID: o.VendorID, UserID: userOf(key), Role: invoice.RoleVendor}, Update: updateOf(r, "")}
		case i%25 == 13: // mark paid by procurement: always refused (wrong_actor)
			req = invoice.ActionRequest{Action: invoice.ActionMarkPaid, Actor: procurement(key), PaymentDate: "2026-11-30", PaymentReference: "SEPA-" + key}
		default:
			req = kinds[i%len(kinds)](key, i)
		}
		req.IdempotencyKey = key
		shots = append(shots, &shot{req: req, viaUpdate: via(i%2 == 1)})
	}
	for range dup {
		first := shots[rng.IntN(n)]
		shots = append(shots, &shot{req: first.req, viaUpdate: via(rng.IntN(2) == 0), duplicate: true})
	}
	rng.Shuffle(len(shots), func(i, j int) { shots[i], shots[j] = shots[j], shots[i] })
	return shots
}

// TestConcurrentActionsOnOneInvoice fires 100 actions at one invoice at once, as signals and as
// updates, with some keys sent twice, and checks that the workflow, the invoice row and the audit
// log agree: one transition row per accepted action, one refused row per refusal, and a chain of
// transitions without gaps.
func TestConcurrentActionsOnOneInvoice(t *testing.T) {
	o := eligible(t)
	st := confirmAndSettle(t, o, nil)
	id := st.WorkflowID
	const distinct, duplicates = 85, 15
	seed := envInt(t, "K2K_CONCURRENCY_SEED", uint64(time.Now().UnixNano()))
	mode := cmp.Or(os.Getenv("K2K_CONCURRENCY_MODE"), "mixed")
	inFlight := envInt(t, "K2K_CONCURRENCY_UPDATES", defaultConcurrentUpdates)
	t.Logf("K2K_CONCURRENCY_SEED=%d K2K_CONCURRENCY_MODE=%s K2K_CONCURRENCY_UPDATES=%d", seed, mode, inFlight)
	shots := concurrentMix(o, distinct, duplicates, mode, rand.New(rand.NewPCG(seed, 1)))

	start := make(chan struct{})
	updateSlots := make(chan struct{}, max(inFlight, 1))
	var wg sync.WaitGroup
	for _, s := range shots {
		wg.Go(func() {
			<-start
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			if s.viaUpdate {
				updateSlots <- struct{}{}
				defer func() { <-updateSlots }()
				s.answer, s.err = client.Do(ctx, id, s.req)
			} else {
				s.err = client.Act(ctx, id, s.req)
			}
		})
	}
	began := time.Now()
	close(start)
	wg.Wait()
	sent := time.Since(began)

	// Every sender got through; refusals are answers, anything else is a failure.
	signalled := map[string]bool{}
	validatorRefused := map[string]bool{} // keys an update's validator refused: Do audited them
	for _, s := range shots {
		var refusal *invoice.Refusal
		switch {
		case s.err == nil:
		case s.viaUpdate && errors.As(s.err, &refusal):
		default:
			st, err := client.State(within(t, 5*time.Second), id)
			t.Logf("state: status %s, answer to %s: %+v, %d actions in the inbox (query error %v)", st.Status, s.req.IdempotencyKey,
				st.Answers[s.req.IdempotencyKey], len(st.Inbox), err)
			dumpWorkflow(t, id)
			t.Fatalf("%s %s (key %s, update %v, duplicate %v): %v", s.req.Action, s.req.Actor.Role, s.req.IdempotencyKey, s.viaUpdate, s.duplicate, s.err)
		}
		if !s.viaUpdate {
			signalled[s.req.IdempotencyKey] = true
		}
	}
	// Wait for every signalled key's answer, then for the inbox to drain.
	ctx := within(t, 60*time.Second)
	for key := range signalled {
		if _, _, err := client.AwaitAnswer(ctx, id, key); err != nil {
			t.Fatal(err)
		}
	}
	for {
		var err error
		if st, err = client.State(ctx, id); err != nil {
			t.Fatal(err)
		}
		if len(st.Inbox) == 0 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	elapsed := time.Since(began)
	for _, s := range shots {
		if _, ok := st.Answers[s.req.IdempotencyKey]; !ok && s.viaUpdate && s.err != nil {
			validatorRefused[s.req.IdempotencyKey] = true
		}
	}

	accepted, refusedByWorkflow := 0, 0
	for _, a := range st.Answers {
		if a.Accepted {
			accepted++
		} else {
			refusedByWorkflow++
		}
	}
	t.Logf("%d actions (%d distinct keys, %d re-sent; %d signals, %d updates): every sender returned in %v, all answered in %v (%.1f ms per action)",
		len(shots), distinct, duplicates, len(shots)-countUpdates(shots), countUpdates(shots), sent.Round(time.Millisecond),
		elapsed.Round(time.Millisecond), float64(elapsed.Milliseconds())/float64(len(shots)))
	t.Logf("workflow answered %d keys: %d accepted, %d refused; %d keys refused by an update validator only; final status %s, revision %d, warning %v",
		len(st.Answers), accepted, refusedByWorkflow, len(validatorRefused), st.Status, st.Revision, st.UpdatePending)

	// The workflow and the invoice row agree.
	inv, err := deps.Store.InvoiceByWorkflowID(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if inv.Status != st.Status || inv.UpdatePending != st.UpdatePending || inv.CurrentRevision != st.Revision {
		t.Errorf("invoice row: %s pending %v revision %d; state: %s pending %v revision %d",
			inv.Status, inv.UpdatePending, inv.CurrentRevision, st.Status, st.UpdatePending, st.Revision)
	}
	if st.Status == invoice.StatusP || st.Outcome != "" {
		t.Fatalf("the invoice reached %s (outcome %q); the mix must keep it open", st.Status, st.Outcome)
	}

	// The transitions chain from AP without gaps, one per accepted answer.
	prev := invoice.StatusAP
	for i, tr := range st.Transitions {
		if tr.From != prev {
			t.Errorf("transition %d (%s by %s) starts in %s, the previous one ended in %s", i, tr.Action, tr.Actor.UserID, tr.From, prev)
		}
		prev = tr.To
	}
	if prev != st.Status {
		t.Errorf("the transitions end in %s, the status is %s", prev, st.Status)
	}
	if len(st.Transitions) != accepted {
		t.Errorf("%d transitions in the state, %d accepted answers", len(st.Transitions), accepted)
	}

	// The audit log: one transition row per accepted key, one refused row per refused key.
	events, err := deps.Store.EventsByWorkflowID(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	transitions, workflowRefusals, clientRefusals := map[string]int{}, map[string]int{}, map[string]int{}
	nTransitions := 0
	for _, e := range events {
		key := strings.TrimPrefix(e.Actor.UserID, "u-")
		switch {
		case e.Kind == invoice.EventTransition:
			transitions[key]++
			nTransitions++
		case e.Kind == invoice.EventRefused && strings.Contains(e.Key, "#refused/"):
			clientRefusals[key]++
		case e.Kind == invoice.EventRefused:
			workflowRefusals[key]++
		}
	}
	if nTransitions != accepted {
		t.Errorf("%d transition rows, %d accepted answers: want exactly one row per accepted action", nTransitions, accepted)
	}
	for key, a := range st.Answers {
		wantT, wantR := 0, 1
		if a.Accepted {
			wantT, wantR = 1, 0
		}
		if transitions[key] != wantT || workflowRefusals[key] != wantR {
			t.Errorf("key %s (%s, accepted %v, code %s): %d transition rows and %d refused rows, want %d and %d",
				key, a.Action, a.Accepted, a.Code, transitions[key], workflowRefusals[key], wantT, wantR)
		}
	}
	for key, n := range transitions {
		if _, ok := st.Answers[key]; !ok || n > 1 {
			t.Errorf("key %s has %d transition rows (answered: %v)", key, n, ok)
		}
	}
	for key, n := range workflowRefusals {
		if a, ok := st.Answers[key]; !ok || a.Accepted {
			t.Errorf("key %s has %d refused rows written by the workflow but its answer is %+v (answered: %v)", key, n, a, ok)
		}
	}
	for key := range validatorRefused {
		if clientRefusals[key] != 1 {
			t.Errorf("key %s was refused by the update validator only: %d refused rows from the client, want 1", key, clientRefusals[key])
		}
	}
	contradicted, doubleRefused := 0, 0
	for key, n := range clientRefusals {
		if n > 1 {
			t.Errorf("key %s has %d refused rows from the client, want at most 1", key, n)
		}
		if a, ok := st.Answers[key]; ok && a.Accepted {
			contradicted++
			t.Logf("key %s (%s): an update was refused by the validator (audited as refused) but the workflow later accepted the same key", key, a.Action)
		}
		if workflowRefusals[key] > 0 {
			doubleRefused++
		}
	}
	t.Logf("audit rows: %d in all, %d transitions, %d refusals by the workflow, %d refusals written by the client "+
		"(%d of their keys later accepted by the workflow, %d also refused by the workflow)",
		len(events), nTransitions, sum(workflowRefusals), sum(clientRefusals), contradicted, doubleRefused)
	logHistory(t, id)
}

// logHistory logs the size of a workflow's history and the workflow tasks that failed or timed out.
func logHistory(t *testing.T, workflowID string) {
	t.Helper()
	it := deps.Temporal.GetWorkflowHistory(context.Background(), workflowID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	kinds := map[enumspb.EventType]int{}
	total := 0
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		kinds[e.GetEventType()]++
		total++
	}
	t.Logf("history: %d events; %d signals, %d updates accepted, %d workflow tasks completed, %d failed, %d timed out, %d activities",
		total, kinds[enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED], kinds[enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED],
		kinds[enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED], kinds[enumspb.EVENT_TYPE_WORKFLOW_TASK_FAILED],
		kinds[enumspb.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT], kinds[enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED])
}

func countUpdates(shots []*shot) int {
	n := 0
	for _, s := range shots {
		if s.viaUpdate {
			n++
		}
	}
	return n
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// TestUpdateRepeatingAQueuedSignalGetsItsAnswer sends an action as a signal and, while it still
// waits in the workflow's inbox behind earlier ones, sends the same request (same idempotency key)
// again as an update, the way a backend retries with a synchronous answer. The key has one answer
// (workflows.Answer: "a re-delivered action gets it again"), so the update must return the answer
// the signal gets, and the audit log must not say the key was refused.
func TestUpdateRepeatingAQueuedSignalGetsItsAnswer(t *testing.T) {
	o := eligible(t)
	st := confirmAndSettle(t, o, nil)
	id := st.WorkflowID
	alice := buyer(o, "alice", invoice.RoleProcurement)
	bob := buyer(o, "bob", invoice.RoleAccounting)
	queued := []invoice.ActionRequest{
		{Action: invoice.ActionApprove, Actor: alice, IdempotencyKey: "q1"},
		{Action: invoice.ActionApprovePayment, Actor: bob, IdempotencyKey: "q2"},
		{Action: invoice.ActionCancelPaymentApproval, Actor: bob, IdempotencyKey: "q3"},
	}
	for _, req := range queued {
		if err := client.Act(within(t, 10*time.Second), id, req); err != nil {
			t.Fatal(err)
		}
	}
	// The update comes once the workflow has taken the signals in (queued or answered): a signal
	// still on its way when an update with its key is validated is not visible to the validator.
	waitFor(t, func() bool {
		st, err := client.State(within(t, 5*time.Second), id)
		if err != nil {
			return false
		}
		_, answered := st.Answers["q3"]
		return answered || slices.ContainsFunc(st.Inbox, func(r workflows.QueuedAction) bool { return r.IdempotencyKey == "q3" })
	})
	// q3 needs status A, which the invoice reaches only once q1 and q2 are handled.
	answer, err := client.Do(within(t, 20*time.Second), id, queued[2])
	final, _, awaitErr := client.AwaitAnswer(within(t, 20*time.Second), id, "q3")
	if awaitErr != nil {
		t.Fatal(awaitErr)
	}
	if !final.Accepted || final.Status != invoice.StatusAA {
		t.Fatalf("q3 answered %+v, want accepted into AA (the signals run in order: AP→AA→A→AA)", final)
	}
	clientRows := count(t, `SELECT count(*) FROM invoice_events WHERE workflow_id = $1 AND kind = 'refused'`, id)
	transitionRows := count(t, `SELECT count(*) FROM invoice_events WHERE workflow_id = $1 AND kind = 'transition' AND action = 'cancel_payment_approval'`, id)
	if err != nil || answer != final || clientRows != 0 || transitionRows != 1 {
		t.Errorf("the update repeating queued signal q3 answered %+v (err %v), the signal's answer is %+v; "+
			"audit log: %d refused rows, %d cancel_payment_approval transitions; want the signal's answer, 0 refused rows and 1 transition",
			answer, err, final, clientRows, transitionRows)
	}
}

// waitFor polls cond for up to 10 s and fails the test if it never holds.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	if !waitUntil(10*time.Second, cond) {
		t.Fatal("condition not met within 10 s")
	}
}

// dumpWorkflow logs a stuck workflow's pending tasks and the end of its history.
func dumpWorkflow(t *testing.T, workflowID string) {
	t.Helper()
	ctx := context.Background()
	if d, err := testenv.Describe(ctx, deps.Temporal, workflowID); err != nil {
		t.Logf("describe: %v", err)
	} else {
		t.Logf("describe: status %s, history length %d, pending workflow task %+v, %d pending activities %+v",
			d.GetWorkflowExecutionInfo().GetStatus(), d.GetWorkflowExecutionInfo().GetHistoryLength(),
			d.GetPendingWorkflowTask(), len(d.GetPendingActivities()), d.GetPendingActivities())
	}
	it := deps.Temporal.GetWorkflowHistory(ctx, workflowID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	var lines []string
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			t.Logf("history: %v", err)
			break
		}
		line := fmt.Sprintf("%d %s %s", e.GetEventId(), e.GetEventTime().AsTime().Format("15:04:05.000"), e.GetEventType())
		if f := e.GetWorkflowTaskFailedEventAttributes(); f != nil {
			line += fmt.Sprintf(" cause %s: %s", f.GetCause(), f.GetFailure().GetMessage())
		}
		if f := e.GetActivityTaskFailedEventAttributes(); f != nil {
			line += ": " + f.GetFailure().GetMessage()
		}
		lines = append(lines, line)
	}
	if len(lines) > 40 {
		lines = lines[len(lines)-40:]
	}
	t.Logf("history tail:\n%s", strings.Join(lines, "\n"))
}

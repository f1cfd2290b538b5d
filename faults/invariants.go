package faults

import (
	"context"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/k2kinvoice/autoinvoice/internal/blob"
	"github.com/k2kinvoice/autoinvoice/internal/invoice"
	"github.com/k2kinvoice/autoinvoice/internal/testenv"
	"github.com/k2kinvoice/autoinvoice/workflows"
)

// Expectation is what one order must have led to once a scenario is over: its workflow's outcome
// or status, its revisions and the audit rows of the actions sent to it.
type Expectation struct {
	WorkflowID string
	VendorID   string
	BuyerID    string
	PONumber   string
	// Outcome is the workflow's result; empty when it must still run, in Status.
	Outcome workflows.Outcome
	Status  invoice.Status
	// Reminders is how many reminder rows the invoice must have.
	Reminders int
	// SystemTransitions is how many transition rows the workflow must have written on its own,
	// for no key the scenario sent: an export's A → ES (send_to_accounting by the system) and
	// its ES → S or ES → F.
	SystemTransitions int
	// answers holds, per idempotency key the scenario sent, the action and whether it was accepted.
	answers map[string]answered
}

type answered struct {
	action   invoice.Action
	accepted bool
}

// Revisions is how many revisions the invoice must have: the first, plus one per accepted
// vendor update.
func (e *Expectation) Revisions() int {
	n := 1
	for _, a := range e.answers {
		if a.accepted && a.action == invoice.ActionVendorUpdate {
			n++
		}
	}
	return n
}

// accepted and refused count the keys answered each way.
func (e *Expectation) counts() (accepted, refused int) {
	for _, a := range e.answers {
		if a.accepted {
			accepted++
		} else {
			refused++
		}
	}
	return accepted, refused
}

// Ledger records what a scenario did to which orders, for the checker to compare with what the
// system holds afterwards. Safe for concurrent use.
type Ledger struct {
	mu   sync.Mutex
	byID map[string]*Expectation
	ids  []string
	// conflicts are keys answered once accepted and once refused: a broken idempotency promise.
	conflicts []string
}

// NewLedger is an empty ledger.
func NewLedger() *Ledger { return &Ledger{byID: map[string]*Expectation{}} }

// Order records a confirmed order that must end paid (change that with Expect). Recording the
// same order again changes nothing.
func (l *Ledger) Order(o invoice.Order) string {
	id := workflows.InvoiceWorkflowID(o.VendorID, o.BuyerID, o.PONumber)
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.byID[id]; !ok {
		l.byID[id] = &Expectation{WorkflowID: id, VendorID: o.VendorID, BuyerID: o.BuyerID, PONumber: o.PONumber,
			Outcome: workflows.OutcomePaid, Status: invoice.StatusP, answers: map[string]answered{}}
		l.ids = append(l.ids, id)
	}
	return id
}

// Expect changes what a recorded order must end in.
func (l *Ledger) Expect(workflowID string, change func(*Expectation)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e, ok := l.byID[workflowID]; ok {
		change(e)
	}
}

// Answer records the answer the system gave to an action with this idempotency key.
func (l *Ledger) Answer(workflowID, key string, action invoice.Action, accepted bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.byID[workflowID]
	if !ok {
		return
	}
	if prior, seen := e.answers[key]; seen && prior.accepted != accepted {
		l.conflicts = append(l.conflicts, fmt.Sprintf("%s key %s: answered accepted=%v, then accepted=%v", workflowID, key, prior.accepted, accepted))
	}
	e.answers[key] = answered{action: action, accepted: accepted}
}

// IDs are the recorded workflow IDs, in recording order.
func (l *Ledger) IDs() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.ids)
}

// snapshot copies the expectations, so the checker works on a stable view.
func (l *Ledger) snapshot() ([]Expectation, []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]Expectation, 0, len(l.ids))
	for _, id := range l.ids {
		e := *l.byID[id]
		e.answers = maps.Clone(e.answers)
		out = append(out, e)
	}
	return out, slices.Clone(l.conflicts)
}

// Observation is an activity seen pending with a failed attempt behind it.
type Observation struct {
	WorkflowID  string
	Activity    string
	Attempt     int32
	LastFailure string
	At          time.Time
}

// Monitor polls the pending activities of a ledger's open workflows while a scenario runs, and
// keeps the attempts it sees: retries are only visible there while they happen.
type Monitor struct {
	temporal client.Client
	ledger   *Ledger
	every    time.Duration
	stop     chan struct{}
	done     chan struct{}

	mu         sync.Mutex
	maxAttempt map[string]int32       // per activity type
	retrying   map[string]Observation // first sighting per workflow, activity and attempt
	closed     map[string]bool
	polls      int
	errors     int
}

// StartMonitor polls every interval until Stop.
func StartMonitor(c client.Client, l *Ledger, every time.Duration) *Monitor {
	m := &Monitor{temporal: c, ledger: l, every: every, stop: make(chan struct{}), done: make(chan struct{}),
		maxAttempt: map[string]int32{}, retrying: map[string]Observation{}, closed: map[string]bool{}}
	go m.loop()
	return m
}

// Stop ends the polling and waits for the last poll.
func (m *Monitor) Stop() {
	select {
	case <-m.stop:
	default:
		close(m.stop)
	}
	<-m.done
}

func (m *Monitor) loop() {
	defer close(m.done)
	tick := time.NewTicker(m.every)
	defer tick.Stop()
	for {
		m.poll()
		select {
		case <-m.stop:
			return
		case <-tick.C:
		}
	}
}

func (m *Monitor) poll() {
	for _, id := range m.ledger.IDs() {
		m.mu.Lock()
		closed := m.closed[id]
		m.mu.Unlock()
		if closed {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		d, err := testenv.Describe(ctx, m.temporal, id)
		cancel()
		m.mu.Lock()
		m.polls++
		if err != nil {
			m.errors++ // not started yet, or Temporal is down: both expected in some scenarios
			m.mu.Unlock()
			continue
		}
		if d.GetWorkflowExecutionInfo().GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
			m.closed[id] = true
		}
		for _, pa := range d.GetPendingActivities() {
			name := pa.GetActivityType().GetName()
			m.maxAttempt[name] = max(m.maxAttempt[name], pa.GetAttempt())
			if pa.GetAttempt() > 1 && pa.GetLastFailure() != nil {
				key := fmt.Sprintf("%s|%s|%d", id, name, pa.GetAttempt())
				if _, seen := m.retrying[key]; !seen {
					m.retrying[key] = Observation{WorkflowID: id, Activity: name, Attempt: pa.GetAttempt(),
						LastFailure: oneLine(pa.GetLastFailure().GetMessage()), At: time.Now()}
				}
			}
		}
		m.mu.Unlock()
	}
}

// Retrying returns the retries seen (attempt > 1 with a last failure), oldest first, and the
// highest attempt seen per activity type.
func (m *Monitor) Retrying() ([]Observation, map[string]int32) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Observation, 0, len(m.retrying))
	for _, o := range m.retrying {
		out = append(out, o)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
	return out, maps.Clone(m.maxAttempt)
}

// oneLine shortens a failure message to its first line, at most 160 characters.
func oneLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 160 {
		s = s[:157] + "..."
	}
	return s
}

// Checker compares what a scenario recorded in its ledger with what Temporal, PostgreSQL and S3
// hold. It reads them directly, never through the processes under test.
type Checker struct {
	Temporal  client.Client
	Namespace string
	DB        *pgxpool.Pool
	Blobs     *blob.Store
	// MaxAttempt is the highest activity attempt allowed (history and pending).
	MaxAttempt int32
	// Settle is how long workflows may take to reach their expected outcome or status.
	Settle time.Duration
}

// Report is what the checker found.
type Report struct {
	Workflows int
	Invoices  int
	// Retries counts activity retries in the histories (the attempts beyond the first of every
	// activity that ran); MaxAttempt is the highest attempt in a history or seen pending.
	Retries    int
	MaxAttempt int32
	// AttemptsByActivity is the highest attempt per activity type in the histories.
	AttemptsByActivity map[string]int32
	// WorkflowTaskFailed and WorkflowTaskTimedOut count those events over all histories (a
	// killed worker's workflow tasks time out, then run elsewhere).
	WorkflowTaskFailed   int
	WorkflowTaskTimedOut int
	Violations           []string
}

// OK is true when no invariant was broken.
func (r Report) OK() bool { return len(r.Violations) == 0 }

func (r *Report) violate(format string, args ...any) {
	r.Violations = append(r.Violations, fmt.Sprintf(format, args...))
}

// Check runs every invariant over the ledger's orders:
//
//   - every workflow reached its expected outcome or status within Settle (none stuck), and none
//     failed, timed out or was terminated;
//   - exactly one workflow per order in Temporal's visibility (continued-as-new runs aside), and
//     no workflow for the scenario's buyers that the ledger does not know;
//   - exactly one vendor_invoices row per order, in the expected status and revision;
//   - one invoice_revisions row and one S3 object per revision (the bucket is listed);
//   - audit rows: one invoice_created, one transition per accepted key and per expected system
//     transition, one refused row per refused key, the expected reminders, nothing else;
//   - no activity attempt above MaxAttempt (histories and the monitor's pending sightings);
//   - no WorkflowTaskFailed repeating without a completed workflow task in between.
func (c *Checker) Check(ctx context.Context, l *Ledger, m *Monitor) Report {
	exps, conflicts := l.snapshot()
	rep := Report{Workflows: len(exps), AttemptsByActivity: map[string]int32{}}
	for _, conflict := range conflicts {
		rep.violate("idempotency: %s", conflict)
	}
	c.checkOutcomes(ctx, exps, &rep)
	c.checkVisibility(ctx, exps, &rep)
	ids := c.checkInvoices(ctx, exps, &rep)
	c.checkObjects(ctx, exps, ids, &rep)
	c.checkEvents(ctx, exps, &rep)
	c.checkHistories(ctx, exps, &rep)
	if m != nil {
		_, pending := m.Retrying()
		for activity, a := range pending {
			rep.MaxAttempt = max(rep.MaxAttempt, a)
			if a > c.MaxAttempt {
				rep.violate("activity %s was seen pending at attempt %d, above the bound %d", activity, a, c.MaxAttempt)
			}
		}
	}
	return rep
}

// checkOutcomes waits, up to Settle, for every workflow to reach what the ledger expects.
func (c *Checker) checkOutcomes(ctx context.Context, exps []Expectation, rep *Report) {
	ctx, cancel := context.WithTimeout(ctx, c.Settle)
	defer cancel()
	for _, e := range exps {
		if e.Outcome != "" {
			var res workflows.Result
			err := c.Temporal.GetWorkflow(ctx, e.WorkflowID, "").Get(ctx, &res)
			switch {
			case err != nil:
				rep.violate("%s: no %s outcome within %s: %v", e.WorkflowID, e.Outcome, c.Settle, err)
			case res.Outcome != e.Outcome || (e.Status != "" && res.Status != e.Status):
				rep.violate("%s: ended %s in %q, want %s in %q", e.WorkflowID, res.Outcome, res.Status, e.Outcome, e.Status)
			}
			continue
		}
		var last workflows.State
		var err error
		for {
			var v interface{ Get(any) error }
			if v, err = c.Temporal.QueryWorkflow(ctx, e.WorkflowID, "", workflows.QueryStatus); err == nil {
				if err = v.Get(&last); err == nil && last.Status == e.Status && last.Outcome == "" {
					break
				}
			}
			if ctx.Err() != nil {
				rep.violate("%s: not in %s within %s (status %q, outcome %q, last error %v)", e.WorkflowID, e.Status, c.Settle, last.Status, last.Outcome, err)
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
}

// visibleRun is one workflow run as visibility lists it.
type visibleRun struct {
	id, runID string
	status    enumspb.WorkflowExecutionStatus
}

// listRuns lists the runs of the buyers' workflows.
func (c *Checker) listRuns(ctx context.Context, buyers []string) ([]visibleRun, error) {
	var out []visibleRun
	for _, b := range buyers {
		var token []byte
		for {
			resp, err := c.Temporal.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
				Namespace: c.Namespace, PageSize: 1000, NextPageToken: token,
				Query: fmt.Sprintf("%s = '%s'", workflows.AttrBuyer.GetName(), b)})
			if err != nil {
				return nil, err
			}
			for _, x := range resp.GetExecutions() {
				out = append(out, visibleRun{id: x.GetExecution().GetWorkflowId(), runID: x.GetExecution().GetRunId(), status: x.GetStatus()})
			}
			if token = resp.GetNextPageToken(); len(token) == 0 {
				break
			}
		}
	}
	return out, nil
}

// buyersOf lists the distinct buyers of the expectations.
func buyersOf(exps []Expectation) []string {
	var out []string
	for _, e := range exps {
		if !slices.Contains(out, e.BuyerID) {
			out = append(out, e.BuyerID)
		}
	}
	return out
}

// checkVisibility: exactly one workflow (one run not continued as new) per order, nothing else
// for these buyers. Visibility trails the workflows by a moment, so it is read until it agrees or
// ten seconds pass.
func (c *Checker) checkVisibility(ctx context.Context, exps []Expectation, rep *Report) {
	want := map[string]bool{}
	for _, e := range exps {
		want[e.WorkflowID] = true
	}
	var problems []string
	for try := 0; try < 50; try++ {
		problems = nil
		runs, err := c.listRuns(ctx, buyersOf(exps))
		if err != nil {
			problems = append(problems, "list workflows: "+err.Error())
		}
		current := map[string]int{}
		for _, r := range runs {
			if r.status != enumspb.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW {
				current[r.id]++
			}
			if !want[r.id] {
				problems = append(problems, fmt.Sprintf("workflow %s (run %s) exists but the scenario never confirmed that order", r.id, r.runID))
			}
		}
		for id := range want {
			if current[id] != 1 {
				problems = append(problems, fmt.Sprintf("%s: %d workflows (runs not continued as new) in visibility, want exactly 1", id, current[id]))
			}
		}
		if len(problems) == 0 || ctx.Err() != nil {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, p := range problems {
		rep.violate("visibility: %s", p)
	}
}

// checkInvoices: one vendor_invoices row per order, nothing else for these buyers, each in the
// expected status and revision, with one invoice_revisions row per revision. It returns the
// invoice IDs by workflow ID.
func (c *Checker) checkInvoices(ctx context.Context, exps []Expectation, rep *Report) map[string]int64 {
	ids := map[string]int64{}
	rows, err := c.DB.Query(ctx, `SELECT id, workflow_id, vendor_id, buyer_id, po_number, status, current_revision
		FROM vendor_invoices WHERE buyer_id = ANY($1)`, buyersOf(exps))
	if err != nil {
		rep.violate("read vendor_invoices: %v", err)
		return ids
	}
	type row struct {
		id                        int64
		vendor, buyer, po, status string
		revision                  int
	}
	byWorkflow := map[string][]row{}
	for rows.Next() {
		var r row
		var wf string
		if err := rows.Scan(&r.id, &wf, &r.vendor, &r.buyer, &r.po, &r.status, &r.revision); err != nil {
			rep.violate("read vendor_invoices: %v", err)
			return ids
		}
		byWorkflow[wf] = append(byWorkflow[wf], r)
	}
	rows.Close()
	known := map[string]bool{}
	for _, e := range exps {
		known[e.WorkflowID] = true
		got := byWorkflow[e.WorkflowID]
		if len(got) != 1 {
			rep.violate("%s: %d vendor_invoices rows, want exactly 1", e.WorkflowID, len(got))
			continue
		}
		r := got[0]
		ids[e.WorkflowID] = r.id
		rep.Invoices++
		if r.vendor != e.VendorID || r.buyer != e.BuyerID || r.po != e.PONumber {
			rep.violate("%s: invoice row is for %s/%s/%s", e.WorkflowID, r.vendor, r.buyer, r.po)
		}
		if r.status != string(e.Status) || r.revision != e.Revisions() {
			rep.violate("%s: invoice row in %s at revision %d, want %s at revision %d", e.WorkflowID, r.status, r.revision, e.Status, e.Revisions())
		}
	}
	for wf, rs := range byWorkflow {
		if !known[wf] {
			rep.violate("%s: %d vendor_invoices rows for an order the scenario never confirmed", wf, len(rs))
		}
	}
	for _, e := range exps {
		id, ok := ids[e.WorkflowID]
		if !ok {
			continue
		}
		var n, distinct, top int
		if err := c.DB.QueryRow(ctx, `SELECT count(*), count(DISTINCT revision), coalesce(max(revision), 0)
			FROM invoice_revisions WHERE invoice_id = $1`, id).Scan(&n, &distinct, &top); err != nil {
			rep.violate("read invoice_revisions: %v", err)
			continue
		}
		if n != e.Revisions() || distinct != n || top != n {
			rep.violate("%s: %d invoice_revisions rows (revisions up to %d), want %d", e.WorkflowID, n, top, e.Revisions())
		}
	}
	return ids
}

// checkObjects: the bucket holds one invoice PDF per revision of the buyers' invoices, and every
// revision's key is among them.
func (c *Checker) checkObjects(ctx context.Context, exps []Expectation, ids map[string]int64, rep *Report) {
	for _, b := range buyersOf(exps) {
		keys, err := c.Blobs.List(ctx, "invoices/"+url.PathEscape(b)+"/")
		if err != nil {
			rep.violate("list the bucket: %v", err)
			return
		}
		listed := map[string]bool{}
		for _, k := range keys {
			listed[k] = true
		}
		want := 0
		for _, e := range exps {
			if e.BuyerID != b {
				continue
			}
			id, ok := ids[e.WorkflowID]
			if !ok {
				continue
			}
			want += e.Revisions()
			rows, err := c.DB.Query(ctx, `SELECT revision, pdf_key FROM invoice_revisions WHERE invoice_id = $1`, id)
			if err != nil {
				rep.violate("read invoice_revisions: %v", err)
				return
			}
			for rows.Next() {
				var rev int
				var key string
				if err := rows.Scan(&rev, &key); err == nil && !listed[key] {
					rep.violate("%s: revision %d's PDF %s is not in the bucket", e.WorkflowID, rev, key)
				}
			}
			rows.Close()
		}
		if len(keys) != want {
			rep.violate("buyer %s: %d invoice PDFs in the bucket, want %d (one per revision)", b, len(keys), want)
		}
	}
}

// checkEvents: the audit rows of each workflow are exactly the system's and the scenario's.
func (c *Checker) checkEvents(ctx context.Context, exps []Expectation, rep *Report) {
	for _, e := range exps {
		rows, err := c.DB.Query(ctx, `SELECT kind, count(*) FROM invoice_events WHERE workflow_id = $1 GROUP BY kind`, e.WorkflowID)
		if err != nil {
			rep.violate("read invoice_events: %v", err)
			return
		}
		got := map[string]int{}
		total := 0
		for rows.Next() {
			var kind string
			var n int
			if err := rows.Scan(&kind, &n); err != nil {
				rep.violate("read invoice_events: %v", err)
			}
			got[kind] = n
			total += n
		}
		rows.Close()
		accepted, refused := e.counts()
		want := map[string]int{string(invoice.EventInvoiceCreated): 1, string(invoice.EventTransition): accepted + e.SystemTransitions,
			string(invoice.EventRefused): refused, string(invoice.EventReminder): e.Reminders}
		wantTotal := 1 + accepted + e.SystemTransitions + refused + e.Reminders
		if total != wantTotal || !sameCounts(got, want) {
			rep.violate("%s: %d audit rows %v, want %d %v (1 created + %d accepted + %d system transitions + %d refused + %d reminders)",
				e.WorkflowID, total, got, wantTotal, nonZero(want), accepted, e.SystemTransitions, refused, e.Reminders)
		}
	}
}

func sameCounts(got, want map[string]int) bool {
	for k, v := range got {
		if want[k] != v {
			return false
		}
	}
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	return true
}

func nonZero(m map[string]int) map[string]int {
	out := map[string]int{}
	for k, v := range m {
		if v != 0 {
			out[k] = v
		}
	}
	return out
}

// checkHistories reads every run's history: activity attempts (bounded), workflow tasks that
// failed again and again, and runs that failed, timed out or were terminated.
func (c *Checker) checkHistories(ctx context.Context, exps []Expectation, rep *Report) {
	runs, err := c.listRuns(ctx, buyersOf(exps))
	if err != nil {
		rep.violate("list workflows: %v", err)
		return
	}
	for _, r := range runs {
		it := c.Temporal.GetWorkflowHistory(ctx, r.id, r.runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		scheduled := map[int64]string{}
		streak, worstStreak := 0, 0
		var lastCause string
		for it.HasNext() {
			ev, err := it.Next()
			if err != nil {
				rep.violate("%s: read history: %v", r.id, err)
				break
			}
			switch ev.GetEventType() {
			case enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
				scheduled[ev.GetEventId()] = ev.GetActivityTaskScheduledEventAttributes().GetActivityType().GetName()
			case enumspb.EVENT_TYPE_ACTIVITY_TASK_STARTED:
				a := ev.GetActivityTaskStartedEventAttributes()
				name := scheduled[a.GetScheduledEventId()]
				rep.Retries += int(a.GetAttempt() - 1)
				rep.AttemptsByActivity[name] = max(rep.AttemptsByActivity[name], a.GetAttempt())
				rep.MaxAttempt = max(rep.MaxAttempt, a.GetAttempt())
				if a.GetAttempt() > c.MaxAttempt {
					rep.violate("%s: %s ran %d attempts, above the bound %d", r.id, name, a.GetAttempt(), c.MaxAttempt)
				}
			case enumspb.EVENT_TYPE_WORKFLOW_TASK_FAILED:
				rep.WorkflowTaskFailed++
				streak++
				worstStreak = max(worstStreak, streak)
				f := ev.GetWorkflowTaskFailedEventAttributes()
				lastCause = f.GetCause().String() + ": " + oneLine(f.GetFailure().GetMessage())
			case enumspb.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT:
				rep.WorkflowTaskTimedOut++
			case enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
				streak = 0
			case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED, enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT,
				enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED:
				rep.violate("%s (run %s): %s", r.id, r.runID, ev.GetEventType())
			}
		}
		if worstStreak >= 2 {
			rep.violate("%s (run %s): %d WorkflowTaskFailed in a row (last %s)", r.id, r.runID, worstStreak, lastCause)
		}
	}
}

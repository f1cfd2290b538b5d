package faults

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/k2kinvoice/autoinvoice/workflows"
)

// scenario is one fault scenario: what it does to the system, and the highest activity attempt
// its invariants allow.
type scenario struct {
	name       string
	maxAttempt int32
	reminders  workflows.ReminderPolicy
	run        func(*run)
}

// scenarios is the list a mode runs. The smoke mode (go test ./..., make test) keeps to about
// two minutes on two cores; the full mode (make faults) runs every scenario.
func scenarios(mode string) []scenario {
	if mode == modeSmoke {
		return []scenario{
			{name: "two-workers", maxAttempt: 3, reminders: noReminders, run: twoWorkers(6)},
			{name: "pg-outage", maxAttempt: 6, reminders: noReminders, run: pgOutage(10*time.Second, 2)},
		}
	}
	return []scenario{
		{name: "kill-in-VerifyEligibility", maxAttempt: 2, reminders: noReminders, run: killInVerifyEligibility},
		{name: "kill-in-StorePDF", maxAttempt: 2, reminders: noReminders, run: killInStorePDF},
		{name: "kill-in-CreateAPInvoice", maxAttempt: 2, reminders: noReminders, run: killInCreateAPInvoice},
		{name: "kill-in-ReviseInvoice", maxAttempt: 2, reminders: noReminders, run: killInReviseInvoice},
		{name: "kill-in-RecordEvent", maxAttempt: 2, reminders: noReminders, run: killInRecordEvent},
		{name: "kill-in-ExportInvoice", maxAttempt: 2, reminders: noReminders, run: killInExportInvoice},
		{name: "kill-in-webhook-delivery", maxAttempt: 2, reminders: noReminders, run: killInWebhookDelivery},
		{name: "kill-in-local-step", maxAttempt: 1, reminders: noReminders, run: killInLocalStep},
		{name: "two-workers", maxAttempt: 3, reminders: noReminders, run: twoWorkers(40)},
		{name: "gateway-kill", maxAttempt: 2, reminders: noReminders, run: gatewayKill},
		{name: "temporal-restart", maxAttempt: 3, reminders: noReminders, run: temporalRestart},
		{name: "s3-outage", maxAttempt: 10, reminders: noReminders, run: s3Outage(60 * time.Second)},
		{name: "pg-outage", maxAttempt: 8, reminders: noReminders, run: pgOutage(30*time.Second, 4)},
		{name: "rolling-restart-sigterm", maxAttempt: 3, reminders: noReminders, run: rollingRestart(200, false)},
		{name: "rolling-restart-sigkill", maxAttempt: 3, reminders: noReminders, run: rollingRestart(200, true)},
	}
}

// summary is one row of the suite's table.
type summary struct {
	scenario   string
	invoices   int
	faults     string
	retries    string
	invariants string
}

// TestFaults runs the mode's scenarios one after the other (they share the task queue, so a
// fault in one would reach another's workflows), checks the invariants after each, and prints
// a table of what happened.
func TestFaults(t *testing.T) {
	list := scenarios(env.mode)
	names := make([]string, len(list))
	for i, sc := range list {
		names[i] = sc.name
	}
	var server string
	switch env.temporal.(type) {
	case nil:
		server = "a server the suite did not start (K2K_TEST_TEMPORAL_ADDRESS)"
	case realServer:
		server = "the real Temporal server on PostgreSQL, started by the suite (K2K_TEST_TEMPORAL=server)"
	default:
		server = "the Temporal CLI's dev server, started by the suite"
	}
	t.Logf("mode %s (K2K_FAULTS=%q; %q runs every scenario): %d scenarios (-run may select fewer): %s", env.mode, os.Getenv("K2K_FAULTS"), modeFull,
		len(list), strings.Join(names, ", "))
	t.Logf("Temporal %s namespace %s: %s; logs in %s", env.address, env.namespace, server, env.logDir)
	began := time.Now()
	var rows []summary
	for _, sc := range list {
		t.Run(sc.name, func(t *testing.T) {
			row := summary{scenario: sc.name}
			defer func() { rows = append(rows, row) }()
			r := newRun(t, sc.name, sc.reminders)
			defer r.finish(sc, &row, time.Now())
			sc.run(r)
		})
	}
	table := formatTable(rows)
	t.Logf("%s mode, %d scenarios in %s:\n%s", env.mode, len(rows), time.Since(began).Round(time.Second), table)
	fmt.Printf("\nfault suite, %s mode, %d scenarios in %s:\n\n%s\n", env.mode, len(rows), time.Since(began).Round(time.Second), table)
}

// finish checks the invariants of a scenario, even one that failed half-way, and fills its row.
func (r *run) finish(sc scenario, row *summary, began time.Time) {
	failed := r.t.Failed()
	r.mon.Stop()
	row.faults = strings.Join(r.faults, "; ")
	if r.notApplicable != "" {
		row.faults, row.retries, row.invariants = "none: "+r.notApplicable, "-", "n/a"
		r.logf("SUMMARY %s: not applicable: %s", sc.name, r.notApplicable)
		return
	}
	settle := 3 * time.Minute
	if failed {
		settle = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), settle+2*time.Minute)
	defer cancel()
	checker := Checker{Temporal: r.s.deps.Temporal, Namespace: r.s.namespace, DB: r.s.db, Blobs: r.s.deps.Blobs,
		MaxAttempt: sc.maxAttempt, Settle: settle}
	rep := checker.Check(ctx, r.ledger, r.mon)
	for _, v := range rep.Violations {
		r.t.Errorf("invariant broken: %s", v)
	}
	seen, pendingMax := r.mon.Retrying()
	for i, o := range seen {
		if i == 12 {
			r.logf("... and %d more retries seen pending", len(seen)-i)
			break
		}
		r.logf("retry seen pending: %s attempt %d of %s at %s, last failure: %s", o.Activity, o.Attempt, o.WorkflowID,
			o.At.Format("15:04:05.0"), o.LastFailure)
	}
	row.invoices = rep.Invoices
	row.retries = fmt.Sprintf("%d (max attempt %d), %d seen pending", rep.Retries, rep.MaxAttempt, len(seen))
	if n := r.clientRetries.Load(); n > 0 {
		row.retries += fmt.Sprintf(", %d client retries", n)
	}
	switch {
	case !rep.OK():
		row.invariants = fmt.Sprintf("FAILED (%d broken)", len(rep.Violations))
	case r.t.Failed():
		row.invariants = "FAILED (scenario)"
	default:
		row.invariants = "ok"
	}
	r.logf("SUMMARY %s: %d workflows, %d invoices; faults: %s; activity attempts per type %s (pending max %v); "+
		"%d WorkflowTaskFailed, %d WorkflowTaskTimedOut; %d client retries; invariants %s; %s",
		sc.name, rep.Workflows, rep.Invoices, cmp.Or(row.faults, "none"), formatAttempts(rep.AttemptsByActivity), formatAttempts(pendingMax),
		rep.WorkflowTaskFailed, rep.WorkflowTaskTimedOut, r.clientRetries.Load(), row.invariants, time.Since(began).Round(100*time.Millisecond))
}

func formatAttempts(m map[string]int32) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s:%d", k, m[k])
	}
	return "{" + strings.Join(parts, " ") + "}"
}

// formatTable is the rows as a Markdown table.
func formatTable(rows []summary) string {
	cells := [][]string{{"scenario", "invoices", "faults injected", "retries seen", "invariants"}}
	for _, r := range rows {
		cells = append(cells, []string{r.scenario, fmt.Sprint(r.invoices), cmp.Or(r.faults, "-"), cmp.Or(r.retries, "-"), cmp.Or(r.invariants, "FAILED")})
	}
	width := make([]int, len(cells[0]))
	for _, row := range cells {
		for i, c := range row {
			width[i] = max(width[i], len([]rune(c)))
		}
	}
	var b strings.Builder
	line := func(row []string) {
		b.WriteString("|")
		for i, c := range row {
			fmt.Fprintf(&b, " %s%s |", c, strings.Repeat(" ", width[i]-len([]rune(c))))
		}
		b.WriteString("\n")
	}
	line(cells[0])
	sep := make([]string, len(width))
	for i, w := range width {
		sep[i] = strings.Repeat("-", w)
	}
	line(sep)
	for _, row := range cells[1:] {
		line(row)
	}
	return b.String()
}

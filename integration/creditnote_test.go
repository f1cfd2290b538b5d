package integration

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/k2kinvoice/autoinvoice/internal/invoice"
	"github.com/k2kinvoice/autoinvoice/workflows"
)

// creditNote is a credit note of amount against o, numbered number.
func creditNote(o invoice.Order, number string, amount int64) invoice.CreditNote {
	return invoice.CreditNote{Number: number, IssueDate: "2026-12-02", Currency: o.Currency, TotalMinor: amount,
		Reason: "goods returned", Lines: []invoice.Line{{Description: "Returned brackets", Quantity: 1, UnitPriceMinor: amount}}}
}

// issue issues note against the invoice of workflow id and requires an answer.
func issue(t *testing.T, id string, note invoice.CreditNote) workflows.CreditNoteState {
	t.Helper()
	got, err := client.IssueCreditNote(within(t, 40*time.Second), id, 0, note, 30*time.Second)
	if err != nil || got.State == nil {
		t.Fatalf("issue %s: %+v, %v", note.Number, got, err)
	}
	return *got.State
}

// TestCreditNotes: a paid invoice takes two partial credit notes, each approved by procurement and
// applied by accounting; a third for more than is left is rejected (over_credit) and audited; the
// same credit note issued again reaches its workflow; a credit note on an unpaid invoice is
// rejected (invoice_not_paid). The PDFs are stored next to the invoice's.
func TestCreditNotes(t *testing.T) {
	ctx := context.Background()
	metricsBefore := map[string]float64{}
	for _, outcome := range []string{"created", "rejected", "applied"} {
		metricsBefore[outcome] = scrape(t, "k2k_credit_notes_total", `outcome="`+outcome+`"`)
	}
	unpaid := eligible(t)
	ust := confirmAndSettle(t, unpaid, nil)
	if cn := issue(t, ust.WorkflowID, creditNote(unpaid, "CN-EARLY", 100)); cn.Outcome != workflows.OutcomeRejected ||
		!strings.HasPrefix(cn.Reason, string(invoice.RefusedNotPaid)+": ") {
		t.Errorf("credit note on an unpaid invoice: outcome %s reason %q, want rejected invoice_not_paid", cn.Outcome, cn.Reason)
	}

	o := eligible(t)
	st := confirmAndSettle(t, o, nil)
	payAll(t, st.WorkflowID, o, "paid-")
	settled(t, st.WorkflowID)
	procurement, accounting := buyer(o, "carol", invoice.RoleProcurement), buyer(o, "dave", invoice.RoleAccounting)
	applied := int64(0)
	for i, amount := range []int64{30000, 50000} {
		note := creditNote(o, []string{"CN-1", "CN-2"}[i], amount)
		cn := issue(t, st.WorkflowID, note)
		if cn.Status != invoice.StatusAP || cn.CreditNoteID == 0 || cn.Outcome != "" {
			t.Fatalf("credit note %s: status %s id %d outcome %s (%s), want AP", note.Number, cn.Status, cn.CreditNoteID, cn.Outcome, cn.Reason)
		}
		if !strings.Contains(cn.Document.Key, "/credit-notes/"+note.Number+"/") || cn.Document.Size == 0 {
			t.Errorf("credit note PDF at %+v, want next to the invoice's", cn.Document)
		}
		id := workflows.CreditNoteWorkflowID(st.InvoiceID, note.Number)
		mustRefuse(t, id, invoice.ActionRequest{Action: invoice.ActionApplyCreditNote, Actor: accounting, IdempotencyKey: "apply-early"},
			invoice.RefusedWrongStatus)
		mustAccept(t, id, invoice.ActionRequest{Action: invoice.ActionApproveCreditNote, Actor: procurement, IdempotencyKey: "approve"}, invoice.StatusAA)
		mustAccept(t, id, invoice.ActionRequest{Action: invoice.ActionApplyCreditNote, Actor: accounting, IdempotencyKey: "apply"}, invoice.StatusCreditApplied)
		var r workflows.CreditNoteResult
		if err := deps.Temporal.GetWorkflow(ctx, id, "").Get(within(t, 20*time.Second), &r); err != nil || r.Outcome != workflows.OutcomeApplied {
			t.Fatalf("credit note %s result %+v, %v; want applied", note.Number, r, err)
		}
		applied += amount
	}
	// Issued again: the same workflow answers, applied; nothing new is created.
	if again := issue(t, st.WorkflowID, creditNote(o, "CN-1", 30000)); again.Outcome != workflows.OutcomeApplied {
		t.Errorf("CN-1 issued again: outcome %s, want applied", again.Outcome)
	}
	left := o.TotalMinor - applied
	over := issue(t, st.WorkflowID, creditNote(o, "CN-3", left+1))
	if over.Outcome != workflows.OutcomeRejected || !strings.HasPrefix(over.Reason, string(invoice.RefusedOverCredit)+": ") ||
		!strings.Contains(over.Reason, invoice.FormatMoney(left, o.Currency)+" is left") {
		t.Errorf("over-credit: outcome %s reason %q, want rejected over_credit naming %s left", over.Outcome, over.Reason, invoice.FormatMoney(left, o.Currency))
	}
	notes, err := deps.Store.CreditNotesOf(ctx, st.InvoiceID)
	if err != nil || len(notes) != 2 || notes[0].Status != invoice.StatusCreditApplied || notes[1].Status != invoice.StatusCreditApplied {
		t.Fatalf("credit notes stored: %+v (%v), want CN-1 and CN-2 applied", notes, err)
	}
	if n := count(t, `SELECT count(*) FROM invoice_events WHERE workflow_id = $1 AND kind = 'rejected' AND code = 'over_credit'`,
		workflows.CreditNoteWorkflowID(st.InvoiceID, "CN-3")); n != 1 {
		t.Errorf("%d audit rows of the over-credit refusal, want 1", n)
	}
	if n := count(t, `SELECT count(*) FROM invoice_events WHERE invoice_id = $1 AND credit_note_id IS NOT NULL AND kind = 'transition'`, st.InvoiceID); n != 4 {
		t.Errorf("%d credit note transitions audited, want 4", n)
	}
	// The exact rest is still allowed.
	if last := issue(t, st.WorkflowID, creditNote(o, "CN-4", left)); last.Status != invoice.StatusAP {
		t.Errorf("credit note for exactly what is left: %s %s (%s), want AP", last.Status, last.Outcome, last.Reason)
	}
	for outcome, want := range map[string]float64{"created": 3, "rejected": 2, "applied": 2} {
		if got := scrape(t, "k2k_credit_notes_total", `outcome="`+outcome+`"`) - metricsBefore[outcome]; got != want {
			t.Errorf("k2k_credit_notes_total{outcome=%q} rose by %v, want %v", outcome, got, want)
		}
	}
}

// TestCreditNoteThroughTheStarter: `credit-note issue`, `credit-note approve` and `credit-note
// apply` take a credit note through its life; `status` lists it with the invoice's net amount.
func TestCreditNoteThroughTheStarter(t *testing.T) {
	o := eligible(t)
	st := confirmAndSettle(t, o, nil)
	payAll(t, st.WorkflowID, o, "cli-")
	settled(t, st.WorkflowID)
	target := []string{"--vendor", o.VendorID, "--buyer", o.BuyerID, "--po", o.PONumber}
	noteFile := writeFile(t, "cn.json", []byte(`{"number": "CN-CLI-1", "issue_date": "2026-12-02", "currency": "`+o.Currency+
		`", "total_minor": 4500, "reason": "assembly hour not done", "lines": [{"description": "Assembly service", "quantity": 1, "unit_price_minor": 4500}]}`))
	code, stdout, stderr := runStarter(t, append([]string{"credit-note", "issue", noteFile}, target...)...)
	if code != 0 || !strings.Contains(stdout, "status     AP (pending approval by procurement)") || !strings.Contains(stdout, "note #") {
		t.Fatalf("credit-note issue: exit %d\n%s%s", code, stdout, stderr)
	}
	act := func(cmd, user, role string, wantExit int, want string) {
		t.Helper()
		args := append([]string{"credit-note", cmd, "--number", "CN-CLI-1", "--company", o.BuyerID, "--user", user, "--role", role}, target...)
		if code, stdout, stderr := runStarter(t, args...); code != wantExit || !strings.Contains(stdout, want) {
			t.Errorf("credit-note %s by %s: exit %d, want %d and %q:\n%s%s", cmd, user, code, wantExit, want, stdout, stderr)
		}
	}
	act("apply", "dave", "accounting", 3, "refused    not_allowed_in_state")
	act("approve", "carol", "procurement", 0, "accepted   status AA")
	act("apply", "dave", "accounting", 0, "accepted   status CA (applied)")
	_, status, _ := runStarter(t, append([]string{"status"}, target...)...)
	net := invoice.FormatMoney(o.TotalMinor-4500, o.Currency)
	if !strings.Contains(status, "credit     note CN-CLI-1 of "+invoice.FormatMoney(4500, o.Currency)+", CA (applied): assembly hour not done") ||
		!strings.Contains(status, "net        "+net) {
		t.Errorf("status does not list the credit note and the net %s:\n%s", net, status)
	}
}

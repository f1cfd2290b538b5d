package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/k2kinvoice/autoinvoice/workflows"
)

// TestSeparationOfDuties, through the starter as ops and backends use it: with the buyer's setting
// turned on by `company upsert --separate-duties`, the user who approved an invoice
// for procurement is refused (same_user, exit 3, audited) when approving its payment or marking
// it paid, while another user goes through. With --no-separate-duties the same user may do both.
func TestSeparationOfDuties(t *testing.T) {
	for _, tc := range []struct {
		name     string
		flags    []string
		separate bool
	}{{"turned on", []string{"--separate-duties"}, true}, {"turned off", []string{"--no-separate-duties"}, false}} {
		t.Run(tc.name, func(t *testing.T) {
			o := eligible(t)
			code, stdout, stderr := runStarter(t, append([]string{"company", "upsert", "--id", o.BuyerID, "--name", "Buyer",
				"--accept-k2k-invoices"}, tc.flags...)...)
			if want := "separate-duties=" + map[bool]string{true: "true", false: "false"}[tc.separate]; code != 0 || !strings.Contains(stdout, want) {
				t.Fatalf("company upsert: exit %d, want 0 and %q:\n%s%s", code, want, stdout, stderr)
			}
			orderFile := writeFile(t, "order.json", orderJSON(t, o, func(map[string]any) {}))
			if code, stdout, stderr := runStarter(t, "confirm", orderFile); code != 0 || !strings.Contains(stdout, "status     AP") {
				t.Fatalf("confirm: exit %d\n%s\n%s", code, stdout, stderr)
			}
			target := []string{"--vendor", o.VendorID, "--buyer", o.BuyerID, "--po", o.PONumber}
			act := func(action, user, role string, wantExit int, want string, extra ...string) {
				t.Helper()
				args := append([]string{action, "--company", o.BuyerID, "--user", user, "--role", role}, extra...)
				code, stdout, _ := runStarter(t, append(args, target...)...)
				if code != wantExit || !strings.Contains(stdout, want) {
					t.Errorf("%s by %s: exit %d, want %d and %q:\n%s", action, user, code, wantExit, want, stdout)
				}
			}
			paid := []string{"--payment-date", "2026-11-30", "--payment-reference", "SEPA-SOD"}
			act("approve", "alice", "procurement", 0, "accepted   status AA")
			_, status, _ := runStarter(t, append([]string{"status"}, target...)...)
			if shown := strings.Contains(status, "duties     approved by alice, who may not approve payment or mark paid"); shown != tc.separate {
				t.Errorf("status shows the separated duties %v, want %v:\n%s", shown, tc.separate, status)
			}
			if tc.separate {
				act("approve-payment", "alice", "accounting", 3, "refused    same_user")
				act("approve-payment", "bob", "accounting", 0, "accepted   status A")
				act("mark-paid", "alice", "accounting", 3, "refused    same_user", paid...)
				act("mark-paid", "bob", "accounting", 0, "accepted   status P", paid...)
			} else {
				act("approve-payment", "alice", "accounting", 0, "accepted   status A")
				act("mark-paid", "alice", "accounting", 0, "accepted   status P", paid...)
			}
			id := workflows.InvoiceWorkflowID(o.VendorID, o.BuyerID, o.PONumber)
			want := 0
			if tc.separate {
				want = 2
			}
			if got := count(t, `SELECT count(*) FROM invoice_events WHERE workflow_id = $1 AND kind = 'refused' AND code = 'same_user'`, id); got != want {
				t.Errorf("%d same_user refusals in the audit log, want %d", got, want)
			}
		})
	}
}

// TestCompanyUpsertChangesOnlyTheSettingsGiven: `starter company upsert` creates a company with the
// defaults (both opt-ins off, separation of duties on) and afterwards changes only the settings
// named, so turning one on never turns another off.
func TestCompanyUpsertChangesOnlyTheSettingsGiven(t *testing.T) {
	id := "UPSERT-" + strings.ReplaceAll(newIdem(), "idem-", "")
	for _, step := range []struct {
		flags []string
		want  string
	}{
		{nil, "auto-invoice-sync=false accept-k2k-invoices=false separate-duties=true"},
		{[]string{"--auto-invoice-sync"}, "auto-invoice-sync=true accept-k2k-invoices=false separate-duties=true"},
		{[]string{"--accept-k2k-invoices"}, "auto-invoice-sync=true accept-k2k-invoices=true separate-duties=true"},
		{[]string{"--no-separate-duties"}, "auto-invoice-sync=true accept-k2k-invoices=true separate-duties=false"},
		{[]string{"--no-auto-invoice-sync"}, "auto-invoice-sync=false accept-k2k-invoices=true separate-duties=false"},
		{nil, "auto-invoice-sync=false accept-k2k-invoices=true separate-duties=false"},
	} {
		code, stdout, stderr := runStarter(t, append([]string{"company", "upsert", "--id", id, "--name", "Upsert test"}, step.flags...)...)
		if code != 0 || !strings.Contains(stdout, step.want) {
			t.Fatalf("company upsert %v: exit %d, want %q:\n%s%s", step.flags, code, step.want, stdout, stderr)
		}
		c, err := deps.Store.CompanyGet(context.Background(), id)
		if err != nil || fmt.Sprintf("auto-invoice-sync=%t accept-k2k-invoices=%t separate-duties=%t", c.AutoInvoiceSync, c.AcceptK2KInvoices, c.SeparateDuties) != step.want {
			t.Fatalf("after company upsert %v the store holds %+v (%v), want %s", step.flags, c, err, step.want)
		}
	}
}

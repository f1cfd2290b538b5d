package workflows

import (
	"strings"
	"testing"
	"time"

	sdkpb "go.temporal.io/api/sdk/v1"

	"github.com/k2kinvoice/autoinvoice/internal/invoice"
)

// TestUIView: the Temporal UI's view of a running invoice (the workflow's metadata query): the
// current details lead with what the invoice waits for, and the status query, every signal and
// every update carry a description.
func TestUIView(t *testing.T) {
	h := newHarness(t)
	var meta sdkpb.WorkflowMetadata
	h.at(30*time.Second, func() {
		v, err := h.env.QueryWorkflow("__temporal_workflow_metadata")
		if err != nil {
			t.Fatal(err)
		}
		if err := v.Get(&meta); err != nil {
			t.Fatal(err)
		}
	})
	h.happyPath(time.Minute)
	h.run()
	h.assertPaid()

	if d := meta.GetCurrentDetails(); !strings.HasPrefix(d, "Waiting for buyer procurement to approve.\n") {
		t.Errorf("current details start %q, want the waiting line first", d)
	}
	described := map[string]string{}
	def := meta.GetDefinition()
	for _, q := range def.GetQueryDefinitions() {
		described["query "+q.GetName()] = q.GetDescription()
	}
	for _, s := range def.GetSignalDefinitions() {
		described["signal "+s.GetName()] = s.GetDescription()
	}
	for _, u := range def.GetUpdateDefinitions() {
		described["update "+u.GetName()] = u.GetDescription()
	}
	want := map[string]string{"query " + QueryStatus: QueryStatusDescription}
	for _, a := range invoice.Actions() {
		name, _ := SignalFor(a)
		want["signal "+name] = invoice.Summary(a) + SignalDescriptionSuffix
		want["update "+name] = invoice.Summary(a) + UpdateDescriptionSuffix
	}
	for handler, description := range want {
		if got := described[handler]; got != description || strings.HasPrefix(got, " ") {
			t.Errorf("%s described %q, want %q", handler, got, description)
		}
	}
}

// TestUIViewNamesWhoMayNotTakeTheNextStep: when the buyer separates duties, the current details
// say that the next step in AA and A is for another user than the procurement approver.
func TestUIViewNamesWhoMayNotTakeTheNextStep(t *testing.T) {
	h := newHarness(t)
	h.eligibility = invoice.Eligibility{Eligible: true, SeparateDuties: true}
	details := map[invoice.Status]string{}
	look := func(status invoice.Status) func() {
		return func() {
			v, err := h.env.QueryWorkflow("__temporal_workflow_metadata")
			var meta sdkpb.WorkflowMetadata
			if err == nil {
				err = v.Get(&meta)
			}
			if err != nil {
				t.Fatal(err)
			}
			details[status] = meta.GetCurrentDetails()
		}
	}
	h.send(time.Minute, approve("approve-1", buyerUser("alice", invoice.RoleProcurement)))
	h.at(90*time.Second, look(invoice.StatusAA))
	h.send(2*time.Minute, approvePayment("approve-payment-1", accounting))
	h.at(150*time.Second, look(invoice.StatusA))
	h.send(3*time.Minute, markPaid("mark-paid-1", accounting))
	h.run()
	h.assertPaid()
	for status, want := range map[invoice.Status]string{
		invoice.StatusAA: "Waiting for buyer accounting to approve payment (by another user than alice, who approved it: the buyer separates duties).\n",
		invoice.StatusA:  "Waiting for buyer accounting to mark it paid (by another user than alice, who approved it: the buyer separates duties).\n",
	} {
		if !strings.HasPrefix(details[status], want) {
			t.Errorf("details in %s start %q, want %q", status, details[status], want)
		}
	}
}

// TestUIViewShowsDisputeAndTolerance: in D the current details say the vendor must act and show
// the dispute's reason; beyond the tolerance they say so, and name the override once approved.
func TestUIViewShowsDisputeAndTolerance(t *testing.T) {
	h := newHarness(t)
	h.eligibility = invoice.Eligibility{Eligible: true, Tolerance: &invoice.Tolerance{AmountMinor: 100, Currency: "EUR"}}
	o := testOrder()
	o.POTotalMinor = o.TotalMinor - 1000
	details := map[string]string{}
	look := func(name string) func() {
		return func() {
			v, err := h.env.QueryWorkflow("__temporal_workflow_metadata")
			var meta sdkpb.WorkflowMetadata
			if err == nil {
				err = v.Get(&meta)
			}
			if err != nil {
				t.Fatal(err)
			}
			details[name] = meta.GetCurrentDetails()
		}
	}
	h.at(30*time.Second, look("beyond"))
	override := approve("approve-1", procurement)
	override.req.OverrideReason = "agreed surcharge"
	h.send(time.Minute, override)
	h.at(90*time.Second, look("overridden"))
	h.send(2*time.Minute, dispute("dispute-1", accounting, reasonDisputed))
	h.at(150*time.Second, look("disputed"))
	h.send(3*time.Minute, void("void-1", vendorUser, reasonVoided))
	h.runWith(ConfirmOrder{Order: o})
	h.result()
	for name, want := range map[string]string{
		"beyond":     "The discrepancy (10.00 EUR) is beyond the buyer's tolerance (1.00 EUR).",
		"overridden": "The discrepancy (10.00 EUR) is beyond the buyer's tolerance (1.00 EUR); approved by u-proc with the override: agreed surcharge.",
		"disputed":   "Disputed by u-acc (accounting): " + reasonDisputed,
	} {
		if !strings.Contains(details[name], want) {
			t.Errorf("details %s = %q, want them to say %q", name, details[name], want)
		}
	}
	if !strings.HasPrefix(details["disputed"], "Waiting for the vendor to update or void the disputed invoice.\n") {
		t.Errorf("details in D start %q, want the vendor's turn first", details["disputed"])
	}
}

package integration

import (
	"context"
	"strings"
	"testing"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/converter"

	"github.com/k2kinvoice/autoinvoice/internal/invoice"
)

// The Temporal UI shows what each step of an invoice did: every activity and timer carries a
// one-line summary, and the workflow its static summary and current details.
func TestActivitiesAndTimersCarrySummaries(t *testing.T) {
	o := eligible(t)
	st := confirmAndSettle(t, o, nil)
	approve := invoice.ActionRequest{Action: invoice.ActionApprove, Actor: buyer(o, "alice", invoice.RoleProcurement), IdempotencyKey: "ops-1"}
	if answer := act(t, st.WorkflowID, approve); !answer.Accepted {
		t.Fatalf("approve: %+v", answer)
	}
	ctx := context.Background()
	var summaries []string
	timers := 0
	it := deps.Temporal.GetWorkflowHistory(ctx, st.WorkflowID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		if e.GetEventType() != enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED && e.GetEventType() != enumspb.EVENT_TYPE_TIMER_STARTED {
			continue
		}
		var summary string
		if p := e.GetUserMetadata().GetSummary(); p != nil {
			if err := converter.GetDefaultDataConverter().FromPayload(p, &summary); err != nil {
				t.Fatal(err)
			}
		}
		if summary == "" {
			t.Errorf("event %d (%s) has no summary", e.GetEventId(), e.GetEventType())
		}
		if e.GetEventType() == enumspb.EVENT_TYPE_TIMER_STARTED {
			timers++
		}
		summaries = append(summaries, summary)
	}
	joined := strings.Join(summaries, " | ")
	for _, want := range []string{"check the K2K connection", "store the PDF of revision 1", "create AP invoice " + o.InvoiceNumber,
		"record transition approve by " + o.BuyerID + "/alice (AP → AA)", "reminder 1 of 3 if still in"} {
		if !strings.Contains(joined, want) {
			t.Errorf("no summary contains %q; summaries: %s", want, joined)
		}
	}
	if timers == 0 {
		t.Errorf("no reminder timer was started; summaries: %s", joined)
	}
	d, err := deps.Temporal.DescribeWorkflowExecution(ctx, st.WorkflowID, "")
	if err != nil {
		t.Fatal(err)
	}
	var details string
	if p := d.GetExecutionConfig().GetUserMetadata().GetDetails(); p != nil {
		_ = converter.GetDefaultDataConverter().FromPayload(p, &details)
	}
	if !strings.Contains(details, o.InvoiceNumber) {
		t.Errorf("static details %q do not name the invoice", details)
	}
}

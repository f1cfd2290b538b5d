package integration

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/k2kinvoice/autoinvoice/internal/invoice"
	"github.com/k2kinvoice/autoinvoice/internal/metrics"
	"github.com/k2kinvoice/autoinvoice/internal/payloadcrypt"
	"github.com/k2kinvoice/autoinvoice/internal/testenv"
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
		localActivity := e.GetMarkerRecordedEventAttributes().GetMarkerName() == "LocalActivity"
		if e.GetEventType() != enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED && e.GetEventType() != enumspb.EVENT_TYPE_TIMER_STARTED && !localActivity {
			continue
		}
		var summary string
		if p := e.GetUserMetadata().GetSummary(); p != nil {
			if err := testConverter(t).FromPayload(p, &summary); err != nil {
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
	// Ops find invoices by how long they have waited in a status.
	since := func(cutoff time.Time) string {
		return fmt.Sprintf("K2KPONumber = '%s' AND K2KStatus = 'AA' AND K2KStatusSince < '%s'", o.PONumber, cutoff.UTC().Format(time.RFC3339))
	}
	if n := listWorkflows(t, since(time.Now().Add(time.Minute)), 1); n != 1 {
		t.Errorf("%s found %d workflows, want 1", since(time.Now().Add(time.Minute)), n)
	}
	if n := listWorkflows(t, since(time.Now().Add(-72*time.Hour)), 0); n != 0 {
		t.Errorf("an invoice that entered AA just now was found as waiting more than 3 days")
	}
	d, err := testenv.Describe(ctx, deps.Temporal, st.WorkflowID)
	if err != nil {
		t.Fatal(err)
	}
	var details string
	if p := d.GetExecutionConfig().GetUserMetadata().GetDetails(); p != nil {
		_ = testConverter(t).FromPayload(p, &details)
	}
	if !strings.Contains(details, o.InvoiceNumber) {
		t.Errorf("static details %q do not name the invoice", details)
	}
}

// testConverter reads payloads the way the worker writes them (encrypted with the tests' keys).
func testConverter(t *testing.T) converter.DataConverter {
	t.Helper()
	codec, err := payloadcrypt.ParseKeys(payloadcrypt.TestKeys)
	if err != nil {
		t.Fatal(err)
	}
	return codec.DataConverter()
}

// A raw history read through the Temporal API holds no invoice number, amount, company, PO number
// or line text in its payloads: inputs, results, activity arguments, signals, updates, summaries
// and details are all sealed. Search attributes and the workflow ID stay readable by design:
// visibility queries need them (README, docs/operations.md).
func TestRawHistoryPayloadsHoldNoPlaintext(t *testing.T) {
	o := eligible(t)
	o.Lines[0].Description = "Confidential brackets"
	st := confirmAndSettle(t, o, nil)
	act(t, st.WorkflowID, invoice.ActionRequest{Action: invoice.ActionApprove, Actor: buyer(o, "alice", invoice.RoleProcurement),
		IdempotencyKey: "secret-approve", Reason: "Confidential reason"})
	it := deps.Temporal.GetWorkflowHistory(context.Background(), st.WorkflowID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	var payloads []*commonpb.Payload
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		payloads = append(payloads, collectPayloads(e.ProtoReflect())...)
	}
	if len(payloads) < 10 {
		t.Fatalf("found only %d payloads in the history", len(payloads))
	}
	secrets := []string{o.InvoiceNumber, o.VendorID, o.BuyerID, o.PONumber, "131850", "Confidential brackets", "Confidential reason", "alice"}
	for i, p := range payloads {
		if enc := string(p.GetMetadata()["encoding"]); enc != payloadcrypt.Encoding {
			t.Errorf("payload %d has encoding %q, want %s", i, enc, payloadcrypt.Encoding)
		}
		for _, secret := range secrets {
			if strings.Contains(string(p.GetData()), secret) {
				t.Errorf("payload %d holds %q in plain text", i, secret)
			}
		}
	}
	t.Logf("%d payloads in the history, all sealed", len(payloads))
}

// collectPayloads walks a history event and returns every payload in it, except search
// attributes (visibility needs them readable).
func collectPayloads(m protoreflect.Message) []*commonpb.Payload {
	if p, ok := m.Interface().(*commonpb.Payload); ok {
		return []*commonpb.Payload{p}
	}
	if _, ok := m.Interface().(*commonpb.SearchAttributes); ok {
		return nil
	}
	var out []*commonpb.Payload
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsList() && fd.Message() != nil:
			for i := 0; i < v.List().Len(); i++ {
				out = append(out, collectPayloads(v.List().Get(i).Message())...)
			}
		case fd.IsMap() && fd.MapValue().Message() != nil:
			v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool {
				out = append(out, collectPayloads(mv.Message())...)
				return true
			})
		case fd.Message() != nil && !fd.IsList() && !fd.IsMap():
			out = append(out, collectPayloads(v.Message())...)
		}
		return true
	})
	return out
}

// The worker's /metrics carries the SDK's metrics and the business metrics of real invoices.
func TestMetricsExportSDKAndBusinessMetrics(t *testing.T) {
	o := eligible(t)
	st := confirmAndSettle(t, o, nil)
	act(t, st.WorkflowID, invoice.ActionRequest{Action: invoice.ActionApprove, Actor: buyer(o, "alice", invoice.RoleProcurement), IdempotencyKey: "m-1"})
	act(t, st.WorkflowID, invoice.ActionRequest{Action: invoice.ActionApprove, Actor: buyer(o, "alice", invoice.RoleProcurement), IdempotencyKey: "m-2"})
	rec := httptest.NewRecorder()
	deps.Metrics.HTTPHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	body := rec.Body.String()
	for _, want := range []string{
		"# TYPE k2k_orders_total counter", `outcome="invoice_created"`,
		"# TYPE k2k_transitions_total counter", `action="approve"`,
		"# TYPE k2k_refusals_total counter", `code="not_allowed_in_state"`,
		"# TYPE k2k_pdf_bytes_stored_total counter", `source="rendered"`,
		"# TYPE k2k_status_seconds histogram", `status="AP"`,
		// The steps run as local activities; an activity runs only when a step is handed over.
		"temporal_workflow_task_execution_latency", "temporal_local_activity_execution_latency",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	for _, line := range strings.Split(body, "\n") {
		if strings.Contains(line, "otel_scope") || strings.HasPrefix(line, "k2k_") && strings.Contains(line, "activity_type") {
			t.Errorf("a series carries a label that means nothing here: %s", line)
		}
	}
	if t.Failed() || testing.Verbose() {
		t.Logf("/metrics (names):\n%s", metricNames(body))
	}
}

// TestStatusTimeBucketsReachWeeks: a stay of three days in AA lands in the buckets of days, so
// "p90 time in AA" can be computed (the buckets of the SDK's default ended at 10,000 s).
func TestStatusTimeBucketsReachWeeks(t *testing.T) {
	labels := []string{`status="AA-observed"`}
	before2d, before3d := scrape(t, "k2k_status_seconds_bucket", append(labels, `le="172800"`)...),
		scrape(t, "k2k_status_seconds_bucket", append(labels, `le="259200"`)...)
	deps.Metrics.Handler().WithTags(map[string]string{"status": "AA-observed"}).Timer(metrics.StatusTime).Record(3 * 24 * time.Hour)
	if got := scrape(t, "k2k_status_seconds_bucket", append(labels, `le="172800"`)...) - before2d; got != 0 {
		t.Errorf("a 3-day stay counted in the 2-day bucket: +%v", got)
	}
	if got := scrape(t, "k2k_status_seconds_bucket", append(labels, `le="259200"`)...) - before3d; got != 1 {
		t.Errorf("a 3-day stay: the 3-day bucket rose by %v, want 1", got)
	}
	if got := scrape(t, "k2k_status_seconds_sum", labels...); got < 3*24*3600 {
		t.Errorf("k2k_status_seconds_sum = %v, want the 259200 s recorded", got)
	}
}

// metricNames lists the metric families of a Prometheus text page.
func metricNames(text string) string {
	var out []string
	for _, line := range strings.Split(text, "\n") {
		if name, ok := strings.CutPrefix(line, "# TYPE "); ok {
			out = append(out, name)
		}
	}
	return strings.Join(out, "\n")
}

// scrape sums the values of a metric's series on the worker's /metrics whose labels hold every
// one of labels (`name="value"`).
func scrape(t *testing.T, metric string, labels ...string) float64 {
	t.Helper()
	rec := httptest.NewRecorder()
	deps.Metrics.HTTPHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	return sumSeries(t, rec.Body.String(), metric, labels...)
}

// sumSeries sums the values of a metric's series in a Prometheus text page whose labels hold every
// one of labels.
func sumSeries(t *testing.T, page, metric string, labels ...string) float64 {
	t.Helper()
	sum := 0.0
	for _, line := range strings.Split(page, "\n") {
		if !strings.HasPrefix(line, metric+"{") {
			continue
		}
		matched := true
		for _, l := range labels {
			matched = matched && strings.Contains(line, l)
		}
		if !matched {
			continue
		}
		fields := strings.Fields(line)
		v, err := strconv.ParseFloat(fields[len(fields)-1], 64)
		if err != nil {
			t.Fatalf("metric line %q: %v", line, err)
		}
		sum += v
	}
	t.Logf("scraped %s%v = %v", metric, labels, sum)
	return sum
}

// TestRefusalsCountedOnEveryPath: a refusal counts once in k2k_refusals whether an update's
// validator refused it or the workflow refused a signal; a malformed message's made-up action is
// counted under "other", so no sender can grow the label set.
func TestRefusalsCountedOnEveryPath(t *testing.T) {
	o := eligible(t)
	st := confirmAndSettle(t, o, nil)
	bob := buyer(o, "bob", invoice.RoleAccounting)
	labels := []string{`action="approve_payment"`, `code="not_allowed_in_state"`}
	before := scrape(t, "k2k_refusals_total", labels...)
	// An update the validator refuses (approve_payment in AP).
	if _, err := client.Do(within(t, 10*time.Second), st.WorkflowID, invoice.ActionRequest{Action: invoice.ActionApprovePayment,
		Actor: bob, IdempotencyKey: "metric-update"}); err == nil {
		t.Fatal("approve_payment in AP was accepted")
	}
	if got := scrape(t, "k2k_refusals_total", labels...) - before; got != 1 {
		t.Errorf("after a refused update: k2k_refusals_total rose by %v, want 1", got)
	}
	// The same refusal as a signal, refused by the workflow in its turn.
	act(t, st.WorkflowID, invoice.ActionRequest{Action: invoice.ActionApprovePayment, Actor: bob, IdempotencyKey: "metric-signal"})
	if got := scrape(t, "k2k_refusals_total", labels...) - before; got != 2 {
		t.Errorf("after a refused signal too: k2k_refusals_total rose by %v, want 2", got)
	}
	other := scrape(t, "k2k_refusals_total", `action="other"`)
	code, stdout, stderr := runTemporal(t, "workflow", "signal", "--workflow-id", st.WorkflowID, "--name", "made-up-"+newIdem(),
		"--input", `{"idempotency_key":"metric-unknown"}`)
	if code != 0 {
		t.Fatalf("temporal workflow signal: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if _, _, err := client.AwaitAnswer(within(t, 15*time.Second), st.WorkflowID, "metric-unknown"); err != nil {
		t.Fatal(err)
	}
	if got := scrape(t, "k2k_refusals_total", `action="other"`) - other; got != 1 {
		t.Errorf("after a signal under a made-up name: k2k_refusals_total{action=\"other\"} rose by %v, want 1", got)
	}
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"

	"github.com/k2kinvoice/autoinvoice/internal/payloadcrypt"
)

// TestMain lets the test binary be the floor worker the bench starts (it starts itself again).
func TestMain(m *testing.M) {
	if runAsFloorWorker(nil) {
		return
	}
	os.Exit(m.Run())
}

// newShape is the history of a paid invoice on the current workflow, confirmed by
// update-with-start and moved by three updates: 4 workflow tasks, every step a marker, a
// reminder timer per stay cancelled when the stay ends.
var newShape = strings.Fields(`
	WorkflowExecutionStarted WorkflowTaskScheduled WorkflowTaskStarted WorkflowTaskCompleted
	MarkerRecorded UpsertWorkflowSearchAttributes
	WorkflowExecutionUpdateAccepted MarkerRecorded MarkerRecorded MarkerRecorded
	UpsertWorkflowSearchAttributes TimerStarted WorkflowExecutionUpdateCompleted

	WorkflowTaskScheduled WorkflowTaskStarted WorkflowTaskCompleted
	WorkflowExecutionUpdateAccepted MarkerRecorded UpsertWorkflowSearchAttributes
	TimerCanceled TimerStarted WorkflowExecutionUpdateCompleted

	WorkflowTaskScheduled WorkflowTaskStarted WorkflowTaskCompleted
	WorkflowExecutionUpdateAccepted MarkerRecorded UpsertWorkflowSearchAttributes
	TimerCanceled TimerStarted WorkflowExecutionUpdateCompleted

	WorkflowTaskScheduled WorkflowTaskStarted WorkflowTaskCompleted
	WorkflowExecutionUpdateAccepted MarkerRecorded UpsertWorkflowSearchAttributes
	WorkflowExecutionUpdateCompleted WorkflowExecutionCompleted`)

// oldShape is the history of a paid invoice on the workflow before the change "local-steps",
// read from its recording: its start up to the first reminder timer, then the approve update
// twice (approve, approve payment), then the mark-paid update to the end.
func oldShape(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "workflows", "testdata", "histories", "before-local-steps_paid.json"))
	if err != nil {
		t.Fatal(err)
	}
	var h struct {
		Events []struct {
			EventType string `json:"eventType"`
		} `json:"events"`
	}
	if err := json.Unmarshal(data, &h); err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, e := range h.Events {
		et, err := enumspb.EventTypeFromString(e.EventType)
		if err != nil {
			t.Fatal(err)
		}
		types = append(types, et.String())
	}
	firstTimer := slices.Index(types, "TimerStarted")
	firstAccepted := slices.Index(types, "WorkflowExecutionUpdateAccepted")
	lastAccepted := firstAccepted
	for i, et := range types {
		if et == "WorkflowExecutionUpdateAccepted" {
			lastAccepted = i
		}
	}
	completed := firstAccepted + slices.Index(types[firstAccepted:], "WorkflowExecutionUpdateCompleted")
	// An update's segment starts with the workflow task that accepted it.
	if firstTimer < 0 || firstAccepted < 3 || lastAccepted == firstAccepted || types[firstAccepted-3] != "WorkflowTaskScheduled" ||
		types[lastAccepted-3] != "WorkflowTaskScheduled" {
		t.Fatalf("the recorded history does not have the expected parts: %v", types)
	}
	update := types[firstAccepted-3 : completed+1]
	return slices.Concat(types[:firstTimer+1], update, update, types[lastAccepted-3:])
}

// TestSmoke runs every phase at tiny sizes on the dev profile and checks what the result says.
func TestSmoke(t *testing.T) {
	dir := t.TempDir()
	cfg := settings{Profiles: []string{profileDev}, Phases: []string{phaseThroughput, phaseList, phaseMemory}, Variants: variants,
		Concurrency: []int{1, 3}, Invoices: 6, InvoicesAtOne: 6, Reps: 1, Sample: 6, WorkersDev: 1, WorkersServer: 2,
		ListSizes: []int{1000}, ListRequests: 20, Open: 30, OpenCache: 15, OpenConcurrency: 10, Settle: 200 * time.Millisecond,
		Out: filepath.Join(dir, "bench.json"), ChartsDir: dir, Quiet: !testing.Verbose()}
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	var stdout bytes.Buffer
	res, err := run(ctx, cfg, &stdout, os.Stderr)
	t.Log("\n" + stdout.String())
	if err != nil {
		t.Fatal(err)
	}

	want := map[string][]string{variantInvoice: newShape, variantFloorNew: newShape, variantFloorOld: oldShape(t)}
	if len(res.Runs) != len(cfg.Concurrency)*len(variants) {
		t.Fatalf("%d runs, want %d", len(res.Runs), len(cfg.Concurrency)*len(variants))
	}
	for _, r := range res.Runs {
		shape := want[r.Variant]
		h := r.Histories
		if r.Invoices != 6 || r.Throughput <= 0 || r.WallSeconds <= 0 || len(r.ConfirmMS) != 6 || len(r.UpdateMS) != 18 {
			t.Errorf("%s c=%d: %d invoices, %.2f/s in %.2fs, %d confirmations and %d updates timed", r.Variant, r.Concurrency,
				r.Invoices, r.Throughput, r.WallSeconds, len(r.ConfirmMS), len(r.UpdateMS))
		}
		if h.Sampled != 6 || r.EventsPerInvoice != float64(len(shape)) || slices.ContainsFunc(h.EventsEach, func(n int) bool { return n != len(shape) }) {
			t.Errorf("%s c=%d: events per paid invoice %v (mean %.1f), want %d each", r.Variant, r.Concurrency, h.EventsEach, r.EventsPerInvoice, len(shape))
		}
		if !slices.Equal(h.Shape, shape) {
			t.Errorf("%s c=%d: history\n%v\nwant\n%v", r.Variant, r.Concurrency, h.Shape, shape)
		}
		if tasks := countOf(shape, "WorkflowTaskCompleted"); r.WorkflowTasksPerInvoice != float64(tasks) {
			t.Errorf("%s c=%d: %.1f workflow tasks per invoice, want %d", r.Variant, r.Concurrency, r.WorkflowTasksPerInvoice, tasks)
		}
		if h.Payloads == 0 || h.PDFPayloads != 0 || r.HistoryBytesPerInvoice <= 0 {
			t.Errorf("%s c=%d: %d payloads searched, %d with PDF bytes, %.0f bytes per history", r.Variant, r.Concurrency,
				h.Payloads, h.PDFPayloads, r.HistoryBytesPerInvoice)
		}
		if r.CPUSecondsPer1000 <= 0 || len(r.PeakRSSMB) != 1 || r.PeakRSSMB[0] <= 0 {
			t.Errorf("%s c=%d: %.1f CPU s per 1,000, peak RSS %v MB", r.Variant, r.Concurrency, r.CPUSecondsPer1000, r.PeakRSSMB)
		}
	}
	if len(res.Ratios) != len(cfg.Concurrency) || res.Ratios[0].FloorNewToFloorOld <= 0 {
		t.Errorf("ratios %+v", res.Ratios)
	}

	if res.List == nil || len(res.List.Sizes) != 1 || len(res.List.Plans) != len(listShapes("")) {
		t.Fatalf("list result %+v", res.List)
	}
	for _, s := range res.List.Sizes[0].Shapes {
		if s.P50 <= 0 || s.P95 < s.P50 || s.PageRows == 0 {
			t.Errorf("list %s: p50 %.2f ms, p95 %.2f ms, %d rows on the page", s.Name, s.P50, s.P95, s.PageRows)
		}
	}
	for _, p := range res.List.Plans {
		if !strings.HasPrefix(p.Plan, "Limit") || !strings.Contains(p.Plan, "Scan") {
			t.Errorf("plan of %s: %q", p.Shape, p.Plan)
		}
	}

	m := res.Memory
	if m == nil || m.Open != 30 || len(m.Capped) != 11 || m.Capped[10].Open != 60 {
		t.Fatalf("memory result %+v", m)
	}
	if m.Idle.Goroutines <= 0 || m.Loaded.Goroutines <= m.Idle.Goroutines || m.GoroutinesPerInvoice <= 0 || m.Loaded.RSSMB <= 0 {
		t.Errorf("memory: %+v idle, %+v with %d open, %.1f goroutines per invoice", m.Idle, m.Loaded, m.Open, m.GoroutinesPerInvoice)
	}
	// An open invoice holds two goroutines (the workflow and the one taking signals in arrival
	// order, see workflows.ArrivalOrder), the floor's no-op workflow one; rounded, so that a
	// goroutine of the worker's own coming or going does not count.
	if got := math.Round(m.GoroutinesPerInvoice); got != 2 {
		t.Errorf("%.2f goroutines per open invoice, want 2", m.GoroutinesPerInvoice)
	}
	if f := m.Floor; f == nil || math.Round(f.GoroutinesPerWorkflow) != 1 || f.Loaded.RSSMB <= 0 {
		t.Errorf("floor memory %+v, want 1 goroutine per open workflow", f)
	}
	if cached := m.Capped[10].StickyCache; cached > float64(cfg.OpenCache) {
		t.Errorf("the capped worker holds %.0f workflows in its sticky cache, more than its %d", cached, cfg.OpenCache)
	}

	var written Result
	if data, err := os.ReadFile(cfg.Out); err != nil {
		t.Fatal(err)
	} else if err := json.Unmarshal(data, &written); err != nil || len(written.Runs) != len(res.Runs) {
		t.Errorf("the JSON result does not read back (%v)", err)
	}
	if len(res.Charts) != 4 {
		t.Errorf("charts %v, want throughput, latency, list and memory", res.Charts)
	}
	for _, c := range res.Charts {
		if data, err := os.ReadFile(c); err != nil || !bytes.HasPrefix(data, []byte("\x89PNG")) {
			t.Errorf("chart %s is not a PNG (%v)", c, err)
		}
	}
	for _, heading := range []string{"Throughput ratios", "GET /v1/invoices", "Worker memory per open invoice"} {
		if !strings.Contains(stdout.String(), heading) {
			t.Errorf("the printed result has no %q", heading)
		}
	}
}

// TestPDFPayloadsFound: the check finds a PDF in a sealed payload, and nothing in a clean one.
func TestPDFPayloadsFound(t *testing.T) {
	codec, err := payloadcrypt.ParseKeys(payloadcrypt.TestKeys)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := codec.Encode([]*commonpb.Payload{{Metadata: map[string][]byte{"encoding": []byte("binary/plain")}, Data: []byte("%PDF-1.7 …")},
		{Metadata: map[string][]byte{"encoding": []byte("json/plain")}, Data: []byte(`{"key":"invoices/a.pdf"}`)}})
	if err != nil {
		t.Fatal(err)
	}
	h := &historypb.History{Events: []*historypb.HistoryEvent{{EventType: enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED,
		Attributes: &historypb.HistoryEvent_ActivityTaskCompletedEventAttributes{ActivityTaskCompletedEventAttributes: &historypb.ActivityTaskCompletedEventAttributes{
			Result: &commonpb.Payloads{Payloads: sealed}}}}}}
	payloads, pdfs, err := pdfPayloads(context.Background(), h, codec)
	if err != nil || payloads != 2 || pdfs != 1 {
		t.Errorf("%d payloads, %d with a PDF (%v); want 2 and 1", payloads, pdfs, err)
	}
	sealed[0] = sealed[1]
	if _, pdfs, err := pdfPayloads(context.Background(), h, codec); err != nil || pdfs != 0 {
		t.Errorf("%d payloads with a PDF in a clean history (%v)", pdfs, err)
	}
}

func countOf(s []string, v string) int {
	n := 0
	for _, x := range s {
		if x == v {
			n++
		}
	}
	return n
}

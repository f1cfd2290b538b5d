package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/alecthomas/kong"

	"github.com/k2kinvoice/autoinvoice/internal/app"
	"github.com/k2kinvoice/autoinvoice/internal/metrics"
)

// parseRun parses the worker's command line as main does, with the environment of the test.
func parseRun(t *testing.T, args ...string) *runCmd {
	t.Helper()
	var c cli
	parser, err := kong.New(&c, kong.Name("worker"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := parser.Parse(args); err != nil {
		t.Fatalf("parse %v: %v", args, err)
	}
	return &c.Run
}

// TestTuningFromTheEnvironment: every documented K2K_WORKER_* variable reaches the SDK's worker
// options; unset, they are the SDK's own defaults.
func TestTuningFromTheEnvironment(t *testing.T) {
	defaults, err := parseRun(t).options(0)
	if err != nil {
		t.Fatal(err)
	}
	if defaults.MaxConcurrentWorkflowTaskPollers != 2 || defaults.MaxConcurrentActivityTaskPollers != 2 ||
		defaults.MaxConcurrentWorkflowTaskExecutionSize != 1000 || defaults.MaxConcurrentActivityExecutionSize != 1000 ||
		defaults.WorkerActivitiesPerSecond != 100000 {
		t.Errorf("defaults = %+v, want the SDK's (2 pollers each, 1000 slots each, 100000 activities/s)", defaults)
	}
	for name, value := range map[string]string{
		"K2K_WORKER_WORKFLOW_POLLERS": "4", "K2K_WORKER_ACTIVITY_POLLERS": "6", "K2K_WORKER_WORKFLOW_SLOTS": "50",
		"K2K_WORKER_ACTIVITY_SLOTS": "60", "K2K_WORKER_STICKY_CACHE": "2500", "K2K_WORKER_ACTIVITIES_PER_SECOND": "12.5",
	} {
		t.Setenv(name, value)
	}
	r := parseRun(t)
	opts, err := r.options(0)
	if err != nil {
		t.Fatal(err)
	}
	if opts.MaxConcurrentWorkflowTaskPollers != 4 || opts.MaxConcurrentActivityTaskPollers != 6 ||
		opts.MaxConcurrentWorkflowTaskExecutionSize != 50 || opts.MaxConcurrentActivityExecutionSize != 60 ||
		opts.WorkerActivitiesPerSecond != 12.5 || r.StickyCache != 2500 {
		t.Errorf("options = %+v, sticky cache %d; want the values set in the environment", opts, r.StickyCache)
	}
}

// TestTuningRefusesNonsense: a value that would stop the worker from working is refused at start,
// naming the variable.
func TestTuningRefusesNonsense(t *testing.T) {
	for name, value := range map[string]string{
		"K2K_WORKER_WORKFLOW_POLLERS": "0", "K2K_WORKER_ACTIVITY_SLOTS": "-1", "K2K_WORKER_STICKY_CACHE": "0",
		"K2K_WORKER_ACTIVITIES_PER_SECOND": "0",
	} {
		t.Run(name, func(t *testing.T) {
			t.Setenv(name, value)
			_, err := parseRun(t).options(0)
			if err == nil || !strings.Contains(err.Error(), name) {
				t.Errorf("%s=%s: err = %v, want a refusal naming it", name, value, err)
			}
		})
	}
	t.Setenv("K2K_WORKER_WORKFLOW_SLOTS", "1")
	if _, err := parseRun(t).options(0); err == nil || !strings.Contains(err.Error(), "outnumber") {
		t.Errorf("2 pollers for 1 slot: err = %v, want a refusal", err)
	}
}

// TestProfilesOnlyWhenAsked: K2K_WORKER_PPROF=true adds Go's profiles to the worker's ops
// address; unset, /debug/pprof/ is not served.
func TestProfilesOnlyWhenAsked(t *testing.T) {
	m, err := metrics.New()
	if err != nil {
		t.Fatal(err)
	}
	deps := &app.Deps{Metrics: m}
	get := func(h http.Handler, path string) (int, string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		return rec.Code, rec.Body.String()
	}
	if r := parseRun(t); r.Pprof {
		t.Fatal("K2K_WORKER_PPROF unset parsed as on")
	}
	if code, _ := get(opsHandler(deps, parseRun(t).Pprof), "/debug/pprof/goroutine?debug=1"); code != http.StatusNotFound {
		t.Errorf("profiles off: /debug/pprof/goroutine answered %d, want 404", code)
	}
	t.Setenv("K2K_WORKER_PPROF", "true")
	on := opsHandler(deps, parseRun(t).Pprof)
	if code, body := get(on, "/debug/pprof/goroutine?debug=1"); code != http.StatusOK || !strings.Contains(body, "goroutine profile: total") {
		t.Errorf("profiles on: /debug/pprof/goroutine answered %d %.80q, want 200 and a goroutine profile", code, body)
	}
	if code, body := get(on, "/debug/pprof/heap?debug=1"); code != http.StatusOK || !strings.Contains(body, "heap profile") {
		t.Errorf("profiles on: /debug/pprof/heap answered %d %.80q, want 200 and a heap profile", code, body)
	}
	if code, _ := get(on, "/healthz"); code != http.StatusOK {
		t.Errorf("profiles on: /healthz answered %d", code)
	}
}

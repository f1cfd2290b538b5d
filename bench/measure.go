package main

// Measurements: processes' CPU and memory from /proc, latency percentiles, histories and their
// payloads, the machine.

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/proxy"
	"google.golang.org/protobuf/proto"

	"github.com/k2kinvoice/autoinvoice/internal/payloadcrypt"
)

// clockTicks is the unit of utime and stime in /proc/<pid>/stat (USER_HZ, 100 on Linux).
const clockTicks = 100

// cpuSeconds is the user and system CPU time the processes have used so far, summed.
func cpuSeconds(procs []workerProc) (float64, error) {
	var total float64
	for _, p := range procs {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.PID()))
		if err != nil {
			return 0, fmt.Errorf("%s: %w", p.Name, err)
		}
		// The fields after the command name, which is in parentheses and may hold spaces.
		fields := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+1:]))
		if len(fields) < 13 {
			return 0, fmt.Errorf("%s: /proc/%d/stat has %d fields", p.Name, p.PID(), len(fields))
		}
		for _, f := range fields[11:13] { // utime and stime, fields 14 and 15 of stat(5)
			ticks, err := strconv.ParseFloat(f, 64)
			if err != nil {
				return 0, err
			}
			total += ticks / clockTicks
		}
	}
	return total, nil
}

// memoryKB reads one kB line of /proc/<pid>/status: VmRSS (resident now) or VmHWM (its peak).
func memoryKB(pid int, field string) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

// scrape reads a metric from a Prometheus /metrics page: the sum of its series (one, for a gauge
// such as go_goroutines).
func scrape(ctx context.Context, url, metric string) (float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	var sum float64
	found := false
	for line := range strings.Lines(string(body)) {
		name, _, _ := strings.Cut(line, " ")
		name, _, _ = strings.Cut(name, "{")
		if name != metric || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			return 0, fmt.Errorf("%s: %q: %w", url, line, err)
		}
		sum, found = sum+v, true
	}
	if !found {
		return 0, fmt.Errorf("%s does not serve %s", url, metric)
	}
	return sum, nil
}

// Percentiles of a latency distribution, in milliseconds.
type Percentiles struct {
	P50 float64 `json:"p50_ms"`
	P95 float64 `json:"p95_ms"`
	P99 float64 `json:"p99_ms"`
}

// percentiles by nearest rank.
func percentiles(samples []float64) Percentiles {
	s := slices.Clone(samples)
	slices.Sort(s)
	return Percentiles{P50: rank(s, 0.50), P95: rank(s, 0.95), P99: rank(s, 0.99)}
}

// rank is the q-quantile of sorted by nearest rank; 0 when it is empty.
func rank(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// Histories is what the sampled histories of a run hold.
type Histories struct {
	Sampled       int   `json:"sampled"`
	Events        int   `json:"events"`
	WorkflowTasks int   `json:"workflow_tasks"`
	Bytes         int   `json:"bytes"`
	Payloads      int   `json:"payloads"`     // payloads decoded and searched
	PDFPayloads   int   `json:"pdf_payloads"` // of which held "%PDF" (must be 0)
	EventsEach    []int `json:"events_each"`
	// Shape is the event types of the first sampled history, in order.
	Shape []string `json:"shape"`
	// TaskProblems are the workflow tasks that failed or timed out in the sampled histories (each
	// retried, and adding events): cause and message.
	TaskProblems []string `json:"task_problems,omitempty"`
}

// mean is the events, workflow tasks and bytes per history.
func (h Histories) mean() (events, tasks, bytes float64) {
	if h.Sampled == 0 {
		return 0, 0, 0
	}
	n := float64(h.Sampled)
	return float64(h.Events) / n, float64(h.WorkflowTasks) / n, float64(h.Bytes) / n
}

// histories waits for each workflow to close, fetches its history and counts it.
func (l *lab) histories(ctx context.Context, ids []string) (Histories, error) {
	var out Histories
	for _, id := range ids {
		ctx, cancel := context.WithTimeout(ctx, opTimeout)
		h, err := l.history(ctx, id)
		cancel()
		if err != nil {
			return out, err
		}
		out.Sampled++
		out.Events += len(h.Events)
		out.EventsEach = append(out.EventsEach, len(h.Events))
		out.Bytes += proto.Size(h)
		for _, e := range h.Events {
			switch e.GetEventType() {
			case enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
				out.WorkflowTasks++
			case enumspb.EVENT_TYPE_WORKFLOW_TASK_FAILED:
				a := e.GetWorkflowTaskFailedEventAttributes()
				msg, _, _ := strings.Cut(a.GetFailure().GetMessage(), "\n")
				out.TaskProblems = append(out.TaskProblems, fmt.Sprintf("%s event %d: failed, %s: %.200s", id, e.GetEventId(), a.GetCause(), msg))
			case enumspb.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT:
				a := e.GetWorkflowTaskTimedOutEventAttributes()
				out.TaskProblems = append(out.TaskProblems, fmt.Sprintf("%s event %d: timed out, %s", id, e.GetEventId(), a.GetTimeoutType()))
			}
		}
		if out.Shape == nil {
			out.Shape = shape(h)
		}
		payloads, pdfs, err := pdfPayloads(ctx, h, l.codec)
		if err != nil {
			return out, fmt.Errorf("payloads of %s: %w", id, err)
		}
		out.Payloads += payloads
		out.PDFPayloads += pdfs
	}
	return out, nil
}

// history waits for the workflow to close and reads its history.
func (l *lab) history(ctx context.Context, id string) (*historypb.History, error) {
	if err := l.deps.Temporal.GetWorkflow(ctx, id, "").Get(ctx, nil); err != nil {
		return nil, fmt.Errorf("workflow %s: %w", id, err)
	}
	h := &historypb.History{}
	it := l.deps.Temporal.GetWorkflowHistory(ctx, id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			return nil, fmt.Errorf("history of %s: %w", id, err)
		}
		h.Events = append(h.Events, e)
	}
	return h, nil
}

// shape is a history's event types in order, without the EVENT_TYPE_ prefix.
func shape(h *historypb.History) []string {
	out := make([]string, len(h.Events))
	for i, e := range h.Events {
		out[i] = strings.TrimPrefix(e.GetEventType().String(), "EVENT_TYPE_")
	}
	return out
}

// pdfMagic starts every PDF file.
var pdfMagic = []byte("%PDF")

// pdfPayloads decodes every payload of h with codec and counts those holding PDF bytes; the
// history's encoded bytes are searched as they are too.
func pdfPayloads(ctx context.Context, h *historypb.History, codec *payloadcrypt.Codec) (payloads, pdfs int, err error) {
	raw, err := proto.Marshal(h)
	if err != nil {
		return 0, 0, err
	}
	if bytes.Contains(raw, pdfMagic) {
		pdfs++
	}
	err = proxy.VisitPayloads(ctx, h, proxy.VisitPayloadsOptions{
		Visitor: func(_ *proxy.VisitPayloadsContext, ps []*commonpb.Payload) ([]*commonpb.Payload, error) {
			decoded, err := codec.Decode(ps)
			if err != nil {
				return nil, err
			}
			for _, p := range decoded {
				payloads++
				if bytes.Contains(p.GetData(), pdfMagic) {
					pdfs++
				}
			}
			return ps, nil
		},
	})
	return payloads, pdfs, err
}

// Machine is what the numbers were measured on.
type Machine struct {
	CPU        string  `json:"cpu"`
	Cores      int     `json:"cores"`
	MemoryGiB  float64 `json:"memory_gib"`
	Kernel     string  `json:"kernel"`
	Go         string  `json:"go"`
	Postgres   string  `json:"postgres"`
	LoadBefore string  `json:"load_average_before"`
	LoadAfter  string  `json:"load_average_after"`
}

func readMachine() Machine {
	m := Machine{Cores: runtime.NumCPU(), Go: runtime.Version(), LoadBefore: loadAverage()}
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(data)) {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		for line := range strings.Lines(string(data)) {
			if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
				m.MemoryGiB = math.Round(kb/1024/1024*10) / 10
			}
		}
	}
	if data, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(data))
	}
	return m
}

// loadAverage is the 1, 5 and 15 minute load averages.
func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// settle waits a moment for a process's memory to reflect what it holds (a GC cycle runs within
// seconds of the last allocations).
func settle(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

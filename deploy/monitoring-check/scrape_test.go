package monitoringcheck

// The exported series come from a real scrape: a worker and a gateway process, built by the main
// module, over PostgreSQL, versitygw and Temporal (internal/testenv), with orders and actions
// driven through the gateway, including each failure an alert watches for.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.temporal.io/sdk/client"

	"github.com/k2kinvoice/autoinvoice/internal/invoice"
	"github.com/k2kinvoice/autoinvoice/internal/payloadcrypt"
	"github.com/k2kinvoice/autoinvoice/internal/store"
	"github.com/k2kinvoice/autoinvoice/internal/testenv"
	"github.com/k2kinvoice/autoinvoice/workflows"
)

const bucket = "k2k-monitoring-check"

var (
	scrapeOnce sync.Once
	scraped    series
	scrapeErr  error
)

// exportedSeries is the set of series names the worker's and the gateway's /metrics showed, once
// the traffic of drive had run; the first call starts everything and stops it when done.
func exportedSeries(t *testing.T) series {
	t.Helper()
	scrapeOnce.Do(func() { scraped, scrapeErr = scrapeRealProcesses(t) })
	if scrapeErr != nil {
		t.Fatal(scrapeErr)
	}
	return scraped
}

// provoked are the series that appear only once something happened: drive makes each happen, and
// the scrape waits for them (the check then names any that did not show).
var provoked = []string{
	"k2k_orders_total", "k2k_transitions_total", "k2k_refusals_total", "k2k_reminders_total",
	"k2k_status_seconds_bucket", "k2k_invoices_paid_total", "k2k_pdf_bytes_stored_total", "k2k_audit_failures_total",
	"k2k_exports_total",
	"temporal_workflow_failed_total", "temporal_workflow_task_execution_failed_total",
	"temporal_activity_execution_failed_total", "temporal_sticky_cache_forced_eviction_total",
	"k2k_gateway_requests_total", "k2k_gateway_request_duration_seconds_bucket",
}

func scrapeRealProcesses(t *testing.T) (series, error) {
	began := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	s, err := startStack(ctx)
	if s != nil {
		defer s.stop()
	}
	if err != nil {
		return nil, err
	}
	t.Logf("worker and gateway ready in %s", time.Since(began).Round(100*time.Millisecond))
	if err := s.drive(ctx); err != nil {
		return nil, fmt.Errorf("%w\nworker log:\n%s\ngateway log:\n%s", err, s.worker.tail(), s.gateway.tail())
	}
	var names series
	for {
		names = series{}
		for _, url := range []string{s.workerURL, s.gatewayURL} {
			page, err := get(ctx, url+"/metrics")
			if err != nil {
				return nil, err
			}
			if err := names.add(page); err != nil {
				return nil, fmt.Errorf("%s/metrics: %w", url, err)
			}
		}
		missing := slices.DeleteFunc(slices.Clone(provoked), func(n string) bool { return names[n] != nil })
		if len(missing) == 0 {
			break
		}
		if ctx.Err() != nil || time.Since(began) > 3*time.Minute {
			t.Logf("these never showed on /metrics: %v\nworker log:\n%s", missing, s.worker.tail())
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Logf("scraped %d series names from a real worker and gateway in %s", len(names), time.Since(began).Round(100*time.Millisecond))
	return names, nil
}

// series maps each series name Prometheus would store from a scrape (a histogram's _bucket, _sum
// and _count) to the label names it carries, with the job and instance Prometheus adds.
type series map[string]map[string]bool

// add reads a page in Prometheus' text format into s.
func (s series) add(page string) error {
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(page))
	if err != nil {
		return err
	}
	for name, f := range families {
		names := map[string]string{name: ""}
		switch f.GetType() {
		case dto.MetricType_HISTOGRAM:
			names = map[string]string{name + "_bucket": "le", name + "_sum": "", name + "_count": ""}
		case dto.MetricType_SUMMARY:
			names = map[string]string{name: "quantile", name + "_sum": "", name + "_count": ""}
		}
		for n, extra := range names {
			if s[n] == nil {
				s[n] = map[string]bool{"job": true, "instance": true}
			}
			if extra != "" {
				s[n][extra] = true
			}
			for _, m := range f.GetMetric() {
				for _, l := range m.GetLabel() {
					s[n][l.GetName()] = true
				}
			}
		}
	}
	return nil
}

// stack is the servers and the two processes under test.
type stack struct {
	dir                   string
	dbURL                 string
	stops                 []func()
	temporal              client.Client
	st                    *store.Store
	worker, gateway       *proc
	workerURL, gatewayURL string
	// accounting is the buyer's accounting system; exportCalls counts the deliveries it got.
	accounting  *httptest.Server
	exportCalls atomic.Int64
}

func (s *stack) stop() {
	for i := len(s.stops) - 1; i >= 0; i-- {
		s.stops[i]()
	}
}

func startStack(ctx context.Context) (*stack, error) {
	s := &stack{}
	dir, err := os.MkdirTemp("", "k2k-monitoring-check-")
	if err != nil {
		return nil, err
	}
	s.dir = dir
	s.stops = append(s.stops, func() { os.RemoveAll(dir) })
	build := exec.CommandContext(ctx, "go", "build", "-o", dir+string(filepath.Separator), "./worker", "./gateway")
	build.Dir = repoRoot // the main module's own build: what ships
	if out, err := build.CombinedOutput(); err != nil {
		return s, fmt.Errorf("go build ./worker ./gateway: %v\n%s", err, out)
	}
	dbURL, drop, err := testenv.NewDatabase(ctx)
	if err != nil {
		return s, err
	}
	s.dbURL = dbURL
	s.stops = append(s.stops, drop)
	s3, err := testenv.StartS3(ctx)
	if err != nil {
		return s, err
	}
	s.stops = append(s.stops, s3.Stop)
	temporal, err := testenv.StartTemporal(ctx)
	if err != nil {
		return s, err
	}
	s.stops = append(s.stops, func() { _ = temporal.Stop() })

	env := s3.Env(bucket)
	env["DATABASE_URL"] = dbURL
	env["TEMPORAL_ADDRESS"] = temporal.FrontendHostPort()
	env["TEMPORAL_NAMESPACE"] = "default"
	env["K2K_PAYLOAD_KEYS"] = payloadcrypt.TestKeys
	env["K2K_LOG_LEVEL"] = "warn"
	if err := testenv.Setenv(env); err != nil {
		return s, err
	}
	if _, err := s3.Bucket(ctx, bucket); err != nil {
		return s, err
	}
	if s.temporal, err = client.DialContext(ctx, client.Options{HostPort: temporal.FrontendHostPort(), Namespace: "default",
		Logger: quietLogger{}}); err != nil {
		return s, err
	}
	s.stops = append(s.stops, s.temporal.Close)

	// The buyer's accounting system: its first answer fails the export (an activity failure,
	// retried), the next accepts the invoice.
	s.accounting = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if s.exportCalls.Add(1) == 1 {
			http.Error(w, "accounting down", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"reference": "ACC-1"}`)
	}))
	s.stops = append(s.stops, s.accounting.Close)

	workerPort, err := testenv.FreePort()
	if err != nil {
		return s, err
	}
	s.workerURL = "http://127.0.0.1:" + strconv.Itoa(workerPort)
	// A sticky cache of one workflow (the SDK keeps size-1), so that a second open invoice evicts
	// the first: the forced evictions K2KStickyCacheFull reads.
	if s.worker, err = s.start("worker", map[string]string{"K2K_WORKER_HTTP_LISTEN": "127.0.0.1:" + strconv.Itoa(workerPort),
		"K2K_WORKER_STICKY_CACHE": "2", "K2K_SHUTDOWN_TIMEOUT": "2s"}); err != nil {
		return s, err
	}
	if err := s.worker.awaitReady(ctx, s.workerURL+"/readyz"); err != nil {
		return s, err
	}
	gatewayPort, err := testenv.FreePort()
	if err != nil {
		return s, err
	}
	s.gatewayURL = "http://127.0.0.1:" + strconv.Itoa(gatewayPort)
	// Reminders after a second in AP, so that one falls due while the test runs.
	if s.gateway, err = s.start("gateway", map[string]string{"K2K_GATEWAY_LISTEN": "127.0.0.1:" + strconv.Itoa(gatewayPort),
		"K2K_REMIND_AP": "1s", "K2K_REMINDERS_MAX": "1"}); err != nil {
		return s, err
	}
	if err := s.gateway.awaitReady(ctx, s.gatewayURL+"/readyz"); err != nil {
		return s, err
	}
	if s.st, err = store.Open(ctx, dbURL); err != nil {
		return s, err
	}
	s.stops = append(s.stops, s.st.Close)
	return s, nil
}

// start starts one of the built binaries with this process's environment plus env.
func (s *stack) start(name string, env map[string]string) (*proc, error) {
	p := &proc{name: name, log: filepath.Join(s.dir, name+".log"), done: make(chan struct{})}
	out, err := os.Create(p.log)
	if err != nil {
		return nil, err
	}
	p.cmd = exec.Command(filepath.Join(s.dir, name))
	p.cmd.Env = os.Environ()
	for k, v := range env {
		p.cmd.Env = append(p.cmd.Env, k+"="+v)
	}
	p.cmd.Stdout, p.cmd.Stderr = out, out
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // never outlive the test
	if err := p.cmd.Start(); err != nil {
		out.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() { _ = p.cmd.Wait(); out.Close(); close(p.done) }()
	s.stops = append(s.stops, p.stop)
	return p, nil
}

// proc is a started worker or gateway.
type proc struct {
	name, log string
	cmd       *exec.Cmd
	done      chan struct{}
}

func (p *proc) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

func (p *proc) tail() string {
	data, _ := os.ReadFile(p.log)
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-20):], "\n")
}

// awaitReady polls url until it answers 200.
func (p *proc) awaitReady(ctx context.Context, url string) error {
	deadline := time.Now().Add(time.Minute)
	for {
		select {
		case <-p.done:
			return fmt.Errorf("%s exited before it was ready; log:\n%s", p.name, p.tail())
		default:
		}
		if _, err := get(ctx, url); err == nil {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("%s not ready at %s after a minute; log:\n%s", p.name, url, p.tail())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

var httpClient = &http.Client{Timeout: 30 * time.Second}

// get returns the body of a GET that answered 200.
func get(ctx context.Context, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: %d %s", url, resp.StatusCode, body)
	}
	return string(body), nil
}

// call sends one request to the gateway with an API key, and returns the status and body.
func (s *stack) call(ctx context.Context, method, path, key, user string, body any) (int, []byte, error) {
	var payload io.Reader = http.NoBody
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		payload = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.gatewayURL+path, payload)
	if err != nil {
		return 0, nil, err
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", fmt.Sprintf("monitoring-%d", time.Now().UnixNano()))
	}
	if user != "" {
		req.Header.Set("K2K-User", user)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return resp.StatusCode, data, err
}

// expect is call that fails unless the gateway answers want.
func (s *stack) expect(ctx context.Context, want int, method, path, key, user string, body any) ([]byte, error) {
	code, data, err := s.call(ctx, method, path, key, user, body)
	if err != nil {
		return nil, err
	}
	if code != want {
		return nil, fmt.Errorf("%s %s answered %d, want %d: %s", method, path, code, want, data)
	}
	return data, nil
}

// order is a valid order of vendor to buyer.
func order(vendor, buyer, po string) invoice.Order {
	return invoice.Order{VendorID: vendor, BuyerID: buyer, PONumber: po, InvoiceNumber: "INV-" + po,
		IssueDate: "2026-11-27", Currency: "EUR", TotalMinor: 131850, POTotalMinor: 130000,
		Lines: []invoice.Line{
			{Description: "Steel brackets, 40 mm", Quantity: 500, UnitPriceMinor: 189},
			{Description: "Assembly service", Quantity: 8, UnitPriceMinor: 4500},
			{Description: "Freight", Quantity: 1, UnitPriceMinor: 1350},
		}}
}

// auditRefusedUser is the user whose refusals the database is made to refuse to record.
const auditRefusedUser = "audit-refused"

// drive sends the traffic that makes every business metric and every failure the alerts watch
// for show on /metrics.
func (s *stack) drive(ctx context.Context) error {
	const vendor, other, buyer = "ACME-SUPPLY", "NOLINK-SUPPLY", "GLOBEX-RETAIL"
	for _, c := range []store.Company{{ID: vendor, Name: "Acme", AutoInvoiceSync: true}, {ID: other, Name: "Nolink", AutoInvoiceSync: true},
		{ID: buyer, Name: "Globex", AcceptK2KInvoices: true}} {
		if err := s.st.CompanyUpsert(ctx, c); err != nil {
			return err
		}
	}
	if err := s.st.ConnectionUpsert(ctx, vendor, buyer, store.ConnectionActive); err != nil {
		return err
	}
	if err := s.st.AccountingExportSet(ctx, buyer, s.accounting.URL, "whsec_"+base64.StdEncoding.EncodeToString([]byte("monitoring-check-accounting")),
		true, store.Operator); err != nil {
		return err
	}
	keys := map[string]string{}
	for _, k := range []struct {
		name, company string
		role          invoice.Role
	}{{"vendor", vendor, invoice.RoleVendor}, {"other", other, invoice.RoleVendor},
		{"procurement", buyer, invoice.RoleProcurement}, {"accounting", buyer, invoice.RoleAccounting}} {
		_, secret, err := s.st.APIKeyCreate(ctx, k.company, k.role, "monitoring-check")
		if err != nil {
			return err
		}
		keys[k.name] = secret
	}
	// confirm sends an order and returns its invoice's id (0 for none). On a busy machine the
	// gateway may answer 202 (not settled in 10 seconds): the invoice is then found by its PO.
	confirm := func(o invoice.Order, key string, want int) (int64, error) {
		code, data, err := s.call(ctx, http.MethodPost, "/v1/orders", key, "", map[string]any{"order": o})
		switch {
		case err != nil:
			return 0, err
		case code == http.StatusAccepted:
			if want != http.StatusCreated {
				return 0, nil
			}
			return s.invoiceByPO(ctx, keys["procurement"], o.PONumber)
		case code != want:
			return 0, fmt.Errorf("POST /v1/orders (%s) answered %d, want %d: %s", o.PONumber, code, want, data)
		}
		var answer struct {
			InvoiceID int64 `json:"invoice_id"`
		}
		return answer.InvoiceID, json.Unmarshal(data, &answer)
	}
	act := func(id int64, action, key, user string, want int, body any) error {
		if body == nil {
			body = map[string]any{}
		}
		_, err := s.expect(ctx, want, http.MethodPost, fmt.Sprintf("/v1/invoices/%d/actions/%s", id, action), key, user, body)
		return err
	}

	// An order that becomes an invoice (its PDF rendered and stored), one that is not eligible.
	paid, err := confirm(order(vendor, buyer, "PO-PAID"), keys["vendor"], http.StatusCreated)
	if err != nil {
		return err
	}
	if _, err := confirm(order(other, buyer, "PO-NOLINK"), keys["other"], http.StatusOK); err != nil {
		return err
	}
	// Through to paid: transitions, time in each status, an invoice paid.
	if err := act(paid, "approve", keys["procurement"], "alice", http.StatusOK, nil); err != nil {
		return err
	}
	// A refusal the workflow makes (approve in AA, sent as a signal), whose audit row the database
	// refuses: k2k_refusals_total and k2k_audit_failures_total.
	conn, err := pgx.Connect(ctx, s.dbURL)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, `ALTER TABLE invoice_events ADD CONSTRAINT monitoring_check_refuses
		CHECK (kind <> 'refused' OR actor_user_id IS DISTINCT FROM '`+auditRefusedUser+`')`); err != nil {
		return err
	}
	if err := act(paid, "approve?async=true", keys["procurement"], auditRefusedUser, http.StatusAccepted, nil); err != nil {
		return err
	}
	// The signal is refused in the workflow's turn: wait for it before the invoice moves on (and,
	// once paid, ends).
	if err := s.awaitWorkerSeries(ctx, "k2k_audit_failures_total"); err != nil {
		return err
	}
	// Approved for payment, the invoice is sent to accounting: the first attempt fails, the retry
	// synchronizes it (S), and it is paid from there.
	if err := act(paid, "approve-payment", keys["accounting"], "bob", http.StatusOK, nil); err != nil {
		return err
	}
	if err := s.awaitStatus(ctx, keys["accounting"], paid, invoice.StatusS); err != nil {
		return err
	}
	if err := act(paid, "mark-paid", keys["accounting"], "bob", http.StatusOK,
		map[string]string{"payment_date": "2026-11-30", "payment_reference": "SEPA-1"}); err != nil {
		return err
	}
	// An invoice left in AP: its reminder falls due after a second.
	if _, err := confirm(order(vendor, buyer, "PO-WAITS"), keys["vendor"], http.StatusCreated); err != nil {
		return err
	}
	// A status changed by hand under a running workflow: its next transition fails the workflow
	// (StatusConflict), as docs/operations.md warns.
	broken, err := confirm(order(vendor, buyer, "PO-BY-HAND"), keys["vendor"], http.StatusCreated)
	if err != nil {
		return err
	}
	if _, err := conn.Exec(ctx, `UPDATE vendor_invoices SET status = 'AA' WHERE id = $1`, broken); err != nil {
		return err
	}
	if code, body, err := s.call(ctx, http.MethodPost, fmt.Sprintf("/v1/invoices/%d/actions/approve", broken), keys["procurement"], "alice",
		map[string]any{}); err != nil {
		return err
	} else if code < 400 {
		return fmt.Errorf("approve over a status changed by hand answered %d: %s", code, body)
	}
	// A workflow task that fails: a workflow type no worker registers, started on the invoice
	// task queue.
	if _, err := s.temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "monitoring-check-unknown-type",
		TaskQueue: workflows.TaskQueue}, "MonitoringCheckUnknownType"); err != nil {
		return err
	}
	// Reads and a path the gateway does not serve.
	if _, err := s.expect(ctx, http.StatusOK, http.MethodGet, "/v1/invoices", keys["procurement"], "", nil); err != nil {
		return err
	}
	if _, err := s.expect(ctx, http.StatusNotFound, http.MethodGet, "/no-such-path", "", "", nil); err != nil {
		return err
	}
	return nil
}

// awaitStatus polls the invoice until it is in status want.
func (s *stack) awaitStatus(ctx context.Context, key string, id int64, want invoice.Status) error {
	for {
		data, err := s.expect(ctx, http.StatusOK, http.MethodGet, fmt.Sprintf("/v1/invoices/%d", id), key, "", nil)
		if err != nil {
			return err
		}
		var view struct {
			Status invoice.Status `json:"status"`
		}
		if err := json.Unmarshal(data, &view); err != nil {
			return err
		}
		if view.Status == want {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("invoice %d still in %s, want %s: %w", id, view.Status, want, ctx.Err())
		case <-time.After(300 * time.Millisecond):
		}
	}
}

// invoiceByPO polls the buyer's invoice list until the invoice of a PO shows, and returns its id.
func (s *stack) invoiceByPO(ctx context.Context, buyerKey, po string) (int64, error) {
	for {
		data, err := s.expect(ctx, http.StatusOK, http.MethodGet, "/v1/invoices?po="+po, buyerKey, "", nil)
		if err != nil {
			return 0, err
		}
		var list struct {
			Invoices []struct {
				ID int64 `json:"id"`
			} `json:"invoices"`
		}
		if err := json.Unmarshal(data, &list); err != nil {
			return 0, err
		}
		if len(list.Invoices) > 0 {
			return list.Invoices[0].ID, nil
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("no invoice of %s: %w", po, ctx.Err())
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// awaitWorkerSeries polls the worker's /metrics until a series of the name shows.
func (s *stack) awaitWorkerSeries(ctx context.Context, name string) error {
	deadline := time.Now().Add(time.Minute)
	for {
		page, err := get(ctx, s.workerURL+"/metrics")
		if err != nil {
			return err
		}
		got := series{}
		if err := got.add(page); err != nil {
			return err
		}
		if got[name] != nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not show on the worker's /metrics within a minute", name)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// quietLogger keeps the SDK client's log out of the test's output.
type quietLogger struct{}

func (quietLogger) Debug(string, ...any) {}
func (quietLogger) Info(string, ...any)  {}
func (quietLogger) Warn(string, ...any)  {}
func (quietLogger) Error(msg string, kv ...any) {
	slog.Error(msg, kv...)
}

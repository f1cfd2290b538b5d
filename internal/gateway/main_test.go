package gateway_test

// The gateway's own tests, on real servers: TestMain starts a fresh PostgreSQL database, versitygw
// and the Temporal dev server with an in-process worker (testenv.StartStack), and serves the
// gateway over them with httptest. Each test talks HTTP to it and checks what the gateway decides:
// statuses, problem documents, headers, and what it stored.

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/k2kinvoice/autoinvoice/internal/app"
	"github.com/k2kinvoice/autoinvoice/internal/blob"
	"github.com/k2kinvoice/autoinvoice/internal/config"
	"github.com/k2kinvoice/autoinvoice/internal/gateway"
	"github.com/k2kinvoice/autoinvoice/internal/invoice"
	"github.com/k2kinvoice/autoinvoice/internal/store"
	"github.com/k2kinvoice/autoinvoice/internal/testenv"
)

// maxPDF is K2K_PDF_MAX_BYTES of these tests: small, so the size limits are cheap to cross.
const maxPDF = 64 << 10

var (
	deps *app.Deps
	// api is the gateway over the test servers; its log keeps warnings and errors in apiLog.
	api    *httptest.Server
	apiLog = &logRecords{}
	// broken is the same gateway whose S3 bucket does not exist: its uploads fail on the server's
	// side (500), and it is not ready.
	broken    *httptest.Server
	brokenLog = &logRecords{}
)

func TestMain(m *testing.M) {
	code, err := run(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gateway:", err)
		os.Exit(1)
	}
	os.Exit(code)
}

func run(m *testing.M) (int, error) {
	ctx := context.Background()
	stack, err := testenv.StartStack(ctx, "k2k-gateway-test", map[string]string{"K2K_PDF_MAX_BYTES": fmt.Sprint(maxPDF)})
	if err != nil {
		return 0, err
	}
	defer stack.Stop()
	deps = stack.Deps

	api = httptest.NewServer(deps.Gateway(slog.New(apiLog), time.Minute).Handler())
	defer api.Close()

	awsCfg, err := config.AWS(ctx)
	if err != nil {
		return 0, err
	}
	missing := blob.New(awsCfg, "k2k-no-such-bucket", true)
	b := deps.Gateway(slog.New(brokenLog), time.Minute)
	b.Blobs, b.Invoices.Blobs = missing, missing
	b.Ready = missing.CheckBucket
	broken = httptest.NewServer(b.Handler())
	defer broken.Close()
	return m.Run(), nil
}

// logRecords is a slog handler that keeps the messages of warnings and errors.
type logRecords struct {
	mu   sync.Mutex
	msgs []string
}

func (l *logRecords) Enabled(_ context.Context, level slog.Level) bool {
	return level >= slog.LevelWarn
}
func (l *logRecords) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.msgs = append(l.msgs, r.Level.String()+" "+r.Message)
	return nil
}
func (l *logRecords) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logRecords) WithGroup(string) slog.Handler      { return l }

// count is how many records were logged with this level and message ("ERROR request failed").
func (l *logRecords) count(msg string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, m := range l.msgs {
		if m == msg {
			n++
		}
	}
	return n
}

var idemSeq atomic.Int64

// newIdem is a fresh Idempotency-Key.
func newIdem() string { return fmt.Sprintf("gw-%d-%d", time.Now().UnixNano(), idemSeq.Add(1)) }

// call is one HTTP request to a gateway: a bearer token, an Idempotency-Key, a Content-Type and
// other headers, each sent when not empty.
type call struct {
	base        string // the server; api when empty
	method      string
	path        string
	token, idem string
	ctype       string
	body        []byte
	header      map[string]string
}

// answer is what the gateway answered.
type answer struct {
	status int
	header http.Header
	body   []byte
}

func (a answer) String() string {
	return fmt.Sprintf("%d %s %.400s", a.status, a.header.Get("Content-Type"), a.body)
}

var httpClient = &http.Client{Timeout: 60 * time.Second}

func (c call) send(t *testing.T) answer {
	t.Helper()
	if c.base == "" {
		c.base = api.URL
	}
	status, header, body := testenv.GatewayCall{Method: c.method, URL: c.base + c.path, Token: c.token, Idem: c.idem,
		ContentType: c.ctype, Body: c.body, Header: c.header}.Send(t, httpClient)
	return answer{status: status, header: header, body: body}
}

// get is a GET with a key.
func get(t *testing.T, path, token string) answer {
	t.Helper()
	return call{method: http.MethodGet, path: path, token: token}.send(t)
}

// post is a POST of a JSON value with a fresh Idempotency-Key.
func post(t *testing.T, path, token string, v any) answer {
	t.Helper()
	return call{method: http.MethodPost, path: path, token: token, idem: newIdem(), ctype: "application/json", body: testenv.MustJSON(t, v)}.send(t)
}

// decode requires a JSON answer with status want and decodes it.
func decode[T any](t *testing.T, a answer, want int) T {
	t.Helper()
	if a.header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("answer %s without X-Content-Type-Options: nosniff", a)
	}
	return testenv.DecodeJSON[T](t, a.status, a.header, a.body, want)
}

// want is the problem document a request must be answered with: its status and type slug, its
// title (the status text when empty), and, when set, a code, a text the detail holds and the
// field errors (field and a text of its rule) it must list.
type want struct {
	status int
	slug   string
	title  string
	code   string
	detail string
	fields [][2]string
}

// problem requires a problem document as w says, and returns it.
func problem(t *testing.T, a answer, w want) gateway.Problem {
	t.Helper()
	var p gateway.Problem
	if a.status != w.status || a.header.Get("Content-Type") != "application/problem+json" || a.header.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("answer %s, want %d application/problem+json with nosniff", a, w.status)
	}
	if err := json.Unmarshal(a.body, &p); err != nil {
		t.Fatalf("decode %s: %v", a, err)
	}
	title := w.title
	if title == "" {
		title = http.StatusText(w.status)
	}
	if p.Status != w.status || p.Type != "urn:k2k:problem:"+w.slug || p.Title != title || p.Code != w.code || p.Detail == "" {
		t.Fatalf("problem %+v, want status %d, type %s, title %q, code %q and a detail", p, w.status, w.slug, title, w.code)
	}
	if !strings.Contains(p.Detail, w.detail) {
		t.Errorf("detail %q does not say %q", p.Detail, w.detail)
	}
	for _, f := range w.fields {
		if !slices.ContainsFunc(p.Errors, func(e invoice.FieldError) bool { return e.Field == f[0] && strings.Contains(e.Rule, f[1]) }) {
			t.Errorf("errors %+v do not name %s with a rule saying %q", p.Errors, f[0], f[1])
		}
	}
	if len(w.fields) == 0 && len(p.Errors) != 0 {
		t.Errorf("errors %+v, want none", p.Errors)
	}
	return p
}

// newParty is an eligible order with keys of its vendor and of its buyer's two roles.
func newParty(t *testing.T) testenv.Party {
	t.Helper()
	return partyOf(t, true, true, store.ConnectionActive)
}

func partyOf(t *testing.T, vendorSync, buyerUpload bool, connection store.ConnectionStatus) testenv.Party {
	t.Helper()
	p, err := testenv.NewParty(context.Background(), deps.Store, vendorSync, buyerUpload, connection)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// apiKey creates a key of the company and role and returns its token.
func apiKey(t *testing.T, company string, role invoice.Role) string {
	t.Helper()
	token, err := testenv.APIKey(context.Background(), deps.Store, company, role)
	if err != nil {
		t.Fatal(err)
	}
	return token
}

// confirm confirms the party's order (edited by edit) as JSON and requires an invoice in AP.
func confirm(t *testing.T, p testenv.Party, edit func(o *invoice.Order)) (invoice.Order, gateway.OrderResponse) {
	t.Helper()
	o := p.Order
	if edit != nil {
		edit(&o)
	}
	r := decode[gateway.OrderResponse](t, post(t, "/v1/orders", p.Vendor, map[string]any{"order": o}), http.StatusCreated)
	if r.InvoiceID <= 0 || r.Status != invoice.StatusAP || r.Outcome != "" || r.WorkflowID == "" {
		t.Fatalf("order answer %+v, want an invoice in AP", r)
	}
	return o, r
}

// pdfOf is a small valid PDF unique to tag.
func pdfOf(tag string) []byte {
	return []byte("%PDF-1.7\n% " + tag + "\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n")
}

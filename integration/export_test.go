package integration

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/k2kinvoice/autoinvoice/activities"
	"github.com/k2kinvoice/autoinvoice/internal/invoice"
	"github.com/k2kinvoice/autoinvoice/internal/store"
	"github.com/k2kinvoice/autoinvoice/workflows"
)

// accountingSystem is a buyer's accounting system: it verifies each delivery's signature and
// answers by PO number: "refuse" 422 the first time, "down" 503 twice, anything else 200 with a
// reference.
type accountingSystem struct {
	t        *testing.T
	srv      *httptest.Server
	secret   string
	mu       sync.Mutex
	attempts map[string]int
	docs     map[string]activities.ExportDocument
}

func newAccountingSystem(t *testing.T) *accountingSystem {
	a := &accountingSystem{t: t, secret: "whsec_" + "c2VjcmV0LW9mLXRoZS1hY2NvdW50aW5nLXN5c3RlbQ==",
		attempts: map[string]int{}, docs: map[string]activities.ExportDocument{}}
	a.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		wh, _ := standardwebhooks.NewWebhook(a.secret)
		if err := wh.Verify(body, r.Header); err != nil || r.Header.Get("Idempotency-Key") != r.Header.Get("webhook-id") {
			t.Errorf("export delivery does not verify: %v", err)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var doc activities.ExportDocument
		_ = json.Unmarshal(body, &doc)
		a.mu.Lock()
		defer a.mu.Unlock()
		po := doc.Invoice.PONumber
		a.attempts[po]++
		switch n := a.attempts[po]; {
		case strings.HasSuffix(po, "-refuse") && n == 1:
			w.WriteHeader(http.StatusUnprocessableEntity)
			_, _ = w.Write([]byte(`{"error":"unknown cost centre"}`))
			return
		case strings.HasSuffix(po, "-down") && n <= 2:
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		a.docs[po] = doc
		_, _ = fmt.Fprintf(w, `{"reference":"ACC-%s-%d"}`, po, a.attempts[po])
	}))
	t.Cleanup(a.srv.Close)
	return a
}

// awaitStatus waits until the invoice's workflow is in status want.
func awaitStatus(t *testing.T, id string, want invoice.Status) workflows.State {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := client.State(context.Background(), id)
		if err == nil && st.Status == want && len(st.Inbox) == 0 {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: status %s (%v), want %s", id, st.Status, err, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestExportToAccounting: for a buyer that exports, an invoice approved for payment is sent to its
// accounting system, signed, with its revisions, PDF link and e-invoice XML, and ends S with the
// system's reference, then is paid from S; one refused goes to F, is sent again and ends S, then
// is returned to approved; one whose system is down at first is retried until it takes it.
func TestExportToAccounting(t *testing.T) {
	ctx := context.Background()
	acc := newAccountingSystem(t)
	base := eligible(t)
	if err := deps.Store.AccountingExportSet(ctx, base.BuyerID, acc.srv.URL, acc.secret, true, store.Operator); err != nil {
		t.Fatal(err)
	}
	if n := count(t, `SELECT count(*) FROM accounting_exports WHERE buyer_id = $1 AND secret LIKE 'sealed:%'`, base.BuyerID); n != 1 {
		t.Errorf("the export's secret is not stored sealed")
	}
	procurement, accounting := buyer(base, "alice", invoice.RoleProcurement), buyer(base, "bob", invoice.RoleAccounting)
	start := func(tag string) (invoice.Order, string) {
		o := base
		o.PONumber, o.InvoiceNumber = base.PONumber+"-"+tag, base.InvoiceNumber+"-"+tag
		id := confirmAndSettle(t, o, nil).WorkflowID
		mustAccept(t, id, invoice.ActionRequest{Action: invoice.ActionApprove, Actor: procurement, IdempotencyKey: "approve"}, invoice.StatusAA)
		mustAccept(t, id, invoice.ActionRequest{Action: invoice.ActionApprovePayment, Actor: accounting, IdempotencyKey: "approve-payment"}, invoice.StatusA)
		return o, id
	}

	ok, okID := start("ok")
	st := awaitStatus(t, okID, invoice.StatusS)
	if st.Export == nil || st.Export.Reference != "ACC-"+ok.PONumber+"-1" {
		t.Errorf("synchronized with %+v, want the system's reference", st.Export)
	}
	acc.mu.Lock()
	doc := acc.docs[ok.PONumber]
	acc.mu.Unlock()
	if doc.InvoiceID != st.InvoiceID || doc.Invoice.InvoiceNumber != ok.InvoiceNumber || len(doc.Revisions) != 1 ||
		!strings.Contains(doc.EInvoiceXML, "<rsm:CrossIndustryInvoice") || !strings.Contains(doc.EInvoiceXML, ok.InvoiceNumber) {
		t.Errorf("exported document = %+v", doc)
	}
	resp, err := http.Get(doc.PDFURL)
	if err != nil {
		t.Fatalf("PDF link: %v", err)
	}
	pdfBytes, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if sum := sha256.Sum256(pdfBytes); hex.EncodeToString(sum[:]) != doc.PDFSHA256 || doc.PDFSHA256 != st.Document.SHA256 {
		t.Errorf("the PDF link gives %d bytes with another digest than %s", len(pdfBytes), doc.PDFSHA256)
	}
	mustAccept(t, okID, invoice.ActionRequest{Action: invoice.ActionMarkPaid, Actor: accounting, IdempotencyKey: "pay",
		PaymentDate: "2026-12-01", PaymentReference: "SEPA-EXP"}, invoice.StatusP)

	_, refusedID := start("refuse")
	st = awaitStatus(t, refusedID, invoice.StatusF)
	if st.Export == nil || !strings.Contains(st.Export.Failure, "422") || !strings.Contains(st.Export.Failure, "unknown cost centre") {
		t.Errorf("failed with %+v, want the system's refusal", st.Export)
	}
	mustAccept(t, refusedID, invoice.ActionRequest{Action: invoice.ActionSendToAccounting, Actor: accounting, IdempotencyKey: "again"}, invoice.StatusES)
	awaitStatus(t, refusedID, invoice.StatusS)
	mustAccept(t, refusedID, invoice.ActionRequest{Action: invoice.ActionReturnToApproved, Actor: accounting, IdempotencyKey: "back"}, invoice.StatusA)

	down, downID := start("down")
	st = awaitStatus(t, downID, invoice.StatusS)
	acc.mu.Lock()
	attempts := acc.attempts[down.PONumber]
	acc.mu.Unlock()
	if attempts != 3 || st.Export.Reference != "ACC-"+down.PONumber+"-3" {
		t.Errorf("a system down twice: %d attempts, reference %q; want 3 and the third's", attempts, st.Export.Reference)
	}
	var chain []string
	events, _ := deps.Store.EventsByWorkflowID(ctx, refusedID)
	for _, e := range events {
		chain = append(chain, strings.Join(strings.Fields(fmt.Sprintf("%s %s→%s %s", e.Action, e.From, e.To, e.Code)), " "))
	}
	want := "→AP approve AP→AA approve_payment AA→A send_to_accounting A→ES ES→F export_failed send_to_accounting F→ES ES→S export_synchronized return_to_approved S→A"
	if got := strings.Join(chain, " "); got != want {
		t.Errorf("audit chain\n got %s\nwant %s", got, want)
	}
	if n := listWorkflows(t, fmt.Sprintf("K2KPONumber = '%s' AND K2KStatus = 'A'", base.PONumber+"-refuse"), 1); n != 1 {
		t.Errorf("visibility finds %d invoices back in A, want 1", n)
	}
}

package integration

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"go.temporal.io/api/workflowservice/v1"

	"github.com/k2kinvoice/autoinvoice/internal/blob"
	"github.com/k2kinvoice/autoinvoice/internal/invoice"
	"github.com/k2kinvoice/autoinvoice/internal/pdf"
	"github.com/k2kinvoice/autoinvoice/internal/store"
	"github.com/k2kinvoice/autoinvoice/workflows"
)

// confirmAndSettle confirms o and waits until its invoice is in AP or the workflow has an outcome.
func confirmAndSettle(t *testing.T, o invoice.Order, vendorPDF []byte) workflows.State {
	t.Helper()
	stagingKey := ""
	if vendorPDF != nil {
		var err error
		if stagingKey, err = client.StagePDF(within(t, 10*time.Second), vendorPDF); err != nil {
			t.Fatalf("stage the vendor PDF: %v", err)
		}
	}
	conf, err := client.Confirm(within(t, 40*time.Second), o, stagingKey, 30*time.Second)
	if err != nil {
		t.Fatalf("confirm: %v", err)
	}
	if conf.State == nil {
		t.Fatalf("confirm: workflow %s did not answer within 30 s", conf.WorkflowID)
	}
	return *conf.State
}

// invoiceObjects lists the PDF objects stored for an order's vendor and buyer.
func invoiceObjects(t *testing.T, o invoice.Order) []string {
	t.Helper()
	keys, err := deps.Blobs.List(context.Background(), fmt.Sprintf("invoices/%s/%s/", o.BuyerID, o.VendorID))
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// listWorkflows runs a visibility query, waiting briefly for visibility to catch up to want.
func listWorkflows(t *testing.T, query string, want int) int {
	t.Helper()
	var n int
	for range 50 {
		resp, err := deps.Temporal.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{Query: query})
		if err != nil {
			t.Fatalf("list %q: %v", query, err)
		}
		if n = len(resp.Executions); n >= want {
			return n
		}
		time.Sleep(100 * time.Millisecond)
	}
	return n
}

func TestEligibleOrderBecomesAPInvoiceWithPDF(t *testing.T) {
	o := eligible(t)
	st := confirmAndSettle(t, o, nil)
	if st.Status != invoice.StatusAP || st.Revision != 1 || st.Outcome != "" {
		t.Fatalf("state = %s revision %d outcome %q, want AP revision 1 and no outcome", st.Status, st.Revision, st.Outcome)
	}
	if st.Discrepancy != 1850 {
		t.Errorf("discrepancy = %d, want 1850 (131850 invoiced - 130000 ordered)", st.Discrepancy)
	}
	ctx := context.Background()
	inv, err := deps.Store.InvoiceByWorkflowID(ctx, st.WorkflowID)
	if err != nil {
		t.Fatal(err)
	}
	if inv.Status != invoice.StatusAP || inv.CurrentRevision != 1 || inv.TotalMinor != 131850 ||
		inv.POTotalMinor != 130000 || inv.Currency != "EUR" || inv.InvoiceNumber != o.InvoiceNumber {
		t.Errorf("invoice row = %+v", inv)
	}
	rev, err := deps.Store.RevisionGet(ctx, inv.ID, 1)
	if err != nil {
		t.Fatal(err)
	}
	data, sum, err := deps.Blobs.Get(ctx, rev.Document.Key, 10<<20)
	if err != nil {
		t.Fatal(err)
	}
	if sum != rev.Document.SHA256 || int64(len(data)) != rev.Document.Size || rev.Document.Source != invoice.PDFRendered {
		t.Errorf("object sha256 %s size %d; row says %s size %d source %s", sum, len(data), rev.Document.SHA256, rev.Document.Size, rev.Document.Source)
	}
	if rule := pdf.Check(data, 10<<20); rule != "" {
		t.Errorf("stored object is not a PDF: %s", rule)
	}
	if keys := invoiceObjects(t, o); len(keys) != 1 || keys[0] != rev.Document.Key {
		t.Errorf("objects = %v, want only %s", keys, rev.Document.Key)
	}
	events, _ := deps.Store.EventsByWorkflowID(ctx, st.WorkflowID)
	if len(events) != 1 || events[0].Kind != invoice.EventInvoiceCreated || events[0].To != invoice.StatusAP {
		t.Errorf("events = %+v, want one invoice_created into AP", events)
	}
	// Ops find it in the Temporal UI by buyer, PO and status.
	q := fmt.Sprintf("K2KBuyer = '%s' AND K2KPONumber = '%s' AND K2KStatus = 'AP' AND K2KInvoiceNumber = '%s'", o.BuyerID, o.PONumber, o.InvoiceNumber)
	if n := listWorkflows(t, q, 1); n != 1 {
		t.Errorf("visibility query %q found %d workflows, want 1", q, n)
	}
}

func TestVendorSuppliedPDFIsStoredAsIs(t *testing.T) {
	o := eligible(t)
	vendorPDF, err := pdf.Render(invoice.Order{VendorID: o.VendorID, BuyerID: o.BuyerID, PONumber: "vendor's own",
		InvoiceNumber: o.InvoiceNumber, IssueDate: o.IssueDate, Currency: "EUR", TotalMinor: 1, POTotalMinor: 1,
		Lines: []invoice.Line{{Description: "Vendor layout", Quantity: 1, UnitPriceMinor: 1}}}, 1, time.Unix(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	st := confirmAndSettle(t, o, vendorPDF)
	if st.Status != invoice.StatusAP || st.Document.Source != invoice.PDFFromVendor || st.Document.SHA256 != blob.SHA256Hex(vendorPDF) {
		t.Fatalf("state = %s, document %+v; want AP with the vendor's PDF", st.Status, st.Document)
	}
	data, _, err := deps.Blobs.Get(context.Background(), st.Document.Key, 10<<20)
	if err != nil || string(data) != string(vendorPDF) {
		t.Errorf("stored object differs from the vendor's PDF (err %v)", err)
	}
}

func TestNotEligibleOrdersCreateNothing(t *testing.T) {
	cases := []struct {
		name                    string
		vendorSync, buyerUpload bool
		connection              store.ConnectionStatus
		reason                  invoice.EligibilityReason
	}{
		{"connection suspended", true, true, store.ConnectionSuspended, invoice.ReasonConnectionInactive},
		{"vendor setting off", false, true, store.ConnectionActive, invoice.ReasonVendorSyncDisabled},
		{"buyer setting off", true, false, store.ConnectionActive, invoice.ReasonBuyerUploadDisabled},
		{"no connection", true, true, "", invoice.ReasonNoConnection},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			o := parties(t, c.vendorSync, c.buyerUpload, c.connection)
			st := confirmAndSettle(t, o, nil)
			if st.Outcome != workflows.OutcomeNotEligible || st.Status != "" {
				t.Fatalf("outcome %q status %q, want not_eligible and no status", st.Outcome, st.Status)
			}
			ctx := context.Background()
			if _, err := deps.Store.InvoiceByWorkflowID(ctx, st.WorkflowID); err == nil {
				t.Error("an invoice row exists for a not-eligible order")
			}
			if keys := invoiceObjects(t, o); len(keys) != 0 {
				t.Errorf("objects stored for a not-eligible order: %v", keys)
			}
			events, _ := deps.Store.EventsByWorkflowID(ctx, st.WorkflowID)
			if len(events) != 1 || events[0].Kind != invoice.EventNotEligible || events[0].Code != string(c.reason) || events[0].Reason == "" {
				t.Errorf("events = %+v, want one not_eligible with code %s and a reason", events, c.reason)
			}
			q := fmt.Sprintf("K2KPONumber = '%s' AND K2KOutcome = 'not_eligible' AND ExecutionStatus = 'Completed'", o.PONumber)
			if n := listWorkflows(t, q, 1); n != 1 {
				t.Errorf("visibility query %q found %d workflows, want 1", q, n)
			}
		})
	}
}

func TestDuplicateConfirmationsMakeOneInvoice(t *testing.T) {
	o := eligible(t)
	const n = 10
	runIDs := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			conf, err := client.Confirm(within(t, 20*time.Second), o, "", 15*time.Second)
			runIDs[i], errs[i] = conf.RunID, err
		})
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("confirmation %d: %v", i, errs[i])
		}
		if runIDs[i] != runIDs[0] {
			t.Errorf("confirmation %d got run %s, confirmation 0 got %s: want one workflow", i, runIDs[i], runIDs[0])
		}
	}
	id := workflows.InvoiceWorkflowID(o.VendorID, o.BuyerID, o.PONumber)
	if _, err := client.AwaitSettled(within(t, 30*time.Second), id); err != nil {
		t.Fatal(err)
	}
	// Once more after it settled: the same workflow comes back.
	again, err := client.Confirm(within(t, 10*time.Second), o, "", 5*time.Second)
	if err != nil || again.RunID != runIDs[0] {
		t.Errorf("re-delivered confirmation: run %s, %v; want run %s", again.RunID, err, runIDs[0])
	}
	if got := listWorkflows(t, fmt.Sprintf("WorkflowId = '%s'", id), 1); got != 1 {
		t.Errorf("%d workflow executions with ID %s, want 1", got, id)
	}
	if keys := invoiceObjects(t, o); len(keys) != 1 {
		t.Errorf("objects = %v, want exactly one", keys)
	}
	if n := count(t, `SELECT count(*) FROM vendor_invoices WHERE vendor_id = $1 AND buyer_id = $2`, o.VendorID, o.BuyerID); n != 1 {
		t.Errorf("invoice rows = %d, want 1", n)
	}
}

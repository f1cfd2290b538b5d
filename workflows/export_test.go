package workflows

import (
	"errors"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/k2kinvoice/autoinvoice/activities"
	"github.com/k2kinvoice/autoinvoice/internal/invoice"
)

func sendToAccounting(key string) signal {
	return signal{SignalSendToAccounting, invoice.ActionRequest{Actor: accounting, IdempotencyKey: key}}
}

func returnToApproved(key string) signal {
	return signal{SignalReturnToApproved, invoice.ActionRequest{Actor: accounting, IdempotencyKey: key}}
}

func wantSystem(from, to invoice.Status, code string) want {
	return want{kind: invoice.EventTransition, from: from, to: to, code: code}
}

var wantSent = want{kind: invoice.EventTransition, action: invoice.ActionSendToAccounting, from: invoice.StatusA, to: invoice.StatusES}

// For a buyer that exports: approved for payment, the invoice is sent (ES) and synchronized (S)
// with the accounting system's reference; paid from S.
func TestExport_SentOnApprovalAndPaidFromS(t *testing.T) {
	h := newHarness(t)
	h.eligibility = invoice.Eligibility{Eligible: true, Exports: true}
	var synced State
	h.send(time.Minute, approve("approve-1", procurement), approvePayment("approve-payment-1", accounting))
	h.at(2*time.Minute, func() { synced = h.state() })
	h.send(3*time.Minute, markPaid("mark-paid-1", accounting))
	h.run()
	h.assertPaid()
	h.assertEvents(h.recorded(), wantCreated, wantApprove, wantApprovePayment, wantSent,
		wantSystem(invoice.StatusES, invoice.StatusS, "export_synchronized"), transition(invoice.ActionMarkPaid, invoice.StatusS, invoice.StatusP))
	if synced.Status != invoice.StatusS || synced.Export == nil || synced.Export.Reference != "ACC-1" || synced.Export.Failure != "" {
		t.Errorf("after the export: status %s export %+v, want S with reference ACC-1", synced.Status, synced.Export)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.exportCalls) != 1 || h.exportCalls[0].InvoiceID != testInvoiceID || h.exportCalls[0].Revision != 1 ||
		!strings.HasPrefix(h.exportCalls[0].Key, h.wid+"#export-") {
		t.Errorf("ExportInvoice calls = %+v", h.exportCalls)
	}
}

// Refused by the accounting system: F with its reason; sent again by accounting: S; returned to
// approved: A, then paid from A.
func TestExport_RefusedRetriedReturned(t *testing.T) {
	h := newHarness(t)
	h.eligibility = invoice.Eligibility{Eligible: true, Exports: true}
	h.exportErr = func(n int) error {
		if n == 1 {
			return temporal.NewNonRetryableApplicationError("the accounting system refused the invoice: 422 unknown cost centre", activities.ErrTypeExportRefused, nil)
		}
		return nil
	}
	var failed State
	h.send(time.Minute, approve("approve-1", procurement), approvePayment("approve-payment-1", accounting))
	h.at(2*time.Minute, func() { failed = h.state() })
	h.send(3*time.Minute, sendToAccounting("send-again"))
	h.send(4*time.Minute, returnToApproved("back"))
	h.send(5*time.Minute, markPaid("mark-paid-1", accounting))
	h.run()
	h.assertPaid()
	h.assertEvents(h.recorded(), wantCreated, wantApprove, wantApprovePayment, wantSent,
		wantSystem(invoice.StatusES, invoice.StatusF, "export_failed"),
		transition(invoice.ActionSendToAccounting, invoice.StatusF, invoice.StatusES),
		wantSystem(invoice.StatusES, invoice.StatusS, "export_synchronized"),
		transition(invoice.ActionReturnToApproved, invoice.StatusS, invoice.StatusA), wantMarkPaid)
	if failed.Status != invoice.StatusF || failed.Export == nil || !strings.Contains(failed.Export.Failure, "unknown cost centre") {
		t.Errorf("after the refusal: status %s export %+v, want F with the reason", failed.Status, failed.Export)
	}
}

// An accounting system that keeps failing is retried for the export window, then the invoice
// goes to F saying so.
func TestExport_KeepsFailingPastTheWindow(t *testing.T) {
	h := newHarness(t)
	h.eligibility = invoice.Eligibility{Eligible: true, Exports: true}
	h.exportErr = func(int) error { return errors.New("connection refused") }
	var failed State
	h.send(time.Minute, approve("approve-1", procurement), approvePayment("approve-payment-1", accounting))
	h.at(time.Minute+11*time.Minute, func() { failed = h.state() })
	h.send(time.Minute+12*time.Minute, returnToApproved("back"), markPaid("mark-paid-1", accounting))
	h.runWith(ConfirmOrder{Order: testOrder(), ExportWindow: 10 * time.Minute})
	h.assertPaid()
	if failed.Status != invoice.StatusF || failed.Export == nil || !strings.Contains(failed.Export.Failure, "did not take it within 10m0s") {
		t.Errorf("after the window: status %s export %+v, want F saying the window passed", failed.Status, failed.Export)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.exportCalls) < 3 {
		t.Errorf("%d attempts within the window, want retries", len(h.exportCalls))
	}
}

// Without an export the invoice stays in A, and send_to_accounting is refused.
func TestExport_NoneConfigured(t *testing.T) {
	h := newHarness(t)
	h.send(time.Minute, approve("approve-1", procurement), approvePayment("approve-payment-1", accounting), sendToAccounting("send"))
	h.send(2*time.Minute, markPaid("mark-paid-1", accounting))
	h.run()
	h.assertPaid()
	h.assertEvents(h.recorded(), wantCreated, wantApprove, wantApprovePayment,
		refused(invoice.ActionSendToAccounting, invoice.StatusA, invoice.RefusedWrongStatus), wantMarkPaid)
}

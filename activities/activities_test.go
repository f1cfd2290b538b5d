package activities_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/k2kinvoice/autoinvoice/activities"

	"github.com/k2kinvoice/autoinvoice/internal/blob"
	"github.com/k2kinvoice/autoinvoice/internal/invoice"
	"github.com/k2kinvoice/autoinvoice/internal/pdf"
	"github.com/k2kinvoice/autoinvoice/internal/store"
)

func TestVerifyEligibility(t *testing.T) {
	for _, tc := range []struct {
		name                    string
		vendorSync, buyerUpload bool
		connection              store.ConnectionStatus
		want                    invoice.Eligibility
	}{
		{"eligible", true, true, store.ConnectionActive, invoice.Eligibility{Eligible: true}},
		{"no connection", true, true, "", invoice.Eligibility{Reason: invoice.ReasonNoConnection}},
		{"suspended", true, true, store.ConnectionStatus("suspended"), invoice.Eligibility{Reason: invoice.ReasonConnectionInactive}},
		{"vendor off", false, true, store.ConnectionActive, invoice.Eligibility{Reason: invoice.ReasonVendorSyncDisabled}},
		{"buyer off", true, false, store.ConnectionActive, invoice.Eligibility{Reason: invoice.ReasonBuyerUploadDisabled}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := parties(t, tc.vendorSync, tc.buyerUpload, tc.connection)
			var got invoice.Eligibility
			if err := execute(t, &got, real.VerifyEligibility, activities.EligibilityInput{VendorID: o.VendorID, BuyerID: o.BuyerID}); err != nil {
				t.Fatal(err)
			}
			if got.Eligible != tc.want.Eligible || got.Reason != tc.want.Reason {
				t.Errorf("eligibility = %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestStorePDF: a rendered PDF and a vendor's staged one land at their content-addressed keys,
// once however often the activity runs; a staged file that is missing, not a PDF or too large is
// a non-retryable InvalidPDF.
func TestStorePDF(t *testing.T) {
	ctx := context.Background()
	o := parties(t, true, true, store.ConnectionActive)
	at := time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)
	var first, again invoice.Document
	for _, doc := range []*invoice.Document{&first, &again} {
		if err := execute(t, doc, real.StorePDF, activities.StorePDFInput{Order: o, Revision: 1, RenderedAt: at}); err != nil {
			t.Fatal(err)
		}
	}
	data, sum, err := real.Blobs.Get(ctx, first.Key, 1<<20)
	if err != nil || first != again || first.Source != invoice.PDFRendered || sum != first.SHA256 ||
		int64(len(data)) != first.Size || !strings.HasPrefix(first.Key, "invoices/"+o.BuyerID+"/"+o.VendorID+"/") {
		t.Errorf("rendered: %+v then %+v (object %d bytes, sha %s, %v)", first, again, len(data), sum, err)
	}
	if keys, _ := real.Blobs.List(ctx, "invoices/"+o.BuyerID+"/"); len(keys) != 1 {
		t.Errorf("objects after two runs: %v, want one", keys)
	}

	vendorPDF, err := pdf.Render(o, 9, at)
	if err != nil {
		t.Fatal(err)
	}
	staged := blob.StagingKey(blob.SHA256Hex(vendorPDF))
	if err := real.Blobs.Put(ctx, staged, vendorPDF); err != nil {
		t.Fatal(err)
	}
	var vendor invoice.Document
	if err := execute(t, &vendor, real.StorePDF, activities.StorePDFInput{Order: o, Revision: 2, StagingKey: staged}); err != nil {
		t.Fatal(err)
	}
	if vendor.Source != invoice.PDFFromVendor || vendor.SHA256 != blob.SHA256Hex(vendorPDF) || !strings.Contains(vendor.Key, "/r2/") {
		t.Errorf("vendor PDF stored as %+v", vendor)
	}

	notPDF := []byte("plain text, not a PDF")
	tooLarge := append([]byte("%PDF-1.4\n"), make([]byte, 70<<10)...)
	tooLarge = append(tooLarge, []byte("\n%%EOF")...)
	for name, body := range map[string][]byte{"not a PDF": notPDF, "too large": tooLarge} {
		key := blob.StagingKey(blob.SHA256Hex(body))
		if err := real.Blobs.Put(ctx, key, body); err != nil {
			t.Fatal(err)
		}
		wantType(t, execute(t, nil, real.StorePDF, activities.StorePDFInput{Order: o, Revision: 3, StagingKey: key}), activities.ErrTypeInvalidPDF)
		t.Logf("%s: refused", name)
	}
	missing := blob.StagingKey(strings.Repeat("0", 64))
	wantType(t, execute(t, nil, real.StorePDF, activities.StorePDFInput{Order: o, Revision: 3, StagingKey: missing}), activities.ErrTypeInvalidPDF)
}

// createInput is the invoice of order o for workflow wf, with its creation event.
func createInput(o invoice.Order, wf string) activities.CreateInvoiceInput {
	return activities.CreateInvoiceInput{WorkflowID: wf, Order: o,
		Document: invoice.Document{Key: "invoices/x.pdf", Size: 10, SHA256: strings.Repeat("ab", 32), Source: invoice.PDFRendered},
		Event: invoice.Event{Key: wf + "#1", WorkflowID: wf, VendorID: o.VendorID, BuyerID: o.BuyerID, PONumber: o.PONumber,
			Kind: invoice.EventInvoiceCreated, To: invoice.StatusAP, Revision: 1, OccurredAt: time.Now()}}
}

// TestCreateAPInvoice: created once per workflow; another order's invoice number is a
// non-retryable InvoiceNumberTaken; data PostgreSQL refuses is a non-retryable Unprocessable.
func TestCreateAPInvoice(t *testing.T) {
	o := parties(t, true, true, store.ConnectionActive)
	wf := "wf-" + o.PONumber
	var id, again int64
	for _, out := range []*int64{&id, &again} {
		if err := execute(t, out, real.CreateAPInvoice, createInput(o, wf)); err != nil {
			t.Fatal(err)
		}
	}
	if id <= 0 || again != id {
		t.Errorf("invoice IDs %d then %d, want the same one", id, again)
	}
	other := o
	other.PONumber += "-2"
	wantType(t, execute(t, nil, real.CreateAPInvoice, createInput(other, wf+"-2")), activities.ErrTypeInvoiceNumberTaken)
	bad := o
	bad.PONumber, bad.InvoiceNumber = "PO\x00", "INV-NUL"
	wantType(t, execute(t, nil, real.CreateAPInvoice, createInput(bad, wf+"-nul")), activities.ErrTypeUnprocessable)
}

// TestRecordEventAndReviseInvoice: a transition moves the row once; a stale one is a
// non-retryable StatusConflict; a revision is stored once and another invoice's number is a
// non-retryable InvoiceNumberTaken.
func TestRecordEventAndReviseInvoice(t *testing.T) {
	ctx := context.Background()
	o := parties(t, true, true, store.ConnectionActive)
	wf := "wf-" + o.PONumber
	var id int64
	if err := execute(t, &id, real.CreateAPInvoice, createInput(o, wf)); err != nil {
		t.Fatal(err)
	}
	approve := invoice.Event{Key: wf + "#2", WorkflowID: wf, InvoiceID: id, VendorID: o.VendorID, BuyerID: o.BuyerID,
		PONumber: o.PONumber, Kind: invoice.EventTransition, Action: invoice.ActionApprove,
		Actor: invoice.Actor{CompanyID: o.BuyerID, UserID: "alice", Role: invoice.RoleProcurement},
		From:  invoice.StatusAP, To: invoice.StatusAA, Revision: 1, OccurredAt: time.Now()}
	for range 2 {
		if err := execute(t, nil, real.RecordEvent, approve); err != nil {
			t.Fatal(err)
		}
	}
	stale := approve
	stale.Key = wf + "#3"
	wantType(t, execute(t, nil, real.RecordEvent, stale), activities.ErrTypeStatusConflict)

	revised := o
	revised.InvoiceNumber, revised.TotalMinor = o.InvoiceNumber+"-R2", 1000
	update := activities.ReviseInput{InvoiceID: id, Revision: 2, Order: revised,
		Document: invoice.Document{Key: "invoices/r2.pdf", Size: 11, SHA256: strings.Repeat("cd", 32), Source: invoice.PDFFromVendor},
		Event: invoice.Event{Key: wf + "#4", WorkflowID: wf, InvoiceID: id, VendorID: o.VendorID, BuyerID: o.BuyerID,
			PONumber: o.PONumber, Kind: invoice.EventTransition, Action: invoice.ActionVendorUpdate,
			Actor: invoice.Actor{CompanyID: o.VendorID, UserID: "v", Role: invoice.RoleVendor},
			From:  invoice.StatusAA, To: invoice.StatusAP, UpdatePending: true, Revision: 2, OccurredAt: time.Now()}}
	for range 2 {
		if err := execute(t, nil, real.ReviseInvoice, update); err != nil {
			t.Fatal(err)
		}
	}
	inv, err := real.Store.InvoiceByWorkflowID(ctx, wf)
	if err != nil || inv.Status != invoice.StatusAP || inv.CurrentRevision != 2 || inv.InvoiceNumber != revised.InvoiceNumber {
		t.Errorf("after the revision: %+v (%v), want AP at revision 2 with the new number", inv, err)
	}

	taker := parties(t, true, true, store.ConnectionActive)
	taker.VendorID, taker.BuyerID = o.VendorID, o.BuyerID
	taker.InvoiceNumber = "TAKEN-" + o.PONumber
	var otherID int64
	if err := execute(t, &otherID, real.CreateAPInvoice, createInput(taker, wf+"-other")); err != nil {
		t.Fatal(err)
	}
	taken := update
	taken.Revision, taken.Order.InvoiceNumber = 3, taker.InvoiceNumber
	taken.Event.Key, taken.Event.From, taken.Event.Revision = wf+"#5", invoice.StatusAP, 3
	wantType(t, execute(t, nil, real.ReviseInvoice, taken), activities.ErrTypeInvoiceNumberTaken)
	moved := update
	moved.Revision, moved.Order.InvoiceNumber = 3, o.InvoiceNumber+"-R3"
	moved.Event.Key, moved.Event.From, moved.Event.Revision = wf+"#6", invoice.StatusA, 3 // the row is in AP
	wantType(t, execute(t, nil, real.ReviseInvoice, moved), activities.ErrTypeStatusConflict)
}

// TestNotifyIsRetired: the Notify that older runs still schedule succeeds without sending
// anything (no hook is configured anywhere any more).
func TestNotifyIsRetired(t *testing.T) {
	if err := execute(t, nil, real.Notify, activities.Notification{EventKey: "wf#1"}); err != nil {
		t.Errorf("Notify = %v, want nil", err)
	}
}

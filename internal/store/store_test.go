package store_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/k2kinvoice/autoinvoice/internal/invoice"
	"github.com/k2kinvoice/autoinvoice/internal/store"
	"github.com/k2kinvoice/autoinvoice/internal/testenv"
)

var databaseURL string

func TestMain(m *testing.M) {
	ctx := context.Background()
	url, drop, err := testenv.NewDatabase(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "store tests:", err)
		os.Exit(1)
	}
	databaseURL = url
	code := m.Run()
	drop()
	os.Exit(code)
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// open returns a store on the test database with the schema applied.
func open(t *testing.T) *store.Store {
	t.Helper()
	return openAt(t, databaseURL)
}

// openAt returns a store on the database at url with the schema applied.
func openAt(t *testing.T, url string) *store.Store {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	if err := st.Migrate(ctx, quiet); err != nil {
		t.Fatal(err)
	}
	return st
}

// seed creates a vendor and a buyer with unique IDs for one test, and returns an order between them.
func seed(t *testing.T, st *store.Store) invoice.Order {
	t.Helper()
	ctx := context.Background()
	suffix := fmt.Sprintf("%d", time.Now().UnixNano())
	o := invoice.Order{
		VendorID: "V" + suffix, BuyerID: "B" + suffix, PONumber: "PO-1", InvoiceNumber: "INV-1",
		IssueDate: "2026-11-27", Currency: "EUR", TotalMinor: 1000, POTotalMinor: 1000,
		Lines: []invoice.Line{{Description: "Widget", Quantity: 2, UnitPriceMinor: 500}},
	}
	for _, c := range []store.Company{{ID: o.VendorID, Name: "Vendor", AutoInvoiceSync: true}, {ID: o.BuyerID, Name: "Buyer", AcceptK2KInvoices: true}} {
		if err := st.CompanyUpsert(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.ConnectionUpsert(ctx, o.VendorID, o.BuyerID, store.ConnectionActive); err != nil {
		t.Fatal(err)
	}
	return o
}

func newInvoice(o invoice.Order, workflowID string) store.NewInvoice {
	return store.NewInvoice{
		WorkflowID: workflowID, Order: o,
		Document: invoice.Document{Key: "invoices/x.pdf", Size: 10, SHA256: fmt.Sprintf("%064x", 1), Source: invoice.PDFRendered},
		Event: invoice.Event{Key: workflowID + "#1", WorkflowID: workflowID, VendorID: o.VendorID, BuyerID: o.BuyerID,
			PONumber: o.PONumber, Kind: invoice.EventInvoiceCreated, To: invoice.StatusAP, OccurredAt: time.Now()},
	}
}

// freshDatabase creates an empty database for one test, dropped when it ends.
func freshDatabase(t *testing.T) string {
	t.Helper()
	url, drop, err := testenv.NewDatabase(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(drop)
	return url
}

func TestMigrateConcurrentlyIsSafeAndRepeatable(t *testing.T) {
	ctx := context.Background()
	url := freshDatabase(t)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() {
			st, err := store.Open(ctx, url)
			if err != nil {
				errs[i] = err
				return
			}
			defer st.Close()
			errs[i] = st.Migrate(ctx, quiet)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("worker %d: migrate: %v", i, err)
		}
	}
	st, err := store.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Migrate(ctx, quiet); err != nil {
		t.Errorf("migrate again: %v", err)
	}
}

func TestConnectionFacts(t *testing.T) {
	st := open(t)
	ctx := context.Background()
	o := seed(t, st)
	f, err := st.ConnectionFacts(ctx, o.VendorID, o.BuyerID)
	if err != nil {
		t.Fatal(err)
	}
	want := invoice.ConnectionFacts{VendorKnown: true, BuyerKnown: true, ConnectionFound: true, ConnectionActive: true, VendorSyncEnabled: true, BuyerUploadOn: true}
	if f != want {
		t.Errorf("facts = %+v, want %+v", f, want)
	}
	if err := st.ConnectionUpsert(ctx, o.VendorID, o.BuyerID, store.ConnectionSuspended); err != nil {
		t.Fatal(err)
	}
	if f, _ = st.ConnectionFacts(ctx, o.VendorID, o.BuyerID); f.ConnectionActive || !f.ConnectionFound {
		t.Errorf("suspended connection: facts = %+v", f)
	}
	// The reverse direction is another connection, which does not exist.
	if f, _ = st.ConnectionFacts(ctx, o.BuyerID, o.VendorID); f.ConnectionFound {
		t.Errorf("reverse connection found: %+v", f)
	}
	if f, _ = st.ConnectionFacts(ctx, "NOPE", o.BuyerID); f.VendorKnown || !f.BuyerKnown {
		t.Errorf("unknown vendor: facts = %+v", f)
	}
	missing, err := st.CompaniesMissing(ctx, o.VendorID, "NOPE", o.BuyerID)
	if err != nil || len(missing) != 1 || missing[0] != "NOPE" {
		t.Errorf("CompaniesMissing = %v, %v; want [NOPE]", missing, err)
	}
}

func TestInvoiceCreateIsIdempotentAndUnique(t *testing.T) {
	st := open(t)
	ctx := context.Background()
	o := seed(t, st)
	first, err := st.InvoiceCreate(ctx, newInvoice(o, "wf-"+o.VendorID))
	if err != nil {
		t.Fatal(err)
	}
	if first.Status != invoice.StatusAP || first.CurrentRevision != 1 || first.TotalMinor != 1000 {
		t.Errorf("created %+v, want AP, revision 1, 1000", first)
	}
	again, err := st.InvoiceCreate(ctx, newInvoice(o, "wf-"+o.VendorID))
	if err != nil || again.ID != first.ID {
		t.Errorf("second create = %d, %v; want the same invoice %d", again.ID, err, first.ID)
	}
	rev, err := st.RevisionGet(ctx, first.ID, 1)
	if err != nil || rev.TotalMinor != 1000 || len(rev.Lines) != 1 || rev.Document.Source != invoice.PDFRendered {
		t.Errorf("revision 1 = %+v, %v", rev, err)
	}
	events, err := st.EventsByWorkflowID(ctx, "wf-"+o.VendorID)
	if err != nil || len(events) != 1 || events[0].Kind != invoice.EventInvoiceCreated || events[0].InvoiceID != first.ID {
		t.Errorf("events = %+v, %v; want one invoice_created", events, err)
	}

	// Another order (another workflow) with the same invoice number is refused.
	other := o
	other.PONumber = "PO-2"
	_, err = st.InvoiceCreate(ctx, newInvoice(other, "wf2-"+o.VendorID))
	if !errors.Is(err, store.ErrConflict) {
		t.Errorf("same invoice number for another order: err = %v, want ErrConflict", err)
	}
}

func TestEventRecordGuardsTransitionsAndIsIdempotent(t *testing.T) {
	st := open(t)
	ctx := context.Background()
	o := seed(t, st)
	wf := "wf-" + o.VendorID
	inv, err := st.InvoiceCreate(ctx, newInvoice(o, wf))
	if err != nil {
		t.Fatal(err)
	}
	approve := invoice.Event{Key: wf + "#2", WorkflowID: wf, InvoiceID: inv.ID, VendorID: o.VendorID, BuyerID: o.BuyerID,
		PONumber: o.PONumber, Kind: invoice.EventTransition, Action: invoice.ActionApprove,
		Actor: invoice.Actor{CompanyID: o.BuyerID, UserID: "alice", Role: invoice.RoleProcurement},
		From:  invoice.StatusAP, To: invoice.StatusAA, OccurredAt: time.Now()}
	for range 2 { // the retry of the same event is a no-op
		if err := st.EventRecord(ctx, approve); err != nil {
			t.Fatal(err)
		}
	}
	got, _ := st.InvoiceByWorkflowID(ctx, wf)
	if got.Status != invoice.StatusAA {
		t.Errorf("status = %s, want AA", got.Status)
	}
	// A transition from a status the row is not in is refused and stores nothing.
	stale := approve
	stale.Key = wf + "#3"
	if err := st.EventRecord(ctx, stale); !errors.Is(err, store.ErrConflict) {
		t.Errorf("stale transition: err = %v, want ErrConflict", err)
	}
	refused := approve
	refused.Key, refused.Kind, refused.To, refused.From, refused.Code = wf+"#4", invoice.EventRefused, invoice.StatusAA, invoice.StatusAA, "not_allowed_in_state"
	if err := st.EventRecord(ctx, refused); err != nil {
		t.Fatal(err)
	}
	events, _ := st.EventsByWorkflowID(ctx, wf)
	var kinds []invoice.EventKind
	for _, e := range events {
		kinds = append(kinds, e.Kind)
	}
	if fmt.Sprint(kinds) != "[invoice_created transition refused]" {
		t.Errorf("event kinds = %v, want [invoice_created transition refused]", kinds)
	}
	if events[1].Actor.UserID != "alice" || events[1].From != invoice.StatusAP || events[1].To != invoice.StatusAA {
		t.Errorf("transition event = %+v", events[1])
	}
}

func TestEventsAreAppendOnly(t *testing.T) {
	st := open(t)
	ctx := context.Background()
	o := seed(t, st)
	wf := "wf-" + o.VendorID
	if _, err := st.InvoiceCreate(ctx, newInvoice(o, wf)); err != nil {
		t.Fatal(err)
	}
	err := st.ExecForTest(ctx, `UPDATE invoice_events SET reason = 'x' WHERE workflow_id = $1`, wf)
	if err == nil {
		t.Fatal("UPDATE of invoice_events succeeded, want it refused")
	}
	if err := st.ExecForTest(ctx, `DELETE FROM invoice_events WHERE workflow_id = $1`, wf); err == nil {
		t.Fatal("DELETE of invoice_events succeeded, want it refused")
	}
}

// TestPermanentErrors: values PostgreSQL refuses come back as ErrInvalidData (not retried by the
// activities), while an audit row of refused input is written with its bad bytes escaped.
func TestPermanentErrors(t *testing.T) {
	st := open(t)
	ctx := context.Background()
	o := seed(t, st)
	bad := o
	bad.PONumber = "PO\x00" // Order.Validate refuses it; the store is the last line
	if _, err := st.InvoiceCreate(ctx, newInvoice(bad, "wf-nul-"+o.VendorID)); !errors.Is(err, store.ErrInvalidData) {
		t.Errorf("invoice with NUL in the PO number: err = %v, want ErrInvalidData", err)
	}
	wf := "wf-poison-" + o.VendorID
	refused := invoice.Event{Key: wf + "#refused/approve/k\x00", WorkflowID: wf, VendorID: o.VendorID, BuyerID: o.BuyerID,
		PONumber: o.PONumber, Kind: invoice.EventRefused, Action: "approve\xff",
		Actor: invoice.Actor{CompanyID: o.BuyerID + "\x00", UserID: strings.Repeat("u", 10_000), Role: "procurement\u202e"},
		Code:  "invalid_request", Reason: "why\x00", OccurredAt: time.Now()}
	for range 2 { // written once, whatever its key held
		if err := st.EventRecord(ctx, refused); err != nil {
			t.Fatalf("audit row of poisoned input: %v", err)
		}
	}
	events, err := st.EventsByWorkflowID(ctx, wf)
	if err != nil || len(events) != 1 {
		t.Fatalf("events = %d (%v), want 1", len(events), err)
	}
	e := events[0]
	if e.Actor.CompanyID != o.BuyerID+`\u0000` || e.Action != `approve\xff` || e.Reason != `why\u0000` ||
		e.Actor.Role != `procurement\u202e` || len(e.Actor.UserID) > 200 {
		t.Errorf("stored row = %+v, want the bad bytes escaped and the long user cut", e)
	}
}

// TestSeparationOfDutiesSetting: companies that existed before the setting keep working as they
// did (off); companies created afterwards have it on unless told otherwise; the eligibility
// facts carry the buyer's.
func TestSeparationOfDutiesSetting(t *testing.T) {
	ctx := context.Background()
	url := freshDatabase(t)
	st, err := store.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	if err := st.MigrateUpToForTest(ctx, 4); err != nil {
		t.Fatal(err)
	}
	insert := `INSERT INTO companies (id, name, auto_invoice_sync, accept_k2k_invoices) VALUES ($1, $2, true, true)`
	if err := st.ExecForTest(ctx, insert, "OLD-BUYER", "Before the setting"); err != nil {
		t.Fatal(err)
	}
	if err := st.Migrate(ctx, quiet); err != nil {
		t.Fatal(err)
	}
	if err := st.ExecForTest(ctx, insert, "NEW-BUYER", "After the setting"); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]bool{"OLD-BUYER": false, "NEW-BUYER": true} {
		c, err := st.CompanyGet(ctx, id)
		if err != nil || c.SeparateDuties != want {
			t.Errorf("%s: separate duties %v (%v), want %v", id, c.SeparateDuties, err, want)
		}
	}
	o := seed(t, st)
	for _, want := range []bool{true, false} {
		if err := st.CompanyUpsert(ctx, store.Company{ID: o.BuyerID, Name: "Buyer", AcceptK2KInvoices: true, SeparateDuties: want}); err != nil {
			t.Fatal(err)
		}
		f, err := st.ConnectionFacts(ctx, o.VendorID, o.BuyerID)
		if err != nil || f.BuyerSeparatesDuties != want {
			t.Errorf("upserted with separate duties %v: facts %+v (%v)", want, f, err)
		}
	}
}

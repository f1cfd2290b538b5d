package activities_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/k2kinvoice/autoinvoice/activities"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/k2kinvoice/autoinvoice/internal/invoice"
	"github.com/k2kinvoice/autoinvoice/internal/store"
	"github.com/k2kinvoice/autoinvoice/internal/testenv"
)

// real are the activities on a fresh database of the test PostgreSQL and a versitygw bucket.
var real *activities.Activities

func TestMain(m *testing.M) {
	code, err := run(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "activities:", err)
		os.Exit(1)
	}
	os.Exit(code)
}

func run(m *testing.M) (int, error) {
	ctx := context.Background()
	dbURL, drop, err := testenv.NewDatabase(ctx)
	if err != nil {
		return 0, err
	}
	defer drop()
	st, err := store.Open(ctx, dbURL)
	if err != nil {
		return 0, err
	}
	defer st.Close()
	if err := st.Migrate(ctx, slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		return 0, err
	}
	s3, err := testenv.StartS3(ctx)
	if err != nil {
		return 0, err
	}
	defer s3.Stop()
	if err := testenv.Setenv(s3.Env("activities-test")); err != nil {
		return 0, err
	}
	blobs, err := s3.Bucket(ctx, "activities-test")
	if err != nil {
		return 0, err
	}
	real = &activities.Activities{Store: st, Blobs: blobs, MaxPDFBytes: 64 << 10}
	return m.Run(), nil
}

// execute runs one activity in the SDK's activity test environment (the activity's real code,
// with its logger and metrics handler) and decodes its result into out.
func execute(t *testing.T, out any, activity any, args ...any) error {
	t.Helper()
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestActivityEnvironment()
	env.RegisterActivity(real)
	v, err := env.ExecuteActivity(activity, args...)
	if err == nil && out != nil {
		if derr := v.Get(out); derr != nil {
			t.Fatal(derr)
		}
	}
	return err
}

// wantType checks that err is a non-retryable application error of type typ.
func wantType(t *testing.T, err error, typ string) {
	t.Helper()
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || appErr.Type() != typ || !appErr.NonRetryable() {
		t.Errorf("error = %v, want a non-retryable %s", err, typ)
	}
}

var seq int

// parties creates a vendor and a buyer with their settings and an active connection unless said
// otherwise, and returns an order between them.
func parties(t *testing.T, vendorSync, buyerUpload bool, connection store.ConnectionStatus) invoice.Order {
	t.Helper()
	ctx := context.Background()
	seq++
	n := fmt.Sprintf("%d-%d", time.Now().UnixNano()%1e9, seq)
	o := invoice.Order{VendorID: "V-" + n, BuyerID: "B-" + n, PONumber: "PO-" + n, InvoiceNumber: "INV-" + n,
		IssueDate: "2026-11-27", Currency: "EUR", TotalMinor: 1000, POTotalMinor: 1000,
		Lines: []invoice.Line{{Description: "Widget", Quantity: 2, UnitPriceMinor: 500}}}
	for _, c := range []store.Company{{ID: o.VendorID, Name: "Vendor", AutoInvoiceSync: vendorSync},
		{ID: o.BuyerID, Name: "Buyer", AcceptK2KInvoices: buyerUpload}} {
		if err := real.Store.CompanyUpsert(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	if connection != "" {
		if err := real.Store.ConnectionUpsert(ctx, o.VendorID, o.BuyerID, connection); err != nil {
			t.Fatal(err)
		}
	}
	return o
}

package integration

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.temporal.io/sdk/worker"

	"github.com/k2kinvoice/autoinvoice/internal/app"
	"github.com/k2kinvoice/autoinvoice/internal/config"
	"github.com/k2kinvoice/autoinvoice/internal/invoice"
	"github.com/k2kinvoice/autoinvoice/internal/invoiceclient"
	"github.com/k2kinvoice/autoinvoice/internal/payloadcrypt"
	"github.com/k2kinvoice/autoinvoice/internal/store"
	"github.com/k2kinvoice/autoinvoice/internal/testenv"
)

const bucket = "k2k-integration"

var (
	deps       *app.Deps
	client     *invoiceclient.Client
	starterBin string
)

func TestMain(m *testing.M) {
	code, err := run(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "integration:", err)
		os.Exit(1)
	}
	os.Exit(code)
}

// run starts the servers and a worker, runs the tests, and stops everything it started.
func run(m *testing.M) (int, error) {
	ctx := context.Background()
	dbURL, drop, err := testenv.NewDatabase(ctx)
	if err != nil {
		return 0, err
	}
	defer drop()
	s3, err := testenv.StartS3(ctx)
	if err != nil {
		return 0, err
	}
	defer s3.Stop()
	temporal, err := testenv.StartTemporal(ctx)
	if err != nil {
		return 0, err
	}
	defer func() { _ = temporal.Stop() }()

	env := s3.Env(bucket)
	env["DATABASE_URL"] = dbURL
	env["TEMPORAL_ADDRESS"] = temporal.FrontendHostPort()
	env["TEMPORAL_NAMESPACE"] = "default"
	env["K2K_LOG_LEVEL"] = "warn"
	env["K2K_PAYLOAD_KEYS"] = payloadcrypt.TestKeys
	if err := testenv.Setenv(env); err != nil {
		return 0, err
	}
	if _, err := s3.Bucket(ctx, bucket); err != nil {
		return 0, err
	}
	cfg, err := config.Load()
	if err != nil {
		return 0, err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if deps, err = app.Connect(ctx, cfg, log); err != nil {
		return 0, err
	}
	defer deps.Close()
	if err := deps.Store.Migrate(ctx, slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		return 0, err
	}
	client = deps.InvoiceClient()
	w := app.NewWorker(deps.Temporal, deps.Activities(), worker.Options{})
	if err := w.Start(); err != nil {
		return 0, err
	}
	defer w.Stop()

	dir, err := os.MkdirTemp("", "k2k-starter-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	starterBin = filepath.Join(dir, "starter")
	if out, err := exec.Command("go", "build", "-o", starterBin, "../starter").CombinedOutput(); err != nil {
		return 0, fmt.Errorf("build starter: %v\n%s", err, out)
	}
	return m.Run(), nil
}

var partySeq atomic.Int64

// parties creates a vendor and a buyer unique to one test, with the given settings and a
// connection in the given status (none when empty), and returns a valid order between them.
func parties(t *testing.T, vendorSync, buyerUpload bool, connection store.ConnectionStatus) invoice.Order {
	t.Helper()
	ctx := context.Background()
	n := fmt.Sprintf("%d-%d", time.Now().UnixNano()%1e9, partySeq.Add(1))
	o := invoice.Order{
		VendorID: "VEND-" + n, BuyerID: "BUY-" + n, PONumber: "PO/" + n, InvoiceNumber: "INV-" + n,
		IssueDate: "2026-11-27", Currency: "EUR", TotalMinor: 131850, POTotalMinor: 130000,
		Lines: []invoice.Line{
			{Description: "Steel brackets, 40 mm", Quantity: 500, UnitPriceMinor: 189},
			{Description: "Assembly service", Quantity: 8, UnitPriceMinor: 4500},
			{Description: "Freight", Quantity: 1, UnitPriceMinor: 1350},
		},
	}
	for _, c := range []store.Company{
		{ID: o.VendorID, Name: "Vendor " + n, AutoInvoiceSync: vendorSync},
		{ID: o.BuyerID, Name: "Buyer " + n, AcceptK2KInvoices: buyerUpload},
	} {
		if err := deps.Store.CompanyUpsert(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	if connection != "" {
		if err := deps.Store.ConnectionUpsert(ctx, o.VendorID, o.BuyerID, connection); err != nil {
			t.Fatal(err)
		}
	}
	return o
}

// eligible is parties with an active connection and both settings on.
func eligible(t *testing.T) invoice.Order { return parties(t, true, true, store.ConnectionActive) }

// within gives a context for one step of a test.
func within(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// count runs a SELECT count(*) on the test database, straight with pgx, to check what the store
// wrote without going through it.
func count(t *testing.T, sql string, args ...any) int {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

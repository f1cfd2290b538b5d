package integration

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/k2kinvoice/autoinvoice/internal/app"
	"github.com/k2kinvoice/autoinvoice/internal/invoice"
	"github.com/k2kinvoice/autoinvoice/internal/invoiceclient"
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
	stack, err := testenv.StartStack(context.Background(), bucket, nil)
	if err != nil {
		return 0, err
	}
	defer stack.Stop()
	deps = stack.Deps
	client = deps.InvoiceClient()

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

// parties creates a vendor and a buyer unique to one test, with the given settings and a
// connection in the given status (none when empty), and returns a valid order between them.
func parties(t *testing.T, vendorSync, buyerUpload bool, connection store.ConnectionStatus) invoice.Order {
	t.Helper()
	o, err := testenv.Parties(context.Background(), deps.Store, vendorSync, buyerUpload, connection)
	if err != nil {
		t.Fatal(err)
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

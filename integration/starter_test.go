package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/serviceerror"

	"github.com/k2kinvoice/autoinvoice/internal/blob"
	"github.com/k2kinvoice/autoinvoice/internal/invoice"
	"github.com/k2kinvoice/autoinvoice/internal/pdf"
	"github.com/k2kinvoice/autoinvoice/internal/testenv"
	"github.com/k2kinvoice/autoinvoice/workflows"
)

// runStarter runs the built starter CLI and returns its exit code, stdout and stderr.
func runStarter(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	return runCommand(t, 60*time.Second, starterBin, args...)
}

// runCommand runs a program and returns its exit code, stdout and stderr; it fails the test when
// the program cannot run at all.
func runCommand(t *testing.T, timeout time.Duration, program string, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return runExec(t, exec.CommandContext(ctx, program, args...))
}

// runExec runs cmd and returns its exit code, stdout and stderr; it fails the test when the
// command cannot run at all.
func runExec(t *testing.T, cmd *exec.Cmd) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, stdout.String(), stderr.String()
	case errors.As(err, &exit):
		return exit.ExitCode(), stdout.String(), stderr.String()
	}
	t.Fatalf("%s: %v", cmd, err)
	return 0, "", ""
}

// writeFile writes data into the test's temporary folder.
func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// orderJSON is o as JSON with edit applied to its generic form, to make any bad input.
func orderJSON(t *testing.T, o invoice.Order, edit func(m map[string]any)) []byte {
	t.Helper()
	raw, _ := json.Marshal(o)
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	out, _ := json.Marshal(m)
	return out
}

func TestStarterRefusesBadInputBeforeStarting(t *testing.T) {
	o := eligible(t)
	line := func(m map[string]any) map[string]any { return m["lines"].([]any)[0].(map[string]any) }
	notPDF := []byte("<html>this is not a PDF</html>")
	cases := []struct {
		name      string
		order     []byte
		pdf       []byte
		wantField string
		wantRule  string
	}{
		{"missing invoice number", orderJSON(t, o, func(m map[string]any) { delete(m, "invoice_number") }), nil, "invoice_number", "is required"},
		{"missing lines", orderJSON(t, o, func(m map[string]any) { delete(m, "lines") }), nil, "lines", "at least one line"},
		{"zero total", orderJSON(t, o, func(m map[string]any) { m["total_minor"] = 0 }), nil, "total_minor", "greater than zero"},
		{"negative unit price", orderJSON(t, o, func(m map[string]any) { line(m)["unit_price_minor"] = -189 }), nil, "lines[0].unit_price_minor", "must not be negative"},
		{"negative quantity", orderJSON(t, o, func(m map[string]any) { line(m)["quantity"] = -1 }), nil, "lines[0].quantity", "greater than zero"},
		{"amount overflows int64", []byte(strings.Replace(string(orderJSON(t, o, func(map[string]any) {})), `"total_minor":131850`, `"total_minor":99999999999999999999`, 1)), nil, "total_minor", "64-bit"},
		{"line amount overflows", orderJSON(t, o, func(m map[string]any) { line(m)["quantity"] = 1 << 40; line(m)["unit_price_minor"] = 1 << 40 }), nil, "lines[0]", "overflows"},
		{"unknown currency", orderJSON(t, o, func(m map[string]any) { m["currency"] = "XYZ" }), nil, "currency", "not an ISO 4217"},
		{"lines do not add up", orderJSON(t, o, func(m map[string]any) { m["total_minor"] = 131851 }), nil, "total_minor", "sum of the lines"},
		{"unknown vendor", orderJSON(t, o, func(m map[string]any) { m["vendor_id"] = "NO-SUCH-VENDOR" }), nil, "vendor_id", "not a known company"},
		{"unknown buyer", orderJSON(t, o, func(m map[string]any) { m["buyer_id"] = "NO-SUCH-BUYER" }), nil, "buyer_id", "not a known company"},
		{"file is not a PDF", orderJSON(t, o, func(map[string]any) {}), notPDF, "pdf", "is not a PDF"},
		{"malformed JSON", []byte(`{"vendor_id": "x",`), nil, "body", "cut short"},
		{"JSON with a syntax error", []byte(`{"vendor_id": "x",,}`), nil, "body", "not valid JSON"},
		{"unknown field", orderJSON(t, o, func(m map[string]any) { m["amount_eur"] = 12.5 }), nil, "amount_eur", "not a known field"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := []string{"confirm", writeFile(t, "order.json", c.order), "--wait", "0"}
			if c.pdf != nil {
				args = append(args, "--pdf", writeFile(t, "invoice.pdf", c.pdf))
			}
			code, stdout, stderr := runStarter(t, args...)
			if code != 2 {
				t.Fatalf("exit code %d, want 2 (bad input)\nstdout: %s\nstderr: %s", code, stdout, stderr)
			}
			if want := c.wantField + ": "; !strings.Contains(stderr, want) || !strings.Contains(stderr, c.wantRule) {
				t.Errorf("stderr does not name field %q with rule %q:\n%s", c.wantField, c.wantRule, stderr)
			}
			if strings.Contains(stdout, "workflow") {
				t.Errorf("a workflow was reported started:\n%s", stdout)
			}
		})
	}
	// Nothing was started for the order, and the non-PDF was never staged.
	id := workflows.InvoiceWorkflowID(o.VendorID, o.BuyerID, o.PONumber)
	_, err := testenv.Describe(context.Background(), deps.Temporal, id)
	var notFound *serviceerror.NotFound
	if !errors.As(err, &notFound) {
		t.Errorf("describe %s after only bad input: err = %v, want NotFound", id, err)
	}
	if _, _, err := deps.Blobs.Get(context.Background(), blob.StagingKey(blob.SHA256Hex(notPDF)), 1<<20); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("the non-PDF was staged in S3: err = %v", err)
	}
}

func TestStarterConfirmsWithVendorPDFAndDrivesActions(t *testing.T) {
	o := eligible(t)
	vendorPDF, err := pdf.Render(o, 1, time.Unix(1, 0))
	if err != nil {
		t.Fatal(err)
	}
	orderFile := writeFile(t, "order.json", orderJSON(t, o, func(map[string]any) {}))
	code, stdout, stderr := runStarter(t, "confirm", orderFile, "--pdf", writeFile(t, "vendor.pdf", vendorPDF))
	if code != 0 {
		t.Fatalf("confirm: exit %d\n%s\n%s", code, stdout, stderr)
	}
	for _, want := range []string{"workflow   " + workflows.InvoiceWorkflowID(o.VendorID, o.BuyerID, o.PONumber),
		"status     AP", "sha256 " + blob.SHA256Hex(vendorPDF), "vendor)", "/namespaces/default/workflows/"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("confirm output lacks %q:\n%s", want, stdout)
		}
	}
	target := []string{"--vendor", o.VendorID, "--buyer", o.BuyerID, "--po", o.PONumber}
	code, stdout, _ = runStarter(t, append([]string{"mark-paid", "--company", o.BuyerID, "--user", "bob", "--role", "accounting",
		"--payment-date", "2026-11-30", "--payment-reference", "SEPA-9"}, target...)...)
	if code != 3 || !strings.Contains(stdout, "refused    not_allowed_in_state") {
		t.Errorf("early mark-paid: exit %d, want 3 and a refusal:\n%s", code, stdout)
	}
	code, stdout, _ = runStarter(t, append([]string{"approve", "--company", o.BuyerID, "--user", "alice", "--role", "procurement"}, target...)...)
	if code != 0 || !strings.Contains(stdout, "accepted   status AA") {
		t.Errorf("approve: exit %d:\n%s", code, stdout)
	}
	code, stdout, _ = runStarter(t, append([]string{"status", "--json"}, target...)...)
	var st workflows.State
	if code != 0 || json.Unmarshal([]byte(stdout), &st) != nil || st.Status != invoice.StatusAA || len(st.Transitions) != 1 {
		t.Errorf("status: exit %d, state %+v:\n%s", code, st, stdout)
	}
}

// TestStarterUsageErrorsAreBadInput: a command line that does not parse (a missing required flag,
// an unknown command, a role outside the list) exits 2, as the README documents for bad input.
func TestStarterUsageErrorsAreBadInput(t *testing.T) {
	for _, args := range [][]string{
		{"approve", "--vendor", "V", "--buyer", "B", "--po", "P", "--company", "B", "--user", "u"}, // no --role
		{"no-such-command"},
		{"approve", "--workflow-id", "x", "--company", "B", "--user", "u", "--role", "admin"},
	} {
		if code, _, stderr := runStarter(t, args...); code != 2 {
			t.Errorf("starter %v: exit %d, want 2\n%s", args, code, stderr)
		}
	}
	if code, stdout, _ := runStarter(t, "--help"); code != 0 || !strings.Contains(stdout, "Usage: starter") {
		t.Errorf("starter --help: exit %d, want 0 with the usage", code)
	}
}

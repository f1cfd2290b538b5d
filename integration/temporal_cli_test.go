package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/k2kinvoice/autoinvoice/internal/codecauth"
	"github.com/k2kinvoice/autoinvoice/internal/invoice"
	"github.com/k2kinvoice/autoinvoice/internal/payloadcrypt"
	"github.com/k2kinvoice/autoinvoice/internal/testenv"
	"github.com/k2kinvoice/autoinvoice/workflows"
)

// temporalCLI is the pinned Temporal CLI (testenv.TemporalCLI).
func temporalCLI(t *testing.T) string {
	t.Helper()
	p, err := testenv.TemporalCLI()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// runTemporal runs the Temporal CLI against the test server and returns its exit code, stdout
// and stderr.
// Payloads are encrypted, so the CLI decodes them through a codec server, as an operator's would.
func runTemporal(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	args = append(args, "--address", os.Getenv("TEMPORAL_ADDRESS"), "--namespace", "default", "--color", "never",
		"--codec-endpoint", codecServerURL(t), "--codec-auth", "Bearer "+codecToken)
	return runCommand(t, 30*time.Second, temporalCLI(t), args...)
}

const codecToken = "cli-test-token"

var (
	codecOnce sync.Once
	codecURL  string
)

// codecServerURL starts the codec server (as the codec-server command serves it) once.
func codecServerURL(t *testing.T) string {
	t.Helper()
	codecOnce.Do(func() {
		codec, err := payloadcrypt.ParseKeys(os.Getenv("K2K_PAYLOAD_KEYS"))
		if err != nil {
			t.Fatal(err)
		}
		log := slog.New(slog.NewTextHandler(io.Discard, nil))
		auth, err := codecauth.New(context.Background(), codecauth.Config{StaticToken: codecToken}, nil, log)
		if err != nil {
			t.Fatal(err)
		}
		codecURL = httptest.NewServer(codec.CodecServer(nil, auth, log)).URL
	})
	return codecURL
}

// actionJSON is an action as an ERP backend or an operator writes it by hand, with the documented
// JSON field names of invoice.ActionRequest. extra holds more `"name":"value"` members.
func actionJSON(t *testing.T, action invoice.Action, actor invoice.Actor, key string, extra ...string) string {
	t.Helper()
	members := append([]string{
		fmt.Sprintf(`"action":%q`, action),
		fmt.Sprintf(`"actor":{"company_id":%q,"user_id":%q,"role":%q}`, actor.CompanyID, actor.UserID, actor.Role),
		fmt.Sprintf(`"idempotency_key":%q`, key),
	}, extra...)
	s := "{" + strings.Join(members, ",") + "}"
	// Every name written here must be one the payload type knows.
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	var req invoice.ActionRequest
	if err := dec.Decode(&req); err != nil {
		t.Fatalf("%s is not an invoice.ActionRequest: %v", s, err)
	}
	return s
}

// cliState reads the invoice's state with `temporal workflow query`.
func cliState(t *testing.T, workflowID string) workflows.State {
	t.Helper()
	code, stdout, stderr := runTemporal(t, "workflow", "query", "--workflow-id", workflowID, "--type", workflows.QueryStatus, "-o", "json")
	if code != 0 {
		t.Fatalf("temporal workflow query: exit %d\n%s\n%s", code, stdout, stderr)
	}
	var out struct {
		QueryResult []workflows.State `json:"queryResult"`
	}
	if err := json.Unmarshal([]byte(stdout), &out); err != nil || len(out.QueryResult) != 1 {
		t.Fatalf("temporal workflow query output is not one state (%v):\n%s", err, stdout)
	}
	return out.QueryResult[0]
}

// cliUpdate runs `temporal workflow update execute` and returns its exit code, the answer it
// printed (when it succeeded) and its whole output.
func cliUpdate(t *testing.T, workflowID, name, input string) (int, workflows.Answer, string) {
	t.Helper()
	code, stdout, stderr := runTemporal(t, "workflow", "update", "execute", "--workflow-id", workflowID, "--name", name,
		"--input", input, "-o", "json")
	var out struct {
		Name   string           `json:"name"`
		Result workflows.Answer `json:"result"`
	}
	if code == 0 {
		if err := json.Unmarshal([]byte(stdout), &out); err != nil || out.Name != name {
			t.Fatalf("temporal workflow update execute output is not an update result (%v):\n%s", err, stdout)
		}
	}
	return code, out.Result, stdout + stderr
}

// TestTemporalCLISignalQueryAndUpdate drives an invoice with nothing but the real `temporal` CLI,
// as ops would: the documented message names and JSON payloads, the status query, and updates
// that answer accepted or refused.
func TestTemporalCLISignalQueryAndUpdate(t *testing.T) {
	o := eligible(t)
	st := confirmAndSettle(t, o, nil)
	id := st.WorkflowID
	ctx := context.Background()
	alice := buyer(o, "alice", invoice.RoleProcurement)
	bob := buyer(o, "bob", invoice.RoleAccounting)

	// A signal is fire-and-forget; the query shows its effect.
	code, stdout, stderr := runTemporal(t, "workflow", "signal", "--workflow-id", id, "--name", workflows.SignalApprove,
		"--input", actionJSON(t, invoice.ActionApprove, alice, "cli-approve"))
	if code != 0 {
		t.Fatalf("temporal workflow signal: exit %d\n%s\n%s", code, stdout, stderr)
	}
	deadline := time.Now().Add(15 * time.Second)
	for st = cliState(t, id); st.Status != invoice.StatusAA && time.Now().Before(deadline); st = cliState(t, id) {
		time.Sleep(100 * time.Millisecond)
	}
	if st.Status != invoice.StatusAA || st.WorkflowID != id || !st.Answers["cli-approve"].Accepted ||
		len(st.Transitions) != 1 || st.Transitions[0].Actor != alice {
		t.Fatalf("query after the approve signal: status %s, answers %+v, transitions %+v; want AA approved by alice",
			st.Status, st.Answers, st.Transitions)
	}

	// An update answers synchronously.
	payment := actionJSON(t, invoice.ActionApprovePayment, bob, "cli-approve-payment")
	code, answer, out := cliUpdate(t, id, workflows.SignalApprovePayment, payment)
	if code != 0 || !answer.Accepted || answer.Status != invoice.StatusA || answer.Action != invoice.ActionApprovePayment {
		t.Fatalf("update %s: exit %d, answer %+v; want accepted into A\n%s", workflows.SignalApprovePayment, code, answer, out)
	}
	if inv, err := deps.Store.InvoiceByWorkflowID(ctx, id); err != nil || inv.Status != invoice.StatusA {
		t.Errorf("invoice row status %s (%v) after the CLI update, want A", inv.Status, err)
	}
	// The same request again (the CLI makes a new update ID) gets the first answer, applied once.
	if code, again, out := cliUpdate(t, id, workflows.SignalApprovePayment, payment); code != 0 || again != answer {
		t.Errorf("repeated update: exit %d, answer %+v; want the first answer %+v\n%s", code, again, answer, out)
	}
	if n := count(t, `SELECT count(*) FROM invoice_events WHERE workflow_id = $1 AND action = 'approve_payment'`, id); n != 1 {
		t.Errorf("%d audit rows for one approve_payment sent twice, want 1", n)
	}

	// A refused update fails the command with the refusal's code and reason; nothing changes.
	noReference := actionJSON(t, invoice.ActionMarkPaid, bob, "cli-paid-no-reference", `"payment_date":"2026-11-30"`)
	code, _, out = cliUpdate(t, id, workflows.SignalMarkPaid, noReference)
	if code == 0 || !strings.Contains(out, "payment_reference: is required") || !strings.Contains(out, string(invoice.RefusedInvalid)) {
		t.Errorf("refused update: exit %d; want non-zero with code %s and the reason\n%s", code, invoice.RefusedInvalid, out)
	}
	t.Logf("refused update through the CLI prints: %s", strings.TrimSpace(out))
	st = cliState(t, id)
	if _, ok := st.Answers["cli-paid-no-reference"]; ok || st.Status != invoice.StatusA {
		t.Errorf("after the refused update: status %s, answer %+v; want A and no answer (the validator refused it)",
			st.Status, st.Answers["cli-paid-no-reference"])
	}
	// Nothing audits a validator refusal that did not come through invoiceclient.Do.
	t.Logf("audit rows for the update refused through the CLI: %d",
		count(t, `SELECT count(*) FROM invoice_events WHERE workflow_id = $1 AND kind = 'refused'`, id))

	// The same mistake as a signal: the workflow refuses it, answers and audits it.
	code, stdout, stderr = runTemporal(t, "workflow", "signal", "--workflow-id", id, "--name", workflows.SignalMarkPaid,
		"--input", actionJSON(t, invoice.ActionMarkPaid, bob, "cli-signal-no-reference", `"payment_date":"2026-11-30"`))
	if code != 0 {
		t.Fatalf("temporal workflow signal: exit %d\n%s\n%s", code, stdout, stderr)
	}
	refused, _, err := client.AwaitAnswer(within(t, 15*time.Second), id, "cli-signal-no-reference")
	if err != nil {
		t.Fatal(err)
	}
	if refused.Accepted || refused.Code != invoice.RefusedInvalid || refused.Status != invoice.StatusA {
		t.Errorf("mark-paid signal without reference: answer %+v, want refused invalid_request in A", refused)
	}
	if e := lastEvent(t, id); e.Kind != invoice.EventRefused || e.Action != invoice.ActionMarkPaid || e.Code != string(invoice.RefusedInvalid) {
		t.Errorf("last audit row = %+v, want the refused mark_paid", e)
	}

	// Paid through the CLI; the query still answers once the workflow has completed.
	code, answer, out = cliUpdate(t, id, workflows.SignalMarkPaid, actionJSON(t, invoice.ActionMarkPaid, bob, "cli-paid",
		`"payment_date":"2026-11-30"`, `"payment_reference":"SEPA-CLI-1"`))
	if code != 0 || !answer.Accepted || answer.Status != invoice.StatusP {
		t.Fatalf("update %s: exit %d, answer %+v; want accepted into P\n%s", workflows.SignalMarkPaid, code, answer, out)
	}
	var result workflows.Result
	if err := deps.Temporal.GetWorkflow(ctx, id, "").Get(within(t, 10*time.Second), &result); err != nil || result.Outcome != workflows.OutcomePaid {
		t.Fatalf("result %+v (%v), want paid", result, err)
	}
	if st = cliState(t, id); st.Status != invoice.StatusP || st.Outcome != workflows.OutcomePaid || len(st.Transitions) != 3 {
		t.Errorf("query after completion: status %s outcome %s, %d transitions; want P, paid, 3", st.Status, st.Outcome, len(st.Transitions))
	}
}

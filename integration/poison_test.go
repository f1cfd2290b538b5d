package integration

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/k2kinvoice/autoinvoice/internal/invoice"
	"github.com/k2kinvoice/autoinvoice/workflows"
)

// TestPoisonAtEveryDoor sends values PostgreSQL, a JSON parser or a screen would take differently
// (NUL, invalid UTF-8, U+202E, 10 kB strings, wrong JSON types, duplicate keys, unknown message
// names) through every door: raw signals and raw updates with the Temporal CLI, the client
// library, the gateway and the starter. Each is refused with the field and the rule; every
// refusal a workflow or a client sees leaves an audit row with the bad bytes escaped; and the
// invoice is never wedged: a valid action right after is applied at once.
func TestPoisonAtEveryDoor(t *testing.T) {
	p := newGWParty(t)
	conf := gwConfirm(t, p.vendor, p.o, "")
	id := conf.WorkflowID
	alice := buyer(p.o, "alice", invoice.RoleProcurement)
	audited := 0 // refusals that must leave an audit row

	// Raw signals: the workflow refuses and audits each, in arrival order, and goes on.
	signals := []struct{ name, name2, input, key, phrase string }{
		{"NUL in the actor's company", workflows.SignalApprove,
			`{"actor":{"company_id":"` + p.o.BuyerID + `\u0000","user_id":"alice","role":"procurement"},"idempotency_key":"p-nul"}`,
			"p-nul", "actor.company_id"},
		{"NUL in the user", workflows.SignalApprove,
			`{"actor":{"company_id":"` + p.o.BuyerID + `","user_id":"al\u0000ice","role":"procurement"},"idempotency_key":"p-nul-user"}`,
			"p-nul-user", "actor.user_id"},
		{"U+202E in the role", workflows.SignalApprove,
			`{"actor":{"company_id":"` + p.o.BuyerID + `","user_id":"alice","role":"procurement\u202e"},"idempotency_key":"p-rtl"}`,
			"p-rtl", "actor.role"},
		{"10 kB reason", workflows.SignalReturnToProcurement,
			`{"actor":{"company_id":"` + p.o.BuyerID + `","user_id":"bob","role":"accounting"},"idempotency_key":"p-long","reason":"` + strings.Repeat("r", 10_000) + `"}`,
			"p-long", "reason: must be at most 1000 characters"},
		{"wrong JSON type", workflows.SignalApprove,
			`{"actor":{"company_id":"` + p.o.BuyerID + `","user_id":"alice","role":"procurement"},"idempotency_key":"p-type","reason":42}`,
			"p-type", "reason: must be a string"},
		{"duplicate key", workflows.SignalApprove,
			`{"actor":{"company_id":"` + p.o.BuyerID + `","user_id":"alice","role":"procurement"},"idempotency_key":"p-dup","idempotency_key":"p-dup-2"}`,
			"p-dup-2", "idempotency_key: appears more than once"},
		{"vendor update naming another object", workflows.SignalVendorUpdate,
			`{"actor":{"company_id":"` + p.o.VendorID + `","user_id":"v","role":"vendor"},"idempotency_key":"p-key","update":{"invoice_number":"X-2","issue_date":"2026-11-28","currency":"EUR","total_minor":100,"lines":[{"description":"x","quantity":1,"unit_price_minor":100}],"staging_key":"invoices/OTHER/` + p.o.VendorID + `/X/r1/` + strings.Repeat("a", 64) + `.pdf"}}`,
			"p-key", "update.staging_key"},
		{"unknown message name", "approve_payment",
			`{"actor":{"company_id":"` + p.o.BuyerID + `","user_id":"bob","role":"accounting"},"idempotency_key":"p-name"}`,
			"p-name", `"approve_payment" is not a message`},
	}
	for _, s := range signals {
		code, stdout, stderr := runTemporal(t, "workflow", "signal", "--workflow-id", id, "--name", s.name2, "--input", s.input)
		if code != 0 {
			t.Fatalf("%s: temporal workflow signal: exit %d\n%s\n%s", s.name, code, stdout, stderr)
		}
		audited++
	}
	for _, s := range signals {
		answer, _, err := client.AwaitAnswer(within(t, 20*time.Second), id, s.key)
		if err != nil {
			t.Fatalf("%s: no answer: %v", s.name, err)
		}
		if answer.Accepted || answer.Code != invoice.RefusedInvalid || !strings.Contains(answer.Reason, s.phrase) {
			t.Errorf("%s: answer %+v, want invalid_request naming %q", s.name, answer, s.phrase)
		}
	}

	// Raw updates: the validator refuses them up front, non-retryable, naming the field.
	for _, u := range []struct{ name, input, phrase string }{
		{"NUL in the company", `{"actor":{"company_id":"` + p.o.BuyerID + `\u0000","user_id":"alice","role":"procurement"},"idempotency_key":"u-nul"}`, "actor.company_id"},
		{"duplicate key", `{"actor":{"company_id":"` + p.o.BuyerID + `","user_id":"alice","role":"procurement","role":"vendor"},"idempotency_key":"u-dup"}`, "actor.role: appears more than once"},
		{"wrong JSON type", `{"actor":"alice","idempotency_key":"u-type"}`, "actor: must be an object"},
	} {
		code, _, out := cliUpdate(t, id, workflows.SignalApprove, u.input)
		if code == 0 || !strings.Contains(out, string(invoice.RefusedInvalid)) || !strings.Contains(out, u.phrase) {
			t.Errorf("raw update, %s: exit %d; want a refusal invalid_request naming %q\n%s", u.name, code, u.phrase, out)
		}
	}

	// The client library: refused before anything is sent, and audited.
	for _, req := range []invoice.ActionRequest{
		{Action: invoice.ActionApprove, Actor: invoice.Actor{CompanyID: p.o.BuyerID, UserID: "alice\x00", Role: invoice.RoleProcurement}, IdempotencyKey: "c-nul"},
		{Action: invoice.ActionApprove, Actor: alice, IdempotencyKey: "c-utf-\xff"},
	} {
		_, err := client.Do(within(t, 20*time.Second), id, req)
		var refusal *invoice.Refusal
		if !errors.As(err, &refusal) || refusal.Code != invoice.RefusedInvalid || len(refusal.Fields) == 0 {
			t.Errorf("client.Do(%q): %v, want an invalid_request refusal with its fields", req.IdempotencyKey, err)
		}
		audited++
	}

	// The gateway: a duplicate key in the body and bytes the store refuses in a field, 422 each.
	for _, g := range []struct{ name, body, field string }{
		{"duplicate key", `{"reason":"a","reason":"b"}`, "reason"},
		{"NUL in the reason", `{"reason":"x\u0000y"}`, "reason"},
		{"U+202E in the reason", `{"reason":"x\u202ey"}`, "reason"},
	} {
		r := gwDo(t, gwReq{method: http.MethodPost, path: fmt.Sprintf("/v1/invoices/%d/actions/%s", conf.InvoiceID, workflows.SignalReturnToProcurement),
			token: p.accounting, idem: newIdem(), contentType: "application/json", body: []byte(g.body)})
		prob := problemOf(t, r, http.StatusUnprocessableEntity)
		if !hasField(prob, g.field) {
			t.Errorf("gateway, %s: problem %+v, want the field %s named", g.name, prob, g.field)
		}
		if g.name != "duplicate key" {
			audited++ // the body decoded: an action on the invoice, refused and audited
		}
	}
	dupOrder := strings.Replace(string(mustJSON(t, map[string]any{"order": p.o})), `"currency":"EUR"`, `"currency":"EUR","currency":"USD"`, 1)
	r := gwDo(t, gwReq{method: http.MethodPost, path: "/v1/orders", token: p.vendor, idem: newIdem(), contentType: "application/json", body: []byte(dupOrder)})
	if prob := problemOf(t, r, http.StatusUnprocessableEntity); !hasField(prob, "order.currency") && !hasField(prob, "currency") {
		t.Errorf("gateway order with a duplicate key: problem %+v, want currency named", prob)
	}

	// The starter: a duplicate key in an order or update file is bad input (exit 2), named.
	orderFile := writeFile(t, "dup-order.json", []byte(strings.Replace(string(orderJSON(t, p.o, func(map[string]any) {})),
		`"po_number":`, `"po_number":"PO-OTHER","po_number":`, 1)))
	if code, _, stderr := runStarter(t, "confirm", orderFile); code != 2 || !strings.Contains(stderr, "po_number") ||
		!strings.Contains(stderr, "appears more than once") {
		t.Errorf("starter confirm with a duplicate key: exit %d, want 2 naming po_number\n%s", code, stderr)
	}
	updateFile := writeFile(t, "dup-update.json", []byte(`{"invoice_number":"X-2","invoice_number":"X-3","issue_date":"2026-11-28","currency":"EUR","total_minor":100,"lines":[{"description":"x","quantity":1,"unit_price_minor":100}]}`))
	if code, _, stderr := runStarter(t, "vendor-update", "--workflow-id", id, "--company", p.o.VendorID, "--user", "v",
		"--role", "vendor", updateFile); code != 2 || !strings.Contains(stderr, "invoice_number") {
		t.Errorf("starter vendor-update with a duplicate key: exit %d, want 2 naming invoice_number\n%s", code, stderr)
	}

	// Not wedged: a valid action is applied at once, after every refusal was answered.
	start := time.Now()
	answer, err := client.Do(within(t, 10*time.Second), id, invoice.ActionRequest{Action: invoice.ActionApprove, Actor: alice, IdempotencyKey: "p-valid"})
	if err != nil || !answer.Accepted || answer.Status != invoice.StatusAA {
		t.Fatalf("valid approve after the poison: %+v, %v; want accepted into AA", answer, err)
	}
	t.Logf("valid approve after %d poisoned messages answered in %s", audited, time.Since(start).Round(time.Millisecond))

	if n := count(t, `SELECT count(*) FROM invoice_events WHERE workflow_id = $1 AND kind = 'refused'`, id); n != audited {
		t.Errorf("%d refused audit rows, want %d (one per refused action that reached the workflow or the client)", n, audited)
	}
	if n := count(t, `SELECT count(*) FROM invoice_events WHERE workflow_id = $1 AND actor_company_id = $2`, id, p.o.BuyerID+`\u0000`); n != 1 {
		t.Errorf("%d audit rows with the escaped company %q, want 1: the bad bytes stay visible", n, p.o.BuyerID+`\u0000`)
	}
	if n := count(t, `SELECT count(*) FROM invoice_events WHERE workflow_id = $1 AND kind = 'transition'`, id); n != 1 {
		t.Errorf("%d transitions, want 1 (the valid approve)", n)
	}
}

package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/k2kinvoice/autoinvoice/internal/invoice"
	"github.com/k2kinvoice/autoinvoice/internal/store"
	"github.com/k2kinvoice/autoinvoice/workflows"
)

// webhookReceiver is a company's webhook endpoint in a test. It verifies every message with the
// endpoint's secret (set once registered) and keeps the first payload of each webhook-id.
type webhookReceiver struct {
	t      *testing.T
	srv    *httptest.Server
	mu     sync.Mutex
	secret string
	ids    map[string]bool
	got    []store.WebhookPayload
}

func newWebhookReceiver(t *testing.T) *webhookReceiver {
	r := &webhookReceiver{t: t, ids: map[string]bool{}}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		defer r.mu.Unlock()
		wh, err := standardwebhooks.NewWebhook(r.secret)
		if err == nil {
			err = wh.Verify(body, req.Header)
		}
		if err != nil {
			t.Errorf("webhook %s does not verify: %v", req.Header.Get("webhook-id"), err)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var p store.WebhookPayload
		if err := json.Unmarshal(body, &p); err != nil {
			t.Errorf("webhook %s: %v", req.Header.Get("webhook-id"), err)
		}
		if id := req.Header.Get("webhook-id"); !r.ids[id] {
			r.ids[id] = true
			r.got = append(r.got, p)
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *webhookReceiver) setSecret(secret string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.secret = secret
}

// await waits up to d for n messages and returns those received.
func (r *webhookReceiver) await(n int, d time.Duration) []store.WebhookPayload {
	deadline := time.Now().Add(d)
	for {
		r.mu.Lock()
		got := append([]store.WebhookPayload(nil), r.got...)
		r.mu.Unlock()
		if len(got) >= n || time.Now().After(deadline) {
			return got
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestWebhooksFollowAnInvoice: a buyer's endpoint, registered with the starter, receives every
// audit event of its invoice from the worker's dispatcher, in order, signed: creation,
// transitions, a refusal, and the credit note's events.
func TestWebhooksFollowAnInvoice(t *testing.T) {
	o := eligible(t)
	rec := newWebhookReceiver(t)
	code, stdout, stderr := runStarter(t, "webhook", "add", "--company", o.BuyerID, "--url", rec.srv.URL)
	_, after, found := strings.Cut(stdout, "secret     ")
	if code != 0 || !found {
		t.Fatalf("webhook add: exit %d\n%s%s", code, stdout, stderr)
	}
	secret, _, _ := strings.Cut(after, " ")
	rec.setSecret(secret)
	// Stored sealed with the payload key ring, never as given.
	if n := count(t, `SELECT count(*) FROM webhook_endpoints WHERE company_id = $1 AND secret LIKE 'sealed:%' AND secret NOT LIKE '%' || $2 || '%'`,
		o.BuyerID, strings.TrimPrefix(secret, "whsec_")); n != 1 {
		t.Errorf("%d endpoints of %s with a sealed secret, want 1", n, o.BuyerID)
	}
	if code, _, stderr := runStarter(t, "webhook", "add", "--company", o.BuyerID, "--url", "ftp://x", "--event-type", "invoice.nope"); code == 0 ||
		!strings.Contains(stderr, "--url") || !strings.Contains(stderr, `"invoice.nope" is not one of`) {
		t.Errorf("a bad endpoint: exit %d, want a refusal naming --url and --event-type:\n%s", code, stderr)
	}

	st := confirmAndSettle(t, o, nil)
	mustRefuse(t, st.WorkflowID, invoice.ActionRequest{Action: invoice.ActionApprovePayment, Actor: buyer(o, "bob", invoice.RoleAccounting),
		IdempotencyKey: "early"}, invoice.RefusedWrongStatus)
	payAll(t, st.WorkflowID, o, "hooks-")
	settled(t, st.WorkflowID)
	issue(t, st.WorkflowID, creditNote(o, "CN-HOOK", 100))
	want := []string{"invoice.created AP", "invoice.refused approve_payment AP", "invoice.transition approve AA",
		"invoice.transition approve_payment A", "invoice.transition mark_paid P", "credit_note.created AP"}
	var got []string
	for _, p := range rec.await(len(want), 20*time.Second) {
		got = append(got, strings.Join(strings.Fields(fmt.Sprintf("%s %s %s", p.Type, p.Data.Action, p.Data.To)), " "))
	}
	// The credit note's events are ordered among themselves, not with the invoice's: compare each stream.
	var inv, notes []string
	for _, g := range got {
		if strings.HasPrefix(g, "credit_note.") {
			notes = append(notes, g)
		} else {
			inv = append(inv, g)
		}
	}
	if strings.Join(inv, " | ") != strings.Join(want[:5], " | ") || strings.Join(notes, " | ") != want[5] {
		t.Errorf("webhooks received\n %s\nwant\n %s", strings.Join(got, " | "), strings.Join(want, " | "))
	}
	if n := count(t, `SELECT count(*) FROM webhook_deliveries d JOIN webhook_outbox o ON o.id = d.outbox_id
		JOIN webhook_endpoints e ON e.id = o.endpoint_id WHERE e.company_id = $1 AND d.status_code = 200`, o.BuyerID); n < len(want) {
		t.Errorf("%d successful deliveries logged, want at least %d", n, len(want))
	}
}

// TestWebhooksCarryReminders: a reminder reaches the vendor's endpoint (filtered on
// invoice.reminder) as a webhook event naming the side the invoice waits on and which reminder of
// the stay it is: the buyer in AP, the vendor in D. The audit rows say the same.
func TestWebhooksCarryReminders(t *testing.T) {
	o := eligible(t)
	rec := newWebhookReceiver(t)
	ep, secret, err := deps.Store.WebhookEndpointAdd(within(t, 5*time.Second), o.VendorID, rec.srv.URL, []string{"invoice.reminder"}, store.Operator)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = deps.Store.WebhookEndpointSetActive(context.Background(), ep.ID, false, store.Operator) })
	rec.setSecret(secret)
	run := startInvoice(t, workflows.ConfirmOrder{Order: o, Reminders: workflows.ReminderPolicy{AP: 2 * time.Second, D: 2 * time.Second, Max: 1}})
	got := rec.await(1, 30*time.Second)
	if len(got) != 1 {
		t.Fatalf("%d reminders received in AP, want 1", len(got))
	}
	mustAccept(t, run.GetID(), invoice.ActionRequest{Action: invoice.ActionDispute, Actor: buyer(o, "alice", invoice.RoleProcurement),
		IdempotencyKey: "dispute", Reason: "quantities differ from the delivery note"}, invoice.StatusD)
	got = rec.await(2, 30*time.Second)
	mustAccept(t, run.GetID(), invoice.ActionRequest{Action: invoice.ActionVoid, Actor: vendorActor(o),
		IdempotencyKey: "void", Reason: "a corrected invoice follows"}, invoice.StatusV)
	var seen []string
	for _, p := range got {
		seen = append(seen, fmt.Sprintf("%s in %s waiting on %s, reminder %d", p.Type, p.Data.From, p.Data.WaitingOn, p.Data.Reminder))
	}
	want := []string{"invoice.reminder in AP waiting on buyer, reminder 1", "invoice.reminder in D waiting on vendor, reminder 1"}
	if strings.Join(seen, " | ") != strings.Join(want, " | ") {
		t.Errorf("reminders received\n %s\nwant\n %s", strings.Join(seen, " | "), strings.Join(want, " | "))
	}
	events, err := deps.Store.EventsByWorkflowID(within(t, 5*time.Second), run.GetID())
	if err != nil {
		t.Fatal(err)
	}
	var rows []string
	for _, e := range events {
		if e.Kind == invoice.EventReminder {
			rows = append(rows, fmt.Sprintf("invoice.reminder in %s waiting on %s, reminder %d", e.From, e.WaitingOn, e.Reminder))
		}
	}
	if strings.Join(rows, " | ") != strings.Join(want, " | ") {
		t.Errorf("reminder audit rows\n %s\nwant\n %s", strings.Join(rows, " | "), strings.Join(want, " | "))
	}
}

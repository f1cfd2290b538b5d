package integration

import (
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
)

// TestWebhooksFollowAnInvoice: a buyer's endpoint, registered with the starter, receives every
// audit event of its invoice from the worker's dispatcher, in order, signed: creation,
// transitions, a refusal, and the credit note's events.
func TestWebhooksFollowAnInvoice(t *testing.T) {
	o := eligible(t)
	var mu sync.Mutex
	var secret string
	var got []string
	ids := map[string]bool{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		wh, err := standardwebhooks.NewWebhook(secret)
		if err == nil {
			err = wh.Verify(body, r.Header)
		}
		if err != nil {
			t.Errorf("webhook %s does not verify: %v", r.Header.Get("webhook-id"), err)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var p store.WebhookPayload
		_ = json.Unmarshal(body, &p)
		if id := r.Header.Get("webhook-id"); !ids[id] {
			ids[id] = true
			got = append(got, strings.Join(strings.Fields(fmt.Sprintf("%s %s %s", p.Type, p.Data.Action, p.Data.To)), " "))
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	code, stdout, stderr := runStarter(t, "webhook", "add", "--company", o.BuyerID, "--url", srv.URL)
	_, after, found := strings.Cut(stdout, "secret     ")
	if code != 0 || !found {
		t.Fatalf("webhook add: exit %d\n%s%s", code, stdout, stderr)
	}
	mu.Lock()
	secret, _, _ = strings.Cut(after, " ")
	mu.Unlock()
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
	deadline := time.Now().Add(20 * time.Second)
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n >= len(want) || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
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

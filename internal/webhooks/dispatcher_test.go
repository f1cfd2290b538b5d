package webhooks_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/k2kinvoice/autoinvoice/internal/invoice"
	"github.com/k2kinvoice/autoinvoice/internal/store"
	"github.com/k2kinvoice/autoinvoice/internal/testenv"
	"github.com/k2kinvoice/autoinvoice/internal/webhooks"
)

var st *store.Store

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func TestMain(m *testing.M) {
	ctx := context.Background()
	url, drop, err := testenv.NewDatabase(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "webhooks tests:", err)
		os.Exit(1)
	}
	code := func() int {
		defer drop()
		if st, err = store.Open(ctx, url); err != nil {
			fmt.Fprintln(os.Stderr, "webhooks tests:", err)
			return 1
		}
		defer st.Close()
		if err := st.Migrate(ctx, quiet); err != nil {
			fmt.Fprintln(os.Stderr, "webhooks tests:", err)
			return 1
		}
		return m.Run()
	}()
	os.Exit(code)
}

// received is one message as a receiver got it, its signature checked.
type received struct {
	id      string
	payload store.WebhookPayload
}

// receiver is a webhook endpoint: it verifies each message with the endpoint's secret (set once
// the endpoint exists) and answers fail(n) for the n-th request, 204 when fail returns 0.
type receiver struct {
	t      *testing.T
	srv    *httptest.Server
	mu     sync.Mutex
	secret string
	got    []received
	calls  int
	fail   func(n int) int
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{t: t, fail: func(int) int { return 0 }}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		defer r.mu.Unlock()
		r.calls++
		if code := r.fail(r.calls); code != 0 {
			w.WriteHeader(code)
			return
		}
		wh, err := standardwebhooks.NewWebhook(r.secret)
		if err == nil {
			err = wh.Verify(body, req.Header)
		}
		if err != nil {
			t.Errorf("message %s: signature does not verify: %v", req.Header.Get("webhook-id"), err)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var p store.WebhookPayload
		if err := json.Unmarshal(body, &p); err != nil {
			t.Errorf("payload %s: %v", body, err)
		}
		r.got = append(r.got, received{id: req.Header.Get("webhook-id"), payload: p})
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) messages() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

// endpoint registers r for company, with event types.
func (r *receiver) endpoint(t *testing.T, company string, types ...string) store.WebhookEndpoint {
	ep, secret, err := st.WebhookEndpointAdd(context.Background(), company, r.srv.URL, types, store.Operator)
	if err != nil {
		t.Fatal(err)
	}
	// Turned off when the test ends, so that what it left undelivered never reaches a later test.
	t.Cleanup(func() { _ = st.WebhookEndpointSetActive(context.Background(), ep.ID, false, store.Operator) })
	r.mu.Lock()
	r.secret = secret
	r.mu.Unlock()
	return ep
}

// record writes audit events of o's invoices: n per invoice, for invoices 1 and 2 interleaved.
func record(t *testing.T, o invoice.Order, tag string, n int) {
	for i := range n {
		for inv := 1; inv <= 2; inv++ {
			wid := fmt.Sprintf("k2k-invoice/%s/%s/%s-%d", o.VendorID, o.BuyerID, tag, inv)
			kind := invoice.EventRefused
			if i%2 == 1 {
				kind = invoice.EventReminder
			}
			e := invoice.Event{Key: fmt.Sprintf("%s#%d", wid, i+1), WorkflowID: wid, VendorID: o.VendorID, BuyerID: o.BuyerID,
				PONumber: tag, Kind: kind, From: invoice.StatusAP, To: invoice.StatusAP, Code: fmt.Sprint(i), OccurredAt: time.Now()}
			if err := st.EventRecord(context.Background(), e); err != nil {
				t.Fatal(err)
			}
			if err := st.EventRecord(context.Background(), e); err != nil { // a retried write: recorded and queued once
				t.Fatal(err)
			}
		}
	}
}

// deliverAll runs the store's delivery with d until nothing is due for a while, with a fast
// backoff; it fails the test when that takes more than 20 seconds.
func deliverAll(t *testing.T, d *webhooks.Dispatcher) {
	ctx := context.Background()
	idle := 0
	deadline := time.Now().Add(20 * time.Second)
	for idle < 20 {
		if time.Now().After(deadline) {
			t.Fatal("messages are still due after 20 s")
		}
		n, err := st.WebhookDeliverNext(ctx, 100, func(m store.WebhookMessage) store.WebhookAttempt { return d.Deliver(ctx, m) },
			func(int) time.Duration { return 5 * time.Millisecond })
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			idle++
			time.Sleep(5 * time.Millisecond)
		} else {
			idle = 0
		}
	}
}

// inOrder checks that each invoice's messages came in the order their events were recorded (the
// Code field counts them), each once, and returns how many there were.
func inOrder(t *testing.T, got []received) int {
	next := map[string]int{}
	ids := map[string]string{}
	for _, m := range got {
		e := m.payload.Data
		if want := fmt.Sprint(next[e.WorkflowID]); e.Code != want {
			t.Errorf("%s: event %s came when %s was due", e.WorkflowID, e.Code, want)
		}
		next[e.WorkflowID]++
		if prior, seen := ids[m.id]; seen {
			t.Errorf("webhook-id %s delivered twice (%s, then %s)", m.id, prior, e.Key)
		}
		ids[m.id] = e.Key
		if m.payload.Type != e.Type() || !m.payload.Timestamp.Equal(e.OccurredAt.UTC()) {
			t.Errorf("message %s: type %s timestamp %v, want %s at %v", m.id, m.payload.Type, m.payload.Timestamp, e.Type(), e.OccurredAt)
		}
	}
	return len(got)
}

// TestDeliveredSignedInOrder: the dispatcher delivers every event of a company's invoices, once
// each, in order per invoice, signed so that the Standard Webhooks library verifies them; each
// attempt is in the delivery log.
func TestDeliveredSignedInOrder(t *testing.T) {
	o, err := testenv.Parties(context.Background(), st, true, true, store.ConnectionActive)
	if err != nil {
		t.Fatal(err)
	}
	r := newReceiver(t)
	ep := r.endpoint(t, o.BuyerID)
	record(t, o, "ordered", 5)
	d := webhooks.NewDispatcher(st, quiet)
	d.Idle = 10 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = d.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for len(r.messages()) < 10 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	if n := inOrder(t, r.messages()); n != 10 {
		t.Errorf("%d messages delivered, want 10", n)
	}
	msgs, err := st.WebhookMessages(context.Background(), ep.ID, 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		if m.DeliveredAt == nil || m.Attempts != 1 || m.LastError != "" {
			t.Errorf("message %s: delivered %v after %d attempts (%q), want delivered once", m.MessageID(), m.DeliveredAt, m.Attempts, m.LastError)
		}
	}
}

// TestStopAfterTheReceiverTookAMessage: a dispatcher stopped (its context ended) once the
// receiver has answered still records the message as delivered, so it is not sent again after a
// restart, and takes no further message.
func TestStopAfterTheReceiverTookAMessage(t *testing.T) {
	o, err := testenv.Parties(context.Background(), st, true, true, store.ConnectionActive)
	if err != nil {
		t.Fatal(err)
	}
	ep := newReceiver(t).endpoint(t, o.BuyerID)
	record(t, o, "stopped", 1)
	ctx, stop := context.WithCancel(context.Background())
	n, err := st.WebhookDeliverNext(ctx, 100, func(store.WebhookMessage) store.WebhookAttempt {
		stop() // the worker stops just after the receiver answered
		return store.WebhookAttempt{StatusCode: http.StatusOK}
	}, webhooks.Backoff)
	if n != 1 || err != nil {
		t.Fatalf("WebhookDeliverNext = %d, %v; want the one message taken, then none after the stop", n, err)
	}
	msgs, err := st.WebhookMessages(context.Background(), ep.ID, 10)
	if err != nil {
		t.Fatal(err)
	}
	var delivered, waiting int
	for _, m := range msgs {
		if m.DeliveredAt != nil && m.Attempts == 1 {
			delivered++
		} else if m.DeliveredAt == nil && m.Attempts == 0 {
			waiting++
		}
	}
	if delivered != 1 || waiting != 1 || len(msgs) != 2 {
		t.Errorf("after the stop: %d messages, %d delivered once, %d untouched; want 2: the one sent delivered, the other waiting", len(msgs), delivered, waiting)
	}
}

// TestReceiverDownThenUp: while the receiver fails, messages wait (each invoice's later ones
// behind its first) and are retried; once it answers, everything arrives in order, once per
// webhook-id, and the log shows the failed attempts.
func TestReceiverDownThenUp(t *testing.T) {
	o, err := testenv.Parties(context.Background(), st, true, true, store.ConnectionActive)
	if err != nil {
		t.Fatal(err)
	}
	r := newReceiver(t)
	r.fail = func(n int) int {
		if n <= 7 {
			return http.StatusServiceUnavailable
		}
		return 0
	}
	ep := r.endpoint(t, o.VendorID)
	record(t, o, "down", 3)
	deliverAll(t, webhooks.NewDispatcher(st, quiet))
	if n := inOrder(t, r.messages()); n != 6 {
		t.Errorf("%d messages delivered after the receiver came back, want 6", n)
	}
	msgs, _ := st.WebhookMessages(context.Background(), ep.ID, 100)
	attempts := 0
	for _, m := range msgs {
		attempts += m.Attempts
		if m.DeliveredAt == nil {
			t.Errorf("message %s not delivered", m.MessageID())
		}
	}
	if attempts != 13 {
		t.Errorf("%d attempts in all, want 13 (7 refused, 6 delivered)", attempts)
	}
}

// TestFilterCompaniesAndRedeliver: an endpoint gets only the types it asked for, and only its
// company's invoices; a redelivered message comes again under the same webhook-id and payload; a
// turned-off endpoint gets nothing new.
func TestFilterCompaniesAndRedeliver(t *testing.T) {
	o, err := testenv.Parties(context.Background(), st, true, true, store.ConnectionActive)
	if err != nil {
		t.Fatal(err)
	}
	other, err := testenv.Parties(context.Background(), st, true, true, store.ConnectionActive)
	if err != nil {
		t.Fatal(err)
	}
	reminders, stranger := newReceiver(t), newReceiver(t)
	ep := reminders.endpoint(t, o.VendorID, "invoice.reminder")
	stranger.endpoint(t, other.BuyerID)
	record(t, o, "filtered", 4)
	d := webhooks.NewDispatcher(st, quiet)
	deliverAll(t, d)
	got := reminders.messages()
	if len(got) != 4 {
		t.Fatalf("%d messages, want the 4 reminders", len(got))
	}
	for _, m := range got {
		if m.payload.Type != "invoice.reminder" {
			t.Errorf("message %s of type %s, want only invoice.reminder", m.id, m.payload.Type)
		}
	}
	if n := len(stranger.messages()); n != 0 {
		t.Errorf("another company's endpoint got %d messages, want none", n)
	}
	var first int64
	if _, err := fmt.Sscanf(got[0].id, "msg_%d", &first); err != nil {
		t.Fatal(err)
	}
	if err := st.WebhookRedeliver(context.Background(), first); err != nil {
		t.Fatal(err)
	}
	deliverAll(t, d)
	again := reminders.messages()
	if len(again) != 5 || again[4].id != got[0].id || again[4].payload.Data.Key != got[0].payload.Data.Key {
		t.Errorf("after redelivery: %d messages, last %+v; want the first again under %s", len(again), again[len(again)-1], got[0].id)
	}
	if err := st.WebhookEndpointSetActive(context.Background(), ep.ID, false, store.Operator); err != nil {
		t.Fatal(err)
	}
	record(t, o, "after-off", 2)
	deliverAll(t, d)
	if n := len(reminders.messages()); n != 5 {
		t.Errorf("a turned-off endpoint got %d messages, want still 5", n)
	}
}

func TestBackoff(t *testing.T) {
	for n, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 5: 16 * time.Second, 9: 256 * time.Second,
		10: 5 * time.Minute, 100: 5 * time.Minute} {
		if got := webhooks.Backoff(n); got != want {
			t.Errorf("Backoff(%d) = %v, want %v", n, got, want)
		}
	}
}

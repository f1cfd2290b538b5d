package faults

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/k2kinvoice/autoinvoice/activities"
	"github.com/k2kinvoice/autoinvoice/internal/invoice"
	"github.com/k2kinvoice/autoinvoice/internal/store"
)

// Deliveries to the companies' own systems, killed half-way: a worker gets SIGKILL while a
// receiving system holds its request open, and the delivery must come again under the same key
// and be taken once.

// killInWebhookDelivery registers a webhook endpoint for the run's buyer that holds the first
// message (invoice.created) open; the worker whose dispatcher sends it gets SIGKILL, which ends its
// connection and so its row lock on the message; a fresh worker's dispatcher sends it again. The
// invoice is then taken to paid, and every audit event of the invoice must have reached the
// endpoint, signed, answered 2xx once, in audit order.
func killInWebhookDelivery(r *run) {
	ctx := r.ctx(8 * time.Minute)
	h := newHook(nil)
	r.t.Cleanup(h.close)
	ep, secret, err := r.s.deps.Store.WebhookEndpointAdd(ctx, r.buyer, h.srv.URL, nil, store.Operator)
	r.check(err)
	// Turned off when the scenario ends (before the receiver closes), so that the workers of later
	// scenarios do not keep retrying against it.
	r.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := r.s.deps.Store.WebhookEndpointSetActive(ctx, ep.ID, false, store.Operator); err != nil {
			r.t.Errorf("turn webhook endpoint %d off: %v", ep.ID, err)
		}
	})
	h.setSecret(secret)
	w := r.startWorker()
	id := try(r.confirm(ctx, r.order(1))).must(r)
	first := try(h.awaitFirst(ctx, 2*time.Minute)).must(r)
	if typ := webhookOf(first.body).Type; typ != "invoice.created" {
		r.t.Fatalf("the first webhook to reach the endpoint is %q (%s), want invoice.created", typ, first.id)
	}
	killed := time.Now()
	w.Kill()
	held := killed.Sub(first.at)
	r.logf("SIGKILL %s (pid %d) while its webhook dispatcher held message %s (invoice.created) open at the endpoint for %.1f s",
		w.Name, w.PID(), first.id, held.Seconds())
	if n := len(h.snapshot()); n != 1 {
		r.t.Fatalf("%d requests reached the endpoint before the kill, want only the held one (the dispatcher gives up on a request after 10 s; it was held %.1f s)",
			n, held.Seconds())
	}
	h.unblock()
	r.startWorker()
	try(r.awaitStatus(ctx, id, invoice.StatusAP)).must(r)
	r.check(r.pay(ctx, id))

	keys := try(r.awaitWebhooks(ctx, h, id, 3*time.Minute)).must(r)
	calls := h.snapshot()
	var unsigned, foreign []string
	answered := map[string]int{} // 2xx answers per webhook-id
	var delivered []string       // the data.key of each 2xx answer, in the order they came
	var redelivery *hookCall
	cutOff := 0
	for i, c := range calls {
		r.logf("endpoint request %d at +%.1f s: webhook-id %s, %s %s, answered 2xx: %v, signature: %s", i+1,
			c.at.Sub(first.at).Seconds(), c.id, webhookOf(c.body).Type, webhookOf(c.body).Data.Key, c.delivered, verdict(c.verified))
		if c.verified != nil {
			unsigned = append(unsigned, fmt.Sprintf("request %d (%s): %v", i+1, c.id, c.verified))
		}
		if i > 0 && c.id == first.id && redelivery == nil {
			redelivery = &calls[i]
		}
		if !c.delivered {
			cutOff++
			continue
		}
		answered[c.id]++
		b := webhookOf(c.body)
		if b.Data.WorkflowID != id {
			foreign = append(foreign, fmt.Sprintf("%s (%s of %q)", c.id, b.Data.Key, b.Data.WorkflowID))
		}
		delivered = append(delivered, b.Data.Key)
	}
	if len(unsigned) > 0 {
		r.t.Errorf("%d of %d webhook requests do not verify with the endpoint's secret: %s", len(unsigned), len(calls), strings.Join(unsigned, "; "))
	}
	if len(foreign) > 0 {
		r.t.Errorf("the endpoint received messages about other workflows than %s: %s", id, strings.Join(foreign, ", "))
	}
	if calls[0].delivered {
		r.t.Errorf("the held request %s was answered 2xx: it should have been cut off by the kill", first.id)
	}
	switch {
	case redelivery == nil:
		r.t.Errorf("message %s, cut off by the kill, never came again under the same webhook-id (requests: %s)", first.id, describeCalls(calls))
	case !redelivery.delivered:
		r.t.Errorf("message %s came again %.1f s after the kill but was not answered 2xx", first.id, redelivery.at.Sub(killed).Seconds())
	case webhookOf(redelivery.body).Data.Key != webhookOf(first.body).Data.Key:
		r.t.Errorf("webhook-id %s was first sent for event %s, then for event %s: one message, one event", first.id,
			webhookOf(first.body).Data.Key, webhookOf(redelivery.body).Data.Key)
	}
	var twice []string
	for wid, n := range answered {
		if n > 1 {
			twice = append(twice, fmt.Sprintf("%s (%d times)", wid, n))
		}
	}
	if len(twice) > 0 {
		slices.Sort(twice)
		r.t.Errorf("webhook-ids answered 2xx more than once (a message delivered twice): %s", strings.Join(twice, ", "))
	}
	if !slices.Equal(delivered, keys) {
		r.t.Errorf("the endpoint took (2xx) these events, in this order:\n\t%s\nbut the invoice's audit events, in audit order, are:\n\t%s\n(lost: %v; extra or repeated: %v)",
			strings.Join(delivered, "\n\t"), strings.Join(keys, "\n\t"), missingFrom(keys, delivered), missingFrom(delivered, keys))
	}
	var attempts, logged int
	if err := r.s.db.QueryRow(ctx, `SELECT o.attempts, (SELECT count(*) FROM webhook_deliveries d WHERE d.outbox_id = o.id)
		FROM webhook_outbox o WHERE o.endpoint_id = $1 AND o.event_key = $2`, ep.ID, webhookOf(first.body).Data.Key).Scan(&attempts, &logged); err == nil {
		// The cut-off attempt's transaction died with the worker: it is neither counted nor logged.
		r.logf("the outbox holds message %s with %d attempts and %d delivery log rows", first.id, attempts, logged)
	}
	redelivered := "never redelivered"
	if redelivery != nil {
		redelivered = fmt.Sprintf("redelivered under the same webhook-id %.1f s after the kill", redelivery.at.Sub(killed).Seconds())
	}
	taken := fmt.Sprintf("%d of %d audit events taken once each, in order", len(delivered), len(keys))
	if !slices.Equal(delivered, keys) || len(twice) > 0 {
		taken = fmt.Sprintf("%d 2xx answers for %d audit events, NOT each once in order", len(delivered), len(keys))
	}
	r.fault("SIGKILL worker while its webhook dispatcher held invoice.created open; %s; %d posts, %d cut off, %s",
		redelivered, len(calls), cutOff, taken)
}

// awaitWebhooks waits, up to limit, until the endpoint has answered 2xx to as many distinct
// messages as the invoice has audit events, then a little longer (a message sent twice would
// show), and returns the invoice's audit event keys in audit order.
func (r *run) awaitWebhooks(ctx context.Context, h *hook, id string, limit time.Duration) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	var keys []string
	for {
		k, err := r.eventKeys(ctx, id)
		if err == nil {
			keys = k
		}
		ids := map[string]bool{}
		for _, c := range h.snapshot() {
			if c.delivered {
				ids[c.id] = true
			}
		}
		if err == nil && len(keys) > 0 && len(ids) >= len(keys) {
			time.Sleep(3 * time.Second) // three times the dispatcher's idle wait
			return r.eventKeys(ctx, id)
		}
		select {
		case <-ctx.Done():
			if keys == nil {
				return nil, fmt.Errorf("the audit events of %s: %w (last error %v)", id, ctx.Err(), err)
			}
			r.logf("the endpoint took %d distinct messages within %s; the invoice has %d audit events", len(ids), limit, len(keys))
			return keys, nil // what is missing is reported by the caller
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// eventKeys are the keys of the workflow's audit events, in the order they were recorded.
func (r *run) eventKeys(ctx context.Context, id string) ([]string, error) {
	rows, err := r.s.db.Query(ctx, `SELECT event_key FROM invoice_events WHERE workflow_id = $1 ORDER BY id`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var keys []string
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return keys, rows.Err()
}

// killInExportInvoice enables the accounting export of the run's buyer, pointed at a system that
// holds the first request open, and takes an invoice to A; the worker gets SIGKILL inside
// ExportInvoice and the attempt is retried on a fresh worker. The invoice must reach S with the
// reference the system answered, after requests that all carry one key (Idempotency-Key and
// webhook-id), exactly one answered 2xx, each signed with the buyer's secret; then it is paid from S.
func killInExportInvoice(r *run) {
	ctx := r.ctx(8 * time.Minute)
	h := newHook(func(n int) string { return fmt.Sprintf(`{"reference":"ACC-%s-%d"}`, r.s.runID, n) })
	r.t.Cleanup(h.close)
	raw := make([]byte, 32)
	_, _ = rand.Read(raw)
	secret := "whsec_" + base64.StdEncoding.EncodeToString(raw)
	h.setSecret(secret)
	// Before the order: an invoice is exported when its buyer exported at confirmation.
	r.check(r.s.deps.Store.AccountingExportSet(ctx, r.buyer, h.srv.URL, secret, true, store.Operator))
	w := r.startWorker()
	id := try(r.confirm(ctx, r.order(1))).must(r)
	// The workflow's own rows: A → ES (sent on approval) and ES → S (the system's answer).
	r.ledger.Expect(id, func(e *Expectation) { e.SystemTransitions = 2 })
	try(r.awaitStatus(ctx, id, invoice.StatusAP)).must(r)
	r.check(r.advance(ctx, id, invoice.StatusAP, invoice.StatusA))
	first := try(h.awaitFirst(ctx, 2*time.Minute)).must(r)
	r.logf("the accounting system holds the export of %s open (key %s)", id, first.key)
	r.killInside(ctx, w, id, "ExportInvoice", h.unblock)
	st := try(r.awaitStatus(ctx, id, invoice.StatusS)).must(r)

	calls := h.snapshot()
	var unsigned, keys []string
	var taken []hookCall
	for i, c := range calls {
		r.logf("accounting request %d at +%.1f s: Idempotency-Key %s, webhook-id %s, answered 2xx: %v (%s), signature: %s", i+1,
			c.at.Sub(first.at).Seconds(), c.key, c.id, c.delivered, c.answer, verdict(c.verified))
		if c.verified != nil {
			unsigned = append(unsigned, fmt.Sprintf("request %d: %v", i+1, c.verified))
		}
		for _, k := range []string{c.key, c.id, exportOf(c.body).Key} {
			if !slices.Contains(keys, k) {
				keys = append(keys, k)
			}
		}
		if c.delivered {
			taken = append(taken, c)
		}
	}
	if len(calls) < 2 {
		r.t.Errorf("the accounting system got %d requests, want the cut-off one and its retry", len(calls))
	}
	if len(unsigned) > 0 {
		r.t.Errorf("%d of %d export requests do not verify with the buyer's secret: %s", len(unsigned), len(calls), strings.Join(unsigned, "; "))
	}
	if len(keys) != 1 || keys[0] == "" {
		r.t.Errorf("the export requests carry the keys %q (Idempotency-Key, webhook-id and the document's key), want one and the same on every request", keys)
	}
	if len(taken) != 1 {
		r.t.Errorf("%d export requests were answered 2xx (%s), want exactly 1", len(taken), describeCalls(calls))
	}
	if doc := exportOf(calls[0].body); doc.WorkflowID != id || doc.Invoice.PONumber != r.order(1).PONumber {
		r.t.Errorf("the exported document is for %s, PO %s; want %s, PO %s", doc.WorkflowID, doc.Invoice.PONumber, id, r.order(1).PONumber)
	}
	var reference string
	if len(taken) > 0 {
		var a struct {
			Reference string `json:"reference"`
		}
		_ = json.Unmarshal([]byte(taken[len(taken)-1].answer), &a)
		reference = a.Reference
	}
	switch {
	case st.Export == nil:
		r.t.Errorf("%s is in S without an export result in its state", id)
	case st.Export.Reference != reference || st.Export.Failure != "":
		r.t.Errorf("%s stores the export reference %q (failure %q), want %q, the one the accounting system answered", id,
			st.Export.Reference, st.Export.Failure, reference)
	case len(keys) == 1 && st.Export.Key != keys[0]:
		r.t.Errorf("%s stores the export key %q, the requests carried %q", id, st.Export.Key, keys[0])
	}
	var reason string
	if err := r.s.db.QueryRow(ctx, `SELECT coalesce(reason, '') FROM invoice_events WHERE workflow_id = $1 AND to_status = 'S'`, id).Scan(&reason); err != nil {
		r.t.Errorf("the audit row of %s's ES → S: %v", id, err)
	} else if reference == "" || !strings.Contains(reason, reference) {
		r.t.Errorf("the audit row of %s's ES → S reads %q, want the reference %q", id, reason, reference)
	}
	under := "one Idempotency-Key"
	if len(keys) != 1 {
		under = fmt.Sprintf("%d different keys", len(keys))
	}
	r.fault("accounting system: %d posts under %s, %d cut off, %d answered 2xx; S with reference %s",
		len(calls), under, len(calls)-len(taken), len(taken), reference)
	r.check(r.step(ctx, id, r.request(invoice.ActionMarkPaid, invoice.RoleAccounting), invoice.StatusP))
}

// hook is a company's receiving system: a webhook endpoint or an accounting system. It checks
// each request's Standard Webhooks signature with the secret it was given (setSecret, before any
// request can come) and records the request. While blocking, a request is held open until its
// sender goes away and is never answered; once unblocked, the n-th request (from 1) is answered
// at once: 200 with reply(n) as its body, or 204 when reply is nil.
type hook struct {
	srv   *httptest.Server
	reply func(n int) string

	mu       sync.Mutex
	secret   string
	calls    []hookCall
	blocking bool
	closed   chan struct{}
	arrived  chan struct{}
	once     sync.Once
	shut     sync.Once
}

// hookCall is one request as the hook got it.
type hookCall struct {
	at        time.Time
	id        string // webhook-id
	key       string // Idempotency-Key
	body      []byte
	verified  error  // nil when the signature verifies with the hook's secret
	delivered bool   // answered 2xx
	answer    string // the 2xx answer's body
}

func newHook(reply func(n int) string) *hook {
	h := &hook{reply: reply, blocking: true, closed: make(chan struct{}), arrived: make(chan struct{})}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		// Read first: only a request whose body has been read ends its context when the sender goes away.
		body, err := io.ReadAll(req.Body)
		h.mu.Lock()
		secret := h.secret
		h.mu.Unlock()
		if err == nil {
			var wh *standardwebhooks.Webhook
			if wh, err = standardwebhooks.NewWebhook(secret); err == nil {
				err = wh.Verify(body, req.Header)
			}
		}
		h.mu.Lock()
		i := len(h.calls)
		h.calls = append(h.calls, hookCall{at: time.Now(), id: req.Header.Get(standardwebhooks.HeaderWebhookID),
			key: req.Header.Get("Idempotency-Key"), body: body, verified: err})
		block := h.blocking
		h.mu.Unlock()
		h.once.Do(func() { close(h.arrived) })
		if block {
			select {
			case <-req.Context().Done(): // the sender died
			case <-h.closed:
			}
			panic(http.ErrAbortHandler) // no answer: the connection is dropped
		}
		if err != nil {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		answer := ""
		if h.reply != nil {
			answer = h.reply(i + 1)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusOK)
			_, _ = io.WriteString(w, answer)
		} else {
			w.WriteHeader(http.StatusNoContent)
		}
		h.mu.Lock()
		h.calls[i].delivered, h.calls[i].answer = true, answer
		h.mu.Unlock()
	}))
	return h
}

func (h *hook) setSecret(secret string) {
	h.mu.Lock()
	h.secret = secret
	h.mu.Unlock()
}

// unblock answers the requests that arrive from now on.
func (h *hook) unblock() {
	h.mu.Lock()
	h.blocking = false
	h.mu.Unlock()
}

func (h *hook) close() {
	h.shut.Do(func() { close(h.closed) })
	h.srv.Close()
}

func (h *hook) snapshot() []hookCall {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.calls)
}

// awaitFirst waits, up to limit, for the first request.
func (h *hook) awaitFirst(ctx context.Context, limit time.Duration) (hookCall, error) {
	select {
	case <-h.arrived:
		return h.snapshot()[0], nil
	case <-ctx.Done():
		return hookCall{}, ctx.Err()
	case <-time.After(limit):
		return hookCall{}, fmt.Errorf("no request reached the receiver within %s", limit)
	}
}

// webhookOf is the webhook message a request carried (zero when it is not one).
func webhookOf(body []byte) store.WebhookPayload { return decoded[store.WebhookPayload](body) }

// exportOf is the exported document a request carried (zero when it is not one).
func exportOf(body []byte) activities.ExportDocument { return decoded[activities.ExportDocument](body) }

func decoded[T any](body []byte) T {
	var v T
	_ = json.Unmarshal(body, &v)
	return v
}

func verdict(err error) string {
	if err == nil {
		return "verified"
	}
	return "DOES NOT VERIFY: " + err.Error()
}

// describeCalls is each request in one line: its webhook-id and whether it was answered 2xx.
func describeCalls(calls []hookCall) string {
	parts := make([]string, len(calls))
	for i, c := range calls {
		state := "cut off"
		if c.delivered {
			state = "2xx"
		}
		parts[i] = c.id + " " + state
	}
	return strings.Join(parts, ", ")
}

// missingFrom lists the elements of want that got lacks (counting repeats).
func missingFrom(want, got []string) []string {
	left := map[string]int{}
	for _, g := range got {
		left[g]++
	}
	var out []string
	for _, w := range want {
		if left[w] > 0 {
			left[w]--
			continue
		}
		out = append(out, w)
	}
	return out
}

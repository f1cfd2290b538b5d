package faults

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/k2kinvoice/autoinvoice/internal/gateway"
	"github.com/k2kinvoice/autoinvoice/internal/invoice"
	"github.com/k2kinvoice/autoinvoice/internal/testenv"
)

// gatewayClient posts to a gateway on a local port.
type gatewayClient struct {
	base string
	hc   *http.Client
}

// reply is an HTTP answer: status, whether it was a replay, and the body.
type reply struct {
	status   int
	replayed bool
	problem  string // the problem type of an error answer
	body     []byte
}

func (g gatewayClient) post(ctx context.Context, path, apiKey, idempotencyKey string, body any) (reply, error) {
	data, err := json.Marshal(body)
	if err != nil {
		return reply{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, g.base+path, bytes.NewReader(data))
	if err != nil {
		return reply{}, err
	}
	req.Header.Set("Authorization", "Bearer "+apiKey)
	req.Header.Set("Idempotency-Key", idempotencyKey)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("K2K-User", "faults")
	resp, err := g.hc.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	rep := reply{status: resp.StatusCode, replayed: resp.Header.Get("Idempotent-Replayed") == "true"}
	if rep.body, err = io.ReadAll(resp.Body); err != nil {
		return reply{}, err
	}
	var p struct {
		Type string `json:"type"`
	}
	if resp.StatusCode >= 400 && json.Unmarshal(rep.body, &p) == nil {
		rep.problem = p.Type
	}
	return rep, nil
}

// Scenario 3: the gateway is killed with SIGKILL while a POST /v1/orders and a POST of an
// approval are in flight (the worker's PostgreSQL held, so both wait on their workflows),
// started again, and both requests are sent again with the same Idempotency-Key until they are
// answered. The answers must be those of one confirmation and one approval, a second replay must
// give them back byte for byte, and nothing may be doubled.
func gatewayKill(r *run) {
	ctx := r.ctx(10 * time.Minute)
	r.startWorker()
	port := try(testenv.FreePort()).must(r)
	gw := r.startGateway(port)
	// A connection per request: Go's transport resends a request carrying an Idempotency-Key
	// over a new connection when a reused one breaks, which would blur what was in flight.
	client := gatewayClient{base: "http://127.0.0.1:" + strconv.Itoa(port),
		hc: &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}}
	key := func(company string, role invoice.Role) string {
		_, secret, err := r.s.deps.Store.APIKeyCreate(ctx, company, role, "faults-"+string(role))
		r.check(err)
		return secret
	}
	vendorKey, procKey, acctKey := key(r.vendor, invoice.RoleVendor), key(r.buyer, invoice.RoleProcurement), key(r.buyer, invoice.RoleAccounting)

	a, b := r.order(1), r.order(2)
	idA, idB := r.ledger.Order(a), r.ledger.Order(b)
	first := try(client.post(ctx, "/v1/orders", vendorKey, "order-1", map[string]any{"order": a})).must(r)
	var confirmedA gateway.OrderResponse
	if first.status != http.StatusCreated || json.Unmarshal(first.body, &confirmedA) != nil || confirmedA.WorkflowID != idA {
		r.t.Fatalf("POST /v1/orders answered %d %s, want 201 with workflow %s", first.status, first.body, idA)
	}

	type sent struct {
		reply reply
		err   error
	}
	r.pg.Hold()
	orderB, approveA := make(chan sent, 1), make(chan sent, 1)
	orderBody := map[string]any{"order": b}
	approvePath := fmt.Sprintf("/v1/invoices/%d/actions/approve", confirmedA.InvoiceID)
	go func() {
		rep, err := client.post(ctx, "/v1/orders", vendorKey, "order-2", orderBody)
		orderB <- sent{rep, err}
	}()
	try(r.awaitActivity(ctx, idB, "VerifyEligibility")).must(r)
	go func() {
		rep, err := client.post(ctx, approvePath, procKey, "approve-1", map[string]any{})
		approveA <- sent{rep, err}
	}()
	try(r.awaitActivity(ctx, idA, "RecordEvent")).must(r)
	gw.Kill()
	for name, ch := range map[string]chan sent{"POST /v1/orders": orderB, "POST " + approvePath: approveA} {
		if res := <-ch; res.err == nil {
			r.t.Fatalf("%s was answered %d %s before the gateway was killed: it was not in flight", name, res.reply.status, res.reply.body)
		} else {
			r.logf("%s in flight when the gateway was killed: %v", name, res.err)
		}
	}
	r.pg.Release()
	r.fault("SIGKILL gateway with POST /v1/orders and POST …/approve in flight")
	r.logf("the gateway was killed while POST /v1/orders waited on its workflow (in VerifyEligibility) and the approval on its audit write (RecordEvent)")
	r.startGateway(port)

	answerB, tries, waited := r.resend(ctx, client, "/v1/orders", vendorKey, "order-2", orderBody)
	var confirmedB gateway.OrderResponse
	inv := try(r.s.deps.Store.InvoiceByWorkflowID(ctx, idB)).must(r)
	if answerB.status != http.StatusCreated || json.Unmarshal(answerB.body, &confirmedB) != nil || confirmedB.WorkflowID != idB ||
		confirmedB.InvoiceID != inv.ID || confirmedB.Status != invoice.StatusAP {
		r.t.Fatalf("the resent order answered %d %s; want 201 with workflow %s, invoice %d in AP", answerB.status, answerB.body, idB, inv.ID)
	}
	answerA, triesA, waitedA := r.resend(ctx, client, approvePath, procKey, "approve-1", map[string]any{})
	var approved gateway.ActionResponse
	if answerA.status != http.StatusOK || json.Unmarshal(answerA.body, &approved) != nil || !approved.Accepted || approved.Status != invoice.StatusAA {
		r.t.Fatalf("the resent approval answered %d %s; want 200, accepted into AA", answerA.status, answerA.body)
	}
	r.ledger.Answer(idA, r.buyer+"/approve-1", invoice.ActionApprove, true)
	r.logf("resent both with the same Idempotency-Key after the restart: 409 in progress for %.0f s and %.0f s (%d and %d sends) until the claims were taken over",
		waited.Seconds(), waitedA.Seconds(), tries, triesA)
	for path, want := range map[string]reply{"/v1/orders": answerB, approvePath: answerA} {
		apiKey, idem, body := vendorKey, "order-2", any(orderBody)
		if path == approvePath {
			apiKey, idem, body = procKey, "approve-1", map[string]any{}
		}
		again := try(client.post(ctx, path, apiKey, idem, body)).must(r)
		if !again.replayed || again.status != want.status || !bytes.Equal(again.body, want.body) {
			r.t.Fatalf("POST %s sent a third time answered %d (replayed %v) %s; want the replay of %d %s", path, again.status, again.replayed,
				again.body, want.status, want.body)
		}
	}
	r.fault("restarted it; same Idempotency-Keys resent: 409 in progress for %.0f s, then %d and %d, replayed identically",
		max(waited, waitedA).Seconds(), answerB.status, answerA.status)

	// The rest of both lifecycles through the gateway.
	n := 0
	act := func(invoiceID int64, workflowID, action, apiKey string, a invoice.Action, body map[string]any, want invoice.Status) {
		n++
		idem := fmt.Sprintf("then-%s-%d", action, n)
		res := try(client.post(ctx, fmt.Sprintf("/v1/invoices/%d/actions/%s", invoiceID, action), apiKey, idem, body)).must(r)
		var ans gateway.ActionResponse
		if res.status != http.StatusOK || json.Unmarshal(res.body, &ans) != nil || !ans.Accepted || ans.Status != want {
			r.t.Fatalf("%s on invoice %d answered %d %s, want accepted into %s", action, invoiceID, res.status, res.body, want)
		}
		r.ledger.Answer(workflowID, r.buyer+"/"+idem, a, true)
	}
	paid := map[string]any{"payment_date": "2026-11-30", "payment_reference": "SEPA-faults"}
	act(confirmedB.InvoiceID, idB, "approve", procKey, invoice.ActionApprove, map[string]any{}, invoice.StatusAA)
	for _, x := range []struct {
		invoiceID int64
		id        string
	}{{confirmedA.InvoiceID, idA}, {confirmedB.InvoiceID, idB}} {
		act(x.invoiceID, x.id, "approve-payment", acctKey, invoice.ActionApprovePayment, map[string]any{}, invoice.StatusA)
		act(x.invoiceID, x.id, "mark-paid", acctKey, invoice.ActionMarkPaid, paid, invoice.StatusP)
	}
}

// resend sends a request again, with the same key and body, until the gateway stops answering
// 409 idempotency-key-in-progress (a claim left by the killed process is taken over after two
// minutes). It returns the answer, how many sends it took and how long.
func (r *run) resend(ctx context.Context, client gatewayClient, path, apiKey, key string, body any) (reply, int, time.Duration) {
	r.t.Helper()
	began := time.Now()
	for tries := 1; ; tries++ {
		res, err := client.post(ctx, path, apiKey, key, body)
		switch {
		case err != nil:
			r.t.Fatalf("resend POST %s: %v", path, err)
		case res.status != http.StatusConflict || res.problem != "urn:k2k:problem:idempotency-key-in-progress":
			r.logf("resent POST %s (key %s): %d after %d sends in %.1f s: %s", path, key, res.status, tries, time.Since(began).Seconds(), bytes.TrimSpace(res.body))
			return res, tries, time.Since(began)
		case time.Since(began) > 4*time.Minute:
			r.t.Fatalf("POST %s still answers 409 in progress after %d sends in 4 minutes: %s", path, tries, res.body)
		}
		time.Sleep(5 * time.Second)
	}
}

package faults

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/k2kinvoice/autoinvoice/internal/gateway"
	"github.com/k2kinvoice/autoinvoice/internal/invoice"
	"github.com/k2kinvoice/autoinvoice/internal/testenv"
)

// rollingRestart runs the production shape: two workers and two gateways. n orders are confirmed
// through the gateways alternately and driven to paid over HTTP while the workers, then the
// gateways, are stopped and started again one at a time: with SIGTERM (a rolling deploy: each
// drains what it runs) or SIGKILL (crashes). A request the stopping gateway could not answer is
// sent again, with the same Idempotency-Key, to the other gateway until it gets its answer (a
// claim the killed gateway left is taken over after two minutes).
func rollingRestart(n int, kill bool) func(*run) {
	return func(r *run) {
		ctx := r.ctx(20 * time.Minute)
		workers := []*proc{r.startWorker(), r.startWorker()}
		ports := []int{try(testenv.FreePort()).must(r), try(testenv.FreePort()).must(r)}
		gateways := []*proc{r.startGateway(ports[0]), r.startGateway(ports[1])}
		clients := make([]gatewayClient, 2)
		for i, port := range ports {
			clients[i] = gatewayClient{base: "http://127.0.0.1:" + strconv.Itoa(port),
				hc: &http.Client{Timeout: 90 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}}
		}
		key := func(company string, role invoice.Role) string {
			_, secret, err := r.s.deps.Store.APIKeyCreate(ctx, company, role, "faults-rolling-"+string(role))
			r.check(err)
			return secret
		}
		vendorKey, procKey, acctKey := key(r.vendor, invoice.RoleVendor), key(r.buyer, invoice.RoleProcurement), key(r.buyer, invoice.RoleAccounting)

		var progress atomic.Int64
		// send posts to gateway g, and on a failure without an answer (the gateway stopping, or a
		// claim left by a killed one) sends the same request to the other gateway, until answered.
		send := func(g int, path, apiKey, idem string, body any) (reply, error) {
			for tries := 0; ; tries++ {
				res, err := clients[(g+tries)%2].post(ctx, path, apiKey, idem, body)
				inProgress := err == nil && res.status == http.StatusConflict && res.problem == "urn:k2k:problem:idempotency-key-in-progress"
				if err == nil && !inProgress && res.status < 500 {
					return res, nil
				}
				if ctx.Err() != nil {
					return res, fmt.Errorf("POST %s (key %s) unanswered: %v", path, idem, err)
				}
				r.clientRetries.Add(1)
				if inProgress {
					time.Sleep(5 * time.Second)
				} else {
					time.Sleep(200 * time.Millisecond)
				}
			}
		}
		paid := map[string]any{"payment_date": "2026-11-30", "payment_reference": "SEPA-rolling"}
		drive := func(i int) error {
			o := r.order(i)
			id := r.ledger.Order(o)
			g := i % 2
			res, err := send(g, "/v1/orders", vendorKey, fmt.Sprintf("order-%d", i), map[string]any{"order": o})
			if err != nil {
				return err
			}
			var conf gateway.OrderResponse
			if err := json.Unmarshal(res.body, &conf); err != nil || conf.WorkflowID != id || res.status >= 300 && res.status != http.StatusAccepted {
				return fmt.Errorf("order %d answered %d %s", i, res.status, res.body)
			}
			progress.Add(1)
			invoiceID := conf.InvoiceID
			if invoiceID == 0 { // 202: not settled within the gateway's wait
				st, err := r.awaitStatus(ctx, id, invoice.StatusAP)
				if err != nil {
					return err
				}
				invoiceID = st.InvoiceID
			}
			for _, step := range []struct {
				name   string
				key    string
				action invoice.Action
				body   map[string]any
				want   invoice.Status
			}{
				{"approve", procKey, invoice.ActionApprove, map[string]any{}, invoice.StatusAA},
				{"approve-payment", acctKey, invoice.ActionApprovePayment, map[string]any{}, invoice.StatusA},
				{"mark-paid", acctKey, invoice.ActionMarkPaid, paid, invoice.StatusP},
			} {
				idem := fmt.Sprintf("%s-%d", step.name, i)
				res, err := send(g+1, fmt.Sprintf("/v1/invoices/%d/actions/%s", invoiceID, step.name), step.key, idem, step.body)
				if err != nil {
					return err
				}
				var ans gateway.ActionResponse
				if res.status != http.StatusOK || json.Unmarshal(res.body, &ans) != nil || !ans.Accepted || ans.Status != step.want {
					return fmt.Errorf("%s of order %d answered %d %s, want accepted into %s", step.name, i, res.status, res.body, step.want)
				}
				r.ledger.Answer(id, r.buyer+"/"+idem, step.action, true)
				progress.Add(1)
				g++
			}
			return nil
		}

		how, stop := "SIGTERM", func(p *proc) { p.Stop(30 * time.Second) }
		if kill {
			how, stop = "SIGKILL", func(p *proc) { p.Kill() }
		}
		driven := make(chan error, 1)
		go func() { driven <- gather(n, 8, drive) }()
		{ // the roll, on the test's own goroutine (starting a process may fail the test)
			steps := int64(n * 4)
			wait := func(share int64) {
				for progress.Load() < steps*share/10 && ctx.Err() == nil && len(driven) == 0 {
					time.Sleep(20 * time.Millisecond)
				}
			}
			for i := range workers {
				wait(int64(2 + 2*i))
				at := progress.Load()
				stop(workers[i])
				workers[i] = r.startWorker()
				r.fault("%s worker %d of 2 at step %d of %d, restarted", how, i+1, at, steps)
			}
			for i := range gateways {
				wait(int64(6 + 2*i))
				at := progress.Load()
				stop(gateways[i])
				gateways[i] = r.startGateway(ports[i])
				r.fault("%s gateway %d of 2 at step %d of %d, restarted on its port", how, i+1, at, steps)
			}
		}
		r.check(<-driven)
	}
}

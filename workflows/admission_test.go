package workflows

import (
	"errors"
	"strings"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/k2kinvoice/autoinvoice/activities"
	"github.com/k2kinvoice/autoinvoice/internal/invoice"
)

// jsonPayload is a raw message payload as a raw signal or update from any client carries it.
func jsonPayload(body string) converter.RawValue {
	return converter.NewRawValue(&commonpb.Payload{
		Metadata: map[string][]byte{converter.MetadataEncoding: []byte(converter.MetadataEncodingJSON)},
		Data:     []byte(body)})
}

// sendRaw sends a signal carrying payload as it is, after d of workflow time.
func (h *harness) sendRaw(d time.Duration, name string, payload converter.RawValue) {
	h.at(d, func() { h.env.SignalWorkflow(name, payload) })
}

// Poisoned messages: whatever a raw signal carries (bytes PostgreSQL refuses, a payload the SDK
// could not decode, a member sent twice, a message name nobody listens to), it is refused with an
// audit row whose texts are escaped, and the invoice goes on: the next valid action is applied.
func TestAdmission_PoisonedSignalsRefusedAndAudited(t *testing.T) {
	for _, tc := range []struct {
		name    string
		signal  string
		payload converter.RawValue
		action  invoice.Action
		reason  string // a phrase the refusal's reason holds
		actor   string // the audit row's actor company, escaped
	}{
		{"NUL in the actor's company", SignalApprove,
			jsonPayload(`{"actor":{"company_id":"BUY-1\u0000","user_id":"u","role":"procurement"},"idempotency_key":"k-nul"}`),
			invoice.ActionApprove, "actor.company_id", `BUY-1\u0000`},
		{"NUL in the user", SignalApprove,
			jsonPayload(`{"actor":{"company_id":"BUY-1","user_id":"u\u0000","role":"procurement"},"idempotency_key":"k-user"}`),
			invoice.ActionApprove, "actor.user_id", "BUY-1"},
		{"invalid UTF-8 in the reason", SignalReturnToProcurement,
			jsonPayload("{\"actor\":{\"company_id\":\"BUY-1\",\"user_id\":\"u\",\"role\":\"accounting\"},\"idempotency_key\":\"k-utf\",\"reason\":\"a\xffb\"}"),
			invoice.ActionReturnToProcurement, "reason: must be valid UTF-8", "BUY-1"},
		{"U+202E in the reason", SignalReturnToProcurement,
			jsonPayload(`{"actor":{"company_id":"BUY-1","user_id":"u","role":"accounting"},"idempotency_key":"k-rtl","reason":"ok\u202ekO"}`),
			invoice.ActionReturnToProcurement, "reason: must not contain bidirectional", "BUY-1"},
		{"10 kB user", SignalApprove,
			jsonPayload(`{"actor":{"company_id":"BUY-1","user_id":"` + strings.Repeat("u", 10_000) + `","role":"procurement"},"idempotency_key":"k-long"}`),
			invoice.ActionApprove, "actor.user_id: must be at most 200 characters", "BUY-1"},
		{"wrong JSON type", SignalApprove,
			jsonPayload(`{"actor":{"company_id":"BUY-1","user_id":"u","role":"procurement"},"idempotency_key":7}`),
			invoice.ActionApprove, "idempotency_key: must be a string", "BUY-1"},
		{"duplicate key", SignalApprove,
			jsonPayload(`{"actor":{"company_id":"BUY-1","company_id":"VEND-1","user_id":"u","role":"procurement"},"idempotency_key":"k-dup"}`),
			invoice.ActionApprove, "actor.company_id: appears more than once", "VEND-1"},
		{"unknown field", SignalApprove,
			jsonPayload(`{"actor":{"company_id":"BUY-1","user_id":"u","role":"procurement"},"idempotency_key":"k-f","amount":1}`),
			invoice.ActionApprove, "amount: is not a known field", "BUY-1"},
		{"not JSON", SignalApprove,
			converter.NewRawValue(&commonpb.Payload{Metadata: map[string][]byte{converter.MetadataEncoding: []byte("binary/plain")}, Data: []byte("x")}),
			invoice.ActionApprove, `encoded as "binary/plain"`, ""},
		{"no payload", SignalApprove, converter.RawValue{}, invoice.ActionApprove, "carries no payload", ""},
		{"staging key of another object", SignalVendorUpdate,
			jsonPayload(`{"actor":{"company_id":"VEND-1","user_id":"v","role":"vendor"},"idempotency_key":"k-key","update":{"invoice_number":"INV-78","issue_date":"2024-05-03","currency":"EUR","total_minor":100,"lines":[{"description":"x","quantity":1,"unit_price_minor":100}],"staging_key":"invoices/OTHER/VEND-1/INV-1/r1/x.pdf"}}`),
			invoice.ActionVendorUpdate, "update.staging_key: must be a staged upload", "VEND-1"},
		{"unknown message name", "approve_payment",
			jsonPayload(`{"actor":{"company_id":"BUY-1","user_id":"u","role":"accounting"},"idempotency_key":"k-name"}`),
			"approve_payment", `"approve_payment" is not a message of this workflow`, "BUY-1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.sendRaw(time.Minute, tc.signal, tc.payload)
			h.happyPath(2 * time.Minute)
			h.run()
			h.assertPaid()

			events := h.recorded()
			h.assertEvents(events, wantCreated, refused(tc.action, invoice.StatusAP, invoice.RefusedInvalid),
				wantApprove, wantApprovePayment, wantMarkPaid)
			if len(events) < 2 {
				return
			}
			e := events[1]
			if !strings.Contains(e.Reason, tc.reason) {
				t.Errorf("refusal reason %q, want it to name %q", e.Reason, tc.reason)
			}
			if e.Actor.CompanyID != tc.actor {
				t.Errorf("audit actor company %q, want %q (escaped, never dropped)", e.Actor.CompanyID, tc.actor)
			}
			for _, text := range []string{e.Reason, e.Actor.CompanyID, e.Actor.UserID, string(e.Action)} {
				if !invoice.Clean(text) || len(text) > 2100 {
					t.Errorf("audit text %q (%d bytes) is not storable as it is", text, len(text))
				}
			}
		})
	}
}

// The update door: the validator refuses a poisoned update up front with a non-retryable
// invalid_request naming the field, and nothing reaches the inbox or the audit.
func TestAdmission_PoisonedUpdatesRefusedByTheValidator(t *testing.T) {
	h := newHarness(t)
	var calls []*updateCall
	for i, body := range []string{
		`{"actor":{"company_id":"BUY-1\u0000","user_id":"u","role":"procurement"},"idempotency_key":"u-nul"}`,
		`{"actor":{"company_id":"BUY-1","user_id":"u","role":"procurement","role":"accounting"},"idempotency_key":"u-dup"}`,
		`{"actor":{"company_id":"BUY-1","user_id":"u","role":"procurement"},"idempotency_key":["u-type"]}`,
	} {
		raw := jsonPayload(body)
		u := &updateCall{name: SignalApprove, id: "raw-" + string(rune('a'+i)), raw: &raw}
		calls = append(calls, u)
		h.at(time.Minute, func() { h.sendUpdate(u) })
	}
	h.happyPath(2 * time.Minute)
	h.run()
	h.assertPaid()
	for i, phrase := range []string{"actor.company_id", "actor.role: appears more than once", "idempotency_key: must be a string"} {
		got := calls[i].outcome()
		var appErr *temporal.ApplicationError
		if got.Rejected == nil || !errors.As(got.Rejected, &appErr) || appErr.Type() != string(invoice.RefusedInvalid) ||
			!appErr.NonRetryable() || !strings.Contains(appErr.Message(), phrase) {
			t.Errorf("update %d: rejected with %v, want a non-retryable invalid_request naming %q", i, got.Rejected, phrase)
		}
	}
	h.assertEvents(h.recorded(), wantCreated, wantApprove, wantApprovePayment, wantMarkPaid)
}

// Data the database or S3 refuses is not retried without end: a vendor update whose revision
// cannot be stored is refused, an order whose invoice cannot be created ends rejected, and a
// refusal whose audit row cannot be written is still answered.
func TestAdmission_UnprocessableDataIsAnAnswer(t *testing.T) {
	unprocessable := temporal.NewNonRetryableApplicationError("value refused", activities.ErrTypeUnprocessable, nil)
	t.Run("revision", func(t *testing.T) {
		h := newHarness(t)
		h.reviseErr = func(int, activities.ReviseInput) error { return unprocessable }
		h.send(time.Minute, vendorUpdate("vu-1", vendorUser, revisedUpdate()))
		h.happyPath(2 * time.Minute)
		h.run()
		h.assertPaid()
		// The failed ReviseInvoice spent key #2 on its event, which was not written.
		h.assertEvents(h.rawEvents(), wantCreated, refused(invoice.ActionVendorUpdate, invoice.StatusAP, invoice.RefusedInvalid),
			wantApprove, wantApprovePayment, wantMarkPaid)
		if n := len(h.reviseInputs()); n != 1 {
			t.Errorf("ReviseInvoice attempts = %d, want 1 (not retried)", n)
		}
	})
	t.Run("invoice", func(t *testing.T) {
		h := newHarness(t)
		h.createErr = unprocessable
		h.run()
		if r := h.result(); r.Outcome != OutcomeRejected || !strings.Contains(r.Reason, "value refused") {
			t.Errorf("result = %+v, want outcome rejected with the reason", r)
		}
	})
	t.Run("audit of a refusal", func(t *testing.T) {
		h := newHarness(t)
		h.recordErr = func(_ int, e invoice.Event) error {
			if e.Kind == invoice.EventRefused {
				return unprocessable
			}
			return nil
		}
		h.send(time.Minute, approvePayment("too-early", accounting))
		h.happyPath(2 * time.Minute)
		h.run()
		_, s := h.assertPaid()
		if a := s.Answers["too-early"]; a.Accepted || a.Code != invoice.RefusedWrongStatus {
			t.Errorf("answer = %+v, want refused not_allowed_in_state", a)
		}
	})
}

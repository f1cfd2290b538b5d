package workflows

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/workflow"

	"github.com/k2kinvoice/autoinvoice/internal/invoice"
)

// QueuedAction is one action as it arrived, waiting in the inbox. A message that failed
// admission (not decodable as an action request, or breaking invoice.CheckRequest) keeps its
// refusal in Malformed and its texts escaped; it is refused, and audited, when its turn comes.
type QueuedAction struct {
	invoice.ActionRequest
	Malformed *invoice.Refusal `json:"malformed,omitempty"`
}

// arrive decodes a signal's or update's payload as the action request of message m and applies
// the admission rule every message passes, whichever door it came through. The workflow takes
// payloads raw, so that a payload the SDK could not decode into an ActionRequest (wrong JSON
// types, not JSON at all) is refused and audited here instead of being dropped by the SDK.
func arrive(raw converter.RawValue, name string, action invoice.Action) QueuedAction {
	p := raw.Payload()
	malformed := func(req invoice.ActionRequest, reason string) QueuedAction {
		req = withMessageAction(req, action)
		return QueuedAction{ActionRequest: req.Escaped(), Malformed: &invoice.Refusal{Code: invoice.RefusedInvalid, Reason: reason}}
	}
	if p == nil {
		return malformed(invoice.ActionRequest{}, fmt.Sprintf("the %s message carries no payload; it needs an action request (a JSON object)", name))
	}
	if enc := string(p.GetMetadata()[converter.MetadataEncoding]); enc != converter.MetadataEncodingJSON {
		return malformed(invoice.ActionRequest{}, fmt.Sprintf("the %s message's payload is encoded as %q; it needs an action request as JSON (%s)",
			name, invoice.EscapeText(enc, 100), converter.MetadataEncodingJSON))
	}
	var req invoice.ActionRequest
	if err := invoice.DecodeStrict(bytes.NewReader(p.GetData()), &req); err != nil {
		return malformed(readable(p), err.Error())
	}
	req = withMessageAction(req, action)
	if refusal := invoice.CheckRequest(req); refusal != nil {
		return QueuedAction{ActionRequest: req.Escaped(), Malformed: refusal.(*invoice.Refusal)}
	}
	return QueuedAction{ActionRequest: req}
}

// readable is what can be read of a refused payload (who sent it, under which key), for its
// audit row; whatever does not decode is left empty.
func readable(p *commonpb.Payload) invoice.ActionRequest {
	var req invoice.ActionRequest
	if p != nil {
		_ = json.Unmarshal(p.GetData(), &req)
	}
	return req
}

// collectUnknown moves every signal sent under a name that is no message of this workflow into
// the inbox, refused, so that a misspelled or made-up signal leaves an audit row instead of
// waiting unseen in a channel.
func (w *invoiceWorkflow) collectUnknown(ctx workflow.Context) {
	for _, name := range w.unknownSignals(ctx) {
		ch := workflow.GetSignalChannel(ctx, name)
		var raw converter.RawValue
		for ch.ReceiveAsync(&raw) {
			req := readable(raw.Payload())
			req.Action = invoice.Action(name)
			w.Inbox = append(w.Inbox, QueuedAction{ActionRequest: req.Escaped(), Malformed: &invoice.Refusal{
				Code:   invoice.RefusedInvalid,
				Reason: fmt.Sprintf("%q is not a message of this workflow; its messages are %v", invoice.EscapeText(name, 100), messageNames())}})
			raw = converter.RawValue{}
		}
	}
}

// unknownSignals lists, sorted, the names of signals waiting that no listener takes.
func (w *invoiceWorkflow) unknownSignals(ctx workflow.Context) []string {
	var unknown []string
	for _, name := range workflow.GetUnhandledSignalNames(ctx) {
		if !slices.Contains(messageNames(), name) {
			unknown = append(unknown, name)
		}
	}
	slices.Sort(unknown)
	return unknown
}

// messageNames lists the signal and update names of the workflow.
func messageNames() []string {
	names := make([]string, len(messages))
	for i, m := range messages {
		names[i] = m.name
	}
	return names
}

// ArrivalOrder is a worker interceptor that notes the name of every signal as the worker delivers
// it to a workflow, in the order of its history. With it, the invoice workflow moves signals into
// its inbox in that order through one goroutine; without it (a worker or replayer built without
// it), the workflow falls back to one listener goroutine per message name, which keeps the order
// of each name's signals but takes signals of different names that arrive in the same workflow
// task by name. Register it in every worker and replayer of the invoice workflow (app.NewWorker
// and NewReplayer do).
type ArrivalOrder struct {
	interceptor.WorkerInterceptorBase
}

// InterceptWorkflow gives each workflow execution its own arrival log.
func (ArrivalOrder) InterceptWorkflow(_ workflow.Context, next interceptor.WorkflowInboundInterceptor) interceptor.WorkflowInboundInterceptor {
	return &arrivalInbound{WorkflowInboundInterceptorBase: interceptor.WorkflowInboundInterceptorBase{Next: next}, log: &arrivals{}}
}

// arrivalInbound notes signal names in its execution's log and hands the log to the workflow
// through its context.
type arrivalInbound struct {
	interceptor.WorkflowInboundInterceptorBase
	log *arrivals
}

// arrivalsKey is the context key of an execution's arrival log.
type arrivalsKey struct{}

// arrivals is the names of the signals delivered and not yet taken, oldest first. Signals of the
// first workflow task are delivered before the workflow function runs, so the log exists from
// the execution's start.
type arrivals struct {
	names []string
}

func (a *arrivalInbound) ExecuteWorkflow(ctx workflow.Context, in *interceptor.ExecuteWorkflowInput) (any, error) {
	return a.Next.ExecuteWorkflow(workflow.WithValue(ctx, arrivalsKey{}, a.log), in)
}

func (a *arrivalInbound) HandleSignal(ctx workflow.Context, in *interceptor.HandleSignalInput) error {
	if err := a.Next.HandleSignal(ctx, in); err != nil {
		return err
	}
	a.log.names = append(a.log.names, in.SignalName)
	return nil
}

// arrivalLog is the execution's arrival log, or nil when the worker runs without ArrivalOrder.
func arrivalLog(ctx workflow.Context) *arrivals {
	a, _ := ctx.Value(arrivalsKey{}).(*arrivals)
	return a
}

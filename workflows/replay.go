package workflows

import (
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// NewReplayer returns a replayer with the invoice workflow registered under its type name,
// reading payloads with dc (nil: the SDK's default). Replaying a history taken from a running
// system against new code shows whether the new code would break the workflows in flight.
func NewReplayer(dc converter.DataConverter) (worker.WorkflowReplayer, error) {
	replayer, err := worker.NewWorkflowReplayerWithOptions(worker.WorkflowReplayerOptions{
		DataConverter: dc,
		Interceptors:  []interceptor.WorkerInterceptor{&ArrivalOrder{}},
	})
	if err != nil {
		return nil, err
	}
	replayer.RegisterWorkflowWithOptions(InvoiceWorkflow, workflow.RegisterOptions{Name: InvoiceWorkflowType})
	replayer.RegisterWorkflowWithOptions(CreditNoteWorkflow, workflow.RegisterOptions{Name: CreditNoteWorkflowType})
	return replayer, nil
}

package testenv

import (
	"context"
	"fmt"
	"os"
	"strconv"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/testsuite"

	"github.com/k2kinvoice/autoinvoice/workflows"
)

// StartDevServer starts the pinned Temporal CLI dev server (in memory, headless) on a free port,
// with the workflow's search attributes registered exactly as the dev stack registers them.
func StartDevServer(ctx context.Context) (*testsuite.DevServer, error) {
	bin, err := TemporalCLI()
	if err != nil {
		return nil, err
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	args := []string{"--http-port", "0", "--metrics-port", "0"}
	for _, sa := range workflows.SearchAttributes() {
		args = append(args, "--search-attribute", sa.Name+"="+sa.Type)
	}
	srv, err := testsuite.StartDevServer(ctx, testsuite.DevServerOptions{
		ExistingPath:  bin,
		ClientOptions: &client.Options{HostPort: "127.0.0.1:" + strconv.Itoa(port), Namespace: "default"},
		LogLevel:      "error",
		ExtraArgs:     args,
		Stdout:        os.Stderr,
		Stderr:        os.Stderr,
	})
	if err != nil {
		return nil, fmt.Errorf("start the Temporal dev server %s: %w", bin, err)
	}
	return srv, nil
}

// Describe is the server's description of a workflow: status, pending activities and workflow
// task, search attributes.
func Describe(ctx context.Context, c client.Client, workflowID string) (*workflowservice.DescribeWorkflowExecutionResponse, error) {
	d, err := c.DescribeWorkflow(ctx, workflowID, "")
	if err != nil {
		return nil, err
	}
	return d.RawResponse, nil
}

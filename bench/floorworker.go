package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"time"

	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/k2kinvoice/autoinvoice/internal/app"
)

// runFloorWorker runs the floor workflows and their steps on floorTaskQueue until ctx ends,
// connected exactly as the worker is (app.Connect: the same Temporal client options, payload
// encryption, logger and metrics handler), with the SDK's default worker options (the worker's
// defaults), serving /metrics and /readyz on K2K_WORKER_HTTP_LISTEN.
func runFloorWorker(ctx context.Context) error {
	deps, log, err := app.ConnectFromEnv(ctx)
	if err != nil {
		return err
	}
	defer deps.Close()
	w := worker.New(deps.Temporal, floorTaskQueue, worker.Options{})
	w.RegisterWorkflowWithOptions(floorOld, workflow.RegisterOptions{Name: floorOldType})
	w.RegisterWorkflowWithOptions(floorNew, workflow.RegisterOptions{Name: floorNewType})
	w.RegisterActivity(&floorSteps{})
	if err := w.Start(); err != nil {
		return err
	}
	defer w.Stop()
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", deps.Metrics.HTTPHandler())
	mux.HandleFunc("GET /readyz", func(rw http.ResponseWriter, _ *http.Request) { fmt.Fprintln(rw, "ready") })
	srv := &http.Server{Addr: os.Getenv("K2K_WORKER_HTTP_LISTEN"), Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	return app.Serve(ctx, log, "floor worker metrics", srv, time.Second)
}

// Command worker runs the K2K invoice workflow and its activities next to the ERP.
//
//	worker                    apply pending migrations, then run until SIGINT/SIGTERM
//	worker migrate            apply pending migrations and exit
//	worker search-attributes  print the search attributes to register, as NAME=Type
//	worker healthcheck        exit 0 when the worker on this host answers /healthz
//
// Configuration comes from the environment: see internal/config, and the K2K_WORKER_* tuning
// variables of runCmd.
package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/pprof"
	"time"

	"go.temporal.io/sdk/worker"

	"github.com/k2kinvoice/autoinvoice/internal/app"
	"github.com/k2kinvoice/autoinvoice/internal/config"
	"github.com/k2kinvoice/autoinvoice/internal/store"
	"github.com/k2kinvoice/autoinvoice/workflows"
)

type cli struct {
	Run              runCmd              `cmd:"" default:"1" help:"Migrate the schema, then run the worker until SIGINT or SIGTERM."`
	Migrate          migrateCmd          `cmd:"" help:"Apply pending schema migrations and exit."`
	SearchAttributes searchAttributesCmd `cmd:"" help:"Print the search attributes the workflow sets, as NAME=Type lines."`
	Healthcheck      healthcheckCmd      `cmd:"" help:"Exit 0 when the worker on this host answers /healthz (for container healthchecks)."`
}

type healthcheckCmd struct {
	HTTPListen string `default:"127.0.0.1:9464" env:"K2K_WORKER_HTTP_LISTEN" help:"The worker's metrics and health address."`
}

func (c healthcheckCmd) Run(ctx context.Context) error { return app.Probe(ctx, c.HTTPListen) }

type runCmd struct {
	ShutdownTimeout time.Duration `default:"30s" env:"K2K_SHUTDOWN_TIMEOUT" help:"How long in-flight activities may take to finish on shutdown."`
	HTTPListen      string        `default:"127.0.0.1:9464" env:"K2K_WORKER_HTTP_LISTEN" help:"Address of /metrics (Prometheus), /healthz and /readyz; empty: none."`
	Pprof           bool          `default:"false" env:"K2K_WORKER_PPROF" help:"Also serve Go's runtime profiles (CPU, heap, goroutines) at /debug/pprof/ on that address; off by default, as they show the process's internals."`
	tuning
}

// tuning is the worker's Temporal options an operator may change; the defaults are the SDK's.
type tuning struct {
	WorkflowPollers     int     `default:"2" env:"K2K_WORKER_WORKFLOW_POLLERS" help:"Workflow task pollers (long polls held open to the server)."`
	ActivityPollers     int     `default:"2" env:"K2K_WORKER_ACTIVITY_POLLERS" help:"Activity task pollers."`
	WorkflowSlots       int     `default:"1000" env:"K2K_WORKER_WORKFLOW_SLOTS" help:"Workflow tasks this worker runs at once."`
	ActivitySlots       int     `default:"1000" env:"K2K_WORKER_ACTIVITY_SLOTS" help:"Activities this worker runs at once."`
	StickyCache         int     `default:"10000" env:"K2K_WORKER_STICKY_CACHE" help:"Workflows kept in memory between their tasks (the process's sticky cache)."`
	ActivitiesPerSecond float64 `default:"100000" env:"K2K_WORKER_ACTIVITIES_PER_SECOND" help:"Most activities this worker starts per second."`
}

// options validates the tuning and returns it as the SDK's worker options.
func (t tuning) options(stopTimeout time.Duration) (worker.Options, error) {
	for _, v := range []struct {
		name  string
		value float64
	}{
		{"K2K_WORKER_WORKFLOW_POLLERS", float64(t.WorkflowPollers)}, {"K2K_WORKER_ACTIVITY_POLLERS", float64(t.ActivityPollers)},
		{"K2K_WORKER_WORKFLOW_SLOTS", float64(t.WorkflowSlots)}, {"K2K_WORKER_ACTIVITY_SLOTS", float64(t.ActivitySlots)},
		{"K2K_WORKER_STICKY_CACHE", float64(t.StickyCache)}, {"K2K_WORKER_ACTIVITIES_PER_SECOND", t.ActivitiesPerSecond},
	} {
		if v.value <= 0 {
			return worker.Options{}, fmt.Errorf("configuration: %s must be greater than zero, got %v", v.name, v.value)
		}
	}
	if t.WorkflowPollers > t.WorkflowSlots || t.ActivityPollers > t.ActivitySlots {
		return worker.Options{}, errors.New("configuration: pollers must not outnumber their slots (K2K_WORKER_*_POLLERS ≤ K2K_WORKER_*_SLOTS)")
	}
	return worker.Options{
		MaxConcurrentWorkflowTaskPollers:       t.WorkflowPollers,
		MaxConcurrentActivityTaskPollers:       t.ActivityPollers,
		MaxConcurrentWorkflowTaskExecutionSize: t.WorkflowSlots,
		MaxConcurrentActivityExecutionSize:     t.ActivitySlots,
		WorkerActivitiesPerSecond:              t.ActivitiesPerSecond,
		WorkerStopTimeout:                      stopTimeout,
	}, nil
}

func (r *runCmd) Run(ctx context.Context) error {
	cfg, err := config.Load()
	if err != nil {
		return err
	}
	opts, err := r.options(r.ShutdownTimeout)
	if err != nil {
		return err
	}
	worker.SetStickyWorkflowCacheSize(r.StickyCache)
	log := app.NewLogger(cfg.LogLevel)
	deps, err := app.Connect(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer deps.Close()
	if cfg.MigrateOnStart {
		if err := deps.Store.Migrate(ctx, log); err != nil {
			return err
		}
	}
	w := app.NewWorker(deps.Temporal, deps.Activities(), opts)
	if err := w.Start(); err != nil {
		return fmt.Errorf("start worker: %w", err)
	}
	stopWebhooks := deps.StartWebhooks(ctx, log)
	defer stopWebhooks()
	if r.HTTPListen != "" {
		srv := &http.Server{Addr: r.HTTPListen, Handler: opsHandler(deps, r.Pprof), ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second}
		go func() {
			if err := app.Serve(ctx, log, "metrics and health", srv, 5*time.Second); err != nil {
				log.Error("metrics and health server failed", "error", err)
			}
		}()
	}
	log.Info("worker started", "task_queue", workflows.TaskQueue, "bucket", cfg.S3Bucket,
		"workflow_pollers", r.WorkflowPollers, "activity_pollers", r.ActivityPollers, "workflow_slots", r.WorkflowSlots,
		"activity_slots", r.ActivitySlots, "sticky_cache", r.StickyCache, "activities_per_second", r.ActivitiesPerSecond)
	<-ctx.Done()
	log.Info("shutting down: waiting for in-flight activities", "timeout", r.ShutdownTimeout)
	w.Stop()
	log.Info("worker stopped")
	return nil
}

// opsHandler serves /metrics (the SDK's and the business metrics), /healthz (the process runs)
// and /readyz (PostgreSQL, S3 and Temporal answer); with profiles, Go's profiles at /debug/pprof/
// (a CPU profile must be shorter than the server's 30-second write timeout).
func opsHandler(deps *app.Deps, profiles bool) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", deps.Metrics.HTTPHandler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "alive") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		if err := deps.Ready(ctx); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	if profiles {
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	return mux
}

type migrateCmd struct{}

func (migrateCmd) Run(ctx context.Context) error {
	cfg, err := config.Load()
	if err != nil {
		return err
	}
	log := app.NewLogger(cfg.LogLevel)
	st, err := store.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer st.Close()
	return st.Migrate(ctx, log)
}

type searchAttributesCmd struct{}

func (searchAttributesCmd) Run() error {
	for _, sa := range workflows.SearchAttributes() {
		fmt.Printf("%s=%s\n", sa.Name, sa.Type)
	}
	return nil
}

func main() {
	app.RunCommand("worker", "Runs the K2K Auto-Invoice workflow and activities.", &cli{})
}

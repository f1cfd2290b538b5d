package testenv

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"

	"go.temporal.io/sdk/worker"

	"github.com/k2kinvoice/autoinvoice/internal/app"
	"github.com/k2kinvoice/autoinvoice/internal/config"
	"github.com/k2kinvoice/autoinvoice/internal/payloadcrypt"
)

// Stack is what a test binary of the whole system runs on: a fresh database, versitygw with one
// bucket, Temporal, the processes' environment set to reach them, the app's connections with the
// schema migrated, and a worker of the invoice task queue in this process.
type Stack struct {
	Deps     *app.Deps
	S3       *S3
	Temporal Temporal
	stops    []func()
}

// StartStack starts the servers, sets the environment (env adds to or overrides it), connects
// and migrates, and starts a worker. On failure it has stopped what it started.
func StartStack(ctx context.Context, bucket string, env map[string]string) (_ *Stack, err error) {
	s := &Stack{}
	defer func() {
		if err != nil {
			s.Stop()
		}
	}()
	dbURL, drop, err := NewDatabase(ctx)
	if err != nil {
		return nil, err
	}
	s.stops = append(s.stops, drop)
	if s.S3, err = StartS3(ctx); err != nil {
		return nil, err
	}
	s.stops = append(s.stops, s.S3.Stop)
	if s.Temporal, err = StartTemporal(ctx); err != nil {
		return nil, err
	}
	s.stops = append(s.stops, func() { _ = s.Temporal.Stop() })

	vars := s.S3.Env(bucket)
	vars["DATABASE_URL"] = dbURL
	vars["TEMPORAL_ADDRESS"] = s.Temporal.FrontendHostPort()
	vars["TEMPORAL_NAMESPACE"] = "default"
	vars["K2K_LOG_LEVEL"] = "warn"
	vars["K2K_PAYLOAD_KEYS"] = payloadcrypt.TestKeys
	for k, v := range env {
		vars[k] = v
	}
	if err := Setenv(vars); err != nil {
		return nil, err
	}
	if _, err := s.S3.Bucket(ctx, bucket); err != nil {
		return nil, err
	}
	cfg, err := config.Load()
	if err != nil {
		return nil, err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if s.Deps, err = app.Connect(ctx, cfg, log); err != nil {
		return nil, err
	}
	s.stops = append(s.stops, s.Deps.Close)
	if err := s.Deps.Store.Migrate(ctx, slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		return nil, err
	}
	w := app.NewWorker(s.Deps.Temporal, s.Deps.Activities(), worker.Options{})
	if err := w.Start(); err != nil {
		return nil, errors.Join(errors.New("start the worker"), err)
	}
	s.stops = append(s.stops, w.Stop, s.Deps.StartWebhooks(context.Background(), log))
	return s, nil
}

// Stop stops the worker, closes the connections and stops the servers, in reverse order.
func (s *Stack) Stop() {
	for i := len(s.stops) - 1; i >= 0; i-- {
		s.stops[i]()
	}
	s.stops = nil
}

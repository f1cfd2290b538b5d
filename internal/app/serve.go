package app

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/alecthomas/kong"
)

// Serve runs srv until ctx ends (SIGINT or SIGTERM in the commands), then shuts it down: it stops
// accepting connections and gives requests in flight up to grace to finish. what names the
// server in the log. It returns when the server has stopped; an error is a failure to listen or a
// shutdown that did not finish within grace.
func Serve(ctx context.Context, log *slog.Logger, what string, srv *http.Server, grace time.Duration) error {
	errs := make(chan error, 1)
	go func() { errs <- srv.ListenAndServe() }()
	log.Info(what+" listening", "address", srv.Addr)
	select {
	case err := <-errs:
		return err
	case <-ctx.Done():
	}
	log.Info(what+" shutting down", "grace", grace)
	shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), grace)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// RunCommand parses the command line into cli (a kong grammar), runs the selected command with a
// context that ends on SIGINT or SIGTERM (and cli bound, for commands that read its global flags),
// and exits 1 with the error logged when the command fails. It is the main of the server commands.
func RunCommand(name, description string, cli any) {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	kctx := kong.Parse(cli, kong.Name(name), kong.Description(description),
		kong.BindTo(ctx, (*context.Context)(nil)), kong.Bind(cli))
	err := kctx.Run()
	stop()
	if err != nil {
		slog.Error(name+" failed", "error", err)
		os.Exit(1)
	}
}

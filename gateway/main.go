// Command gateway is the HTTP API of K2K Auto-Invoice for ERP backends that do not use the
// Temporal SDK: API keys per company and role, idempotency keys, problem+json answers, the
// OpenAPI description at /openapi.json and its reference page at /docs (see internal/gateway).
// Run as many replicas as needed behind a load balancer; they share nothing but PostgreSQL, S3
// and Temporal.
//
//	gateway              serve until SIGINT/SIGTERM (requests in flight get 30 s to finish)
//	gateway healthcheck  exit 0 when the gateway on this host answers /healthz
//
// Configuration comes from the environment: see internal/config, plus K2K_GATEWAY_LISTEN and
// K2K_GATEWAY_PDF_LINK_TTL.
package main

import (
	"context"
	"net/http"
	"time"

	"github.com/k2kinvoice/autoinvoice/internal/app"
)

type cli struct {
	Listen     string        `default:"127.0.0.1:8088" env:"K2K_GATEWAY_LISTEN" help:"Address the gateway listens on."`
	PresignTTL time.Duration `default:"5m" env:"K2K_GATEWAY_PDF_LINK_TTL" help:"How long a PDF download link works."`

	Run         runCmd         `cmd:"" default:"1" help:"Serve the HTTP API until SIGINT or SIGTERM."`
	Healthcheck healthcheckCmd `cmd:"" help:"Exit 0 when the gateway on this host answers /healthz (for container healthchecks)."`
}

type runCmd struct{}

func (runCmd) Run(ctx context.Context, c *cli) error {
	deps, log, err := app.ConnectFromEnv(ctx)
	if err != nil {
		return err
	}
	defer deps.Close()
	return app.Serve(ctx, log, "gateway", &http.Server{
		Addr:              c.Listen,
		Handler:           deps.Gateway(log, c.PresignTTL).Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}, 30*time.Second)
}

type healthcheckCmd struct{}

func (healthcheckCmd) Run(ctx context.Context, c *cli) error { return app.Probe(ctx, c.Listen) }

func main() {
	app.RunCommand("gateway", "Serves the K2K Auto-Invoice HTTP API to ERP backends.", &cli{})
}

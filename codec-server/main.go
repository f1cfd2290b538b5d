// Command codec-server serves /encode and /decode (the Temporal codec server protocol) so that the
// Temporal UI and CLI show the workflow payloads the worker seals with K2K_PAYLOAD_KEYS, and logs
// every request (never payloads).
//
//	codec-server              serve until SIGINT/SIGTERM
//	codec-server healthcheck  exit 0 when the codec server on this host answers /healthz
//
// Configuration: K2K_PAYLOAD_KEYS (required), K2K_CODEC_LISTEN, K2K_CODEC_CORS_ORIGINS and
// K2K_CODEC_AUTH_TOKEN.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/k2kinvoice/autoinvoice/internal/app"
	"github.com/k2kinvoice/autoinvoice/internal/payloadcrypt"
)

type cli struct {
	Listen    string   `default:"127.0.0.1:8089" env:"K2K_CODEC_LISTEN" help:"Address the codec server listens on."`
	Origins   []string `default:"http://localhost:8233,http://127.0.0.1:8233" env:"K2K_CODEC_CORS_ORIGINS" help:"Temporal UI origins allowed by CORS."`
	AuthToken string   `env:"K2K_CODEC_AUTH_TOKEN" help:"Bearer token callers must send; empty: anyone who reaches the address may decode (development only)."`

	Run         runCmd         `cmd:"" default:"1" help:"Serve /encode and /decode until SIGINT or SIGTERM."`
	Healthcheck healthcheckCmd `cmd:"" help:"Exit 0 when the codec server on this host answers /healthz (for container healthchecks)."`
}

type healthcheckCmd struct{}

func (healthcheckCmd) Run(ctx context.Context, c *cli) error { return app.Probe(ctx, c.Listen) }

type runCmd struct{}

func (runCmd) Run(ctx context.Context, c *cli) error {
	keys := os.Getenv("K2K_PAYLOAD_KEYS")
	if keys == "" {
		return errors.New("configuration: K2K_PAYLOAD_KEYS is not set: there is nothing to decode with")
	}
	codec, err := payloadcrypt.ParseKeys(keys)
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	log := app.NewLogger(slog.LevelInfo)
	if c.AuthToken == "" {
		log.Warn("K2K_CODEC_AUTH_TOKEN is not set: anyone who reaches the codec server can decrypt payloads")
	}
	log.Info("codec server", "origins", c.Origins)
	return app.Serve(ctx, log, "codec server", &http.Server{Addr: c.Listen, Handler: codec.CodecServer(c.Origins, c.AuthToken, log),
		ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second}, 10*time.Second)
}

func main() {
	app.RunCommand("codec-server", "Decrypts K2K Auto-Invoice workflow payloads for the Temporal UI and CLI.", &cli{})
}

// Command codec-server serves /encode and /decode (the Temporal codec server protocol) so that the
// Temporal UI and CLI show the workflow payloads the worker seals with K2K_PAYLOAD_KEYS, and logs
// every request (never payloads).
//
//	codec-server              serve until SIGINT/SIGTERM
//	codec-server healthcheck  exit 0 when the codec server on this host answers /healthz
//
// Configuration: K2K_PAYLOAD_KEYS (required), K2K_CODEC_LISTEN, K2K_CODEC_CORS_ORIGINS, and who
// may decode: K2K_CODEC_AUTH_TOKEN (a static bearer token, for the CLI) and K2K_CODEC_JWKS_URL
// with K2K_CODEC_JWT_ISSUER and K2K_CODEC_JWT_AUDIENCE (bearer JWTs from the identity provider,
// which the Temporal UI forwards with its codec pass-access-token). Either credential is accepted
// when configured; with neither, anyone who reaches the codec server may decode (development only).
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
	"github.com/k2kinvoice/autoinvoice/internal/codecauth"
	"github.com/k2kinvoice/autoinvoice/internal/payloadcrypt"
)

type cli struct {
	Listen  string           `default:"127.0.0.1:8089" env:"K2K_CODEC_LISTEN" help:"Address the codec server listens on."`
	Origins []string         `default:"http://localhost:8233,http://127.0.0.1:8233" env:"K2K_CODEC_CORS_ORIGINS" help:"Temporal UI origins allowed by CORS."`
	Auth    codecauth.Config `embed:""`

	Run         runCmd         `cmd:"" default:"1" help:"Serve /encode and /decode until SIGINT or SIGTERM."`
	Healthcheck healthcheckCmd `cmd:"" help:"Exit 0 when the codec server on this host answers /healthz (for container healthchecks)."`
}

type healthcheckCmd struct{}

func (healthcheckCmd) Run(ctx context.Context, c *cli) error { return app.Probe(ctx, c.Listen) }

type runCmd struct{}

func (runCmd) Run(ctx context.Context, c *cli) error {
	log := app.NewLogger(slog.LevelInfo)
	handler, err := newHandler(ctx, c, os.Getenv("K2K_PAYLOAD_KEYS"), log)
	if err != nil {
		return err
	}
	return app.Serve(ctx, log, "codec server", &http.Server{Addr: c.Listen, Handler: handler,
		ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second}, 10*time.Second)
}

// newHandler checks the configuration (errors name the variable), fetches the JWT key set when
// one is configured, and returns the codec server's handler. The key set is refreshed until ctx ends.
func newHandler(ctx context.Context, c *cli, keys string, log *slog.Logger) (http.Handler, error) {
	if keys == "" {
		return nil, errors.New("configuration: K2K_PAYLOAD_KEYS is not set: there is nothing to decode with")
	}
	codec, err := payloadcrypt.ParseKeys(keys)
	if err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	auth, err := codecauth.New(ctx, c.Auth, nil, log)
	if err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	var checked payloadcrypt.Authenticator
	if auth.Enabled() {
		checked = auth
	} else {
		log.Warn("neither K2K_CODEC_AUTH_TOKEN nor K2K_CODEC_JWKS_URL is set: anyone who reaches the codec server can decrypt payloads")
	}
	log.Info("codec server", "origins", c.Origins, "static_token", c.Auth.StaticToken != "",
		"jwks_url", c.Auth.JWKSURL, "jwt_issuer", c.Auth.Issuer, "jwt_audience", c.Auth.Audience)
	return codec.CodecServer(c.Origins, checked, log), nil
}

func main() {
	app.RunCommand("codec-server", "Decrypts K2K Auto-Invoice workflow payloads for the Temporal UI and CLI.", &cli{})
}

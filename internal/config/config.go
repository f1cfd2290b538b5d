// Package config reads the processes' configuration from the environment, with the names the
// ecosystem already uses (TEMPORAL_*, DATABASE_URL, AWS_*), and validates it at start so a
// missing setting is reported by name instead of failing later.
package config

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"reflect"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/caarlos0/env/v11"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/contrib/envconfig"
)

// Config is what the worker and the starter need beyond the Temporal client settings (read by
// the SDK's envconfig from TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS*,
// or a TEMPORAL_CONFIG_FILE profile) and the AWS settings (the AWS SDK's standard chain:
// AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_PROFILE, AWS_ENDPOINT_URL_S3,
// AWS_REQUEST_CHECKSUM_CALCULATION, ...).
type Config struct {
	// DatabaseURL is the PostgreSQL connection string, e.g. postgres://user@host:5432/db.
	DatabaseURL string `env:"DATABASE_URL,required,notEmpty"`
	// S3Bucket is the private bucket holding invoice PDFs.
	S3Bucket string `env:"K2K_S3_BUCKET,required,notEmpty"`
	// S3PathStyle addresses the bucket in the path (http://host/bucket/key), which versitygw,
	// MinIO and most self-hosted S3-compatible servers need.
	S3PathStyle bool `env:"K2K_S3_PATH_STYLE" envDefault:"false"`
	// PDFMaxBytes is the largest PDF accepted from a vendor.
	PDFMaxBytes int64 `env:"K2K_PDF_MAX_BYTES" envDefault:"10485760"`
	// LogLevel is debug, info, warn or error.
	LogLevel slog.Level `env:"K2K_LOG_LEVEL" envDefault:"info"`
	// MigrateOnStart applies pending schema migrations when the worker starts.
	MigrateOnStart bool `env:"K2K_MIGRATE_ON_START" envDefault:"true"`
	// Reminders are the waits before reminding people of an invoice, used by whoever starts
	// invoice workflows (0: no reminders in that status).
	RemindAP     time.Duration `env:"K2K_REMIND_AP" envDefault:"72h"`
	RemindAA     time.Duration `env:"K2K_REMIND_AA" envDefault:"48h"`
	RemindA      time.Duration `env:"K2K_REMIND_A" envDefault:"168h"`
	RemindD      time.Duration `env:"K2K_REMIND_D" envDefault:"120h"` // reminds the vendor of a disputed invoice
	RemindersMax int           `env:"K2K_REMINDERS_MAX" envDefault:"3"`
	// PayloadKeys encrypts workflow payloads: "id:base64key,…", the first key writes, all read.
	// Empty: payloads are stored in plain text (development only).
	PayloadKeys string `env:"K2K_PAYLOAD_KEYS"`
}

// retiredNotifyURL is the variable that once named a hook for reminders only.
const retiredNotifyURL = "K2K_NOTIFY_URL"

// Load reads Config from the environment. The error names every missing or malformed variable.
func Load() (Config, error) {
	if os.Getenv(retiredNotifyURL) != "" {
		return Config{}, errors.New("configuration: " + retiredNotifyURL + " is no longer read: a reminder reaches people as " +
			"an invoice.reminder webhook event, like every other event; register the hook as a webhook endpoint " +
			"(the starter's webhook add, or POST /v1/admin/webhooks) and unset " + retiredNotifyURL)
	}
	cfg, err := env.ParseAs[Config]()
	if err != nil {
		return Config{}, fmt.Errorf("configuration: %w", nameVariables(err))
	}
	if cfg.PDFMaxBytes <= 0 {
		return Config{}, errors.New("configuration: K2K_PDF_MAX_BYTES must be greater than zero")
	}
	if cfg.RemindAP < 0 || cfg.RemindAA < 0 || cfg.RemindA < 0 || cfg.RemindD < 0 || cfg.RemindersMax < 0 {
		return Config{}, errors.New("configuration: K2K_REMIND_AP, K2K_REMIND_AA, K2K_REMIND_A, K2K_REMIND_D and K2K_REMINDERS_MAX must not be negative")
	}
	return cfg, nil
}

// nameVariables rewrites the library's parse errors, which name Go fields, so that they name the
// environment variables a user sets. Other errors (missing variables) name them already.
func nameVariables(err error) error {
	var agg env.AggregateError
	if !errors.As(err, &agg) {
		return err
	}
	msgs := make([]string, 0, len(agg.Errors))
	for _, e := range agg.Errors {
		var pe env.ParseError
		if errors.As(e, &pe) {
			if f, ok := reflect.TypeFor[Config]().FieldByName(pe.Name); ok {
				variable, _, _ := strings.Cut(f.Tag.Get("env"), ",")
				msgs = append(msgs, fmt.Sprintf("%s is malformed (want a %s): %v", variable, pe.Type, pe.Err))
				continue
			}
		}
		msgs = append(msgs, e.Error())
	}
	return errors.New(strings.Join(msgs, "; "))
}

// TemporalClientOptions loads the Temporal client options with the SDK's envconfig (environment
// variables and the optional config profile) and requires an address, so that a worker in
// production never silently dials localhost.
func TemporalClientOptions() (client.Options, error) {
	opts, err := envconfig.LoadDefaultClientOptions()
	if err != nil {
		return client.Options{}, fmt.Errorf("configuration: Temporal client: %w", err)
	}
	if opts.HostPort == "" {
		return client.Options{}, errors.New("configuration: TEMPORAL_ADDRESS is not set (nor an address in the Temporal config profile)")
	}
	return opts, nil
}

// AWS loads the AWS SDK configuration from its standard chain and checks that a region and
// credentials are there.
func AWS(ctx context.Context) (aws.Config, error) {
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return aws.Config{}, fmt.Errorf("configuration: AWS: %w", err)
	}
	if cfg.Region == "" {
		return aws.Config{}, errors.New("configuration: AWS_REGION is not set (nor a region in the AWS profile)")
	}
	if _, err := cfg.Credentials.Retrieve(ctx); err != nil {
		return aws.Config{}, fmt.Errorf("configuration: no AWS credentials (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE): %w", err)
	}
	return cfg, nil
}

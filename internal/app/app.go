// Package app wires the processes: it turns configuration into connected clients (PostgreSQL,
// S3, Temporal) and registers the workflow and activities on a worker. The worker and starter
// commands and the integration tests all wire through here, so they run the same thing.
package app

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/k2kinvoice/autoinvoice/activities"
	"github.com/k2kinvoice/autoinvoice/internal/blob"
	"github.com/k2kinvoice/autoinvoice/internal/config"
	"github.com/k2kinvoice/autoinvoice/internal/gateway"
	"github.com/k2kinvoice/autoinvoice/internal/invoiceclient"
	"github.com/k2kinvoice/autoinvoice/internal/metrics"
	"github.com/k2kinvoice/autoinvoice/internal/payloadcrypt"
	"github.com/k2kinvoice/autoinvoice/internal/store"
	"github.com/k2kinvoice/autoinvoice/internal/webhooks"
	"github.com/k2kinvoice/autoinvoice/workflows"
)

// NewLogger is the processes' structured logger: JSON lines on stderr.
func NewLogger(level slog.Level) *slog.Logger {
	return slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

// Deps are the connections a process holds. Close releases them.
type Deps struct {
	Config config.Config
	// Metrics holds the SDK's and the business metrics, for /metrics.
	Metrics *metrics.Metrics
	// Namespace is the Temporal namespace the client works in.
	Namespace string
	Store     *store.Store
	Blobs     *blob.Store
	Temporal  client.Client
}

// Connect reads the Temporal and AWS settings from the environment and connects to PostgreSQL,
// S3 and Temporal, failing with a message that says which one is missing or unreachable.
func Connect(ctx context.Context, cfg config.Config, log *slog.Logger) (*Deps, error) {
	topts, err := config.TemporalClientOptions()
	if err != nil {
		return nil, err
	}
	awsCfg, err := config.AWS(ctx)
	if err != nil {
		return nil, err
	}
	st, err := OpenStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	blobs := blob.New(awsCfg, cfg.S3Bucket, cfg.S3PathStyle)
	if err := blobs.CheckBucket(ctx); err != nil {
		st.Close()
		return nil, fmt.Errorf("%w (is K2K_S3_BUCKET created and AWS_ENDPOINT_URL_S3 right?)", err)
	}
	topts.Logger = tlog.NewStructuredLogger(log)
	m, err := metrics.New()
	if err != nil {
		st.Close()
		return nil, err
	}
	topts.MetricsHandler = m.Handler()
	if cfg.PayloadKeys == "" {
		log.Warn("K2K_PAYLOAD_KEYS is not set: workflow payloads (invoice numbers, amounts, companies) are stored in plain text")
	} else {
		codec, err := payloadcrypt.ParseKeys(cfg.PayloadKeys)
		if err != nil {
			st.Close()
			return nil, fmt.Errorf("configuration: %w", err)
		}
		topts.DataConverter = codec.DataConverter()
	}
	tc, err := client.DialContext(ctx, topts)
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("temporal: cannot reach %s: %w", topts.HostPort, err)
	}
	return &Deps{Config: cfg, Metrics: m, Namespace: namespaceOrDefault(topts.Namespace), Store: st, Blobs: blobs, Temporal: tc}, nil
}

// OpenStore opens the store on DATABASE_URL, sealing the signing secrets it stores with the
// payload key ring when K2K_PAYLOAD_KEYS is set.
func OpenStore(ctx context.Context, cfg config.Config) (*store.Store, error) {
	st, err := store.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, err
	}
	if cfg.PayloadKeys != "" {
		codec, err := payloadcrypt.ParseKeys(cfg.PayloadKeys)
		if err != nil {
			st.Close()
			return nil, fmt.Errorf("configuration: %w", err)
		}
		st.SealSecretsWith(codec)
	}
	return st, nil
}

// ConnectFromEnv loads the configuration from the environment and connects as Connect does, with
// the logger of the configured level: how a server command starts.
func ConnectFromEnv(ctx context.Context) (*Deps, *slog.Logger, error) {
	cfg, err := config.Load()
	if err != nil {
		return nil, nil, err
	}
	log := NewLogger(cfg.LogLevel)
	deps, err := Connect(ctx, cfg, log)
	return deps, log, err
}

// Close releases the connections.
func (d *Deps) Close() {
	d.Temporal.Close()
	d.Store.Close()
}

// Activities are the activities over these connections.
func (d *Deps) Activities() *activities.Activities {
	return &activities.Activities{Store: d.Store, Blobs: d.Blobs, MaxPDFBytes: d.Config.PDFMaxBytes}
}

// StartWebhooks runs a webhook dispatcher (webhooks.Dispatcher) in the background, until the
// returned stop is called or ctx ends; stop waits for the message in flight.
func (d *Deps) StartWebhooks(ctx context.Context, log *slog.Logger) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = webhooks.NewDispatcher(d.Store, log).Run(ctx)
	}()
	return func() { cancel(); <-done }
}

// InvoiceClient is the invoice client over these connections.
func (d *Deps) InvoiceClient() *invoiceclient.Client {
	c := d.Config
	return &invoiceclient.Client{Temporal: d.Temporal, Store: d.Store, Blobs: d.Blobs, MaxPDFBytes: c.PDFMaxBytes,
		Reminders: workflows.ReminderPolicy{AP: c.RemindAP, AA: c.RemindAA, A: c.RemindA, D: c.RemindD, Max: c.RemindersMax}}
}

// Gateway is the HTTP gateway over these connections.
func (d *Deps) Gateway(log *slog.Logger, presignTTL time.Duration) *gateway.Server {
	return &gateway.Server{Store: d.Store, Blobs: d.Blobs, Invoices: d.InvoiceClient(), Log: log, PresignTTL: presignTTL,
		Ready: d.Ready}
}

// Ready checks that PostgreSQL, the S3 bucket and Temporal answer.
func (d *Deps) Ready(ctx context.Context) error {
	if err := d.Store.Ping(ctx); err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	if err := d.Blobs.CheckBucket(ctx); err != nil {
		return err
	}
	if _, err := d.Temporal.CheckHealth(ctx, &client.CheckHealthRequest{}); err != nil {
		return fmt.Errorf("temporal: %w", err)
	}
	return nil
}

// NewWorker makes a worker on the invoice task queue with the workflow and activities registered.
func NewWorker(c client.Client, acts *activities.Activities, opts worker.Options) worker.Worker {
	opts.Interceptors = append(opts.Interceptors, &workflows.ArrivalOrder{})
	w := worker.New(c, workflows.TaskQueue, opts)
	w.RegisterWorkflowWithOptions(workflows.InvoiceWorkflow, workflow.RegisterOptions{Name: workflows.InvoiceWorkflowType})
	w.RegisterWorkflowWithOptions(workflows.CreditNoteWorkflow, workflow.RegisterOptions{Name: workflows.CreditNoteWorkflowType})
	w.RegisterActivity(acts)
	return w
}

// namespaceOrDefault is the namespace the SDK uses when none is configured.
func namespaceOrDefault(ns string) string {
	if ns == "" {
		return client.DefaultNamespace
	}
	return ns
}

// Probe asks a server of ours listening on listen (such as "0.0.0.0:8088" or ":9464") for
// /healthz on the local host, for container healthchecks in images without a shell or curl.
func Probe(ctx context.Context, listen string) error {
	_, port, err := net.SplitHostPort(listen)
	if err != nil {
		return fmt.Errorf("probe: listen address %q: %w", listen, err)
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://127.0.0.1:"+port+"/healthz", nil)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Timeout: 3 * time.Second}).Do(req)
	if err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("probe: /healthz answered %s", resp.Status)
	}
	return nil
}

// Package metrics exports the Temporal SDK's metrics and the invoice business metrics for
// Prometheus. The workflow and activities record business metrics through the SDK's metrics
// handler (replay-safe: nothing is recorded while a workflow replays); this package turns all of
// them into one Prometheus registry, served at /metrics.
package metrics

import (
	"fmt"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.temporal.io/sdk/client"
	temporalotel "go.temporal.io/sdk/contrib/opentelemetry"
)

// Names of the business metrics, as Prometheus shows them (counters appear as gauges of the
// running total, the way the SDK's OpenTelemetry handler exports them).
const (
	Orders      = "k2k_orders"           // confirmed orders by outcome: invoice_created, not_eligible, rejected
	Transitions = "k2k_transitions"      // accepted actions by action, from and to
	Refusals    = "k2k_refusals"         // refused actions by action and code
	Reminders   = "k2k_reminders"        // reminders by status
	StatusTime  = "k2k_status_seconds"   // time an invoice spent in a status, by status, when it leaves it
	PDFBytes    = "k2k_pdf_bytes_stored" // bytes of invoice PDFs stored, by source
	Paid        = "k2k_invoices_paid"    // invoices paid
	// AuditFailures counts refusals whose audit row the database refused even escaped.
	AuditFailures = "k2k_audit_failures"
)

// Metrics is one process's metrics: a registry and the SDK metrics handler feeding it.
type Metrics struct {
	registry *prometheus.Registry
	handler  client.MetricsHandler
}

// New builds a registry with the Go runtime and process collectors and an SDK metrics handler.
func New() (*Metrics, error) {
	registry := prometheus.NewRegistry()
	registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	exporter, err := otelprom.New(otelprom.WithRegisterer(registry))
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter))
	handler := temporalotel.NewMetricsHandler(temporalotel.MetricsHandlerOptions{Meter: provider.Meter("k2k-autoinvoice")})
	return &Metrics{registry: registry, handler: handler}, nil
}

// Handler is the SDK metrics handler to put in client.Options.MetricsHandler.
func (m *Metrics) Handler() client.MetricsHandler { return m.handler }

// HTTPHandler serves the registry in the Prometheus text format.
func (m *Metrics) HTTPHandler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{Registry: m.registry})
}

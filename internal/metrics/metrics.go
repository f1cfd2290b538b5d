// Package metrics exports the Temporal SDK's metrics and the invoice business metrics for
// Prometheus. The workflow and activities record business metrics through the SDK's metrics
// handler (replay-safe: nothing is recorded while a workflow replays); this package turns all of
// them into one Prometheus registry, served at /metrics.
package metrics

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/attribute"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.temporal.io/sdk/client"
	temporalotel "go.temporal.io/sdk/contrib/opentelemetry"
)

// Names of the business metrics as the code records them. Prometheus shows the counters with the
// suffix _total (k2k_orders_total) and the timer as a histogram in seconds (k2k_status_seconds).
const (
	Orders      = "k2k_orders"           // confirmed orders by outcome: invoice_created, not_eligible, rejected
	Transitions = "k2k_transitions"      // accepted actions by action, from and to
	Refusals    = "k2k_refusals"         // refused actions by action and code
	CreditNotes = "k2k_credit_notes"     // credit notes by outcome: created, rejected, applied
	Exports     = "k2k_exports"          // sendings to buyers' accounting systems by outcome: synchronized, failed
	Reminders   = "k2k_reminders"        // reminders by status
	StatusTime  = "k2k_status_seconds"   // time an invoice spent in a status, by status, when it leaves it
	PDFBytes    = "k2k_pdf_bytes_stored" // bytes of invoice PDFs stored, by source
	Paid        = "k2k_invoices_paid"    // invoices paid
	// AuditFailures counts refusals whose audit row the database refused even escaped.
	AuditFailures = "k2k_audit_failures"
)

// StatusTimeBuckets are the bucket bounds of StatusTime, in seconds: 1, 5, 15 and 30 minutes;
// 1, 2, 4, 8, 12 hours; 1, 2, 3, 5, 7, 14 and 30 days.
var StatusTimeBuckets = []float64{60, 300, 900, 1800, 3600, 7200, 14400, 28800, 43200,
	86400, 172800, 259200, 432000, 604800, 1209600, 2592000}

// businessView shapes the business metrics: the SDK tags every metric recorded in workflow code
// with activity_type="none", which means nothing on them, and invoices wait for days, so time in
// a status is bucketed from a minute to a month (StatusTimeBuckets).
func businessView(i sdkmetric.Instrument) (sdkmetric.Stream, bool) {
	if !strings.HasPrefix(i.Name, "k2k_") {
		return sdkmetric.Stream{}, false
	}
	s := sdkmetric.Stream{Name: i.Name, Description: i.Description, Unit: i.Unit,
		AttributeFilter: attribute.NewDenyKeysFilter("activity_type")}
	if i.Name == StatusTime {
		s.Aggregation = sdkmetric.AggregationExplicitBucketHistogram{Boundaries: StatusTimeBuckets}
	}
	return s, true
}

// Metrics is one process's metrics: a registry and the SDK metrics handler feeding it.
type Metrics struct {
	registry *prometheus.Registry
	handler  client.MetricsHandler
}

// New builds a registry with the Go runtime and process collectors and an SDK metrics handler.
func New() (*Metrics, error) {
	registry := prometheus.NewRegistry()
	registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// No instrumentation-scope labels on every series: one meter feeds this registry.
	exporter, err := otelprom.New(otelprom.WithRegisterer(registry), otelprom.WithoutScopeInfo())
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter), sdkmetric.WithView(businessView))
	// Counters as monotonic sums, so Prometheus sees counters (with _total), not gauges.
	handler := temporalotel.NewMetricsHandler(temporalotel.MetricsHandlerOptions{Meter: provider.Meter("k2k-autoinvoice"),
		UseMonotonicCounters: true})
	return &Metrics{registry: registry, handler: handler}, nil
}

// Handler is the SDK metrics handler to put in client.Options.MetricsHandler.
func (m *Metrics) Handler() client.MetricsHandler { return m.handler }

// HTTPHandler serves the registry in the Prometheus text format.
func (m *Metrics) HTTPHandler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{Registry: m.registry})
}

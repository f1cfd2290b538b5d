package gateway_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/k2kinvoice/autoinvoice/internal/gateway"
	"github.com/k2kinvoice/autoinvoice/internal/invoice"
)

func TestProbesAndOpenAPI(t *testing.T) {
	t.Parallel()
	if s := decode[map[string]string](t, get(t, "/healthz", ""), http.StatusOK); s["status"] != "alive" {
		t.Errorf("/healthz = %v", s)
	}
	if s := decode[map[string]string](t, get(t, "/readyz", ""), http.StatusOK); s["status"] != "ready" {
		t.Errorf("/readyz = %v", s)
	}
	// The broken gateway's bucket does not exist: not ready, and it says why in a warning.
	problem(t, call{base: broken.URL, method: http.MethodGet, path: "/readyz"}.send(t),
		want{status: http.StatusServiceUnavailable, slug: "not-ready", detail: "k2k-no-such-bucket"})
	if n := brokenLog.count("WARN not ready"); n == 0 {
		t.Error("an unready gateway logged no warning")
	}
	a := get(t, "/openapi.json", "")
	if a.status != http.StatusOK || a.header.Get("Content-Type") != "application/json" || !bytes.Equal(a.body, gateway.OpenAPI()) {
		t.Errorf("/openapi.json = %s, want the embedded document", a)
	}
}

func TestAuthentication(t *testing.T) {
	t.Parallel()
	p := newParty(t)
	ctx := context.Background()
	revoked, revokedToken, err := deps.Store.APIKeyCreate(ctx, p.Order.BuyerID, invoice.RoleProcurement, "revoked")
	if err != nil {
		t.Fatal(err)
	}
	if err := deps.Store.APIKeyRevoke(ctx, revoked.ID); err != nil {
		t.Fatal(err)
	}
	// Without a bearer token: asked for one.
	for _, header := range []string{"", "Basic dXNlcjpwYXNz", "bearer " + p.Procurement} {
		a := call{method: http.MethodGet, path: "/v1/invoices", header: map[string]string{"Authorization": header}}.send(t)
		problem(t, a, want{status: http.StatusUnauthorized, slug: "unauthenticated", detail: "Authorization: Bearer"})
		if got := a.header.Get("WWW-Authenticate"); got != `Bearer realm="k2k"` {
			t.Errorf("Authorization %q: WWW-Authenticate %q", header, got)
		}
	}
	// A token that is no valid key: an invalid token.
	unknown := "k2k_" + strings.Repeat("a", 16) + "_" + strings.Repeat("b", 64)
	for name, token := range map[string]string{"unknown": unknown, "malformed": "letmein", "revoked": revokedToken} {
		a := get(t, "/v1/invoices", token)
		problem(t, a, want{status: http.StatusUnauthorized, slug: "unauthenticated", detail: "unknown, malformed or revoked"})
		if got := a.header.Get("WWW-Authenticate"); got != `Bearer realm="k2k", error="invalid_token"` {
			t.Errorf("%s key: WWW-Authenticate %q", name, got)
		}
	}
	// A valid key, with blanks around it.
	a := call{method: http.MethodGet, path: "/v1/invoices", header: map[string]string{"Authorization": "Bearer  " + p.Procurement + " "}}.send(t)
	if l := decode[gateway.InvoiceList](t, a, http.StatusOK); len(l.Invoices) != 0 || l.NextPageToken != "" {
		t.Errorf("a new buyer's list = %+v, want empty", l)
	}
}

func TestUnknownRoutes(t *testing.T) {
	t.Parallel()
	p := newParty(t)
	for _, c := range []call{
		{method: http.MethodGet, path: "/v1/companies", token: p.Procurement},
		{method: http.MethodGet, path: "/v1/orders", token: p.Vendor},
		{method: http.MethodDelete, path: "/v1/invoices/1", token: p.Vendor},
		{method: http.MethodGet, path: "/"},
	} {
		problem(t, c.send(t), want{status: http.StatusNotFound, slug: "not-found", title: "Not found", detail: "no such resource for this API key"})
	}
}

// metricsOf scrapes a gateway's /metrics into its samples: "name{labels}" to value.
func metricsOf(t *testing.T, base string) map[string]float64 {
	t.Helper()
	a := call{base: base, method: http.MethodGet, path: "/metrics"}.send(t)
	if a.status != http.StatusOK {
		t.Fatalf("/metrics = %s", a)
	}
	out := map[string]float64{}
	for _, line := range strings.Split(string(a.body), "\n") {
		if !strings.HasPrefix(line, "k2k_gateway_") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metric line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

// TestMetricsCountEveryAnswer: on a gateway of its own (a fresh registry), each answer counts once
// under its route pattern and its status code, with one latency observation per answer.
func TestMetricsCountEveryAnswer(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(deps.Gateway(slog.New(apiLog), time.Minute).Handler())
	defer srv.Close()
	p := newParty(t)
	for _, c := range []call{
		{method: http.MethodGet, path: "/v1/invoices"},
		{method: http.MethodGet, path: "/v1/invoices"},
		{method: http.MethodGet, path: "/v1/invoices", token: p.Procurement},
		{method: http.MethodGet, path: "/v1/invoices/12345678", token: p.Procurement},
		{method: http.MethodGet, path: "/openapi.json"},
		{method: http.MethodGet, path: "/no/such/path"},
	} {
		c.base = srv.URL
		c.send(t)
	}
	got := metricsOf(t, srv.URL)
	for series, want := range map[string]float64{
		`k2k_gateway_requests_total{code="401",route="GET /v1/invoices"}`:                    2,
		`k2k_gateway_requests_total{code="200",route="GET /v1/invoices"}`:                    1,
		`k2k_gateway_requests_total{code="404",route="GET /v1/invoices/{id}"}`:               1,
		`k2k_gateway_requests_total{code="200",route="GET /openapi.json"}`:                   1,
		`k2k_gateway_requests_total{code="404",route="unmatched"}`:                           1,
		`k2k_gateway_request_duration_seconds_count{route="GET /v1/invoices"}`:               3,
		`k2k_gateway_request_duration_seconds_bucket{route="GET /v1/invoices",le="+Inf"}`:    3,
		`k2k_gateway_request_duration_seconds_count{route="unmatched"}`:                      1,
		`k2k_gateway_request_duration_seconds_count{route="GET /openapi.json"}`:              1,
		`k2k_gateway_request_duration_seconds_count{route="GET /v1/invoices/{id}"}`:          1,
		`k2k_gateway_request_duration_seconds_bucket{route="GET /v1/invoices/{id}",le="30"}`: 1,
	} {
		if got[series] != want {
			t.Errorf("%s = %v, want %v", series, got[series], want)
		}
	}
	total := 0.0
	for series, v := range got {
		if strings.HasPrefix(series, "k2k_gateway_requests_total{") {
			total += v
		}
	}
	if total != 6 {
		t.Errorf("requests counted %v times in all, want 6: %v", total, got)
	}
}

// Package gateway is the HTTP API for ERP backends that do not use the Temporal SDK: confirm
// orders, act on invoices (synchronously through the workflow's updates, or asynchronously
// through its signals), read invoices and their PDFs. Every request is authenticated by a
// company's API key and authorised against the invoice's vendor and buyer; every POST carries an
// Idempotency-Key; errors are application/problem+json (RFC 9457).
package gateway

import (
	"bytes"
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/k2kinvoice/autoinvoice/internal/blob"
	"github.com/k2kinvoice/autoinvoice/internal/invoice"
	"github.com/k2kinvoice/autoinvoice/internal/invoiceclient"
	"github.com/k2kinvoice/autoinvoice/internal/store"
)

//go:embed openapi.json
var openAPI []byte

// OpenAPI is the API's OpenAPI 3.1 description, served at /openapi.json.
func OpenAPI() []byte { return openAPI }

// Limits of a request.
const (
	MaxJSONBytes      = 1 << 20 // a JSON body
	maxHeaderValueLen = 200
	requestTimeout    = 30 * time.Second
	// confirmWait is how long a confirmation waits for the invoice to be in AP before it answers
	// 202 (the workflow goes on).
	confirmWait = 10 * time.Second
)

// Server serves the API.
type Server struct {
	Store    *store.Store
	Blobs    *blob.Store
	Invoices *invoiceclient.Client
	Log      *slog.Logger
	// Ready reports whether every dependency answers (PostgreSQL, S3, Temporal).
	Ready func(context.Context) error
	// PresignTTL is how long a PDF download link works.
	PresignTTL time.Duration
}

// routes pairs each route pattern ("METHOD /path/{param}") with its handler.
func (s *Server) routes() map[string]http.Handler {
	return map[string]http.Handler{
		"GET /healthz": http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			writeJSON(w, http.StatusOK, map[string]string{"status": "alive"})
		}),
		"GET /readyz": http.HandlerFunc(s.ready),
		"GET /openapi.json": http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(openAPI)
		}),
		"POST /v1/orders":                                           s.authenticated(s.idempotent(s.confirmOrder)),
		"POST /v1/uploads":                                          s.authenticated(s.idempotent(s.upload)),
		"GET /v1/invoices":                                          s.authenticated(s.listInvoices),
		"GET /v1/invoices/{id}":                                     s.authenticated(s.getInvoice),
		"POST /v1/invoices/{id}/actions/{action}":                   s.authenticated(s.idempotent(s.act)),
		"POST /v1/invoices/actions/{action}":                        s.authenticated(s.idempotent(s.actInBulk)),
		"GET /v1/invoices/{id}/revisions/{revision}/pdf":            s.authenticated(s.pdfLink),
		"POST /v1/credit-notes":                                     s.authenticated(s.idempotent(s.issueCreditNote)),
		"POST /v1/credit-notes/{id}/actions/{action}":               s.authenticated(s.idempotent(s.actOnCreditNote)),
		"GET /v1/admin/settings":                                    s.authenticated(s.getSettings),
		"PATCH /v1/admin/settings":                                  s.authenticated(s.idempotent(s.patchSettings)),
		"GET /v1/admin/accounting-export":                           s.authenticated(s.getAccountingExport),
		"PUT /v1/admin/accounting-export":                           s.authenticated(s.idempotent(s.putAccountingExport)),
		"GET /v1/admin/webhooks":                                    s.authenticated(s.listWebhookEndpoints),
		"POST /v1/admin/webhooks":                                   s.authenticated(s.idempotent(s.addWebhookEndpoint)),
		"GET /v1/admin/webhooks/{id}/messages":                      s.authenticated(s.webhookMessages),
		"POST /v1/admin/webhooks/{id}/messages/{message}/redeliver": s.authenticated(s.idempotent(s.redeliverWebhook)),
		"GET /v1/admin/connections":                                 s.authenticated(s.listConnections),
		"POST /v1/admin/connections":                                s.authenticated(s.idempotent(s.requestConnection)),
		"POST /v1/admin/connections/{vendor}/{buyer}/{action}":      s.authenticated(s.idempotent(s.actOnConnection)),
		"GET /v1/admin/connections/{vendor}/{buyer}/changes":        s.authenticated(s.connectionHistory),
	}
}

// Routes lists the route patterns the gateway serves, for checking the OpenAPI document.
func Routes() []string {
	var out []string
	for pattern := range (&Server{}).routes() {
		out = append(out, pattern)
	}
	slices.Sort(out)
	return out
}

// Handler routes the API, and serves the gateway's metrics at GET /metrics and the API reference
// page at GET /docs.
func (s *Server) Handler() http.Handler {
	m := newMetrics()
	mux := http.NewServeMux()
	for pattern, h := range s.routes() {
		mux.Handle(pattern, m.measured(pattern, h))
	}
	for pattern, h := range docsRoutes() {
		mux.Handle(pattern, m.measured(pattern, h))
	}
	mux.Handle("GET /metrics", m.handler())
	mux.Handle("/", m.measured("unmatched", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { notFound(w) })))
	return s.accessLog(mux)
}

func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	if err := s.Ready(ctx); err != nil {
		s.Log.Warn("not ready", "error", err)
		writeProblem(w, Problem{Type: problemType("not-ready"), Status: http.StatusServiceUnavailable, Detail: err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// statusRecorder keeps what a handler answered, for the access log and the idempotency store.
type statusRecorder struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
	keep   bool
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	if r.keep {
		r.body.Write(b)
	}
	return r.ResponseWriter.Write(b)
}

// accessLog logs one line per request, and bounds every request's time.
func (s *Server) accessLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
		defer cancel()
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r.WithContext(ctx))
		s.Log.Info("http request", "method", r.Method, "path", r.URL.Path, "status", rec.status,
			"duration_ms", time.Since(start).Milliseconds(), "remote", r.RemoteAddr)
	})
}

type principalKey struct{}

// principal is the API key a request authenticated with.
func principal(r *http.Request) store.APIKey {
	k, _ := r.Context().Value(principalKey{}).(store.APIKey)
	return k
}

// authenticated requires a valid, unrevoked API key as a bearer token.
func (s *Server) authenticated(next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="k2k"`)
			writeProblem(w, Problem{Type: problemType("unauthenticated"), Status: http.StatusUnauthorized,
				Detail: "send an API key as Authorization: Bearer k2k_…"})
			return
		}
		key, err := s.Store.APIKeyAuthenticate(r.Context(), strings.TrimSpace(token))
		if errors.Is(err, store.ErrUnauthenticated) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="k2k", error="invalid_token"`)
			writeProblem(w, Problem{Type: problemType("unauthenticated"), Status: http.StatusUnauthorized,
				Detail: "the API key is unknown, malformed or revoked"})
			return
		}
		if err != nil {
			s.internal(w, err)
			return
		}
		if admin := strings.HasPrefix(r.URL.Path, "/v1/admin/"); admin != (key.Role == invoice.RoleAdmin) {
			detail := "admin keys manage their company's settings and connections, and act on no invoice"
			if admin {
				detail = "only an admin key of the company may manage its settings and connections"
			}
			writeProblem(w, Problem{Type: problemType("forbidden"), Status: http.StatusForbidden, Code: string(invoice.RefusedWrongActor), Detail: detail})
			return
		}
		next(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, key)))
	})
}

// idempotent requires an Idempotency-Key on a POST, answers a replay with the first answer and a
// reuse of the key for another request with 422. The body is read here, within the size limit.
func (s *Server) idempotent(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		key := r.Header.Get("Idempotency-Key")
		if rule := checkHeaderValue(key); rule != "" {
			badRequest(w, "Idempotency-Key "+rule, invoice.FieldError{Field: "Idempotency-Key", Rule: rule})
			return
		}
		limit := int64(MaxJSONBytes)
		if s.Invoices.MaxPDFBytes > 0 {
			limit += s.Invoices.MaxPDFBytes
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			writeProblem(w, Problem{Type: problemType("too-large"), Status: http.StatusRequestEntityTooLarge,
				Detail: "the request body is larger than " + byteCount(limit)})
			return
		} else if err != nil {
			badRequest(w, "the request body cannot be read: "+err.Error())
			return
		}
		sum := sha256.Sum256([]byte(r.Method + " " + r.URL.RequestURI() + "\n" + r.Header.Get("Content-Type") + "\n" + string(body)))
		company := principal(r).CompanyID
		stored, err := s.Store.IdempotencyBegin(r.Context(), company, key, hex.EncodeToString(sum[:]))
		switch {
		case errors.Is(err, store.ErrIdempotencyMismatch):
			writeProblem(w, Problem{Type: problemType("idempotency-key-reused"), Status: http.StatusUnprocessableEntity,
				Detail: "this Idempotency-Key was used with another request; use a new key for a new request"})
			return
		case errors.Is(err, store.ErrIdempotencyInProgress):
			writeProblem(w, Problem{Type: problemType("idempotency-key-in-progress"), Status: http.StatusConflict,
				Detail: "the first request with this Idempotency-Key is still being processed; retry later"})
			return
		case err != nil:
			s.internal(w, err)
			return
		case stored != nil:
			w.Header().Set("Content-Type", stored.ContentType)
			w.Header().Set("X-Content-Type-Options", "nosniff")
			w.Header().Set("Idempotent-Replayed", "true")
			w.WriteHeader(stored.StatusCode)
			_, _ = w.Write(stored.Body)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		r = r.WithContext(context.WithValue(r.Context(), bodyKey{}, body))
		rec := &statusRecorder{ResponseWriter: w, keep: true}
		next(rec, r)
		// Keep every answer but server errors: a client may retry those with the same key.
		ctx := context.WithoutCancel(r.Context())
		if rec.status >= 500 || rec.status == 0 {
			if err := s.Store.IdempotencyRelease(ctx, company, key); err != nil {
				s.Log.Error("release idempotency key", "error", err)
			}
			return
		}
		if err := s.Store.IdempotencyFinish(ctx, company, key, store.StoredResponse{StatusCode: rec.status,
			ContentType: rec.Header().Get("Content-Type"), Body: rec.body.Bytes()}); err != nil {
			s.Log.Error("store idempotent answer", "error", err)
		}
	}
}

// bodyKey is the context key of the request body the idempotent middleware read.
type bodyKey struct{}

// requestBody is the body of a POST, as the idempotent middleware read it (within the size limit,
// read errors already answered). Every POST route goes through that middleware.
func requestBody(r *http.Request) []byte {
	body, _ := r.Context().Value(bodyKey{}).([]byte)
	return body
}

// checkHeaderValue returns the rule a key-like header value breaks, or "".
func checkHeaderValue(v string) string {
	switch {
	case v == "":
		return "is required"
	case len(v) > maxHeaderValueLen:
		return "must be at most 200 bytes"
	case strings.IndexFunc(v, func(r rune) bool { return r > unicode.MaxASCII || !unicode.IsPrint(r) }) >= 0:
		return "must be printable ASCII"
	}
	return ""
}

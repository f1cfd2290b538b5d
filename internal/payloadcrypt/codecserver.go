package payloadcrypt

import (
	"crypto/subtle"
	"io"
	"log/slog"
	"net/http"
	"slices"

	"go.temporal.io/sdk/converter"
)

// CodecServer serves /encode and /decode for the Temporal UI and CLI (--codec-endpoint), so
// people who may read invoices see decoded payloads, and GET /healthz (no token needed). Origins
// lists the UI origins allowed by CORS; a non-empty token is required as "Authorization: Bearer
// <token>" (the UI and CLI can send one). Every /encode and /decode request is logged to log:
// method, path, namespace, status, the caller's address and user agent; never payload contents.
func (c *Codec) CodecServer(origins []string, token string, log *slog.Logger) http.Handler {
	codec := converter.NewPayloadCodecHTTPHandler(c)
	serve := guarded(codec, origins, token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && r.URL.Path == "/healthz" {
			_, _ = io.WriteString(w, "alive\n")
			return
		}
		rec := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		serve.ServeHTTP(rec, r)
		if r.Method != http.MethodOptions {
			log.Info("codec request", "method", r.Method, "path", r.URL.Path, "namespace", r.Header.Get("X-Namespace"),
				"status", rec.status, "remote", r.RemoteAddr, "user_agent", r.UserAgent())
		}
	})
}

// statusWriter remembers the status a handler answered.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

// guarded is the codec's HTTP handler behind CORS and the bearer token.
func guarded(codec http.Handler, origins []string, token string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if origin := r.Header.Get("Origin"); origin != "" && slices.Contains(origins, origin) {
			h := w.Header()
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Allow-Credentials", "true")
			h.Set("Access-Control-Allow-Methods", "POST, OPTIONS")
			h.Set("Access-Control-Allow-Headers", "Content-Type, X-Namespace, Authorization")
			h.Add("Vary", "Origin")
		}
		if r.Method == http.MethodOptions {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if token != "" && subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), []byte("Bearer "+token)) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="k2k-codec"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		codec.ServeHTTP(w, r)
	})
}

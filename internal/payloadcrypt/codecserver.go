package payloadcrypt

import (
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"go.temporal.io/sdk/converter"
)

// Authenticator says who sent a request to the codec server, or why it is refused (an error whose
// message the caller is told).
type Authenticator interface {
	Authenticate(r *http.Request) (who string, err error)
}

// Anonymous is who a caller is, in the access log, when the codec server checks no credential.
const Anonymous = "anonymous"

// CodecServer serves /encode and /decode for the Temporal UI and CLI (--codec-endpoint), so
// people who may read invoices see decoded payloads, and GET /healthz (no credential needed).
// Origins lists the UI origins allowed by CORS; auth checks every /encode and /decode (nil: no
// check, development only) and a refused request is answered 401 with the reason. Every /encode
// and /decode request is logged to log: method, path, namespace, status, who (as auth named the
// caller), the caller's address and user agent; never payload contents.
func (c *Codec) CodecServer(origins []string, auth Authenticator, log *slog.Logger) http.Handler {
	codec := converter.NewPayloadCodecHTTPHandler(c)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && r.URL.Path == "/healthz" {
			_, _ = io.WriteString(w, "alive\n")
			return
		}
		allowCORS(w, r, origins)
		if r.Method == http.MethodOptions {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		rec := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		who, refused := Anonymous, error(nil)
		if auth != nil {
			who, refused = auth.Authenticate(r)
		}
		if refused != nil {
			unauthorized(rec, refused.Error())
		} else {
			codec.ServeHTTP(rec, r)
		}
		attrs := []any{"method", r.Method, "path", r.URL.Path, "namespace", r.Header.Get("X-Namespace"),
			"status", rec.status, "who", who, "remote", r.RemoteAddr, "user_agent", r.UserAgent()}
		if refused != nil {
			attrs = append(attrs, "refused", refused.Error())
		}
		log.Info("codec request", attrs...)
	})
}

// unauthorized answers 401 with the reason, in the body and in WWW-Authenticate (RFC 6750).
func unauthorized(w http.ResponseWriter, reason string) {
	desc := strings.Map(func(r rune) rune {
		if r == '"' || r == '\\' || r < ' ' || r > '~' {
			return '\''
		}
		return r
	}, reason)
	w.Header().Set("WWW-Authenticate", `Bearer realm="k2k-codec", error="invalid_token", error_description="`+desc+`"`)
	http.Error(w, "unauthorized: "+reason, http.StatusUnauthorized)
}

// allowCORS lets the listed origins (the Temporal UI) call the codec server from the browser.
func allowCORS(w http.ResponseWriter, r *http.Request, origins []string) {
	if origin := r.Header.Get("Origin"); origin != "" && slices.Contains(origins, origin) {
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", origin)
		h.Set("Access-Control-Allow-Credentials", "true")
		h.Set("Access-Control-Allow-Methods", "POST, OPTIONS")
		h.Set("Access-Control-Allow-Headers", "Content-Type, X-Namespace, Authorization")
		h.Add("Vary", "Origin")
	}
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

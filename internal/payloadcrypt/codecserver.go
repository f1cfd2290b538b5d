package payloadcrypt

import (
	"crypto/subtle"
	"net/http"
	"slices"

	"go.temporal.io/sdk/converter"
)

// CodecServer serves /encode and /decode for the Temporal UI and CLI (--codec-endpoint), so
// people who may read invoices see decoded payloads. Origins lists the UI origins allowed by CORS;
// a non-empty token is required as "Authorization: Bearer <token>" (the UI and CLI can send one).
func (c *Codec) CodecServer(origins []string, token string) http.Handler {
	codec := converter.NewPayloadCodecHTTPHandler(c)
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

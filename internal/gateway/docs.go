package gateway

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"net/http"
	"time"
)

// The API reference page: the OpenAPI document rendered by Redoc, from files embedded in the
// binary (apidocs/, the Redoc bundle under apidocs/redoc with its licence), so the page needs no
// network beyond the gateway. Like /metrics it sits beside the API, not in openapi.json.

//go:embed apidocs/index.html apidocs/init.js apidocs/redoc/redoc.standalone.js
var apiDocs embed.FS

// docsPolicy lets the page load only from the gateway itself. Redoc styles with inline <style>
// (styled-components), runs its search in a worker made from a blob, and draws images as data URLs.
const docsPolicy = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
	"font-src 'self' data:; connect-src 'self'; worker-src blob:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// docsFiles are the routes of the reference page and the embedded file each serves.
var docsFiles = map[string]struct{ file, contentType string }{
	"GET /docs":                     {"apidocs/index.html", "text/html; charset=utf-8"},
	"GET /docs/init.js":             {"apidocs/init.js", "text/javascript; charset=utf-8"},
	"GET /docs/redoc.standalone.js": {"apidocs/redoc/redoc.standalone.js", "text/javascript; charset=utf-8"},
}

// docsRoutes serves the reference page: each file with its content type, an ETag of its content
// (so a browser revalidates cheaply) and the content security policy. GET /docs/ leads to /docs.
func docsRoutes() map[string]http.Handler {
	routes := map[string]http.Handler{
		"GET /docs/{$}": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "../docs", http.StatusMovedPermanently)
		}),
	}
	for pattern, f := range docsFiles {
		content, err := apiDocs.ReadFile(f.file)
		if err != nil {
			panic("gateway: embedded " + f.file + " is missing: " + err.Error())
		}
		sum := sha256.Sum256(content)
		etag := `"` + hex.EncodeToString(sum[:16]) + `"`
		routes[pattern] = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h := w.Header()
			h.Set("Content-Type", f.contentType)
			h.Set("ETag", etag)
			h.Set("Cache-Control", "no-cache")
			h.Set("X-Content-Type-Options", "nosniff")
			h.Set("Content-Security-Policy", docsPolicy)
			http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(content))
		})
	}
	return routes
}

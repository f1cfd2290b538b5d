package gateway

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
)

// get asks the gateway's handler (no dependencies needed) for path.
func get(t *testing.T, h http.Handler, path string, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// sourceAttr finds the URLs a page loads or links to.
var sourceAttr = regexp.MustCompile(`(?i)\b(?:src|href|action)\s*=\s*["']?([^"'\s>]+)`)

// TestDocsPageIsSelfContained: GET /docs is an HTML page whose scripts and links all stay on the
// gateway (relative URLs), each script it loads is served from the embedded files as JavaScript,
// and the OpenAPI document the page renders is the one the gateway serves.
func TestDocsPageIsSelfContained(t *testing.T) {
	h := (&Server{Log: slog.New(slog.NewTextHandler(io.Discard, nil))}).Handler()
	page := get(t, h, "/docs")
	if page.Code != http.StatusOK || page.Header().Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("GET /docs: %d %q, want 200 text/html; charset=utf-8", page.Code, page.Header().Get("Content-Type"))
	}
	csp := page.Header().Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "script-src 'self';", "connect-src 'self';", "img-src 'self' data:;"} {
		if !strings.Contains(csp, want) {
			t.Errorf("Content-Security-Policy %q lacks %q: the browser must load nothing from elsewhere", csp, want)
		}
	}
	html := page.Body.String()
	base, _ := url.Parse("http://gateway.test/docs")
	var scripts []string
	for _, m := range sourceAttr.FindAllStringSubmatch(html, -1) {
		u, err := url.Parse(m[1])
		if err != nil {
			t.Errorf("/docs refers to %q, not a URL: %v", m[1], err)
			continue
		}
		if u.Scheme != "" || u.Host != "" || strings.HasPrefix(m[1], "//") {
			t.Errorf("/docs refers to %q, off the gateway: the page must work with no network", m[1])
			continue
		}
		if strings.HasSuffix(u.Path, ".js") {
			scripts = append(scripts, base.ResolveReference(u).Path)
		}
	}
	if strings.Contains(html, "http://") || strings.Contains(html, "https://") {
		t.Errorf("/docs holds an absolute URL:\n%s", html)
	}
	if len(scripts) != 2 {
		t.Fatalf("/docs loads scripts %v, want the Redoc bundle and init.js", scripts)
	}

	for _, path := range scripts {
		rec := get(t, h, path)
		if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "text/javascript; charset=utf-8" {
			t.Errorf("GET %s: %d %q, want 200 text/javascript; charset=utf-8", path, rec.Code, rec.Header().Get("Content-Type"))
		}
		if rec.Header().Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s lacks X-Content-Type-Options: nosniff", path)
		}
		// A browser that has it revalidates for nothing.
		if etag := rec.Header().Get("ETag"); etag == "" {
			t.Errorf("GET %s has no ETag", path)
		} else if again := get(t, h, path, "If-None-Match", etag); again.Code != http.StatusNotModified {
			t.Errorf("GET %s with its ETag: %d, want 304", path, again.Code)
		}
	}

	// The bundle served is the vendored file, byte for byte, and its README names its checksum.
	bundle, err := os.ReadFile("apidocs/redoc/redoc.standalone.js")
	if err != nil {
		t.Fatal(err)
	}
	if got := get(t, h, "/docs/redoc.standalone.js").Body.Bytes(); string(got) != string(bundle) {
		t.Error("GET /docs/redoc.standalone.js serves another body than apidocs/redoc/redoc.standalone.js")
	}
	sum := sha256.Sum256(bundle)
	readme, err := os.ReadFile("apidocs/redoc/README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), hex.EncodeToString(sum[:])) {
		t.Error("apidocs/redoc/README.md does not name the sha256 of redoc.standalone.js: update it with the bundle")
	}
	if _, err := os.Stat("apidocs/redoc/LICENSE"); err != nil {
		t.Errorf("the Redoc bundle ships without its licence: %v", err)
	}

	// init.js renders the gateway's OpenAPI document, by a URL relative to /docs.
	initJS := get(t, h, "/docs/init.js").Body.String()
	if strings.Contains(initJS, "http://") || strings.Contains(initJS, "https://") {
		t.Errorf("init.js holds an absolute URL:\n%s", initJS)
	}
	if !strings.Contains(initJS, "Redoc.init('openapi.json'") {
		t.Errorf("init.js does not render openapi.json:\n%s", initJS)
	}
	if spec := get(t, h, base.ResolveReference(&url.URL{Path: "openapi.json"}).Path); spec.Code != http.StatusOK ||
		spec.Header().Get("Content-Type") != "application/json" || spec.Body.String() != string(OpenAPI()) {
		t.Errorf("the page's openapi.json: %d %q, want the gateway's OpenAPI document", spec.Code, spec.Header().Get("Content-Type"))
	}

	// /docs/ leads to the page; nothing else under /docs is served.
	if rec := get(t, h, "/docs/"); rec.Code != http.StatusMovedPermanently || rec.Header().Get("Location") != "/docs" {
		t.Errorf("GET /docs/: %d to %q, want 301 to /docs", rec.Code, rec.Header().Get("Location"))
	}
	if rec := get(t, h, "/docs/apidocs/index.html"); rec.Code != http.StatusNotFound {
		t.Errorf("GET /docs/apidocs/index.html: %d, want 404", rec.Code)
	}
}

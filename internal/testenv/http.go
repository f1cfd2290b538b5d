package testenv

// Helpers of the tests that talk HTTP to the gateway (its own and the integration tests).

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"testing"
)

// MustJSON is v as JSON.
func MustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// DecodeJSON requires an answer of status want with a JSON body, and decodes the body.
func DecodeJSON[T any](t testing.TB, status int, header http.Header, body []byte, want int) T {
	t.Helper()
	var v T
	if status != want {
		t.Fatalf("answer %d %.600s, want status %d", status, body, want)
	}
	if ct := header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q, want application/json (answer %d %.600s)", ct, status, body)
	}
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("decode %.600s: %v", body, err)
	}
	return v
}

// MultipartForm is a multipart/form-data body of (name, content) parts, and its Content-Type. A
// part named "pdf" is sent as a file of application/pdf, any other as application/json.
func MultipartForm(t testing.TB, parts ...[2]string) (string, []byte) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, p := range parts {
		h := textproto.MIMEHeader{}
		switch p[0] {
		case "pdf":
			h.Set("Content-Disposition", `form-data; name="pdf"; filename="invoice.pdf"`)
			h.Set("Content-Type", "application/pdf")
		default:
			h.Set("Content-Disposition", fmt.Sprintf(`form-data; name=%q`, p[0]))
			h.Set("Content-Type", "application/json")
		}
		w, err := mw.CreatePart(h)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = w.Write([]byte(p[1]))
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	return mw.FormDataContentType(), buf.Bytes()
}

// GatewayCall is one request to a gateway: the bearer token, the Idempotency-Key and the
// Content-Type are sent when not empty; Header adds headers (or replaces those, Authorization too).
type GatewayCall struct {
	Method, URL string
	Token, Idem string
	ContentType string
	Body        []byte
	Header      map[string]string
}

// Send sends the request with client and returns the answer's status, header and body.
func (c GatewayCall) Send(t testing.TB, client *http.Client) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(c.Method, c.URL, bytes.NewReader(c.Body))
	if err != nil {
		t.Fatal(err)
	}
	if c.Body == nil {
		req.Body, req.ContentLength = http.NoBody, 0
	}
	for k, v := range map[string]string{"Idempotency-Key": c.Idem, "Content-Type": c.ContentType} {
		if v != "" {
			req.Header.Set(k, v)
		}
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	for k, v := range c.Header {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", c.Method, c.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read answer: %v", c.Method, c.URL, err)
	}
	return resp.StatusCode, resp.Header, body
}

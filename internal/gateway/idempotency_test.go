package gateway_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/k2kinvoice/autoinvoice/internal/gateway"
)

// upload sends data to POST /v1/uploads as a PDF, on base (api when empty).
func upload(t *testing.T, base, token, idem string, data []byte) answer {
	t.Helper()
	return call{base: base, method: http.MethodPost, path: "/v1/uploads", token: token, idem: idem, ctype: "application/pdf", body: data}.send(t)
}

func TestIdempotencyKeyRules(t *testing.T) {
	t.Parallel()
	p := newParty(t)
	for key, rule := range map[string]string{
		"":                       "is required",
		strings.Repeat("k", 201): "must be at most 200 bytes",
		"schlüssel-1":            "must be printable ASCII",
		"key\twith-a-tab":        "must be printable ASCII",
		"ükey":                   "must be printable ASCII",
	} {
		a := upload(t, "", p.Vendor, key, pdfOf("rules"))
		problem(t, a, want{status: http.StatusBadRequest, slug: "bad-request", title: "The request cannot be read",
			detail: "Idempotency-Key " + rule, fields: [][2]string{{"Idempotency-Key", rule}}})
	}
	// 200 printable bytes are a key.
	decode[gateway.Upload](t, upload(t, "", p.Vendor, strings.Repeat("k", 190)+newIdem()[:10], pdfOf("200-byte key "+p.Order.VendorID)), http.StatusCreated)
}

// TestIdempotentReplay: a request sent again with its key gets the first answer, marked replayed;
// the key with another request is refused; a key still being processed is busy; keys are per
// company.
func TestIdempotentReplay(t *testing.T) {
	t.Parallel()
	p := newParty(t)
	data := pdfOf("replay " + p.Order.VendorID)
	key := newIdem()
	first := upload(t, "", p.Vendor, key, data)
	up := decode[gateway.Upload](t, first, http.StatusCreated)
	if first.header.Get("Idempotent-Replayed") != "" {
		t.Error("the first answer says Idempotent-Replayed")
	}
	for range 2 {
		again := upload(t, "", p.Vendor, key, data)
		if again.status != first.status || !bytes.Equal(again.body, first.body) || again.header.Get("Content-Type") != "application/json" ||
			again.header.Get("Idempotent-Replayed") != "true" {
			t.Errorf("replay %s (Idempotent-Replayed %q), want the first answer %s", again, again.header.Get("Idempotent-Replayed"), first)
		}
	}
	// Another body, or another path, with the key: refused.
	problem(t, upload(t, "", p.Vendor, key, pdfOf("another body")), want{status: http.StatusUnprocessableEntity,
		slug: "idempotency-key-reused", detail: "use a new key for a new request"})
	problem(t, call{method: http.MethodPost, path: "/v1/orders", token: p.Vendor, idem: key, ctype: "application/pdf", body: data}.send(t),
		want{status: http.StatusUnprocessableEntity, slug: "idempotency-key-reused", detail: "this Idempotency-Key was used with another request"})
	// Another company may use the same key string for its own request.
	other := upload(t, "", p.Procurement, key, data)
	if decode[gateway.Upload](t, other, http.StatusCreated) != up || other.header.Get("Idempotent-Replayed") != "" {
		t.Errorf("the buyer's request with the vendor's key string: %s, want its own answer", other)
	}
	// A key claimed by a request still in flight: busy, try later.
	busy, busyData := newIdem(), pdfOf("in flight "+p.Order.VendorID)
	sum := sha256.Sum256([]byte("POST /v1/uploads\napplication/pdf\n" + string(busyData)))
	if stored, err := deps.Store.IdempotencyBegin(context.Background(), p.Order.VendorID, busy, hex.EncodeToString(sum[:])); err != nil || stored != nil {
		t.Fatalf("claim: %v, %v", stored, err)
	}
	problem(t, upload(t, "", p.Vendor, busy, busyData), want{status: http.StatusConflict, slug: "idempotency-key-in-progress",
		detail: "still being processed"})
	if n := apiLog.count("ERROR store idempotent answer"); n != 0 {
		t.Errorf("%d answers logged as not stored", n)
	}
}

// TestServerErrorReleasesTheKey: an answer of 500 is not kept, so the same request with the same
// key is processed again once the failure is gone.
func TestServerErrorReleasesTheKey(t *testing.T) {
	t.Parallel()
	p := newParty(t)
	data := pdfOf("released " + p.Order.VendorID)
	key := newIdem()
	for range 2 {
		problem(t, upload(t, broken.URL, p.Vendor, key, data), want{status: http.StatusInternalServerError, slug: "internal",
			detail: "retry with the same Idempotency-Key"})
	}
	if brokenLog.count("ERROR request failed") == 0 {
		t.Error("a failed request was not logged")
	}
	if n := brokenLog.count("ERROR release idempotency key"); n != 0 {
		t.Errorf("%d releases logged as failed", n)
	}
	a := upload(t, "", p.Vendor, key, data)
	if up := decode[gateway.Upload](t, a, http.StatusCreated); up.Size != int64(len(data)) || a.header.Get("Idempotent-Replayed") != "" {
		t.Errorf("after the failure: %s, want the upload processed", a)
	}
}

// TestBodyLimits: a body over the limit of JSON plus the largest PDF is refused before it is read
// whole; below it, an upload is checked against the PDF limit and a JSON body against its own.
func TestBodyLimits(t *testing.T) {
	t.Parallel()
	p := newParty(t)
	pdfSized := func(n int) []byte {
		b := bytes.Repeat([]byte("0"), n)
		copy(b, "%PDF-1.7\n")
		copy(b[n-6:], "\n%%EOF")
		return b
	}
	limit := gateway.MaxJSONBytes + maxPDF
	problem(t, upload(t, "", p.Vendor, newIdem(), pdfSized(limit+1)), want{status: http.StatusRequestEntityTooLarge, slug: "too-large",
		detail: fmt.Sprintf("the request body is larger than %d bytes", limit)})
	for _, n := range []int{maxPDF + 1, gateway.MaxJSONBytes + 1000} {
		problem(t, upload(t, "", p.Vendor, newIdem(), pdfSized(n)), want{status: http.StatusUnprocessableEntity, slug: "validation",
			title: "The request is not valid", fields: [][2]string{{"pdf", fmt.Sprintf("must be at most %d bytes", maxPDF)}}})
	}
	decode[gateway.Upload](t, upload(t, "", p.Vendor, newIdem(), pdfSized(maxPDF)), http.StatusCreated)

	// JSON: exactly MaxJSONBytes is read (and found to lack the order); one byte more is too large.
	padded := func(n int) []byte { return append([]byte("{}"), bytes.Repeat([]byte(" "), n-2)...) }
	order := func(body []byte) answer {
		return call{method: http.MethodPost, path: "/v1/orders", token: p.Vendor, idem: newIdem(), ctype: "application/json", body: body}.send(t)
	}
	problem(t, order(padded(gateway.MaxJSONBytes)), want{status: http.StatusUnprocessableEntity, slug: "validation",
		title: "The request is not valid", fields: [][2]string{{"order", "is required"}}})
	problem(t, order(padded(gateway.MaxJSONBytes+1)), want{status: http.StatusRequestEntityTooLarge, slug: "too-large",
		detail: fmt.Sprintf("a JSON body must be at most %d bytes", gateway.MaxJSONBytes)})
}

// TestBodyCutShort: a body that ends before its Content-Length cannot be read: 400.
func TestBodyCutShort(t *testing.T) {
	t.Parallel()
	p := newParty(t)
	conn, err := net.DialTimeout("tcp", strings.TrimPrefix(api.URL, "http://"), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(60 * time.Second))
	fmt.Fprintf(conn, "POST /v1/uploads HTTP/1.1\r\nHost: gateway\r\nAuthorization: Bearer %s\r\nIdempotency-Key: %s\r\n"+
		"Content-Type: application/pdf\r\nContent-Length: 1000\r\n\r\n%%PDF-1.7\n", p.Vendor, newIdem())
	if err := conn.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	problem(t, answer{status: resp.StatusCode, header: resp.Header, body: body}, want{status: http.StatusBadRequest, slug: "bad-request",
		title: "The request cannot be read", detail: "the request body cannot be read: unexpected EOF"})
}

package payloadcrypt

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/k2kinvoice/autoinvoice/internal/codecauth"
)

func key(b byte) string { return base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{b}, 32)) }

func TestRoundTripRotationAndPlaintext(t *testing.T) {
	old, err := ParseKeys("k1:" + key(1))
	if err != nil {
		t.Fatal(err)
	}
	encoded, err := converter.GetDefaultDataConverter().ToPayloads(map[string]any{"invoice_number": "INV-SECRET-42", "total_minor": 131850})
	if err != nil {
		t.Fatal(err)
	}
	payloads := encoded.GetPayloads()
	sealed, err := old.Encode(payloads)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed[0].GetData(), []byte("INV-SECRET-42")) || bytes.Contains(sealed[0].GetData(), []byte("131850")) {
		t.Fatal("sealed payload holds the plaintext")
	}
	if got := string(sealed[0].GetMetadata()[MetadataKeyID]); got != "k1" {
		t.Errorf("key id = %q, want k1", got)
	}
	// Rotation: k2 writes, k1 still reads.
	rotated, err := ParseKeys("k2:" + key(2) + ",k1:" + key(1))
	if err != nil {
		t.Fatal(err)
	}
	opened, err := rotated.Decode(sealed)
	if err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := converter.GetDefaultDataConverter().FromPayloads(&commonpb.Payloads{Payloads: opened}, &back); err != nil || back["invoice_number"] != "INV-SECRET-42" {
		t.Errorf("decoded %v, %v", back, err)
	}
	resealed, _ := rotated.Encode(payloads)
	if got := string(resealed[0].GetMetadata()[MetadataKeyID]); got != "k2" {
		t.Errorf("rotated ring writes with %q, want k2", got)
	}
	if _, err := old.Decode(resealed); err == nil || !strings.Contains(err.Error(), `"k2"`) {
		t.Errorf("old ring decoding a k2 payload = %v, want an error naming k2", err)
	}
	// Plaintext payloads (histories from before encryption) pass through.
	if passed, err := rotated.Decode(payloads); err != nil || !bytes.Equal(passed[0].GetData(), payloads[0].GetData()) {
		t.Errorf("plaintext payload did not pass through: %v", err)
	}
	// Tampering is detected.
	sealed[0].Data[len(sealed[0].Data)-1] ^= 1
	if _, err := old.Decode(sealed); err == nil {
		t.Error("a tampered payload decoded")
	}
}

func TestParseKeysRefusesBadSpecs(t *testing.T) {
	for _, spec := range []string{"", "k1", "k1:notbase64!", "k1:" + base64.StdEncoding.EncodeToString([]byte("short")),
		"k1:" + key(1) + ",k1:" + key(2), "bad id:" + key(1)} {
		if _, err := ParseKeys(spec); err == nil {
			t.Errorf("ParseKeys(%q) succeeded, want an error", spec)
		}
	}
}

func TestCodecServerCORSAndAuth(t *testing.T) {
	c, err := ParseKeys("k1:" + key(1))
	if err != nil {
		t.Fatal(err)
	}
	var logged bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logged, nil))
	auth, err := codecauth.New(context.Background(), codecauth.Config{StaticToken: "s3cret"}, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(c.CodecServer([]string{"http://ui.example"}, auth, log))
	defer srv.Close()
	encoded, _ := converter.GetDefaultDataConverter().ToPayloads("INV-SECRET-42")
	sealed, _ := c.Encode(encoded.GetPayloads())
	body, _ := protojson.Marshal(&commonpb.Payloads{Payloads: sealed})

	post := func(token, origin string) *http.Response {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/decode", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Namespace", "default")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	if resp := post("", ""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("decode without a token = %d, want 401", resp.StatusCode)
	}
	resp := post("s3cret", "http://ui.example")
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(out), base64.StdEncoding.EncodeToString([]byte(`"INV-SECRET-42"`))) {
		t.Errorf("decode = %d %s, want the plaintext payload", resp.StatusCode, out)
	}
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "http://ui.example" {
		t.Errorf("CORS origin = %q, want the UI's", got)
	}
	if resp := post("s3cret", "http://evil.example"); resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Error("CORS allowed an origin that is not listed")
	}

	// Every decode is logged, who and which namespace, never the payloads.
	access := logged.String()
	for _, want := range []string{"path=/decode namespace=default status=401", "path=/decode namespace=default status=200 who=static-token"} {
		if !strings.Contains(access, want) {
			t.Errorf("access log lacks %q:\n%s", want, access)
		}
	}
	if strings.Contains(access, "INV-SECRET-42") || strings.Contains(access, base64.StdEncoding.EncodeToString([]byte(`"INV-SECRET-42"`))) {
		t.Errorf("the access log holds a payload:\n%s", access)
	}
	// /healthz answers without a token.
	resp, err = http.Get(srv.URL + "/healthz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("GET /healthz = %v, %v; want 200 without a token", resp, err)
	}
}

// TestSealText: a secret sealed with the writing key opens with the ring, names its key, is
// different each time, refuses to open when tampered with or without its key, and a text that was
// never sealed comes back as it is.
func TestSealText(t *testing.T) {
	old, err := ParseKeys("old:" + base64.StdEncoding.EncodeToString(make([]byte, 32)))
	if err != nil {
		t.Fatal(err)
	}
	ring, err := ParseKeys("new:" + base64.StdEncoding.EncodeToString(bytes32(7)) + ",old:" + base64.StdEncoding.EncodeToString(make([]byte, 32)))
	if err != nil {
		t.Fatal(err)
	}
	const secret = "whsec_c2VjcmV0LW9mLXRoZS1hY2NvdW50aW5nLXN5c3RlbQ=="
	a, err := ring.SealText(secret)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := ring.SealText(secret)
	if !strings.HasPrefix(a, "sealed:new:") || a == b || strings.Contains(a, "c2VjcmV0") {
		t.Errorf("sealed %q and %q: want sealed:new:…, different each time, without the secret", a, b)
	}
	if got, err := ring.OpenText(a); err != nil || got != secret {
		t.Errorf("OpenText = %q, %v; want the secret", got, err)
	}
	byOld, _ := old.SealText(secret)
	if got, err := ring.OpenText(byOld); err != nil || got != secret {
		t.Errorf("a secret sealed with the older key: %q, %v; want it opened", got, err)
	}
	if _, err := old.OpenText(a); err == nil || !strings.Contains(err.Error(), `key "new"`) {
		t.Errorf("opened without its key: %v", err)
	}
	tampered := a[:len(a)-4] + "AAA="
	if _, err := ring.OpenText(tampered); err == nil {
		t.Error("a tampered secret opened")
	}
	if got, err := ring.OpenText(secret); err != nil || got != secret {
		t.Errorf("a text never sealed: %q, %v; want it as it is", got, err)
	}
}

func bytes32(b byte) []byte {
	out := make([]byte, 32)
	for i := range out {
		out[i] = b
	}
	return out
}

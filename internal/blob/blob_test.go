package blob_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/k2kinvoice/autoinvoice/internal/blob"
	"github.com/k2kinvoice/autoinvoice/internal/config"
	"github.com/k2kinvoice/autoinvoice/internal/testenv"
)

var blobs *blob.Store

func TestMain(m *testing.M) {
	ctx := context.Background()
	s3, err := testenv.StartS3(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "blob tests:", err)
		os.Exit(1)
	}
	code := func() int {
		defer s3.Stop()
		if err := testenv.Setenv(s3.Env("blob-test")); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		cfg, err := config.AWS(ctx)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		blobs = blob.New(cfg, "blob-test", true)
		if err := blobs.CreateBucket(ctx); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return m.Run()
	}()
	os.Exit(code)
}

func TestPutIsIdempotentAndGetVerifies(t *testing.T) {
	ctx := context.Background()
	data := []byte("%PDF-1.4 test body %%EOF")
	sum := blob.SHA256Hex(data)
	key := blob.InvoiceKey("BUYER", "VENDOR", "INV 7/1", 1, sum)
	for range 2 {
		if err := blobs.Put(ctx, key, data); err != nil {
			t.Fatal(err)
		}
	}
	keys, err := blobs.List(ctx, "invoices/BUYER/VENDOR/")
	if err != nil || len(keys) != 1 || keys[0] != key {
		t.Errorf("keys = %v, %v; want exactly [%s]", keys, err, key)
	}
	got, gotSum, err := blobs.Get(ctx, key, 1<<20)
	if err != nil || !bytes.Equal(got, data) || gotSum != sum {
		t.Errorf("Get = %q, %s, %v; want the stored bytes and %s", got, gotSum, err, sum)
	}
	if _, _, err := blobs.Get(ctx, key, 4); !errors.Is(err, blob.ErrTooLarge) {
		t.Errorf("Get over the limit: err = %v, want ErrTooLarge", err)
	}
	if _, _, err := blobs.Get(ctx, "invoices/none.pdf", 1<<20); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("Get of a missing key: err = %v, want ErrNotFound", err)
	}
}

func TestPresignedDownload(t *testing.T) {
	ctx := context.Background()
	data := []byte("%PDF-1.7 presigned %%EOF")
	key := blob.StagingKey(blob.SHA256Hex(data))
	if err := blobs.Put(ctx, key, data); err != nil {
		t.Fatal(err)
	}
	url, err := blobs.PresignGet(ctx, key, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Equal(body, data) {
		t.Errorf("presigned GET = %d %q, want 200 and the object", resp.StatusCode, body)
	}
	// A tampered signature is refused by the server.
	resp, err = client.Get(url[:len(url)-4] + "0000")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("tampered presigned GET = %d, want 403", resp.StatusCode)
	}
}

func TestInvoiceKeyStaysShortAndDistinct(t *testing.T) {
	long1 := strings.Repeat("😀", 64)
	long2 := strings.Repeat("😀", 63) + "😁"
	k1 := blob.InvoiceKey("B", "V", long1, 1, "abc")
	k2 := blob.InvoiceKey("B", "V", long2, 1, "abc")
	if k1 == k2 {
		t.Errorf("two long invoice numbers share the key %s", k1)
	}
	for _, k := range []string{k1, k2} {
		for _, segment := range strings.Split(k, "/") {
			if len(segment) > 100 {
				t.Errorf("key %s has a segment of %d bytes, want at most 100", k, len(segment))
			}
		}
	}
	if got := blob.InvoiceKey("B", "V", "INV 7/1", 2, "abc"); got != "invoices/B/V/INV%207%2F1/r2/abc.pdf" {
		t.Errorf("short number key = %s", got)
	}
	// A long number's object can really be stored on the file-system backed server.
	data := []byte("%PDF-1.4 long number %%EOF")
	if err := blobs.Put(context.Background(), blob.InvoiceKey("B", "V", long1, 1, blob.SHA256Hex(data)), data); err != nil {
		t.Errorf("put under a long invoice number: %v", err)
	}
}

// TestMalformedRequestIsRejected: a request the server refuses as such (here a key segment longer
// than versitygw's file system allows, answered ExistingObjectIsDirectory) is ErrRejected, which
// the activities do not retry; a missing object is ErrNotFound, not ErrRejected.
func TestMalformedRequestIsRejected(t *testing.T) {
	ctx := context.Background()
	err := blobs.Put(ctx, "invoices/"+strings.Repeat("k", 300)+".pdf", []byte("%PDF-1.4 x %%EOF"))
	if !errors.Is(err, blob.ErrRejected) {
		t.Errorf("put with a 1100-byte key segment: err = %v, want ErrRejected", err)
	}
	if _, _, err := blobs.Get(ctx, "invoices/none.pdf", 10); !errors.Is(err, blob.ErrNotFound) || errors.Is(err, blob.ErrRejected) {
		t.Errorf("get of a missing object: err = %v, want ErrNotFound only", err)
	}
}

// TestExists: a HEAD tells a staged object from a missing one without downloading either.
func TestExists(t *testing.T) {
	ctx := context.Background()
	data := []byte("%PDF-1.4 exists %%EOF")
	key := blob.StagingKey(blob.SHA256Hex(data))
	if ok, err := blobs.Exists(ctx, key); ok || err != nil {
		t.Errorf("before the put: Exists = %v, %v; want false, nil", ok, err)
	}
	if err := blobs.Put(ctx, key, data); err != nil {
		t.Fatal(err)
	}
	if ok, err := blobs.Exists(ctx, key); !ok || err != nil {
		t.Errorf("after the put: Exists = %v, %v; want true, nil", ok, err)
	}
}

// Package blob stores invoice PDFs in S3-compatible object storage (AWS S3, versitygw, MinIO,
// SeaweedFS). Keys are content-addressed, puts are idempotent, reads re-verify the SHA-256, and
// every error names the bucket and the key.
package blob

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/k2kinvoice/autoinvoice/internal/pathseg"
)

// ErrNotFound means the object does not exist.
var ErrNotFound = errors.New("object not found")

// ErrTooLarge means the object is larger than the caller allows.
var ErrTooLarge = errors.New("object too large")

// ErrRejected means the server refused the request itself as malformed (a key too long, an
// invalid argument, an object too large): sending it again cannot succeed. Outages, throttling
// and credentials an operator can fix are not ErrRejected.
var ErrRejected = errors.New("request refused by the S3 server as malformed")

// malformedCodes are the S3 error codes that say the request itself cannot be served.
// ExistingObjectIsDirectory is how versitygw's file-system backend answers a key it cannot
// store (a path segment too long for the file system, or a key that is a folder there).
var malformedCodes = []string{"InvalidArgument", "InvalidRequest", "KeyTooLongError", "MalformedXML",
	"EntityTooLarge", "InvalidURI", "MetadataTooLarge", "InvalidObjectName", "ExistingObjectIsDirectory"}

// Store reads and writes the objects of one bucket.
type Store struct {
	client *s3.Client
	bucket string
}

// New builds the S3 client from the AWS configuration (its standard chain sets region,
// credentials, AWS_ENDPOINT_URL_S3 and the checksum mode). pathStyle is for servers that do not
// serve virtual-hosted buckets.
func New(cfg aws.Config, bucket string, pathStyle bool) *Store {
	client := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = pathStyle })
	return &Store{client: client, bucket: bucket}
}

// Bucket is the bucket name.
func (s *Store) Bucket() string { return s.bucket }

// SHA256Hex is the lower-case hex SHA-256 of data, the form stored beside every object.
func SHA256Hex(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// StagingPrefix starts every staging key; the workflow reads vendor PDFs from nowhere else.
const StagingPrefix = "staging/"

// StagingKey is where a vendor-supplied PDF waits until the workflow places it: content-addressed,
// so uploading the same file twice is one object.
func StagingKey(sha256Hex string) string { return StagingPrefix + sha256Hex + ".pdf" }

// maxKeySegment bounds the invoice-number segment of a key: file-system backed servers refuse
// segments over 255 bytes, and an escaped invoice number of 64 characters can be 768.
const maxKeySegment = 100

// InvoiceKey is the final key of an invoice PDF: per buyer, vendor, invoice number and revision,
// named by its SHA-256. Each part is path-escaped; a long invoice number is cut and followed by
// a digest of the whole number, so keys stay short and distinct.
func InvoiceKey(buyerID, vendorID, invoiceNumber string, revision int, sha256Hex string) string {
	return fmt.Sprintf("invoices/%s/%s/%s/r%d/%s.pdf", url.PathEscape(buyerID), url.PathEscape(vendorID),
		pathseg.Segment(invoiceNumber, maxKeySegment), revision, sha256Hex)
}

// CreditNoteKey is the final key of a credit note's PDF, next to its invoice's: under the
// invoice's number, then the credit note's, named by its SHA-256.
func CreditNoteKey(buyerID, vendorID, invoiceNumber, creditNoteNumber, sha256Hex string) string {
	return fmt.Sprintf("invoices/%s/%s/%s/credit-notes/%s/%s.pdf", url.PathEscape(buyerID), url.PathEscape(vendorID),
		pathseg.Segment(invoiceNumber, maxKeySegment), pathseg.Segment(creditNoteNumber, maxKeySegment), sha256Hex)
}

// CheckBucket verifies the bucket exists and is reachable with these credentials.
func (s *Store) CheckBucket(ctx context.Context) error {
	if _, err := s.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &s.bucket}); err != nil {
		return fmt.Errorf("s3 bucket %s: %w", s.bucket, err)
	}
	return nil
}

// CreateBucket creates the bucket; one that exists already and is ours is fine.
func (s *Store) CreateBucket(ctx context.Context) error {
	_, err := s.client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &s.bucket})
	var owned *types.BucketAlreadyOwnedByYou
	if err != nil && !errors.As(err, &owned) {
		return fmt.Errorf("s3 create bucket %s: %w", s.bucket, err)
	}
	return nil
}

// Put stores data at key unless an object with the same SHA-256 is there already, so a retry or
// a duplicate is one object. The server verifies the SHA-256 checksum on upload.
func (s *Store) Put(ctx context.Context, key string, data []byte) error {
	digest := sha256.Sum256(data)
	// The HEAD only spares a second upload; when it cannot answer (the object is missing, or the
	// server refuses a HEAD, whose answer has no body to say why), the PUT's answer counts.
	if existing, err := s.headSHA256(ctx, key); err == nil && existing == hex.EncodeToString(digest[:]) {
		return nil
	}
	_, err := s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket:            &s.bucket,
		Key:               &key,
		Body:              bytes.NewReader(data),
		ContentLength:     aws.Int64(int64(len(data))),
		ContentType:       aws.String("application/pdf"),
		ChecksumAlgorithm: types.ChecksumAlgorithmSha256,
		ChecksumSHA256:    aws.String(base64.StdEncoding.EncodeToString(digest[:])),
	})
	if err != nil {
		return s.wrap("put", key, err)
	}
	return nil
}

// headSHA256 returns the hex SHA-256 the server keeps for key.
func (s *Store) headSHA256(ctx context.Context, key string) (string, error) {
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{
		Bucket: &s.bucket, Key: &key, ChecksumMode: types.ChecksumModeEnabled,
	})
	if err != nil {
		return "", s.wrap("head", key, err)
	}
	if out.ChecksumSHA256 == nil {
		return "", nil
	}
	raw, err := base64.StdEncoding.DecodeString(*out.ChecksumSHA256)
	if err != nil {
		return "", fmt.Errorf("s3 head %s/%s: checksum: %w", s.bucket, key, err)
	}
	return hex.EncodeToString(raw), nil
}

// Exists reports whether an object is at key, with a HEAD: nothing is downloaded.
func (s *Store) Exists(ctx context.Context, key string) (bool, error) {
	_, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.bucket, Key: &key})
	if err == nil {
		return true, nil
	}
	if err = s.wrap("head", key, err); errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return false, err
}

// Get reads the object at key, refusing one larger than maxBytes without downloading it, and
// returns its bytes with their SHA-256.
func (s *Store) Get(ctx context.Context, key string, maxBytes int64) ([]byte, string, error) {
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{
		Bucket: &s.bucket, Key: &key, ChecksumMode: types.ChecksumModeEnabled,
	})
	if err != nil {
		return nil, "", s.wrap("get", key, err)
	}
	defer out.Body.Close()
	if out.ContentLength != nil && *out.ContentLength > maxBytes {
		return nil, "", fmt.Errorf("s3 get %s/%s: %d bytes, limit %d: %w", s.bucket, key, *out.ContentLength, maxBytes, ErrTooLarge)
	}
	data, err := io.ReadAll(io.LimitReader(out.Body, maxBytes+1))
	if err != nil {
		return nil, "", fmt.Errorf("s3 get %s/%s: %w", s.bucket, key, err)
	}
	if int64(len(data)) > maxBytes {
		return nil, "", fmt.Errorf("s3 get %s/%s: more than %d bytes: %w", s.bucket, key, maxBytes, ErrTooLarge)
	}
	return data, SHA256Hex(data), nil
}

// PresignGet returns a URL that downloads key without credentials until ttl has passed.
func (s *Store) PresignGet(ctx context.Context, key string, ttl time.Duration) (string, error) {
	req, err := s3.NewPresignClient(s.client).PresignGetObject(ctx,
		&s3.GetObjectInput{Bucket: &s.bucket, Key: &key}, s3.WithPresignExpires(ttl))
	if err != nil {
		return "", fmt.Errorf("s3 presign %s/%s: %w", s.bucket, key, err)
	}
	return req.URL, nil
}

// List returns the keys under prefix.
func (s *Store) List(ctx context.Context, prefix string) ([]string, error) {
	var keys []string
	pages := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{Bucket: &s.bucket, Prefix: &prefix})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("s3 list %s/%s: %w", s.bucket, prefix, err)
		}
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	return keys, nil
}

// wrap names bucket and key, maps a missing object to ErrNotFound and a malformed request to
// ErrRejected.
func (s *Store) wrap(op, key string, err error) error {
	var apiErr smithy.APIError
	var respErr *smithyhttp.ResponseError
	switch {
	case errors.As(err, &apiErr) && (apiErr.ErrorCode() == "NotFound" || apiErr.ErrorCode() == "NoSuchKey"):
		return fmt.Errorf("s3 %s %s/%s: %w", op, s.bucket, key, ErrNotFound)
	case errors.As(err, &apiErr) && slices.Contains(malformedCodes, apiErr.ErrorCode()),
		errors.As(err, &respErr) && (respErr.HTTPStatusCode() == 413 || respErr.HTTPStatusCode() == 414):
		return fmt.Errorf("s3 %s %s/%s: %w: %w", op, s.bucket, key, ErrRejected, err)
	}
	return fmt.Errorf("s3 %s %s/%s: %w", op, s.bucket, key, err)
}

package gateway

// POST /v1/uploads: a vendor PDF staged in S3 under its SHA-256, named by that upload_id.

import (
	"context"
	"net/http"
	"regexp"

	"github.com/k2kinvoice/autoinvoice/internal/blob"
	"github.com/k2kinvoice/autoinvoice/internal/invoice"
)

// uploadIDPattern is an upload's ID: the SHA-256 of its content.
var uploadIDPattern = regexp.MustCompile(`^[0-9a-f]{64}$`)

// Upload is a staged PDF, referred to by its ID in an order or a vendor update.
type Upload struct {
	UploadID string `json:"upload_id"`
	Size     int64  `json:"size"`
	SHA256   string `json:"sha256"`
}

// upload stages a PDF sent as the raw body (Content-Type: application/pdf).
func (s *Server) upload(w http.ResponseWriter, r *http.Request) {
	if mediaType(r) != "application/pdf" {
		writeProblem(w, Problem{Type: problemType("unsupported-media-type"), Status: http.StatusUnsupportedMediaType,
			Detail: "send the PDF as the body with Content-Type: application/pdf"})
		return
	}
	data := requestBody(r)
	if _, err := s.Invoices.StagePDF(r.Context(), data); err != nil {
		s.fail(w, err)
		return
	}
	digest := blob.SHA256Hex(data)
	writeJSON(w, http.StatusCreated, Upload{UploadID: digest, Size: int64(len(data)), SHA256: digest})
}

// stagedKey is the staging key of an upload of POST /v1/uploads, checked to exist with a HEAD;
// on failure it has answered the request and returns false.
func (s *Server) stagedKey(ctx context.Context, w http.ResponseWriter, field, id string) (string, bool) {
	if !uploadIDPattern.MatchString(id) {
		invalid(w, invoice.FieldError{Field: field, Rule: "must be an upload_id from POST /v1/uploads (64 hex digits)"})
		return "", false
	}
	key := blob.StagingKey(id)
	exists, err := s.Blobs.Exists(ctx, key)
	switch {
	case err != nil:
		s.internal(w, err)
		return "", false
	case !exists:
		invalid(w, invoice.FieldError{Field: field, Rule: "no upload has this upload_id"})
		return "", false
	}
	return key, true
}

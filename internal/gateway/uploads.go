package gateway

// POST /v1/uploads: a vendor PDF staged in S3 under its SHA-256, named by that upload_id.

import (
	"context"
	"errors"
	"io"
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
	data, _ := io.ReadAll(r.Body)
	if _, err := s.Invoices.StagePDF(r.Context(), data); err != nil {
		s.fail(w, err)
		return
	}
	digest := blob.SHA256Hex(data)
	writeJSON(w, http.StatusCreated, Upload{UploadID: digest, Size: int64(len(data)), SHA256: digest})
}

// stagedPDF reads a PDF staged by POST /v1/uploads.
func (s *Server) stagedPDF(ctx context.Context, w http.ResponseWriter, field, id string) ([]byte, bool) {
	if !uploadIDPattern.MatchString(id) {
		invalid(w, invoice.FieldError{Field: field, Rule: "must be an upload_id from POST /v1/uploads (64 hex digits)"})
		return nil, false
	}
	data, _, err := s.Blobs.Get(ctx, blob.StagingKey(id), s.Invoices.MaxPDFBytes)
	if errors.Is(err, blob.ErrNotFound) {
		invalid(w, invoice.FieldError{Field: field, Rule: "no upload has this upload_id"})
		return nil, false
	} else if err != nil {
		s.internal(w, err)
		return nil, false
	}
	return data, true
}

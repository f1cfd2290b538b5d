package gateway

// Error answers: problem+json documents, and the one mapping of errors from below (field errors,
// refusals, failures) to HTTP statuses.

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/k2kinvoice/autoinvoice/internal/invoice"
)

// Problem is an error answer in the form of RFC 9457 (application/problem+json). Code is the
// machine-readable reason (a refusal code for lifecycle refusals); Errors name fields and rules.
type Problem struct {
	Type   string               `json:"type"`
	Title  string               `json:"title"`
	Status int                  `json:"status"`
	Detail string               `json:"detail,omitempty"`
	Code   string               `json:"code,omitempty"`
	Errors []invoice.FieldError `json:"errors,omitempty"`
}

// problemType is the type URI of a problem kind.
func problemType(slug string) string { return "urn:k2k:problem:" + slug }

// writeProblem answers with a problem document.
func writeProblem(w http.ResponseWriter, p Problem) {
	if p.Type == "" {
		p.Type = "about:blank"
	}
	if p.Title == "" {
		p.Title = http.StatusText(p.Status)
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

// invalid answers 422 with field errors.
func invalid(w http.ResponseWriter, fields ...invoice.FieldError) {
	writeProblem(w, Problem{Type: problemType("validation"), Title: "The request is not valid",
		Status: http.StatusUnprocessableEntity, Detail: (&invoice.ValidationError{Fields: fields}).Error(), Errors: fields})
}

// badRequest answers 400: the request cannot be read at all (headers, encoding, structure).
func badRequest(w http.ResponseWriter, detail string, fields ...invoice.FieldError) {
	writeProblem(w, Problem{Type: problemType("bad-request"), Title: "The request cannot be read",
		Status: http.StatusBadRequest, Detail: detail, Errors: fields})
}

// notFound answers 404 without saying whether the thing exists for someone else.
func notFound(w http.ResponseWriter) {
	writeProblem(w, Problem{Type: problemType("not-found"), Title: "Not found", Status: http.StatusNotFound,
		Detail: "no such resource for this API key"})
}

// writeJSON answers with a JSON document.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // URLs keep their '&'
	_ = enc.Encode(v)
}

// fail answers an error from below: field errors are 422, refusals 409 (403 for the wrong actor),
// anything else 500.
func (s *Server) fail(w http.ResponseWriter, err error) {
	var v *invoice.ValidationError
	var refusal *invoice.Refusal
	switch {
	case errors.As(err, &v):
		invalid(w, v.Fields...)
	case errors.As(err, &refusal) && refusal.Code == invoice.RefusedInvalid:
		writeProblem(w, Problem{Type: problemType("validation"), Title: "The request is not valid", Status: http.StatusUnprocessableEntity,
			Code: string(refusal.Code), Detail: refusal.Reason, Errors: refusal.Fields})
	case errors.As(err, &refusal) && refusal.Code == invoice.RefusedWrongActor:
		writeProblem(w, Problem{Type: problemType("forbidden"), Status: http.StatusForbidden, Code: string(refusal.Code), Detail: refusal.Reason})
	case errors.As(err, &refusal):
		writeProblem(w, Problem{Type: problemType("refused"), Title: "The action was refused", Status: http.StatusConflict,
			Code: string(refusal.Code), Detail: refusal.Reason})
	default:
		s.internal(w, err)
	}
}

// internal answers 500 and logs the cause; the client learns nothing of the internals.
func (s *Server) internal(w http.ResponseWriter, err error) {
	s.Log.Error("request failed", "error", err)
	writeProblem(w, Problem{Type: problemType("internal"), Status: http.StatusInternalServerError,
		Detail: "the request failed on our side; retry with the same Idempotency-Key"})
}

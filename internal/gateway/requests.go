package gateway

// Reading request bodies: media types, strict JSON, field names of nested documents.

import (
	"bytes"
	"errors"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/k2kinvoice/autoinvoice/internal/invoice"
)

func byteCount(n int64) string { return strconv.FormatInt(n, 10) + " bytes" }

// mediaType is the request's media type, lower case, without parameters.
func mediaType(r *http.Request) string {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return mt
}

// decodeJSON reads a JSON body of at most MaxJSONBytes into v, strictly; on failure it has
// answered the request and returns false.
func (s *Server) decodeJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	body := requestBody(r)
	if len(body) > MaxJSONBytes {
		writeProblem(w, Problem{Type: problemType("too-large"), Status: http.StatusRequestEntityTooLarge,
			Detail: "a JSON body must be at most " + byteCount(MaxJSONBytes)})
		return false
	}
	if err := invoice.DecodeStrict(bytes.NewReader(body), v); err != nil {
		s.fail(w, err)
		return false
	}
	return true
}

// prefixFields names fields of a nested document by their full path.
func prefixFields(err error, prefix string) error {
	var v *invoice.ValidationError
	if errors.As(err, &v) {
		for i := range v.Fields {
			if !strings.HasPrefix(v.Fields[i].Field, "pdf") {
				v.Fields[i].Field = prefix + v.Fields[i].Field
			}
		}
	}
	return err
}

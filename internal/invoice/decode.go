package invoice

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/go-json-experiment/json/jsontext"
)

// DecodeStrict reads exactly one JSON object into v. It refuses what another JSON parser could
// read differently from this one: unknown fields, anything after the object, an object member
// named twice (encoding/json would keep the last silently) and text that is not valid UTF-8
// (encoding/json would replace it silently). Every door where JSON comes in (gateway, starter,
// workflow messages) decodes through here. Every error is a *ValidationError naming the field
// and the rule.
func DecodeStrict(r io.Reader, v any) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return &ValidationError{Fields: []FieldError{{Field: "body", Rule: "could not be read: " + err.Error()}}}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return &ValidationError{Fields: []FieldError{{Field: "body", Rule: "must hold exactly one JSON object, with nothing after it"}}}
	}
	return checkUnambiguous(data)
}

// checkUnambiguous refuses JSON that parsers may read differently: duplicate object member
// names and invalid UTF-8 (RFC 8259 leaves both to the implementation; RFC 7493 forbids them).
func checkUnambiguous(data []byte) error {
	_, err := jsontext.NewDecoder(bytes.NewReader(data)).ReadValue()
	var syn *jsontext.SyntacticError
	if err == nil || !errors.As(err, &syn) {
		return nil // encoding/json has already accepted the syntax
	}
	field := pointerField(syn.JSONPointer)
	switch {
	case errors.Is(syn.Err, jsontext.ErrDuplicateName):
		return &ValidationError{Fields: []FieldError{{Field: field, Rule: "appears more than once in the same JSON object; send each field once"}}}
	case strings.Contains(syn.Err.Error(), "UTF-8"):
		return &ValidationError{Fields: []FieldError{{Field: field, Rule: "must be valid UTF-8"}}}
	}
	return &ValidationError{Fields: []FieldError{{Field: field, Rule: "is not valid JSON: " + syn.Err.Error()}}}
}

// pointerField turns a JSON pointer ("/lines/0/description") into the field names the rest of
// the validation uses ("lines[0].description"); the empty pointer is the body.
func pointerField(p jsontext.Pointer) string {
	var b strings.Builder
	for token := range p.Tokens() {
		if _, err := strconv.Atoi(token); err == nil && b.Len() > 0 {
			b.WriteString("[" + token + "]")
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(token)
	}
	if b.Len() == 0 {
		return "body"
	}
	return b.String()
}

// decodeError turns encoding/json's errors into field errors.
func decodeError(err error) error {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	field, rule := "body", "is not valid JSON: "+err.Error()
	switch {
	case errors.As(err, &typeErr):
		field = typeErr.Field
		if field == "" {
			field = "body"
		}
		rule = "must be " + jsonTypeName(typeErr.Type.Kind().String()) + ", not " + typeErr.Value
		if strings.HasPrefix(typeErr.Value, "number") && typeErr.Type.Kind().String() == "int64" {
			rule = "must be a whole number of minor units that fits in a signed 64-bit integer"
		}
	case errors.As(err, &syntaxErr):
		rule = fmt.Sprintf("is not valid JSON at byte %d: %v", syntaxErr.Offset, syntaxErr)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field = strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		rule = "is not a known field"
	case errors.Is(err, io.EOF):
		rule = "is empty; expected a JSON object"
	case errors.Is(err, io.ErrUnexpectedEOF):
		rule = "is cut short: the JSON ends before the object does"
	}
	return &ValidationError{Fields: []FieldError{{Field: field, Rule: rule}}}
}

func jsonTypeName(kind string) string {
	switch kind {
	case "int64":
		return "a whole number"
	case "string":
		return "a string"
	case "slice":
		return "an array"
	case "struct":
		return "an object"
	}
	return "a " + kind
}

package invoice

import (
	"errors"
	"strings"
)

// FieldError says which input field broke which rule. Field uses the JSON path of the input
// ("lines[1].unit_price_minor"), so the sender can find it in what it sent.
type FieldError struct {
	Field string `json:"field"`
	Rule  string `json:"rule"`
}

func (e FieldError) Error() string { return e.Field + ": " + e.Rule }

// ValidationError lists every rule an input broke, so a caller can fix them all in one round.
type ValidationError struct {
	Fields []FieldError `json:"fields"`
}

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		parts[i] = f.Error()
	}
	return "invalid input: " + strings.Join(parts, "; ")
}

// add records a broken rule.
func (e *ValidationError) add(field, rule string) {
	e.Fields = append(e.Fields, FieldError{Field: field, Rule: rule})
}

// orNil returns nil when no rule was broken, so callers can `return v.orNil()`.
func (e *ValidationError) orNil() error {
	if len(e.Fields) == 0 {
		return nil
	}
	return e
}

// IsValidation reports whether err is (or wraps) a ValidationError.
func IsValidation(err error) bool {
	var v *ValidationError
	return errors.As(err, &v)
}

package invoice

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Text rules. Every text that reaches PostgreSQL, S3 keys, the PDF renderer or the Temporal UI
// passes one of them first: PostgreSQL refuses NUL in text, invalid UTF-8 would be silently
// replaced by JSON encoders, and bidirectional overrides (U+202E and its kin) make a text read
// differently on screen from what it is.

// checkText requires a non-empty, trimmed, printable string of at most max characters: names,
// numbers and identifiers.
func checkText(v *ValidationError, field, s string, max int) {
	switch {
	case s == "":
		v.add(field, "is required")
	case !utf8.ValidString(s):
		v.add(field, "must be valid UTF-8")
	case utf8.RuneCountInString(s) > max:
		v.add(field, fmt.Sprintf("must be at most %d characters", max))
	case strings.TrimSpace(s) != s:
		v.add(field, "must not start or end with white space")
	case strings.IndexFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0:
		v.add(field, "must not contain control or non-printable characters")
	}
}

// checkFreeText checks an optional free text (a reason, a reference): valid UTF-8, no control
// characters but line breaks and tabs, no bidirectional formatting characters, at most max
// characters.
func checkFreeText(v *ValidationError, field, s string, max int) {
	switch {
	case !utf8.ValidString(s):
		v.add(field, "must be valid UTF-8")
	case utf8.RuneCountInString(s) > max:
		v.add(field, fmt.Sprintf("must be at most %d characters", max))
	case strings.IndexFunc(s, func(r rune) bool { return unicode.IsControl(r) && r != '\n' && r != '\t' }) >= 0:
		v.add(field, "must not contain control characters other than line breaks and tabs")
	case strings.IndexFunc(s, isBidiControl) >= 0:
		v.add(field, "must not contain bidirectional formatting characters (U+202A-U+202E, U+2066-U+2069)")
	}
}

// isBidiControl reports the explicit bidirectional formatting characters.
func isBidiControl(r rune) bool {
	return (r >= '\u202a' && r <= '\u202e') || (r >= '\u2066' && r <= '\u2069')
}

// EscapeText makes any string safe to store and show, keeping what it said: invalid UTF-8 bytes
// become \xNN, control and bidirectional formatting characters \uNNNN (line breaks and tabs
// stay), backslashes are doubled so escapes stay readable, and a result longer than max
// characters (max is at least 100) is cut, with a note of how much was cut. Clean text within
// max comes back unchanged, and so does anything EscapeText returned. It is for records of what
// was refused: accepted input never needs it.
func EscapeText(s string, max int) string {
	if Clean(s) && utf8.RuneCountInString(s) <= max {
		return s
	}
	var b strings.Builder
	if Clean(s) {
		b.WriteString(s)
	} else {
		for i := 0; i < len(s); {
			r, size := utf8.DecodeRuneInString(s[i:])
			switch {
			case r == utf8.RuneError && size == 1:
				b.WriteString(fmt.Sprintf(`\x%02x`, s[i]))
			case r == '\\':
				b.WriteString(`\\`)
			case r != '\n' && r != '\t' && (unicode.IsControl(r) || isBidiControl(r)):
				b.WriteString(fmt.Sprintf(`\u%04x`, r))
			default:
				b.WriteRune(r)
			}
			i += size
		}
	}
	escaped := []rune(b.String())
	if len(escaped) <= max {
		return string(escaped)
	}
	keep := max - 30 // room for the note
	return fmt.Sprintf("%s…(%d more characters)", string(escaped[:keep]), len(escaped)-keep)
}

// Clean reports whether s is valid UTF-8 without control characters (but line breaks and tabs)
// and without bidirectional formatting characters.
func Clean(s string) bool {
	return utf8.ValidString(s) && strings.IndexFunc(s, func(r rune) bool {
		return (unicode.IsControl(r) && r != '\n' && r != '\t') || isBidiControl(r)
	}) < 0
}

// Storage limits of an audit row's texts; longer refused input is cut, with a note.
const (
	maxEventKey  = 500
	maxEventText = 200
	maxReason    = 2000
)

// Storable returns the event with every text made safe to store (EscapeText), so that an audit
// row of refused input, whatever bytes it held, is written and never retried without end. A key
// that is not clean is replaced by a digest of it, which keeps distinct keys distinct.
func (e Event) Storable() Event {
	if !Clean(e.Key) || len(e.Key) > maxEventKey {
		sum := sha256.Sum256([]byte(e.Key))
		e.Key = EscapeText(e.WorkflowID, maxEventKey/2) + "#sha256:" + hex.EncodeToString(sum[:])
	}
	for _, f := range []*string{&e.WorkflowID, &e.VendorID, &e.BuyerID, &e.PONumber, &e.Code,
		&e.Actor.CompanyID, &e.Actor.UserID} {
		*f = EscapeText(*f, maxEventText)
	}
	e.Action = Action(EscapeText(string(e.Action), maxEventText))
	e.Actor.Role = Role(EscapeText(string(e.Actor.Role), maxEventText))
	e.Reason = EscapeText(e.Reason, maxReason)
	return e
}

// Escaped returns a refused request with every text made safe to keep (EscapeText) and the
// vendor update left out, so that what a malformed message held can be recorded and shown but
// never reaches a store as it was.
func (r ActionRequest) Escaped() ActionRequest {
	for _, f := range []*string{&r.Actor.CompanyID, &r.Actor.UserID, &r.IdempotencyKey, &r.PaymentDate, &r.PaymentReference} {
		*f = EscapeText(*f, maxEventText)
	}
	r.Action = Action(EscapeText(string(r.Action), maxEventText))
	r.Actor.Role = Role(EscapeText(string(r.Actor.Role), maxEventText))
	r.Reason = EscapeText(r.Reason, maxReason)
	r.Update = nil
	return r
}

// CheckHTTPURL returns the rule raw breaks as the URL of a receiving system (a webhook endpoint,
// an accounting system), or "": an absolute http or https URL with a host.
func CheckHTTPURL(raw string) string {
	if u, err := url.Parse(raw); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "must be an absolute http or https URL"
	}
	return ""
}

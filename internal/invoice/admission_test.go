package invoice

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

// poisons are values no text field may carry: each one is refused, naming the field.
var poisons = map[string]string{
	"NUL":                 "a\x00b",
	"invalid UTF-8":       "a\xff\xfeb",
	"right-to-left mark":  "invoice\u202egnp.exe",
	"10 kB":               strings.Repeat("x", 10_000),
	"escape control char": "a\x1bb",
}

// actionTextFields sets each text field of an action request, with the action that carries it.
var actionTextFields = []struct {
	field  string
	action Action
	set    func(r *ActionRequest, v string)
}{
	{"actor.company_id", ActionApprove, func(r *ActionRequest, v string) { r.Actor.CompanyID = v }},
	{"actor.user_id", ActionApprove, func(r *ActionRequest, v string) { r.Actor.UserID = v }},
	{"actor.role", ActionApprove, func(r *ActionRequest, v string) { r.Actor.Role = Role(v) }},
	{"idempotency_key", ActionApprove, func(r *ActionRequest, v string) { r.IdempotencyKey = v }},
	{"reason", ActionReturnToProcurement, func(r *ActionRequest, v string) { r.Reason = v }},
	{"payment_date", ActionMarkPaid, func(r *ActionRequest, v string) { r.PaymentDate = v }},
	{"payment_reference", ActionMarkPaid, func(r *ActionRequest, v string) { r.PaymentReference = v }},
	{"update.invoice_number", ActionVendorUpdate, func(r *ActionRequest, v string) { r.Update.InvoiceNumber = v }},
	{"update.issue_date", ActionVendorUpdate, func(r *ActionRequest, v string) { r.Update.IssueDate = v }},
	{"update.currency", ActionVendorUpdate, func(r *ActionRequest, v string) { r.Update.Currency = v }},
	{"update.lines[0].description", ActionVendorUpdate, func(r *ActionRequest, v string) { r.Update.Lines[0].Description = v }},
	{"update.staging_key", ActionVendorUpdate, func(r *ActionRequest, v string) { r.Update.StagingKey = v }},
}

// TestCheckRequestRefusesPoisonInEveryTextField: whatever field holds a value that PostgreSQL, a
// JSON encoder or a screen would take differently, the request is refused as invalid_request,
// naming that field, before anything is applied or stored.
func TestCheckRequestRefusesPoisonInEveryTextField(t *testing.T) {
	for _, f := range actionTextFields {
		for name, poison := range poisons {
			t.Run(f.field+"/"+name, func(t *testing.T) {
				req := goodRequest(f.action)
				if err := CheckRequest(req); err != nil {
					t.Fatalf("the good request is refused: %v", err)
				}
				f.set(&req, poison)
				wantRefusalOf(t, CheckRequest(req), RefusedInvalid, f.field+":")
			})
		}
	}
}

func wantRefusalOf(t *testing.T, err error, code RefusalCode, phrase string) {
	t.Helper()
	r, ok := err.(*Refusal)
	if !ok {
		t.Fatalf("CheckRequest = %T %v, want a *Refusal", err, err)
	}
	if r.Code != code || !strings.Contains(r.Reason, phrase) {
		t.Errorf("refusal = %s %q, want %s naming %q", r.Code, r.Reason, code, phrase)
	}
	if !utf8.ValidString(r.Reason) || !Clean(r.Reason) {
		t.Errorf("the refusal's reason is not clean text itself: %q", r.Reason)
	}
}

func TestCheckRequestRules(t *testing.T) {
	for _, tc := range []struct {
		name   string
		action Action
		change func(r *ActionRequest)
		phrase string
	}{
		{"unknown action", "approve\x00", func(r *ActionRequest) {}, `action "approve\x00" is not one of`},
		{"update on another action", ActionApprove, func(r *ActionRequest) { r.Update = &InvoiceUpdate{} }, "update: is only for vendor_update"},
		{"staging key outside staging", ActionVendorUpdate, func(r *ActionRequest) {
			r.Update.StagingKey = "invoices/OTHER-BUYER/ACME/INV-9/r1/" + strings.Repeat("a", 64) + ".pdf"
		}, "update.staging_key: must be a staged upload"},
		{"every broken field at once", ActionApprove, func(r *ActionRequest) {
			r.Actor.UserID, r.IdempotencyKey = "", " k"
		}, "actor.user_id: is required; idempotency_key: must not start or end with white space"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := goodRequest(ActionVendorUpdate)
			if tc.action != ActionVendorUpdate {
				req = goodRequest(ActionApprove)
				req.Action = tc.action
			}
			tc.change(&req)
			wantRefusalOf(t, CheckRequest(req), RefusedInvalid, tc.phrase)
		})
	}
	good := goodRequest(ActionVendorUpdate)
	good.Update.StagingKey = "staging/" + strings.Repeat("0f", 32) + ".pdf"
	good.Reason = "new prices:\n\tline 1"
	if err := CheckRequest(good); err != nil {
		t.Errorf("a staged PDF and a reason with line breaks and tabs are refused: %v", err)
	}
}

// TestDecodeStrictRefusesAmbiguousJSON: a body that another parser could read differently is
// refused, naming the field: a member sent twice, or text that is not UTF-8.
func TestDecodeStrictRefusesAmbiguousJSON(t *testing.T) {
	for _, tc := range []struct{ name, body, field, phrase string }{
		{"duplicate top-level key", `{"idempotency_key":"a","idempotency_key":"b"}`, "idempotency_key", "appears more than once"},
		{"duplicate nested key", `{"actor":{"company_id":"A","company_id":"B"}}`, "actor.company_id", "appears more than once"},
		{"duplicate key in an array element", `{"update":{"lines":[{"quantity":1},{"quantity":1,"quantity":2}]}}`, "update.lines[1].quantity", "appears more than once"},
		{"invalid UTF-8 in a value", "{\"reason\":\"a\xffb\"}", "reason", "must be valid UTF-8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var req ActionRequest
			wantOneFieldError(t, DecodeStrict(strings.NewReader(tc.body), &req), tc.field, tc.phrase)
		})
	}
	var req ActionRequest
	if err := DecodeStrict(strings.NewReader(`{"actor":{"company_id":"A"},"reason":"same name, other objects: fine"}`), &req); err != nil {
		t.Errorf("equal names in different objects are refused: %v", err)
	}
}

func TestEscapeText(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"plain text, line\nbreak\ttab", "plain text, line\nbreak\ttab"},
		{`a\b`, `a\b`},
		{"a\x00b", `a\u0000b`},
		{"a\xffb\\", `a\xffb\\`},
		{"rtl\u202eoverride", `rtl\u202eoverride`},
	} {
		if got := EscapeText(tc.in, 100); got != tc.want {
			t.Errorf("EscapeText(%q, 100) = %q, want %q", tc.in, got, tc.want)
		}
	}
	long := strings.Repeat("é", 150)
	cut := EscapeText(long, 100)
	if cut != strings.Repeat("é", 70)+"…(80 more characters)" {
		t.Errorf("EscapeText cuts long text as %q", cut)
	}
	for _, s := range []string{cut, EscapeText(long+"\x00", 100), EscapeText("a\x00b", 100)} {
		if again := EscapeText(s, 100); again != s {
			t.Errorf("EscapeText changed its own result %q into %q", s, again)
		}
	}
}

// TestEventStorable: every text of an audit row of refused input is made storable, and distinct
// unclean keys stay distinct.
func TestEventStorable(t *testing.T) {
	e := Event{Key: "wf#refused/approve/k\x00", WorkflowID: "wf", Kind: EventRefused, Action: "approve\xff",
		Actor: Actor{CompanyID: "B\x00", UserID: strings.Repeat("u", 10_000), Role: "r\u202e"}, Reason: "why\x00"}
	s := e.Storable()
	for name, v := range map[string]string{"key": s.Key, "action": string(s.Action), "company": s.Actor.CompanyID,
		"user": s.Actor.UserID, "role": string(s.Actor.Role), "reason": s.Reason} {
		if !Clean(v) || len(v) > 600 {
			t.Errorf("%s = %q (%d bytes), want clean text of bounded length", name, v, len(v))
		}
	}
	if s.Actor.CompanyID != `B\u0000` || s.Reason != `why\u0000` {
		t.Errorf("escaped company %q, reason %q: the bad bytes must stay visible", s.Actor.CompanyID, s.Reason)
	}
	other := e
	other.Key = "wf#refused/approve/k\x01"
	if other.Storable().Key == s.Key {
		t.Errorf("two different unclean keys became the same key %q", s.Key)
	}
	clean := Event{Key: "wf#3", WorkflowID: "wf", Reason: "fine"}
	if clean.Storable() != clean {
		t.Errorf("a clean event was changed: %+v", clean.Storable())
	}
}

// TestAdmissionEdges pins the limits of the admission rule at their exact boundaries.
func TestAdmissionEdges(t *testing.T) {
	for r, bidi := range map[rune]bool{'\u2029': false, '\u202a': true, '\u202e': true, '\u202f': false,
		'\u2065': false, '\u2066': true, '\u2069': true, '\u206a': false} {
		if got := !Clean("a" + string(r) + "b"); got != bidi {
			t.Errorf("U+%04X refused as bidirectional formatting = %v, want %v", r, got, bidi)
		}
	}
	exact := strings.Repeat("é", 100)
	if got := EscapeText(exact, 100); got != exact {
		t.Errorf("clean text of exactly max characters was changed: %q", got)
	}
	escapedExact := strings.Repeat("a", 94) + "\x00" // escapes to exactly 100 characters
	if got := EscapeText(escapedExact, 100); got != strings.Repeat("a", 94)+`\u0000` {
		t.Errorf("text escaping to exactly max characters was cut: %q", got)
	}
	for _, n := range []int{100, 101} {
		name := strings.Repeat("x", n)
		err := CheckRequest(ActionRequest{Action: Action(name)})
		want := `"` + name + `"`
		if n > 100 {
			want = `"` + name[:100] + `…"`
		}
		if r, ok := err.(*Refusal); !ok || !strings.Contains(r.Reason, want) {
			t.Errorf("action of %d bytes: %v, want the name quoted as %s", n, err, want)
		}
	}
	for _, n := range []int{500, 501} {
		e := Event{Key: strings.Repeat("k", n), WorkflowID: "wf"}
		kept := e.Storable().Key == e.Key
		if kept != (n <= 500) {
			t.Errorf("clean key of %d bytes kept = %v, want %v", n, kept, n <= 500)
		}
	}
	long := Event{Key: strings.Repeat("k", 600), WorkflowID: strings.Repeat("w", 300)}
	if key := long.Storable().Key; !strings.HasPrefix(key, strings.Repeat("w", 220)+"…(80 more characters)#sha256:") {
		t.Errorf("digested key = %q, want the workflow ID cut to 250 characters, then the digest", key)
	}
}

func TestEventSummary(t *testing.T) {
	actor := Actor{CompanyID: "GLOBEX", UserID: "bob", Role: RoleAccounting}
	for _, tc := range []struct {
		e    Event
		want string
	}{
		{Event{Kind: EventRefused, Action: ActionMarkPaid, Actor: actor, From: StatusAP, To: StatusAP}, "record refused mark_paid by GLOBEX/bob (AP)"},
		{Event{Kind: EventTransition, Action: ActionApprove, Actor: actor, From: StatusAP, To: StatusAA}, "record transition approve by GLOBEX/bob (AP → AA)"},
		{Event{Kind: EventNotEligible, Code: "connection_inactive"}, "record not_eligible: connection_inactive"},
		{Event{Kind: EventInvoiceCreated, To: StatusAP}, "record invoice_created (AP)"},
	} {
		if got := tc.e.Summary(); got != tc.want {
			t.Errorf("Summary = %q, want %q", got, tc.want)
		}
	}
}

func TestReviseRefusesAnInvalidUpdate(t *testing.T) {
	o := validOrder()
	if _, err := (InvoiceUpdate{InvoiceNumber: "INV-2"}).Revise(o); err == nil || !strings.Contains(err.Error(), "update.issue_date") {
		t.Errorf("Revise of an update without date, currency, total and lines = %v, want field errors under update.", err)
	}
	u := InvoiceUpdate{InvoiceNumber: "INV-2", IssueDate: "2026-11-30", Currency: o.Currency, TotalMinor: o.TotalMinor, Lines: o.Lines}
	revised, err := u.Revise(o)
	if err != nil || revised.InvoiceNumber != "INV-2" || revised.PONumber != o.PONumber || revised.VendorID != o.VendorID {
		t.Errorf("Revise = %+v, %v; want the new number on the same order", revised, err)
	}
}

func TestDecodeStrictEdges(t *testing.T) {
	var v map[string]any
	wantOneFieldError(t, DecodeStrict(strings.NewReader(`{"0":1,"0":2}`), &v), "0", "appears more than once")
	wantOneFieldError(t, DecodeStrict(failingReader{}, &v), "body", "could not be read")
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("connection reset") }

// TestReviseKeepsTheCurrency: an update in another currency is refused on update.currency (the
// PO total is in the invoice's); the rule before it let the currency change.
func TestReviseKeepsTheCurrency(t *testing.T) {
	o := validOrder()
	u := InvoiceUpdate{InvoiceNumber: "INV-2", IssueDate: "2026-11-30", Currency: "USD", TotalMinor: o.TotalMinor, Lines: o.Lines}
	_, err := u.Revise(o)
	var v *ValidationError
	if !errors.As(err, &v) || len(v.Fields) != 1 || v.Fields[0].Field != "update.currency" ||
		!strings.Contains(v.Fields[0].Rule, "must stay "+o.Currency) {
		t.Errorf("Revise to USD = %v, want one error on update.currency saying it must stay %s", err, o.Currency)
	}
	if revised, err := u.ReviseAnyCurrency(o); err != nil || revised.Currency != "USD" || revised.POTotalMinor != o.POTotalMinor {
		t.Errorf("ReviseAnyCurrency to USD = %+v, %v; want the order in USD", revised, err)
	}
	// A malformed currency is named once, by its own rule.
	u.Currency = "usd"
	if _, err := u.Revise(o); !errors.As(err, &v) || len(v.Fields) != 1 || strings.Contains(v.Fields[0].Rule, "must stay") {
		t.Errorf("Revise to %q = %v, want only the code's own rule", u.Currency, err)
	}
}

package invoice

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

const (
	testVendor = "ACME-01"
	testBuyer  = "BUYCO_2"
	testOther  = "THIRD-CO"
)

var allStatuses = Statuses()

func facts(s Status) Facts {
	return Facts{Status: s, VendorID: testVendor, BuyerID: testBuyer, Exports: true}
}

// goodRequest is a well-formed request for action, sent by the buyer user whose role may send it.
func goodRequest(action Action) ActionRequest {
	req := ActionRequest{
		Action:         action,
		Actor:          Actor{CompanyID: testBuyer, UserID: "u-17", Role: RoleProcurement},
		IdempotencyKey: "key-" + string(action),
	}
	switch action {
	case ActionApprovePayment, ActionCancelPaymentApproval, ActionSendToAccounting, ActionReturnToApproved:
		req.Actor.Role = RoleAccounting
	case ActionReturnToProcurement:
		req.Actor.Role = RoleAccounting
		req.Reason = "quantities do not match the goods received"
	case ActionMarkPaid:
		req.Actor.Role = RoleAccounting
		req.PaymentDate = "2026-04-30"
		req.PaymentReference = "BANK-2026-0042"
	case ActionDispute:
		req.Reason = "the unit price is not the one agreed"
	case ActionVoid:
		req.Actor = Actor{CompanyID: testVendor, UserID: "v-3", Role: RoleVendor}
		req.Reason = "issued to the wrong PO; a new invoice follows"
	case ActionVendorUpdate:
		req.Actor = Actor{CompanyID: testVendor, UserID: "v-3", Role: RoleVendor}
		req.Update = &InvoiceUpdate{InvoiceNumber: "INV-2", IssueDate: "2026-04-02", Currency: "EUR", TotalMinor: 100,
			Lines: []Line{{Description: "x", Quantity: 1, UnitPriceMinor: 100}}}
	}
	return req
}

// wantRefusal checks that Decide refused with code and left the status as it was.
func wantRefusal(t *testing.T, f Facts, req ActionRequest, code RefusalCode, phrase string) {
	t.Helper()
	got, err := Decide(f, req)
	if got != f.Status {
		t.Errorf("status = %q, want it unchanged (%q)", got, f.Status)
	}
	if err == nil {
		t.Fatalf("Decide(%s in %s) = %q, nil; want a refusal %s", req.Action, f.Status, got, code)
	}
	var r *Refusal
	if !errors.As(err, &r) {
		t.Fatalf("error %T (%v), want *Refusal", err, err)
	}
	if r.Code != code {
		t.Errorf("Code = %q, want %q (reason %q)", r.Code, code, r.Reason)
	}
	if r.Reason == "" {
		t.Error("Reason is empty, want a clear explanation")
	}
	if !strings.Contains(r.Reason, phrase) {
		t.Errorf("Reason = %q, want it to contain %q", r.Reason, phrase)
	}
	if want := string(code) + ": " + r.Reason; r.Error() != want {
		t.Errorf("Error() = %q, want %q", r.Error(), want)
	}
}

func TestDecideEveryStatusAndAction(t *testing.T) {
	// Without a pending vendor update; acknowledge_update then is refused in every status.
	allowed := map[Status]map[Action]Status{
		StatusAP: {ActionApprove: StatusAA, ActionVendorUpdate: StatusAP, ActionDispute: StatusD},
		StatusAA: {ActionApprovePayment: StatusA, ActionReturnToProcurement: StatusAP, ActionVendorUpdate: StatusAP, ActionDispute: StatusD},
		StatusA:  {ActionMarkPaid: StatusP, ActionCancelPaymentApproval: StatusAA, ActionVendorUpdate: StatusAP, ActionSendToAccounting: StatusES},
		StatusES: {ActionReturnToApproved: StatusA},
		StatusS:  {ActionReturnToApproved: StatusA, ActionMarkPaid: StatusP},
		StatusF:  {ActionReturnToApproved: StatusA, ActionSendToAccounting: StatusES},
		StatusD:  {ActionVendorUpdate: StatusAP, ActionVoid: StatusV},
	}
	for _, s := range append(allStatuses, Status("XX")) {
		for _, a := range Actions() {
			t.Run(fmt.Sprintf("%s/%s", s, a), func(t *testing.T) {
				if next, ok := allowed[s][a]; ok {
					got, err := Decide(facts(s), goodRequest(a))
					if err != nil || got != next {
						t.Errorf("Decide(%s in %s) = %q, %v; want %q, nil", a, s, got, err, next)
					}
					return
				}
				switch {
				case s == StatusP && a == ActionVendorUpdate:
					wantRefusal(t, facts(s), goodRequest(a), RefusedPaid, "credit note")
				case a == ActionAcknowledgeUpdate && slices.Contains([]Status{StatusAP, StatusAA, StatusA, StatusD}, s):
					wantRefusal(t, facts(s), goodRequest(a), RefusedWrongStatus, "no unreviewed vendor update")
				default:
					wantRefusal(t, facts(s), goodRequest(a), RefusedWrongStatus, string(s))
				}
			})
		}
	}
}

func TestActions(t *testing.T) {
	got := Actions()
	want := []Action{ActionApprove, ActionApprovePayment, ActionReturnToProcurement, ActionCancelPaymentApproval,
		ActionMarkPaid, ActionVendorUpdate, ActionAcknowledgeUpdate, ActionDispute, ActionSendToAccounting, ActionReturnToApproved, ActionVoid}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Actions() = %v, want %v", got, want)
	}
}

func TestDecideRefusals(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status Status
		action Action
		change func(r *ActionRequest)
		code   RefusalCode
		phrase string
	}{
		// Wrong company.
		{"vendor company approves", StatusAP, ActionApprove,
			func(r *ActionRequest) { r.Actor.CompanyID = testVendor }, RefusedWrongActor, testVendor},
		{"vendor company approves payment", StatusAA, ActionApprovePayment,
			func(r *ActionRequest) { r.Actor.CompanyID = testVendor }, RefusedWrongActor, "buyer company"},
		{"vendor company marks paid", StatusA, ActionMarkPaid,
			func(r *ActionRequest) { r.Actor.CompanyID = testVendor }, RefusedWrongActor, "buyer company"},
		{"third company approves", StatusAP, ActionApprove,
			func(r *ActionRequest) { r.Actor.CompanyID = testOther }, RefusedWrongActor, testOther},
		{"third company marks paid", StatusA, ActionMarkPaid,
			func(r *ActionRequest) { r.Actor.CompanyID = testOther }, RefusedWrongActor, testOther},
		{"company id differs in case", StatusAP, ActionApprove,
			func(r *ActionRequest) { r.Actor.CompanyID = strings.ToLower(testBuyer) }, RefusedWrongActor, "buyer company"},

		// Wrong role.
		{"accounting approves", StatusAP, ActionApprove,
			func(r *ActionRequest) { r.Actor.Role = RoleAccounting }, RefusedWrongActor, "needs role"},
		{"procurement approves payment", StatusAA, ActionApprovePayment,
			func(r *ActionRequest) { r.Actor.Role = RoleProcurement }, RefusedWrongActor, "needs role"},
		{"procurement marks paid", StatusA, ActionMarkPaid,
			func(r *ActionRequest) { r.Actor.Role = RoleProcurement }, RefusedWrongActor, "needs role"},
		{"vendor role of the buyer approves", StatusAP, ActionApprove,
			func(r *ActionRequest) { r.Actor.Role = RoleVendor }, RefusedWrongActor, "needs role"},
		{"no role", StatusAA, ActionApprovePayment,
			func(r *ActionRequest) { r.Actor.Role = "" }, RefusedInvalid, "actor.role: must be one of"},
		{"unknown role", StatusAP, ActionApprove,
			func(r *ActionRequest) { r.Actor.Role = "admin" }, RefusedInvalid, "actor.role: must be one of"},
		{"payment date that is not a date, on any action", StatusAP, ActionApprove,
			func(r *ActionRequest) { r.PaymentDate = "not a date" }, RefusedInvalid, "payment_date"},

		// Invalid requests.
		{"missing company id", StatusAP, ActionApprove,
			func(r *ActionRequest) { r.Actor.CompanyID = "" }, RefusedInvalid, "company_id"},
		{"missing user id", StatusAP, ActionApprove,
			func(r *ActionRequest) { r.Actor.UserID = "" }, RefusedInvalid, "user_id"},
		{"missing idempotency key", StatusAA, ActionApprovePayment,
			func(r *ActionRequest) { r.IdempotencyKey = "" }, RefusedInvalid, "idempotency_key"},
		{"over-long idempotency key", StatusAP, ActionApprove,
			func(r *ActionRequest) { r.IdempotencyKey = strings.Repeat("k", 201) }, RefusedInvalid, "idempotency_key"},
		{"mark paid without payment date", StatusA, ActionMarkPaid,
			func(r *ActionRequest) { r.PaymentDate = "" }, RefusedInvalid, "payment_date"},
		{"mark paid with impossible date", StatusA, ActionMarkPaid,
			func(r *ActionRequest) { r.PaymentDate = "2026-02-30" }, RefusedInvalid, "payment_date"},
		{"mark paid with day-first date", StatusA, ActionMarkPaid,
			func(r *ActionRequest) { r.PaymentDate = "30.04.2026" }, RefusedInvalid, "payment_date"},
		{"mark paid without payment reference", StatusA, ActionMarkPaid,
			func(r *ActionRequest) { r.PaymentReference = "" }, RefusedInvalid, "payment_reference"},
		{"unknown action", StatusAP, "reject",
			func(*ActionRequest) {}, RefusedInvalid, "reject"},
		{"empty action", StatusAP, "",
			func(*ActionRequest) {}, RefusedInvalid, "is not one of"},
		{"action in the wrong case", StatusAP, "APPROVE",
			func(*ActionRequest) {}, RefusedInvalid, "APPROVE"},

		// Check order: request, then actor, then status.
		{"wrong actor and wrong status", StatusP, ActionApprove,
			func(r *ActionRequest) { r.Actor.CompanyID = testVendor }, RefusedWrongActor, testVendor},
		{"wrong role and wrong status", StatusAA, ActionApprove,
			func(r *ActionRequest) { r.Actor.Role = RoleAccounting }, RefusedWrongActor, "needs role"},
		{"invalid and wrong actor", StatusAP, ActionApprove,
			func(r *ActionRequest) { r.Actor.CompanyID = testOther; r.Actor.UserID = "" }, RefusedInvalid, "user_id"},
		{"invalid and wrong status", StatusP, ActionMarkPaid,
			func(r *ActionRequest) { r.PaymentReference = "" }, RefusedInvalid, "payment_reference"},
		{"dispute without a reason", StatusAA, ActionDispute,
			func(r *ActionRequest) { r.Reason = " " }, RefusedInvalid, "reason: is required to dispute an invoice"},
		{"void without a reason", StatusD, ActionVoid,
			func(r *ActionRequest) { r.Reason = "" }, RefusedInvalid, "reason: is required to void an invoice"},
		{"dispute by the vendor", StatusAP, ActionDispute,
			func(r *ActionRequest) { r.Actor = Actor{CompanyID: testVendor, UserID: "v-3", Role: RoleVendor} }, RefusedWrongActor, "buyer"},
		{"void by the buyer", StatusD, ActionVoid,
			func(r *ActionRequest) { r.Actor = Actor{CompanyID: testBuyer, UserID: "u-1", Role: RoleProcurement} }, RefusedWrongActor, "vendor"},
		{"unknown action with no actor", StatusP, "cancel",
			func(r *ActionRequest) { r.Actor = Actor{} }, RefusedInvalid, "cancel"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := goodRequest(tc.action)
			req.Action = tc.action
			tc.change(&req)
			wantRefusal(t, facts(tc.status), req, tc.code, tc.phrase)
		})
	}
}

func TestDecideAccepts(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status Status
		action Action
		change func(r *ActionRequest)
		want   Status
	}{
		{"200-byte idempotency key", StatusAP, ActionApprove,
			func(r *ActionRequest) { r.IdempotencyKey = strings.Repeat("k", 200) }, StatusAA},
		{"reason is optional", StatusAA, ActionApprovePayment,
			func(r *ActionRequest) { r.Reason = "" }, StatusA},
		{"approve ignores a valid payment date", StatusAP, ActionApprove,
			func(r *ActionRequest) { r.PaymentDate = "2026-11-30" }, StatusAA},
		{"paid on a leap day", StatusA, ActionMarkPaid,
			func(r *ActionRequest) { r.PaymentDate = "2028-02-29" }, StatusP},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := goodRequest(tc.action)
			tc.change(&req)
			got, err := Decide(facts(tc.status), req)
			if err != nil || got != tc.want {
				t.Errorf("Decide = %q, %v; want %q, nil", got, err, tc.want)
			}
		})
	}
}

func TestDecideEligibility(t *testing.T) {
	all := ConnectionFacts{VendorKnown: true, BuyerKnown: true, ConnectionFound: true, ConnectionActive: true,
		VendorSyncEnabled: true, BuyerUploadOn: true}
	for _, tc := range []struct {
		name   string
		change func(f *ConnectionFacts)
		reason EligibilityReason // "" when eligible
		phrase string
	}{
		{"all on", func(*ConnectionFacts) {}, "", ""},
		{"unknown vendor", func(f *ConnectionFacts) { f.VendorKnown = false }, ReasonUnknownCompany, "not known"},
		{"unknown buyer", func(f *ConnectionFacts) { f.BuyerKnown = false }, ReasonUnknownCompany, "not known"},
		{"no connection", func(f *ConnectionFacts) { f.ConnectionFound = false }, ReasonNoConnection, "no K2K connection"},
		{"connection inactive", func(f *ConnectionFacts) { f.ConnectionActive = false }, ReasonConnectionInactive, "not active"},
		{"vendor setting off", func(f *ConnectionFacts) { f.VendorSyncEnabled = false }, ReasonVendorSyncDisabled,
			"Allow Automatic Invoice Synchronization with the Buyer Company"},
		{"buyer setting off", func(f *ConnectionFacts) { f.BuyerUploadOn = false }, ReasonBuyerUploadDisabled,
			"Allow Invoices coming from K2K orders to be automatically uploaded"},
		{"everything off: unknown company first", func(f *ConnectionFacts) { *f = ConnectionFacts{} }, ReasonUnknownCompany, ""},
		{"no connection before settings", func(f *ConnectionFacts) {
			f.ConnectionFound, f.ConnectionActive, f.VendorSyncEnabled, f.BuyerUploadOn = false, false, false, false
		}, ReasonNoConnection, ""},
		{"inactive before settings", func(f *ConnectionFacts) {
			f.ConnectionActive, f.VendorSyncEnabled, f.BuyerUploadOn = false, false, false
		}, ReasonConnectionInactive, ""},
		{"vendor setting before buyer setting", func(f *ConnectionFacts) {
			f.VendorSyncEnabled, f.BuyerUploadOn = false, false
		}, ReasonVendorSyncDisabled, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := all
			tc.change(&f)
			got := DecideEligibility(f)
			if tc.reason == "" {
				if got != (Eligibility{Eligible: true}) {
					t.Errorf("DecideEligibility = %+v, want eligible with no reason", got)
				}
				return
			}
			if got.Eligible || got.Reason != tc.reason {
				t.Errorf("DecideEligibility = %+v, want not eligible with reason %q", got, tc.reason)
			}
			if got.Detail == "" || !strings.Contains(got.Detail, tc.phrase) {
				t.Errorf("Detail = %q, want it to contain %q", got.Detail, tc.phrase)
			}
		})
	}
}

func TestStatusLabelAndTerminal(t *testing.T) {
	for _, tc := range []struct {
		status   Status
		label    string
		terminal bool
	}{
		{StatusAP, "pending approval by procurement", false},
		{StatusAA, "pending approval by accounting", false},
		{StatusA, "approved, ready to pay", false},
		{StatusP, "paid", true},
		{StatusES, "sent to accounting", false},
		{StatusS, "synchronized with accounting", false},
		{StatusF, "export to accounting failed", false},
		{"XX", "XX", false},
		{"", "", false},
	} {
		if got := tc.status.Label(); got != tc.label {
			t.Errorf("Status(%q).Label() = %q, want %q", tc.status, got, tc.label)
		}
		if got := tc.status.Terminal(); got != tc.terminal {
			t.Errorf("Status(%q).Terminal() = %v, want %v", tc.status, got, tc.terminal)
		}
	}
}

// TestTerminalStatusAcceptsNoAction: no action, by anyone, moves a paid invoice.
func TestTerminalStatusAcceptsNoAction(t *testing.T) {
	for _, s := range allStatuses {
		if !s.Terminal() {
			continue
		}
		for _, a := range Actions() {
			if _, err := Decide(facts(s), goodRequest(a)); err == nil {
				t.Errorf("Decide(%s in terminal %s) accepted, want a refusal", a, s)
			}
		}
	}
}

func TestDecideWithoutInvoiceRefusesNoInvoice(t *testing.T) {
	req := ActionRequest{Action: ActionApprove, IdempotencyKey: "k",
		Actor: Actor{CompanyID: "BUY", UserID: "alice", Role: RoleProcurement}}
	to, err := Decide(Facts{VendorID: "VEN", BuyerID: "BUY"}, req)
	var r *Refusal
	if !errors.As(err, &r) || r.Code != RefusedNoInvoice || to != "" {
		t.Errorf("Decide without an invoice = %q, %v; want refused no_invoice", to, err)
	}
}

func TestDecideRefusesUnstorableText(t *testing.T) {
	for name, change := range map[string]func(*ActionRequest){
		"NUL in reason":            func(r *ActionRequest) { r.Reason = "x\x00" },
		"invalid UTF-8 in reason":  func(r *ActionRequest) { r.Reason = "\xff" },
		"over-long reason":         func(r *ActionRequest) { r.Reason = strings.Repeat("é", 1001) },
		"NUL in payment reference": func(r *ActionRequest) { r.PaymentReference = "SEPA\x00" },
		"escape in user":           func(r *ActionRequest) { r.Actor.UserID = "bob\x1b[2J" },
	} {
		t.Run(name, func(t *testing.T) {
			req := goodRequest(ActionMarkPaid)
			change(&req)
			wantRefusal(t, facts(StatusA), req, RefusedInvalid, "")
		})
	}
}

// TestDecideSeparationOfDuties: with the buyer's setting on, the user whose procurement approval
// is in force may neither approve the payment nor mark the invoice paid; anyone else may, and
// with the setting off so may that user. Other actions are not affected.
func TestDecideSeparationOfDuties(t *testing.T) {
	const approver = "alice"
	separated := func(s Status) Facts {
		f := facts(s)
		f.SeparateDuties, f.ApprovedBy = true, approver
		return f
	}
	by := func(action Action, user string) ActionRequest {
		req := goodRequest(action)
		req.Actor.UserID = user
		return req
	}
	for _, tc := range []struct {
		status Status
		action Action
	}{{StatusAA, ActionApprovePayment}, {StatusA, ActionMarkPaid}} {
		t.Run(string(tc.action), func(t *testing.T) {
			wantRefusal(t, separated(tc.status), by(tc.action, approver), RefusedSameUser, approver+" approved this invoice for procurement")
			if got, err := Decide(separated(tc.status), by(tc.action, "bob")); err != nil {
				t.Errorf("another user: Decide = %q, %v; want accepted", got, err)
			}
			off := separated(tc.status)
			off.SeparateDuties = false
			if got, err := Decide(off, by(tc.action, approver)); err != nil {
				t.Errorf("setting off: Decide = %q, %v; want accepted", got, err)
			}
			none := separated(tc.status)
			none.ApprovedBy = ""
			if got, err := Decide(none, by(tc.action, approver)); err != nil {
				t.Errorf("no approval in force: Decide = %q, %v; want accepted", got, err)
			}
		})
	}
	// The approver may still return the invoice, take the payment approval back or acknowledge an update.
	for _, tc := range []struct {
		status Status
		action Action
	}{{StatusAA, ActionReturnToProcurement}, {StatusA, ActionCancelPaymentApproval}} {
		if got, err := Decide(separated(tc.status), by(tc.action, approver)); err != nil {
			t.Errorf("%s by the approver: Decide = %q, %v; want accepted", tc.action, got, err)
		}
	}
	// The refusal comes after the status and warning checks.
	wantRefusal(t, separated(StatusAP), by(ActionApprovePayment, approver), RefusedWrongStatus, "allowed in status")
	warned := separated(StatusAA)
	warned.UpdatePending = true
	wantRefusal(t, warned, by(ActionApprovePayment, approver), RefusedUnreviewed, "acknowledge")
	if got := DecideEligibility(ConnectionFacts{VendorKnown: true, BuyerKnown: true, ConnectionFound: true, ConnectionActive: true,
		VendorSyncEnabled: true, BuyerUploadOn: true, BuyerSeparatesDuties: true}); got != (Eligibility{Eligible: true, SeparateDuties: true}) {
		t.Errorf("DecideEligibility with the buyer separating duties = %+v, want eligible, separate_duties", got)
	}
}

// Without an accounting export, send_to_accounting is refused in any status.
func TestDecideSendToAccountingNeedsAnExport(t *testing.T) {
	f := facts(StatusA)
	f.Exports = false
	wantRefusal(t, f, goodRequest(ActionSendToAccounting), RefusedWrongStatus, "no export")
}

package invoice

import (
	"math"
	"strings"
	"testing"
)

func TestToleranceStand(t *testing.T) {
	eur10 := Tolerance{AmountMinor: 1000, Currency: "EUR"}
	pct1 := Tolerance{PercentBP: 100}
	both := Tolerance{AmountMinor: 1000, Currency: "EUR", PercentBP: 100}
	for _, tc := range []struct {
		name        string
		t           Tolerance
		d, po       int64
		cur         string
		want        Standing
		description string
	}{
		{"no discrepancy", both, 0, 100000, "EUR", StandingExact, "10.00 EUR and 1.00 % of the PO total"},
		{"no tolerance", Tolerance{}, 5, 100000, "EUR", StandingNoTolerance, "none"},
		{"amount in another currency only", eur10, 5, 100000, "USD", StandingNoTolerance, "none"},
		{"amount at the limit", eur10, 1000, 100000, "EUR", StandingWithin, "10.00 EUR"},
		{"amount one cent over", eur10, 1001, 100000, "EUR", StandingBeyond, "10.00 EUR"},
		{"amount, invoiced less", eur10, -1001, 100000, "EUR", StandingBeyond, "10.00 EUR"},
		{"percent at the limit", pct1, 1000, 100000, "USD", StandingWithin, "1.00 % of the PO total"},
		{"percent just over", pct1, 1001, 100000, "USD", StandingBeyond, "1.00 % of the PO total"},
		{"both: within the amount, beyond the percent", both, 900, 10000, "EUR", StandingBeyond, "10.00 EUR and 1.00 % of the PO total"},
		{"both: within the percent, beyond the amount", both, 1500, 1000000, "EUR", StandingBeyond, "10.00 EUR and 1.00 % of the PO total"},
		{"both within", both, 900, 100000, "EUR", StandingWithin, "10.00 EUR and 1.00 % of the PO total"},
		{"other currency: the percent alone", both, 1500, 1000000, "JPY", StandingWithin, "1.00 % of the PO total"},
		{"no overflow on huge amounts", Tolerance{PercentBP: 10000}, math.MaxInt64 / 2, math.MaxInt64 / 2, "EUR", StandingWithin, "100.00 % of the PO total"},
		{"no overflow at the minimum", Tolerance{PercentBP: 1}, math.MinInt64, math.MaxInt64, "EUR", StandingBeyond, "0.01 % of the PO total"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.t.Stand(tc.d, tc.po, tc.cur); got != tc.want {
				t.Errorf("Stand(%d of %d %s) under %+v = %s, want %s", tc.d, tc.po, tc.cur, tc.t, got, tc.want)
			}
			if got := tc.t.Describe(tc.cur); got != tc.description {
				t.Errorf("Describe(%s) = %q, want %q", tc.cur, got, tc.description)
			}
		})
	}
}

func TestToleranceCheck(t *testing.T) {
	for _, tc := range []struct {
		t      Tolerance
		fields string
	}{
		{Tolerance{AmountMinor: 1000, Currency: "EUR", PercentBP: 250}, ""},
		{Tolerance{PercentBP: 10000}, ""},
		{Tolerance{AmountMinor: -1, Currency: "EUR"}, "t.amount_minor: must not be negative"},
		{Tolerance{AmountMinor: 1000}, "t.currency: must be an ISO 4217 code"},
		{Tolerance{PercentBP: 10001}, "t.percent_bp: must be between 0 and 10000"},
		{Tolerance{PercentBP: -1}, "t.percent_bp: must be between 0 and 10000"},
	} {
		v := &ValidationError{}
		tc.t.Check(v, "t")
		if got := v.Error(); (tc.fields == "") != (len(v.Fields) == 0) || !strings.Contains(got, tc.fields) {
			t.Errorf("Check(%+v) = %q, want %q", tc.t, got, tc.fields)
		}
	}
}

// Beyond the tolerance approve needs an override reason; within it, or with one, it goes through.
// Other actions ignore the tolerance and may not carry an override reason.
func TestDecideTolerance(t *testing.T) {
	beyond := facts(StatusAP)
	beyond.Tolerance, beyond.Discrepancy, beyond.POTotal, beyond.Currency = Tolerance{AmountMinor: 1000, Currency: "EUR"}, 2500, 100000, "EUR"
	wantRefusal(t, beyond, goodRequest(ActionApprove), RefusedOverTolerance,
		"differs from the PO total by 25.00 EUR, beyond the buyer's tolerance (10.00 EUR); approve with an override_reason")
	override := goodRequest(ActionApprove)
	override.OverrideReason = "agreed with the vendor"
	if to, err := Decide(beyond, override); err != nil || to != StatusAA {
		t.Errorf("approve with an override = %s, %v; want AA", to, err)
	}
	override.OverrideReason = "  "
	wantRefusal(t, beyond, override, RefusedOverTolerance, "override_reason")
	within := beyond
	within.Discrepancy = 1000
	if to, err := Decide(within, goodRequest(ActionApprove)); err != nil || to != StatusAA {
		t.Errorf("approve within the tolerance = %s, %v; want AA", to, err)
	}
	aa := beyond
	aa.Status = StatusAA
	if to, err := Decide(aa, goodRequest(ActionApprovePayment)); err != nil || to != StatusA {
		t.Errorf("approve_payment beyond the tolerance = %s, %v; want A (only approve checks it)", to, err)
	}
	pay := goodRequest(ActionApprovePayment)
	pay.OverrideReason = "x"
	wantRefusal(t, aa, pay, RefusedInvalid, "override_reason: is only for approve")
}

package invoice

import (
	"fmt"
	"math/bits"
	"strings"
)

// Tolerance is how far an invoice total may differ from its PO total and still be approved
// without an override: an absolute amount, in Currency's minor units (it limits only invoices in
// that currency), and a share of the PO total, in basis points (250 is 2.5 %). A limit left at 0
// is not checked; where neither limit applies the discrepancy is only informational. Where both
// apply, the discrepancy must be within both.
type Tolerance struct {
	AmountMinor int64  `json:"amount_minor,omitempty"`
	Currency    string `json:"currency,omitempty"`
	PercentBP   int64  `json:"percent_bp,omitempty"`
}

// Standing is where an invoice's discrepancy stands against its buyer's tolerance.
type Standing string

// The standings.
const (
	StandingExact       Standing = "exact"        // the invoice total is the PO total
	StandingNoTolerance Standing = "no_tolerance" // no limit applies: the discrepancy is informational
	StandingWithin      Standing = "within"       // within every limit that applies
	StandingBeyond      Standing = "beyond"       // beyond a limit: approve needs an override reason
)

// Standings lists every standing.
func Standings() []Standing {
	return []Standing{StandingExact, StandingNoTolerance, StandingWithin, StandingBeyond}
}

// MaxPercentBP is the largest share a tolerance may allow: 100 %.
const MaxPercentBP = 10000

// Check names each broken rule of t under field (the tolerance's name in the request).
func (t Tolerance) Check(v *ValidationError, field string) {
	if t.AmountMinor < 0 {
		v.add(field+".amount_minor", "must not be negative")
	}
	if t.AmountMinor > 0 || t.Currency != "" {
		if rule := CheckCurrency(t.Currency); rule != "" {
			v.add(field+".currency", rule+" (an absolute tolerance is in one currency)")
		}
	}
	if t.PercentBP < 0 || t.PercentBP > MaxPercentBP {
		v.add(field+".percent_bp", fmt.Sprintf("must be between 0 and %d (100 %%)", MaxPercentBP))
	}
}

// Stand says where discrepancy d (the invoice total minus the PO total poTotal, in currency cur)
// stands against t.
func (t Tolerance) Stand(d, poTotal int64, cur string) Standing {
	if d == 0 {
		return StandingExact
	}
	amount := t.AmountMinor > 0 && t.Currency == cur
	if !amount && t.PercentBP <= 0 {
		return StandingNoTolerance
	}
	abs := uint64(d)
	if d < 0 {
		abs = uint64(-(d + 1)) + 1 // no overflow at math.MinInt64
	}
	if amount && abs > uint64(t.AmountMinor) {
		return StandingBeyond
	}
	if t.PercentBP > 0 && poTotal > 0 {
		// abs / poTotal > bp / 10000, compared as abs × 10000 > bp × poTotal in 128 bits.
		hi1, lo1 := bits.Mul64(abs, 10000)
		hi2, lo2 := bits.Mul64(uint64(t.PercentBP), uint64(poTotal))
		if hi1 > hi2 || hi1 == hi2 && lo1 > lo2 {
			return StandingBeyond
		}
	}
	return StandingWithin
}

// Describe names the limits of t that apply to an invoice in currency cur: "10.00 EUR and 1.50 %
// of the PO total"; "none" when none does.
func (t Tolerance) Describe(cur string) string {
	var limits []string
	if t.AmountMinor > 0 && t.Currency == cur {
		limits = append(limits, FormatMoney(t.AmountMinor, cur))
	}
	if t.PercentBP > 0 {
		limits = append(limits, fmt.Sprintf("%d.%02d %% of the PO total", t.PercentBP/100, t.PercentBP%100))
	}
	if limits == nil {
		return "none"
	}
	return strings.Join(limits, " and ")
}

package invoice

import (
	"fmt"
	"math/bits"
	"regexp"
	"slices"

	"golang.org/x/text/currency"
)

var currencyCodePattern = regexp.MustCompile(`^[A-Z]{3}$`)

// notInvoiceCurrencies are ISO 4217 codes that no invoice is paid in: precious metals, units of
// account, testing and "no currency". (XOF, XAF, XCD and XPF are real currencies and stay allowed.)
var notInvoiceCurrencies = []string{"XAG", "XAU", "XBA", "XBB", "XBC", "XBD", "XDR", "XPD", "XPT", "XSU", "XTS", "XUA", "XXX"}

// CheckCurrency returns a rule text when code is not an ISO 4217 currency code, or "" when it is.
func CheckCurrency(code string) string {
	if !currencyCodePattern.MatchString(code) {
		return "must be an ISO 4217 code of three upper-case letters"
	}
	if _, err := currency.ParseISO(code); err != nil {
		return "is not an ISO 4217 currency code"
	}
	if slices.Contains(notInvoiceCurrencies, code) {
		return "is an ISO 4217 code for a metal, a unit of account or testing, not a currency to invoice in"
	}
	return ""
}

// MinorDigits is how many decimal places the currency's minor unit has (2 for EUR, 0 for JPY).
func MinorDigits(code string) int {
	unit, err := currency.ParseISO(code)
	if err != nil {
		return 2
	}
	scale, _ := currency.Standard.Rounding(unit)
	return scale
}

// FormatMoney renders minor units as a decimal amount with its currency: 12345 EUR is "123.45 EUR".
func FormatMoney(minor int64, code string) string {
	digits := MinorDigits(code)
	sign := ""
	u := uint64(minor)
	if minor < 0 {
		sign = "-"
		u = uint64(-(minor + 1)) + 1 // no overflow at math.MinInt64
	}
	if digits == 0 {
		return fmt.Sprintf("%s%d %s", sign, u, code)
	}
	div := uint64(1)
	for range digits {
		div *= 10
	}
	return fmt.Sprintf("%s%d.%0*d %s", sign, u/div, digits, u%div, code)
}

// mulMinor multiplies a quantity by a unit price, reporting overflow of int64 instead of wrapping.
func mulMinor(quantity, unit int64) (int64, bool) {
	if quantity < 0 || unit < 0 {
		return 0, false
	}
	hi, lo := bits.Mul64(uint64(quantity), uint64(unit))
	if hi != 0 || lo > 1<<63-1 {
		return 0, false
	}
	return int64(lo), true
}

// addMinor adds two non-negative amounts, reporting overflow of int64 instead of wrapping.
func addMinor(a, b int64) (int64, bool) {
	sum := a + b
	if sum < a {
		return 0, false
	}
	return sum, true
}

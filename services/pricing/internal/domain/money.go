// Money: the table of supported ISO 4217 currencies with their minor-unit
// exponents, exact currency conversion, percentages, and the one rounding
// rule (the package doc's "Money", "The rounding rule" and "Percentages").

package domain

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"math/bits"
	"regexp"
)

// MaxAmount bounds any stored amount (10^13 minor units): far above any real
// price, and small enough that quantities × amounts stay well inside int64.
const MaxAmount int64 = 10_000_000_000_000

// Currency is a supported ISO 4217 currency.
type Currency struct {
	Code string
	// Exponent is the number of minor-unit digits (2 for USD, 0 for JPY).
	Exponent int
}

// exponents is the closed set of currencies pricing accepts. Adding one is a
// code change on purpose: the exponent decides how every amount is read.
var exponents = map[string]int{
	"USD": 2, "EUR": 2, "GBP": 2, "CAD": 2, "AUD": 2, "NZD": 2, "CHF": 2,
	"SEK": 2, "NOK": 2, "DKK": 2, "PLN": 2, "CZK": 2, "MXN": 2, "BRL": 2,
	"INR": 2, "CNY": 2, "HKD": 2, "SGD": 2, "ZAR": 2,
	"JPY": 0, "KRW": 0,
	"KWD": 3, "BHD": 3,
}

// LookupCurrency returns the currency with the ISO 4217 code, or false when pricing
// does not support it.
func LookupCurrency(code string) (Currency, bool) {
	e, ok := exponents[code]
	if !ok {
		return Currency{}, false
	}
	return Currency{Code: code, Exponent: e}, true
}

// SupportedCurrencies lists the supported currency codes (unordered).
func SupportedCurrencies() []string {
	out := make([]string, 0, len(exponents))
	for c := range exponents {
		out = append(out, c)
	}
	return out
}

// ErrNegativeAmount is returned for a negative amount.
var ErrNegativeAmount = errors.New("amount is negative")

// ErrAmountOverflow is returned when a result does not fit in int64.
var ErrAmountOverflow = errors.New("amount overflows int64")

// RoundHalfEven rounds r to the nearest integer, ties to the even integer.
func RoundHalfEven(r *big.Rat) *big.Int {
	num, den := r.Num(), r.Denom() // den > 0
	q, m := new(big.Int), new(big.Int)
	q.DivMod(num, den, m) // Euclidean: 0 ≤ m < den, q = floor(num/den)
	twice := new(big.Int).Lsh(m, 1)
	switch twice.Cmp(den) {
	case 1:
		q.Add(q, big.NewInt(1))
	case 0:
		if q.Bit(0) == 1 {
			q.Add(q, big.NewInt(1))
		}
	}
	return q
}

// RoundToMinor applies the rounding rule to a non-negative exact amount in
// minor units.
func RoundToMinor(r *big.Rat) (int64, error) {
	if r.Sign() < 0 {
		return 0, ErrNegativeAmount
	}
	i := RoundHalfEven(r)
	if !i.IsInt64() {
		return 0, ErrAmountOverflow
	}
	return i.Int64(), nil
}

// ExactConversion is amount·rate·10^(to.Exponent−from.Exponent) without rounding: the
// value in to's minor units of amount of from's minor units, rate being how
// many major units of to one major unit of from buys.
func ExactConversion(amount int64, from, to Currency, rate *big.Rat) *big.Rat {
	r := new(big.Rat).SetInt64(amount)
	r.Mul(r, rate)
	if d := to.Exponent - from.Exponent; d != 0 {
		p := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(abs(d))), nil)
		scale := new(big.Rat).SetInt(p)
		if d > 0 {
			r.Mul(r, scale)
		} else {
			r.Quo(r, scale)
		}
	}
	return r
}

// ConvertAmount converts a non-negative amount of from's minor units into to's
// minor units at rate, rounding once, half to even.
func ConvertAmount(amount int64, from, to Currency, rate *big.Rat) (int64, error) {
	if rate.Sign() <= 0 {
		return 0, fmt.Errorf("convert %s→%s: rate must be positive", from.Code, to.Code)
	}
	return NewFactor(from, to, rate).Apply(amount)
}

// Factor is an exact conversion factor between minor units: Apply(a) is
// a·num/den rounded half to even. When num and den fit in 64 bits (always,
// for rates with at most 10 fractional digits between the supported
// currencies) Apply computes with 128-bit integers; otherwise with big.Rat.
// Both give the same, exact result.
type Factor struct {
	num, den uint64
	rat      *big.Rat // set when num/den do not fit in 64 bits
}

// NewFactor is the factor converting minor units of from into minor units of
// to at rate (major units of to per major unit of from; must be positive).
func NewFactor(from, to Currency, rate *big.Rat) Factor {
	r := ExactConversion(1, from, to, rate)
	if r.Num().IsUint64() && r.Denom().IsUint64() {
		return Factor{num: r.Num().Uint64(), den: r.Denom().Uint64()}
	}
	return Factor{rat: r}
}

// Rat is the factor as an exact rational.
func (f Factor) Rat() *big.Rat {
	if f.rat != nil {
		return new(big.Rat).Set(f.rat)
	}
	return new(big.Rat).SetFrac(new(big.Int).SetUint64(f.num), new(big.Int).SetUint64(f.den))
}

// Apply converts a non-negative amount, rounding once, half to even.
func (f Factor) Apply(amount int64) (int64, error) {
	if amount < 0 {
		return 0, ErrNegativeAmount
	}
	if f.rat != nil {
		return RoundToMinor(new(big.Rat).Mul(new(big.Rat).SetInt64(amount), f.rat))
	}
	hi, lo := bits.Mul64(uint64(amount), f.num)
	if hi >= f.den {
		return 0, ErrAmountOverflow // the quotient needs more than 64 bits
	}
	q, rem := bits.Div64(hi, lo, f.den)
	if q > math.MaxInt64 {
		return 0, ErrAmountOverflow
	}
	// Half to even, without overflowing 2·rem: compare rem with den − rem.
	if up := f.den - rem; rem > up || (rem == up && q&1 == 1) {
		q++ // at most MaxInt64+1: no wrap
	}
	if q > math.MaxInt64 {
		return 0, ErrAmountOverflow
	}
	return int64(q), nil
}

// PercentOf returns amount·bp/10000 rounded half to even. bp must be within
// [0, 10000] and amount non-negative.
func PercentOf(amount int64, bp int32) (int64, error) {
	if bp < 0 || bp > 10000 {
		return 0, fmt.Errorf("percent %d bp outside [0, 10000]", bp)
	}
	return Factor{num: uint64(bp), den: 10000}.Apply(amount)
}

var rateRE = regexp.MustCompile(`^[0-9]{1,9}(\.[0-9]{1,10})?$`)

// ParseRate parses an FX rate: a positive decimal with at most 9 integer and
// 10 fractional digits ("1.0850"), exactly — no binary floating point.
func ParseRate(s string) (*big.Rat, error) {
	if !rateRE.MatchString(s) {
		return nil, fmt.Errorf("rate %q is not a decimal with at most 9 integer and 10 fractional digits", s)
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return nil, fmt.Errorf("rate %q is not a decimal", s)
	}
	if r.Sign() <= 0 {
		return nil, fmt.Errorf("rate %q must be greater than zero", s)
	}
	return r, nil
}

// FormatRate renders a rate parsed by ParseRate back as a decimal string
// with the fewest digits that are exact (at most 10 fractional digits).
func FormatRate(r *big.Rat) string {
	for prec := 0; prec <= 10; prec++ {
		s := r.FloatString(prec)
		if back, ok := new(big.Rat).SetString(s); ok && back.Cmp(r) == 0 {
			return s
		}
	}
	return r.FloatString(10)
}

// AddAmounts returns a+b for non-negative amounts, or ErrAmountOverflow.
func AddAmounts(a, b int64) (int64, error) {
	if a < 0 || b < 0 {
		return 0, ErrNegativeAmount
	}
	if a > math.MaxInt64-b {
		return 0, ErrAmountOverflow
	}
	return a + b, nil
}

// MulAmounts returns a·b for non-negative values, or ErrAmountOverflow.
func MulAmounts(a, b int64) (int64, error) {
	if a < 0 || b < 0 {
		return 0, ErrNegativeAmount
	}
	if b != 0 && a > math.MaxInt64/b {
		return 0, ErrAmountOverflow
	}
	return a * b, nil
}

// FormatAmount renders amount minor units of c as a decimal with its code, e.g.
// "12.50 USD", "1500 JPY": for messages, never for arithmetic.
func FormatAmount(amount int64, c Currency) string {
	if c.Exponent == 0 {
		return fmt.Sprintf("%d %s", amount, c.Code)
	}
	r := new(big.Rat).SetFrac(big.NewInt(amount), new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(c.Exponent)), nil))
	return r.FloatString(c.Exponent) + " " + c.Code
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

package domain

import (
	"fmt"
	"math/bits"
	"regexp"
)

// MaxTaxRateBP bounds a tax rate (5000 bp = 50 %).
const MaxTaxRateBP = 5000

// TaxRate is the tax of a destination: a whole country (Region "") or one
// region of it. A region's rate wins over its country's.
type TaxRate struct {
	Country string
	Region  string
	RateBP  int32
	// Included says prices to the destination include the tax (VAT-style).
	Included bool
}

// TaxRateInput is one row of SetTaxRates.
type TaxRateInput struct {
	Country  string
	Region   string
	RateBP   int32
	Included bool
}

var taxRegionRE = regexp.MustCompile(`^[A-Z0-9]{0,3}$`)

type taxKey struct{ country, region string }

// taxFor is the rate for (country, region), else the country's, else none.
func (s *Snapshot) taxFor(country, region string) (TaxRate, bool) {
	if region != "" {
		if r, ok := s.tax[taxKey{country, region}]; ok {
			return r, true
		}
	}
	r, ok := s.tax[taxKey{country, ""}]
	return r, ok
}

// mulDivHalfUp returns a·num/den rounded half up, for a ≥ 0 and small num
// and den (≤ 2^32): a·num fits in 128 bits and its high word is below den.
func mulDivHalfUp(a int64, num, den uint64) int64 {
	hi, lo := bits.Mul64(uint64(a), num)
	q, rem := bits.Div64(hi, lo, den)
	if 2*rem >= den {
		q++
	}
	return int64(q)
}

// Tax is the tax on base (minor units, negative counts as 0) at rate: when
// the rate is added, round_half_up(base·bp/10000); when prices include it,
// base − round_half_up(base·10000/(10000+bp)), the part of base that is tax.
func Tax(base int64, rate TaxRate) int64 {
	if base <= 0 || rate.RateBP <= 0 {
		return 0
	}
	bp := uint64(rate.RateBP)
	if rate.Included {
		return base - mulDivHalfUp(base, 10000, 10000+bp)
	}
	return mulDivHalfUp(base, bp, 10000)
}

// ValidateTaxRates validates SetTaxRates: a country, an optional region of
// it, 0..MaxTaxRateBP basis points; a (country, region) may appear once.
func ValidateTaxRates(in []TaxRateInput) ([]TaxRate, error) {
	if err := checkCount("rates", len(in), MaxTaxPerWrite); err != nil {
		return nil, err
	}
	seen := map[taxKey]int{}
	out := make([]TaxRate, 0, len(in))
	for i, r := range in {
		f := fmt.Sprintf("rates[%d]", i)
		country, region, err := ParseTaxDestination(f, r.Country, r.Region)
		if err != nil {
			return nil, err
		}
		if r.RateBP < 0 || r.RateBP > MaxTaxRateBP {
			return nil, fieldf(f+".rate_bp", "must be within 0..%d basis points, got %d", MaxTaxRateBP, r.RateBP)
		}
		k := taxKey{country, region}
		if j, dup := seen[k]; dup {
			return nil, fieldf(f, "duplicates rates[%d] (same country and region)", j)
		}
		seen[k] = i
		out = append(out, TaxRate{Country: country, Region: region, RateBP: r.RateBP, Included: r.Included})
	}
	return out, nil
}

// ParseTaxDestination checks a tax rate's country and region (fields
// prefix.country_code and prefix.region; no prefix when prefix is "").
func ParseTaxDestination(prefix, country, region string) (string, string, error) {
	p := prefix
	if p != "" {
		p += "."
	}
	if !countryRE.MatchString(country) {
		return "", "", fieldf(p+"country_code", "must be an upper-case ISO 3166-1 alpha-2 code, got %q", country)
	}
	if !taxRegionRE.MatchString(region) {
		return "", "", fieldf(p+"region", "must be empty or 1-3 upper-case letters or digits, got %q", region)
	}
	return country, region, nil
}

package domain

import (
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/printfleet/printfleet/platform/errs"
)

// The inputs of admin writes, as received (strings not yet parsed). The
// Validate functions turn them into domain values or return an
// INVALID_ARGUMENT error naming the first offending field, in the request's
// own field paths (prices[3].price.amount_minor).

// MoneyInput is a Money as received; Set is false when it was absent.
type MoneyInput struct {
	Set      bool
	Currency string
	Amount   int64
}

// VariantPriceInput is one row of SetVariantPrices.
type VariantPriceInput struct {
	VariantID string
	Region    string
	Price     MoneyInput
}

// SurchargeInput is one row of SetPlacementSurcharges.
type SurchargeInput struct {
	Technique string
	Price     MoneyInput
}

// ShippingRateInput is one row of SetShippingRates.
type ShippingRateInput struct {
	Method         string
	Country        string
	FirstItem      MoneyInput
	AdditionalItem MoneyInput
	// Business days in transit, at least and at most.
	MinDays, MaxDays int32
}

// CouponInput is CreateCoupon's coupon.
type CouponInput struct {
	Code        string
	Kind        CouponKind // 0 when unspecified
	PercentBP   int32
	AmountOff   MoneyInput
	MinSubtotal MoneyInput
	ValidFrom   *time.Time
	ValidUntil  *time.Time
	UsageLimit  int32
	// PerCustomerLimit bounds the uses by one customer; 0 = unlimited.
	PerCustomerLimit int32
}

// FxRateInput is one row of SetFxRates.
type FxRateInput struct {
	Base, Quote, Rate string
}

// PlacementTechniqueInput maps a catalog placement to its technique.
type PlacementTechniqueInput struct {
	PlacementID string
	Technique   string
}

// Limits on one admin write.
const (
	MaxPricesPerWrite     = 1000
	MaxSurchargesPerWrite = 100
	MaxShippingPerWrite   = 1000
	MaxFxPerWrite         = 500
	MaxPlacementsPerWrite = 1000
	MaxTaxPerWrite        = 1000
)

func fieldf(field, format string, args ...any) error {
	return errs.Field(field, fmt.Sprintf(format, args...))
}

func checkCount(field string, n, max int) error {
	if n == 0 {
		return fieldf(field, "at least one entry is required")
	}
	if n > max {
		return fieldf(field, "at most %d entries per request, got %d", max, n)
	}
	return nil
}

// parsePrice validates a price: present, supported currency, 0 ≤ amount ≤
// MaxAmount (positive when positive is true).
func parsePrice(field string, in MoneyInput, positive bool) (Price, error) {
	if !in.Set {
		return Price{}, fieldf(field, "is required")
	}
	c, ok := LookupCurrency(in.Currency)
	if !ok {
		return Price{}, fieldf(field+".currency", "unsupported currency %q", in.Currency)
	}
	switch {
	case in.Amount < 0:
		return Price{}, fieldf(field+".amount_minor", "must not be negative, got %d", in.Amount)
	case positive && in.Amount == 0:
		return Price{}, fieldf(field+".amount_minor", "must be greater than zero")
	case in.Amount > MaxAmount:
		return Price{}, fieldf(field+".amount_minor", "must be at most %d", MaxAmount)
	}
	return Price{Currency: c, Amount: in.Amount}, nil
}

func parseUUID(field, s string) (uuid.UUID, error) {
	id, ok := parseID(s)
	if !ok {
		return uuid.Nil, fieldf(field, "must be a UUID, got %q", s)
	}
	return id, nil
}

// parseID accepts the canonical 36-character form only.
func parseID(s string) (uuid.UUID, bool) {
	if len(s) != 36 {
		return uuid.Nil, false
	}
	id, err := uuid.Parse(s)
	return id, err == nil
}

func parseRegion(field, s string) (string, error) {
	if !regionRE.MatchString(s) {
		return "", fieldf(field, "must be an upper-case ISO 3166-1 alpha-2 code or \"*\", got %q", s)
	}
	return s, nil
}

func parseTechnique(field, s string) (string, error) {
	t := NormalizeTechnique(s)
	if !techniqueRE.MatchString(t) {
		return "", fieldf(field, "must be 1-32 letters, digits, '_' or '-', got %q", s)
	}
	return t, nil
}

// ValidateVariantPrices validates SetVariantPrices. A (variant, region,
// currency) may appear once per request.
func ValidateVariantPrices(in []VariantPriceInput) ([]VariantPrice, error) {
	if err := checkCount("prices", len(in), MaxPricesPerWrite); err != nil {
		return nil, err
	}
	type key struct {
		v      uuid.UUID
		r, cur string
	}
	seen := make(map[key]int, len(in))
	out := make([]VariantPrice, 0, len(in))
	for i, p := range in {
		f := fmt.Sprintf("prices[%d]", i)
		id, err := parseUUID(f+".variant_id", p.VariantID)
		if err != nil {
			return nil, err
		}
		region, err := parseRegion(f+".region", p.Region)
		if err != nil {
			return nil, err
		}
		price, err := parsePrice(f+".price", p.Price, false)
		if err != nil {
			return nil, err
		}
		k := key{id, region, price.Currency.Code}
		if j, dup := seen[k]; dup {
			return nil, fieldf(f, "duplicates prices[%d] (same variant, region and currency)", j)
		}
		seen[k] = i
		out = append(out, VariantPrice{VariantID: id, Region: region, Price: price})
	}
	return out, nil
}

// ValidateSurcharges validates SetPlacementSurcharges. A (technique,
// currency) may appear once per request.
func ValidateSurcharges(in []SurchargeInput) ([]Surcharge, error) {
	if err := checkCount("surcharges", len(in), MaxSurchargesPerWrite); err != nil {
		return nil, err
	}
	seen := map[[2]string]int{}
	out := make([]Surcharge, 0, len(in))
	for i, s := range in {
		f := fmt.Sprintf("surcharges[%d]", i)
		tech, err := parseTechnique(f+".technique", s.Technique)
		if err != nil {
			return nil, err
		}
		price, err := parsePrice(f+".price", s.Price, false)
		if err != nil {
			return nil, err
		}
		k := [2]string{tech, price.Currency.Code}
		if j, dup := seen[k]; dup {
			return nil, fieldf(f, "duplicates surcharges[%d] (same technique and currency)", j)
		}
		seen[k] = i
		out = append(out, Surcharge{Technique: tech, Price: price})
	}
	return out, nil
}

// ValidateShippingRates validates SetShippingRates. Both amounts of a rate
// are in one currency; min_days ≤ max_days, both within 0..MaxTransitDays;
// a (method, country, currency) may appear once.
func ValidateShippingRates(in []ShippingRateInput) ([]ShippingRate, error) {
	if err := checkCount("rates", len(in), MaxShippingPerWrite); err != nil {
		return nil, err
	}
	seen := map[[3]string]int{}
	out := make([]ShippingRate, 0, len(in))
	for i, r := range in {
		f := fmt.Sprintf("rates[%d]", i)
		method, err := parseTechnique(f+".method", r.Method)
		if err != nil {
			return nil, err
		}
		country, err := parseRegion(f+".country_code", r.Country)
		if err != nil {
			return nil, err
		}
		first, err := parsePrice(f+".first_item", r.FirstItem, false)
		if err != nil {
			return nil, err
		}
		add, err := parsePrice(f+".additional_item", r.AdditionalItem, false)
		if err != nil {
			return nil, err
		}
		if add.Currency != first.Currency {
			return nil, fieldf(f+".additional_item.currency", "must match first_item's currency %s, got %s", first.Currency.Code, add.Currency.Code)
		}
		if r.MinDays < 0 || r.MinDays > MaxTransitDays {
			return nil, fieldf(f+".min_days", "must be within 0..%d business days, got %d", MaxTransitDays, r.MinDays)
		}
		if r.MaxDays < 0 || r.MaxDays > MaxTransitDays {
			return nil, fieldf(f+".max_days", "must be within 0..%d business days, got %d", MaxTransitDays, r.MaxDays)
		}
		if r.MinDays > r.MaxDays {
			return nil, fieldf(f+".max_days", "must be at least min_days (%d): a parcel cannot arrive at most %d business days after it leaves but at least %d", r.MinDays, r.MaxDays, r.MinDays)
		}
		k := [3]string{method, country, first.Currency.Code}
		if j, dup := seen[k]; dup {
			return nil, fieldf(f, "duplicates rates[%d] (same method, country and currency)", j)
		}
		seen[k] = i
		out = append(out, ShippingRate{Method: method, Country: country, Currency: first.Currency, FirstItem: first.Amount, AdditionalItem: add.Amount,
			MinDays: r.MinDays, MaxDays: r.MaxDays})
	}
	return out, nil
}

// ValidateCoupon validates CreateCoupon's coupon (fields under "coupon.").
// Overlap with existing windows of the same code is checked by the caller
// against stored coupons, with CheckCouponOverlap.
func ValidateCoupon(in CouponInput) (Coupon, error) {
	code := NormalizeCouponCode(in.Code)
	if !couponRE.MatchString(code) {
		return Coupon{}, fieldf("coupon.code", "must be 1-64 letters, digits, '_' or '-', got %q", in.Code)
	}
	c := Coupon{Code: code, Kind: in.Kind, UsageLimit: in.UsageLimit, PerCustomerLimit: in.PerCustomerLimit}
	switch in.Kind {
	case CouponPercent:
		if in.PercentBP < 1 || in.PercentBP > 10000 {
			return Coupon{}, fieldf("coupon.percent_bp", "must be within 1..10000 basis points for a percent coupon, got %d", in.PercentBP)
		}
		if in.AmountOff.Set {
			return Coupon{}, fieldf("coupon.amount_off", "must be empty for a percent coupon")
		}
		c.PercentBP = in.PercentBP
	case CouponFixed:
		if in.PercentBP != 0 {
			return Coupon{}, fieldf("coupon.percent_bp", "must be 0 for a fixed coupon, got %d", in.PercentBP)
		}
		off, err := parsePrice("coupon.amount_off", in.AmountOff, true)
		if err != nil {
			return Coupon{}, err
		}
		c.AmountOff = off
	default:
		return Coupon{}, fieldf("coupon.kind", "must be COUPON_KIND_PERCENT or COUPON_KIND_FIXED")
	}
	if in.MinSubtotal.Set {
		m, err := parsePrice("coupon.min_subtotal", in.MinSubtotal, false)
		if err != nil {
			return Coupon{}, err
		}
		c.MinSubtotal = &m
	}
	if in.ValidFrom == nil {
		return Coupon{}, fieldf("coupon.valid_from", "is required")
	}
	if in.ValidUntil == nil {
		return Coupon{}, fieldf("coupon.valid_until", "is required")
	}
	c.ValidFrom, c.ValidUntil = in.ValidFrom.UTC(), in.ValidUntil.UTC()
	if !c.ValidUntil.After(c.ValidFrom) {
		return Coupon{}, fieldf("coupon.valid_until", "must be after valid_from (%s), got %s", c.ValidFrom.Format(time.RFC3339), c.ValidUntil.Format(time.RFC3339))
	}
	if in.UsageLimit < 0 {
		return Coupon{}, fieldf("coupon.usage_limit", "must not be negative, got %d", in.UsageLimit)
	}
	if in.PerCustomerLimit < 0 {
		return Coupon{}, fieldf("coupon.per_customer_limit", "must not be negative, got %d", in.PerCustomerLimit)
	}
	return c, nil
}

// CheckCouponOverlap refuses c when its window overlaps an existing coupon
// with the same code.
func CheckCouponOverlap(c Coupon, existing []Coupon) error {
	for _, o := range existing {
		if o.Code == c.Code && o.ID != c.ID && c.Overlaps(o) {
			return fieldf("coupon.valid_from", "window [%s, %s) overlaps coupon %s's window [%s, %s)",
				c.ValidFrom.Format(time.RFC3339), c.ValidUntil.Format(time.RFC3339), o.Code,
				o.ValidFrom.Format(time.RFC3339), o.ValidUntil.Format(time.RFC3339))
		}
	}
	return nil
}

// ValidateFxRates validates SetFxRates: supported, distinct currencies and a
// positive decimal rate; a pair may appear once per request.
func ValidateFxRates(in []FxRateInput) ([]FxRate, error) {
	if err := checkCount("rates", len(in), MaxFxPerWrite); err != nil {
		return nil, err
	}
	seen := map[[2]string]int{}
	out := make([]FxRate, 0, len(in))
	for i, r := range in {
		f := fmt.Sprintf("rates[%d]", i)
		base, ok := LookupCurrency(r.Base)
		if !ok {
			return nil, fieldf(f+".base", "unsupported currency %q", r.Base)
		}
		quote, ok := LookupCurrency(r.Quote)
		if !ok {
			return nil, fieldf(f+".quote", "unsupported currency %q", r.Quote)
		}
		if base == quote {
			return nil, fieldf(f+".quote", "must differ from base %s", base.Code)
		}
		rate, err := ParseRate(r.Rate)
		if err != nil {
			return nil, errs.Field(f+".rate", err.Error())
		}
		k := [2]string{base.Code, quote.Code}
		if j, dup := seen[k]; dup {
			return nil, fieldf(f, "duplicates rates[%d] (same base and quote)", j)
		}
		seen[k] = i
		out = append(out, FxRate{Base: base, Quote: quote, Rate: rate})
	}
	return out, nil
}

// ValidatePlacementTechniques validates placement → technique rows.
func ValidatePlacementTechniques(in []PlacementTechniqueInput) ([]PlacementTechnique, error) {
	if err := checkCount("placements", len(in), MaxPlacementsPerWrite); err != nil {
		return nil, err
	}
	seen := map[uuid.UUID]int{}
	out := make([]PlacementTechnique, 0, len(in))
	for i, p := range in {
		f := fmt.Sprintf("placements[%d]", i)
		id, err := parseUUID(f+".placement_id", p.PlacementID)
		if err != nil {
			return nil, err
		}
		tech, err := parseTechnique(f+".technique", p.Technique)
		if err != nil {
			return nil, err
		}
		if j, dup := seen[id]; dup {
			return nil, fieldf(f, "duplicates placements[%d]", j)
		}
		seen[id] = i
		out = append(out, PlacementTechnique{PlacementID: id, Technique: tech})
	}
	return out, nil
}

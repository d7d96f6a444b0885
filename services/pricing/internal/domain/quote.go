package domain

import (
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/printfleet/printfleet/platform/errs"
)

// Data is the whole price data set, as loaded from the store.
type Data struct {
	Version    int64
	Prices     []VariantPrice
	Surcharges []Surcharge
	Shipping   []ShippingRate
	Coupons    []Coupon
	Fx         []FxRate
	Placements []PlacementTechnique
	Tax        []TaxRate
}

// Snapshot is an immutable, indexed view of Data. Quotes read it without
// locks; a refresh builds a new one and swaps it in.
type Snapshot struct {
	version    int64
	loadedAt   time.Time
	prices     map[regionKey][]Price // sorted by currency code
	surcharges map[string][]Price    // technique → prices, sorted by currency
	shipping   map[shipKey][]ShippingRate
	methods    map[string]bool
	coupons    map[string][]Coupon // code → sorted by ValidFrom
	fx         map[[2]string]*big.Rat
	factors    map[[2]string]Factor // fx as minor-unit factors, both directions
	techniques map[uuid.UUID]string
	tax        map[taxKey]TaxRate
	counts     Counts
	// The rate tables as loaded (by method, country and currency; by
	// country and region), for the public routes that list them.
	shippingRows []ShippingRate
	taxRows      []TaxRate
}

type regionKey struct {
	variant uuid.UUID
	region  string
}

type shipKey struct{ method, country string }

// Counts sizes a snapshot, for logs and metrics.
type Counts struct {
	Prices, Surcharges, Shipping, Coupons, Fx, Placements, Tax int
}

// NewSnapshot indexes d. It does not re-validate: d comes from validated writes.
func NewSnapshot(d Data, loadedAt time.Time) *Snapshot {
	s := &Snapshot{
		version:    d.Version,
		loadedAt:   loadedAt,
		prices:     make(map[regionKey][]Price, len(d.Prices)),
		surcharges: map[string][]Price{},
		shipping:   map[shipKey][]ShippingRate{},
		methods:    map[string]bool{},
		coupons:    map[string][]Coupon{},
		fx:         make(map[[2]string]*big.Rat, len(d.Fx)),
		factors:    make(map[[2]string]Factor, 2*len(d.Fx)),
		techniques: make(map[uuid.UUID]string, len(d.Placements)),
		tax:        make(map[taxKey]TaxRate, len(d.Tax)),
		counts: Counts{Prices: len(d.Prices), Surcharges: len(d.Surcharges), Shipping: len(d.Shipping),
			Coupons: len(d.Coupons), Fx: len(d.Fx), Placements: len(d.Placements), Tax: len(d.Tax)},
		shippingRows: slices.Clone(d.Shipping),
		taxRows:      slices.Clone(d.Tax),
	}
	byCode := func(a, b Price) int { return strings.Compare(a.Currency.Code, b.Currency.Code) }
	for _, p := range d.Prices {
		k := regionKey{p.VariantID, p.Region}
		s.prices[k] = append(s.prices[k], p.Price)
	}
	for k := range s.prices {
		slices.SortFunc(s.prices[k], byCode)
	}
	for _, x := range d.Surcharges {
		s.surcharges[x.Technique] = append(s.surcharges[x.Technique], x.Price)
	}
	for k := range s.surcharges {
		slices.SortFunc(s.surcharges[k], byCode)
	}
	for _, r := range d.Shipping {
		k := shipKey{r.Method, r.Country}
		s.shipping[k] = append(s.shipping[k], r)
		s.methods[r.Method] = true
	}
	for k := range s.shipping {
		slices.SortFunc(s.shipping[k], func(a, b ShippingRate) int { return strings.Compare(a.Currency.Code, b.Currency.Code) })
	}
	for _, c := range d.Coupons {
		s.coupons[c.Code] = append(s.coupons[c.Code], c)
	}
	for k := range s.coupons {
		slices.SortFunc(s.coupons[k], func(a, b Coupon) int { return a.ValidFrom.Compare(b.ValidFrom) })
	}
	for _, r := range d.Fx {
		s.fx[[2]string{r.Base.Code, r.Quote.Code}] = new(big.Rat).Set(r.Rate)
	}
	// Precompute every usable direction once: a stored rate, or the exact
	// inverse of the opposite one when that direction is not stored.
	for _, r := range d.Fx {
		if r.Rate.Sign() <= 0 {
			continue
		}
		s.factors[[2]string{r.Base.Code, r.Quote.Code}] = NewFactor(r.Base, r.Quote, r.Rate)
		inv := [2]string{r.Quote.Code, r.Base.Code}
		if _, stored := s.fx[inv]; !stored {
			s.factors[inv] = NewFactor(r.Quote, r.Base, new(big.Rat).Inv(r.Rate))
		}
	}
	for _, p := range d.Placements {
		s.techniques[p.PlacementID] = p.Technique
	}
	for _, t := range d.Tax {
		s.tax[taxKey{t.Country, t.Region}] = t
	}
	return s
}

// ShippingRates is the shipping rate table, by method, country and
// currency. The caller may not change it.
func (s *Snapshot) ShippingRates() []ShippingRate { return s.shippingRows }

// TaxRates is the tax rate table, by country and region. The caller may not
// change it.
func (s *Snapshot) TaxRates() []TaxRate { return s.taxRows }

// Version is the price-data version the snapshot was built from.
func (s *Snapshot) Version() int64 { return s.version }

// LoadedAt is when the snapshot was built.
func (s *Snapshot) LoadedAt() time.Time { return s.loadedAt }

// Counts sizes the snapshot.
func (s *Snapshot) Counts() Counts { return s.counts }

// Coupons returns the coupons with code (normalised), oldest window first.
func (s *Snapshot) Coupons(code string) []Coupon {
	return slices.Clone(s.coupons[NormalizeCouponCode(code)])
}

// QuoteRequest is what to price; ids are as received (parsed here, so that
// errors name the request's fields).
type QuoteRequest struct {
	Items          []QuoteItem
	Country        string
	Currency       string
	CouponCode     string
	ShippingMethod string
	// Region is the destination's region (state, province) for its tax
	// rate; empty: the country's.
	Region string
	// ProductionDays is the production lead time in business days, set by
	// the service from its configuration (never by the client).
	ProductionDays int
	// Redeeming skips the snapshot's usage check: the order path redeems the
	// use in the store, which checks the limits atomically against the
	// current count (the snapshot's may lag behind a release).
	Redeeming bool
}

// QuoteItem is one prospective line.
type QuoteItem struct {
	VariantID    string
	Quantity     int32
	PlacementIDs []string
	Technique    string
}

// Quote is a priced request. Amounts are minor units of Currency.
type Quote struct {
	ID             uuid.UUID
	Currency       Currency
	Lines          []Line
	Subtotal       int64
	Shipping       int64
	Discount       int64
	Total          int64
	CouponCode     string
	ShippingMethod string
	// Estimate is the chosen method's delivery estimate.
	Estimate DeliveryEstimate
	// ShippingOptions is every method that reaches the destination, priced
	// for these items, cheapest first.
	ShippingOptions []ShippingOption
	// Tax is the tax on subtotal − discount + shipping at TaxRateBP; the
	// total adds it unless TaxIncluded.
	Tax         int64
	TaxRateBP   int32
	TaxIncluded bool
	ExpiresAt   time.Time
	// DataVersion is the price-data version the quote was computed from.
	DataVersion int64
}

// Line is one priced item.
type Line struct {
	VariantID    uuid.UUID
	Quantity     int32
	PlacementIDs []uuid.UUID
	UnitPrice    int64 // base price of one unit
	Surcharges   int64 // extra placements, per unit
	LineTotal    int64 // Quantity × (UnitPrice + Surcharges)
}

// Quote prices req at instant now. It sets neither ID nor ExpiresAt.
func (s *Snapshot) Quote(req QuoteRequest, now time.Time) (Quote, error) {
	cur, ok := LookupCurrency(req.Currency)
	if !ok {
		return Quote{}, fieldf("currency", "unsupported currency %q", req.Currency)
	}
	if !countryRE.MatchString(req.Country) {
		return Quote{}, fieldf("country_code", "must be an upper-case ISO 3166-1 alpha-2 code, got %q", req.Country)
	}
	if n := len(req.Items); n == 0 || n > MaxQuoteItems {
		return Quote{}, fieldf("items", "must hold 1..%d items, got %d", MaxQuoteItems, n)
	}
	if req.Region != "" && !taxRegionRE.MatchString(req.Region) {
		return Quote{}, fieldf("region", "must be empty or 1-3 upper-case letters or digits, got %q", req.Region)
	}
	q := Quote{Currency: cur, DataVersion: s.version, Lines: make([]Line, 0, len(req.Items))}
	var units int64
	for i, it := range req.Items {
		line, err := s.priceLine(i, it, req.Country, cur)
		if err != nil {
			return Quote{}, err
		}
		if q.Subtotal, err = AddAmounts(q.Subtotal, line.LineTotal); err != nil {
			return Quote{}, tooLarge("items", err)
		}
		units += int64(line.Quantity)
		q.Lines = append(q.Lines, line)
	}
	opts, failed := s.shippingOptions(req.Country, cur, units, now, req.ProductionDays)
	chosen, err := chooseShipping(NormalizeTechnique(req.ShippingMethod), req.Country, opts, failed)
	if err != nil {
		return Quote{}, err
	}
	q.ShippingMethod, q.Shipping, q.Estimate, q.ShippingOptions = chosen.Method, chosen.Price, chosen.Estimate, opts
	if req.CouponCode != "" {
		q.CouponCode = NormalizeCouponCode(req.CouponCode)
		if q.Discount, err = s.discount(q.CouponCode, q.Subtotal, cur, now, req.Redeeming); err != nil {
			return Quote{}, err
		}
	}
	gross, err := AddAmounts(q.Subtotal, q.Shipping)
	if err != nil {
		return Quote{}, tooLarge("items", err)
	}
	q.Total = gross - q.Discount // discount ≤ subtotal, so total ≥ shipping ≥ 0
	if rate, ok := s.taxFor(req.Country, req.Region); ok {
		q.TaxRateBP, q.TaxIncluded = rate.RateBP, rate.Included
		q.Tax = Tax(q.Total, rate)
		if !rate.Included {
			if q.Total, err = AddAmounts(q.Total, q.Tax); err != nil {
				return Quote{}, tooLarge("items", err)
			}
		}
	}
	return q, nil
}

func (s *Snapshot) priceLine(i int, it QuoteItem, country string, cur Currency) (Line, error) {
	// Field paths are built only for errors: this is the hot path.
	f := func(suffix string) string { return "items[" + strconv.Itoa(i) + "]" + suffix }
	vid, ok := parseID(it.VariantID)
	if !ok {
		return Line{}, fieldf(f(".variant_id"), "must be a UUID, got %q", it.VariantID)
	}
	if it.Quantity < 1 || it.Quantity > MaxQuantity {
		return Line{}, fieldf(f(".quantity"), "must be within 1..%d, got %d", MaxQuantity, it.Quantity)
	}
	if len(it.PlacementIDs) > MaxItemPlacements {
		return Line{}, fieldf(f(".placement_ids"), "at most %d placements, got %d", MaxItemPlacements, len(it.PlacementIDs))
	}
	line := Line{VariantID: vid, Quantity: it.Quantity, PlacementIDs: make([]uuid.UUID, 0, len(it.PlacementIDs))}
	for j, p := range it.PlacementIDs {
		pid, ok := parseID(p)
		if !ok {
			return Line{}, fieldf(f(".placement_ids["+strconv.Itoa(j)+"]"), "must be a UUID, got %q", p)
		}
		if slices.Contains(line.PlacementIDs, pid) {
			return Line{}, fieldf(f(".placement_ids["+strconv.Itoa(j)+"]"), "placement %s is listed twice", pid)
		}
		line.PlacementIDs = append(line.PlacementIDs, pid)
	}

	var err error
	prices := s.prices[regionKey{vid, country}]
	if len(prices) == 0 {
		prices = s.prices[regionKey{vid, Wildcard}]
	}
	if len(prices) == 0 {
		return Line{}, fieldf(f(".variant_id"), "no price for variant %s (region %s or %s)", vid, country, Wildcard)
	}
	if line.UnitPrice, err = s.pick(prices, cur, func() string { return "variant " + vid.String() }); err != nil {
		return Line{}, err
	}

	override := ""
	if it.Technique != "" {
		if override, err = parseTechnique(f(".technique"), it.Technique); err != nil {
			return Line{}, err
		}
		if len(s.surcharges[override]) == 0 {
			return Line{}, fieldf(f(".technique"), "no surcharge for technique %q", override)
		}
	}
	for j := 1; j < len(line.PlacementIDs); j++ {
		tech := override
		if tech == "" {
			tech = s.techniques[line.PlacementIDs[j]]
		}
		if tech == "" {
			tech = DefaultTechnique
		}
		sur := s.surcharges[tech]
		if len(sur) == 0 {
			return Line{}, &errs.Error{Kind: errs.FailedPrecondition,
				Message: fmt.Sprintf("no surcharge configured for technique %q (placement %s)", tech, line.PlacementIDs[j])}
		}
		amt, err := s.pick(sur, cur, func() string { return "surcharge " + tech })
		if err != nil {
			return Line{}, err
		}
		if line.Surcharges, err = AddAmounts(line.Surcharges, amt); err != nil {
			return Line{}, tooLarge(f(""), err)
		}
	}
	per, err := AddAmounts(line.UnitPrice, line.Surcharges)
	if err == nil {
		line.LineTotal, err = MulAmounts(per, int64(line.Quantity))
	}
	if err != nil {
		return Line{}, tooLarge(f(""), err)
	}
	return line, nil
}

// pick returns the price in cur, or converts the first price (by currency
// code) that has an FX rate to cur.
func (s *Snapshot) pick(prices []Price, cur Currency, what func() string) (int64, error) {
	for _, p := range prices {
		if p.Currency == cur {
			return p.Amount, nil
		}
	}
	for _, p := range prices {
		if f, ok := s.factors[[2]string{p.Currency.Code, cur.Code}]; ok {
			v, err := f.Apply(p.Amount)
			if err != nil {
				return 0, tooLarge("currency", err)
			}
			return v, nil
		}
	}
	have := make([]string, len(prices))
	for i, p := range prices {
		have[i] = p.Currency.Code
	}
	return 0, &errs.Error{Kind: errs.FailedPrecondition,
		Message: fmt.Sprintf("cannot price %s in %s: priced in %s and no FX rate to %s", what(), cur.Code, strings.Join(have, ", "), cur.Code)}
}

// rate is the stored rate from→to, or the exact inverse of to→from, or nil.
func (s *Snapshot) rate(from, to Currency) *big.Rat {
	if from == to {
		return big.NewRat(1, 1)
	}
	if r := s.fx[[2]string{from.Code, to.Code}]; r != nil {
		return r
	}
	if r := s.fx[[2]string{to.Code, from.Code}]; r != nil {
		return new(big.Rat).Inv(r)
	}
	return nil
}

// Convert converts p into cur with the snapshot's rates (the rounding rule
// applies: see the package doc).
func (s *Snapshot) Convert(p Price, cur Currency) (int64, error) {
	return s.pick([]Price{p}, cur, func() string { return "amount" })
}

func couponErr(code, format string, args ...any) error {
	msg := fmt.Sprintf("coupon %q ", code) + fmt.Sprintf(format, args...)
	return &errs.Error{Kind: errs.FailedPrecondition, Message: msg,
		Violations: []errs.FieldViolation{{Field: "coupon_code", Description: msg}}}
}

// ActiveCoupon returns the coupon with code valid at now, or the error a
// quote would report.
func (s *Snapshot) ActiveCoupon(code string, now time.Time) (Coupon, error) {
	code = NormalizeCouponCode(code)
	return ActiveCoupon(code, s.coupons[code], now)
}

// ActiveCoupon picks, among the coupons sharing code (disjoint windows), the
// one valid at now: INVALID_ARGUMENT when there is none with that code,
// FAILED_PRECONDITION saying "not valid until" or "expired at" otherwise.
func ActiveCoupon(code string, coupons []Coupon, now time.Time) (Coupon, error) {
	if len(coupons) == 0 {
		return Coupon{}, fieldf("coupon_code", "unknown coupon %q", code)
	}
	var next, last *Coupon
	for i := range coupons {
		c := &coupons[i]
		switch {
		case now.Before(c.ValidFrom):
			if next == nil || c.ValidFrom.Before(next.ValidFrom) {
				next = c
			}
		case !now.Before(c.ValidUntil):
			if last == nil || c.ValidUntil.After(last.ValidUntil) {
				last = c
			}
		default:
			return *c, nil
		}
	}
	if next != nil {
		return Coupon{}, couponErr(code, "is not valid until %s", next.ValidFrom.UTC().Format(time.RFC3339))
	}
	return Coupon{}, couponErr(code, "expired at %s", last.ValidUntil.UTC().Format(time.RFC3339))
}

// UsedUpError is the error for a coupon at its usage limit.
func UsedUpError(c Coupon) error {
	return couponErr(c.Code, "has reached its usage limit of %d", c.UsageLimit)
}

// ErrLimitReached is the kind of a redemption refused by a coupon's limits:
// CONFLICT (gRPC ABORTED, HTTP 409), the order conflicts with the uses the
// coupon has left. A quote reports a used-up coupon as FAILED_PRECONDITION.
const ErrLimitReached = errs.Conflict

// LimitReachedError refuses a redemption of a coupon at its usage limit.
func LimitReachedError(c Coupon) error {
	return limitErr(c.Code, "has reached its usage limit of %d", c.UsageLimit)
}

// CustomerLimitError refuses a redemption by a customer who has used the
// coupon as often as it allows per customer.
func CustomerLimitError(c Coupon) error {
	return limitErr(c.Code, "has reached its limit of %d per customer", c.PerCustomerLimit)
}

func limitErr(code, format string, args ...any) error {
	msg := fmt.Sprintf("coupon %q ", code) + fmt.Sprintf(format, args...)
	return &errs.Error{Kind: ErrLimitReached, Message: msg,
		Violations: []errs.FieldViolation{{Field: "coupon_code", Description: msg}}}
}

func (s *Snapshot) discount(code string, subtotal int64, cur Currency, now time.Time, redeeming bool) (int64, error) {
	c, err := s.ActiveCoupon(code, now)
	if err != nil {
		return 0, err
	}
	if c.UsedUp() && !redeeming {
		return 0, UsedUpError(c)
	}
	if c.MinSubtotal != nil {
		floor, err := s.pick([]Price{*c.MinSubtotal}, cur, func() string { return "coupon " + code + " minimum subtotal" })
		if err != nil {
			return 0, err
		}
		if subtotal < floor {
			return 0, couponErr(code, "needs a subtotal of at least %s; this subtotal is %s",
				FormatAmount(floor, cur), FormatAmount(subtotal, cur))
		}
	}
	var d int64
	switch c.Kind {
	case CouponPercent:
		if d, err = PercentOf(subtotal, c.PercentBP); err != nil {
			return 0, fmt.Errorf("coupon %s: %w", code, err)
		}
	case CouponFixed:
		if d, err = s.pick([]Price{c.AmountOff}, cur, func() string { return "coupon " + code }); err != nil {
			return 0, err
		}
	default:
		return 0, fmt.Errorf("coupon %s: unknown kind %d", code, c.Kind)
	}
	return min(d, subtotal), nil
}

func tooLarge(field string, err error) error {
	if errors.Is(err, ErrAmountOverflow) {
		return fieldf(field, "amounts too large to price")
	}
	return err
}

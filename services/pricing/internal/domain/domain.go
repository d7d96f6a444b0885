// Package domain is pricing's model and its one piece of business logic: the
// price data (base prices, placement surcharges, shipping rates, coupons, FX
// rates, placement techniques), the rules that validate admin writes, and the
// quote, computed in memory over an immutable Snapshot of that data.
//
// No I/O happens here.
//
// # Money
//
// Amounts are int64 minor units (cents for USD, yen for JPY, fils for KWD).
// Prices are never negative; every money function (money.go) refuses a
// negative input.
//
// # The rounding rule
//
// Whenever a value is not a whole number of minor units — a converted
// amount, or a percentage of an amount — it is computed exactly as a
// rational number (math/big.Rat) and rounded ONCE, half to even, to the
// target currency's minor unit: 2.5 → 2, 3.5 → 4, 2.49 → 2, 2.51 → 3.
//
// Callers apply the rule once per price component before any summing: a
// quote converts each unit price, each unit surcharge, each shipping rate
// component and each fixed coupon amount once, then multiplies by quantities
// and sums in exact integer arithmetic. A value is never rounded twice:
// conversions use a stored rate or its exact inverse, never a chain of rates.
//
// The arithmetic is exact either way: Factor.Apply computes a·num/den with
// 128-bit integers when the reduced factor fits in 64 bits (every supported
// pair at a rate with at most 10 fractional digits), and with math/big.Rat
// otherwise; a test checks the two agree on every kind of input.
//
// Consequence for round trips: converting x from A to B at rate r (B per A,
// both in major units, s = 10^(expB−expA)) gives y with |y − x·r·s| ≤ 1/2;
// converting y back at 1/r gives x' with |x' − x| ≤ 1/2 + 1/(2·r·s).
//
// # Percentages
//
// A percentage is given in basis points (1 bp = 0.01 %, 10000 bp = 100 %).
// PercentOf(amount, bp) = amount·bp/10000 rounded half to even; it never
// exceeds amount.
//
// # Quote rules
//
//   - Base price of a line: the variant's price for the ship-to country's
//     region; when there is none, its price for the catch-all region "*".
//     Within the chosen region a price in the quote currency wins; otherwise
//     the price in the first currency (by ISO code order) that has an FX rate
//     to the quote currency is converted (stored rate or its exact inverse).
//   - Surcharges: the first placement of an item is included in the base
//     price; each further placement adds the surcharge of its technique. The
//     technique is the item's technique when the request sets one, else the
//     placement's technique from the placement table, else DefaultTechnique.
//     QuoteLine.surcharges is per unit.
//   - line_total = quantity × (unit_price + surcharges); subtotal = Σ line_total.
//   - Shipping: rate for (method, country), else (method, "*");
//     shipping = first_item + additional_item × (Σ quantities − 1). Every
//     method that reaches the country is priced this way and offered,
//     cheapest first (ties by method name); a quote naming no method takes
//     the cheapest. Each option carries a DeliveryEstimate (shipping.go).
//   - Tax: the rate of (country, region), else of (country, ""); none means
//     0. Base = subtotal − discount + shipping. Without prices_include_tax,
//     tax = base·bp/10000 rounded half up and the total adds it; with it,
//     tax = base − base·10000/(10000+bp) rounded half up (the part of the
//     price that is tax) and the total does not add it (tax.go).
//   - Discount: percent coupons take PercentOf(subtotal, bp) (half to even);
//     fixed coupons take their amount, converted if need be. Shipping is never
//     discounted, and the discount never exceeds the subtotal, so
//     total = subtotal + shipping − discount ≥ 0 always.
//   - Coupon windows are half-open: valid_from ≤ now < valid_until.
//
// # Errors
//
// Anything the request names that pricing cannot serve is INVALID_ARGUMENT
// naming the request field (items[2].variant_id, currency, coupon_code,
// country_code, shipping_method, items[0].technique): an unsupported
// currency, a variant without a price for the destination, an unknown
// coupon code, a technique without a surcharge, a destination without a
// shipping rate. A coupon that exists but cannot be applied now (expired, not
// yet valid, below its minimum subtotal, used up) is FAILED_PRECONDITION with
// a message naming the coupon and the problem, plus a coupon_code field
// violation. Price data that cannot be combined (no FX rate between a
// stored price's currency and the quote currency) is FAILED_PRECONDITION.
package domain

import (
	"math/big"
	"regexp"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Wildcard is the catch-all region / destination country.
const Wildcard = "*"

// DefaultTechnique is the technique of a placement pricing knows nothing
// about (the catalog's placement technique is optional; blank means DTG).
const DefaultTechnique = "dtg"

// Limits on a quote request (the proto enforces the same at the edge).
const (
	MaxQuoteItems     = 100
	MaxQuantity       = 1000
	MaxItemPlacements = 10
)

// QuoteTTL is how long a quote is offered for.
const QuoteTTL = 15 * time.Minute

// Price is an amount in a currency.
type Price struct {
	Currency Currency
	Amount   int64 // minor units, ≥ 0
}

// VariantPrice is a variant's base cost in a region.
type VariantPrice struct {
	VariantID uuid.UUID
	Region    string // ISO 3166-1 alpha-2 or "*"
	Price     Price
}

// Surcharge is the price of one extra placement printed with a technique.
type Surcharge struct {
	Technique string
	Price     Price
}

// ShippingRate prices shipping by method and destination country.
type ShippingRate struct {
	Method         string
	Country        string // ISO 3166-1 alpha-2 or "*"
	Currency       Currency
	FirstItem      int64
	AdditionalItem int64
	// MinDays and MaxDays are the business days in transit, at least and at
	// most (0 ≤ MinDays ≤ MaxDays ≤ MaxTransitDays).
	MinDays, MaxDays int32
}

// CouponKind says how a coupon discounts.
type CouponKind int

// Coupon kinds.
const (
	CouponPercent CouponKind = iota + 1
	CouponFixed
)

func (k CouponKind) String() string {
	switch k {
	case CouponPercent:
		return "percent"
	case CouponFixed:
		return "fixed"
	}
	return "unknown"
}

// ParseCouponKind is the inverse of String.
func ParseCouponKind(s string) (CouponKind, bool) {
	switch s {
	case "percent":
		return CouponPercent, true
	case "fixed":
		return CouponFixed, true
	}
	return 0, false
}

// Coupon is a discount code valid within [ValidFrom, ValidUntil). Several
// coupons may share a code as long as their windows do not overlap.
type Coupon struct {
	ID          uuid.UUID
	Code        string // upper case
	Kind        CouponKind
	PercentBP   int32 // for CouponPercent, 1..10000
	AmountOff   Price // for CouponFixed, > 0
	MinSubtotal *Price
	ValidFrom   time.Time
	ValidUntil  time.Time
	UsageLimit  int32 // 0 = unlimited
	// PerCustomerLimit bounds the uses by one customer; 0 = unlimited.
	PerCustomerLimit int32
	// Used counts the uses redeemed (reserved by an order being placed, or
	// confirmed by its placement).
	Used int32
}

// Overlaps reports whether c's and o's windows share an instant.
func (c Coupon) Overlaps(o Coupon) bool {
	return c.ValidFrom.Before(o.ValidUntil) && o.ValidFrom.Before(c.ValidUntil)
}

// SameTerms reports whether c and o are the same coupon apart from identity
// and usage (idempotent seeding uses it).
func (c Coupon) SameTerms(o Coupon) bool {
	sameMin := (c.MinSubtotal == nil) == (o.MinSubtotal == nil) &&
		(c.MinSubtotal == nil || *c.MinSubtotal == *o.MinSubtotal)
	return c.Code == o.Code && c.Kind == o.Kind && c.PercentBP == o.PercentBP &&
		c.AmountOff == o.AmountOff && sameMin && c.ValidFrom.Equal(o.ValidFrom) &&
		c.ValidUntil.Equal(o.ValidUntil) && c.UsageLimit == o.UsageLimit &&
		c.PerCustomerLimit == o.PerCustomerLimit
}

// Redemption is one use of a coupon taken by an order being placed.
type Redemption struct {
	Code string
	// OrderKey identifies the placement across retries of the create: one
	// use per key.
	OrderKey string
	// OrderID is the order this attempt would commit as.
	OrderID    string
	CustomerID string
	// ExpiresAt ends the reservation unless the order's placement confirms
	// it first.
	ExpiresAt time.Time
}

// UsedUp reports whether the coupon has reached its usage limit.
func (c Coupon) UsedUp() bool { return c.UsageLimit > 0 && c.Used >= c.UsageLimit }

// FxRate says how many major units of Quote one major unit of Base buys.
type FxRate struct {
	Base  Currency
	Quote Currency
	Rate  *big.Rat
}

// PlacementTechnique records how a catalog placement is printed.
type PlacementTechnique struct {
	PlacementID uuid.UUID
	Technique   string
}

var (
	regionRE    = regexp.MustCompile(`^([A-Z]{2}|\*)$`)
	countryRE   = regexp.MustCompile(`^[A-Z]{2}$`)
	techniqueRE = regexp.MustCompile(`^[a-z0-9_-]{1,32}$`)
	couponRE    = regexp.MustCompile(`^[A-Z0-9_-]{1,64}$`)
)

// NormalizeTechnique lower-cases and trims a technique or method name.
func NormalizeTechnique(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// NormalizeCouponCode upper-cases a coupon code: codes are case-insensitive.
func NormalizeCouponCode(s string) string { return strings.ToUpper(strings.TrimSpace(s)) }
